"""A simulated DCF volume in a folder (as a camera's card mounts), and an unplug mid-transfer.

``make_volume(mount_root, "GOPRO_CARD", "gopro", clips)`` lays real media files out as the
camera would (``DCIM/100GOPRO/GX010001.MP4`` …, ``MISC/version.txt``) with their mtimes set.
:class:`UnpluggingSource` wraps any source so its streams fail with ``EIO`` after a number of
bytes, which is what reading a yanked USB stick does.
"""

from __future__ import annotations

import errno
import io
import os
import shutil
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, cast

from lifelog.sources.base import DeviceIdentity, MediaItem, Source

LAYOUT_DIRS = {
    "gopro": "100GOPRO",
    "dji": "100MEDIA",
    "insta360": "Camera01",
    "canon": "100CANON",
    "nikon": "100NIKON",
    "sony": "100MSDCF",
    "phone": "Camera",
    "camera": "100_CAM_",
}


def layout_name(layout: str, i: int, ext: str) -> str:
    """The file name a camera of ``layout`` gives its ``i``-th recording (1-based)."""
    ext = ext.lower().lstrip(".")
    up = ext.upper()
    return {
        "gopro": f"GX01{i:04d}.{up}",
        "dji": f"DJI_{i:04d}.{up}",
        "insta360": f"VID_20240514_1000{i:02d}_00_{i:03d}.{ext}",
        "canon": f"IMG_{i:04d}.{up}",
        "nikon": f"DSC_{i:04d}.{up}",
        "sony": f"C{i:04d}.{up}",
        "phone": f"VID_20240514_1000{i:02d}.{ext}",
        "camera": f"IMG_{i:04d}.{up}",
    }[layout]


def make_volume(
    mount_root: Path,
    label: str,
    layout: str,
    files: Sequence[tuple[Path, datetime]],
    *,
    info: str | None = None,
) -> Path:
    """A volume ``mount_root/label`` holding copies of ``files`` (source, mtime) in ``layout``."""
    vol = Path(mount_root) / label
    folder = vol / "DCIM" / LAYOUT_DIRS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    for i, (src, when) in enumerate(files, 1):
        add_file(vol, layout, i, src, when)
    if layout == "gopro":
        misc = vol / "MISC"
        misc.mkdir(exist_ok=True)
        (misc / "version.txt").write_text(
            info
            or '{\n"info version":"2.0",\n"firmware version":"H23.01.01.10.00",\n"wifi mac":"2474f7a1b2c3",\n'
            '"camera type":"HERO12 Black",\n"camera serial number":"C3501324500711",\n}\n'
        )
    return vol


def add_file(volume: Path, layout: str, i: int, src: Path, when: datetime) -> Path:
    folder = volume / "DCIM" / LAYOUT_DIRS[layout]
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / layout_name(layout, i, src.suffix)
    shutil.copyfile(src, dst)
    ts = when.timestamp()
    os.utime(dst, (ts, ts))
    return dst


class _DyingStream(io.RawIOBase):
    def __init__(self, inner: BinaryIO, budget: int) -> None:
        self._inner = inner
        self._budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._budget <= 0:
            raise OSError(errno.EIO, "Input/output error")
        n = min(len(b), self._budget)
        data = self._inner.read(n)
        b[: len(data)] = data
        self._budget -= len(data)
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class UnpluggingSource:
    """``inner`` whose streams fail with EIO once ``cut_at(item)`` bytes of the item were read."""

    def __init__(self, inner: Source, fraction: float = 0.5) -> None:
        self.inner = inner
        self.fraction = fraction
        self.opened: list[tuple[str, int]] = []

    def identity(self) -> DeviceIdentity:
        return self.inner.identity()

    def list_media(self) -> Iterable[MediaItem]:
        return self.inner.list_media()

    def open(self, item: MediaItem, offset: int = 0) -> BinaryIO:
        self.opened.append((item.name, offset))
        cut = int(item.size * self.fraction)
        stream = self.inner.open(item, offset)
        return cast(BinaryIO, _DyingStream(stream, max(0, cut - offset)))

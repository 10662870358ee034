"""USB volumes with a DCF layout (cameras, action cams, glasses, phones in mass-storage mode).

* **Finding volumes**: every folder directly under the platform mount roots (``/media/$USER``,
  ``/run/media/$USER``, ``/mnt``, ``/Volumes``; ``$LIFELOG_MOUNT_ROOTS`` or an argument
  overrides them) that holds ``DCIM/`` with a DCF folder (``NNNxxxxx``, e.g. ``100GOPRO``) or a
  phone's ``DCIM/Camera``.
* **Layouts** recognised: GoPro (``100GOPRO``, chaptered ``GX01xxxx.MP4``/``GX02xxxx.MP4``,
  ``GOPRxxxx.MP4``), DJI (``100MEDIA/DJI_xxxx``), Insta360 (``Camera01``), generic cameras
  (``100CANON``, ``100NIKON``, ``100MSDCF``, ``DSC_``/``IMG_`` files) and phones (``DCIM/Camera``).
* **Identity, without writing to the volume**: the filesystem UUID when the mount comes from a
  block device (``/proc/self/mountinfo`` → ``/dev/disk/by-uuid``); otherwise a fingerprint of
  the volume: its label plus the camera's info file (GoPro ``MISC/version.txt``) when present,
  else plus the name, size and time of the first file (DCF numbers files upwards, so it stays
  first). A fingerprint made from a file changes when that file is deleted from the card: pair
  the volume again then (the import pipeline deduplicates by content, so nothing already in
  memory is imported twice).

The volume is only ever read.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from lifelog.sources.base import (
    DeviceGone,
    DeviceIdentity,
    MediaItem,
    SourceError,
    local_path,
    open_at,
    short_hash,
    walk_media,
)

DCF_DIR = re.compile(r"^\d{3}[A-Za-z0-9_]{5}$")
_GOPRO_CHAPTER = re.compile(r"^(G[XHL])(\d{2})(\d{4})\.", re.IGNORECASE)
_GOPRO_OLD = re.compile(r"^GP(\d{2})(\d{4})\.", re.IGNORECASE)
INFO_FILES = ("MISC/version.txt", "MISC/VERSION.TXT", "Insta360/version.txt", "DCIM/version.txt")


def default_mount_roots() -> list[Path]:
    env = os.environ.get("LIFELOG_MOUNT_ROOTS")
    if env:
        return [Path(p) for p in env.split(os.pathsep) if p]
    user = os.environ.get("USER") or os.environ.get("LOGNAME") or ""
    roots = [Path("/media") / user, Path("/run/media") / user, Path("/mnt"), Path("/Volumes")]
    if user:
        roots.append(Path("/media"))
    return roots


def _child(d: Path, name: str) -> Path | None:
    """``d/name`` matched case-insensitively (FAT volumes are case-insensitive, their mounts may not be)."""
    p = d / name
    if p.exists():
        return p
    try:
        for e in os.scandir(d):
            if e.name.lower() == name.lower():
                return Path(e.path)
    except OSError:
        pass
    return None


def dcim_folders(volume: Path) -> list[Path]:
    """The DCF folders (and a phone's ``Camera``) of ``volume``; empty when it has no DCF layout."""
    dcim = _child(volume, "DCIM")
    if dcim is None or not dcim.is_dir():
        return []
    out = []
    try:
        entries = sorted(os.scandir(dcim), key=lambda e: e.name)
    except OSError:
        return []
    for e in entries:
        if e.is_dir(follow_symlinks=False) and (
            DCF_DIR.match(e.name) or e.name.lower() == "camera" or re.match(r"^Camera\d\d$", e.name)
        ):
            out.append(Path(e.path))
    return out


def detect_layout(volume: Path, folders: Sequence[Path] | None = None) -> str:
    """gopro | dji | insta360 | canon | nikon | sony | phone | camera (a generic DCF camera)."""
    folders = dcim_folders(volume) if folders is None else folders
    names = [f.name.upper() for f in folders]
    first = _first_names(folders, 20)
    if any(n.endswith("GOPRO") for n in names) or any(_GOPRO_CHAPTER.match(f) or f.upper().startswith("GOPR")
                                                     for f in first):  # fmt: skip
        return "gopro"
    if any(f.upper().startswith("DJI_") for f in first):
        return "dji"
    if any(re.match(r"^CAMERA\d\d$", n) for n in names) or any(f.lower().endswith((".insv", ".insp")) for f in first):
        return "insta360"
    if any(n.endswith("CANON") for n in names):
        return "canon"
    if any(n.endswith("NIKON") or n.endswith("NCD") for n in names):
        return "nikon"
    if any(n.endswith("MSDCF") for n in names):
        return "sony"
    if any(n == "CAMERA" for n in names):
        return "phone"
    return "camera"


def _first_names(folders: Sequence[Path], n: int) -> list[str]:
    out: list[str] = []
    for f in folders:
        try:
            out += sorted(e.name for e in os.scandir(f) if e.is_file(follow_symlinks=False))[: n - len(out)]
        except OSError:
            continue
        if len(out) >= n:
            break
    return out


LAYOUT_LABELS = {
    "gopro": "GoPro",
    "dji": "DJI camera",
    "insta360": "Insta360",
    "canon": "Canon camera",
    "nikon": "Nikon camera",
    "sony": "Sony camera",
    "phone": "Phone",
    "camera": "Camera",
}


# ------------------------------------------------------------------ identity
def _unescape_mount(s: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def block_device_of(mount: Path, mountinfo: Path = Path("/proc/self/mountinfo")) -> str | None:
    """The block device (``/dev/sdb1``) mounted at ``mount``, from the kernel's mount table."""
    target = os.path.realpath(mount)
    try:
        lines = mountinfo.read_text("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in lines:
        left, _, right = line.partition(" - ")
        fields = left.split()
        rfields = right.split()
        if len(fields) >= 5 and len(rfields) >= 2 and _unescape_mount(fields[4]) == target:
            src = rfields[1]
            if src.startswith("/dev/"):
                return src
    return None


def volume_uuid(
    mount: Path,
    mountinfo: Path = Path("/proc/self/mountinfo"),
    by_uuid: Path = Path("/dev/disk/by-uuid"),
    by_label: Path = Path("/dev/disk/by-label"),
) -> tuple[str | None, str | None]:
    """(filesystem UUID, filesystem label) of the block device mounted at ``mount``, if known."""
    dev = block_device_of(mount, mountinfo)
    if dev is None:
        return None, None
    real = os.path.realpath(dev)

    def find(d: Path) -> str | None:
        try:
            for e in os.scandir(d):
                if os.path.realpath(os.path.join(d, os.readlink(e.path))) == real:
                    return _unescape_mount(e.name.replace("\\x", "\\"))
        except OSError:
            pass
        return None

    return find(by_uuid), find(by_label)


def _info_file(volume: Path) -> str | None:
    for rel in INFO_FILES:
        p = volume.joinpath(*rel.split("/"))
        try:
            if p.is_file() and p.stat().st_size <= 64 * 1024:
                return p.read_text("utf-8", "replace")
        except OSError:
            continue
    return None


def _info_fields(text: str) -> dict[str, str]:
    """GoPro's version.txt is JSON-like lines: ``"camera type":"HERO12 Black",``."""
    out = {}
    for m in re.finditer(r'"([^"]{1,40})"\s*:\s*"([^"]{0,80})"', text):
        out[m.group(1).lower()] = m.group(2)
    return out


def identify_volume(volume: Path, **uuid_kw: Path) -> DeviceIdentity:
    """A stable identity for the volume mounted at ``volume`` (never writes to it)."""
    folders = dcim_folders(volume)
    if not folders:
        raise SourceError(f"{volume} has no DCF layout (no DCIM/NNNxxxxx folder)")
    layout = detect_layout(volume, folders)
    uuid, fs_label = volume_uuid(volume, **uuid_kw)
    label = fs_label or volume.name
    details = {"layout": layout, "mount": str(volume), "volume_label": label}
    info = _info_file(volume)
    fields = _info_fields(info) if info else {}
    model = fields.get("camera type") or fields.get("model")
    pretty = f"{model or LAYOUT_LABELS[layout]} ({label})"
    if uuid:
        details["uuid"] = uuid
        return DeviceIdentity(f"usb-{short_hash('uuid', uuid)}", "usb", pretty, details)
    if info:
        key = ["info", label, *(f"{k}={v}" for k, v in sorted(fields.items()) if "version" not in k)]
        if len(key) == 2:
            key.append(info)
        details["fingerprint"] = "info-file"
    else:
        # DCF numbers new files upwards, so the first file stays first until it is deleted.
        key = ["files", label]
        first = next((x for f in folders for x in walk_media(f.parent, f)), None)
        if first is not None:
            key.append(f"{first[0]}:{first[1].st_size}:{int(first[1].st_mtime)}")
        details["fingerprint"] = "first-file"
    return DeviceIdentity(f"usb-{short_hash(*key)}", "usb", pretty, details)


# ------------------------------------------------------------------ the source
class DcfVolumeSource:
    """A mounted DCF volume. Item names are relative to ``DCIM`` (``100GOPRO/GX010001.MP4``)."""

    kind = "usb"

    def __init__(self, volume: Path, identity: DeviceIdentity | None = None) -> None:
        self.volume = Path(volume)
        self._identity = identity

    def identity(self) -> DeviceIdentity:
        if self._identity is None:
            self._identity = identify_volume(self.volume)
        return self._identity

    def _dcim(self) -> Path:
        d = _child(self.volume, "DCIM")
        if d is None or not d.is_dir():
            raise DeviceGone(f"{self.volume} is not mounted any more")
        return d

    def list_media(self) -> Iterable[MediaItem]:
        dcim = self._dcim()
        items = []
        for folder in dcim_folders(self.volume):
            for rel, st in walk_media(dcim, folder):
                if rel.count("/") != 1:
                    continue  # DCF keeps files directly in NNNxxxxx/
                items.append(MediaItem(rel, st.st_size, st.st_mtime, rel, group=chapter_group(rel)))
        return items

    def open(self, item: MediaItem, offset: int = 0) -> BinaryIO:
        return open_at(local_path(self._dcim(), item.name), offset)

    def delete(self, item: MediaItem) -> None:
        """Delete ``item`` from the volume. Sync calls this only with ``delete_after`` (the user
        asked), after the copy was verified and imported, and only if the file is unchanged."""
        p = local_path(self._dcim(), item.name)
        st = p.stat()
        if st.st_size != item.size or abs(st.st_mtime - item.mtime) > 1.0:
            raise SourceError(f"{item.name} changed on the device since it was copied; not deleted")
        p.unlink()


def chapter_group(name: str) -> str | None:
    """GoPro splits long recordings into chapters: GX01xxxx, GX02xxxx… share the group GXxxxx."""
    base = name.rsplit("/", 1)[-1]
    m = _GOPRO_CHAPTER.match(base)
    if m:
        return f"{m.group(1).upper()}{m.group(3)}"
    m = _GOPRO_OLD.match(base)
    if m:
        return f"GOPR{m.group(2)}"
    if base.upper().startswith("GOPR"):
        return f"GOPR{base[4:8]}"
    return None


# ------------------------------------------------------------------ finding volumes
@dataclass(frozen=True)
class Volume:
    path: Path
    key: tuple[int, int]  # (st_dev, st_ino) of the mount point: changes when remounted


def find_volumes(roots: Sequence[Path] | None = None) -> list[Volume]:
    """Mounted volumes with a DCF layout under ``roots`` (cheap: a few stat/scandir calls)."""
    out: list[Volume] = []
    seen: set[str] = set()
    for root in roots if roots is not None else default_mount_roots():
        try:
            cands = [root, *sorted(Path(e.path) for e in os.scandir(root) if e.is_dir(follow_symlinks=False))]
        except OSError:
            continue
        for c in cands:
            rp = os.path.realpath(c)
            if rp in seen:
                continue
            if dcim_folders(c):
                seen.add(rp)
                try:
                    st = c.stat()
                except OSError:
                    continue
                out.append(Volume(c, (st.st_dev, st.st_ino)))
    return out


def watch_volumes(
    on_volume: Callable[[Volume], None],
    cancel: threading.Event,
    roots: Sequence[Path] | None = None,
    interval_s: float = 2.0,
) -> None:
    """Call ``on_volume`` once for every DCF volume that appears (also those present at start),
    until ``cancel`` is set. A volume unplugged and plugged again is reported again."""
    present: set[tuple[str, tuple[int, int]]] = set()
    while not cancel.is_set():
        now = {(str(v.path), v.key): v for v in find_volumes(roots)}
        for k, v in now.items():
            if k not in present and not cancel.is_set():
                on_volume(v)
        present = set(now)
        cancel.wait(interval_s)


def iter_identified(roots: Sequence[Path] | None = None) -> Iterator[tuple[Volume, DeviceIdentity]]:
    for v in find_volumes(roots):
        try:
            yield v, identify_volume(v.path)
        except SourceError:
            continue

"""The one interface every device source speaks, and the plain-folder adapter.

A source names its media by a *relative POSIX path as the device shows it* (``100GOPRO/GX010001.MP4``).
Such names come from devices we do not control, so :func:`check_item` refuses a hostile or
nonsensical item (path traversal, absolute or absurd names, 0-byte or absurd declared sizes)
with a reason a user can read, before a byte is downloaded.

Adapters: :class:`FolderSource` (any folder, read-only), ``lifelog.sources.dcf.DcfVolumeSource``
(a USB volume with a DCF layout) and ``lifelog.sources.gopro.GoProSource`` (Open GoPro HTTP).

Where taken files go is an :class:`ImportTarget`: sync, the webcam recorder and the Wi-Fi
receiver are handed one by the front end (the memory facade satisfies it); sources never reach
up for the facade themselves.
"""

from __future__ import annotations

import hashlib
import os
import stat
import threading
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, Protocol, get_args, runtime_checkable

from lifelog.ingest.media import AUDIO_EXT, PHOTO_EXT, VIDEO_EXT

if TYPE_CHECKING:
    from lifelog.ingest.pipeline import ImportResult, ProgressFn

# File kinds the import pipeline accepts.
MEDIA_EXTENSIONS = frozenset(VIDEO_EXT | PHOTO_EXT | AUDIO_EXT)
# Low-resolution proxies and thumbnails cameras write beside the real footage: never taken.
SIDE_FILES = frozenset({".lrv", ".thm", ".xmp", ".aae", ".dat", ".sav"})

MAX_NAME_BYTES = 255  # one path component (FAT/exFAT/ext4 limit)
MAX_PATH_BYTES = 1024
MAX_DEPTH = 8
MAX_ITEM_BYTES = 256 * 1024**3  # 256 GiB: more than any card holds in one file


class SourceError(Exception):
    """A source cannot be read (gone, unreachable, answering nonsense)."""


class DeviceGone(SourceError):
    """The device went away (unplugged, out of Wi-Fi range) — a later sync resumes."""


class RefusedItem(SourceError):
    """A listed item that must not be taken (hostile name, impossible size)."""


SourceKind = Literal["usb", "gopro", "folder", "webcam", "wifi", "localsend"]
"""What kind of thing a device is (``DeviceIdentity.kind``; the registry's ``kind`` field)."""

SOURCE_KINDS: tuple[SourceKind, ...] = get_args(SourceKind)


def source_kind(value: object) -> SourceKind:
    """``value`` as a :data:`SourceKind`; ValueError naming it when it is none."""
    for k in SOURCE_KINDS:
        if value == k:
            return k
    raise ValueError(f"unknown device kind {value!r} (one of {', '.join(SOURCE_KINDS)})")


@dataclass(frozen=True)
class DeviceIdentity:
    """Who a device is, stably across plug-ins and reboots."""

    id: str  # e.g. usb-6f1c2a…, gopro-c3501324500711, folder-…
    kind: SourceKind
    label: str  # for people: "GoPro HERO12 (SD card)", "Canon EOS"…
    details: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "details": dict(self.details)}


@dataclass(frozen=True)
class MediaItem:
    """One file on a device, as the device describes it (sizes and times are its claims)."""

    name: str  # relative POSIX path on the device, e.g. "100GOPRO/GX010001.MP4"
    size: int  # bytes, as declared
    mtime: float  # seconds since the epoch, as declared
    remote_id: str  # stable id on the device (usually the name)
    sha256: str | None = None  # when the device offers one
    group: str | None = None  # chaptered recordings (GoPro GX01xxxx, GX02xxxx…) share a group

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name


@runtime_checkable
class Source(Protocol):
    """What sync needs from a device."""

    def identity(self) -> DeviceIdentity: ...

    def list_media(self) -> Iterable[MediaItem]: ...

    def open(self, item: MediaItem, offset: int = 0) -> BinaryIO:
        """A binary stream of ``item`` starting at byte ``offset``; it may end early (unplug)."""
        ...


class ImportTarget(Protocol):
    """Where imported files go: what sources need of a memory (the front end passes one in)."""

    @property
    def data_dir(self) -> Path:
        """The memory's data dir (originals, partial downloads and device state live under it)."""
        ...

    def import_paths(
        self,
        paths_: list[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
        device: str | None = None,
    ) -> ImportResult:
        """Import these files, attributed to ``device``; ``WriteLockBusy`` at once when another
        process holds the memory's write lock (callers wait with ``when_writer_free``)."""
        ...

    def stored_media(self, media_ids: Iterable[str]) -> set[str]:
        """Which of ``media_ids`` (content hashes) the memory holds now, writes made by other
        processes included."""
        ...

    def keep_original(self, plain: Path) -> Path:
        """Keep the imported file ``plain`` (under ``<data>/originals``) encrypted at rest: encrypt
        it into its kept copy, shred the plaintext, return the kept copy (docs/privacy.md)."""
        ...


def check_name(name: str) -> str:
    """``name`` if it is a safe relative media path; else :class:`RefusedItem` saying why."""
    if not isinstance(name, str) or not name:
        raise RefusedItem("empty file name")
    if "\x00" in name or any(unicodedata.category(c) == "Cc" for c in name):
        raise RefusedItem("file name contains control characters")
    if "\\" in name:
        raise RefusedItem("file name contains a backslash")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise RefusedItem("absolute path (a device may only name files inside itself)")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RefusedItem("file name is not valid text") from e
    if len(raw) > MAX_PATH_BYTES:
        raise RefusedItem(f"file name is absurdly long ({len(raw)} bytes)")
    parts = name.split("/")
    if len(parts) > MAX_DEPTH:
        raise RefusedItem(f"path is nested too deep ({len(parts)} levels)")
    for p in parts:
        if p in ("", ".", ".."):
            raise RefusedItem("path traversal ('..', '.' or an empty component) in the file name")
        if len(p.encode("utf-8")) > MAX_NAME_BYTES:
            raise RefusedItem(f"a path component is longer than {MAX_NAME_BYTES} bytes")
        if p.startswith("."):
            raise RefusedItem("hidden file (name starts with a dot)")
    ext = PurePosixPath(name).suffix.lower()
    if ext not in MEDIA_EXTENSIONS or ext in SIDE_FILES:
        raise RefusedItem(f"not a media file ({ext or 'no extension'})")
    return name


def check_item(item: MediaItem) -> MediaItem:
    """Refuse an item whose name or declared size cannot be right (see :func:`check_name`)."""
    check_name(item.name)
    if not isinstance(item.size, int) or isinstance(item.size, bool):
        raise RefusedItem("declared size is not a whole number")
    if item.size <= 0:
        raise RefusedItem(
            "empty file (the device declares 0 bytes)" if item.size == 0 else "declared size is negative or unreadable"
        )
    if item.size > MAX_ITEM_BYTES:
        raise RefusedItem(f"declared size is absurd ({item.size} bytes)")
    if item.sha256 is not None and (len(item.sha256) != 64 or any(c not in "0123456789abcdef" for c in item.sha256)):
        raise RefusedItem("the device's checksum is not a SHA-256 hex digest")
    return item


def local_path(root: Path, name: str) -> Path:
    """``root / name`` for a name already passed through :func:`check_name`, never outside ``root``."""
    check_name(name)
    p = root.joinpath(*name.split("/"))
    if os.path.commonpath([os.path.abspath(p), os.path.abspath(root)]) != os.path.abspath(root):
        raise RefusedItem("path escapes its folder")
    return p


def short_hash(*parts: str, n: int = 16) -> str:
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        h.update(p.encode("utf-8", "surrogateescape"))
        h.update(b"\x00")
    return h.hexdigest()[:n]


# ------------------------------------------------------------------ the plain folder
def open_at(path: Path, offset: int) -> BinaryIO:
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError as e:
        raise DeviceGone(f"{path.name} is no longer on the device (unplugged?)") from e
    except PermissionError as e:
        raise SourceError(f"{path.name}: permission denied") from e
    except OSError as e:
        raise DeviceGone(f"{path.name}: {e.strerror or e}") from e
    if offset:
        f.seek(offset)
    return f


def walk_media(root: Path, top: Path | None = None) -> Iterator[tuple[str, os.stat_result]]:
    """Regular media files under ``top`` (default ``root``) as (name relative to root, stat).

    Hidden entries and symlinks are skipped (a volume's links could point anywhere).
    """
    stack = [top or root]
    while stack:
        d = stack.pop()
        try:
            entries = sorted(os.scandir(d), key=lambda e: e.name)
        except OSError:
            continue
        for e in entries:
            if e.name.startswith(".") or e.is_symlink():
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                stack.append(Path(e.path))
            elif stat.S_ISREG(st.st_mode) and Path(e.name).suffix.lower() in MEDIA_EXTENSIONS - SIDE_FILES:
                rel = Path(e.path).relative_to(root).as_posix()
                yield rel, st


class FolderSource:
    """Any folder as a source (read-only): every media file under it, by relative path."""

    kind: SourceKind = "folder"

    def __init__(self, root: Path, *, device_id: str | None = None, label: str | None = None) -> None:
        self.root = Path(root)
        self._id = device_id or f"folder-{short_hash(os.path.abspath(self.root))}"
        self._label = label or self.root.name or str(self.root)

    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(self._id, self.kind, self._label, {"path": str(self.root)})

    def list_media(self) -> Iterable[MediaItem]:
        if not self.root.is_dir():
            raise DeviceGone(f"{self.root} is not there (unmounted or moved)")
        for rel, st in walk_media(self.root):
            yield MediaItem(rel, st.st_size, st.st_mtime, rel)

    def open(self, item: MediaItem, offset: int = 0) -> BinaryIO:
        return open_at(local_path(self.root, item.name), offset)

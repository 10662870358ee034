"""Finding media files, hashing them and reading their capture time.

Sources are only ever opened for reading. Capture time: MP4/MOV ``creation_time`` (UTC),
EXIF ``DateTimeOriginal`` (+ ``OffsetTimeOriginal`` when present, else the local zone),
else the file's mtime. All times returned are timezone-aware.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Literal

MediaKind = Literal["video", "photo", "audio"]

VIDEO_EXT = {".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".3gp", ".mts", ".ts"}
PHOTO_EXT = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO_EXT = {".wav", ".mp3", ".m4a", ".ogg", ".oga", ".opus", ".flac", ".aac"}

HASH_CHUNK = 4 << 20


class MediaError(Exception):
    """A file cannot be imported; the message says why in words a user understands."""


def kind_of(path: Path) -> MediaKind | None:
    ext = path.suffix.lower()
    if ext in VIDEO_EXT:
        return "video"
    if ext in PHOTO_EXT:
        return "photo"
    if ext in AUDIO_EXT:
        return "audio"
    return None


def check_importable(path: Path) -> MediaKind:
    """The kind of a file the import accepts; :class:`MediaError` saying why not otherwise (not a
    media file, gone, a folder, a pipe or device, not readable)."""
    import stat

    kind = kind_of(path)
    if kind is None:
        raise MediaError("unsupported file type (not a video, photo or audio file)")
    try:
        st = os.stat(path)
    except FileNotFoundError as e:
        raise MediaError("file disappeared, or is a broken link") from e
    except PermissionError as e:
        raise MediaError("permission denied (file is not readable)") from e
    if stat.S_ISDIR(st.st_mode):
        raise MediaError("is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise MediaError("not a regular file (a pipe, socket or device)")
    if not os.access(path, os.R_OK):
        raise MediaError("permission denied (file is not readable)")
    return kind


def display_path(path: Path | str) -> str:
    """A printable form of a path: undecodable bytes and control characters escaped."""
    s = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    s = s.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in s)


@dataclass
class Walk:
    media: list[Path]
    ignored: int  # non-media files met while walking folders
    unreadable: list[tuple[Path, str]]


def walk(paths: list[Path], on_error: Callable[[Path, str], None] | None = None) -> Walk:
    """Expand files and folders (recursively) into media files, in a stable order.

    Hidden files and folders (``.name``) inside folders are skipped; symlinked folders are not
    followed (no loops). Files named explicitly are always considered.
    """
    out: list[Path] = []
    unreadable: list[tuple[Path, str]] = []
    ignored = 0
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p not in seen:
            seen.add(p)
            out.append(p)

    for root in paths:
        if root.is_dir():
            def onerror(e: OSError, root: Path = root) -> None:
                unreadable.append((Path(e.filename or root), _reason(e)))

            for dirpath, dirnames, filenames in os.walk(root, onerror=onerror):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    p = Path(dirpath) / name
                    if kind_of(p) is None:
                        ignored += 1
                    else:
                        add(p)
        elif root.exists() or root.is_symlink():
            add(root)
        else:
            unreadable.append((root, "no such file or folder"))
    return Walk(out, ignored, unreadable)


def _reason(e: OSError) -> str:
    return e.strerror.lower() if e.strerror else str(e)


def content_hash(path: Path, should_stop: Callable[[], bool] | None = None) -> str:
    """BLAKE2b-128 of the file's bytes, hex. Identical content under any name has the same id."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        while chunk := f.read(HASH_CHUNK):
            h.update(chunk)
            if should_stop is not None and should_stop():
                raise InterruptedError
    return h.hexdigest()


def local_tz() -> tzinfo:
    tz = datetime.now().astimezone().tzinfo
    assert tz is not None
    return tz


def mtime_of(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC).astimezone(local_tz())


def parse_creation_time(value: str) -> datetime | None:
    """Parse an FFmpeg ``creation_time`` tag (ISO 8601, normally UTC with ``Z``)."""
    v = value.strip()
    if not v:
        return None
    if v.endswith("Z"):
        v = v[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(v)
    except ValueError:
        return None
    if dt.tzinfo is None:  # QuickTime stores UTC
        dt = dt.replace(tzinfo=UTC)
    # Cameras with an unset clock write 1904-01-01 (the QuickTime epoch) or 1970.
    if dt.year < 1990:
        return None
    return dt


def parse_exif_time(value: str, offset: str | None) -> datetime | None:
    try:
        dt = datetime.strptime(value.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if dt.year < 1990:
        return None
    tz: tzinfo = local_tz()
    if offset:
        try:
            sign = -1 if offset.strip().startswith("-") else 1
            hh, mm = offset.strip().lstrip("+-").split(":")
            tz = timezone(sign * timedelta(hours=int(hh), minutes=int(mm)))
        except ValueError:
            pass
    if tz is local_tz():
        # Local wall time with no offset recorded: interpret it in the machine's zone.
        return dt.astimezone()
    return dt.replace(tzinfo=tz)


def iter_chunks(path: Path, size: int = HASH_CHUNK) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk

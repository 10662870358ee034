"""Per-device record of what was already taken, and where partial downloads live.

Layout (all under the data dir, never on the device)::

    <data>/devices/<device-id>/ledger.json           what was taken: remote id -> size, mtime, content hash
    <data>/devices/<device-id>/partial/<key>-<name>.part       bytes received so far
    <data>/devices/<device-id>/partial/<key>-<name>.part.json  which item (size, mtime) they belong to

An item counts as taken when the ledger holds its remote id with the same declared size and
mtime; a file that changed on the device (other size or time) is taken again. A partial file
whose item changed is thrown away instead of resumed. The ledger is rewritten atomically
(temp file + rename) after every item, so a crash loses at most the item in progress.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lifelog.sources.base import MediaItem, check_name, short_hash
from lifelog.store.files import atomic_write

LEDGER_VERSION = 1
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
MTIME_SLACK_S = 1.0  # FAT keeps 2 s steps; the same device reports the same value, allow rounding


def check_device_id(device_id: str) -> str:
    if not _ID_RE.match(device_id) or ".." in device_id:
        raise ValueError(f"not a valid device id: {device_id!r}")
    return device_id


def devices_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "devices"


def device_dir(data_dir: Path, device_id: str) -> Path:
    return devices_dir(data_dir) / check_device_id(device_id)


@dataclass(frozen=True)
class LedgerEntry:
    remote_id: str
    name: str
    size: int
    mtime: float
    content_hash: str  # BLAKE2b-128, the media id the import pipeline uses
    # imported | skipped (already in memory) | failed (not importable; reason given)
    # | skipped-by-rule (recorded during quiet hours: never imported, not taken again)
    status: str
    reason: str
    path: str | None  # the kept original under <data>/originals, if any
    taken_at: float

    def matches(self, item: MediaItem) -> bool:
        return self.size == item.size and abs(self.mtime - item.mtime) <= MTIME_SLACK_S


class Ledger:
    """What one device already gave us. Not thread-safe: one sync per device at a time."""

    def __init__(self, data_dir: Path, device_id: str) -> None:
        self.dir = device_dir(data_dir, device_id)
        self.path = self.dir / "ledger.json"
        self.partial_dir = self.dir / "partial"
        self._entries: dict[str, LedgerEntry] = {}
        self._load()

    def _load(self) -> None:
        try:
            doc = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            # A damaged ledger must not make us lose track silently; keep it for inspection.
            bad = self.path.with_suffix(f".damaged-{int(time.time())}")
            os.replace(self.path, bad)
            raise LedgerDamaged(f"the ledger of this device was unreadable ({e}); kept as {bad.name}") from e
        for rid, row in (doc.get("items") or {}).items():
            self._entries[rid] = LedgerEntry(**{**row, "remote_id": rid})

    def _save(self) -> None:
        items = {rid: {k: v for k, v in asdict(e).items() if k != "remote_id"} for rid, e in self._entries.items()}
        data = json.dumps({"version": LEDGER_VERSION, "items": items}, ensure_ascii=False, indent=1)
        atomic_write(self.path, data.encode("utf-8"))

    def __len__(self) -> int:
        return len(self._entries)

    def entries(self) -> list[LedgerEntry]:
        return list(self._entries.values())

    def get(self, remote_id: str) -> LedgerEntry | None:
        return self._entries.get(remote_id)

    def is_taken(self, item: MediaItem) -> bool:
        e = self._entries.get(item.remote_id)
        return e is not None and e.matches(item)

    def record(
        self, item: MediaItem, content_hash: str, status: str, reason: str = "", path: Path | None = None
    ) -> LedgerEntry:
        e = LedgerEntry(
            item.remote_id, item.name, item.size, item.mtime, content_hash, status, reason,
            str(path) if path else None, time.time(),
        )  # fmt: skip
        self._entries[item.remote_id] = e
        self._save()
        return e

    def forget(self, remote_id: str) -> None:
        if self._entries.pop(remote_id, None) is not None:
            self._save()

    # ------------------------------------------------------------- partial files
    def partial_path(self, item: MediaItem) -> Path:
        check_name(item.name)
        return self.partial_dir / f"{short_hash(item.remote_id, n=8)}-{item.basename}.part"

    def open_partial(self, item: MediaItem) -> Path:
        """The partial file for ``item``, emptied first when it belonged to another version of it."""
        part = self.partial_path(item)
        meta = part.with_name(part.name + ".json")
        want = {"remote_id": item.remote_id, "size": item.size, "mtime": item.mtime}
        try:
            have: Any = json.loads(meta.read_text("utf-8"))
        except (OSError, ValueError):
            have = None
        if have != want or (part.exists() and part.stat().st_size > item.size):
            part.unlink(missing_ok=True)
            atomic_write(meta, json.dumps(want).encode())
        return part

    def drop_partial(self, item: MediaItem) -> None:
        part = self.partial_path(item)
        part.unlink(missing_ok=True)
        part.with_name(part.name + ".json").unlink(missing_ok=True)

    def partial_bytes(self) -> int:
        if not self.partial_dir.is_dir():
            return 0
        return sum(p.stat().st_size for p in self.partial_dir.glob("*.part"))


class LedgerDamaged(RuntimeError):
    pass

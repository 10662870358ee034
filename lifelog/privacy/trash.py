"""The trash: the app's everyday deletes (an episode, a day) are held ``retention.trash_days``
days, restorable, then forgotten for good by the same code as ``forget`` (:func:`purge`).

What is in the trash is one small file, ``<data>/trash.json`` (ids and times only, never
content), written whole or not at all (:func:`lifelog.store.files.atomic_write`)::

    {"version": 1, "batches": [{"id": "t…", "at": "2024-05-14T12:00:00+00:00",
                                "kind": "episode" | "day", "episodes": ["…-e0", …]}]}

One batch is one delete (so one Undo restores it). The rows stay in the store until the purge;
every reader hides them through :meth:`lifelog.store.db.Store.committed_filter` (the same
filter that hides unfinished imports, with the episode column). The caller holds the memory's
write lock for every change (``Memory.trash_episodes`` and friends do).

Crash safety: moving to the trash and restoring are one atomic file write each. A purge forgets
first (its plan journalled in ``forget.pending`` and finished by the next start if killed), then
drops the purged batches; a batch whose episodes no longer exist is dropped when next read.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from lifelog.privacy.forget import ForgetError, ForgetResult, apply_forget, plan_episodes
from lifelog.store.db import TRASH_FILE, Store
from lifelog.store.files import atomic_write
from lifelog.store.sql import sql_in
from lifelog.store.vault import Vault

TrashKind = Literal["episode", "day"]
VERSION = 1
CHUNK = 500


@dataclass(frozen=True)
class TrashBatch:
    """One move to the trash: its id, when, what kind of delete, and the episode ids."""

    id: str
    at: datetime
    kind: str
    episodes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "kind": self.kind, "episodes": list(self.episodes)}


def trash_path(data_dir: Path) -> Path:
    return data_dir / TRASH_FILE


def load(data_dir: Path) -> list[TrashBatch]:
    """The batches in the trash, oldest first (an unreadable file reads as an empty trash)."""
    try:
        doc = json.loads(trash_path(data_dir).read_bytes())
    except FileNotFoundError:
        return []
    except ValueError:  # written atomically, so a torn file is not ours
        return []
    out = []
    for b in doc.get("batches", []) if isinstance(doc, dict) else []:
        try:
            at = datetime.fromisoformat(str(b["at"]))
            out.append(TrashBatch(str(b["id"]), at if at.tzinfo else at.replace(tzinfo=UTC), str(b.get("kind", "")),
                                  [str(e) for e in b.get("episodes", [])]))
        except (KeyError, TypeError, ValueError):
            continue
    out.sort(key=lambda b: b.at)
    return out


def _save(data_dir: Path, batches: list[TrashBatch]) -> None:
    batches = [b for b in batches if b.episodes]
    path = trash_path(data_dir)
    if not batches:
        path.unlink(missing_ok=True)
        return
    doc = {"version": VERSION, "batches": [b.to_json() for b in batches]}
    atomic_write(path, json.dumps(doc, indent=1).encode())


def _existing(store: Store, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    for i in range(0, len(wanted), CHUNK):
        col = store.rows("episodes", sql_in("id", wanted[i:i + CHUNK]), columns=["id"]).column("id")
        found.update(str(v) for v in col.to_pylist())
    return found


def batches(store: Store) -> list[TrashBatch]:
    """The batches in the trash, each with only the episodes that still exist (oldest first)."""
    store.refresh()
    found = load(store.data_dir)
    alive = _existing(store, (e for b in found for e in b.episodes))
    out = [TrashBatch(b.id, b.at, b.kind, [e for e in b.episodes if e in alive]) for b in found]
    return [b for b in out if b.episodes]


def move_to_trash(store: Store, episodes: Iterable[str], kind: TrashKind, now: datetime) -> TrashBatch | None:
    """Move episodes to the trash (one batch); :class:`ForgetError` for an unknown id. None when
    all of them were in the trash already."""
    ids = list(dict.fromkeys(str(e) for e in episodes))
    store.refresh()
    missing = set(ids) - _existing(store, ids)
    if missing:
        raise ForgetError(f"no episode {sorted(missing)[0]!r} in this memory (see `lifelog episodes`)")
    current = batches(store)
    already = {e for b in current for e in b.episodes}
    new = [e for e in ids if e not in already]
    if not new:
        return None
    batch = TrashBatch("t" + secrets.token_hex(6), now.astimezone(UTC), kind, new)
    _save(store.data_dir, [*current, batch])
    return batch


def restore(store: Store, ids: Iterable[str]) -> list[str]:
    """Take batches (by batch id) or single episodes (by episode id) out of the trash; the
    episode ids restored. :class:`ForgetError` for an id that is not in the trash."""
    wanted = [str(i) for i in ids]
    current = batches(store)
    known = {b.id for b in current} | {e for b in current for e in b.episodes}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise ForgetError(f"{unknown[0]!r} is not in the trash (see `lifelog trash`)")
    take = set(wanted)
    restored: list[str] = []
    keep: list[TrashBatch] = []
    for b in current:
        if b.id in take:
            restored += b.episodes
            continue
        left = [e for e in b.episodes if e not in take]
        restored += [e for e in b.episodes if e in take]
        keep.append(TrashBatch(b.id, b.at, b.kind, left))
    _save(store.data_dir, keep)
    return restored


def expired(store: Store, trash_days: int, now: datetime) -> list[TrashBatch]:
    """Batches moved to the trash more than ``trash_days`` days before ``now``."""
    cut = now - timedelta(days=trash_days)
    return [b for b in batches(store) if b.at < cut]


def purge(store: Store, vault: Vault, due: list[TrashBatch]) -> ForgetResult | None:
    """Forget the episodes of ``due`` for good (:func:`~lifelog.privacy.forget.apply_forget`,
    audit target ``trash``), then drop those batches. None when there was nothing to forget.
    The caller holds the write lock."""
    if not due:
        return None
    plan = plan_episodes(store, (e for b in due for e in b.episodes), "trash")
    result = apply_forget(store, vault, plan) if not plan.is_empty() else None
    gone = {b.id for b in due}
    _save(store.data_dir, [b for b in load(store.data_dir) if b.id not in gone])
    return result

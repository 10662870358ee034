"""The memory profile and the descriptions, for the front ends (the app's Profile page, the
``lifelog profile`` command). See docs/profile.md.

* :func:`read_profile` — the profile as editable text and as lines (block, key, text, whose);
* :func:`save_profile_text` — save the user's edited text (:class:`ProfileError` names a bad line;
  nothing is saved then); :func:`profile_history` — every change and contradiction, oldest first;
* :func:`refresh_profile` — regenerate the inferred lines now (the nightly pass does it too);
* :func:`edit_profile` — the ``lifelog profile edit`` round trip: a decrypted copy in the memory's
  private folder, an editor, validation, and the copy shredded whatever happens;
* descriptions: ``Memory.episodes()`` carries each episode's ``description``;
  ``Memory.describe_episodes(ids)`` writes them for what an import just added;
  ``Memory.day_description(day)`` reads a day's; :func:`without_speech` drops what was said from
  a description, for readers not allowed to read speech.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifelog.api.memory import Memory
from lifelog.consolidate.describe import without_speech
from lifelog.consolidate.profile import ProfileError, ProfileReport, refresh, render, save_text
from lifelog.store.files import shred_file
from lifelog.store.lock import write_lock
from lifelog.store.notes import HistoryEntry, LineSource, ProfileLine, history, load_profile
from lifelog.store.scratch import private_dir, write_private

__all__ = [
    "HistoryEntry",
    "LineSource",
    "ProfileError",
    "ProfileLine",
    "ProfileReport",
    "ProfileView",
    "edit_profile",
    "profile_history",
    "read_profile",
    "refresh_profile",
    "save_profile_text",
    "without_speech",
]


@dataclass(frozen=True)
class ProfileView:
    text: str
    lines: list[ProfileLine] = field(default_factory=list)
    generated_at: datetime | None = None
    edited_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "generated_at": self.generated_at.isoformat() if self.generated_at else None,
            "edited_at": self.edited_at.isoformat() if self.edited_at else None,
            "lines": [{"block": ln.block, "key": ln.key, "text": ln.text, "source": ln.source}
                      for ln in self.lines],
        }


def read_profile(memory: Memory) -> ProfileView:
    memory.store.refresh()
    doc = load_profile(memory.store, memory.vault)
    tz = memory.tz
    return ProfileView(render(doc), doc.lines, doc.generated_at.astimezone(tz) if doc.generated_at else None,
                       doc.edited_at.astimezone(tz) if doc.edited_at else None)


def save_profile_text(memory: Memory, text: str, now: datetime | None = None) -> ProfileReport:
    """Save the user's edit (takes the write lock; ``WriteLockBusy`` while another writer works)."""
    with write_lock(memory.data_dir):
        memory.store.refresh()
        return save_text(memory.store, memory.vault, text, now or datetime.now().astimezone())


def refresh_profile(memory: Memory, now: datetime | None = None) -> ProfileReport:
    """Regenerate the inferred lines now, keeping the user's (takes the write lock)."""
    with write_lock(memory.data_dir):
        memory.store.refresh()
        return refresh(memory.store, memory.vault, memory.tz, now or datetime.now().astimezone())


def profile_history(memory: Memory) -> list[HistoryEntry]:
    """Every saved change and every contradiction the pass found, oldest first (memory's zone)."""
    memory.store.refresh()
    tz = memory.tz
    return [HistoryEntry(h.seq, h.at.astimezone(tz), h.what, h.people, h.episodes)
            for h in history(memory.store, memory.vault)]


def edit_profile(memory: Memory, run_editor: Callable[[str], None], now: datetime | None = None,
                 attempts: int = 3, on_error: Callable[[str], bool] | None = None) -> ProfileReport | None:
    """Let the user edit the profile in an editor: the text is decrypted into the memory's private
    folder (never a shared /tmp), ``run_editor(path)`` edits it, and the result is validated and
    saved. On a bad line ``on_error(message)`` says whether to edit again (up to ``attempts``).
    The decrypted copy is shredded in every case. None when the text was not changed."""
    folder = private_dir(memory.data_dir, "profile")
    original = read_profile(memory).text
    path = write_private(folder, f"profile-{secrets.token_hex(4)}.md", original.encode())
    try:
        for _ in range(max(1, attempts)):
            run_editor(str(path))
            edited = path.read_text(encoding="utf-8")
            if edited == original:
                return None
            try:
                return save_profile_text(memory, edited, now)
            except ProfileError as e:
                if on_error is None or not on_error(str(e)):
                    raise
        raise ProfileError("the profile was not saved (still not valid)")
    finally:
        shred_file(path)

"""What a consolidation step works on: one memory's folder, settings, tables and vault.

``lifelog.api.Memory`` builds one from itself (``ConsolidationContext.of(memory)`` is not
possible from down here: the facade passes its parts in). Steps never open a second Store or
Vault of their own, so a pass sees exactly what the caller sees.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path

from lifelog.config import Settings
from lifelog.store.db import Store
from lifelog.store.vault import Vault

#: ``progress(step, done, total)``: the step's name, units done and the units it expects.
Progress = Callable[[str, int, int], None]


@dataclass
class ConsolidationContext:
    """One memory, as the pass sees it. ``cancel`` is checked between units of work; a step
    that sees it set stops where it is, leaving the store consistent (the next pass resumes)."""

    data_dir: Path
    settings: Settings
    store: Store
    vault: Vault
    tz: tzinfo
    cancel: threading.Event = field(default_factory=threading.Event)
    progress: Progress | None = None

    def report(self, step: str, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(step, done, total)

    def cancelled(self) -> bool:
        return self.cancel.is_set()

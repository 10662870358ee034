"""What recall needs from a memory: a small typed context instead of the whole facade.

:class:`lifelog.api.Memory` satisfies :class:`RecallContext` structurally (nothing here imports
it): recall sits below the facade and never reaches up into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, tzinfo
from typing import Protocol

from lifelog.store.db import Store
from lifelog.store.vault import Vault


class EpisodeView(Protocol):
    """One episode as a question about a time window shows it (``Memory.episodes_between``)."""

    @property
    def id(self) -> str: ...

    @property
    def start(self) -> datetime: ...

    @property
    def end(self) -> datetime: ...

    @property
    def summary(self) -> str: ...

    @property
    def description(self) -> str:
        """In words a person would write (docs/profile.md); what answers show."""
        ...

    @property
    def thumb_ids(self) -> Sequence[str]: ...


class Thumbnails(Protocol):
    """Where evidence thumbnails are read from."""

    def thumbnail(self, blob_id: str) -> bytes:
        """JPEG bytes of a thumbnail, decrypted in memory."""
        ...

    def thumbnail_file(self, blob_id: str | None) -> str | None:
        """The path of a decrypted copy of a thumbnail in the memory's private folder, for callers
        that need a file (the CLI's ``--json``); None without a blob id or when it cannot be read."""
        ...


class RecallContext(Thumbnails, Protocol):
    """The memory a question is asked of."""

    @property
    def store(self) -> Store: ...

    @property
    def vault(self) -> Vault: ...

    @property
    def tz(self) -> tzinfo:
        """The memory's time zone: days are judged and answers given in it, whatever the zone of ``now``."""
        ...

    def episodes_between(self, start: datetime | None, end: datetime | None) -> Sequence[EpisodeView]:
        """Episodes overlapping [start, end), in time order (either bound may be open)."""
        ...

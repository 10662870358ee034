"""Export and re-import, for the front ends: :meth:`lifelog.api.Memory.export` writes an
:class:`ExportResult`, :meth:`lifelog.api.Memory.import_archive` returns an
:class:`ArchiveImportResult`; both report :class:`ArchiveProgress` and raise the errors below
(see docs/export-format.md)."""

from __future__ import annotations

from lifelog.privacy.export import (
    FORMAT_VERSION,
    PASSPHRASE_ENV,
    ArchiveCancelled,
    ArchiveError,
    ArchiveImportResult,
    ArchiveProgress,
    ArchiveRefused,
    ArchiveUsageError,
    ExportResult,
    WrongPassphrase,
    is_encrypted,
)

__all__ = [
    "FORMAT_VERSION",
    "PASSPHRASE_ENV",
    "ArchiveCancelled",
    "ArchiveError",
    "ArchiveImportResult",
    "ArchiveProgress",
    "ArchiveRefused",
    "ArchiveUsageError",
    "ExportResult",
    "WrongPassphrase",
    "is_encrypted",
]

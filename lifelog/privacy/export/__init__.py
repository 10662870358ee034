"""Export and re-import (issue #12): the memory as an open, documented, versioned format
(``docs/export-format.md``) — a folder, or one passphrase-encrypted archive file — and its
restoration into this or another memory. ``format`` the tables and their JSON form,
``container`` the folder and the encrypted stream, ``write`` the export, ``read`` the import."""

from __future__ import annotations

from lifelog.privacy.export.container import is_encrypted
from lifelog.privacy.export.format import (
    FORMAT_VERSION,
    PASSPHRASE_ENV,
    ArchiveCancelled,
    ArchiveError,
    ArchiveProgress,
    ArchiveRefused,
    ArchiveUsageError,
    WrongPassphrase,
)
from lifelog.privacy.export.read import ArchiveImportResult, import_archive
from lifelog.privacy.export.write import ExportResult, export_memory

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
    "export_memory",
    "import_archive",
    "is_encrypted",
]

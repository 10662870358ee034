"""An append-only record that something was forgotten (or exported, or purged): what kind, how
many, when — never what it was. ``<data>/audit.log``, one JSON document per line, 0600."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.log"


def record(data_dir: Path, action: str, counts: dict[str, int], **extra: str) -> None:
    """Append one entry; counts only (no ids, names or times of what was acted on)."""
    entry: dict[str, Any] = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "action": action,
                             "counts": counts, **extra}
    fd = os.open(data_dir / AUDIT_FILE, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def read(data_dir: Path) -> list[dict[str, Any]]:
    """Every entry, oldest first (a damaged line is skipped)."""
    try:
        lines = (data_dir / AUDIT_FILE).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    out: list[dict[str, Any]] = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict):
            out.append(doc)
    return out

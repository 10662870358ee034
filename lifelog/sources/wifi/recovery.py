"""Putting the receiver's files in order after it was stopped hard (killed, a power cut).

Received bytes live in ``<data>/devices/incoming/<device>/``: ``<id>.part`` + ``<id>.json`` for a
paired upload, ``ls-….part`` for a LocalSend file. A verified file is moved to
``<data>/originals/<device>/`` and imported; an *import marker* (``<tag>.importing``, the
file's part and destination paths and its SHA-256) is written just before the move and removed
once the outcome is settled. A receiver killed in between leaves the marker, and at its next
start :func:`reconcile_incoming` (run before it listens) settles each one:

* the memory holds the file (the import finished before the kill): it stays as the kept
  original (encrypted now if the kill came before that, ``keep``), the index of received files
  learns it, the upload session is closed — a retry is told ``have`` / ``skipped``;
* it does not (the core rolled the import back, or it never began): a paired upload's file goes
  back to its ``.part`` — a complete upload whose import is pending, exactly the state a 503
  "busy" leaves — so the sender's retry (``POST`` then ``PUT bytes */SIZE``; the reference
  client does it) imports it without sending a byte; a LocalSend file (LocalSend has no resume:
  the sender sends it again whole) is deleted.

Then each upload session is checked against the disk: a session whose ``.part`` is gone is
dropped (a retry starts it again), a ``.part`` longer than its declared size starts over, and
parts no session refers to (LocalSend sessions live only in memory) are deleted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from pathlib import Path

from lifelog.sources.wifi.common import INCOMING_DIR, RECEIVED_DIR

log = logging.getLogger("lifelog.wifi")

MARKER_SUFFIX = ".importing"


def write_import_marker(data_dir: Path, device_id: str, tag: str, part: Path, dest: Path, sha256: str | None) -> Path:
    """Record that ``part`` is about to become ``dest`` and be imported (see the module docstring)."""
    from lifelog.store.files import atomic_write

    marker = data_dir / INCOMING_DIR / device_id / f"{tag}{MARKER_SUFFIX}"
    doc = {
        "part": os.path.relpath(part, data_dir),
        "dest": os.path.relpath(dest, data_dir),
        "sha256": sha256,
        "created": time.time(),
    }
    atomic_write(marker, json.dumps(doc).encode("utf-8"))
    return marker


def _inside(path: Path, folder: Path) -> bool:
    try:
        return path.resolve().parent == folder.resolve()
    except OSError:
        return False


def reconcile_incoming(
    data_dir: Path,
    stored: Callable[[list[str]], set[str]],
    remember: Callable[[str, str], None],
    keep: Callable[[Path], object] | None = None,
) -> list[str]:
    """Settle what a hard stop left half-done (see the module docstring); one sentence per
    thing done, for the receiver's events. ``stored(media_ids)`` says which the memory holds;
    ``remember(sha256, media_id)`` records a received file in the index for ``have``;
    ``keep(path)`` keeps an imported original encrypted (``ImportTarget.keep_original``)."""
    from lifelog.ingest.media import content_hash

    said: list[str] = []
    root = data_dir / INCOMING_DIR
    if not root.is_dir():
        return said
    for devdir in sorted(p for p in root.iterdir() if p.is_dir()):
        received_dir = data_dir / RECEIVED_DIR / devdir.name
        for marker in sorted(devdir.glob(f"*{MARKER_SUFFIX}")):
            try:
                doc = json.loads(marker.read_text("utf-8"))
                part, dest = data_dir / str(doc["part"]), data_dir / str(doc["dest"])
                sha = doc.get("sha256")
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                marker.unlink(missing_ok=True)
                continue
            if not (_inside(part, devdir) and _inside(dest, received_dir)):  # not ours: touch nothing
                marker.unlink(missing_ok=True)
                continue
            if dest.is_file():
                try:
                    media_id = content_hash(dest)
                    held = media_id in stored([media_id])
                except Exception:  # the memory cannot say now: keep the bytes as a pending upload
                    log.exception("could not check %s against the memory", dest)
                    media_id, held = "", False
                meta = part.with_suffix(".json")
                if held:
                    if isinstance(sha, str):
                        remember(sha, media_id)
                    for p in (part, meta):
                        p.unlink(missing_ok=True)
                    if keep is not None:
                        try:
                            keep(dest)
                        except Exception:  # the next open of the memory encrypts it
                            log.exception("could not encrypt the kept original %s yet", dest)
                    said.append(f"{dest.name} was imported before the receiver stopped; kept")
                elif part.suffix == ".part" and meta.is_file():
                    os.replace(dest, part)
                    said.append(f"{dest.name} was received but not imported before the receiver stopped; "
                                "the sender's next attempt imports it")
                else:
                    dest.unlink(missing_ok=True)
                    said.append(f"deleted {dest.name}: received but not imported before the receiver "
                                "stopped (its sender sends it again)")
            marker.unlink(missing_ok=True)
        for meta in sorted(devdir.glob("*.json")):
            part = meta.with_suffix(".part")
            try:
                doc = json.loads(meta.read_text("utf-8"))
                size = int(doc["size"])
                str(doc["name"]), str(doc["sha256"])
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                size = -1
            if size <= 0 or not part.is_file():
                for p in (meta, part):
                    p.unlink(missing_ok=True)
                said.append(f"dropped an upload session of {devdir.name} whose bytes are gone; "
                            "its sender starts it again")
            elif part.stat().st_size > size:
                with open(part, "r+b") as f:
                    f.truncate(0)
                said.append(f"an upload of {devdir.name} held more bytes than declared; it starts over")
        for part in sorted(devdir.glob("*.part")):
            if not part.with_suffix(".json").is_file():
                part.unlink(missing_ok=True)  # LocalSend partials (no resume) and orphans
        for tmp in devdir.glob(".tmp-*"):  # an atomic write cut short
            with contextlib.suppress(OSError):
                tmp.unlink()
    return said

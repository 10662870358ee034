"""Paired devices (USB volumes, GoPro-style cameras), one JSON file each.

``<data>/devices/<device-id>/device.json``::

    {"id": "usb-uuid-1234-abcd", "kind": "usb", "label": "GoPro (SD card)", "paired_at": "2026-…",
     "details": {"uuid": "1234-ABCD", "layout": "gopro", …}}

Wi-Fi companions are kept by :mod:`lifelog.sources.wifi` (with their credentials); this module
never reads or writes those. Removing a device deletes its pairing and partial downloads but
keeps its ledger, so pairing it again does not take its files again.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifelog.sources.base import DeviceIdentity, SourceKind, source_kind
from lifelog.sources.ledger import check_device_id, device_dir, devices_dir
from lifelog.store.files import atomic_write

KINDS = ("usb", "gopro", "folder")


class RegistryError(Exception):
    pass


@dataclass(frozen=True)
class PairedDevice:
    id: str
    kind: SourceKind
    label: str
    paired_at: str
    details: dict[str, str] = field(default_factory=dict)

    @property
    def identity(self) -> DeviceIdentity:
        return DeviceIdentity(self.id, self.kind, self.label, dict(self.details))

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "paired_at": self.paired_at,
                "details": dict(self.details)}  # fmt: skip


def pair(data_dir: Path, ident: DeviceIdentity) -> PairedDevice:
    """Store ``ident`` as paired (again: the label and details are refreshed, the date kept)."""
    if ident.kind not in KINDS:
        raise RegistryError(f"cannot pair a device of kind {ident.kind!r} here")
    check_device_id(ident.id)
    old = get(data_dir, ident.id)
    dev = PairedDevice(
        ident.id, ident.kind, ident.label,
        old.paired_at if old else datetime.now(UTC).isoformat(timespec="seconds"),
        {str(k): str(v) for k, v in ident.details.items()},
    )  # fmt: skip
    path = device_dir(data_dir, ident.id) / "device.json"
    atomic_write(path, json.dumps(dev.to_json(), ensure_ascii=False, indent=1).encode("utf-8"))
    return dev


def get(data_dir: Path, device_id: str) -> PairedDevice | None:
    try:
        path = device_dir(data_dir, device_id) / "device.json"
    except ValueError:
        return None
    return _read(path)


def _read(path: Path) -> PairedDevice | None:
    try:
        d = json.loads(path.read_text("utf-8"))
        return PairedDevice(
            str(d["id"]), source_kind(d["kind"]), str(d["label"]), str(d["paired_at"]),
            {str(k): str(v) for k, v in (d.get("details") or {}).items()},
        )  # fmt: skip
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # a damaged file is ignored (listed by `devices` as nothing); pairing again rewrites it


def list_paired(data_dir: Path) -> list[PairedDevice]:
    root = devices_dir(data_dir)
    if not root.is_dir():
        return []
    out = [d for p in sorted(root.iterdir()) if (d := _read(p / "device.json")) is not None]
    return sorted(out, key=lambda d: (d.kind, d.label, d.id))


def remove(data_dir: Path, device_id: str) -> PairedDevice:
    dev = get(data_dir, device_id)
    if dev is None:
        raise RegistryError(f"no paired device {device_id!r} (see `lifelog devices`)")
    d = device_dir(data_dir, device_id)
    (d / "device.json").unlink()
    shutil.rmtree(d / "partial", ignore_errors=True)
    return dev

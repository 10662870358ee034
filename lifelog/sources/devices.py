"""Every paired device in one list, the camera cards plugged in now, a GoPro-style camera checked
by its address, and the steps a front end takes on a device (sync, forget, pairing code).

What the app's Devices page (``ui/pages/devices``) shows and does, as plain data and plain
functions with no widgets: the page calls them on its worker threads through
:mod:`lifelog.api.devices`. Two registries are merged here: the memory's device registry
(:mod:`lifelog.sources.registry`: USB cards, GoPro-style cameras, folders) and the Wi-Fi
registry (:mod:`lifelog.sources.wifi.registry`: paired companions, approved LocalSend senders).
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, TypeGuard

from lifelog.sources import registry
from lifelog.sources.base import DeviceIdentity, ImportTarget, SourceError
from lifelog.sources.dcf import LAYOUT_LABELS, DcfVolumeSource, find_volumes, identify_volume, iter_identified
from lifelog.sources.gopro import GoProSource
from lifelog.sources.ledger import Ledger, LedgerDamaged
from lifelog.sources.sync import SyncProgress, SyncResult, source_for, sync_source
from lifelog.sources.wifi.pairing import PairingOffer, new_pairing_offer
from lifelog.sources.wifi.registry import DEVICES_DIR, REGISTRY_NAME, RegistryError, list_devices, revoke
from lifelog.store.lock import when_writer_free

DeviceKind = Literal["usb", "gopro", "folder", "wifi", "localsend"]
SyncKind = Literal["usb", "gopro", "folder"]
SYNC_KINDS: tuple[SyncKind, ...] = ("usb", "gopro", "folder")
WIFI_KINDS: tuple[DeviceKind, ...] = ("wifi", "localsend")
KIND_NAMES: dict[DeviceKind, str] = {"usb": "USB", "gopro": "GoPro", "folder": "Folder", "wifi": "Wi-Fi",
                              "localsend": "LocalSend"}  # fmt: skip
GOPRO_EXAMPLE = "http://10.5.5.9:8080"
BUSY_WAIT_S = 300.0  # how long a sync waits for another import to finish


def _is_kind(kind: str) -> TypeGuard[DeviceKind]:
    return kind in KIND_NAMES


# ----------------------------------------------------------------------- the paired devices
@dataclass(frozen=True)
class DeviceRow:
    """One paired device, as a front end lists it."""

    id: str
    kind: DeviceKind
    name: str
    paired_at: datetime | None
    last: datetime | None  # last sync (ledger) or last seen (Wi-Fi)
    taken: int | None = None  # files in the device's ledger
    connected: bool | None = None  # USB: mounted now; others: unknown (None)
    revoked: bool = False
    stored: int | None = None  # bytes kept under <memory>/originals/<id> (None: nothing there)

    @property
    def syncable(self) -> bool:
        return self.kind in SYNC_KINDS

    @property
    def wifi(self) -> bool:
        return self.kind in WIFI_KINDS

    @property
    def kind_name(self) -> str:
        """"USB", "Wi-Fi", …: the kind as a person reads it."""
        return KIND_NAMES[self.kind]


@dataclass(frozen=True)
class DeviceList:
    rows: list[DeviceRow]
    problems: list[str] = field(default_factory=list)  # a registry or ledger that could not be read
    free: int | None = None  # free bytes on the memory's disk (where originals are kept)


def load_devices(data_dir: Path, roots: Sequence[Path] | None = None) -> DeviceList:
    """Every paired device with its last sync / last seen and what it keeps in originals, and the
    free space of the memory's disk (file I/O: run it off a UI thread)."""
    problems: list[str] = []
    rows = _load_rows(data_dir, roots, problems)
    rows = [replace(r, stored=tree_size(data_dir / "originals" / r.id)) for r in rows]
    try:
        free: int | None = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    return DeviceList(rows, problems, free)


def tree_size(root: Path) -> int | None:
    """Bytes of the files under ``root`` (None when it does not exist); symlinks not followed."""
    if not root.is_dir():
        return None
    total = 0
    stack = [str(root)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    try:
                        if e.is_dir(follow_symlinks=False):
                            stack.append(e.path)
                        elif e.is_file(follow_symlinks=False):
                            total += e.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


def _load_rows(data_dir: Path, roots: Sequence[Path] | None, problems: list[str]) -> list[DeviceRow]:
    rows: list[DeviceRow] = []
    paired = registry.list_paired(data_dir)
    mounted: set[str] = set()
    if any(d.kind == "usb" for d in paired):
        mounted = {ident.id for _vol, ident in iter_identified(roots)}
    for d in paired:
        if not _is_kind(d.kind):  # written by a newer lifelog: not listed, said once
            problems.append(f"{d.label}: a device of kind {d.kind!r} is not known to this version")
            continue
        taken: int | None = None
        last: datetime | None = None
        try:
            entries = Ledger(data_dir, d.id).entries()
            taken = len(entries)
            if entries:
                last = datetime.fromtimestamp(max(e.taken_at for e in entries), UTC)
        except (LedgerDamaged, ValueError, OSError) as e:
            problems.append(f"{d.label}: {e}")
        rows.append(
            DeviceRow(d.id, d.kind, d.label, _parse_time(d.paired_at), last, taken,
                      (d.id in mounted) if d.kind == "usb" else None)
        )  # fmt: skip
    if not (data_dir / DEVICES_DIR / REGISTRY_NAME).exists():
        return rows  # nothing paired over Wi-Fi; reading must not create files
    try:
        for w in list_devices(data_dir):
            if not _is_kind(w.kind):
                problems.append(f"{w.name}: a device of kind {w.kind!r} is not known to this version")
                continue
            rows.append(DeviceRow(w.id, w.kind, w.name, w.paired_at, w.last_seen, None, None, w.revoked))
    except RegistryError as e:
        problems.append(f"Wi-Fi devices: {e}")
    return rows


def _parse_time(s: str) -> datetime | None:
    try:
        return datetime.fromisoformat(s)
    except (TypeError, ValueError):
        return None


def wifi_device_ids(data_dir: Path) -> set[str]:
    """The ids of the devices paired over Wi-Fi (companions and LocalSend senders)."""
    return {d.id for d in list_devices(data_dir)}


def forget_device(data_dir: Path, device_id: str, *, wifi: bool) -> Literal["revoked", "removed"]:
    """Revoke a Wi-Fi device (it can send nothing more) or remove a USB/GoPro/folder pairing.
    What was imported from it stays in the memory."""
    if wifi:
        revoke(data_dir, device_id)
        return "revoked"
    registry.remove(data_dir, device_id)
    return "removed"


def pair_device(data_dir: Path, ident: DeviceIdentity) -> registry.PairedDevice:
    """Remember a device (only its identity is stored; a card is never written)."""
    return registry.pair(data_dir, ident)


# ----------------------------------------------------------------------- sync
def sync_paired(
    memory: ImportTarget,
    device_id: str,
    name: str,
    roots: Sequence[Path] | None = None,
    *,
    progress: Callable[[SyncProgress], None] | None = None,
    cancel: threading.Event | None = None,
    busy_wait_s: float = BUSY_WAIT_S,
) -> SyncResult:
    """Sync one paired device into ``memory``: what is new on it is copied, verified and imported.

    A device no longer paired or not connected gives a result with ``error`` set. When another
    import holds the memory it waits (up to ``busy_wait_s``) for it; a verified copy left by a
    busy attempt is reused, not downloaded again."""
    cancel = cancel if cancel is not None else threading.Event()
    dev = registry.get(memory.data_dir, device_id)
    if dev is None:
        return SyncResult(device_id, name, error="this device is no longer paired")
    src = source_for(dev, roots)
    if src is None:
        return SyncResult(device_id, dev.label, error="not connected (plug it in or mount its card)")
    try:
        return when_writer_free(
            lambda: sync_source(memory, src, progress=progress, cancel=cancel),
            cancel,
            give_up_s=busy_wait_s,
        )
    finally:
        close = getattr(src, "close", None)
        if callable(close):
            close()


# ----------------------------------------------------------------------- camera cards plugged in
CardKey = tuple[str, int, int]  # (mount path, st_dev, st_ino): changes when the card is mounted again


@dataclass(frozen=True)
class MountedCard:
    """A volume with a DCF layout mounted now (the card is only read)."""

    path: Path
    key: CardKey
    identity: DeviceIdentity | None  # None: it could not be identified (``error`` says why)
    paired: bool
    files: int = 0  # media files on it (counted when it first appears)
    error: str | None = None

    @property
    def label(self) -> str:
        return self.identity.label if self.identity is not None else self.path.name

    @property
    def layout(self) -> str:
        layout = self.identity.details.get("layout", "") if self.identity is not None else ""
        return LAYOUT_LABELS.get(layout, "camera")


def scan_cards(
    data_dir: Path, roots: Sequence[Path] | None, known: dict[CardKey, MountedCard] | None = None
) -> list[MountedCard]:
    """The DCF volumes mounted under ``roots`` (looked at every few seconds). A card seen before
    (same mount, same ``key``) is not identified again; whether it is paired is re-read."""
    known = known or {}
    out: list[MountedCard] = []
    for vol in find_volumes(roots):
        key: CardKey = (str(vol.path), vol.key[0], vol.key[1])
        card = known.get(key)
        if card is None:
            try:
                ident = identify_volume(vol.path)
                files = len(list(DcfVolumeSource(vol.path, ident).list_media()))
                card = MountedCard(vol.path, key, ident, False, files)
            except (SourceError, OSError) as e:
                card = MountedCard(vol.path, key, None, False, error=str(e))
        if card.identity is not None:
            dev = registry.get(data_dir, card.identity.id)
            paired = dev is not None and dev.kind == "usb"
            if paired != card.paired:
                card = MountedCard(card.path, key, card.identity, paired, card.files, card.error)
        out.append(card)
    return out


# ----------------------------------------------------------------------- GoPro by address
class GoProPairError(RuntimeError):
    """The camera could not be paired; the message is a sentence for the user."""


def check_gopro(url: str) -> tuple[DeviceIdentity, int]:
    """The identity of the GoPro-style camera at ``url`` and how many files it lists (network
    I/O). Raises :class:`GoProPairError` with a sentence for the user."""
    url = url.strip()
    if not url:
        raise GoProPairError(f"Type the camera's address, e.g. {GOPRO_EXAMPLE}")
    if "://" not in url:
        url = "http://" + url
    try:
        src = GoProSource(url, retries=1, timeout_s=5, backoff_s=0.5)
    except ValueError as e:
        raise GoProPairError(f"{e}; the address looks like {GOPRO_EXAMPLE}") from e
    try:
        n = len(list(src.list_media()))
        return src.identity(), n
    except SourceError as e:
        raise GoProPairError(
            f"No GoPro-style camera answers at {src.base_url} ({e}). Is this computer on the camera's "
            "Wi-Fi (or the camera on yours), and is the camera awake?"
        ) from e
    finally:
        src.close()


# ----------------------------------------------------------------------- pairing over Wi-Fi
@dataclass(frozen=True)
class PairingCode:
    """A one-time pairing offer with its QR code drawn (PNG bytes) and the Wi-Fi devices known
    when it was made (so a front end can tell who paired with it)."""

    offer: PairingOffer
    qr_png: bytes
    known: set[str]


def make_pairing_code(
    data_dir: Path, ttl_s: float, *, host: str | None = None, port: int | None = None, qr_scale: int = 8
) -> PairingCode:
    """A fresh pairing offer for the running receiver, its QR code as PNG and who is paired now."""
    known = wifi_device_ids(data_dir)
    offer = new_pairing_offer(data_dir, ttl_s, host=host, port=port)
    return PairingCode(offer, offer.qr_png(scale=qr_scale), known)


__all__ = [
    "BUSY_WAIT_S",
    "GOPRO_EXAMPLE",
    "KIND_NAMES",
    "SYNC_KINDS",
    "WIFI_KINDS",
    "CardKey",
    "DeviceKind",
    "DeviceList",
    "DeviceRow",
    "GoProPairError",
    "MountedCard",
    "PairingCode",
    "SyncKind",
    "check_gopro",
    "forget_device",
    "load_devices",
    "make_pairing_code",
    "pair_device",
    "scan_cards",
    "sync_paired",
    "tree_size",
    "wifi_device_ids",
]

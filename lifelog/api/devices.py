"""Capture and sync, for the front ends: paired devices, the Wi-Fi receiver and pairing,
LocalSend senders, the webcam recorder, camera cards (DCF volumes) and GoPro-style cameras.

* **Paired devices** (USB cards, GoPro-style cameras, folders, and devices paired over Wi-Fi):
  :func:`load_devices` lists them all as :class:`DeviceRow` with their last sync or last seen;
  :func:`sync_paired` takes what is new on one (cancellable, :class:`SyncProgress` as it goes);
  :func:`forget_device` removes or revokes one; :func:`pair_device` remembers a new one.
* **Camera cards** plugged in now: :func:`scan_cards` (:class:`MountedCard`); the lower-level
  :func:`find_volumes`, :func:`identify_volume`, :func:`iter_identified` and the
  :class:`Ledger` of what was taken from each device.
* **GoPro-style cameras** by address: :func:`check_gopro`, :class:`GoProSource`.
* **Wi-Fi**: :func:`start_receiver` (a :class:`Receiver` that reports :class:`ReceiverEvent`),
  :func:`make_pairing_code` (a one-time offer with its QR code), the registry of Wi-Fi devices
  (:func:`list_wifi_devices`, :func:`revoke_wifi_device`) and LocalSend senders asking to send
  (:class:`LocalSendSender`).
* **Webcam**: :class:`Recorder` (segments, pause, resume) over a :class:`FrameSource` such as
  :class:`Cv2Camera`; :func:`import_segment` imports one closed segment into a memory.

Everything here does I/O: a front end calls it off its UI thread. Nothing here knows about
widgets or terminals; errors are in :mod:`lifelog.api.errors`.
"""

from __future__ import annotations

import logging
from pathlib import Path

from lifelog.api.memory import Memory
from lifelog.ingest.pipeline import ImportResult
from lifelog.sources.base import DeviceIdentity, FolderSource, ImportTarget, MediaItem, Source
from lifelog.sources.dcf import (
    LAYOUT_LABELS,
    DcfVolumeSource,
    Volume,
    default_mount_roots,
    find_volumes,
    identify_volume,
    iter_identified,
)
from lifelog.sources.devices import (
    BUSY_WAIT_S,
    GOPRO_EXAMPLE,
    KIND_NAMES,
    SYNC_KINDS,
    WIFI_KINDS,
    CardKey,
    DeviceKind,
    DeviceList,
    DeviceRow,
    MountedCard,
    PairingCode,
    SyncKind,
    check_gopro,
    forget_device,
    load_devices,
    make_pairing_code,
    pair_device,
    scan_cards,
    sync_paired,
    tree_size,
    wifi_device_ids,
)
from lifelog.sources.gopro import GoProSource
from lifelog.sources.ledger import Ledger, LedgerEntry
from lifelog.sources.registry import PairedDevice, list_paired
from lifelog.sources.registry import get as get_paired
from lifelog.sources.registry import pair as pair_paired
from lifelog.sources.registry import remove as remove_paired
from lifelog.sources.sync import (
    ItemProblem,
    SyncOptions,
    SyncProgress,
    SyncResult,
    originals_dir,
    source_for,
    sync_source,
    watch_paired,
)
from lifelog.sources.webcam import (
    Cv2Camera,
    Frame,
    FrameSource,
    Recorder,
    RecorderState,
    RecordResult,
    Segment,
    record_to_memory,
    webcam_id,
)
from lifelog.sources.wifi.approvals import ApprovalRequest as LocalSendRequest
from lifelog.sources.wifi.approvals import answer_request as answer_localsend_request
from lifelog.sources.wifi.approvals import list_requests as list_localsend_requests
from lifelog.sources.wifi.common import INCOMING_DIR, ReceiverEvent, ReceiverLimits
from lifelog.sources.wifi.localsend import LocalSendSender, approve_all
from lifelog.sources.wifi.pairing import (
    DEFAULT_PORT,
    DEFAULT_TTL_S,
    PairingOffer,
    new_pairing_offer,
    receiver_status,
)
from lifelog.sources.wifi.registry import WifiDevice
from lifelog.sources.wifi.registry import list_devices as list_wifi_devices
from lifelog.sources.wifi.registry import revoke as revoke_wifi_device
from lifelog.sources.wifi.server import Receiver, start_receiver
from lifelog.store.lock import when_writer_free


def import_segment(memory: Memory, path: Path, device: str, *, give_up_s: float = BUSY_WAIT_S) -> ImportResult:
    """Import one closed recording segment, as ``device``; waits (up to ``give_up_s``) while
    another import holds the memory. An imported segment is then kept encrypted
    (``<segment>.lgo``, the plaintext shredded; docs/privacy.md)."""
    res = when_writer_free(lambda: memory.import_paths([path], device=device), give_up_s=give_up_s)
    if res.imported:
        try:
            memory.keep_original(path)
        except (OSError, ValueError) as e:  # the next open of the memory encrypts it
            logging.getLogger("lifelog").warning("could not encrypt the recorded segment %s yet: %s", path, e)
    return res


def open_camera(index: int) -> FrameSource:
    """The computer's camera ``index`` (0: the default one), opened with OpenCV."""
    return Cv2Camera(index=index)


__all__ = [
    "BUSY_WAIT_S",
    "DEFAULT_PORT",
    "DEFAULT_TTL_S",
    "GOPRO_EXAMPLE",
    "INCOMING_DIR",
    "KIND_NAMES",
    "LAYOUT_LABELS",
    "SYNC_KINDS",
    "WIFI_KINDS",
    "CardKey",
    "Cv2Camera",
    "DcfVolumeSource",
    "DeviceIdentity",
    "DeviceKind",
    "DeviceList",
    "DeviceRow",
    "FolderSource",
    "Frame",
    "FrameSource",
    "GoProSource",
    "ImportTarget",
    "ItemProblem",
    "Ledger",
    "LedgerEntry",
    "LocalSendRequest",
    "LocalSendSender",
    "MediaItem",
    "MountedCard",
    "PairedDevice",
    "PairingCode",
    "PairingOffer",
    "Receiver",
    "ReceiverEvent",
    "ReceiverLimits",
    "RecordResult",
    "Recorder",
    "RecorderState",
    "Segment",
    "Source",
    "SyncKind",
    "SyncOptions",
    "SyncProgress",
    "SyncResult",
    "Volume",
    "WifiDevice",
    "answer_localsend_request",
    "approve_all",
    "check_gopro",
    "default_mount_roots",
    "find_volumes",
    "forget_device",
    "get_paired",
    "identify_volume",
    "import_segment",
    "iter_identified",
    "list_localsend_requests",
    "list_paired",
    "list_wifi_devices",
    "load_devices",
    "make_pairing_code",
    "new_pairing_offer",
    "open_camera",
    "originals_dir",
    "pair_device",
    "pair_paired",
    "receiver_status",
    "record_to_memory",
    "remove_paired",
    "revoke_wifi_device",
    "scan_cards",
    "source_for",
    "start_receiver",
    "sync_paired",
    "sync_source",
    "tree_size",
    "watch_paired",
    "webcam_id",
    "wifi_device_ids",
]

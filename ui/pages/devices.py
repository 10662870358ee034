"""The Devices page: receive from a phone or glasses over Wi-Fi, pair them with a QR code or a
PIN, see every paired device (USB volumes, GoPro-style cameras, folders, Wi-Fi companions), sync
or remove them, and record from a webcam with a visible recording indicator.

Three boxes, top to bottom (see docs/app-devices.md):

* **Receive from phone or glasses** — a switch that starts and stops the HTTPS receiver
  (:func:`lifelog.sources.wifi.server.start_receiver`). Starting and stopping run off the UI
  thread (``ctx.tasks.read``: they bind a socket and may make the certificate once; they do not
  write the memory's tables). When it runs the page shows the address, the port and the
  certificate fingerprint the companion pins; a port already in use gets a clear sentence.
  *Pair a new device* makes a one-time offer (:func:`~lifelog.sources.wifi.pairing.new_pairing_offer`)
  and shows its QR code (segno PNG bytes, rendered in the worker, drawn as a ``QPixmap``), its
  6-digit PIN and an expiry countdown. While an offer is open the page polls the registry once
  a second (``tasks.read``) and says who paired; the receiver's own events (paired, imported,
  refused, …) also arrive, from the receiver's threads, through a queued Qt signal.
* **Paired devices** — one row per device with its kind, name, paired date, last sync (USB,
  GoPro, folder: the newest entry of its ledger) or last seen (Wi-Fi). *Sync now* runs
  :func:`lifelog.sources.sync.sync_source` as a cancellable ``ctx.tasks.long_write`` (it imports,
  so it is serialised with every other write); the worker only stores the latest
  :class:`~lifelog.sources.sync.SyncProgress` and a 250 ms timer draws it (bytes and files).
  *Remove* (USB/GoPro/folder) and *Revoke* (Wi-Fi) ask first. Every failure — a file the device
  could not give, a refused name, a file the import refused, a device that is not connected — is
  listed under *Problems* with its reason. After an import ``ctx.changed("episodes")``.
  Camera cards are looked for every few seconds (:func:`scan_cards` on ``ctx.tasks.read``): an
  unpaired one is offered (*New camera card: … — Pair and sync*), a paired one is synced once
  each time it is plugged in (``lifelog sync --watch``); the card is only ever read. A
  GoPro-style camera is paired by typing its address (:func:`check_gopro` on ``tasks.read``).
  Unknown LocalSend senders are asked about in a non-modal prompt (:class:`ApprovalRequest`:
  the receiver's thread waits on it, the UI thread answers).
* **Webcam** — Record / Pause / Resume / Stop with a red dot, the elapsed recording time and the
  segment being written, in the page and in the window's status bar. The capture loop
  (:class:`lifelog.sources.webcam.Recorder`, which does not write the memory) runs on the
  page's own one-thread pool, so a recording that lasts all day never holds the app's write
  thread; each segment it closes is handed, through a queued signal, to ``ctx.tasks.write``,
  so segment imports take their turn with every other write of the app.

Settings a test or a developer may change after construction (plain attributes):
``host``/``port``/``advertise`` of the receiver, ``offer_ttl_s``, ``mount_roots`` (where USB
volumes are looked for; None: the platform's), ``camera_factory`` (camera index → frame source),
``segment_s``, ``approval_timeout_s`` and ``watch_volumes(ms)`` (0: stop looking for cards).
``ask_confirm(title, text) -> bool`` is replaced in tests.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from lifelog.store.lock import when_writer_free
from ui.context import AppContext
from ui.qt import (
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPixmap,
    QProgressBar,
    QPushButton,
    QScrollArea,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)
from ui.tasks import TaskControl, Tasks

if TYPE_CHECKING:
    from lifelog.sources.base import DeviceIdentity
    from lifelog.sources.sync import SyncProgress, SyncResult
    from lifelog.sources.webcam import FrameSource, Recorder, RecorderState, Segment
    from lifelog.sources.wifi.localsend import LocalSendSender
    from lifelog.sources.wifi.pairing import PairingOffer
    from lifelog.sources.wifi.server import Receiver, ReceiverEvent

log = logging.getLogger(__name__)

TICK_MS = 250  # redraw of sync progress and of the recording indicator
POLL_MS = 1000  # registry poll while a pairing offer is open
QR_SCALE = 8  # pixels per QR module: ~460 px for a pairing URI, easy to scan from a screen
SYNC_KINDS = ("usb", "gopro", "folder")
WIFI_KINDS = ("wifi", "localsend")
KIND_NAMES = {"usb": "USB", "gopro": "GoPro", "folder": "Folder", "wifi": "Wi-Fi", "localsend": "LocalSend"}
CAMERA_CHOICES = 4  # camera indices offered in the chooser (0…3)
MAX_ACTIVITY = 200
BUSY_WAIT_S = 300.0  # how long a sync or a segment import waits for another import to finish
VOLUME_POLL_MS = 3000  # how often the page looks for camera cards plugged in (a few stat calls)
APPROVAL_WAIT_S = 110.0  # a LocalSend approval left unanswered is declined (the receiver gives up at 120 s)
GOPRO_EXAMPLE = "http://10.5.5.9:8080"
LOW_SPACE_BYTES = 5 * 1024**3  # below this the free-space line becomes a warning
T = TypeVar("T")


class ReceiverStartError(RuntimeError):
    """The receiver could not start; the message is a sentence for the user."""


# ----------------------------------------------------------------------- plain data
@dataclass(frozen=True)
class DeviceRow:
    """One paired device, as the page shows it (built off the UI thread)."""

    id: str
    kind: str  # usb | gopro | folder | wifi | localsend
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


@dataclass(frozen=True)
class DeviceList:
    rows: list[DeviceRow]
    problems: list[str] = field(default_factory=list)  # a registry that could not be read
    free: int | None = None  # free bytes on the memory's disk (where originals are kept)


def load_devices(data_dir: Path, roots: Sequence[Path] | None = None) -> DeviceList:
    """Every paired device with its last sync / last seen and what it keeps in originals, and the
    free space of the memory's disk (runs on a worker thread)."""
    problems: list[str] = []
    rows = _load_rows(data_dir, roots, problems)
    rows = [replace(r, stored=_tree_size(data_dir / "originals" / r.id)) for r in rows]
    try:
        free: int | None = shutil.disk_usage(data_dir).free
    except OSError:
        free = None
    return DeviceList(rows, problems, free)


def _tree_size(root: Path) -> int | None:
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
    from lifelog.sources import registry
    from lifelog.sources.dcf import iter_identified
    from lifelog.sources.ledger import Ledger, LedgerDamaged

    rows: list[DeviceRow] = []
    paired = registry.list_paired(data_dir)
    mounted: set[str] = set()
    if any(d.kind == "usb" for d in paired):
        mounted = {ident.id for _vol, ident in iter_identified(roots)}
    for d in paired:
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
    try:
        from lifelog.sources.wifi.registry import DEVICES_DIR, REGISTRY_NAME, RegistryError, list_devices
    except ImportError:  # pragma: no cover - the Wi-Fi package is part of lifelog
        return rows
    if not (data_dir / DEVICES_DIR / REGISTRY_NAME).exists():
        return rows  # nothing paired over Wi-Fi; reading must not create files
    try:
        for w in list_devices(data_dir):
            rows.append(DeviceRow(w.id, w.kind, w.name, w.paired_at, w.last_seen, None, None, w.revoked))
    except RegistryError as e:
        problems.append(f"Wi-Fi devices: {e}")
    return rows


# ----------------------------------------------------------------------- camera cards plugged in
CardKey = tuple[str, int, int]  # (mount path, st_dev, st_ino): changes when the card is mounted again


@dataclass(frozen=True)
class MountedCard:
    """A volume with a DCF layout mounted now (found off the UI thread; the card is only read)."""

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
        from lifelog.sources.dcf import LAYOUT_LABELS

        layout = self.identity.details.get("layout", "") if self.identity is not None else ""
        return LAYOUT_LABELS.get(layout, "camera")


def scan_cards(
    data_dir: Path, roots: Sequence[Path] | None, known: dict[CardKey, MountedCard] | None = None
) -> list[MountedCard]:
    """The DCF volumes mounted under ``roots`` (a worker thread, every few seconds). A card seen
    before (same mount, same ``key``) is not identified again; whether it is paired is re-read."""
    from lifelog.sources import registry
    from lifelog.sources.base import SourceError
    from lifelog.sources.dcf import DcfVolumeSource, find_volumes, identify_volume

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


def check_gopro(url: str) -> tuple[DeviceIdentity, int]:
    """The identity of the GoPro-style camera at ``url`` and how many files it lists (a worker
    thread). Raises :class:`GoProPairError` with a sentence for the user."""
    from lifelog.sources.base import SourceError
    from lifelog.sources.gopro import GoProSource

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


class GoProPairError(RuntimeError):
    """The camera could not be paired; the message is a sentence for the user."""


# ----------------------------------------------------------------------- LocalSend approval
class ApprovalRequest:
    """An unknown LocalSend sender waiting for the user's answer.

    Made on the receiver's executor thread (the ``approve_localsend`` callback, which may block),
    shown by the UI thread, answered once: by Accept/Decline, or declined when it times out or
    the page closes. Whoever comes first wins; the other's answer is ignored."""

    def __init__(self, sender: LocalSendSender) -> None:
        self.sender = sender
        self._lock = threading.Lock()
        self._answered = threading.Event()
        self.accepted = False
        self.reason = ""  # accepted | declined | timed out | closed

    def answer(self, accepted: bool, reason: str) -> bool:
        """Settle the request; False when it was already settled."""
        with self._lock:
            if self._answered.is_set():
                return False
            self.accepted, self.reason = accepted, reason
            self._answered.set()
            return True

    @property
    def answered(self) -> bool:
        return self._answered.is_set()

    def wait(self, timeout_s: float) -> bool:
        """Block the calling (receiver) thread until answered or timed out; the answer."""
        if not self._answered.wait(timeout_s):
            self.answer(False, "timed out")
        return self.accepted

    def question(self) -> str:
        s = self.sender
        what = ", ".join(x for x in (s.device_model, s.device_type) if x)
        who = f"{s.alias} ({what})" if what else s.alias
        files = f"{s.files} file(s) ({human_bytes(s.total_bytes)})" if s.files else "files"
        return (f"{who} at {s.address} wants to send {files} to this computer with LocalSend. "
                "Accept it? It is then remembered (by the fingerprint it announced) and can send again "
                "without asking; you can revoke it below.")  # fmt: skip


def free_space_hint(free: int | None) -> str:
    """What the page says about the room left for originals (synced files are kept there)."""
    if free is None:
        return ""
    if free < LOW_SPACE_BYTES:
        return (f" Only {human_bytes(free)} free on the memory's disk: a file there is no room for stays on "
                "the device (listed under Problems); make room before taking a full card.")  # fmt: skip
    return f" {human_bytes(free)} free for originals."


def _parse_time(s: str) -> datetime | None:
    try:
        return datetime.fromisoformat(s)
    except (TypeError, ValueError):
        return None


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


def format_elapsed(seconds: float) -> str:
    s = max(0, int(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def group_pin(pin: str) -> str:
    return f"{pin[:3]} {pin[3:]}" if len(pin) == 6 else pin


def group_fingerprint(fp: str) -> str:
    """``AB12 CD34 …``: easier to compare by eye with what the phone shows."""
    fp = fp.upper()
    return " ".join(fp[i : i + 4] for i in range(0, len(fp), 4))


def start_error_message(e: BaseException, port: int) -> str:
    """A sentence for why the receiver did not start."""
    if isinstance(e, OSError) and e.errno in (errno.EADDRINUSE, errno.EACCES):
        if e.errno == errno.EADDRINUSE:
            return (f"Port {port} is already in use by another program (another lifelog, or LocalSend?). "
                    "Close it and switch receiving on again.")  # fmt: skip
        return f"Not allowed to listen on port {port} ({e.strerror or e})."
    return f"Could not start receiving: {e}"


# ----------------------------------------------------------------------- sync state
@dataclass
class SyncState:
    """A running or finished sync of one device. ``latest`` is written by the write thread (an
    attribute store, atomic in CPython) and read by the UI timer."""

    device_id: str
    control: TaskControl | None = None
    latest: SyncProgress | None = None
    result: SyncResult | None = None
    error: str | None = None
    running: bool = True

    def describe(self) -> str:
        if self.running:
            p = self.latest
            if self.control is not None and self.control.cancelled.is_set():
                return "cancelling…"
            if p is None or p.stage == "listing":
                return "looking at the device…"
            files = f"file {min(p.files_done + 1, p.files_total)} of {p.files_total}" if p.files_total else ""
            if p.stage == "downloading":
                return f"copying {files}: {human_bytes(p.bytes_done)} of {human_bytes(p.bytes_total)}"
            if p.stage == "verifying":
                return f"checking {files}"
            if p.stage == "importing":
                return f"importing {files}"
            return p.stage
        if self.error is not None:
            return f"sync failed: {self.error}"
        r = self.result
        if r is None:
            return ""
        if r.error:
            return r.error
        parts = [f"{r.imported} new file(s) imported"]
        if r.skipped:
            parts.append(f"{r.skipped} already in memory")
        if r.already_taken:
            parts.append(f"{r.already_taken} taken before")
        bad = len(r.failed) + len(r.refused) + len(r.not_media)
        if bad:
            parts.append(f"{bad} problem(s), see below")
        if r.cancelled:
            parts.insert(0, "cancelled")
        return "synced: " + ", ".join(parts)

    @property
    def fraction(self) -> float:
        if not self.running:
            return 1.0 if self.result is not None and not self.result.cancelled else 0.0
        return self.latest.fraction if self.latest is not None else 0.0


def sync_problems(label: str, r: SyncResult) -> list[str]:
    out = [f"{label}: {p.name} — {p.reason}" for p in (*r.failed, *r.refused, *r.not_media)]
    out += [f"{label}: {p.name} — not deleted from the device: {p.reason}" for p in r.not_deleted]
    if r.error:
        out.append(f"{label}: {r.error}")
    return out


# ----------------------------------------------------------------------- a device row
class DeviceRowWidget(QWidget):
    def __init__(self, page: DevicesPage, row: DeviceRow) -> None:
        super().__init__()
        self.page = page
        self.row = row
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 2, 4, 2)
        text = QVBoxLayout()
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        self.info = QLabel()
        self.info.setWordWrap(True)
        self.state = QLabel()
        self.state.setWordWrap(True)
        for w in (self.title, self.info, self.state):
            text.addWidget(w)
        lay.addLayout(text, 3)
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.hide()
        lay.addWidget(self.bar, 2)
        self.sync_button = QPushButton("Sync now")
        self.sync_button.setToolTip("Copy what is new on this device and import it")
        self.sync_button.clicked.connect(lambda: self.page.sync_device(self.row.id))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: self.page.cancel_sync(self.row.id))
        self.remove_button = QPushButton("Revoke" if row.wifi else "Remove")
        self.remove_button.clicked.connect(lambda: self.page.remove_device(self.row.id))
        for b in (self.sync_button, self.cancel_button, self.remove_button):
            lay.addWidget(b)
        self.show_row(row)

    def show_row(self, row: DeviceRow) -> None:
        self.row = row
        kind = KIND_NAMES.get(row.kind, row.kind)
        self.title.setText(f"{kind} · {row.name or row.id}")
        bits = [f"paired {_day(row.paired_at)}" if row.paired_at else "paired"]
        if row.wifi:
            bits.append(f"last seen {_when(row.last)}" if row.last else "not seen since pairing")
        else:
            bits.append(f"last sync {_when(row.last)}" if row.last else "never synced")
            if row.taken:
                bits.append(f"{row.taken} file(s) taken")
        if row.stored is not None:
            bits.append(f"{human_bytes(row.stored)} in originals")
        if row.connected is not None:
            bits.append("connected" if row.connected else "not connected")
        if row.revoked:
            bits.append("revoked")
        self.info.setText(" · ".join(bits))
        self.info.setToolTip(row.id)
        self.sync_button.setVisible(row.syncable)
        self.remove_button.setEnabled(not row.revoked)
        self.show_sync(self.page.syncs.get(row.id))

    def show_sync(self, st: SyncState | None) -> None:
        running = st is not None and st.running
        self.sync_button.setEnabled(self.row.syncable and not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running and st is not None and not (st.control and st.control.cancelled.is_set()))
        self.remove_button.setEnabled(not running and not self.row.revoked)
        self.bar.setVisible(st is not None)
        if st is None:
            self.state.setText("")
            return
        self.state.setText(st.describe())
        self.bar.setValue(round(1000 * st.fraction))


def _local(dt: datetime) -> datetime:
    return dt.astimezone() if dt.tzinfo is not None else dt


def _day(dt: datetime) -> str:
    return _local(dt).strftime("%Y-%m-%d")


def _when(dt: datetime | None) -> str:
    return _local(dt).strftime("%Y-%m-%d %H:%M") if dt is not None else "never"


# ----------------------------------------------------------------------- the page
class DevicesPage(QWidget):
    """Registered in ``ui/app.py`` as the "devices" page."""

    title = "Devices"
    # From other threads to the UI thread (queued connections).
    receiver_event = Signal(object)  # ReceiverEvent, from the receiver's threads
    segment_closed = Signal(object)  # Segment, from the recorder's thread
    approval_asked = Signal(object)  # ApprovalRequest, from the receiver's executor thread
    approval_settled = Signal(object)  # ApprovalRequest answered by a timeout (same thread)

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.read_only = False
        # Tunables (see the module docstring).
        self.host = "0.0.0.0"
        from lifelog.sources.wifi.pairing import DEFAULT_PORT, DEFAULT_TTL_S

        self.port = DEFAULT_PORT
        self.advertise = True
        self.offer_ttl_s: float = DEFAULT_TTL_S
        self.mount_roots: list[Path] | None = None
        self.camera_factory: Callable[[int], FrameSource] = _open_camera
        self.segment_s = 60.0
        self.ask_confirm: Callable[[str, str], bool] = self._confirm_dialog
        self.volume_poll_ms = VOLUME_POLL_MS
        self.approval_timeout_s = APPROVAL_WAIT_S

        self.receiver: Receiver | None = None
        self._receiver_busy = False
        self.offer: PairingOffer | None = None
        self._offer_devices: set[str] = set()  # Wi-Fi ids known when the offer was made
        self.paired_names: list[str] = []  # who paired while the current offer was open
        self.devices: list[DeviceRow] = []
        self.syncs: dict[str, SyncState] = {}
        self.problem_lines: list[str] = []
        self.activity_lines: list[str] = []
        self._rows: dict[str, DeviceRowWidget] = {}
        self._loading = False
        self._reload_again = False
        # Camera cards mounted now (the volume watch), and the unpaired ones offered for pairing.
        self.cards: list[MountedCard] = []
        self._card_keys: set[CardKey] | None = None  # None until the first scan
        self._dismissed: set[CardKey] = set()
        self._shown_cards: list[tuple[CardKey, int]] = []
        self._scanning = False
        self.scans = 0  # completed looks at the mounted volumes
        self.auto_synced: list[str] = []  # device ids synced because they were plugged in
        # LocalSend senders waiting for the user's answer.
        self.approvals: list[ApprovalRequest] = []
        self._approval_widgets: dict[int, QWidget] = {}

        # The recorder: its own one-thread pool (a recording may last all day).
        self._loops = Tasks(self, read_threads=1)
        self.recorder: Recorder | None = None
        self._rec_control: TaskControl | None = None
        self._rec_state: RecorderState | None = None
        self._rec_fps = 30.0
        self._rec_device = ""
        self._rec_submitted: set[Path] = set()
        self.segments_imported: list[Path] = []
        self.recording_problems: list[str] = []

        self.receiver_event.connect(self._on_receiver_event)
        self.segment_closed.connect(self._import_segment)
        self.approval_asked.connect(self._show_approval)
        self.approval_settled.connect(self._approval_done)
        self._build()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self.refresh)
        self._volumes = QTimer(self)
        self._volumes.timeout.connect(self.scan_volumes)
        self.refresh()
        self.watch_volumes(self.volume_poll_ms)

    # ------------------------------------------------------------------ layout
    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        lay = QVBoxLayout(body)
        scroll.setWidget(body)
        outer.addWidget(scroll)

        # --- Wi-Fi
        wifi = QGroupBox("Receive from phone or glasses")
        wl = QVBoxLayout(wifi)
        intro = QLabel(
            "Your phone or your glasses' companion app sends footage to this computer over your own "
            "Wi-Fi, encrypted; nothing goes through the internet."
        )
        intro.setWordWrap(True)
        wl.addWidget(intro)
        self.receive_switch = QCheckBox("Receive from phone or glasses")
        self.receive_switch.toggled.connect(self._switch_toggled)
        wl.addWidget(self.receive_switch)
        self.receiver_label = QLabel("Not receiving.")
        self.receiver_label.setWordWrap(True)
        self.receiver_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        wl.addWidget(self.receiver_label)
        self.receiver_error = QLabel("")
        self.receiver_error.setWordWrap(True)
        self.receiver_error.setStyleSheet("color: #a40000; font-weight: bold;")
        self.receiver_error.hide()
        wl.addWidget(self.receiver_error)
        self.approval_box = QWidget()  # one prompt per LocalSend sender waiting for an answer
        self.approval_layout = QVBoxLayout(self.approval_box)
        self.approval_layout.setContentsMargins(0, 0, 0, 0)
        self.approval_box.hide()
        wl.addWidget(self.approval_box)
        pair_row = QHBoxLayout()
        self.pair_button = QPushButton("Pair a new device")
        self.pair_button.setEnabled(False)
        self.pair_button.clicked.connect(self.new_offer)
        self.close_offer_button = QPushButton("Done")
        self.close_offer_button.clicked.connect(self.close_offer)
        self.close_offer_button.hide()
        pair_row.addWidget(self.pair_button)
        pair_row.addWidget(self.close_offer_button)
        pair_row.addStretch(1)
        wl.addLayout(pair_row)
        self.offer_box = QWidget()
        ol = QHBoxLayout(self.offer_box)
        self.qr_label = QLabel()
        self.qr_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        ol.addWidget(self.qr_label)
        side = QVBoxLayout()
        how = QLabel(
            "Scan this code with the companion app. A device without a camera can type this PIN "
            "instead (with the address and fingerprint above):"
        )
        how.setWordWrap(True)
        side.addWidget(how)
        self.pin_label = QLabel()
        f = self.pin_label.font()
        f.setPointSizeF(f.pointSizeF() * 2.4)
        f.setBold(True)
        self.pin_label.setFont(f)
        self.pin_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        side.addWidget(self.pin_label)
        self.expiry_label = QLabel()
        side.addWidget(self.expiry_label)
        self.paired_label = QLabel()
        self.paired_label.setWordWrap(True)
        self.paired_label.setStyleSheet("color: #1a7f37; font-weight: bold;")
        side.addWidget(self.paired_label)
        side.addStretch(1)
        ol.addLayout(side, 1)
        self.offer_box.hide()
        wl.addWidget(self.offer_box)
        wl.addWidget(QLabel("Activity"))
        self.activity = QListWidget()
        self.activity.setMaximumHeight(110)
        wl.addWidget(self.activity)
        lay.addWidget(wifi)

        # --- paired devices
        devs = QGroupBox("Paired devices")
        dl = QVBoxLayout(devs)
        self.devices_label = QLabel("Looking…")
        self.devices_label.setWordWrap(True)
        dl.addWidget(self.devices_label)
        self.cards_box = QWidget()  # "New camera card: … — Pair and sync", one line per unpaired card
        self.cards_layout = QVBoxLayout(self.cards_box)
        self.cards_layout.setContentsMargins(0, 0, 0, 0)
        self.cards_box.hide()
        dl.addWidget(self.cards_box)
        self.device_list = QListWidget()
        self.device_list.setMinimumHeight(160)
        dl.addWidget(self.device_list)
        gp = QHBoxLayout()
        gp.addWidget(QLabel("GoPro-style camera on Wi-Fi:"))
        self.gopro_url = QLineEdit()
        self.gopro_url.setPlaceholderText(GOPRO_EXAMPLE)
        self.gopro_url.setToolTip("The camera's address: on its own Wi-Fi a GoPro is at " + GOPRO_EXAMPLE)
        self.gopro_url.returnPressed.connect(self.pair_gopro)
        gp.addWidget(self.gopro_url, 1)
        self.gopro_button = QPushButton("Pair camera")
        self.gopro_button.clicked.connect(self.pair_gopro)
        gp.addWidget(self.gopro_button)
        dl.addLayout(gp)
        self.gopro_status = QLabel("")
        self.gopro_status.setWordWrap(True)
        self.gopro_status.hide()
        dl.addWidget(self.gopro_status)
        dl.addWidget(QLabel("Problems"))
        self.problems = QListWidget()
        self.problems.setMaximumHeight(120)
        dl.addWidget(self.problems)
        lay.addWidget(devs)

        # --- webcam
        cam = QGroupBox("Webcam")
        cl = QVBoxLayout(cam)
        top = QHBoxLayout()
        top.addWidget(QLabel("Camera"))
        self.camera_choice = QComboBox()
        for i in range(CAMERA_CHOICES):
            self.camera_choice.addItem(f"Camera {i}", i)
        top.addWidget(self.camera_choice)
        self.record_button = QPushButton("Record")
        self.record_button.clicked.connect(self.start_recording)
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self.toggle_pause)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.stop_recording)
        for b in (self.record_button, self.pause_button, self.stop_button):
            top.addWidget(b)
        top.addStretch(1)
        cl.addLayout(top)
        ind = QHBoxLayout()
        self.rec_dot = QLabel("●")
        self.rec_dot.setStyleSheet("color: #d00000; font-size: 20px;")
        self.rec_dot.hide()
        ind.addWidget(self.rec_dot)
        self.rec_label = QLabel("Not recording.")
        self.rec_label.setWordWrap(True)
        ind.addWidget(self.rec_label, 1)
        cl.addLayout(ind)
        note = QLabel(
            "Recording is cut into short segments; each one is imported as soon as it closes, and kept "
            "in the memory folder (originals)."
        )
        note.setWordWrap(True)
        cl.addWidget(note)
        lay.addWidget(cam)
        lay.addStretch(1)
        self._show_recorder()

    # ================================================================== Wi-Fi receiver
    def _switch_toggled(self, on: bool) -> None:
        if on:
            self.start_receiver()
        else:
            self.stop_receiver()

    def _set_switch(self, on: bool) -> None:
        self.receive_switch.blockSignals(True)
        self.receive_switch.setChecked(on)
        self.receive_switch.blockSignals(False)

    def start_receiver(self) -> None:
        if self.receiver is not None or self._receiver_busy:
            return
        if self.read_only:
            self._set_switch(False)
            self._receiver_failed("This memory is open read-only (another lifelog has it): it cannot receive.")
            return
        self._receiver_busy = True
        self._set_switch(True)
        self.receive_switch.setEnabled(False)
        self.receiver_error.hide()
        self.receiver_label.setText("Starting…")
        memory, host, port, advertise = self.ctx.memory, self.host, self.port, self.advertise
        emit = self.receiver_event.emit
        approve = self._approver()

        def work() -> Receiver:
            from lifelog.sources.wifi.server import start_receiver

            try:
                return start_receiver(memory, host, port, on_event=emit, advertise=advertise, approve_localsend=approve)
            except OSError as e:
                raise ReceiverStartError(start_error_message(e, port)) from e

        self.ctx.tasks.read(work, self._receiver_started, self._receiver_failed)

    def _receiver_started(self, receiver: Receiver) -> None:
        self._receiver_busy = False
        self.receive_switch.setEnabled(True)
        self.receiver = receiver
        if not self.receive_switch.isChecked():  # switched off while it started
            self.stop_receiver()
            return
        host = receiver.url.split("//", 1)[-1].rsplit(":", 1)[0].strip("[]")
        self.receiver_label.setText(
            f"Receiving at {receiver.url}\nAddress: {host}    Port: {receiver.port}\n"
            f"Certificate fingerprint: {group_fingerprint(receiver.fingerprint)}"
        )
        self.pair_button.setEnabled(True)
        self.ctx.status(f"Receiving from phones and glasses on port {receiver.port}")

    def _receiver_failed(self, message: str) -> None:
        self._receiver_busy = False
        self.receive_switch.setEnabled(True)
        self._set_switch(False)
        self.receiver_label.setText("Not receiving.")
        self.receiver_error.setText(message)
        self.receiver_error.show()
        self.pair_button.setEnabled(False)
        self.ctx.status(message)

    def stop_receiver(self) -> None:
        receiver, self.receiver = self.receiver, None
        for req in list(self.approvals):  # nobody can send any more: the waiting senders are declined
            req.answer(False, "declined (receiving switched off)")
            self._approval_done(req)
        self.close_offer()
        self.pair_button.setEnabled(False)
        self._set_switch(False)
        if receiver is None:
            return
        self.receive_switch.setEnabled(False)
        self.receiver_label.setText("Stopping…")

        def done(_: object) -> None:
            self.receive_switch.setEnabled(True)
            self.receiver_label.setText("Not receiving.")
            self.ctx.status("Stopped receiving from phones and glasses")

        def failed(message: str) -> None:
            self.receive_switch.setEnabled(True)
            self.receiver_label.setText("Not receiving.")
            self.ctx.status(f"The receiver stopped with an error: {message}")

        self.ctx.tasks.read(receiver.stop, done, failed)

    def _on_receiver_event(self, ev: ReceiverEvent) -> None:
        self._activity(ev.message)
        if ev.kind == "paired":
            name = str(ev.detail.get("name") or ev.device_id or "a device")
            if self.offer is not None and name not in self.paired_names:
                self.paired_names.append(name)
                self.paired_label.setText(f"Paired: {', '.join(self.paired_names)}")
            self.ctx.status(f"Paired {name}")
            self.refresh()
        elif ev.kind == "imported":
            self.ctx.changed("episodes")
            self.refresh()
        elif ev.kind in ("failed", "warning"):
            self._problem(ev.message)

    # ----------------------------------------------------------------- pairing
    def new_offer(self) -> None:
        receiver = self.receiver
        if receiver is None:
            return
        data_dir, ttl, port = self.ctx.memory.data_dir, self.offer_ttl_s, receiver.port
        host = None if receiver.host in ("", "0.0.0.0", "::") else receiver.host
        self.pair_button.setEnabled(False)

        def work() -> tuple[PairingOffer, bytes, set[str]]:
            from lifelog.sources.wifi.pairing import new_pairing_offer
            from lifelog.sources.wifi.registry import list_devices

            known = {d.id for d in list_devices(data_dir)}
            offer = new_pairing_offer(data_dir, ttl, host=host, port=port)
            return offer, offer.qr_png(scale=QR_SCALE), known

        def failed(message: str) -> None:
            self.pair_button.setEnabled(self.receiver is not None)
            self._problem(f"Could not make a pairing code: {message}")

        self.ctx.tasks.read(work, self._show_offer, failed)

    def _show_offer(self, made: tuple[PairingOffer, bytes, set[str]]) -> None:
        offer, png, known = made
        self.pair_button.setEnabled(self.receiver is not None)
        if self.receiver is None:
            return
        pix = QPixmap()
        if not pix.loadFromData(png, "PNG"):
            self._problem("The pairing QR code could not be drawn; use the PIN instead.")
        self.offer = offer
        self._offer_devices = known
        self.paired_names = []
        self.qr_label.setPixmap(pix)
        self.qr_label.setToolTip(offer.uri)
        self.pin_label.setText(group_pin(offer.pin))
        self.paired_label.setText("")
        self.offer_box.show()
        self.close_offer_button.show()
        self.pair_button.setText("New code")
        self._update_expiry()
        self._poll.start()
        self._ensure_tick()

    def close_offer(self) -> None:
        self.offer = None
        self._poll.stop()
        self.offer_box.hide()
        self.close_offer_button.hide()
        self.pair_button.setText("Pair a new device")
        self.qr_label.clear()

    def offer_seconds_left(self) -> float:
        if self.offer is None:
            return 0.0
        return (self.offer.expiry - datetime.now(UTC)).total_seconds()

    def _update_expiry(self) -> None:
        if self.offer is None:
            return
        left = self.offer_seconds_left()
        if left <= 0:
            self.expiry_label.setText("This code has expired. Make a new one with “New code”.")
            self.qr_label.clear()
            self.pin_label.setText("——— ———")
            self._poll.stop()
            return
        self.expiry_label.setText(f"Expires in {format_elapsed(left)}")

    # ================================================================== device list
    def refresh(self) -> None:
        """Re-read the paired devices (off the UI thread); at most one read in flight."""
        if self._loading:
            self._reload_again = True
            return
        self._loading = True
        data_dir, roots = self.ctx.memory.data_dir, self.mount_roots

        def failed(message: str) -> None:
            self._loading = False
            self.devices_label.setText(f"Could not read the paired devices: {message}")

        self.ctx.tasks.read(lambda: load_devices(data_dir, roots), self._show_devices, failed)

    def _show_devices(self, found: DeviceList) -> None:
        self._loading = False
        self.devices = found.rows
        for p in found.problems:
            self._problem(p)
        ids = [r.id for r in found.rows]
        if ids != list(self._rows):
            self.device_list.clear()
            self._rows = {}
            for r in found.rows:
                w = DeviceRowWidget(self, r)
                item = QListWidgetItem()
                item.setSizeHint(w.sizeHint())
                self.device_list.addItem(item)
                self.device_list.setItemWidget(item, w)
                self._rows[r.id] = w
        else:
            for r in found.rows:
                self._rows[r.id].show_row(r)
        self.devices_label.setText(
            (f"{len(found.rows)} paired device(s)." if found.rows else
             "No paired devices yet. Pair a phone or glasses above, plug in a camera's card, or type a "
             "GoPro's address below.") + free_space_hint(found.free)
        )  # fmt: skip
        if self.offer is not None:
            new = [r.name for r in found.rows if r.wifi and r.id not in self._offer_devices]
            for name in new:
                if name not in self.paired_names:
                    self.paired_names.append(name)
            if self.paired_names:
                self.paired_label.setText(f"Paired: {', '.join(self.paired_names)}")
        if self._reload_again:
            self._reload_again = False
            self.refresh()

    def device(self, device_id: str) -> DeviceRow | None:
        return next((r for r in self.devices if r.id == device_id), None)

    def row_widget(self, device_id: str) -> DeviceRowWidget | None:
        return self._rows.get(device_id)

    def _problem(self, line: str) -> None:
        self.problem_lines.append(line)
        self.problems.addItem(line)
        self.problems.scrollToBottom()

    # ----------------------------------------------------------------- sync
    def sync_device(self, device_id: str, label: str | None = None, *, auto: bool = False) -> SyncState | None:
        """Sync one paired device (``label`` names a device the list has not shown yet, e.g. a card
        paired a moment ago; ``auto``: it was just plugged in)."""
        row = self.device(device_id)
        if (row is None and label is None) or (row is not None and not row.syncable):
            return None
        name = row.name if row is not None else str(label)
        if self.read_only:
            self._problem(f"{name}: the memory is open read-only; nothing can be synced into it")
            return None
        cur = self.syncs.get(device_id)
        if cur is not None and cur.running:
            return cur
        st = SyncState(device_id)
        self.syncs[device_id] = st
        memory, roots = self.ctx.memory, self.mount_roots

        def work(control: TaskControl) -> SyncResult:
            from lifelog.sources import registry
            from lifelog.sources.sync import SyncResult, source_for, sync_source

            dev = registry.get(memory.data_dir, device_id)
            if dev is None:
                return SyncResult(device_id, name, error="this device is no longer paired")
            src = source_for(dev, roots)
            if src is None:
                return SyncResult(device_id, dev.label, error="not connected (plug it in or mount its card)")

            def progress(p: SyncProgress) -> None:
                st.latest = p  # drawn by the UI timer; no signal per chunk

            try:  # a verified copy left by a busy attempt is reused, not downloaded again
                return when_writer_free(
                    lambda: sync_source(memory, src, progress=progress, cancel=control.cancelled),
                    control.cancelled,
                    give_up_s=BUSY_WAIT_S,
                )
            finally:
                close = getattr(src, "close", None)
                if callable(close):
                    close()

        def done(res: SyncResult) -> None:
            st.running, st.result = False, res
            for line in sync_problems(name, res):
                self._problem(line)
            if res.imported or res.episodes:
                self.ctx.changed("episodes")
            self.ctx.status(f"{name}: {st.describe()}")
            self._show_sync(device_id)
            self.refresh()

        def failed(message: str) -> None:
            st.running, st.error = False, message
            self._problem(f"{name}: sync failed: {message}")
            self._show_sync(device_id)

        st.control = self.ctx.tasks.long_write(work, None, done, failed)
        if auto:
            self.auto_synced.append(device_id)
            self.ctx.status(f"{name} plugged in: taking its new footage…")
        self._show_sync(device_id)
        self._ensure_tick()
        return st

    def cancel_sync(self, device_id: str) -> None:
        st = self.syncs.get(device_id)
        if st is not None and st.running and st.control is not None:
            st.control.cancel()
            self._show_sync(device_id)

    def _show_sync(self, device_id: str) -> None:
        w = self._rows.get(device_id)
        if w is not None:
            w.show_sync(self.syncs.get(device_id))

    # ----------------------------------------------------------------- remove / revoke
    def remove_device(self, device_id: str) -> None:
        row = self.device(device_id)
        if row is None:
            return
        if row.wifi:
            title = f"Revoke {row.name}?"
            text = (f"{row.name} will not be able to send anything to this computer any more (also if "
                    "it is connected right now). What it already sent stays in your memory. To use it "
                    "again, pair it again.")  # fmt: skip
        else:
            title = f"Remove {row.name}?"
            text = (f"Forget the pairing of {row.name}? What was imported from it stays in your memory, "
                    "and if you pair it again its files already taken are not taken twice.")  # fmt: skip
        if not self.ask_confirm(title, text):
            return
        data_dir = self.ctx.memory.data_dir

        def work() -> str:
            if row.wifi:
                from lifelog.sources.wifi.registry import revoke

                revoke(data_dir, device_id)
                return "revoked"
            from lifelog.sources import registry

            registry.remove(data_dir, device_id)
            return "removed"

        def done(what: str) -> None:
            self.ctx.status(f"{row.name}: {what}")
            self.syncs.pop(device_id, None)
            self.refresh()

        def failed(message: str) -> None:
            self._problem(f"{row.name}: could not be removed: {message}")

        self.ctx.tasks.write(work, done, failed)

    def _confirm_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    # ================================================================== camera cards (USB)
    def watch_volumes(self, interval_ms: int) -> None:
        """Look for camera cards every ``interval_ms`` (0: stop looking); looks once now."""
        self.volume_poll_ms = interval_ms
        self._volumes.stop()
        if interval_ms > 0:
            self._volumes.setInterval(interval_ms)
            self._volumes.start()
            QTimer.singleShot(0, self.scan_volumes)

    def scan_volumes(self) -> None:
        """One look at the mounted volumes (``tasks.read``; at most one in flight)."""
        if self._scanning or self.volume_poll_ms <= 0:
            return
        self._scanning = True
        data_dir, roots = self.ctx.memory.data_dir, self.mount_roots
        known = {c.key: c for c in self.cards}

        def failed(message: str) -> None:
            self._scanning = False
            log.warning("looking for camera cards failed: %s", message)

        self.ctx.tasks.read(lambda: scan_cards(data_dir, roots, known), self._cards_scanned, failed)

    def _cards_scanned(self, cards: list[MountedCard]) -> None:
        self._scanning = False
        self.scans += 1
        if self.volume_poll_ms <= 0:
            return
        before = self._card_keys if self._card_keys is not None else set()
        now = {c.key for c in cards}
        appeared = [c for c in cards if c.key not in before]
        gone = before - now
        self.cards, self._card_keys = cards, now
        self._dismissed &= now  # a card unplugged and plugged again is offered again
        for c in appeared:
            if c.identity is not None and c.paired and not self.read_only:
                # Plugged in (or mounted when the app started): take its new footage, as
                # `lifelog sync --watch` does. Once per plug-in; the card is only read.
                self.sync_device(c.identity.id, c.label, auto=True)
            elif c.identity is None and c.error:
                log.info("camera card at %s not identified: %s", c.path, c.error)
        self._show_cards()
        if appeared or gone:
            self.refresh()  # the rows' "connected"

    def new_cards(self) -> list[MountedCard]:
        """Cards mounted now that are not paired (and not dismissed): offered for pairing."""
        return [c for c in self.cards if c.identity is not None and not c.paired and c.key not in self._dismissed]

    def _show_cards(self) -> None:
        cards = self.new_cards()
        shown = [(c.key, c.files) for c in cards]
        if shown == self._shown_cards:
            return  # unchanged: keep the widgets (no flicker, a button under the mouse stays)
        self._shown_cards = shown
        while self.cards_layout.count():
            item = self.cards_layout.takeAt(0)
            w = item.widget() if item is not None else None
            if w is not None:
                w.deleteLater()
        for c in cards:
            line = QWidget()
            hl = QHBoxLayout(line)
            hl.setContentsMargins(0, 0, 0, 0)
            text = QLabel(f"New camera card: {c.label} — {c.layout} layout, {c.files} file(s)")
            text.setTextFormat(Qt.TextFormat.PlainText)
            text.setToolTip(str(c.path))
            text.setObjectName("card-text")
            hl.addWidget(text, 1)
            pair = QPushButton("Pair and sync")
            pair.setToolTip("Remember this card (nothing is written to it) and take its footage now; "
                            "afterwards it is synced each time it is plugged in")  # fmt: skip
            pair.clicked.connect(lambda _=False, card=c: self.pair_card(card))
            hl.addWidget(pair)
            later = QPushButton("Not now")
            later.clicked.connect(lambda _=False, card=c: self.dismiss_card(card))
            hl.addWidget(later)
            self.cards_layout.addWidget(line)
        self.cards_box.setVisible(bool(cards))

    def card_line(self, card: MountedCard) -> tuple[QLabel, QPushButton, QPushButton] | None:
        """The label, *Pair and sync* and *Not now* shown for ``card`` (None when not shown)."""
        for i in range(self.cards_layout.count()):
            item = self.cards_layout.itemAt(i)
            w = item.widget() if item is not None else None
            if w is None:
                continue
            label = w.findChild(QLabel, "card-text")
            if label is not None and label.toolTip() == str(card.path):
                pair, later = w.findChildren(QPushButton)
                return label, pair, later
        return None

    def dismiss_card(self, card: MountedCard) -> None:
        self._dismissed.add(card.key)
        self._show_cards()

    def pair_card(self, card: MountedCard) -> None:
        """Pair a card that was offered, then sync it. Only its identity is stored (in the memory's
        device registry); the card itself is never written."""
        ident = card.identity
        if ident is None:
            return
        if self.read_only:
            self._problem(f"{card.label}: the memory is open read-only; nothing can be paired")
            return
        data_dir = self.ctx.memory.data_dir
        self._dismissed.add(card.key)  # off the offers at once
        self._show_cards()

        def work() -> str:
            from lifelog.sources import registry

            return registry.pair(data_dir, ident).id

        def done(device_id: str) -> None:
            self.cards = [MountedCard(c.path, c.key, c.identity, True, c.files) if c.key == card.key else c
                          for c in self.cards]  # fmt: skip
            self.ctx.status(f"Paired {card.label}")
            self.sync_device(device_id, card.label)
            self.refresh()

        def failed(message: str) -> None:
            self._dismissed.discard(card.key)
            self._show_cards()
            self._problem(f"{card.label}: could not be paired: {message}")

        self.ctx.tasks.write(work, done, failed)

    # ================================================================== GoPro by address
    def pair_gopro(self) -> None:
        """Check that a camera answers at the typed address (``tasks.read``), then pair it."""
        url = self.gopro_url.text()
        if self.read_only:
            self._gopro_said("The memory is open read-only: nothing can be paired.", error=True)
            return
        self.gopro_button.setEnabled(False)
        self._gopro_said(f"Asking the camera at {url.strip() or '…'}…")
        data_dir = self.ctx.memory.data_dir

        def paired(dev_id_label_n: tuple[str, str, int]) -> None:
            _dev_id, label, n = dev_id_label_n
            self.gopro_button.setEnabled(True)
            self.gopro_url.clear()
            self._gopro_said(f"Paired {label}: it lists {n} file(s). “Sync now” takes them.")
            self.ctx.status(f"Paired {label}")
            self.refresh()

        def failed(message: str) -> None:
            self.gopro_button.setEnabled(True)
            self._gopro_said(message, error=True)

        def checked(found: tuple[DeviceIdentity, int]) -> None:
            ident, n = found

            def work() -> tuple[str, str, int]:
                from lifelog.sources import registry

                dev = registry.pair(data_dir, ident)
                return dev.id, dev.label, n

            self.ctx.tasks.write(work, paired, failed)

        self.ctx.tasks.read(lambda: check_gopro(url), checked, failed)

    def _gopro_said(self, text: str, *, error: bool = False) -> None:
        self.gopro_status.setText(text)
        self.gopro_status.setStyleSheet("color: #a40000; font-weight: bold;" if error else "")
        self.gopro_status.show()

    # ================================================================== LocalSend approval
    def _approver(self) -> Callable[[LocalSendSender], bool]:
        """The receiver's ``approve_localsend``: called on its executor thread (it may block), it
        hands the question to the UI thread and waits for the answer; declined after
        ``approval_timeout_s`` or when the page closes."""
        asked, settled = self.approval_asked.emit, self.approval_settled.emit

        def approve(sender: LocalSendSender) -> bool:
            req = ApprovalRequest(sender)
            try:
                timeout = float(self.approval_timeout_s)
                asked(req)
            except RuntimeError:  # the page is gone
                return False
            ok = req.wait(timeout)
            if req.reason == "timed out":
                with contextlib.suppress(RuntimeError):  # the page is gone
                    settled(req)
            return ok

        return approve

    def _show_approval(self, req: ApprovalRequest) -> None:
        if req.answered:
            return
        self.approvals.append(req)
        box = QWidget()
        box.setStyleSheet("background: #fff4d6;")
        hl = QHBoxLayout(box)
        text = QLabel(req.question())
        text.setWordWrap(True)
        text.setTextFormat(Qt.TextFormat.PlainText)
        hl.addWidget(text, 1)
        accept = QPushButton("Accept")
        accept.clicked.connect(lambda: self.answer_approval(req, True))
        decline = QPushButton("Decline")
        decline.clicked.connect(lambda: self.answer_approval(req, False))
        hl.addWidget(accept)
        hl.addWidget(decline)
        self._approval_widgets[id(req)] = box
        self.approval_layout.addWidget(box)
        self.approval_box.show()
        self.ctx.status(f"{req.sender.alias} wants to send files (LocalSend): accept or decline on the Devices page")

    def approval_buttons(self, req: ApprovalRequest) -> tuple[QLabel, QPushButton, QPushButton] | None:
        box = self._approval_widgets.get(id(req))
        if box is None:
            return None
        accept, decline = box.findChildren(QPushButton)
        label = box.findChild(QLabel)
        return (label, accept, decline) if label is not None else None

    def answer_approval(self, req: ApprovalRequest, accepted: bool) -> None:
        req.answer(accepted, "accepted" if accepted else "declined")
        self._approval_done(req)

    def _approval_done(self, req: ApprovalRequest) -> None:
        """Take the prompt off the page and say what was decided."""
        box = self._approval_widgets.pop(id(req), None)
        if req in self.approvals:
            self.approvals.remove(req)
        if box is not None:
            box.hide()
            box.deleteLater()
        self.approval_box.setVisible(bool(self._approval_widgets))
        if req.reason:
            self._activity(f"LocalSend sender {req.sender.alias!r}: {req.reason}")

    def _activity(self, message: str) -> None:
        line = f"{datetime.now():%H:%M:%S}  {message}"
        self.activity_lines.append(line)
        del self.activity_lines[:-MAX_ACTIVITY]
        self.activity.addItem(line)
        while self.activity.count() > MAX_ACTIVITY:
            self.activity.takeItem(0)
        self.activity.scrollToBottom()

    # ================================================================== webcam
    @property
    def recording(self) -> bool:
        return self._rec_control is not None

    def start_recording(self) -> None:
        if self.recording:
            return
        if self.read_only:
            self.rec_label.setText("The memory is open read-only: recordings cannot be imported into it.")
            return
        index = int(self.camera_choice.currentData() or 0)
        factory, segment_s, data_dir = self.camera_factory, self.segment_s, self.ctx.memory.data_dir
        self._rec_state = None
        self._rec_submitted = set()
        self.recording_problems = []
        emit_segment = self.segment_closed.emit

        def work(control: TaskControl) -> list[Segment]:
            from lifelog.sources.webcam import Recorder, webcam_id

            camera = factory(index)
            try:
                self._rec_fps = float(camera.fps) or 30.0
                self._rec_device = webcam_id(camera)

                def on_state(s: RecorderState) -> None:
                    self._rec_state = s  # drawn by the UI timer

                rec = Recorder(camera, data_dir / "originals" / self._rec_device, segment_s=segment_s,
                               on_segment=emit_segment, on_state=on_state)  # fmt: skip
                self.recorder = rec
                return rec.run(cancel=control.cancelled)
            finally:
                camera.close()

        self._rec_control = self._loops.long_write(work, None, self._recording_done, self._recording_failed)
        self.rec_label.setText(f"Opening camera {index}…")
        self._show_recorder()
        self._ensure_tick()

    def toggle_pause(self) -> None:
        rec = self.recorder
        if rec is None:
            return
        st = rec.state
        if st.status == "paused":
            rec.resume()
        elif st.status == "recording":
            rec.pause()
        self._rec_state = rec.state
        self._show_recorder()

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.recorder.stop()
        if self._rec_control is not None:
            self._rec_control.cancel()
        self._show_recorder()

    def _import_segment(self, seg: Segment) -> None:
        """A closed segment (UI thread): import it on the app's write thread."""
        if seg.path in self._rec_submitted:
            return
        self._rec_submitted.add(seg.path)
        memory, device = self.ctx.memory, self._rec_device

        def work() -> Any:
            return when_writer_free(lambda: memory.import_paths([seg.path], device=device), give_up_s=BUSY_WAIT_S)

        def done(res: Any) -> None:
            for f in res.failed:
                self._rec_problem(f"{Path(f.path).name}: {f.error}")
            if res.imported:
                self.segments_imported.append(seg.path)
                self.ctx.changed("episodes")
            elif not res.failed:
                self.segments_imported.append(seg.path)  # the same content was already in memory
            self._show_recorder()

        def failed(message: str) -> None:
            self._rec_problem(f"{seg.path.name} was recorded but not imported ({message}); it is kept in "
                              f"{seg.path.parent} for `lifelog import`")  # fmt: skip

        self.ctx.tasks.write(work, done, failed)

    def _rec_problem(self, line: str) -> None:
        self.recording_problems.append(line)
        self._problem(f"Webcam: {line}")

    def _recording_done(self, segments: list[Segment]) -> None:
        state = self.recorder.state if self.recorder is not None else None
        self._rec_control = None
        self.recorder = None
        for seg in segments:  # any whose signal has not arrived yet
            self._import_segment(seg)
        if state is not None and state.error:
            self._rec_problem(state.error)
        self._rec_state = state
        self._show_recorder()
        self.ctx.status(f"Recording stopped: {len(segments)} segment(s)")

    def _recording_failed(self, message: str) -> None:
        self._rec_control = None
        self.recorder = None
        self._rec_problem(f"recording stopped: {message}")
        self._show_recorder()
        self.ctx.status(f"Webcam: {message}")

    def indicator_text(self) -> str:
        """What the recording indicator says (also in the status bar while recording)."""
        s = self._rec_state
        if self.recording and s is None:
            return "Opening the camera…"
        if s is None:
            return "Not recording."
        elapsed = format_elapsed(s.frames_recorded / self._rec_fps if self._rec_fps else 0)
        if self.recording and s.status == "recording":
            seg = f" — segment {s.segment}" if s.segment else ""
            return f"Recording {elapsed}{seg}"
        if self.recording and s.status == "paused":
            return f"Paused at {elapsed} (nothing is recorded)"
        if self.recording:
            return "Stopping… (closing the last segment)"
        done = len(self.segments_imported)
        total = s.segments_done
        return f"Stopped: {elapsed} recorded in {total} segment(s), {done} imported."

    def _show_recorder(self) -> None:
        s = self._rec_state
        live = self.recording
        status = s.status if s is not None else ""
        self.record_button.setEnabled(not live)
        self.camera_choice.setEnabled(not live)
        self.pause_button.setEnabled(live and self.recorder is not None and status in ("recording", "paused"))
        self.pause_button.setText("Resume" if status == "paused" and live else "Pause")
        self.stop_button.setEnabled(live)
        self.rec_dot.setVisible(live and status == "recording")
        self.rec_label.setText(self.indicator_text())

    # ================================================================== timers
    def _ensure_tick(self) -> None:
        if not self._tick.isActive():
            self._tick.start()

    def _on_tick(self) -> None:
        active = False
        for dev_id, st in self.syncs.items():
            if st.running:
                active = True
                self._show_sync(dev_id)
        if self.recording:
            active = True
            self._show_recorder()
            if self._rec_state is not None and self._rec_state.status != "stopped":
                self.ctx.status(("● " if self._rec_state.status == "recording" else "") + self.indicator_text())
        if self.offer is not None:
            active = True
            self._update_expiry()
        if not active:
            self._tick.stop()

    # ================================================================== the shell's hooks
    def on_changed(self, what: str) -> None:
        return None  # nothing here shows episodes

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.refresh()

    def can_close(self) -> bool:
        return True  # a recording or sync is stopped cleanly in before_close

    def before_close(self) -> None:
        """The window is closing: stop recording (the segment in progress is closed and
        imported), cancel syncs (partial downloads resume next time) and stop the receiver."""
        self.shutdown()

    def shutdown(self, wait_ms: int = 30_000) -> None:
        self._tick.stop()
        self._poll.stop()
        self._volumes.stop()
        self.volume_poll_ms = 0
        for req in list(self.approvals):  # the receiver's waiting threads get their answer now
            req.answer(False, "closed")
        for st in self.syncs.values():
            if st.running and st.control is not None:
                st.control.cancel()
        if self.recording:
            self.stop_recording()
            self._loops.wait_idle(wait_ms)
            rec = self.recorder
            if rec is not None:  # the done signal is queued: import what it closed now
                for seg in rec.segments:
                    self._import_segment(seg)
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            try:
                receiver.stop()
            except Exception as e:  # closing anyway; the log says why
                log.warning("the receiver did not stop cleanly: %s", e)


def _open_camera(index: int) -> FrameSource:
    from lifelog.sources.webcam import Cv2Camera

    return Cv2Camera(index=index)


__all__ = [
    "ApprovalRequest",
    "DeviceList",
    "DeviceRow",
    "DevicesPage",
    "MountedCard",
    "SyncState",
    "check_gopro",
    "load_devices",
    "scan_cards",
]

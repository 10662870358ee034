"""The Devices page's second box, **Paired devices**: one row per device (USB card, GoPro-style
camera, folder, Wi-Fi companion, LocalSend sender) with its kind, name, paired date, last sync
(USB, GoPro, folder: the newest entry of its ledger) or last seen (Wi-Fi); camera cards plugged
in now; pairing a GoPro-style camera by its address; and the Problems list.

*Sync now* runs :func:`lifelog.api.devices.sync_paired` as a cancellable ``ctx.tasks.long_write``
(it imports, so it is serialised with every other write); the worker only stores the latest
:class:`~lifelog.api.devices.SyncProgress` and a 250 ms timer draws it (bytes and files).
*Remove* (USB/GoPro/folder) and *Revoke* (Wi-Fi) ask first. *Forget…* forgets everything imported
from the device for good and unpairs it (a Wi-Fi device is revoked), after the confirmation of
:mod:`ui.forget`. Every failure — a file the device
could not give, a refused name, a file the import refused, a device that is not connected — is
listed under *Problems* with its reason. After an import ``ctx.changed("episodes")``.

Camera cards are looked for every few seconds (:func:`lifelog.api.devices.scan_cards` on
``ctx.tasks.read``): an unpaired one is offered (*New camera card: … — Pair and sync*), a paired
one is synced once each time it is plugged in (as ``lifelog sync --watch``); the card is only
ever read. A GoPro-style camera is paired by typing its address
(:func:`lifelog.api.devices.check_gopro` on ``tasks.read``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lifelog.api.devices import (
    GOPRO_EXAMPLE,
    CardKey,
    DeviceIdentity,
    DeviceList,
    DeviceRow,
    MountedCard,
    SyncProgress,
    SyncResult,
    check_gopro,
    forget_device,
    load_devices,
    pair_device,
    scan_cards,
    sync_paired,
)
from lifelog.api.privacy import ForgetRequest
from ui.context import AppContext
from ui.forget import Forgotten, forgetter_for
from ui.pages.devices.text import day_text, free_space_hint, human_bytes, when_text
from ui.qt import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QProgressBar,
    QPushButton,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
)
from ui.tasks import TaskControl
from ui.widgets import guarded

log = logging.getLogger(__name__)

TICK_MS = 250  # redraw of sync progress
VOLUME_POLL_MS = 3000  # how often the page looks for camera cards plugged in (a few stat calls)


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
    def __init__(self, panel: PairedDevicesPanel, row: DeviceRow) -> None:
        super().__init__()
        self.panel = panel
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
        self.sync_button.clicked.connect(lambda: self.panel.sync_device(self.row.id))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(lambda: self.panel.cancel_sync(self.row.id))
        self.remove_button = QPushButton("Revoke" if row.wifi else "Remove")
        self.remove_button.clicked.connect(lambda: self.panel.remove_device(self.row.id))
        self.forget_button = QPushButton("Forget…")
        self.forget_button.setToolTip("Forget everything imported from this device, for good, and unpair it")
        self.forget_button.clicked.connect(lambda: self.panel.forget_device(self.row.id))
        for b in (self.sync_button, self.cancel_button, self.remove_button, self.forget_button):
            lay.addWidget(b)
        self.show_row(row)

    def show_row(self, row: DeviceRow) -> None:
        self.row = row
        self.title.setText(f"{row.kind_name} · {row.name or row.id}")
        bits = [f"paired {day_text(row.paired_at)}" if row.paired_at else "paired"]
        if row.wifi:
            bits.append(f"last seen {when_text(row.last)}" if row.last else "not seen since pairing")
        else:
            bits.append(f"last sync {when_text(row.last)}" if row.last else "never synced")
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
        self.show_sync(self.panel.syncs.get(row.id))

    def show_sync(self, st: SyncState | None) -> None:
        running = st is not None and st.running
        self.sync_button.setEnabled(self.row.syncable and not running)
        self.cancel_button.setVisible(running)
        self.cancel_button.setEnabled(running and st is not None and not (st.control and st.control.cancelled.is_set()))
        self.remove_button.setEnabled(not running and not self.row.revoked)
        self.forget_button.setEnabled(not running)
        self.bar.setVisible(st is not None)
        if st is None:
            self.state.setText("")
            return
        self.state.setText(st.describe())
        self.bar.setValue(round(1000 * st.fraction))


# ----------------------------------------------------------------------- the panel
class PairedDevicesPanel(QGroupBox):
    """The paired devices, camera cards, GoPro pairing and the Problems list.

    ``listed(rows)`` is told each time the devices were re-read (the Wi-Fi panel says who paired
    with its open offer). Tunables: ``mount_roots`` (where USB volumes are looked for; None: the
    platform's), ``watch_volumes(ms)`` (0: stop looking for cards); ``ask_confirm(title, text)
    -> bool`` is replaced in tests."""

    def __init__(self, ctx: AppContext, *, listed: Callable[[list[DeviceRow]], None]) -> None:
        super().__init__("Paired devices")
        self.ctx = ctx
        self._listed = listed
        self.read_only = False
        self.mount_roots: list[Path] | None = None
        self.ask_confirm: Callable[[str, str], bool] = self._confirm_dialog
        self.volume_poll_ms = VOLUME_POLL_MS

        self.devices: list[DeviceRow] = []
        self.syncs: dict[str, SyncState] = {}
        self.problem_lines: list[str] = []
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

        self._build()
        self.forgetter = forgetter_for(ctx)
        self.forgetter.forgotten.connect(self._forgotten)
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._volumes = QTimer(self)
        self._volumes.timeout.connect(self.scan_volumes)
        self.refresh()
        self.watch_volumes(self.volume_poll_ms)

    def _build(self) -> None:
        dl = QVBoxLayout(self)
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

    # ------------------------------------------------------------------ device list
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
            self.problem(p)
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
        self._listed(found.rows)
        if self._reload_again:
            self._reload_again = False
            self.refresh()

    def device(self, device_id: str) -> DeviceRow | None:
        return next((r for r in self.devices if r.id == device_id), None)

    def row_widget(self, device_id: str) -> DeviceRowWidget | None:
        return self._rows.get(device_id)

    def problem(self, line: str) -> None:
        """One line under Problems (every panel of the page reports here)."""
        self.problem_lines.append(line)
        self.problems.addItem(line)
        self.problems.scrollToBottom()

    # ------------------------------------------------------------------ sync
    def sync_device(self, device_id: str, label: str | None = None, *, auto: bool = False) -> SyncState | None:
        """Sync one paired device (``label`` names a device the list has not shown yet, e.g. a card
        paired a moment ago; ``auto``: it was just plugged in)."""
        row = self.device(device_id)
        if (row is None and label is None) or (row is not None and not row.syncable):
            return None
        name = row.name if row is not None else str(label)
        if self.read_only:
            self.problem(f"{name}: the memory is open read-only; nothing can be synced into it")
            return None
        cur = self.syncs.get(device_id)
        if cur is not None and cur.running:
            return cur
        st = SyncState(device_id)
        self.syncs[device_id] = st
        memory, roots = self.ctx.memory, self.mount_roots

        def work(control: TaskControl) -> SyncResult:
            def progress(p: SyncProgress) -> None:
                st.latest = p  # drawn by the UI timer; no signal per chunk

            return sync_paired(memory, device_id, name, roots, progress=progress, cancel=control.cancelled)

        def done(res: SyncResult) -> None:
            st.running, st.result = False, res
            for line in sync_problems(name, res):
                self.problem(line)
            if res.imported or res.episodes:
                self.ctx.changed("episodes")
            self.ctx.status(f"{name}: {st.describe()}")
            self.ctx.changed("synced")  # a desktop notification (ui/tray.py), quiet when turned off
            self._show_sync(device_id)
            self.refresh()

        def failed(message: str) -> None:
            st.running, st.error = False, message
            self.problem(f"{name}: sync failed: {message}")
            self._show_sync(device_id)

        st.control = self.ctx.tasks.long_write(work, None, done, failed)
        if auto:
            self.auto_synced.append(device_id)
            self.ctx.status(f"{name} plugged in: taking its new footage…")
        self._show_sync(device_id)
        if not self._tick.isActive():
            self._tick.start()
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

    def _on_tick(self) -> None:
        active = False
        for dev_id, st in self.syncs.items():
            if st.running:
                active = True
                self._show_sync(dev_id)
        if not active:
            self._tick.stop()

    # ------------------------------------------------------------------ remove / revoke
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

        def done(what: str) -> None:
            self.ctx.status(f"{row.name}: {what}")
            self.syncs.pop(device_id, None)
            self.refresh()

        def failed(message: str) -> None:
            self.problem(f"{row.name}: could not be removed: {message}")

        self.ctx.tasks.write(lambda: forget_device(data_dir, device_id, wifi=row.wifi), done, failed)

    # ------------------------------------------------------------------ forget for good
    def forget_device(self, device_id: str) -> None:
        """Forget everything from a device and unpair it (asks first: :mod:`ui.forget`)."""
        row = self.device(device_id)
        if row is None:
            return
        name = row.name or row.id

        def failed(message: str) -> None:
            self.problem(f"{name}: {message}")

        self.forgetter.start(ForgetRequest("device", device_id), f"everything from {name}", self, failed)

    def _forgotten(self, done: Forgotten) -> None:
        """A forgotten Wi-Fi device is also revoked (the core unpairs USB/GoPro/folder ones)."""
        req = done.request
        row = self.device(req.value or "") if req.target == "device" else None
        if row is None or not row.wifi or row.revoked:
            return
        data_dir, name = self.ctx.memory.data_dir, row.name or row.id

        def failed(message: str) -> None:
            self.problem(f"{name}: forgotten, but could not be revoked: {message}")

        self.ctx.tasks.write(lambda: forget_device(data_dir, row.id, wifi=True),
                             guarded(self, lambda _w: self.refresh()), guarded(self, failed))

    def _confirm_dialog(self, title: str, text: str) -> bool:
        answer = QMessageBox.question(self, title, text)
        return answer == QMessageBox.StandardButton.Yes

    # ------------------------------------------------------------------ camera cards (USB)
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
            self.problem(f"{card.label}: the memory is open read-only; nothing can be paired")
            return
        data_dir = self.ctx.memory.data_dir
        self._dismissed.add(card.key)  # off the offers at once
        self._show_cards()

        def done(device_id: str) -> None:
            self.cards = [MountedCard(c.path, c.key, c.identity, True, c.files) if c.key == card.key else c
                          for c in self.cards]  # fmt: skip
            self.ctx.status(f"Paired {card.label}")
            self.sync_device(device_id, card.label)
            self.refresh()

        def failed(message: str) -> None:
            self._dismissed.discard(card.key)
            self._show_cards()
            self.problem(f"{card.label}: could not be paired: {message}")

        self.ctx.tasks.write(lambda: pair_device(data_dir, ident).id, done, failed)

    # ------------------------------------------------------------------ GoPro by address
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
                dev = pair_device(data_dir, ident)
                return dev.id, dev.label, n

            self.ctx.tasks.write(work, paired, failed)

        self.ctx.tasks.read(lambda: check_gopro(url), checked, failed)

    def _gopro_said(self, text: str, *, error: bool = False) -> None:
        self.gopro_status.setText(text)
        self.gopro_status.setStyleSheet("color: #a40000; font-weight: bold;" if error else "")
        self.gopro_status.show()

    # ------------------------------------------------------------------ closing
    def close_now(self) -> None:
        """The window closes: stop looking for cards and cancel the syncs (partial downloads
        resume next time)."""
        self._tick.stop()
        self._volumes.stop()
        self.volume_poll_ms = 0
        for st in self.syncs.values():
            if st.running and st.control is not None:
                st.control.cancel()

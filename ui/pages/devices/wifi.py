"""The Devices page's first box, **Receive from phone or glasses**: the Wi-Fi receiver switch,
pairing a new device (QR code + PIN), LocalSend senders asking to send, and the activity log.

The switch starts and stops the HTTPS receiver (:func:`lifelog.api.devices.start_receiver`)
off the UI thread (``ctx.tasks.read``: it binds a socket and may make the certificate once; it
does not write the memory's tables). When it runs the panel shows the address, the port and the
certificate fingerprint the companion pins; a port already in use gets a clear sentence.
*Pair a new device* makes a one-time offer (:func:`lifelog.api.devices.make_pairing_code`) and
shows its QR code (PNG bytes made in the worker, drawn as a ``QPixmap``), its 6-digit PIN and an
expiry countdown. While an offer is open the paired devices are re-read once a second (the
``devices_changed`` hook) and the panel says who paired (:meth:`WifiPanel.devices_listed`); the
receiver's own events (paired, imported, refused, …) also arrive, from the receiver's threads,
through a queued Qt signal. Unknown LocalSend senders are asked about in a non-modal prompt
(:class:`ApprovalRequest`: the receiver's thread waits on it, the UI thread answers).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Literal

from lifelog.api.devices import (
    DEFAULT_PORT,
    DEFAULT_TTL_S,
    DeviceRow,
    LocalSendSender,
    PairingCode,
    PairingOffer,
    Receiver,
    ReceiverEvent,
    make_pairing_code,
    start_receiver,
)
from ui.context import AppContext
from ui.pages.devices.text import format_elapsed, group_fingerprint, group_pin, human_bytes, start_error_message
from ui.qt import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QPixmap,
    QPushButton,
    Qt,
    QTimer,
    QVBoxLayout,
    QWidget,
    Signal,
)

log = logging.getLogger(__name__)

TICK_MS = 250  # redraw of the offer's expiry countdown
POLL_MS = 1000  # registry poll while a pairing offer is open
QR_SCALE = 8  # pixels per QR module: ~460 px for a pairing URI, easy to scan from a screen
MAX_ACTIVITY = 200
APPROVAL_WAIT_S = 110.0  # a LocalSend approval left unanswered is declined (the receiver gives up at 120 s)

ApprovalReason = Literal["", "accepted", "declined", "timed out", "closed", "declined (receiving switched off)"]


class ReceiverStartError(RuntimeError):
    """The receiver could not start; the message is a sentence for the user."""


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
        self.reason: ApprovalReason = ""

    def answer(self, accepted: bool, reason: ApprovalReason) -> bool:
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


class WifiPanel(QGroupBox):
    """The receiver switch, pairing and LocalSend prompts. ``problem(line)`` lists a failure
    under the page's Problems; ``devices_changed()`` asks the page to re-read the paired devices
    (their list comes back through :meth:`devices_listed`)."""

    # From other threads to the UI thread (queued connections).
    receiver_event = Signal(object)  # ReceiverEvent, from the receiver's threads
    approval_asked = Signal(object)  # ApprovalRequest, from the receiver's executor thread
    approval_settled = Signal(object)  # ApprovalRequest answered by a timeout (same thread)

    def __init__(self, ctx: AppContext, *, problem: Callable[[str], None], devices_changed: Callable[[], None]) -> None:
        super().__init__("Receive from phone or glasses")
        self.ctx = ctx
        self._problem = problem
        self._devices_changed = devices_changed
        self.read_only = False
        # Tunables (a test or a developer may change them after construction).
        self.host = "0.0.0.0"
        self.port = DEFAULT_PORT
        self.advertise = True
        self.offer_ttl_s: float = DEFAULT_TTL_S
        self.approval_timeout_s = APPROVAL_WAIT_S

        self.receiver: Receiver | None = None
        self._receiver_busy = False
        self.offer: PairingOffer | None = None
        self._offer_devices: set[str] = set()  # Wi-Fi ids known when the offer was made
        self.paired_names: list[str] = []  # who paired while the current offer was open
        self.activity_lines: list[str] = []
        # LocalSend senders waiting for the user's answer.
        self.approvals: list[ApprovalRequest] = []
        self._approval_widgets: dict[int, QWidget] = {}

        self.receiver_event.connect(self._on_receiver_event)
        self.approval_asked.connect(self._show_approval)
        self.approval_settled.connect(self._approval_done)
        self._build()
        self._tick = QTimer(self)
        self._tick.setInterval(TICK_MS)
        self._tick.timeout.connect(self._on_tick)
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._devices_changed)

    def _build(self) -> None:
        wl = QVBoxLayout(self)
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

    # ------------------------------------------------------------------ the receiver
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
        self.decline_waiting("declined (receiving switched off)")  # nobody can send any more
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
            self._devices_changed()
        elif ev.kind == "imported":
            self.ctx.changed("episodes")
            self._devices_changed()
        elif ev.kind in ("failed", "warning"):
            self._problem(ev.message)

    # ------------------------------------------------------------------ pairing
    def new_offer(self) -> None:
        receiver = self.receiver
        if receiver is None:
            return
        data_dir, ttl, port = self.ctx.memory.data_dir, self.offer_ttl_s, receiver.port
        host = None if receiver.host in ("", "0.0.0.0", "::") else receiver.host
        self.pair_button.setEnabled(False)

        def work() -> PairingCode:
            return make_pairing_code(data_dir, ttl, host=host, port=port, qr_scale=QR_SCALE)

        def failed(message: str) -> None:
            self.pair_button.setEnabled(self.receiver is not None)
            self._problem(f"Could not make a pairing code: {message}")

        self.ctx.tasks.read(work, self._show_offer, failed)

    def _show_offer(self, code: PairingCode) -> None:
        self.pair_button.setEnabled(self.receiver is not None)
        if self.receiver is None:
            return
        pix = QPixmap()
        if not pix.loadFromData(code.qr_png, "PNG"):
            self._problem("The pairing QR code could not be drawn; use the PIN instead.")
        offer = code.offer
        self.offer = offer
        self._offer_devices = set(code.known)
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
        if not self._tick.isActive():
            self._tick.start()

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

    def devices_listed(self, rows: Sequence[DeviceRow]) -> None:
        """The paired devices were re-read: while an offer is open, say who paired with it."""
        if self.offer is None:
            return
        for name in (r.name for r in rows if r.wifi and r.id not in self._offer_devices):
            if name not in self.paired_names:
                self.paired_names.append(name)
        if self.paired_names:
            self.paired_label.setText(f"Paired: {', '.join(self.paired_names)}")

    def _on_tick(self) -> None:
        if self.offer is None:
            self._tick.stop()
            return
        self._update_expiry()

    # ------------------------------------------------------------------ LocalSend approval
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

    def decline_waiting(self, reason: ApprovalReason) -> None:
        """Decline every sender still waiting for an answer (receiving stops)."""
        for req in list(self.approvals):
            req.answer(False, reason)
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

    # ------------------------------------------------------------------ closing
    def close_now(self) -> None:
        """The window closes: the waiting senders get their answer, the timers stop."""
        self._tick.stop()
        self._poll.stop()
        for req in list(self.approvals):  # the receiver's waiting threads get their answer now
            req.answer(False, "closed")

    def stop_now(self) -> None:
        """Stop the receiver on this thread (the window is closing)."""
        receiver, self.receiver = self.receiver, None
        if receiver is not None:
            try:
                receiver.stop()
            except Exception as e:  # closing anyway; the log says why
                log.warning("the receiver did not stop cleanly: %s", e)

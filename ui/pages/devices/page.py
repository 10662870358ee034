"""The Devices page: receive from a phone or glasses over Wi-Fi, pair them with a QR code or a
PIN, see every paired device (USB volumes, GoPro-style cameras, folders, Wi-Fi companions), sync
or remove them, and record from a webcam with a visible recording indicator.

The page is a shell around three boxes, top to bottom (see docs/app-devices.md):
:class:`~ui.pages.devices.wifi.WifiPanel`, :class:`~ui.pages.devices.paired.PairedDevicesPanel`
and :class:`~ui.pages.devices.webcam.WebcamPanel`. It wires them together (the Wi-Fi panel asks
for the device list to be re-read and hears who paired; every panel reports failures under the
paired devices' *Problems*) and answers the window's hooks.

Settings a test or a developer may change after construction (attributes of the page, kept by
the panel they belong to): ``host``/``port``/``advertise`` of the receiver, ``offer_ttl_s``,
``approval_timeout_s``, ``mount_roots`` (where USB volumes are looked for; None: the
platform's), ``camera_factory`` (camera index → frame source), ``segment_s`` and
``watch_volumes(ms)`` (0: stop looking for cards). ``ask_confirm(title, text) -> bool`` is
replaced in tests.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from lifelog.api.devices import DeviceRow, FrameSource, MountedCard, PairingOffer, Receiver, Recorder, RecorderState
from ui.context import AppContext
from ui.pages.devices.paired import DeviceRowWidget, PairedDevicesPanel, SyncState
from ui.pages.devices.webcam import WebcamPanel
from ui.pages.devices.wifi import ApprovalRequest, WifiPanel
from ui.qt import QLabel, QPushButton, QScrollArea, QVBoxLayout, QWidget


class DevicesPage(QWidget):
    """Registered in ``ui/app.py`` as the "devices" page."""

    title = "Devices"

    def __init__(self, ctx: AppContext) -> None:
        super().__init__()
        self.ctx = ctx
        self.wifi = WifiPanel(ctx, problem=self._problem, devices_changed=self._devices_changed)
        self.paired = PairedDevicesPanel(ctx, listed=self.wifi.devices_listed)
        self.webcam = WebcamPanel(ctx, problem=self._problem)

        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        lay = QVBoxLayout(body)
        scroll.setWidget(body)
        outer.addWidget(scroll)
        from ui.capture import CaptureToggle  # the pause for everything (issue #13)

        self.capture_toggle = CaptureToggle(ctx.memory.data_dir, self)
        lay.addWidget(self.capture_toggle)
        for panel in (self.wifi, self.paired, self.webcam):
            lay.addWidget(panel)
        lay.addStretch(1)

        # What the page shows, by the names tests and the window use (each panel owns its widgets).
        w = self.wifi
        self.receive_switch, self.receiver_label = w.receive_switch, w.receiver_label
        self.receiver_error = w.receiver_error
        self.pair_button, self.close_offer_button, self.offer_box = w.pair_button, w.close_offer_button, w.offer_box
        self.qr_label, self.pin_label, self.expiry_label = w.qr_label, w.pin_label, w.expiry_label
        self.paired_label, self.activity, self.approval_box = w.paired_label, w.activity, w.approval_box
        p = self.paired
        self.devices_label, self.cards_box, self.device_list = p.devices_label, p.cards_box, p.device_list
        self.gopro_url, self.gopro_button, self.gopro_status = p.gopro_url, p.gopro_button, p.gopro_status
        self.problems = p.problems
        c = self.webcam
        self.camera_choice, self.record_button, self.pause_button = c.camera_choice, c.record_button, c.pause_button
        self.stop_button, self.rec_dot, self.rec_label = c.stop_button, c.rec_dot, c.rec_label

    def _problem(self, line: str) -> None:
        self.paired.problem(line)

    def _devices_changed(self) -> None:
        self.paired.refresh()

    # ------------------------------------------------------------------ read-only
    @property
    def read_only(self) -> bool:
        return self.paired.read_only

    @read_only.setter
    def read_only(self, value: bool) -> None:
        for panel in (self.wifi, self.paired, self.webcam):
            panel.read_only = value

    # ------------------------------------------------------------------ Wi-Fi (WifiPanel)
    @property
    def host(self) -> str:
        return self.wifi.host

    @host.setter
    def host(self, value: str) -> None:
        self.wifi.host = value

    @property
    def port(self) -> int:
        return self.wifi.port

    @port.setter
    def port(self, value: int) -> None:
        self.wifi.port = value

    @property
    def advertise(self) -> bool:
        return self.wifi.advertise

    @advertise.setter
    def advertise(self, value: bool) -> None:
        self.wifi.advertise = value

    @property
    def offer_ttl_s(self) -> float:
        return self.wifi.offer_ttl_s

    @offer_ttl_s.setter
    def offer_ttl_s(self, value: float) -> None:
        self.wifi.offer_ttl_s = value

    @property
    def approval_timeout_s(self) -> float:
        return self.wifi.approval_timeout_s

    @approval_timeout_s.setter
    def approval_timeout_s(self, value: float) -> None:
        self.wifi.approval_timeout_s = value

    @property
    def receiver(self) -> Receiver | None:
        return self.wifi.receiver

    @property
    def offer(self) -> PairingOffer | None:
        return self.wifi.offer

    @property
    def paired_names(self) -> list[str]:
        return self.wifi.paired_names

    @property
    def activity_lines(self) -> list[str]:
        return self.wifi.activity_lines

    @property
    def approvals(self) -> list[ApprovalRequest]:
        return self.wifi.approvals

    def start_receiver(self) -> None:
        self.wifi.start_receiver()

    def stop_receiver(self) -> None:
        self.wifi.stop_receiver()

    def new_offer(self) -> None:
        self.wifi.new_offer()

    def close_offer(self) -> None:
        self.wifi.close_offer()

    def offer_seconds_left(self) -> float:
        return self.wifi.offer_seconds_left()

    def approval_buttons(self, req: ApprovalRequest) -> tuple[QLabel, QPushButton, QPushButton] | None:
        return self.wifi.approval_buttons(req)

    def answer_approval(self, req: ApprovalRequest, accepted: bool) -> None:
        self.wifi.answer_approval(req, accepted)

    # ------------------------------------------------------------------ paired devices (PairedDevicesPanel)
    @property
    def mount_roots(self) -> list[Path] | None:
        return self.paired.mount_roots

    @mount_roots.setter
    def mount_roots(self, value: list[Path] | None) -> None:
        self.paired.mount_roots = value

    @property
    def ask_confirm(self) -> Callable[[str, str], bool]:
        return self.paired.ask_confirm

    @ask_confirm.setter
    def ask_confirm(self, value: Callable[[str, str], bool]) -> None:
        self.paired.ask_confirm = value

    @property
    def volume_poll_ms(self) -> int:
        return self.paired.volume_poll_ms

    @property
    def devices(self) -> list[DeviceRow]:
        return self.paired.devices

    @property
    def syncs(self) -> dict[str, SyncState]:
        return self.paired.syncs

    @property
    def problem_lines(self) -> list[str]:
        return self.paired.problem_lines

    @property
    def cards(self) -> list[MountedCard]:
        return self.paired.cards

    @property
    def scans(self) -> int:
        return self.paired.scans

    @property
    def auto_synced(self) -> list[str]:
        return self.paired.auto_synced

    def refresh(self) -> None:
        """Re-read the paired devices (off the UI thread)."""
        self.paired.refresh()

    def device(self, device_id: str) -> DeviceRow | None:
        return self.paired.device(device_id)

    def row_widget(self, device_id: str) -> DeviceRowWidget | None:
        return self.paired.row_widget(device_id)

    def sync_device(self, device_id: str, label: str | None = None, *, auto: bool = False) -> SyncState | None:
        return self.paired.sync_device(device_id, label, auto=auto)

    def cancel_sync(self, device_id: str) -> None:
        self.paired.cancel_sync(device_id)

    def remove_device(self, device_id: str) -> None:
        self.paired.remove_device(device_id)

    def watch_volumes(self, interval_ms: int) -> None:
        self.paired.watch_volumes(interval_ms)

    def scan_volumes(self) -> None:
        self.paired.scan_volumes()

    def new_cards(self) -> list[MountedCard]:
        return self.paired.new_cards()

    def card_line(self, card: MountedCard) -> tuple[QLabel, QPushButton, QPushButton] | None:
        return self.paired.card_line(card)

    def dismiss_card(self, card: MountedCard) -> None:
        self.paired.dismiss_card(card)

    def pair_card(self, card: MountedCard) -> None:
        self.paired.pair_card(card)

    def pair_gopro(self) -> None:
        self.paired.pair_gopro()

    # ------------------------------------------------------------------ webcam (WebcamPanel)
    @property
    def camera_factory(self) -> Callable[[int], FrameSource]:
        return self.webcam.camera_factory

    @camera_factory.setter
    def camera_factory(self, value: Callable[[int], FrameSource]) -> None:
        self.webcam.camera_factory = value

    @property
    def segment_s(self) -> float:
        return self.webcam.segment_s

    @segment_s.setter
    def segment_s(self, value: float) -> None:
        self.webcam.segment_s = value

    @property
    def recording(self) -> bool:
        return self.webcam.recording

    @property
    def recorder(self) -> Recorder | None:
        return self.webcam.recorder

    @property
    def _rec_state(self) -> RecorderState | None:
        return self.webcam.state

    @property
    def segments_imported(self) -> list[Path]:
        return self.webcam.segments_imported

    @property
    def recording_problems(self) -> list[str]:
        return self.webcam.recording_problems

    def start_recording(self) -> None:
        self.webcam.start_recording()

    def toggle_pause(self) -> None:
        self.webcam.toggle_pause()

    def stop_recording(self) -> None:
        self.webcam.stop_recording()

    def indicator_text(self) -> str:
        return self.webcam.indicator_text()

    # ------------------------------------------------------------------ the shell's hooks
    def on_changed(self, what: str) -> None:
        if what == "forgotten":  # a forgotten device is unpaired; files kept in originals went
            self.paired.refresh()

    def showEvent(self, event: Any) -> None:
        super().showEvent(event)
        self.paired.refresh()

    def can_close(self) -> bool:
        return True  # a recording or sync is stopped cleanly in before_close

    def before_close(self) -> None:
        """The window is closing: stop recording (the segment in progress is closed and
        imported), cancel syncs (partial downloads resume next time) and stop the receiver."""
        self.shutdown()

    def shutdown(self, wait_ms: int = 30_000) -> None:
        self.wifi.close_now()
        self.paired.close_now()
        self.webcam.close_now(wait_ms)
        self.wifi.stop_now()

"""The app's Devices page against real parts: the real HTTPS receiver on loopback started from
the page's switch, a real pairing offer (QR code + PIN) redeemed by the real companion client,
real video uploaded and imported into a real LanceDB memory, revocation refusing the companion,
a simulated DCF card (real files in a folder laid out as a camera does) synced with progress,
and a simulated webcam (real footage, the camera protocol) recorded, paused, resumed and stopped.

Faces and OCR are switched off in these memories to keep the runtime low; the import path is
otherwise the real one. Every wait is ``qtbot.waitUntil`` on something the user would see.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")
pytestmark = [pytest.mark.usefixtures("models_ready"), pytest.mark.media]

WAIT_MS = 120_000
CEST = timezone(timedelta(hours=2))
CARD_AT = datetime(2024, 5, 14, 9, 0, tzinfo=CEST)
CAM_AT = datetime(2024, 5, 17, 14, 0, tzinfo=CEST)


@pytest.fixture(scope="module")
def cat_clip(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Path:
    from wifi_helpers import clip

    return clip(tmp_path_factory, media, "cat")


@pytest.fixture(scope="module")
def rocket_clip(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Path:
    from wifi_helpers import clip

    return clip(tmp_path_factory, media, "rocket")


class Harness:
    """A Devices page on a real memory, with the context's callbacks recorded."""

    def __init__(self, qtbot: Any, data_dir: Path, watch_ms: int = 0) -> None:
        from lifelog.api import Memory
        from lifelog.config import Settings, save_settings
        from ui.context import AppContext
        from ui.pages.devices import DevicesPage
        from ui.tasks import Tasks

        s = Settings()
        s.capture.faces = False
        s.capture.ocr_interval_s = 0.0
        save_settings(data_dir, s)
        self.memory = Memory(data_dir)
        self.tasks = Tasks()
        self.changed: list[str] = []
        self.statuses: list[str] = []
        self.ctx = AppContext(self.memory, self.tasks, changed=self.changed.append, status=self.statuses.append)
        self.page = DevicesPage(self.ctx)
        self.page.host, self.page.port, self.page.advertise = "127.0.0.1", 0, False
        # The volume watch looks at the platform's mount roots; the tests that need it point it at
        # a temporary root and switch it on (watch_volumes), the others sync by hand.
        self.page.watch_volumes(watch_ms)
        self.confirms: list[str] = []
        self.answer = True

        def confirm(title: str, text: str) -> bool:
            self.confirms.append(title)
            return self.answer

        self.page.ask_confirm = confirm
        qtbot.addWidget(self.page)
        self.page.show()  # offscreen; what a user sees is what isVisible() says
        self.qtbot = qtbot

    def wait(self, cond: Any, timeout: int = WAIT_MS) -> None:
        self.qtbot.waitUntil(cond, timeout=timeout)

    def close(self) -> None:
        self.page.before_close()
        self.tasks.wait_idle()


@pytest.fixture
def h(qtbot: Any, data_dir: Path) -> Iterator[Harness]:
    harness = Harness(qtbot, data_dir)
    yield harness
    harness.close()


def _start_receiving(h: Harness) -> None:
    h.page.receive_switch.setChecked(True)  # the user flips the switch
    h.wait(lambda: h.page.receiver is not None and h.page.pair_button.isEnabled())


# ---------------------------------------------------------------- Wi-Fi pairing
def test_pair_upload_and_revoke_a_companion(h: Harness, cat_clip: Path, rocket_clip: Path) -> None:
    from lifelog.sources.wifi.client import CompanionClient, ReceiverError

    page = h.page
    _start_receiving(h)
    rec = page.receiver
    assert rec is not None
    text = page.receiver_label.text()
    assert f"Port: {rec.port}" in text and "Address: 127.0.0.1" in text
    assert rec.fingerprint[:4].upper() in text.replace(" ", "")  # the fingerprint the phone pins
    assert not page.receiver_error.isVisible()

    page.pair_button.click()
    h.wait(lambda: page.offer is not None and page.offer_box.isVisible())
    offer = page.offer
    assert offer is not None
    pix = page.qr_label.pixmap()
    assert not pix.isNull() and pix.width() >= 300 and pix.width() == pix.height()  # large, square
    assert page.pin_label.text().replace(" ", "") == offer.pin and offer.pin.isdigit() and len(offer.pin) == 6
    assert "Expires in" in page.expiry_label.text()
    assert offer.port == rec.port

    # A companion scans the code: it appears in the list and the offer says who paired.
    client, pairing = CompanionClient.pair_with_uri(offer.uri, "Test glasses", timeout=120)
    with client:
        h.wait(lambda: page.device(pairing.device_id) is not None)
        h.wait(lambda: "Test glasses" in page.paired_label.text())
        row = page.row_widget(pairing.device_id)
        assert row is not None and "Wi-Fi" in row.title.text() and "Test glasses" in row.title.text()
        assert row.remove_button.text() == "Revoke" and row.sync_button.isHidden()

        # It sends a real video: imported, the other pages are told, the episodes are there.
        answer = client.upload(cat_clip)
        assert answer["status"] == "imported", answer
        h.wait(lambda: "episodes" in h.changed)
        episodes = len(h.memory.episodes())
        assert episodes, "the uploaded video made no episode"
        h.wait(lambda: any("imported" in line for line in page.activity_lines))

        # Revoke, declined first: nothing changes.
        h.answer = False
        page.remove_device(pairing.device_id)
        assert h.confirms == ["Revoke Test glasses?"]
        h.answer = True
        row.remove_button.click()
        h.wait(lambda: (d := page.device(pairing.device_id)) is not None and d.revoked)
        h.wait(lambda: not row.remove_button.isEnabled() and "revoked" in row.info.text())
        with pytest.raises(ReceiverError) as refused:
            client.upload(rocket_clip)
        assert refused.value.status in (401, 403)
    assert len(h.memory.episodes()) == episodes  # the refused file added nothing

    # Switching off stops the receiver and withdraws the code from the screen.
    page.receive_switch.setChecked(False)
    h.wait(lambda: page.receive_switch.isEnabled() and page.receiver_label.text() == "Not receiving.")
    assert page.receiver is None and not page.offer_box.isVisible() and not page.pair_button.isEnabled()
    assert rec.stopped.is_set()


def test_port_in_use_is_said_clearly(h: Harness) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        h.page.port = busy.getsockname()[1]
        h.page.receive_switch.setChecked(True)
        h.wait(lambda: h.page.receiver_error.isVisibleTo(h.page) and h.page.receive_switch.isEnabled())
    msg = h.page.receiver_error.text()
    assert f"Port {h.page.port} is already in use" in msg
    assert not h.page.receive_switch.isChecked() and h.page.receiver is None
    assert not h.page.pair_button.isEnabled()
    # Once the port is free the same switch works.
    h.page.port = 0
    _start_receiving(h)
    assert not h.page.receiver_error.isVisibleTo(h.page)


def test_an_expired_code_is_withdrawn_from_the_screen(h: Harness) -> None:
    from lifelog.sources.wifi.client import CompanionClient, ReceiverError
    from lifelog.sources.wifi.registry import Registry

    _start_receiving(h)
    h.page.offer_ttl_s = 1
    h.page.pair_button.click()
    h.wait(lambda: h.page.offer is not None)
    uri = h.page.offer.uri if h.page.offer else ""
    h.wait(lambda: "expired" in h.page.expiry_label.text())
    offer_id = h.page.offer.offer_id if h.page.offer else ""
    state = Registry(h.memory.data_dir).offer_state(offer_id)
    assert state is not None
    h.wait(lambda: time.time() > float(state["expires"]))  # the registry's own clock, to the second
    assert h.page.qr_label.pixmap().isNull() and h.page.pin_label.text() == "——— ———"
    with pytest.raises(ReceiverError) as refused:
        CompanionClient.pair_with_uri(uri, "Too late", timeout=60)
    assert refused.value.status == 410
    assert not any(r.wifi for r in h.page.devices)


# ---------------------------------------------------------------- USB card sync
def test_sync_a_paired_card_shows_progress_and_imports(h: Harness, tmp_path: Path, cat_clip: Path,
                                                       rocket_clip: Path) -> None:  # fmt: skip
    from lifelog.sources import registry
    from lifelog.sources.dcf import identify_volume
    from lifelog.sources.sim.dcf import make_volume

    mnt = tmp_path / "media"
    vol = make_volume(mnt, "GOPRO_CARD", "gopro", [(cat_clip, CARD_AT), (rocket_clip, CARD_AT + timedelta(hours=3))])
    dev = registry.pair(h.memory.data_dir, identify_volume(vol))
    page = h.page
    page.mount_roots = [mnt]
    page.refresh()
    h.wait(lambda: (d := page.device(dev.id)) is not None and d.connected is True)
    row = page.row_widget(dev.id)
    assert row is not None and "· connected" in row.info.text()
    assert "USB" in row.title.text() and "never synced" in row.info.text() and row.sync_button.isEnabled()

    row.sync_button.click()
    assert row.cancel_button.isVisibleTo(row) and not row.sync_button.isEnabled()  # at once, before any I/O
    h.wait(lambda: not page.syncs[dev.id].running)
    st = page.syncs[dev.id]
    assert st.result is not None and st.result.ok and st.result.imported == 2, st.describe()
    size = cat_clip.stat().st_size + rocket_clip.stat().st_size
    assert st.latest is not None and st.latest.stage == "done" and st.latest.bytes_done == size
    assert row.bar.value() == 1000 and "synced: 2 new file(s) imported" in row.state.text()
    assert not row.cancel_button.isVisibleTo(row) and row.sync_button.isEnabled()
    assert "episodes" in h.changed and len(h.memory.episodes()) >= 2
    h.wait(lambda: "last sync" in row.info.text() and "2 file(s) taken" in row.info.text())
    # What it keeps in originals (the copies of the card's files), and the room left for more.
    from ui.pages.devices import human_bytes

    kept = sum(p.stat().st_size for p in (h.memory.data_dir / "originals" / dev.id).rglob("*") if p.is_file())
    assert kept >= size and f"· {human_bytes(kept)} in originals ·" in row.info.text()
    import re

    assert re.search(r"\d+(\.\d)? (B|KB|MB|GB) free (for originals|on the memory's disk)", page.devices_label.text())

    # A second sync takes nothing again.
    h.changed.clear()
    row.sync_button.click()
    h.wait(lambda: not page.syncs[dev.id].running)
    res = page.syncs[dev.id].result
    assert res is not None and res.imported == 0 and res.already_taken == 2 and "episodes" not in h.changed

    # Unplugged: the sync says so, in the row and under Problems; nothing is lost.
    import shutil

    shutil.rmtree(vol)
    row.sync_button.click()
    h.wait(lambda: not page.syncs[dev.id].running)
    assert "not connected" in row.state.text()
    assert any("not connected" in p for p in page.problem_lines)

    # Remove, with a confirmation; what was imported stays.
    row.remove_button.click()
    assert h.confirms == [f"Remove {dev.label}?"]
    h.wait(lambda: page.device(dev.id) is None)
    assert registry.get(h.memory.data_dir, dev.id) is None and len(h.memory.episodes()) >= 2


def test_a_hostile_card_item_is_listed_with_its_reason(h: Harness, tmp_path: Path, cat_clip: Path) -> None:
    from lifelog.sources import registry
    from lifelog.sources.dcf import identify_volume
    from lifelog.sources.sim.dcf import make_volume

    mnt = tmp_path / "media"
    vol = make_volume(mnt, "CARD", "canon", [(cat_clip, CARD_AT)])
    (vol / "DCIM" / "100CANON" / "IMG_0002.MP4").write_bytes(b"")  # the card declares an empty file
    (vol / "DCIM" / "100CANON" / "IMG_0003.MP4").write_bytes(b"not a video at all" * 100)
    dev = registry.pair(h.memory.data_dir, identify_volume(vol))
    h.page.mount_roots = [mnt]
    h.page.refresh()
    h.wait(lambda: h.page.device(dev.id) is not None)
    h.page.sync_device(dev.id)
    h.wait(lambda: not h.page.syncs[dev.id].running)
    res = h.page.syncs[dev.id].result
    assert res is not None and res.imported == 1
    problems = "\n".join(h.page.problem_lines)
    assert "IMG_0002.MP4 — empty file" in problems
    assert "IMG_0003.MP4" in problems
    assert "problem(s), see below" in h.page.row_widget(dev.id).state.text()  # type: ignore[union-attr]


# ---------------------------------------------------------------- webcam
def test_record_pause_resume_stop_imports_segments(h: Harness, media: Any) -> None:
    from lifelog.sources.sim.camera import SimCamera

    cams: list[SimCamera] = []

    def factory(index: int) -> SimCamera:
        cam = SimCamera(Path(media.path("vtest.avi")), CAM_AT, fps=10, realtime=True)
        cams.append(cam)
        return cam

    page = h.page
    page.camera_factory = factory
    page.segment_s = 1.0
    assert page.record_button.isEnabled() and not page.stop_button.isEnabled()
    page.record_button.click()
    h.wait(lambda: page.rec_dot.isVisibleTo(page) and "Recording" in page.rec_label.text())
    assert "seg-" in page.rec_label.text() and not page.record_button.isEnabled()
    h.wait(lambda: any(s.startswith("● Recording") for s in h.statuses))  # the window's status bar
    h.wait(lambda: page._rec_state is not None and page._rec_state.segments_done >= 1)

    page.pause_button.click()
    h.wait(lambda: "Paused" in page.rec_label.text() and page.pause_button.text() == "Resume")
    assert not page.rec_dot.isVisibleTo(page)
    page.pause_button.click()
    h.wait(lambda: page.rec_dot.isVisibleTo(page) and "Recording" in page.rec_label.text())
    h.wait(lambda: page._rec_state is not None and page._rec_state.segments_done >= 3)

    page.stop_button.click()
    h.wait(lambda: not page.recording)
    state = page._rec_state
    assert state is not None and state.status == "stopped" and state.error is None
    h.wait(lambda: len(page.segments_imported) == state.segments_done)
    assert not page.rec_dot.isVisibleTo(page) and page.record_button.isEnabled()
    assert cams[0].closed  # the camera is released
    folder = h.memory.data_dir / "originals"
    segs = sorted(folder.rglob("seg-*.mp4.lgo"))  # imported segments are kept encrypted
    assert len(segs) == state.segments_done and not list(folder.rglob("*.part"))
    assert not list(folder.rglob("seg-*.mp4")), "no segment is kept in the clear"
    assert "episodes" in h.changed and h.memory.episodes()
    assert "Stopped:" in page.rec_label.text() and f"{state.segments_done} imported" in page.rec_label.text()


def test_closing_while_recording_keeps_the_last_segment(h: Harness, media: Any) -> None:
    from lifelog.sources.sim.camera import SimCamera

    h.page.camera_factory = lambda i: SimCamera(Path(media.path("vtest.avi")), CAM_AT, fps=10, realtime=True)
    h.page.segment_s = 30.0  # the whole recording is the segment in progress when the window closes
    h.page.record_button.click()
    h.wait(lambda: h.page._rec_state is not None and h.page._rec_state.frames_recorded >= 5)
    h.close()
    found = (h.memory.data_dir / "originals").rglob("seg-*.mp4*")  # kept encrypted (.lgo) once imported
    segs = sorted({p.with_name(p.name.removesuffix(".lgo")) for p in found if not p.name.endswith(".part")})
    assert len(segs) == 1
    h.wait(lambda: h.page.segments_imported == segs)
    assert h.memory.episodes()


def test_a_camera_that_cannot_open_is_reported(h: Harness) -> None:
    from lifelog.sources.webcam import CameraError

    def broken(index: int) -> Any:
        raise CameraError(f"cannot open camera {index} (not connected, busy in another app, or no permission)")

    h.page.camera_factory = broken
    h.page.camera_choice.setCurrentIndex(2)
    h.page.record_button.click()
    h.wait(lambda: not h.page.recording)
    assert any("cannot open camera 2" in p for p in h.page.recording_problems)
    assert h.page.record_button.isEnabled() and not h.page.rec_dot.isVisibleTo(h.page)


def test_a_sync_waits_for_another_import_instead_of_failing(h: Harness, tmp_path: Path, cat_clip: Path) -> None:
    """The receiver imports on its own thread; a sync that meets its write lock waits its turn."""
    from lifelog.sources import registry
    from lifelog.sources.dcf import identify_volume
    from lifelog.sources.sim.dcf import make_volume
    from lifelog.store.lock import write_lock

    mnt = tmp_path / "media"
    vol = make_volume(mnt, "CARD", "dji", [(cat_clip, CARD_AT)])
    dev = registry.pair(h.memory.data_dir, identify_volume(vol))
    h.page.mount_roots = [mnt]
    h.page.refresh()
    h.wait(lambda: h.page.device(dev.id) is not None)
    with write_lock(h.memory.data_dir):  # another import holds the memory
        st = h.page.sync_device(dev.id)
        assert st is not None
        h.wait(lambda: st.latest is not None and st.latest.stage == "importing")
        assert st.running
    h.wait(lambda: not st.running)
    assert st.result is not None and st.result.ok and st.result.imported == 1, st.describe()
    assert not h.page.problem_lines


# ---------------------------------------------------------------- camera cards plugged in while the app runs
def _card_files(vol: Path) -> dict[str, tuple[int, int]]:
    """Every file on the card with its size and mtime: the card must never be written."""
    return {str(p.relative_to(vol)): (p.stat().st_size, p.stat().st_mtime_ns) for p in vol.rglob("*") if p.is_file()}


def test_a_plugged_in_card_is_offered_then_synced_on_each_plug(h: Harness, tmp_path: Path, cat_clip: Path,
                                                               rocket_clip: Path) -> None:  # fmt: skip
    import shutil

    from lifelog.sources import registry
    from lifelog.sources.sim.dcf import make_volume

    page = h.page
    mnt = tmp_path / "media"
    mnt.mkdir()
    page.mount_roots = [mnt]
    page.watch_volumes(100)
    h.wait(lambda: page.scans >= 1)
    assert not page.cards and not page.cards_box.isVisibleTo(page)

    # Plug in an unpaired card: it is offered, and nothing is taken before the user says so.
    vol = make_volume(mnt, "GOPRO_CARD", "gopro", [(cat_clip, CARD_AT)])
    on_card = _card_files(vol)
    h.wait(lambda: bool(page.new_cards()))
    card = page.new_cards()[0]
    assert card.identity is not None
    line = page.card_line(card)
    assert line is not None
    label, pair, _later = line
    assert label.text() == "New camera card: HERO12 Black (GOPRO_CARD) — GoPro layout, 1 file(s)"
    assert page.cards_box.isVisibleTo(page) and pair.text() == "Pair and sync"
    scans = page.scans
    h.wait(lambda: page.scans >= scans + 3)
    assert not page.syncs and not h.memory.episodes() and registry.get(h.memory.data_dir, card.identity.id) is None

    # Pair and sync: its identity is stored, its clip imported, the offer gone.
    dev_id = card.identity.id
    pair.click()
    h.wait(lambda: dev_id in page.syncs and not page.syncs[dev_id].running)
    res = page.syncs[dev_id].result
    assert res is not None and res.imported == 1, page.syncs[dev_id].describe()
    dev = registry.get(h.memory.data_dir, dev_id)
    assert dev is not None and dev.kind == "usb" and dev.label == "HERO12 Black (GOPRO_CARD)"
    assert not page.cards_box.isVisibleTo(page) and not page.new_cards()
    assert "episodes" in h.changed and "Paired HERO12 Black (GOPRO_CARD)" in h.statuses
    h.wait(lambda: (r := page.row_widget(dev_id)) is not None and "connected" in r.info.text())
    episodes = len(h.memory.episodes())
    assert episodes >= 1
    # Still plugged in: no second sync of the same plug-in.
    scans = page.scans
    h.wait(lambda: page.scans >= scans + 3)
    assert page.auto_synced == [] and not page.syncs[dev_id].running

    # Unplug it: the row says so.
    shutil.rmtree(vol)
    h.wait(lambda: not page.cards)
    h.wait(lambda: "not connected" in (page.row_widget(dev_id).info.text()))  # type: ignore[union-attr]

    # Plug it in again with a new clip: synced by itself, and only the new clip is taken.
    h.changed.clear()
    vol = make_volume(mnt, "GOPRO_CARD", "gopro", [(cat_clip, CARD_AT), (rocket_clip, CARD_AT + timedelta(hours=3))])
    on_card = _card_files(vol)
    h.wait(lambda: page.auto_synced == [dev_id])
    assert any("HERO12 Black (GOPRO_CARD) plugged in" in s for s in h.statuses)
    st = page.syncs[dev_id]
    h.wait(lambda: not st.running)
    assert st.result is not None and st.result.imported == 1 and st.result.already_taken == 1, st.describe()
    assert "synced: 1 new file(s) imported, 1 taken before" in page.row_widget(dev_id).state.text()  # type: ignore[union-attr]
    assert "episodes" in h.changed and len(h.memory.episodes()) > episodes
    assert any(s.startswith("HERO12 Black (GOPRO_CARD): synced") for s in h.statuses)
    assert not page.new_cards()  # a paired card is not offered again
    assert _card_files(vol) == on_card  # nothing was written to the card


def test_a_card_not_now_is_not_offered_until_plugged_again(h: Harness, tmp_path: Path, cat_clip: Path) -> None:
    import shutil

    from lifelog.sources.sim.dcf import make_volume

    page = h.page
    mnt = tmp_path / "media"
    vol = make_volume(mnt, "EOS", "canon", [(cat_clip, CARD_AT)])
    page.mount_roots = [mnt]
    page.watch_volumes(100)
    h.wait(lambda: bool(page.new_cards()))
    line = page.card_line(page.new_cards()[0])
    assert line is not None and line[0].text().startswith("New camera card: Canon camera (EOS) — Canon camera layout")
    assert line[2].text() == "Not now"
    line[2].click()
    assert not page.new_cards() and not page.cards_box.isVisibleTo(page)
    scans = page.scans
    h.wait(lambda: page.scans >= scans + 2)
    assert not page.new_cards() and not page.syncs
    shutil.rmtree(vol)
    h.wait(lambda: not page.cards)
    make_volume(mnt, "EOS", "canon", [(cat_clip, CARD_AT)])
    h.wait(lambda: bool(page.new_cards()))
    assert not h.memory.episodes()


# ---------------------------------------------------------------- GoPro by address
def test_pair_a_gopro_by_address_then_sync_it(h: Harness, tmp_path: Path, cat_clip: Path, rocket_clip: Path) -> None:
    import http.server
    import threading

    from lifelog.sources import registry
    from lifelog.sources.sim.gopro_server import GoProServer

    page = h.page

    def try_address(url: str) -> str:
        page.gopro_url.setText(url)
        page.gopro_button.click()
        assert not page.gopro_button.isEnabled()
        h.wait(lambda: page.gopro_button.isEnabled())
        return page.gopro_status.text()

    # Nothing listening there: a clear sentence, nothing paired.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    said = try_address(f"127.0.0.1:{closed}")
    assert said.startswith(f"No GoPro-style camera answers at http://127.0.0.1:{closed}")
    assert "camera's Wi-Fi" in said and page.gopro_status.isVisibleTo(page)
    # A web server that is not a camera.
    (tmp_path / "www").mkdir()
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "www"), **k)  # noqa: E731
    web = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    try:
        said = try_address(f"http://127.0.0.1:{web.server_address[1]}")
    finally:
        web.shutdown()
        web.server_close()
    assert "No GoPro-style camera answers" in said and "404" in said
    assert "not an http(s) camera address" in try_address("ftp://camera")
    assert "Type the camera's address" in try_address("  ")
    assert registry.list_paired(h.memory.data_dir) == []

    with GoProServer() as cam:
        cam.add("100GOPRO", "GX010001.MP4", cat_clip, CARD_AT.timestamp())
        cam.add("100GOPRO", "GX010002.MP4", rocket_clip, (CARD_AT + timedelta(hours=3)).timestamp())
        said = try_address(cam.url)
        assert said.startswith("Paired HERO12 Black (127.0.0.1:") and "it lists 2 file(s)" in said, said
        assert page.gopro_url.text() == ""
        (dev,) = registry.list_paired(h.memory.data_dir)
        assert dev.kind == "gopro" and dev.details["url"] == cam.url
        h.wait(lambda: page.row_widget(dev.id) is not None)
        row = page.row_widget(dev.id)
        assert row is not None and row.title.text().startswith("GoPro · HERO12 Black") and row.sync_button.isEnabled()
        row.sync_button.click()
        h.wait(lambda: not page.syncs[dev.id].running)
        res = page.syncs[dev.id].result
        assert res is not None and res.imported == 2, page.syncs[dev.id].describe()
    assert "episodes" in h.changed and len(h.memory.episodes()) >= 2


# ---------------------------------------------------------------- LocalSend approval
PHONE_FP = "c0ffee" * 10 + "abcd"


def _ls_info(alias: str) -> dict[str, Any]:
    return {"alias": alias, "version": "2.1", "deviceModel": "Pixel", "deviceType": "mobile", "fingerprint": PHONE_FP,
            "port": 53317, "protocol": "https", "download": False}  # fmt: skip


def _ls_files(path: Path) -> dict[str, Any]:
    import hashlib

    data = path.read_bytes()
    return {"f0": {"id": "f0", "fileName": path.name, "size": len(data), "fileType": "video/mp4",
                   "sha256": hashlib.sha256(data).hexdigest()}}  # fmt: skip


PREPARE = "/api/localsend/v2/prepare-upload"


def _offer_in_background(client: Any, alias: str, clip_path: Path) -> tuple[Any, dict[str, Any]]:
    """A LocalSend sender's prepare-upload, which waits for the user's answer: on its own thread."""
    import threading

    out: dict[str, Any] = {}

    def send() -> None:
        try:
            doc = {"info": _ls_info(alias), "files": _ls_files(clip_path)}
            out["answer"] = client.request("POST", PREPARE, doc=doc)
        except OSError as e:  # the receiver stopped
            out["error"] = e

    t = threading.Thread(target=send, daemon=True)
    t.start()
    return t, out


def _localsend_client(h: Harness) -> Any:
    from lifelog.sources.wifi.client import CompanionClient

    rec = h.page.receiver
    assert rec is not None
    return CompanionClient(f"https://127.0.0.1:{rec.port}", rec.fingerprint, timeout=180)


def test_a_new_localsend_sender_is_asked_accepted_and_then_trusted(h: Harness, cat_clip: Path,
                                                                   rocket_clip: Path) -> None:  # fmt: skip
    from lifelog.sources.wifi.registry import list_devices

    page = h.page
    _start_receiving(h)
    with _localsend_client(h) as client:
        t, out = _offer_in_background(client, "Nice Orange", cat_clip)
        h.wait(lambda: bool(page.approvals))
        req = page.approvals[0]
        shown = page.approval_buttons(req)
        assert shown is not None
        text, accept, decline = shown
        assert page.approval_box.isVisibleTo(page) and accept.text() == "Accept" and decline.text() == "Decline"
        assert text.text().startswith("Nice Orange (Pixel, mobile) at 127.0.0.1 wants to send 1 file(s) (")
        assert any("Nice Orange wants to send files" in s for s in h.statuses)
        assert "answer" not in out  # the sender waits for the user
        accept.click()
        t.join(120)
        status, _hdr, prep = out["answer"]
        assert status == 200 and set(prep["files"]) == {"f0"}, prep
        assert not page.approval_box.isVisibleTo(page) and not page.approvals
        q = f"sessionId={prep['sessionId']}&fileId=f0&token={prep['files']['f0']}"
        status, _hdr, doc = client.request("POST", f"/api/localsend/v2/upload?{q}", body=cat_clip.read_bytes())
        assert status == 200 and doc["status"] == "imported", doc
        h.wait(lambda: "episodes" in h.changed)
        episodes = len(h.memory.episodes())
        assert episodes >= 1
        (sender,) = [d for d in list_devices(h.memory.data_dir) if d.kind == "localsend"]
        assert sender.name == "Nice Orange"
        h.wait(lambda: (r := page.row_widget(sender.id)) is not None and "LocalSend · Nice Orange" in r.title.text())

        # Remembered: its next offer is not asked about.
        status, _hdr, prep = client.request("POST", PREPARE, doc={"info": _ls_info("Nice Orange"),
                                                                  "files": _ls_files(rocket_clip)})  # fmt: skip
        assert status == 200 and set(prep["files"]) == {"f0"}, prep
        assert not page.approvals
    assert any("'Nice Orange': accepted" in line for line in page.activity_lines)


def test_a_declined_or_unanswered_localsend_sender_is_refused(h: Harness, cat_clip: Path) -> None:
    from lifelog.sources.wifi.common import INCOMING_DIR
    from lifelog.sources.wifi.registry import list_devices

    page = h.page
    page.approval_timeout_s = 1.0  # unanswered questions end soon
    _start_receiving(h)
    with _localsend_client(h) as client:
        t, out = _offer_in_background(client, "Stranger", cat_clip)
        h.wait(lambda: bool(page.approvals))
        shown = page.approval_buttons(page.approvals[0])
        assert shown is not None and shown[0].text().startswith("Stranger (Pixel, mobile)")
        shown[2].click()  # Decline
        t.join(120)
        status, _hdr, doc = out["answer"]
        assert status == 403 and "not approved" in doc["error"], doc
        assert not page.approval_box.isVisibleTo(page)

        # Nobody answers: the prompt goes away by itself and the sender is refused.
        t, out = _offer_in_background(client, "Lurker", cat_clip)
        t.join(120)
        status, _hdr, doc = out["answer"]
        assert status == 403 and "not approved" in doc["error"], doc
        h.wait(lambda: any("'Lurker': timed out" in line for line in page.activity_lines))
        assert not page.approvals and not page.approval_box.isVisibleTo(page)

        # Switching receiving off while a sender waits: it is declined and the prompt goes.
        page.approval_timeout_s = 300.0
        t, out = _offer_in_background(client, "Late", cat_clip)
        h.wait(lambda: bool(page.approvals))
        page.receive_switch.setChecked(False)
        assert not page.approvals and not page.approval_box.isVisibleTo(page)
        assert any("'Late': declined (receiving switched off)" in line for line in page.activity_lines)
        t.join(120)
        assert not t.is_alive()  # the sender got its answer (a 403, or the connection closed as it stopped)
    assert not [d for d in list_devices(h.memory.data_dir) if d.kind == "localsend"]
    incoming = h.memory.data_dir / INCOMING_DIR
    assert not incoming.exists() or not [p for p in incoming.rglob("*") if p.is_file()]
    assert h.memory.episodes() == [] and "episodes" not in h.changed
    assert any("'Stranger': declined" in line for line in page.activity_lines)


def test_low_free_space_is_a_warning() -> None:
    from ui.pages.devices import free_space_hint

    assert free_space_hint(200 * 1024**3) == " 200.0 GB free for originals."
    low = free_space_hint(1024**3)
    assert low.startswith(" Only 1.0 GB free on the memory's disk") and "stays on the device" in low
    assert free_space_hint(None) == ""

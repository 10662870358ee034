"""Private mode (issue #13 part 2): quiet hours and excluded devices, obeyed where the pause is.

Real paths: the rules parsed by the settings model; the Wi-Fi receiver on loopback with the
reference client (a quiet-hours window made to cover the current time refuses uploads with 423;
a clip whose capture time lies in a window is skipped, not imported, and not asked for again);
a simulated DCF card synced into a real memory (clips recorded in quiet hours skipped and
recorded in the ledger, the others taken; an excluded device not synced at all); ``lifelog
privacy --json`` as a real process; the Settings ▸ Privacy section with pytest-qt.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from helpers import json_doc, run_cli
from pydantic import ValidationError
from wifi_helpers import CAT_AT, clip, run_receiver

from lifelog.api import Memory
from lifelog.config import PrivacySettings, QuietWindow, Settings, load_settings, save_settings
from lifelog.sources import capture
from lifelog.sources.capture import CHECK_INTERVAL_S, CaptureWatch, quiet_window_at
from lifelog.sources.dcf import DcfVolumeSource
from lifelog.sources.ledger import Ledger
from lifelog.sources.sim.clips import make_clips
from lifelog.sources.sim.dcf import make_volume
from lifelog.sources.sync import sync_source
from lifelog.sources.wifi.client import ReceiverError

BERLIN = ZoneInfo("Europe/Berlin")
CEST = timezone(timedelta(hours=2))
START = datetime(2024, 5, 19, 9, 0, tzinfo=CEST)  # a Sunday; clips at 09:00, 10:00, 11:00
_CLIPS: dict[str, list[tuple[Path, datetime]]] = {}


def _rules(data_dir: Path, *, quiet: list[dict[str, Any]] | None = None, excluded: list[str] | None = None) -> None:
    s = Settings.model_validate({"timezone": "Europe/Berlin", "privacy": {
        "quiet_hours": quiet or [], "excluded_devices": excluded or []}})
    save_settings(data_dir, s)


def _around_now(minutes: int = 30) -> dict[str, Any]:
    now = datetime.now(BERLIN)
    return {"start": f"{now - timedelta(minutes=minutes):%H:%M}", "end": f"{now + timedelta(minutes=minutes):%H:%M}"}


def _not_now(window: dict[str, Any]) -> None:
    w = QuietWindow.model_validate(window)
    if quiet_window_at([w], datetime.now(UTC), BERLIN) is not None:  # pragma: no cover - a 2-minute weekly slot
        pytest.skip("the test's quiet-hours window happens to cover the current time")


# ------------------------------------------------------------------ the rules
def test_rules_parse_and_bad_windows_are_refused_naming_the_field() -> None:
    p = PrivacySettings.model_validate({"quiet_hours": [{"start": "22:00", "end": "7:00", "days": ["Fri"]}],
                                        "excluded_devices": ["usb-card-1"]})
    w = p.quiet_hours[0]
    assert (w.start, w.end, w.days) == ("22:00", "07:00", ["fri"])
    fri_late = datetime(2026, 12, 4, 23, 30, tzinfo=BERLIN)  # Friday 23:30
    sat_early = datetime(2026, 12, 5, 6, 59, tzinfo=BERLIN)  # Saturday 06:59: the same window
    sat_late = datetime(2026, 12, 5, 23, 30, tzinfo=BERLIN)  # Saturday 23:30: not a Friday window
    sun_early = datetime(2026, 12, 6, 6, 0, tzinfo=BERLIN)
    hit = quiet_window_at(p.quiet_hours, fri_late, BERLIN)
    assert hit is not None and hit[1] == datetime(2026, 12, 5, 7, 0, tzinfo=BERLIN)
    assert quiet_window_at(p.quiet_hours, sat_early, BERLIN) is not None
    assert quiet_window_at(p.quiet_hours, datetime(2026, 12, 5, 7, 0, tzinfo=BERLIN), BERLIN) is None
    assert quiet_window_at(p.quiet_hours, sat_late, BERLIN) is None
    assert quiet_window_at(p.quiet_hours, sun_early, BERLIN) is None
    every = [QuietWindow(start="22:00", end="07:00")]
    assert quiet_window_at(every, sat_late, BERLIN) and quiet_window_at(every, sun_early, BERLIN)

    bad = {
        ("quiet_hours", 0, "start"): {"start": "25:00", "end": "07:00"},
        ("quiet_hours", 0, "end"): {"start": "22:00", "end": "soon"},
        ("quiet_hours", 0, "days"): {"start": "22:00", "end": "07:00", "days": ["someday"]},
        ("quiet_hours", 0): {"start": "22:00", "end": "22:00"},
    }
    for loc, window in bad.items():
        with pytest.raises(ValidationError) as e:
            PrivacySettings.model_validate({"quiet_hours": [window]})
        assert e.value.errors()[0]["loc"] == loc, e.value.errors()
    with pytest.raises(ValidationError) as e:
        PrivacySettings.model_validate({"excluded_devices": ["../etc"]})
    assert e.value.errors()[0]["loc"] == ("excluded_devices",)


def test_watch_answers_for_quiet_hours_and_excluded_devices(tmp_path: Path) -> None:
    watch = CaptureWatch(tmp_path, interval_s=0)
    assert not watch.paused()
    _rules(tmp_path, quiet=[_around_now()], excluded=["usb-x"])
    st = watch.state()
    assert st.paused and st.rule == "quiet_hours" and st.message().startswith("private mode (quiet hours until ")
    assert capture.state(tmp_path).rule == "quiet_hours"
    _rules(tmp_path, excluded=["usb-x"])
    assert not watch.paused() and watch.paused("usb-x")
    assert watch.state(device="usb-x").message() == "this device is excluded"
    (tmp_path / "settings.json").write_text("{broken")
    assert watch.paused()  # unreadable settings: fail closed


# ------------------------------------------------------------------ Wi-Fi receiver
def test_receiver_refuses_uploads_during_quiet_hours(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")
    with run_receiver(data_dir) as running:
        client, pairing = running.pair()  # pairing is not capture
        _rules(data_dir, quiet=[_around_now()])
        with pytest.raises(ReceiverError) as e:
            client.upload(cat)
        assert e.value.status == 423, e.value.doc
        assert e.value.doc["error"].startswith("private mode (quiet hours until "), e.value.doc
        assert e.value.doc["rule"] == "quiet_hours"
        assert Memory(data_dir).episodes() == []
        _rules(data_dir, excluded=[pairing.device_id])
        time.sleep(CHECK_INTERVAL_S + 0.2)  # the receiver sees a settings change within its check interval
        with pytest.raises(ReceiverError) as e:
            client.upload(cat)
        assert e.value.status == 423 and e.value.doc["error"] == "this device is excluded", e.value.doc


def test_receiver_skips_a_clip_recorded_in_quiet_hours(
    data_dir: Path, tmp_path_factory: Any, media: Any, models_ready: None
) -> None:
    cat = clip(tmp_path_factory, media, "cat")  # recorded Tuesday 14 May 2024, 08:00 CEST
    window = {"start": "07:59", "end": "08:01", "days": ["tue"]}
    assert CAT_AT.weekday() == 1
    _not_now(window)
    _rules(data_dir, quiet=[window])
    with run_receiver(data_dir) as running:
        client, _pairing = running.pair()
        out = client.upload(cat)
        assert out["status"] == "skipped" and out.get("rule") == "quiet_hours", out
        assert "quiet hours" in out["reason"]
        assert Memory(data_dir).episodes() == []
        assert client.have([cat]) == {cat}  # not asked for again
        again = client.create_upload(cat)
        assert again.get("have") is True and again.get("status") == "skipped", again


# ------------------------------------------------------------------ device sync
@pytest.fixture
def clips(tmp_path_factory: pytest.TempPathFactory, media: Any) -> list[tuple[Path, datetime]]:
    if "c" not in _CLIPS:
        _CLIPS["c"] = make_clips(tmp_path_factory.mktemp("private-clips"), 3, START)
    return _CLIPS["c"]


def test_dcf_sync_skips_clips_recorded_in_quiet_hours(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    window = {"start": "09:59", "end": "10:01", "days": ["sun"]}  # holds the 10:00 clip only
    _not_now(window)
    _rules(data_dir, quiet=[window])
    vol = make_volume(tmp_path / "media", "CARD", "gopro", clips)
    mem = Memory(data_dir)
    res = sync_source(mem, DcfVolumeSource(vol))
    assert res.ok and res.imported == 2 and len(res.skipped_by_rule) == 1, res.to_json()
    assert "quiet hours" in res.skipped_by_rule[0].reason
    starts = sorted(e.start for e in mem.episodes())
    assert all(abs((s - clips[1][1]).total_seconds()) > 60 for s in starts), starts
    entries = {e.status for e in Ledger(data_dir, res.device_id).entries()}
    assert entries == {"imported", "skipped-by-rule"}
    again = sync_source(mem, DcfVolumeSource(vol))  # the skipped clip is not taken again
    assert again.new == 0 and again.already_taken == 3, again.to_json()


def test_excluded_device_is_not_synced(
    tmp_path: Path, data_dir: Path, clips: list[tuple[Path, datetime]], models_ready: None
) -> None:
    vol = make_volume(tmp_path / "media", "CARD3", "gopro", clips[:1])
    source = DcfVolumeSource(vol)
    _rules(data_dir, excluded=[source.identity().id])
    res = sync_source(Memory(data_dir), source)
    assert res.excluded and res.imported == 0 and res.bytes_downloaded == 0, res.to_json()
    assert res.to_json()["paused_reason"] == "this device is excluded"


# ------------------------------------------------------------------ the command
def test_cli_privacy_json(data_dir: Path) -> None:
    _rules(data_dir, quiet=[{"start": "22:00", "end": "07:00", "days": ["mon"]}], excluded=["usb-a"])
    p = run_cli(data_dir, "privacy", "--json")
    assert p.returncode == 0, p.stderr
    doc = json_doc(p)
    assert set(doc) == {"capture", "quiet_hours", "excluded_devices", "redaction", "retention"}
    assert {"paused", "until", "since", "rule", "message"} <= set(doc["capture"])
    assert doc["quiet_hours"] == [{"start": "22:00", "end": "07:00", "days": ["mon"]}]
    assert doc["excluded_devices"] == ["usb-a"]
    assert doc["redaction"] == {"blur_bystanders": True, "redact_sensitive_text": True, "sensitive_words": 0}
    assert doc["retention"]["trash_days"] == 30 and "stranger_faces_days" in doc["retention"]
    p = run_cli(data_dir, "privacy")
    assert p.returncode == 0 and "quiet hours: 22:00–07:00 mon" in p.stdout, p.stdout


# ------------------------------------------------------------------ the app
def test_ui_capture_rules_edit_validate_save(qtbot: Any, data_dir: Path) -> None:
    pytest.importorskip("PySide6")
    from ui.context import AppContext
    from ui.pages.privacy import CaptureRulesBox
    from ui.tasks import Tasks

    mem = Memory(data_dir)
    box = CaptureRulesBox(AppContext(mem, Tasks()))
    qtbot.addWidget(box)
    assert box.rows == []
    row = box.add_window()
    row.start.setText("25:00")
    box.save_button.click()
    assert row.error.isVisibleTo(box) and row.error.text().startswith("quiet hours 1, from: not a time of day")
    assert not (data_dir / "settings.json").exists()
    row.start.setText("21:30")
    row.days["sat"].setChecked(True)
    box.words.setText("password, Acme Bank")
    box.blur.setChecked(False)
    box.save_button.click()
    qtbot.waitUntil(lambda: box.result.text().startswith("Saved"), timeout=30_000)
    saved = load_settings(data_dir).privacy
    assert [w.model_dump() for w in saved.quiet_hours] == [{"start": "21:30", "end": "07:00", "days": ["sat"]}]
    assert saved.sensitive_words == ["password", "Acme Bank"] and saved.blur_bystanders is False
    assert json.loads((data_dir / "settings.json").read_text())["privacy"]["quiet_hours"][0]["start"] == "21:30"
    box.remove_window(row)
    box.revert()  # shows what was saved
    assert len(box.rows) == 1 and box.rows[0].start.text() == "21:30"

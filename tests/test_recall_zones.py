"""Issue 16, bad input: a memory whose frames were taken in several zones (travel), and a zone
change between import and ask across a daylight-saving switch. Real photos with EXIF offsets,
imported for real; every time an answer shows is in the memory's zone, at the right instant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

TOKYO = timezone(timedelta(hours=9))
NEW_YORK_EDT = timezone(timedelta(hours=-4))
LONDON_BST = timezone(timedelta(hours=1))


def _memory(data_dir: Path, zone: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from lifelog.api import Memory
    from lifelog.config import load_settings, save_settings
    from lifelog.store.vault import PASSPHRASE_ENV

    monkeypatch.setenv(PASSPHRASE_ENV, "zones")
    save_settings(data_dir, load_settings(data_dir).model_copy(update={"timezone": zone}))
    return Memory(data_dir)


@pytest.fixture
def machine_in_auckland(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process runs in a third zone, so that no time can come out right by accident."""
    monkeypatch.setenv("TZ", "Pacific/Auckland")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_frames_taken_in_several_zones_answer_in_the_memorys_zone(
        models_ready: None, media: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        machine_in_auckland: None) -> None:
    from lifelog.sample.compose import write_photo

    # The same day, two cities: 23:30 in Tokyo (14:30 UTC) comes *before* 12:00 in New York
    # (16:00 UTC), although its clock reads later. Read as local clocks, the order would flip.
    tokyo = write_photo(tmp_path / "tokyo.jpg", media.path("chelsea.png"), datetime(2024, 5, 14, 23, 30, tzinfo=TOKYO))
    new_york = write_photo(tmp_path / "new_york.jpg", media.path("chelsea.png"),
                           datetime(2024, 5, 14, 12, 0, tzinfo=NEW_YORK_EDT))
    mem = _memory(data_dir, "Europe/London", monkeypatch)
    assert not mem.import_paths([tokyo, new_york]).failed
    now = datetime(2024, 5, 14, 22, 0, tzinfo=LONDON_BST)

    last = mem.ask("when did I last see a cat?", now=now)
    assert last.hits and last.hits[0].start.astimezone(UTC) == datetime(2024, 5, 14, 16, 0, tzinfo=UTC)
    assert last.hits[0].start.utcoffset() == timedelta(hours=1)  # shown in London's summer time
    assert "today at 17:00" in last.answer, last.answer

    first = mem.ask("when did I first see a cat?", now=now)
    assert first.hits and first.hits[0].start.astimezone(UTC) == datetime(2024, 5, 14, 14, 30, tzinfo=UTC)
    assert "today at 15:30" in first.answer, first.answer

    # A window in the memory's clock: 15:00–16:00 London holds the Tokyo photo only.
    window = mem.ask("what did I see between 3pm and 4pm today?", now=now)
    assert [h.start.astimezone(UTC) for h in window.hits] == [datetime(2024, 5, 14, 14, 30, tzinfo=UTC)]


def test_a_zone_change_across_a_dst_switch_keeps_each_moment_at_its_own_offset(
        models_ready: None, media: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        machine_in_auckland: None) -> None:
    from lifelog.sample.compose import write_photo

    # Imported while the memory's zone was UTC; then the user moves it to New York. 10 March 2024
    # is the night America/New_York springs forward (02:00 EST → 03:00 EDT): the two photos are
    # one hour apart, and their clocks in New York read 01:30 and 03:30.
    before = write_photo(tmp_path / "before.jpg", media.path("chelsea.png"), datetime(2024, 3, 10, 6, 30, tzinfo=UTC))
    after = write_photo(tmp_path / "after.jpg", media.path("chelsea.png"), datetime(2024, 3, 10, 7, 30, tzinfo=UTC))
    mem = _memory(data_dir, "UTC", monkeypatch)
    assert not mem.import_paths([before, after]).failed
    now = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
    in_utc = mem.ask("when did I first see a cat?", now=now)
    assert in_utc.hits and "today at 06:30" in in_utc.answer, in_utc.answer

    travelled = _memory(data_dir, "America/New_York", monkeypatch)
    first = travelled.ask("when did I first see a cat?", now=now)
    last = travelled.ask("when did I last see a cat?", now=now)
    assert first.hits and last.hits
    assert first.hits[0].start.utcoffset() == timedelta(hours=-5) and "today at 01:30" in first.answer, first.answer
    assert last.hits[0].start.utcoffset() == timedelta(hours=-4) and "today at 03:30" in last.answer, last.answer
    # "between 1am and 4am" on the short night is three clock hours but two real ones: both photos.
    night = travelled.ask("what did I see between 1am and 4am today?", now=now)
    assert {h.start.astimezone(UTC) for h in night.hits} == {
        datetime(2024, 3, 10, 6, 30, tzinfo=UTC), datetime(2024, 3, 10, 7, 30, tzinfo=UTC)}

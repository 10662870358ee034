"""The read methods the app's browsing pages use (lifelog.api.Memory): days with counts, an
episode's frames, its transcript, its original file, and ask() — on a real store from real media."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

LIBRIVOX_870 = "sense_and_sensibility_01_austen_64kb-0870.wav"
MEETING_AT = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
CAT_AT = datetime(2024, 5, 15, 18, 0, tzinfo=UTC)
GONE_AT = datetime(2024, 5, 15, 9, 0, tzinfo=UTC)


@dataclass
class Built:
    data_dir: Path
    meeting: Path
    cat: Path
    gone: Path


@pytest.fixture(scope="module")
def built(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Built:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("api-browse")
    try:
        wav = media.path(LIBRIVOX_870)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    meeting = make_clip(root / "meeting.mp4", media.path("obama.jpg"), 12, MEETING_AT, fps=10, size=(320, 240),
                        audio_wav=[wav])
    cat = make_clip(root / "cat.mp4", media.path("chelsea.png"), 6, CAT_AT, fps=10, size=(320, 240))
    gone = make_clip(root / "rocket.mp4", media.path("rocket.jpg"), 6, GONE_AT, fps=10, size=(320, 240))
    mem = Memory(root / "memory")
    assert mem.import_paths([meeting, cat, gone]).imported == 3
    mem.transcribe_pending()
    gone.unlink()
    return Built(root / "memory", meeting, cat, gone)


def _episode_at(mem: Any, at: datetime) -> Any:
    return next(e for e in mem.episodes() if abs((e.start - at).total_seconds()) < 60)


def test_days_lists_each_day_with_its_episode_count(built: Built) -> None:
    from lifelog.api import Memory

    mem = Memory(built.data_dir)
    days = mem.days()
    tz = mem.tz
    assert [d.day for d in days] == sorted({MEETING_AT.astimezone(tz).date(), CAT_AT.astimezone(tz).date()})
    assert sum(d.episodes for d in days) == len(mem.episodes())
    for d in days:
        assert d.episodes == len(mem.episodes(d.day))
    assert Memory(built.data_dir.parent / "empty").days() == []


def test_episode_frames_are_in_time_order_with_thumbnails(built: Built) -> None:
    from lifelog.api import Memory

    mem = Memory(built.data_dir)
    ep = _episode_at(mem, CAT_AT)
    frames = mem.episode_frames(ep.id)
    assert len(frames) == ep.n_frames >= 1
    assert [f.t for f in frames] == sorted(f.t for f in frames)
    assert all(ep.start <= f.t <= ep.end for f in frames)
    assert frames[0].thumb_id and mem.thumbnail(frames[0].thumb_id)[:2] == b"\xff\xd8"
    assert mem.episode_frames("no-such-episode") == []


def test_episode_transcript_is_decrypted_with_times(built: Built) -> None:
    from lifelog.api import Memory

    mem = Memory(built.data_dir)
    meeting = _episode_at(mem, MEETING_AT)
    said = mem.episode_transcript(meeting.id)
    assert said and any("Dashwood" in u.text for u in said), said
    assert all(meeting.start <= u.start <= meeting.end + (u.end - u.start) for u in said)
    assert mem.episode_transcript(_episode_at(mem, CAT_AT).id) == []  # a silent clip


def test_episode_media_says_whether_the_original_is_still_there(built: Built) -> None:
    from lifelog.api import Memory

    mem = Memory(built.data_dir)
    kept = mem.episode_media(_episode_at(mem, CAT_AT).id)
    assert kept is not None and kept.exists and kept.path == built.cat.resolve() and kept.kind == "video"
    assert kept.offset_s == pytest.approx(0.0, abs=0.5)
    lost = mem.episode_media(_episode_at(mem, GONE_AT).id)
    assert lost is not None and not lost.exists and lost.path.name == "rocket.mp4"
    assert mem.episode_media("no-such-episode") is None


def test_ask_answers_with_hits_and_refuses_nonsense(built: Built) -> None:
    from lifelog.api import Memory
    from lifelog.recall.parse import QuestionError

    mem = Memory(built.data_dir)
    ans = mem.ask("when did I last see a cat?", now=datetime(2024, 5, 16, 12, 0, tzinfo=UTC))
    assert ans.hits and ans.hits[0].episode_id == _episode_at(mem, CAT_AT).id
    assert ans.answer.startswith("You last saw") and "cat" in ans.answer
    assert all(e.thumbnail is None for h in ans.hits for e in h.evidence), "no decrypted file is written"
    with pytest.raises(QuestionError):
        mem.ask("did I see a cat on February 30?", now=datetime(2024, 5, 16, 12, 0, tzinfo=UTC))

"""Issue 16: questions phrased the way people talk, asked of the composed sample days (both days,
imported for real) at ``--now 2024-05-15T22:00+01:00``; each answer is checked against the ground
truth of the composed days: right, or honestly uncertain. Plus the bad inputs the issue names."""

from __future__ import annotations

import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

NOW = datetime(2024, 5, 15, 22, 0, tzinfo=timezone(timedelta(hours=1)))
ZONE = "Europe/London"
PASSPHRASE = "natural questions"


@pytest.fixture(scope="module")
def days(models_ready: None, media: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    """(the memory, the ground truth): both sample days imported, people named as a user would."""
    from lifelog import paths
    from lifelog.api import Memory
    from lifelog.config import load_settings, save_settings
    from lifelog.sample.compose import compose_days
    from lifelog.store.vault import PASSPHRASE_ENV

    gt = compose_days(paths.cache_dir() / "sample-days")
    data_dir = tmp_path_factory.mktemp("natural")
    old_env = {k: os.environ.get(k) for k in (PASSPHRASE_ENV, "TZ")}
    os.environ[PASSPHRASE_ENV] = PASSPHRASE
    os.environ["TZ"] = ZONE
    time.tzset()
    save_settings(data_dir, load_settings(data_dir).model_copy(update={"timezone": ZONE}))
    mem = Memory(data_dir)
    res = mem.import_paths([paths.cache_dir() / "sample-days" / f for f in gt.files])
    assert not res.failed, res.failed
    for person in mem.people():  # name each person after the scenes they were seen in
        votes: Counter[str] = Counter()
        for ep in mem.person_episodes(person.id):
            for s in gt.scenes:
                if ep.start < max(s.end, s.start + timedelta(seconds=1)) and s.start < ep.end:
                    votes.update(s.people)
        if votes:
            mem.name_person(person.id, votes.most_common(1)[0][0])
    yield mem, gt
    for k, v in old_env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    time.tzset()


def _scenes(gt: Any, tag: str | None = None, text: str | None = None, day: int | None = None) -> list[Any]:
    out = []
    for s in gt.scenes:
        if tag is not None and tag not in {t.lower() for t in s.tags}:
            continue
        if text is not None and not any(text.lower() in x.lower() for x in s.text):
            continue
        if day is not None and s.start.astimezone(NOW.tzinfo).day != day:
            continue
        out.append(s)
    return out


def _overlaps(hit: Any, scenes: list[Any]) -> bool:
    end = max(hit.end, hit.start + timedelta(seconds=1))
    return any(hit.start < max(s.end, s.start + timedelta(seconds=1)) and s.start < end for s in scenes)


def _ask(days: tuple[Any, Any], q: str, now: datetime | None = NOW) -> Any:
    return days[0].ask(q, now=now)


_CONFIDENT_WRONG = re.compile(r"^(?:Yes, )?You (?:last |first )?saw", re.IGNORECASE)


def test_animals_this_week_are_the_cats_and_the_robin(days: tuple[Any, Any]) -> None:
    a = _ask(days, "did I see any animals this week?")
    want = _scenes(days[1], "animal")
    assert a.answer.startswith("Yes, you saw animals"), a.answer
    assert a.hits and all(_overlaps(h, want) for h in a.hits)
    assert {_overlaps(h, _scenes(days[1], "bird")) for h in a.hits} == {True, False}  # the robin and the cats
    assert "moments in all" in a.answer  # a summary, not a dump


def test_what_did_i_eat_is_the_food_seen_and_nothing_else(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did I eat yesterday?")
    assert a.hits and _overlaps(a.hits[0], _scenes(days[1], "food")), a.answer
    assert a.answer.startswith("You ate") and "13:10" in a.answer
    today = _ask(days, "what did I eat today?")  # nothing eaten was seen on the 15th
    assert not today.hits and "food" in today.answer and "today" in today.answer


def test_what_did_i_drink_this_morning_is_the_coffee(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did I drink this morning?")
    assert a.hits and _overlaps(a.hits[0], _scenes(days[1], "coffee", day=15)), a.answer
    assert a.answer.startswith("You had a drink") and "08:10" in a.answer


def test_a_bike_is_found_by_the_detector_with_its_box_as_evidence(days: tuple[Any, Any]) -> None:
    # The classifier has no bicycle label in that street; the object detector sees the bicycles
    # (docs/recall.md), so the answer is the bikes moment, with the detection as its evidence.
    a = _ask(days, "when did I last ride past a bike?")
    assert a.hits and _overlaps(a.hits[0], _scenes(days[1], "bicycle")), a.answer
    assert any(ev.kind == "object" and "bicycle" in ev.text for ev in a.hits[0].evidence), a.hits[0].evidence


def test_the_gym_is_not_claimed_from_one_weak_label(days: tuple[Any, Any]) -> None:
    a = _ask(days, "when did I last go to the gym?")
    assert not _CONFIDENT_WRONG.match(a.answer), a.answer
    assert not a.hits or a.answer.startswith("I'm not sure about the gym"), a.answer


def test_the_sign_at_the_arcade_is_read_not_taken_for_a_person(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did the sign at the arcade say?")
    assert "anyone called" not in a.answer
    assert "copy centre" in a.answer.lower(), a.answer
    sign = _ask(days, "what did the sign say yesterday?")
    read = {x.lower() for s in _scenes(days[1], "sign", day=14) for x in s.text}
    quoted = re.search(r'"([^"]+)"', sign.answer)
    assert quoted and any(part.strip().lower() in " ".join(read) for part in quoted.group(1).split("/")), sign.answer


def test_what_was_i_doing_yesterday_afternoon_reads_as_descriptions(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what was I doing yesterday afternoon?")
    start, end = datetime(2024, 5, 14, 12, tzinfo=NOW.tzinfo), datetime(2024, 5, 14, 17, tzinfo=NOW.tzinfo)
    want = [s for s in days[1].scenes if start <= s.start < end]
    assert a.hits and all(start <= h.start < end for h in a.hits)
    assert all(_overlaps(h, want) for h in a.hits)
    assert "%" not in a.answer and not re.search(r"\b\w+, \w+, \w+\b", a.answer), a.answer  # no label triples


def test_without_now_the_answer_says_what_the_memory_covers(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did I see yesterday?", now=None)
    assert not a.hits
    assert a.answer.endswith("Your memory has 14\u201315 May 2024; nothing after that."), a.answer


@pytest.mark.parametrize(("question", "tag", "clock"), [
    ("when did I last see a cat?", "cat", "21:00"),
    ("did I see any birds today?", "bird", "12:20"),
    ("show me the temple", "temple", "14:00"),
])
def test_plain_questions_name_the_right_moment(days: tuple[Any, Any], question: str, tag: str, clock: str) -> None:
    a = _ask(days, question)
    assert a.hits and _overlaps(a.hits[0], _scenes(days[1], tag)), a.answer
    assert clock in a.answer


def test_counting_the_cat_today(days: tuple[Any, Any]) -> None:
    a = _ask(days, "how many times did I see my cat today?")
    assert a.count == len(_scenes(days[1], "cat", day=15)) == 2
    assert a.answer == "You saw your cat 2 times today."


def test_anything_about_parking_finds_the_parking_signs(days: tuple[Any, Any]) -> None:
    a = _ask(days, "anything about parking?")
    assert a.parsed is not None and a.parsed.subject == "parking"
    assert a.hits and all(_overlaps(h, _scenes(days[1], text="PARKING")) for h in a.hits), a.answer


def test_the_beach_was_never_there(days: tuple[Any, Any]) -> None:
    a = _ask(days, "did I go to the beach?")
    assert not a.hits and a.answer == "I found no beach in your memory."


def test_who_did_i_meet_yesterday_names_the_people(days: tuple[Any, Any]) -> None:
    a = _ask(days, "who did I meet yesterday?")
    people = {p for s in _scenes(days[1], day=14) for p in s.people}
    assert people and all(p in a.answer for p in people), a.answer
    assert a.hits and all(_overlaps(h, [s for s in _scenes(days[1], day=14) if s.people]) for h in a.hits)


def test_a_word_no_model_can_see_is_said_plainly(days: tuple[Any, Any]) -> None:
    a = _ask(days, "did I see a zorbleflux?")
    assert not a.hits and a.answer == ("I found no zorbleflux: it is nothing I can recognise in pictures, and "
                                       "nothing read or said in your memory mentions it."), a.answer


def test_a_misspelt_word_is_put_right(days: tuple[Any, Any]) -> None:
    a = _ask(days, "when did I last see a rbin?")
    assert a.parsed is not None and a.parsed.subject == "robin"
    assert a.hits and _overlaps(a.hits[0], _scenes(days[1], "robin")), a.answer


# ------------------------------------------------------------------ bad input
def test_only_stop_words(days: tuple[Any, Any]) -> None:
    a = _ask(days, "the and of")
    assert not a.hits and a.answer == "I could not tell what to look for in that question."


def test_only_a_category(days: tuple[Any, Any]) -> None:
    a = _ask(days, "animals")
    assert a.hits and all(_overlaps(h, _scenes(days[1], "animal")) for h in a.hits), a.answer


def test_contradictory_times(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did I see yesterday last year?")
    assert not a.hits and "contradict" in a.answer and "yesterday" in a.answer and "last year" in a.answer


@pytest.mark.parametrize("name", ["Rose", "Bill"])
def test_a_name_that_is_also_a_thing(days: tuple[Any, Any], name: str) -> None:
    a = _ask(days, f"when did I last see {name}?")
    assert a.answer.startswith(f"I don't know anyone called {name}"), a.answer
    assert f"You last saw {name}" not in a.answer  # no confident claim about a rose nobody saw
    assert not any(_overlaps(h, _scenes(days[1], name.lower())) for h in a.hits)


def test_a_zone_change_between_import_and_ask_moves_every_time_together(days: tuple[Any, Any]) -> None:
    from lifelog.api import Memory
    from lifelog.config import load_settings, save_settings

    mem = days[0]
    data_dir = Path(mem.data_dir)
    save_settings(data_dir, load_settings(data_dir).model_copy(update={"timezone": "America/New_York"}))
    try:
        travelled = Memory(data_dir)
        a = travelled.ask("when did I last see a cat?", now=NOW)
        # 21:00 in London (BST) is 16:00 in New York (EDT): the sentence and the hit agree.
        assert a.hits and a.hits[0].start.utcoffset() == timedelta(hours=-4)
        assert f"{a.hits[0].start:%H:%M}" == "16:00" and "16:00" in a.answer, a.answer
        assert a.hits[0].start.astimezone(UTC) == datetime(2024, 5, 15, 20, 0, tzinfo=UTC)
    finally:
        save_settings(data_dir, load_settings(data_dir).model_copy(update={"timezone": ZONE}))


# ------------------------------------------------------------------ WordNet kinds
@pytest.mark.parametrize(("words", "inside", "outside"), [
    ("animals", {"tabby", "robin", "Chihuahua"}, {"pizza", "sports car"}),
    ("pets", {"tabby", "Persian cat", "beagle"}, {"robin", "tiger"}),
    ("vehicles", {"mountain bike", "cab", "airliner"}, {"tabby", "desk"}),
    ("furniture", {"desk", "dining table", "bookcase"}, {"cab"}),
    ("musical instruments", {"acoustic guitar", "grand piano", "cello"}, {"assault rifle"}),
    ("tools", {"hammer", "screwdriver"}, {"tabby"}),
    ("clothes", {"jean", "cardigan"}, {"desk"}),
    ("drinks", {"espresso", "red wine"}, {"pizza"}),
    ("bicycles", {"mountain bike", "bicycle-built-for-two"}, {"car wheel", "pinwheel"}),
    ("cyclist", {"mountain bike"}, {"potter's wheel"}),
])
def test_kinds_come_from_wordnet(models_ready: None, words: str, inside: set[str], outside: set[str]) -> None:
    from lifelog.recall.score import Scorer

    named = {k for k, w in Scorer(words).label_weight.items() if w >= 1.0}
    assert inside <= named, inside - named
    assert not (outside & named), outside & named


def test_a_broken_wordnet_file_is_refused_with_its_reason(models_ready: None, tmp_path: Path) -> None:
    from lifelog.encoders import get_visual_encoder
    from lifelog.recall.scenes import LexiconError, load_wordnet

    names = get_visual_encoder().label_names
    bad = tmp_path / "imagenet_wordnet.json"
    bad.write_text('{"words": {"animal": [0, 5000]}}')
    with pytest.raises(LexiconError, match="animal"):
        load_wordnet(names, bad)
    bad.write_text("not json")
    with pytest.raises(LexiconError, match="unreadable"):
        load_wordnet(names, bad)


# ------------------------------------------------------------------ label noise and claims (issue 16, session 5)
def test_the_sign_about_parking_is_read_not_taken_for_a_person(days: tuple[Any, Any]) -> None:
    a = _ask(days, "what did the sign about parking say?")
    assert "anyone called" not in a.answer
    assert a.answer.startswith("The sign about parking read") and "PARKING" in a.answer, a.answer
    assert a.hits and all(_overlaps(h, _scenes(days[1], text="PARKING")) for h in a.hits)
    nothing = _ask(days, "what did the sign about cheese say?")
    assert not nothing.hits and nothing.answer == "I found no sign about cheese.", nothing.answer


def test_a_face_is_not_a_ball_or_a_bassoon(days: tuple[Any, Any]) -> None:
    from lifelog.store.sql import sql_in

    mem = days[0]
    faces = mem.store.rows("faces", None, columns=["frame_id", "box", "det_score"]).to_pylist()
    filled = {f["frame_id"] for f in faces if f["det_score"] >= 0.8 and f["box"][2] * f["box"][3] >= 0.1}
    assert filled  # the meetings' faces
    rows = mem.store.rows("frames", sql_in("id", sorted(filled)), columns=["labels", "label_scores"]).to_pylist()
    noise = {"ping-pong ball", "bassoon", "oboe", "flute", "whistle"}
    assert not [(lab, p) for r in rows for lab, p in zip(r["labels"], r["label_scores"], strict=True)
                if lab in noise and p >= 0.05]
    # The cats' faces (detections at ~0.5) keep their labels: the cat is still found.
    assert _ask(days, "when did I last see a cat?").hits


def test_a_kind_resting_on_one_weak_label_is_not_claimed(days: tuple[Any, Any]) -> None:
    a = _ask(days, "did I see any musical instruments?")
    assert not _CONFIDENT_WRONG.match(a.answer), a.answer  # no instrument was there
    assert not a.hits or a.answer.startswith("I'm not sure I saw musical instruments"), a.answer

"""The objects timeline (lifelog.objects) on a real store: real photos made into clips on two
days, imported through ``Memory.import_paths``; the labels come from the real classifier."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lifelog.objects.timeline import Objects, objects_in_episodes
from lifelog.objects.vocabulary import ALL_CLASSES, CATALOGUE, NAMES, THRESHOLD, friendly_name, match_objects

CUP_1 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
SCOOTER = datetime(2024, 5, 14, 13, 0, tzinfo=UTC)
CUP_2 = datetime(2024, 5, 15, 10, 0, tzinfo=UTC)
CAT = datetime(2024, 5, 15, 12, 0, tzinfo=UTC)
CLIP_S = 3


# ---------------------------------------------------------------- the catalogue (no media needed)
def _imagenet() -> list[dict[str, Any]]:
    from lifelog.encoders.visual import LABELS_FILE
    from lifelog.paths import models_dir

    path = models_dir() / LABELS_FILE
    if not path.exists():
        path = Path(__file__).resolve().parents[1] / "models" / "build" / LABELS_FILE
    entries: list[dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return entries


def test_catalogue_is_real_imagenet_everyday_things() -> None:
    entries = _imagenet()
    index = {str(e["lemma"]): i for i, e in enumerate(entries)}
    assert 100 <= len(ALL_CLASSES) <= 200, len(ALL_CLASSES)
    missing = [c for c in ALL_CLASSES if c not in index]
    assert not missing, f"not ImageNet lemmas: {missing}"
    # ImageNet classes 0-397 are animals; 970-998 landscapes, people and plants: none is an object
    natural = [c for c in ALL_CLASSES if index[c] < 398 or 970 <= index[c] <= 998]
    assert not natural, natural
    assert len(set(ALL_CLASSES)) == len(ALL_CLASSES), "a class belongs to two objects"
    assert len(set(NAMES)) == len(NAMES) == len(CATALOGUE)
    assert 0.05 < THRESHOLD < 0.5


def test_friendly_names_and_words() -> None:
    assert friendly_name("cellular telephone") == "phone"
    assert friendly_name("computer keyboard") == "keyboard"
    assert friendly_name("coffee mug") == "cup"
    assert friendly_name("notebook") == "laptop"  # ImageNet's "notebook" is a notebook computer
    assert friendly_name("Egyptian cat") is None
    assert match_objects("phone") == ["phone"]
    assert match_objects("mug") == match_objects("my mugs") == ["cup"]
    assert match_objects("where did I last see my laptop?") == ["laptop"]
    assert match_objects("coffee machine") == ["coffee machine"]  # the longest phrase wins
    for word in ("keys", "my keys", "glasses", "cat", "", "   ", "?!", "x" * 10_000):
        assert match_objects(word) == [], word


# ---------------------------------------------------------------- a real store
@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("objects")
    size = (320, 240)
    clips = [
        make_clip(root / "cup1.mp4", media.path("coffee.png"), CLIP_S, CUP_1, fps=10, size=size),
        make_clip(root / "scooter.mp4", media.path("motorcycle_left.png"), CLIP_S, SCOOTER, fps=10, size=size),
        make_clip(root / "cup2.mp4", media.path("coffee.png"), CLIP_S, CUP_2, fps=10, size=size, seed=1),
        make_clip(root / "cat.mp4", media.path("chelsea.png"), CLIP_S, CAT, fps=10, size=size),
    ]
    mem = Memory(root / "memory")
    result = mem.import_paths(clips)
    assert result.imported == 4, result
    return mem


def _episode_at(mem: Any, t: datetime) -> str:
    eps = [e for e in mem.episodes() if e.start <= t + timedelta(seconds=1) and e.end >= t]
    assert len(eps) == 1, eps
    return str(eps[0].id)


def test_list_has_the_cup_on_two_days_and_not_the_cat(memory: Any) -> None:
    objs = {o.name: o for o in Objects(memory.store).list()}
    assert set(objs) == {"cup", "scooter"}, objs  # the cat is not an object
    cup = objs["cup"]
    assert cup.first_seen == CUP_1
    assert CUP_2 <= cup.last_seen <= CUP_2 + timedelta(seconds=CLIP_S)
    assert cup.episodes == 2 and cup.frames >= 2
    assert "espresso" in cup.classes and cup.probability >= THRESHOLD
    assert memory.thumbnail(cup.thumbnail)[:2] == b"\xff\xd8"
    assert objs["scooter"].episodes == 1 and SCOOTER <= objs["scooter"].first_seen < SCOOTER + timedelta(seconds=3)
    assert list(objs) == ["cup", "scooter"]  # most recently seen first
    doc = cup.to_json()
    assert doc["name"] == "cup" and doc["episodes"] == 2 and doc["first_seen"].startswith("2024-05-14T09:00")


def test_timeline_of_mug_is_both_episodes_in_order(memory: Any) -> None:
    objs = Objects(memory.store)
    assert "coffee mug" in objs.find("mug") and "cellular telephone" in objs.find("phone")
    line = objs.timeline("mug")
    assert [s.episode_id for s in line] == [_episode_at(memory, CUP_1), _episode_at(memory, CUP_2)]
    assert line[0].first == CUP_1 and line[0].first <= line[0].last < CUP_1 + timedelta(seconds=CLIP_S)
    assert CUP_2 <= line[1].first < CUP_2 + timedelta(seconds=CLIP_S)
    for s in line:
        assert s.thumbnail and memory.thumbnail(s.thumbnail)[:2] == b"\xff\xd8"
        assert s.probability >= THRESHOLD and s.objects == ["cup"]
    assert [s.episode_id for s in objs.timeline("where did I last see my coffee cup?")] == [e.episode_id for e in line]


def test_unknown_words_give_empty_results(memory: Any) -> None:
    objs = Objects(memory.store)
    for word in ("keys", "where did I leave my keys?", "cat", "zzzz", "", "laptop"):
        assert objs.timeline(word) == [], word
    assert objs.find("keys") == [] and objs.find("unicorn") == []


def test_time_window(memory: Any) -> None:
    objs = Objects(memory.store)
    day2 = datetime(2024, 5, 15, tzinfo=UTC)
    later = {o.name: o for o in objs.list(start=day2)}
    assert set(later) == {"cup"} and later["cup"].episodes == 1 and later["cup"].first_seen >= CUP_2
    earlier = {o.name: o for o in objs.list(end=day2)}
    assert set(earlier) == {"cup", "scooter"} and earlier["cup"].last_seen < day2
    assert [s.first.date() for s in objs.timeline("mug", end=day2)] == [CUP_1.date()]
    assert objs.list(start=datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_objects_in_episodes(memory: Any) -> None:
    ids = [e.id for e in memory.episodes()]
    seen = objects_in_episodes(memory.store, ids)
    assert seen[_episode_at(memory, CUP_1)] == ["cup"] and seen[_episode_at(memory, SCOOTER)] == ["scooter"]
    assert _episode_at(memory, CAT) not in seen
    assert objects_in_episodes(memory.store, []) == {}
    assert objects_in_episodes(memory.store, ["no-such-episode"]) == {}


def test_unfinished_import_is_hidden(memory: Any) -> None:
    from lifelog.store.db import JOURNAL_DIR
    from lifelog.store.sql import sql_str

    ep = _episode_at(memory, CUP_2)
    media_id = memory.store.rows("episodes", f"id = {sql_str(ep)}", columns=["media_id"]).column(0)[0].as_py()
    journal = memory.data_dir / JOURNAL_DIR
    journal.mkdir(exist_ok=True)
    entry = journal / media_id
    entry.write_text("")
    try:
        cup = {o.name: o for o in Objects(memory.store).list()}["cup"]
        assert cup.episodes == 1 and cup.last_seen < CUP_2
        assert [s.episode_id for s in Objects(memory.store).timeline("mug")] == [_episode_at(memory, CUP_1)]
    finally:
        entry.unlink()
    assert {o.name: o for o in Objects(memory.store).list()}["cup"].episodes == 2

"""Issue #12 part 4: episodes in the trash are not exported.

A memory made from three real clips (a cat and a rocket one day, a cat the next) moves the rocket
to the trash: the export (whole memory and a date range) carries neither the episode nor its
frames, thumbnails or file, and a fresh memory importing it shows exactly the episodes the
source memory shows. Restored from the trash, the episode is exported again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.media]

T_CAT1 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
T_ROCKET = datetime(2024, 5, 14, 12, 0, tzinfo=UTC)
T_CAT2 = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
FACE_ROI = [0.0, 0.0, 1.0, 0.55]  # the upper part of the portraits (as tests/test_ask_people.py pans them)


@pytest.fixture
def memory(media: Any, models_ready: None, tmp_path: Path) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    files = [make_clip(tmp_path / name, media.path(src), 4, at, fps=10, size=(320, 240))
             for name, src, at in (("cat1.mp4", "chelsea.png", T_CAT1), ("rocket.mp4", "rocket.jpg", T_ROCKET),
                                   ("cat2.mp4", "chelsea.png", T_CAT2))]
    mem = Memory(tmp_path / "memory")
    assert mem.import_paths(files).imported == 3
    rocket = next(e.id for e in mem.episodes() if abs((e.start - T_ROCKET).total_seconds()) < 60)
    media_id = mem.store.rows("episodes", f"id = '{rocket}'").column("media_id").to_pylist()[0]
    return {"mem": mem, "rocket": rocket, "rocket_media": media_id, "tmp": tmp_path}


def _doc(export: Path, table: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads((export / "data" / f"{table}.json").read_text())
    return rows


def _assert_not_in(export: Path, episode: str, media_id: str) -> None:
    assert episode not in {e["id"] for e in _doc(export, "episodes")}
    frames = _doc(export, "frames")
    assert frames and episode not in {f["episode_id"] for f in frames}
    assert media_id not in {m["id"] for m in _doc(export, "media")}
    thumbs = {p.stem for p in (export / "media" / "thumbs").glob("*.jpg")}
    assert thumbs == {f["thumb_id"] for f in frames if f["thumb_id"]} | {
        t for e in _doc(export, "episodes") for t in e["thumb_ids"] or []}
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["counts"]["episodes"] == len(_doc(export, "episodes"))


def test_trashed_episodes_are_not_exported(memory: dict[str, Any]) -> None:
    from lifelog.api import Memory

    mem, tmp, rocket = memory["mem"], memory["tmp"], memory["rocket"]
    everything = {e.id for e in mem.episodes()}
    assert mem.trash_episodes([rocket]) is not None
    shown = [e.to_json() for e in mem.episodes()]
    assert rocket not in {e["id"] for e in shown} and len(shown) == len(everything) - 1
    day1 = (datetime(2024, 5, 14, tzinfo=UTC), datetime(2024, 5, 15, tzinfo=UTC))
    on_day1 = sum(1 for e in mem.episodes() if day1[0] <= e.start < day1[1])

    whole = mem.export(tmp / "whole")
    assert whole.counts["episodes"] == len(shown)
    _assert_not_in(tmp / "whole", rocket, memory["rocket_media"])
    ranged = mem.export(tmp / "day1", *day1)
    _assert_not_in(tmp / "day1", rocket, memory["rocket_media"])
    assert ranged.counts["episodes"] == on_day1 >= 1

    other = Memory(tmp / "other")
    other.import_archive(tmp / "whole")
    assert [e.to_json() for e in other.episodes()] == shown
    assert other.trash() == []

    mem.restore_from_trash([rocket])
    again = mem.export(tmp / "again")
    assert again.counts["episodes"] == len(everything)
    assert rocket in {e["id"] for e in _doc(tmp / "again", "episodes")}


def test_a_person_seen_only_in_the_trash_is_not_exported(media: Any, models_ready: None, tmp_path: Path) -> None:
    """Trashing the only episode a named person is in takes the person (and the name) out of the
    export too; restored, the person is exported again."""
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    files = [make_clip(tmp_path / "cat.mp4", media.path("chelsea.png"), 4, T_CAT1, fps=10, size=(320, 240)),
             make_clip(tmp_path / "face1.mp4", media.path("obama.jpg"), 12, T_ROCKET, fps=10, size=(640, 480),
                       effect="pan", roi=FACE_ROI),
             make_clip(tmp_path / "face2.mp4", media.path("obama2.jpg"), 12, T_CAT2, fps=10, size=(640, 480),
                       effect="pan", roi=FACE_ROI)]
    mem = Memory(tmp_path / "memory")
    assert mem.import_paths(files).imported == 3
    (person,) = mem.people()
    mem.name_person(person.id, "Barack")
    seen = [e.id for e in mem.person_episodes(person.id)]
    assert len(seen) == 2
    mem.trash_episodes(seen)

    mem.export(tmp_path / "out")
    assert person.id not in {p["id"] for p in _doc(tmp_path / "out", "people")}
    assert b"Barack" not in b"".join(f.read_bytes() for f in (tmp_path / "out").rglob("*") if f.is_file())

    mem.restore_from_trash(seen)
    mem.export(tmp_path / "again")
    assert person.id in {p["id"] for p in _doc(tmp_path / "again", "people")}

"""End to end through the CLI: real faces on two days become one person; naming that person
makes "when did I last see NAME?" answer with the right moment; every edit undoes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

NOW = "2024-05-16T12:00:00+00:00"
FACE_ROI = [0.0, 0.0, 1.0, 0.55]  # the upper part of the portraits, where the face is


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELOG_PASSPHRASE": "test passphrase", "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=600)


def _json(data_dir: Path, *args: str) -> Any:
    out = _cli(data_dir, *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def memory(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("people-ask")
    clips = [
        make_clip(root / "d1_obama.mp4", media.path("obama.jpg"), 12, datetime(2024, 5, 14, 15, 0, tzinfo=UTC),
                  fps=10, size=(640, 480), effect="pan", roi=FACE_ROI),
        make_clip(root / "d1_biden.mp4", media.path("biden.jpg"), 12, datetime(2024, 5, 14, 18, 0, tzinfo=UTC),
                  fps=10, size=(640, 480), effect="pan", roi=[0.0, 0.0, 1.0, 0.3]),
        make_clip(root / "d2_obama.mp4", media.path("obama2.jpg"), 12, datetime(2024, 5, 15, 11, 0, tzinfo=UTC),
                  fps=10, size=(640, 480), effect="pan", roi=FACE_ROI),
        make_clip(root / "d2_cat.mp4", media.path("chelsea.png"), 6, datetime(2024, 5, 15, 19, 0, tzinfo=UTC),
                  fps=10, size=(640, 480)),
    ]
    data = root / "memory"
    doc = _json(data, "import", *map(str, clips), "--no-transcribe")
    assert doc["imported"] == 4, doc
    return data


def _person_of(people: list[dict[str, Any]], day: str) -> dict[str, Any]:
    for p in people:
        if p["last_seen"].startswith(day) or p["first_seen"].startswith(day):
            return p
    raise AssertionError(f"nobody seen on {day}: {people}")


def test_same_face_on_two_days_is_one_person_and_naming_answers(memory: Path) -> None:
    people = _json(memory, "people")
    assert len(people) == 2, people  # Obama (two days, two photos) and Biden
    obama = next(p for p in people if p["episodes"] == 2)
    assert obama["first_seen"].startswith("2024-05-14T15:00") and obama["last_seen"].startswith("2024-05-15T11:00")
    biden = next(p for p in people if p["id"] != obama["id"])
    assert obama["thumbnail"] and Path(obama["thumbnail"]).read_bytes()[:2] == b"\xff\xd8"

    before = _json(memory, "ask", "when did I last see Barack?", "--now", NOW)
    assert before["hits"] == [] and "don't know anyone called Barack" in before["answer"]

    _json(memory, "people", "name", obama["id"], "Barack")
    ans = _json(memory, "ask", "when did I last see Barack?", "--now", NOW)
    assert ans["hits"] and ans["hits"][0]["start"].startswith("2024-05-15T11:00"), ans
    assert any(e["kind"] == "face" for e in ans["hits"][0]["evidence"])
    first = _json(memory, "ask", "when did I first see Barack?", "--now", NOW)
    assert first["hits"][0]["start"].startswith("2024-05-14T15:00")
    count = _json(memory, "ask", "how many days this week did I see Barack?", "--now", NOW)
    assert count["count"] == 2
    eps = _json(memory, "episodes", "--day", "2024-05-15")
    assert any("Barack" in e["people"] for e in eps)

    # the stranger never joins him; naming Biden and undoing leaves Barack alone
    _json(memory, "people", "name", biden["id"], "Joe")
    undo = _json(memory, "people", "undo")
    assert undo["undone"] == "name"
    names = {p["id"]: p["name"] for p in _json(memory, "people")}
    assert names[obama["id"]] == "Barack" and not names[biden["id"]]


def test_bad_people_edits_exit_2_with_one_line(memory: Path) -> None:
    people = _json(memory, "people")
    pid = people[0]["id"]
    for args in (["merge", pid, pid], ["name", pid, ""], ["name", pid, "x" * 10_000], ["name", pid, "bad\x07name"],
                 ["hide", "no-such-person"]):
        out = _cli(memory, "people", *args)
        assert out.returncode == 2, (args, out.stdout, out.stderr)
        assert out.stderr.strip() and len(out.stderr.strip().splitlines()) == 1, out.stderr

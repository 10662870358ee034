"""The CLI contract (../shared/DESIGN.md), run as a real process: `--json` prints exactly one
JSON document on stdout, exit codes 0 / 2 / 3, one-line errors on stderr, `--data-dir` before or
after the command, `LIFELOG_HOME`, and the shapes of `import`, `ask` and `episodes`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import (
    ASTRONAUT_MTIME,
    CAT_EVENING_AT,
    CAT_MORNING_AT,
    COFFEE_TAKEN,
    DAY,
    NOW_EVENING,
    ROCKET_AT,
    Library,
    cli_env,
    copy_to,
    error_line,
    json_doc,
    library,
    run_cli,
)
from PIL import Image

pytestmark = pytest.mark.usefixtures("models_ready")

EVIDENCE_KINDS = {"frame", "transcript", "face", "object", "ocr", "label"}
INTENTS = {"last", "first", "count", "when", "list", "where", "what"}


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


@pytest.fixture(scope="module")
def day(lib: Library, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A memory holding one day: two cat clips (morning, evening), a rocket clip, a photo with
    EXIF, and a PNG from the evening before; imported through the CLI (--data-dir after the
    command)."""
    root = tmp_path_factory.mktemp("cli")
    src = root / "card"
    for p in (lib.cat_morning, lib.cat_evening, lib.rocket, lib.coffee_jpg, lib.astronaut_png):
        copy_to(p, src / "DCIM" / p.name)
    data = root / "memory"
    proc = run_cli(None, "import", str(src), "--json", "--data-dir", str(data))
    return {"src": src, "data": data, "proc": proc}


def _iso(value: str) -> datetime:
    dt = datetime.fromisoformat(value)
    assert dt.tzinfo is not None and dt.utcoffset() is not None, f"{value} has no UTC offset"
    return dt


# -------------------------------------------------------------------------------- import
def test_import_json_is_one_document_with_the_contract_keys(day: dict[str, Any]) -> None:
    proc = day["proc"]
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert isinstance(doc, dict)
    assert {"imported", "skipped", "failed", "episodes"} <= set(doc)
    assert (doc["imported"], doc["skipped"], doc["failed"]) == (5, 0, [])
    assert isinstance(doc["episodes"], list) and len(doc["episodes"]) == 5
    assert all(isinstance(e, str) and e for e in doc["episodes"])


def test_import_exit_codes(day: dict[str, Any], lib: Library, tmp_path: Path) -> None:
    data = day["data"]
    # all skipped: still success
    proc = run_cli(data, "import", str(day["src"]), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert (doc["imported"], doc["skipped"], doc["failed"], doc["episodes"]) == (0, 5, [], [])

    # some failed, the rest imported: 3, each failure listed with its reason
    mixed = tmp_path / "mixed"
    copy_to(lib.long_clips[0], mixed / "ok.mp4")  # another day: the day's listing stays as it is
    (mixed / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(300))
    proc = run_cli(data, "import", str(mixed), str(tmp_path / "not there.mov"), "--json")
    assert proc.returncode == 3, proc.stderr
    doc = json_doc(proc)
    assert doc["imported"] == 1 and len(doc["episodes"]) == 1
    failed = {f["path"]: f["error"] for f in doc["failed"]}
    assert set(failed) == {str(mixed / "broken.mp4"), str(tmp_path / "not there.mov")}
    assert all(isinstance(e, str) and e for e in failed.values())
    assert "no such file" in failed[str(tmp_path / "not there.mov")]
    for path, reason in failed.items():
        assert f"lifelog: {path}: {reason}" in proc.stderr.splitlines()

    # without --json: a human summary, same exit code
    proc = run_cli(data, "import", str(mixed))
    assert proc.returncode == 3
    assert "imported 0, skipped 1" in proc.stdout and "failed 1" in proc.stdout


def test_data_dir_before_or_after_the_command_and_lifelog_home(day: dict[str, Any], tmp_path: Path) -> None:
    data = day["data"]
    before = run_cli(data, "episodes", "--json")
    after = run_cli(None, "episodes", "--json", "--data-dir", str(data))
    home = run_cli(None, "episodes", "--json", env=cli_env(LIFELOG_HOME=str(data)))
    for proc in (before, after, home):
        assert proc.returncode == 0, proc.stderr
    listed = json_doc(before)
    assert len(listed) >= 5
    assert json_doc(after) == listed
    assert json_doc(home) == listed
    # an explicit --data-dir wins over LIFELOG_HOME
    empty = tmp_path / "empty"
    proc = run_cli(empty, "episodes", "--json", env=cli_env(LIFELOG_HOME=str(data)))
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc) == []


# ----------------------------------------------------------------------------------- ask
def _ask(day: dict[str, Any], question: str, *extra: str) -> dict[str, Any]:
    proc = run_cli(day["data"], "ask", question, "--now", NOW_EVENING, "--json", *extra)
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json_doc(proc)
    _check_answer_shape(doc, question)
    return doc


def _check_answer_shape(doc: dict[str, Any], question: str) -> None:
    assert {"question", "intent", "answer", "count", "hits"} <= set(doc)
    assert doc["question"] == question
    assert doc["intent"] in INTENTS
    assert isinstance(doc["answer"], str) and doc["answer"].strip() and "\n" not in doc["answer"]
    assert doc["count"] is None or (isinstance(doc["count"], int) and doc["count"] >= 0)
    assert isinstance(doc["hits"], list)
    for h in doc["hits"]:
        assert {"episode_id", "start", "end", "score", "evidence"} <= set(h)
        assert isinstance(h["episode_id"], str) and h["episode_id"]
        assert _iso(h["start"]) <= _iso(h["end"])
        assert isinstance(h["score"], float | int)
        assert isinstance(h["evidence"], list) and h["evidence"]
        for ev in h["evidence"]:
            assert {"kind", "time", "text", "thumbnail"} <= set(ev)
            assert ev["kind"] in EVIDENCE_KINDS
            _iso(ev["time"])
            assert isinstance(ev["text"], str)
            if ev["thumbnail"] is not None:
                thumb = Path(ev["thumbnail"])
                assert thumb.is_file(), thumb
                with Image.open(thumb) as im:
                    assert im.format == "JPEG"


def test_ask_last_cat_is_the_evening_clip(day: dict[str, Any]) -> None:
    doc = _ask(day, "when did I last see a cat?")
    assert doc["intent"] == "last"
    assert doc["hits"], doc["answer"]
    assert _iso(doc["hits"][0]["start"]) == CAT_EVENING_AT
    assert any(ev["thumbnail"] for ev in doc["hits"][0]["evidence"]), "no picture as evidence"
    starts = [_iso(h["start"]) for h in doc["hits"]]
    assert set(starts) == {CAT_EVENING_AT, CAT_MORNING_AT}, "only the two cat clips are cats"
    assert "cat" in doc["answer"].lower()


def test_ask_first_cat_is_the_morning_clip(day: dict[str, Any]) -> None:
    doc = _ask(day, "when did I first see a cat")
    assert doc["intent"] == "first"
    assert _iso(doc["hits"][0]["start"]) == CAT_MORNING_AT


def test_ask_how_many_times_today(day: dict[str, Any]) -> None:
    doc = _ask(day, "how many times did I see a cat today")
    assert doc["intent"] == "count"
    assert doc["count"] == 2
    assert "2" in doc["answer"]


def test_ask_about_something_never_seen(day: dict[str, Any]) -> None:
    doc = _ask(day, "when did I last go skiing?")
    assert doc["hits"] == []
    answer = doc["answer"].lower()
    assert any(w in answer for w in ("no ", "nothing", "not ", "never")), doc["answer"]


def test_ask_limit(day: dict[str, Any]) -> None:
    doc = _ask(day, "when did I last see a cat?", "--limit", "1")
    assert len(doc["hits"]) == 1
    assert _iso(doc["hits"][0]["start"]) == CAT_EVENING_AT


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["ask", "when did I last see a cat?", "--now", "yesterday-ish"], ["--now"]),
        (["ask", "when did I last see a cat?", "--now", "2024-13-45T25:00:00"], ["--now"]),
        (["ask", "", "--json"], ["empty"]),
        (["ask", "   ", "--json"], ["empty"]),
        (["ask", "cat?", "--limit", "0", "--json"], ["--limit"]),
        (["episodes", "--day", "14/05/2024", "--json"], ["--day"]),
    ],
)
def test_usage_errors_are_one_line_exit_2(day: dict[str, Any], args: list[str], words: list[str]) -> None:
    proc = run_cli(day["data"], *args)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert proc.stdout.strip() == ""
    assert "Traceback" not in proc.stderr
    # argparse's own errors print the usage, then the message; ours are exactly one line
    usage = proc.stderr.startswith("usage:")
    msg = proc.stderr.strip().splitlines()[-1] if usage else error_line(proc)
    assert any(w in msg for w in words), msg


# ------------------------------------------------------------------------------ episodes
def test_episodes_of_one_day(day: dict[str, Any]) -> None:
    proc = run_cli(day["data"], "episodes", "--day", DAY, "--json")
    assert proc.returncode == 0, proc.stderr
    eps = json_doc(proc)
    assert isinstance(eps, list)
    for e in eps:
        assert {"id", "start", "end", "summary", "people", "objects"} <= set(e)
        assert isinstance(e["summary"], str) and e["summary"]
        assert isinstance(e["people"], list) and isinstance(e["objects"], list)
        assert _iso(e["start"]) <= _iso(e["end"])
    starts = sorted(_iso(e["start"]) for e in eps)
    assert starts == sorted([CAT_MORNING_AT, COFFEE_TAKEN, ROCKET_AT, CAT_EVENING_AT])
    # the CLI runs with TZ=UTC: days are UTC days
    assert all(_iso(e["start"]).astimezone(UTC).date() == date.fromisoformat(DAY) for e in eps)
    cat = next(e for e in eps if _iso(e["start"]) == CAT_MORNING_AT)
    assert any("cat" in o.lower() or "tabby" in o.lower() for o in cat["labels"]), cat
    assert not any("cat" in o.lower() for o in cat["objects"]), cat  # a cat is not an everyday object
    coffee = next(e for e in eps if _iso(e["start"]) == COFFEE_TAKEN)
    assert "cup" in coffee["objects"], coffee

    proc = run_cli(day["data"], "episodes", "--day", "2024-05-13", "--json")
    assert proc.returncode == 0, proc.stderr
    assert [_iso(e["start"]) for e in json_doc(proc)] == [ASTRONAUT_MTIME]
    proc = run_cli(day["data"], "episodes", "--day", "2023-01-01", "--json")
    assert proc.returncode == 0 and json_doc(proc) == []


# ------------------------------------------------------------ decrypted thumbnails (issue #20)
def _thumb_paths(doc: dict[str, Any]) -> list[Path]:
    return [Path(ev["thumbnail"]) for h in doc["hits"] for ev in h["evidence"] if ev["thumbnail"]]


def test_evidence_thumbnails_never_touch_a_shared_tmp(day: dict[str, Any], tmp_path: Path) -> None:
    """Another local user pre-creates the old predictable folder as a symlink: nothing is written
    through it; with no runtime dir the decrypted files live in the memory's own private folder."""
    import os
    import tempfile

    planted = Path(tempfile.gettempdir()) / f"lifelog-thumbs-{os.getuid()}"
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    if planted.is_symlink() or planted.is_file():
        planted.unlink()
    elif planted.is_dir():
        import shutil

        shutil.rmtree(planted)
    planted.symlink_to(attacker, target_is_directory=True)
    try:
        proc = run_cli(day["data"], "ask", "when did I last see a cat?", "--now", NOW_EVENING, "--json",
                       env=cli_env(XDG_RUNTIME_DIR=None))
        assert proc.returncode == 0, proc.stderr
        thumbs = _thumb_paths(json_doc(proc))
        assert thumbs, "the answer has picture evidence"
        private = (day["data"] / "run" / "thumbs").resolve()
        for t in thumbs:
            assert t.resolve().parent == private, t
            assert t.stat().st_mode & 0o777 == 0o600
        assert private.stat().st_mode & 0o777 == 0o700
        assert list(attacker.iterdir()) == [], "a decrypted image was written through the planted link"
    finally:
        planted.unlink()


def test_evidence_thumbnails_use_a_private_runtime_dir_only(day: dict[str, Any], tmp_path: Path) -> None:
    shared = tmp_path / "shared-runtime"
    shared.mkdir()
    shared.chmod(0o777)  # not private: must not be used
    proc = run_cli(day["data"], "ask", "when did I last see a cat?", "--now", NOW_EVENING, "--json",
                   env=cli_env(XDG_RUNTIME_DIR=str(shared)))
    assert proc.returncode == 0, proc.stderr
    assert list(shared.iterdir()) == []
    assert all(day["data"].resolve() in t.resolve().parents for t in _thumb_paths(json_doc(proc)))
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    proc = run_cli(day["data"], "ask", "when did I last see a cat?", "--now", NOW_EVENING, "--json",
                   env=cli_env(XDG_RUNTIME_DIR=str(runtime)))
    assert proc.returncode == 0, proc.stderr
    thumbs = _thumb_paths(json_doc(proc))
    assert thumbs and all(runtime in t.parents for t in thumbs)
    # a symlink planted where a thumbnail will be written is replaced, never followed
    victim = tmp_path / "victim.jpg"
    victim.write_bytes(b"keep me")
    thumbs[0].unlink()
    thumbs[0].symlink_to(victim)
    proc = run_cli(day["data"], "ask", "when did I last see a cat?", "--now", NOW_EVENING, "--json",
                   env=cli_env(XDG_RUNTIME_DIR=str(runtime)))
    assert proc.returncode == 0, proc.stderr
    assert victim.read_bytes() == b"keep me"
    assert not thumbs[0].is_symlink() and thumbs[0].read_bytes()[:2] == b"\xff\xd8"

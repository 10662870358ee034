"""Issue #12 part 4: export and re-import, through the real CLI on a memory made from real media
(a named person who speaks, a sign read by OCR, a cat, a clip synced from a device whose kept
original travels with the export).

The memory is exported and imported into a fresh memory: every episode (times, summaries), the
person's name, what was said and the answers to questions are the same afterwards; a second
import adds nothing; tampered, truncated and newer-version archives are refused with the target
unchanged; an export that cannot be written leaves nothing behind; the encrypted form
round-trips under its passphrase and refuses a wrong one.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

SPEECH = "sense_and_sensibility_01_austen_64kb-0870.wav"
NAME = "Barack Quetzalcoatl"
T_TALK = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T_SIGN = datetime(2024, 5, 14, 17, 0, tzinfo=UTC)
T_CAT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
T_ROCKET = datetime(2024, 5, 16, 9, 0, tzinfo=UTC)
NOW = "2024-05-17T12:00:00+00:00"
QUESTIONS = ("when did I last see a cat?", "when did I see a rocket?", f"when did I last see {NAME}?",
             "when did I see a sign that said prohibited?")
EXPORT_PASS = "correct horse battery staple"

pytestmark = [pytest.mark.media, pytest.mark.slow]


@pytest.fixture(scope="module")
def memory(tmp_path_factory: Any, media: Any, models_ready: None) -> dict[str, Any]:
    """The memory of test_forget.py, built once for the module, and its plain export."""
    from lifelog.api import Memory
    from lifelog.api.devices import FolderSource, sync_source
    from lifelog.sample.compose import make_clip  # test data only

    try:
        wav = media.path(SPEECH)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    os.environ.setdefault("LIFELOG_PASSPHRASE", cli_env()["LIFELOG_PASSPHRASE"])
    tmp: Path = tmp_path_factory.mktemp("archive")
    src = tmp / "footage"
    src.mkdir()
    files = [
        make_clip(src / "talk.mp4", media.path("obama.jpg"), 12, T_TALK, fps=10, size=(640, 480),
                  roi=[0.0, 0.0, 1.0, 0.55], audio_wav=[wav]),
        make_clip(src / "sign.mp4", media.path("scenetext01.jpg"), 4, T_SIGN, fps=10, size=(640, 480),
                  effect="static"),
        make_clip(src / "cat.mp4", media.path("chelsea.png"), 6, T_CAT, fps=10, size=(320, 240)),
    ]
    card = tmp / "card"
    card.mkdir()
    make_clip(card / "rocket.mp4", media.path("rocket.jpg"), 6, T_ROCKET, fps=10, size=(320, 240))
    data = tmp / "memory"
    mem = Memory(data)
    assert mem.import_paths(files).imported == 3
    mem.transcribe_pending()
    synced = sync_source(mem, FolderSource(card))
    assert synced.ok and synced.imported == 1, synced.to_json()
    person = max(mem.people(), key=lambda p: p.faces)
    mem.name_person(person.id, NAME)
    export = tmp / "export"
    proc = run_cli(data, "export", export, "--json")
    assert proc.returncode == 0, proc.stderr
    return {"mem": mem, "data": data, "tmp": tmp, "export": export, "person": person.id, "doc": json_doc(proc)}


def _state(data: Path) -> dict[str, Any]:
    """What the user sees of a memory: episodes, people, transcripts and answers (in-process; the
    CLI's own output is compared once in the round trip)."""
    from datetime import datetime as dt

    from lifelog.api import Memory

    mem = Memory(data)
    episodes = [e.to_json() for e in mem.episodes_between(None, None)]
    people = sorted(p.name or "" for p in mem.people())
    said = {e["id"]: [(u.start.isoformat(), u.text, u.speaker) for u in mem.episode_transcript(e["id"])]
            for e in episodes}
    answers = []
    for q in QUESTIONS:
        a = mem.ask(q, now=dt.fromisoformat(NOW))
        answers.append((a.answer, [(h.episode_id, h.start.isoformat(), round(h.score, 4)) for h in a.hits]))
    return {"episodes": episodes, "people": people, "said": said, "answers": answers}


def _cli_view(data: Path) -> tuple[Any, Any]:
    proc = run_cli(data, "ask", QUESTIONS[0], "--now", NOW, "--json", "--no-thumbnails")
    assert proc.returncode == 0, proc.stderr
    return json_doc(run_cli(data, "episodes", "--json")), json_doc(proc)


def _rows(data: Path) -> dict[str, int]:
    from lifelog.store.db import SCHEMAS, Store  # test inspection of the target's tables

    store = Store(data)
    return {t: store.count(t) for t in SCHEMAS}


def test_export_and_import_round_trip(memory: dict[str, Any], tmp_path: Path) -> None:
    data, export = memory["data"], memory["export"]
    doc = memory["doc"]
    assert doc["counts"]["episodes"] == 4 and doc["counts"]["people"] >= 1 and doc["counts"]["originals"] == 1
    manifest = json.loads((export / "manifest.json").read_text())
    assert manifest["format"] == "lifelog-export" and manifest["format_version"] == 2
    assert all(len(f["sha256"]) == 64 for f in manifest["files"].values())
    assert NAME in (export / "data" / "people.json").read_text(), "the export is open: names in plain JSON"
    assert not list(memory["tmp"].glob("export.partial-*"))

    target = tmp_path / "restored"
    proc = run_cli(target, "import-archive", export, "--json")
    assert proc.returncode == 0, proc.stderr
    first = json_doc(proc)
    assert first["added"]["episodes"] == 4 and first["vectors"] == "carried", first
    assert first["added"]["utterance_terms"] > 0 and first["added"]["ocr_terms"] > 0
    assert first["originals"] == 1 and list((target / "originals").rglob("*.mp4.lgo"))  # kept encrypted
    before, after = _state(data), _state(target)
    assert _cli_view(target) == _cli_view(data)
    assert after["episodes"] == before["episodes"]
    assert NAME in after["people"]
    assert after["said"] == before["said"] and any(before["said"].values())
    assert after["answers"] == before["answers"]
    assert any(hits for _, hits in after["answers"])
    # re-encrypted under the target's key: no plaintext name, no ciphertext of the source
    for p in target.rglob("*"):
        if p.is_file():
            assert NAME.encode() not in p.read_bytes(), p

    rows = _rows(target)
    proc = run_cli(target, "import-archive", export, "--json")
    assert proc.returncode == 0, proc.stderr
    second = json_doc(proc)
    assert sum(second["added"].values()) == 0 and second["blobs"] == 0, second
    assert _rows(target) == rows
    actions = [a["action"] for a in json_doc(run_cli(target, "audit", "--json"))]
    assert actions.count("import-archive") == 2
    assert "export" in [a["action"] for a in json_doc(run_cli(data, "audit", "--json"))]


def _empty_memory(data: Path) -> None:
    from lifelog.api import Memory

    Memory(data)


def _copy(export: Path, dest: Path) -> Path:
    shutil.copytree(export, dest)
    return dest


def _refused(target: Path, src: Path, *why: str, env: dict[str, str] | None = None) -> None:
    rows = _rows(target)
    proc = run_cli(target, "import-archive", src, "--json", env=env)
    assert proc.returncode in (1, 2), proc.stderr
    assert "Traceback" not in proc.stderr
    assert any(w in proc.stderr for w in why), proc.stderr
    assert _rows(target) == rows, "a refused archive changed the memory"


def test_tampered_truncated_and_newer_archives_are_refused(memory: dict[str, Any], tmp_path: Path) -> None:
    export, target = memory["export"], tmp_path / "target"
    _empty_memory(target)
    tampered = _copy(export, tmp_path / "tampered")
    thumb = next((tampered / "media" / "thumbs").iterdir())
    raw = bytearray(thumb.read_bytes())
    raw[len(raw) // 2] ^= 0x55
    thumb.write_bytes(bytes(raw))
    _refused(target, tampered, "sha256")

    truncated = _copy(export, tmp_path / "truncated")
    people = truncated / "data" / "people.json"
    people.write_bytes(people.read_bytes()[:-20])
    _refused(target, truncated, "sha256", "truncated")
    missing = _copy(export, tmp_path / "missing")
    next((missing / "media" / "faces").iterdir()).unlink()
    _refused(target, missing, "missing")

    newer = _copy(export, tmp_path / "newer")
    m = json.loads((newer / "manifest.json").read_text())
    m["format_version"] = 99
    (newer / "manifest.json").write_text(json.dumps(m))
    _refused(target, newer, "newer lifelog")


def _fsize_limit(limit: int) -> Any:
    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_an_export_that_cannot_be_written_leaves_nothing(memory: dict[str, Any], tmp_path: Path) -> None:
    data = memory["data"]
    out = tmp_path / "out"
    out.mkdir()
    # a full disk (a file-size limit: writes fail with EFBIG half-way)
    proc = run_cli(data, "export", out / "full", preexec_fn=_fsize_limit(64 * 1024))
    assert proc.returncode == 1, proc.stderr
    assert "cannot write the export" in proc.stderr and "Traceback" not in proc.stderr
    assert list(out.iterdir()) == []
    proc = run_cli(data, "export", out / "full.llx", "--encrypted", preexec_fn=_fsize_limit(64 * 1024),
                   env=cli_env(LIFELOG_EXPORT_PASSPHRASE=EXPORT_PASS))
    assert proc.returncode == 1, proc.stderr
    assert list(out.iterdir()) == []
    # a read-only target
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):
            made = subprocess.run(["chattr", "+i", str(ro)], capture_output=True).returncode == 0
            if not made:
                pytest.skip("running as root without chattr: no read-only folder to test with")
        try:
            proc = run_cli(data, "export", ro / "x", "--json")
            assert proc.returncode == 1, proc.stderr
            assert "cannot write the export" in proc.stderr and "Traceback" not in proc.stderr
            assert list(ro.iterdir()) == []
        finally:
            subprocess.run(["chattr", "-i", str(ro)], capture_output=True)
    finally:
        ro.chmod(0o700)
    # an existing destination is never overwritten
    proc = run_cli(data, "export", memory["export"])
    assert proc.returncode == 2 and "already exists" in proc.stderr


def test_encrypted_round_trip_and_wrong_passphrase(memory: dict[str, Any], tmp_path: Path) -> None:
    data = memory["data"]
    archive = tmp_path / "memory.llx"
    env = cli_env(LIFELOG_EXPORT_PASSPHRASE=EXPORT_PASS)
    proc = run_cli(data, "export", archive, "--encrypted", "--range", "2024-05-14", "2024-05-15", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["encrypted"] and doc["counts"]["episodes"] == 3, doc  # talk, sign, cat (not the rocket)
    blob = archive.read_bytes()
    assert blob[:4] == b"LLXA" and NAME.encode() not in blob and b"PROHIBITED" not in blob
    assert not list(tmp_path.glob("*.partial-*"))

    target = tmp_path / "target"
    _empty_memory(target)
    _refused(target, archive, "wrong passphrase", env=cli_env(LIFELOG_EXPORT_PASSPHRASE="not it"))
    proc = run_cli(target, "import-archive", archive, "--json", env=cli_env(LIFELOG_EXPORT_PASSPHRASE=None),
                   stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "LIFELOG_EXPORT_PASSPHRASE" in proc.stderr
    cut = tmp_path / "cut.llx"
    cut.write_bytes(blob[: len(blob) - 100])
    _refused(target, cut, "truncated", "damaged", env=env)
    flipped = tmp_path / "flipped.llx"
    flipped.write_bytes(blob[:2000] + bytes([blob[2000] ^ 1]) + blob[2001:])
    _refused(target, flipped, "tampered", env=env)

    proc = run_cli(target, "import-archive", archive, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["added"]["episodes"] == 3
    before, after = _state(data), _state(target)
    ids = {e["id"] for e in after["episodes"]}
    assert len(ids) == 3 and after["episodes"] == [e for e in before["episodes"] if e["id"] in ids]
    assert NAME in after["people"]


def test_frames_of_another_model_are_recomputed_from_thumbnails(memory: dict[str, Any], tmp_path: Path) -> None:
    import hashlib

    other = _copy(memory["export"], tmp_path / "other-model")
    frames_json = other / "data" / "frames.json"
    frames = json.loads(frames_json.read_text())
    for f in frames:
        f["model"] = "efficientnet-lite0-conse@an-older-version"
    frames_json.write_text(json.dumps(frames))
    m = json.loads((other / "manifest.json").read_text())
    raw = frames_json.read_bytes()
    m["files"]["data/frames.json"] = {"sha256": hashlib.sha256(raw).hexdigest(), "size": len(raw)}
    (other / "manifest.json").write_text(json.dumps(m))
    target = tmp_path / "target"
    proc = run_cli(target, "import-archive", other, "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["vectors"] == "recomputed from thumbnails" and doc["recomputed_frames"] == len(frames)
    from lifelog.api import Memory

    mem = Memory(target)
    assert mem.stale_frames() == 0
    assert mem.ask("when did I last see a cat?", now=datetime.fromisoformat(NOW)).hits, "the cat is still found"

"""Issue #12: forget for good, proved on disk.

A memory made from real media — a named person who speaks, a sign read by OCR, a cat on another
day, a clip synced from a device (a kept original) — forgets the person, the sign's episode and
the cat's day through the real CLI. Then every byte of the data dir is scanned for what was
forgotten, both as plaintext (the name, what was said, the sign's words) and as the exact
ciphertext that stored it (name, transcript and OCR columns, thumbnail and face-crop blobs, the
kept original). The scan is shown to work first: before forgetting, it finds every needle.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
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

pytestmark = [pytest.mark.media, pytest.mark.slow]


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def _found(root: Path, needles: dict[str, bytes]) -> dict[str, list[str]]:
    hits: dict[str, list[str]] = {}
    for p in _files(root):
        blob = p.read_bytes()
        for what, needle in needles.items():
            if needle in blob:
                hits.setdefault(what, []).append(str(p.relative_to(root)))
    return hits


@pytest.fixture
def memory(tmp_path: Path, media: Any, models_ready: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.api.devices import FolderSource, sync_source
    from lifelog.sample.compose import make_clip  # test data only

    try:
        wav = media.path(SPEECH)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    monkeypatch.setenv("LIFELOG_PASSPHRASE", cli_env()["LIFELOG_PASSPHRASE"])
    src = tmp_path / "footage"
    src.mkdir()
    files = [
        make_clip(src / "talk.mp4", media.path("obama.jpg"), 12, T_TALK, fps=10, size=(640, 480),
                  roi=[0.0, 0.0, 1.0, 0.55], audio_wav=[wav]),
        make_clip(src / "sign.mp4", media.path("scenetext01.jpg"), 4, T_SIGN, fps=10, size=(640, 480),
                  effect="static"),
        make_clip(src / "cat.mp4", media.path("chelsea.png"), 6, T_CAT, fps=10, size=(320, 240)),
    ]
    card = tmp_path / "card"
    card.mkdir()
    make_clip(card / "rocket.mp4", media.path("rocket.jpg"), 6, T_ROCKET, fps=10, size=(320, 240))
    data = tmp_path / "memory"
    mem = Memory(data)
    assert mem.import_paths(files).imported == 3
    mem.transcribe_pending()
    synced = sync_source(mem, FolderSource(card))
    assert synced.ok and synced.imported == 1, synced.to_json()
    person = max(mem.people(), key=lambda p: p.faces)
    mem.name_person(person.id, NAME)

    def episode_at(t: datetime) -> str:
        return next(e.id for e in mem.episodes() if abs((e.start - t).total_seconds()) < 60)

    return {"mem": mem, "data": data, "person": person.id, "talk": episode_at(T_TALK),
            "sign": episode_at(T_SIGN), "cat": episode_at(T_CAT), "rocket": episode_at(T_ROCKET)}


def _needles(m: dict[str, Any]) -> dict[str, bytes]:
    """What must be gone after forgetting the person, the sign's episode and the cat's day."""
    mem, store, vault = m["mem"], m["mem"].store, m["mem"].vault
    out: dict[str, bytes] = {"name": NAME.encode()}
    q = f"id = '{m['person']}'"
    out["name ciphertext"] = store.rows("people", q, columns=["name_enc"]).column("name_enc")[0].as_py()
    said = store.rows("utterances", f"speaker_id = '{m['person']}' OR episode_id = '{m['talk']}'",
                      columns=["text_enc"]).column("text_enc").to_pylist()
    assert said, "the person was heard"
    out["said ciphertext"] = said[0]
    quote = next(u.text for u in mem.episode_transcript(m["talk"]) if len(u.text) > 20)
    out["quote"] = quote[:20].encode()
    ocr = store.rows("ocr", f"episode_id = '{m['sign']}'", columns=["text_enc"]).column("text_enc").to_pylist()
    assert ocr, "the sign was read"
    out["ocr ciphertext"] = ocr[0]
    out["ocr words"] = b"PROHIBITED"
    for key in ("sign", "cat"):
        thumbs = [f.thumb_id for f in mem.episode_frames(m[key]) if f.thumb_id]
        out[f"{key} thumbnail blob"] = vault.blob_path(thumbs[0]).read_bytes()[16:80]
    crops = store.rows("faces", f"person_id = '{m['person']}'", columns=["crop_id"]).column("crop_id").to_pylist()
    out["face crop blob"] = vault.blob_path(crops[0]).read_bytes()[16:80]
    return out


def test_forget_a_person_an_episode_and_a_day_leaves_no_trace(memory: dict[str, Any]) -> None:
    data, m = memory["data"], memory
    needles = _needles(m)
    plaintext = {"name", "quote", "ocr words"}
    before = _found(data, needles)
    assert set(needles) - plaintext <= set(before), f"the scan cannot see: {set(needles) - set(before)}"
    assert not (plaintext & set(before)), "text is encrypted at rest"

    proc = run_cli(data, "forget", "--person", m["person"], "--preview", "--json")
    assert proc.returncode == 0, proc.stderr
    preview = json_doc(proc)
    assert preview["forgotten"] is False and preview["counts"]["people"] == 1 and preview["counts"]["faces"] > 0
    assert "1 person" in preview["summary"]
    for args in (["--person", m["person"]], ["--episode", m["sign"]], ["--day", T_CAT.date().isoformat()]):
        proc = run_cli(data, "forget", *args, "--yes", "--json")
        assert proc.returncode == 0, proc.stderr
        assert json_doc(proc)["forgotten"] is True

    assert _found(data, needles) == {}
    assert not list(data.rglob("*.pending"))

    # What should remain still answers; what was forgotten is not found.
    proc = run_cli(data, "ask", "when did I last see a rocket?", "--now", NOW, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["hits"], "the rocket was not forgotten"
    proc = run_cli(data, "ask", "when did I last see a cat?", "--now", NOW, "--json")
    assert json_doc(proc)["hits"] == []
    proc = run_cli(data, "people", "--json")
    assert all(p["id"] != m["person"] and p.get("name") != NAME for p in json_doc(proc))
    audit = json_doc(run_cli(data, "audit", "--json"))
    assert [a["target"] for a in audit] == ["person", "episode", "day"]
    assert NAME not in (data / "audit.log").read_text()

    # Everything: nothing left but empty tables and settings.
    proc = run_cli(data, "forget", "--everything", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(run_cli(data, "episodes", "--json")) == []
    rest = _found(data, {"rocket thumbnail": b"rocket"} | needles)
    assert rest == {}
    assert not (data / "originals").exists()
    blobs = [p for p in (data / "vault" / "blobs").rglob("*.bin")] if (data / "vault" / "blobs").exists() else []
    assert len(blobs) <= 1  # at most the blind index's key


def test_forget_refuses_unknown_ids_and_needs_confirmation(memory: dict[str, Any]) -> None:
    data = memory["data"]
    proc = run_cli(data, "forget", "--episode", "0123456789abcdef-e999", "--yes")
    assert proc.returncode == 2 and "no episode" in proc.stderr
    proc = run_cli(data, "forget", "--person", "nobody", "--yes")
    assert proc.returncode == 2 and "no person" in proc.stderr
    proc = run_cli(data, "forget", "--object", "unicornhorn", "--yes")
    assert proc.returncode == 2
    # not a terminal and no --yes: refused, nothing forgotten
    proc = run_cli(data, "forget", "--episode", memory["cat"], stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--yes" in proc.stderr
    assert any(e["id"] == memory["cat"] for e in json_doc(run_cli(data, "episodes", "--json")))


def test_a_killed_forget_is_finished_by_the_next_start(memory: dict[str, Any]) -> None:
    data = memory["data"]
    cmd = [sys.executable, "-m", "lifelog", "--data-dir", str(data), "forget", "--everything", "--yes"]
    proc = subprocess.Popen(cmd, env=cli_env(), stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "removing rows" in line:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    pending = (data / "forget.pending").exists()
    status = run_cli(data, "status", "--json")  # opening the memory finishes the forget
    assert status.returncode == 0, status.stderr
    assert not (data / "forget.pending").exists()
    assert json_doc(run_cli(data, "episodes", "--json")) == []
    if not pending:
        pytest.skip("the forget finished before it could be killed (nothing to finish)")


def test_a_forget_waits_for_an_import_holding_the_memory(memory: dict[str, Any]) -> None:
    from lifelog.store.lock import write_lock

    data = memory["data"]
    with write_lock(data):
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifelog", "--data-dir", str(data), "forget", "--episode", memory["cat"],
             "--yes", "--json"], env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, "forget must wait while another writer holds the memory"
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    assert all(e["id"] != memory["cat"] for e in json_doc(run_cli(data, "episodes", "--json")))


def test_retention_rules_remove_each_kind_when_due(memory: dict[str, Any]) -> None:
    from lifelog.api.settings import save_settings

    m, data = memory, memory["data"]
    mem = m["mem"]
    said = mem.store.rows("utterances", None, columns=["text_enc"]).column("text_enc").to_pylist()
    cut = datetime.fromisoformat(NOW) - timedelta(days=2)
    faces = mem.store.rows("faces", None, columns=["crop_id", "t"]).to_pylist()
    crops = [f["crop_id"] for f in faces if f["t"] < cut]
    talk_thumb = next(f.thumb_id for f in mem.episode_frames(m["talk"]) if f.thumb_id)
    from lifelog.store.originals import is_encrypted, kept_copy

    assert mem.episode_media(m["rocket"]).exists  # played from a decrypted copy of the kept original
    synced = mem.store.rows("media", "device IS NOT NULL", columns=["path"]).to_pylist()
    kept = kept_copy(data, synced[0]["path"])  # the kept original itself (encrypted)
    assert kept is not None and is_encrypted(kept)
    assert said and crops and kept.is_file() and data in kept.parents
    rules = {"faces_days": 2, "transcripts_days": 2, "thumbnails_days": 2, "originals_days": 1}
    save_settings(data, mem.settings.model_copy(update={"retention": mem.settings.retention.model_copy(update=rules)}))

    proc = run_cli(data, "retention", "--now", NOW, "--json")
    assert proc.returncode == 0, proc.stderr
    preview = json_doc(proc)
    assert preview["applied"] is False
    assert preview["counts"]["faces"] == len(crops) and preview["counts"]["utterances"] == len(said)
    assert preview["counts"]["originals"] == 1 and preview["counts"]["thumbnails"] > 0
    assert kept.is_file(), "a preview removes nothing"

    proc = run_cli(data, "retention", "--now", NOW, "--apply", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["applied"] is True
    assert not kept.exists(), "the copied footage is shredded"
    assert _found(data, {"said": said[0], "crop": mem.vault.blob_path(crops[0]).name.encode()}) == {}
    assert not mem.vault.blob_path(talk_thumb).exists()
    # The memory of those moments stays and still answers; the cat (recorded after the cut-off) keeps its pictures.
    proc = run_cli(data, "ask", "when did I last see a rocket?", "--now", NOW, "--json")
    assert json_doc(proc)["hits"], "the rocket's episode stays without its copied file"
    assert any(f.thumb_id for f in m["mem"].episode_frames(m["cat"]))
    assert json_doc(run_cli(data, "retention", "--now", NOW, "--json"))["counts"] == {
        "episodes": 0, "originals": 0, "thumbnails": 0, "utterances": 0, "faces": 0, "stranger_faces": 0}
    assert json_doc(run_cli(data, "audit", "--json"))[-1]["action"] == "purge"

    # Everything older than 2 days: the talk (14 May) is forgotten, the cat (15 May, 19:00) stays.
    save_settings(data, mem.settings.model_copy(update={"retention": mem.settings.retention.model_copy(
        update={"everything_days": 2})}))
    proc = run_cli(data, "retention", "--now", NOW, "--apply", "--json")
    assert proc.returncode == 0, proc.stderr
    ids = {e["id"] for e in json_doc(run_cli(data, "episodes", "--json"))}
    assert m["talk"] not in ids and m["sign"] not in ids and m["cat"] in ids

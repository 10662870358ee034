"""Issue #12 part 2: the trash (the app's everyday delete), proved on a real memory.

A memory made from real media — a person who speaks, a sign read by OCR, a cat on another day —
moves episodes to the trash: they leave every reader at once (episodes, days, Ask, objects,
people and their sightings, speech and OCR hits), come back identical on restore, and once
``retention.trash_days`` have passed the purge forgets them for good (a byte scan of the data dir
for the thumbnail blob's ciphertext, like test_forget). A trash operation waits for an import
holding the memory. The memory is built once for the module and copied for each test.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

SPEECH = "sense_and_sensibility_01_austen_64kb-0870.wav"
T_TALK = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T_SIGN = datetime(2024, 5, 14, 17, 0, tzinfo=UTC)
T_CAT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 17, 12, 0, tzinfo=UTC)
CAT = "when did I last see a cat?"

pytestmark = [pytest.mark.media, pytest.mark.slow]


def _found(root: Path, needle: bytes) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*")
            if p.is_file() and not p.is_symlink() and needle in p.read_bytes()]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    try:
        wav = media.path(SPEECH)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    mp = pytest.MonkeyPatch()
    mp.setenv("LIFELOG_PASSPHRASE", cli_env()["LIFELOG_PASSPHRASE"])
    root = tmp_path_factory.mktemp("trash")
    src = root / "footage"
    src.mkdir()
    files = [
        make_clip(src / "talk.mp4", media.path("obama.jpg"), 12, T_TALK, fps=10, size=(640, 480),
                  roi=[0.0, 0.0, 1.0, 0.55], audio_wav=[wav]),
        make_clip(src / "sign.mp4", media.path("scenetext01.jpg"), 4, T_SIGN, fps=10, size=(640, 480),
                  effect="static"),
        make_clip(src / "cat.mp4", media.path("chelsea.png"), 6, T_CAT, fps=10, size=(320, 240)),
    ]
    mem = Memory(root / "memory")
    assert mem.import_paths(files).imported == 3
    mem.transcribe_pending()
    person = max(mem.people(), key=lambda p: p.faces)

    def episode_at(t: datetime) -> str:
        return next(e.id for e in mem.episodes() if abs((e.start - t).total_seconds()) < 60)

    quote = next(u.text for u in mem.episode_transcript(episode_at(T_TALK)) if len(u.text) > 20)
    yield {"data": root / "memory", "person": person.id, "talk": episode_at(T_TALK), "sign": episode_at(T_SIGN),
           "cat": episode_at(T_CAT), "word": max(quote.split(), key=len).strip(".,;:!?\"'")}
    mp.undo()


@pytest.fixture
def memory(built: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from lifelog.api import Memory

    monkeypatch.setenv("LIFELOG_PASSPHRASE", cli_env()["LIFELOG_PASSPHRASE"])
    data = tmp_path / "memory"
    shutil.copytree(built["data"], data)
    (data / "write.lock").unlink(missing_ok=True)
    return {**built, "data": data, "mem": Memory(data)}


def _view(m: dict[str, Any]) -> dict[str, Any]:
    """What every reader shows (plain data, to compare before and after)."""
    from lifelog.ocr.search import ocr_episode_hits
    from lifelog.speech.recall import episode_hits

    mem = m["mem"]
    objects = [o.name for o in mem.objects()]
    return {
        "episodes": [e.to_json() for e in mem.episodes()],
        "days": mem.days(),
        "cat": [(h.episode_id, h.score) for h in mem.ask(CAT, now=NOW).hits],
        "objects": {name: [s.episode_id for s in mem.object_timeline(name)] for name in objects},
        "people": [(p.id, p.faces, p.episodes) for p in mem.people()],
        "sightings": [e.id for e in mem.person_episodes(m["person"])] if any(
            p.id == m["person"] for p in mem.people()) else [],
        "said": sorted(h.episode_id for h in episode_hits(mem.store, mem.vault, m["word"])),
        "read": sorted(h[0] for h in ocr_episode_hits(mem.store, mem.vault, "prohibited")),
    }


def test_trashed_episodes_leave_every_reader_and_come_back_identical(memory: dict[str, Any]) -> None:
    m, mem = memory, memory["mem"]
    before = _view(m)
    assert before["cat"] and before["cat"][0][0] == m["cat"]
    assert m["talk"] in before["sightings"] and m["talk"] in before["said"]
    assert before["read"] == [m["sign"]], "the sign was read"
    cat_objects = {n for n, eps in before["objects"].items() if m["cat"] in eps}

    entry = mem.trash_episodes([m["cat"]], now=NOW)
    assert entry is not None and [e.id for e in entry.episodes] == [m["cat"]]
    day = mem.trash_day(m["mem"].episodes()[0].start.date(), now=NOW)  # the talk and the sign
    assert day is not None and day.kind == "day" and {m["talk"], m["sign"]} <= {e.id for e in day.episodes}

    hidden = _view(m)
    gone = {m["cat"], m["talk"], m["sign"]}
    assert not gone & {e["id"] for e in hidden["episodes"]}
    assert hidden["days"] == [] and hidden["cat"] == []
    assert not any(gone & set(eps) for eps in hidden["objects"].values())
    assert not cat_objects & {n for n, eps in hidden["objects"].items() if eps}
    assert hidden["people"] == [] and hidden["sightings"] == []
    assert hidden["said"] == [] and hidden["read"] == []
    # the trash itself lists them, newest first, with their summaries
    listed = mem.trash()
    assert [t.id for t in listed] == [day.id, entry.id]
    assert listed[1].episodes[0].summary == entry.episodes[0].summary
    assert listed[1].purge_at - listed[1].at == timedelta(days=mem.settings.retention.trash_days)

    # restore by entry id (the day) and by episode id (the cat): identical to before
    assert sorted(mem.restore_from_trash([day.id, m["cat"]])) == sorted(gone)
    assert mem.trash() == []
    assert _view(m) == before
    assert not (m["data"] / "trash.json").exists()


def test_purge_after_trash_days_forgets_for_good(memory: dict[str, Any]) -> None:
    from lifelog.api.errors import ForgetError

    m, mem, data = memory, memory["mem"], memory["data"]
    thumb = next(f.thumb_id for f in mem.episode_frames(m["cat"]) if f.thumb_id)
    needle = mem.vault.blob_path(thumb).read_bytes()[16:80]
    assert _found(data, needle), "the scan sees the thumbnail's ciphertext"
    mem.trash_episodes([m["cat"]], now=NOW)
    talk = mem.trash_episodes([m["talk"]], now=NOW + timedelta(days=20))
    assert talk is not None
    with pytest.raises(ForgetError):
        mem.restore_from_trash(["nothing-like-this"])

    listed = json_doc(run_cli(data, "trash", "--json"))
    assert [t["episodes"][0]["id"] for t in listed] == [m["talk"], m["cat"]]
    # 29 days on nothing is due; the thumbnail is still there (restorable)
    later = (NOW + timedelta(days=29)).isoformat()
    proc = run_cli(data, "retention", "--now", later, "--apply", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["trash"] == 0 and _found(data, needle)
    # 31 days on the cat's time in the trash is over: retention forgets it for good, the talk stays
    later = (NOW + timedelta(days=31)).isoformat()
    preview = json_doc(run_cli(data, "retention", "--now", later, "--json"))
    assert preview["trash"] == 1 and "1 episode from the trash" in preview["summary"]
    proc = run_cli(data, "retention", "--now", later, "--apply", "--json")
    assert proc.returncode == 0, proc.stderr
    assert _found(data, needle) == []
    assert not mem.vault.blob_path(thumb).exists()
    assert [t["episodes"][0]["id"] for t in json_doc(run_cli(data, "trash", "--json"))] == [m["talk"]]
    assert json_doc(run_cli(data, "audit", "--json"))[-1]["target"] == "trash"

    # the CLI restores by id, and empties the trash (asks first)
    proc = run_cli(data, "trash", "restore", talk.id, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["restored"] == [m["talk"]]
    assert m["talk"] in {e["id"] for e in json_doc(run_cli(data, "episodes", "--json"))}
    assert run_cli(data, "trash", "restore", talk.id).returncode == 2
    mem.trash_episodes([m["sign"]])
    proc = run_cli(data, "trash", "empty", stdin=subprocess.DEVNULL)
    assert proc.returncode == 2 and "--yes" in proc.stderr
    proc = run_cli(data, "trash", "empty", "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["emptied"] is True and json_doc(run_cli(data, "trash", "--json")) == []
    assert mem.episode(m["sign"]) is None and mem.episode(m["talk"]) is not None


def test_a_trash_operation_waits_for_an_import_holding_the_memory(memory: dict[str, Any]) -> None:
    from lifelog.api.errors import WriteLockBusy
    from lifelog.store.lock import write_lock

    m, mem, data = memory, memory["mem"], memory["data"]
    mem.trash_episodes([m["cat"]], now=NOW)
    with write_lock(data):
        with pytest.raises(WriteLockBusy):
            mem.trash_episodes([m["sign"]])
        proc = subprocess.Popen(
            [sys.executable, "-m", "lifelog", "--data-dir", str(data), "trash", "restore", m["cat"], "--json"],
            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None, "a trash operation must wait while another writer holds the memory"
        assert m["cat"] not in {e.id for e in mem.episodes()}
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert m["cat"] in {e.id for e in mem.episodes()}

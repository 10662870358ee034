"""End to end through the CLI: a real speech clip muxed into real footage is imported (visual
index, then transcription) and `lifelog ask` answers what was said with the quote and its time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

LIBRIVOX_870 = "sense_and_sensibility_01_austen_64kb-0870.wav"  # "... Mr. John Dashwood had then leisure ..."


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LIFELOG_PASSPHRASE": "test passphrase", "TZ": "UTC"}
    return subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data_dir), *args],
                          capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="module")
def memory_with_speech(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifelog.sample.compose import make_clip

    root = tmp_path_factory.mktemp("speech-ask")
    try:
        wav = media.path(LIBRIVOX_870)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    clip = make_clip(root / "meeting.mp4", media.path("obama.jpg"), 12,
                     datetime(2024, 5, 14, 15, 0, tzinfo=UTC), fps=10, size=(320, 240), audio_wav=[wav])
    other = make_clip(root / "cat.mp4", media.path("chelsea.png"), 6,
                      datetime(2024, 5, 14, 18, 0, tzinfo=UTC), fps=10, size=(320, 240))
    data = root / "memory"
    out = _cli(data, "import", str(clip), str(other), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["imported"] == 2
    assert any(t["status"] == "done" and t["utterances"] >= 1 for t in doc["transcripts"]), doc["transcripts"]
    return data


def test_ask_finds_what_was_said_with_quote_and_time(memory_with_speech: Path) -> None:
    out = _cli(memory_with_speech, "ask", "did anyone mention Dashwood?", "--now", "2024-05-14T20:00:00+00:00",
               "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["hits"], doc
    top = doc["hits"][0]
    ev = [e for e in top["evidence"] if e["kind"] == "transcript"]
    assert ev and "Dashwood" in ev[0]["text"], top
    said = datetime.fromisoformat(ev[0]["time"])
    # make_clip starts the speech one second into the clip recorded at 15:00:00 UTC
    assert abs((said - datetime(2024, 5, 14, 15, 0, 1, tzinfo=UTC)).total_seconds()) < 2.0
    assert datetime.fromisoformat(top["start"]) <= said <= datetime.fromisoformat(top["end"])
    assert "Dashwood" in doc["answer"]


def test_ask_by_meaning_and_nothing_for_unsaid_topics(memory_with_speech: Path) -> None:
    out = _cli(memory_with_speech, "ask", "when did someone talk about the dentist?", "--now",
               "2024-05-14T20:00:00+00:00", "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["hits"] == [], doc
    assert "nothing" in doc["answer"].lower()
    # the visual memory is unaffected by the speech path
    out = _cli(memory_with_speech, "ask", "when did I last see a cat?", "--now", "2024-05-14T20:00:00+00:00",
               "--json")
    doc = json.loads(out.stdout)
    assert doc["hits"] and doc["hits"][0]["start"].startswith("2024-05-14T18:00")

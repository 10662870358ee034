"""Issue #20: after the things that decrypt — ``lifelog ask --json``, the app's Ask, a device
sync — no decrypted image or text of the memory is anywhere on the filesystem outside the
memory's own folder.

The scan reads every regular file written since the test started, on the whole filesystem
(``/proc``, ``/sys`` and ``/dev`` aside), and looks for the memory's decrypted thumbnails and
the words it transcribed. Other lifelog memories (other tests' data dirs, which may hold the
same sample footage) are left out: they are not this memory.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from helpers import cli_env, json_doc, run_cli

pytest.importorskip("PySide6")

SPEECH = "sense_and_sensibility_01_austen_64kb-0870.wav"
NOW = "2024-05-16T12:00:00+00:00"
SKIP_ROOTS = ("/proc", "/sys", "/dev")
MAX_BYTES = 200 * 1024 * 1024


def _is_memory(d: str, names: list[str]) -> bool:
    return "vault" in names and "db" in names


def _recent_files(since: float, exclude: Path) -> list[str]:
    out: list[str] = []
    excluded = str(exclude.resolve())
    for root, dirs, files in os.walk("/", followlinks=False):
        if root.startswith(SKIP_ROOTS) or root.startswith(excluded) or _is_memory(root, dirs):
            dirs[:] = []
            continue
        for name in files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_mtime >= since and st.st_size < MAX_BYTES and os.path.isfile(p) and not os.path.islink(p):
                out.append(p)
    return out


def _needles(mem: Any) -> dict[str, bytes]:
    """Slices of every decrypted thumbnail (past the JPEG header) and of what was said."""
    found: dict[str, bytes] = {}
    for e in mem.episodes():
        for f in mem.episode_frames(e.id):
            if f.thumb_id:
                jpeg = mem.thumbnail(f.thumb_id)
                mid = len(jpeg) // 2
                found[f"thumbnail {f.thumb_id}"] = jpeg[mid:mid + 48]
        for u in mem.episode_transcript(e.id):
            if len(u.text) >= 24:
                found[f"transcript of {e.id}"] = u.text[:24].encode()
    return found


@pytest.mark.media
@pytest.mark.slow
def test_nothing_decrypted_outside_the_memory(
    tmp_path: Path, media: Any, models_ready: None, qtbot: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lifelog.api import Memory
    from lifelog.api.devices import FolderSource, sync_source
    from lifelog.sample.compose import make_clip  # test data only
    from ui.app import MainWindow

    try:
        wav = media.path(SPEECH)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    src = tmp_path / "footage"
    src.mkdir()
    cat = make_clip(src / "cat.mp4", media.path("chelsea.png"), 6, datetime(2024, 5, 15, 19, 0, tzinfo=UTC),
                    fps=10, size=(320, 240))
    talk = make_clip(src / "talk.mp4", media.path("obama.jpg"), 10, datetime(2024, 5, 15, 15, 0, tzinfo=UTC),
                     fps=10, size=(640, 480), audio_wav=[wav])
    card = tmp_path / "card"
    card.mkdir()
    make_clip(card / "rocket.mp4", media.path("rocket.jpg"), 6, datetime(2024, 5, 15, 9, 0, tzinfo=UTC),
              fps=10, size=(320, 240))
    data = tmp_path / "memory"
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("LIFELOG_PASSPHRASE", cli_env()["LIFELOG_PASSPHRASE"])

    mem = Memory(data)
    assert mem.import_paths([cat, talk]).imported == 2
    mem.transcribe_pending()

    time.sleep(1.1)  # file times have a resolution: everything from here on is newer
    since = time.time()

    # 1. the CLI's ask with thumbnails as files
    proc = run_cli(data, "ask", "when did I last see a cat?", "--now", NOW, "--json", env=cli_env(XDG_RUNTIME_DIR=None))
    assert proc.returncode == 0, proc.stderr
    assert any(ev["thumbnail"] for h in json_doc(proc)["hits"] for ev in h["evidence"])
    proc = run_cli(data, "ask", "what did someone say about Dashwood?", "--now", NOW, "--json",
                   env=cli_env(XDG_RUNTIME_DIR=None))
    assert proc.returncode == 0, proc.stderr

    # 2. the app's Ask, thumbnails shown
    win = MainWindow(Memory(data), now=datetime(2024, 5, 16, 12, 0, tzinfo=UTC))
    qtbot.addWidget(win)
    win.show()
    ask = win.page("ask")
    win.navigate("ask")
    qtbot.keyClicks(ask.box, "when did I last see a cat?")
    qtbot.keyClick(ask.box, "\r")
    qtbot.waitUntil(lambda: ask.result is not None, timeout=60000)
    assert ask.hits.count() >= 1
    qtbot.waitUntil(lambda: not ask.hits.item(0).icon().isNull(), timeout=60000)
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=60000)

    # 3. a device sync (a folder paired as a device)
    res = sync_source(mem, FolderSource(card))
    assert res.ok and res.imported == 1, res.to_json()

    needles = _needles(Memory(data))
    assert any(k.startswith("thumbnail") for k in needles) and any(k.startswith("transcript") for k in needles)
    # a planted copy of one decrypted slice proves the scan sees new files and finds what it seeks
    planted = (tmp_path / "planted-by-the-test.bin").resolve()
    what_planted, needle_planted = next(iter(needles.items()))
    planted.write_bytes(b"\0" * 100 + needle_planted + b"\0" * 100)
    leaks: list[str] = []
    for p in _recent_files(since, data):
        try:
            blob = Path(p).read_bytes()
        except OSError:
            continue
        leaks += [f"{what} in {p}" for what, needle in needles.items() if needle in blob]
    assert f"{what_planted} in {planted}" in leaks, "the scan must find the slice the test planted"
    leaks.remove(f"{what_planted} in {planted}")
    assert leaks == [], "\n".join(leaks[:20])

"""File ▸ Export memory… and File ▸ Import archive… (issue #12 part 4, ``ui/archive.py``), offscreen
against a small real memory made from two real clips (a cat and a rocket on one day).

The dialogs are driven like a user would, without the system's file pickers (the path is typed
into the dialog's line): an export imported into a second window's fresh memory shows the same
episodes there; Cancel during an encrypted export leaves neither the file nor a partial; a
tampered archive and a wrong passphrase are refused with the reason in the dialog and nothing
imported. The memory is built once for the module and copied for each test.
"""

from __future__ import annotations

import json
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

pytestmark = [pytest.mark.media]

NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)
WAIT = 60000
PASS = "correct horse battery staple"


@pytest.fixture(scope="module")
def built(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    root = tmp_path_factory.mktemp("ui-archive")
    files = [make_clip(root / name, media.path(src), 4, at, fps=10, size=(320, 240))
             for name, src, at in (("cat.mp4", "chelsea.png", datetime(2024, 5, 14, 9, 0, tzinfo=UTC)),
                                   ("rocket.mp4", "rocket.jpg", datetime(2024, 5, 14, 12, 0, tzinfo=UTC)))]
    mem = Memory(root / "memory")
    assert mem.import_paths(files).imported == 2
    return root / "memory"


@pytest.fixture
def data_dir(built: Path, tmp_path: Path) -> Path:
    d = tmp_path / "memory"
    shutil.copytree(built, d)
    (d / "write.lock").unlink(missing_ok=True)
    return d


def _open(data_dir: Path, qtbot: Any) -> Any:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data_dir), now=NOW)
    qtbot.addWidget(win)
    win.show()
    qtbot.waitExposed(win)
    return win


def _idle(win: Any, qtbot: Any) -> None:
    qtbot.waitUntil(lambda: not win.tasks.busy(), timeout=WAIT)


def _episodes(data_dir: Path) -> list[dict[str, Any]]:
    from lifelog.api import Memory

    return [e.to_json() for e in Memory(data_dir).episodes()]


def _click(qtbot: Any, button: Any) -> None:
    from ui.qt import Qt

    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_export_then_import_into_another_window_shows_the_same_episodes(
        data_dir: Path, tmp_path: Path, qtbot: Any) -> None:
    win = _open(data_dir, qtbot)
    _idle(win, qtbot)
    shown = _episodes(data_dir)
    assert len(shown) >= 2
    win.export_action.trigger()
    dlg = win.archiver.dialog
    assert dlg is not None and dlg.objectName() == "export_dialog" and dlg.isVisible()
    _click(qtbot, dlg.go_button)  # nowhere chosen yet
    assert dlg.error.isVisible() and "Choose where" in dlg.error.text() and not dlg.running
    dest = tmp_path / "export"
    dlg.dest_edit.setText(str(dest))
    _click(qtbot, dlg.go_button)
    qtbot.waitUntil(lambda: win.archiver.dialog is None and win.archiver.job is None, timeout=WAIT)
    assert (dest / "manifest.json").is_file()
    assert str(dest) in win.statusBar().currentMessage()
    assert win.statusBar().currentMessage().startswith(f"Exported {len(shown)} episodes")
    assert any(getattr(r, "stage", "") == "done" for r in dlg.reports)  # progress reached the dialog
    _idle(win, qtbot)

    other = tmp_path / "other"
    win2 = _open(other, qtbot)
    _idle(win2, qtbot)
    assert _episodes(other) == []
    tl = win2.page("timeline")
    dlg2 = win2.archiver.import_dialog(win2, src=dest)
    assert dlg2 is not None and dlg2.objectName() == "import_dialog" and dlg2.src_edit.text() == str(dest)
    _click(qtbot, dlg2.go_button)
    qtbot.waitUntil(lambda: win2.archiver.dialog is None and win2.archiver.job is None, timeout=WAIT)
    assert win2.statusBar().currentMessage().startswith(f"Imported {len(shown)} episodes"), \
        win2.statusBar().currentMessage()
    assert _episodes(other) == shown
    qtbot.waitUntil(lambda: len(tl.all_days) == 1, timeout=WAIT)  # the page read the memory again
    _idle(win2, qtbot)
    _idle(win, qtbot)


def test_cancel_during_an_encrypted_export_leaves_nothing(
        data_dir: Path, tmp_path: Path, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from ui.qt import QDate

    win = _open(data_dir, qtbot)
    _idle(win, qtbot)
    real = win.memory.export
    reached = threading.Event()

    def held_export(dest: Path, start: Any, end: Any, *, passphrase: str | None, progress: Any,
                    cancel: threading.Event) -> Any:
        def report(p: Any) -> None:
            progress(p)
            if p.files_done == 2:  # the real export is half-way: hold it until Cancel is pressed
                reached.set()
                cancel.wait(30)

        return real(dest, start, end, passphrase=passphrase, progress=report, cancel=cancel)

    monkeypatch.setattr(win.memory, "export", held_export)
    out = tmp_path / "out"
    out.mkdir()
    dest = out / "memory.llxa"
    dlg = win.archiver.export_dialog(win, dest=dest)
    assert dlg is not None and not dlg.pass1.isEnabled()
    dlg.encrypted_box.setChecked(True)
    assert dlg.pass1.isEnabled() and dlg.pass2.isEnabled()
    dlg.pass1.setText(PASS)
    dlg.pass2.setText(PASS + "!")
    _click(qtbot, dlg.go_button)
    assert "differ" in dlg.error.text() and not dlg.running
    dlg.pass2.setText(PASS)
    dlg.range_box.setChecked(True)  # the whole of 14 May
    dlg.from_edit.setDate(QDate(2024, 5, 13))
    dlg.to_edit.setDate(QDate(2024, 5, 15))
    _click(qtbot, dlg.go_button)
    assert dlg.running and not dlg.go_button.isVisible() and not dlg.dest_edit.isEnabled()
    qtbot.waitUntil(reached.is_set, timeout=WAIT)
    qtbot.waitUntil(lambda: bool(dlg.reports), timeout=WAIT)
    assert dlg.progress.isVisible()
    _click(qtbot, dlg.cancel_button)
    qtbot.waitUntil(lambda: win.archiver.job is None, timeout=WAIT)
    assert "cancelled" in win.statusBar().currentMessage() and "nothing was left" in dlg.error.text()
    assert list(out.iterdir()) == []  # neither the archive nor a .partial-*
    assert dlg.isVisible() and not dlg.running and dlg.go_button.isVisible()  # back to the form
    _click(qtbot, dlg.cancel_button)  # now it closes
    qtbot.waitUntil(lambda: win.archiver.dialog is None, timeout=WAIT)
    _idle(win, qtbot)


def test_a_tampered_archive_and_a_wrong_passphrase_are_refused(
        data_dir: Path, tmp_path: Path, qtbot: Any) -> None:
    from lifelog.api import Memory

    source = Memory(data_dir)
    plain, sealed = tmp_path / "plain", tmp_path / "sealed.llxa"
    source.export(plain)
    source.export(sealed, passphrase=PASS)
    episodes = plain / "data" / "episodes.json"
    doc = json.loads(episodes.read_text())
    doc[0]["summary"] = doc[0]["summary"][::-1]  # same size, different bytes
    episodes.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))

    other = tmp_path / "other"
    win = _open(other, qtbot)
    _idle(win, qtbot)
    dlg = win.archiver.import_dialog(win, src=plain)
    assert dlg is not None
    _click(qtbot, dlg.go_button)
    qtbot.waitUntil(lambda: win.archiver.job is None and not dlg.running, timeout=WAIT)
    assert dlg.error.isVisible() and dlg.error.text().startswith("Refused:"), dlg.error.text()
    assert "Nothing was imported" in dlg.error.text()
    assert _episodes(other) == []

    dlg.src_edit.setText(str(sealed))
    _click(qtbot, dlg.go_button)  # no passphrase given
    qtbot.waitUntil(lambda: win.archiver.job is None and not dlg.running, timeout=WAIT)
    assert "encrypted: enter its passphrase" in dlg.error.text()
    dlg.pass_edit.setText("not the passphrase")
    _click(qtbot, dlg.go_button)
    qtbot.waitUntil(lambda: win.archiver.job is None and not dlg.running, timeout=WAIT)
    assert dlg.error.text().startswith("Wrong passphrase"), dlg.error.text()
    assert _episodes(other) == []

    dlg.pass_edit.setText(PASS)
    _click(qtbot, dlg.go_button)
    qtbot.waitUntil(lambda: win.archiver.dialog is None and win.archiver.job is None, timeout=WAIT)
    assert _episodes(other) == _episodes(data_dir)
    _idle(win, qtbot)

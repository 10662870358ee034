"""The Settings page and the first-run welcome, on real memories.

Settings: bad values are shown inline with the model's message and nothing is written; good
values are persisted through the core's settings model and used by the next import; the models
in use are the ones that made the stored vectors; the memory folder chosen for the next start
is remembered outside the memory. Welcome: shown only for an empty, never-opened memory; "Load
the sample days" composes and imports real sample footage on the write thread.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers import Library, library, store_rows, tmpfs
from test_ui_import import _fast_settings

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("models_ready")


@pytest.fixture(scope="session")
def lib(tmp_path_factory: pytest.TempPathFactory, media: Any) -> Library:
    return library(tmp_path_factory, media)


def _settings_page(qtbot: Any, data_dir: Path) -> Any:
    from lifelog.api import Memory
    from ui.context import AppContext
    from ui.pages.settings import Page
    from ui.tasks import Tasks

    mem = Memory(data_dir)
    tasks = Tasks()
    page = Page(AppContext(mem, tasks))
    qtbot.addWidget(page)
    page.tasks = tasks
    return page


def _set(page: Any, section: str, name: str, text: str) -> None:
    page.fields[(section, name)].widget.setText(text)


def _error(page: Any, section: str, name: str) -> str:
    return str(page.fields[(section, name)].error.text())


def test_invalid_values_are_shown_inline_and_nothing_is_saved(qtbot: Any, data_dir: Path) -> None:
    page = _settings_page(qtbot, data_dir)
    settings_file = data_dir / "settings.json"
    assert not settings_file.exists()
    _set(page, "capture", "sample_interval_s", "fast")
    _set(page, "episodes", "gap_s", "0")
    _set(page, "", "timezone", "Mars/Olympus_Mons")
    page.save_button.click()
    assert "valid number" in _error(page, "capture", "sample_interval_s")
    assert "greater than or equal to 1" in _error(page, "episodes", "gap_s")
    assert "unknown time zone" in _error(page, "", "timezone")
    assert page.fields[("capture", "sample_interval_s")].error.isVisibleTo(page)
    assert "Not saved" in page.saved_label.text()
    page.tasks.wait_idle()
    assert not settings_file.exists(), "invalid settings were written"

    # each value fine on its own, but the pair breaks a rule of the model: shown for the section
    page.revert()
    _set(page, "capture", "sample_interval_s", "20")
    _set(page, "capture", "max_gap_s", "5")
    page.save_button.click()
    assert "max_gap_s must be at least sample_interval_s" in page.section_errors["capture"].text()
    assert page.section_errors["capture"].isVisibleTo(page)
    page.tasks.wait_idle()
    assert not settings_file.exists()
    # Revert shows the stored values again
    page.revert()
    assert page.fields[("capture", "sample_interval_s")].widget.text() == "2"
    assert not page.section_errors["capture"].isVisibleTo(page)


def test_valid_values_are_persisted_and_used_by_the_next_import(qtbot: Any, data_dir: Path, lib: Library) -> None:
    page = _settings_page(qtbot, data_dir)
    _set(page, "capture", "sample_interval_s", "4.5")
    _set(page, "capture", "max_gap_s", "30")
    _set(page, "capture", "ocr_interval_s", "0")
    page.fields[("capture", "faces")].widget.setChecked(False)
    _set(page, "episodes", "gap_s", "300")
    page.fields[("speech", "model")].widget.setCurrentText("base")
    _set(page, "", "timezone", "Europe/Berlin")
    page.save_button.click()
    qtbot.waitUntil(lambda: page.saved_label.text().startswith("Saved"), timeout=30_000)

    from lifelog.api import Memory
    from lifelog.config import load_settings

    stored = json.loads((data_dir / "settings.json").read_text())
    assert stored["capture"]["sample_interval_s"] == 4.5 and stored["capture"]["faces"] is False
    reloaded = load_settings(data_dir)  # as the next start reads them
    assert reloaded.capture.max_gap_s == 30 and reloaded.episodes.gap_s == 300
    assert reloaded.speech.model == "base" and reloaded.timezone == "Europe/Berlin"
    assert page.ctx.memory.settings == reloaded  # the running app uses them too
    # faces off: an import through this memory stores no faces
    assert page.ctx.memory.import_paths([lib.cat_morning]).imported == 1
    assert Memory(data_dir).store.count("faces") == 0
    # the models shown are the ones recorded with the stored vectors
    qtbot.waitUntil(lambda: bool(page.models), timeout=60_000)
    shown = {m.what: m.name for m in page.models}
    recorded = {r["model"] for r in store_rows(data_dir, "frames", ["model"])}
    assert recorded == {shown["Visual encoder"]}
    assert shown["Faces"].startswith("off") and shown["Text in images (OCR)"].startswith("off")
    assert shown["Speech"] == "faster-whisper base"


def test_saving_into_a_read_only_memory_says_so(qtbot: Any, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "16m") as mnt:
        data = mnt / "memory"
        _fast_settings(data)
        before = (data / "settings.json").read_bytes()
        page = _settings_page(qtbot, data)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        try:
            _set(page, "episodes", "gap_s", "60")
            page.save_button.click()
            qtbot.waitUntil(lambda: page.saved_label.text().startswith("Not saved"), timeout=30_000)
            assert "read-only" in page.saved_label.text()
            assert "previous settings are unchanged" in page.saved_label.text()
            assert (data / "settings.json").read_bytes() == before
        finally:
            page.tasks.wait_idle()
            subprocess.run(["mount", "-o", "remount,rw", str(mnt)], check=True)


def test_another_memory_folder_is_remembered_for_the_next_start(
    qtbot: Any, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    from lifelog.config import chosen_data_dir, location_file

    assert chosen_data_dir() is None
    page = _settings_page(qtbot, data_dir)
    other = tmp_path / "elsewhere" / "memory"
    page.use_folder_next_time(other)
    qtbot.waitUntil(lambda: "next start" in page.folder_note.text(), timeout=30_000)
    assert location_file().is_relative_to(tmp_path / "config")
    assert chosen_data_dir() == other.resolve()
    assert page.folder_label.text() == str(data_dir)  # the running app keeps its memory
    # a damaged location file is ignored (the default is used), never a crash
    location_file().write_text("{not json")
    assert chosen_data_dir() is None


# --------------------------------------------------------------------------- first run
def _window(qtbot: Any, data_dir: Path) -> Any:
    from lifelog.api import Memory
    from ui.app import MainWindow

    win = MainWindow(Memory(data_dir))
    qtbot.addWidget(win)
    return win


def test_welcome_only_on_an_empty_never_opened_memory(qtbot: Any, data_dir: Path, lib: Library,
                                                      tmp_path: Path) -> None:
    win = _window(qtbot, data_dir)
    qtbot.waitUntil(lambda: win.current_key() == "welcome", timeout=30_000)
    welcome = win.page("welcome")
    assert str(data_dir) in welcome.where.text()
    assert "Nothing leaves this machine" in welcome.where.text()
    assert "encrypted" in welcome.where.text() and "passphrase" in welcome.where.text()  # tests use one
    welcome.empty_button.click()
    assert win.current_key() == "timeline"
    win.tasks.wait_idle()
    assert (data_dir / "app-opened").is_file()
    win.close()
    # opened before: the empty memory starts on the timeline
    again = _window(qtbot, data_dir)
    again.tasks.wait_idle()
    qtbot.wait(50)  # let the queued first-run answer arrive
    assert again.current_key() == "timeline"
    again.close()
    # a memory with footage never shows the welcome, marker or not
    other = tmp_path / "full"
    _fast_settings(other)
    from lifelog.api import Memory

    assert Memory(other).import_paths([lib.cat_morning]).imported == 1
    third = _window(qtbot, other)
    third.tasks.wait_idle()
    qtbot.wait(50)
    assert third.current_key() == "timeline"
    assert not (other / "app-opened").exists()
    third.close()


def test_load_the_sample_day_from_the_welcome(qtbot: Any, data_dir: Path, tmp_path: Path, media: Any) -> None:
    _fast_settings(data_dir)
    from lifelog.api import Memory
    from lifelog.config import load_settings, save_settings
    from ui.context import AppContext
    from ui.pages.welcome import Page
    from ui.tasks import Tasks

    s = load_settings(data_dir)
    s.speech.enabled = False  # speech has its own tests; keep this one short
    save_settings(data_dir, s)
    mem = Memory(data_dir)
    went: list[tuple[str, dict[str, Any]]] = []
    changed: list[str] = []
    tasks = Tasks()
    ctx = AppContext(mem, tasks, navigate=lambda key, **kw: went.append((key, kw)), changed=changed.append)
    page = Page(ctx, sample_days=["2024-05-15"], sample_dir=tmp_path / "sample")
    qtbot.addWidget(page)
    page.sample_button.click()
    assert not page.sample_button.isEnabled() and not page.cancel_button.isHidden()
    qtbot.waitUntil(lambda: page.result is not None or "could not" in page.state.text(), timeout=300_000)
    assert page.result is not None, page.state.text()
    gt = json.loads((tmp_path / "sample" / "ground_truth.json").read_text())
    n_files = len(gt["files"])
    assert page.result.imported == n_files and not page.result.failed
    assert "sample days are in your memory" in page.state.text()
    assert changed == ["episodes"]
    from datetime import date

    assert went[-1] == ("timeline", {"day": date(2024, 5, 15)})
    assert Memory(data_dir).episodes(date(2024, 5, 15)), "the sample day has no episodes"
    assert (data_dir / "app-opened").is_file()
    tasks.wait_idle()


def test_durations_say_their_unit(qtbot: Any, data_dir: Path) -> None:
    """A number without a unit is a guess: every duration field's label says it is in seconds."""
    from lifelog.api import Memory
    from ui.context import AppContext
    from ui.pages.settings import Page as SettingsPage
    from ui.tasks import Tasks

    tasks = Tasks()
    page = SettingsPage(AppContext(Memory(data_dir), tasks))
    qtbot.addWidget(page)
    titles = {f.name: f.title for f in page.fields.values()}
    assert titles["sample_interval_s"].endswith("(seconds)")
    assert titles["gap_s"].endswith("(seconds)")
    assert not titles["faces"].endswith("(seconds)")
    tasks.wait_idle()

"""The image-text model section's engine choice (issue #22): re-index on this process or on Ray.

Driven offscreen with a real memory (real media, the tiny CLIP-family model the tests generate,
installed the real way). Without Ray installed the choice is disabled and the section says how to
get it; with Ray (one local Ray for this module, shut down at its end: a Ray left up hung later Qt
tests), the re-index runs on Ray with progress in the bar, Cancel stops it, and the next run
finishes the work.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("PySide6")

from helpers_tiny_clip import TinyModel, make_tiny_model, write_manifest

WAIT = 120000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyModel:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "files")


@pytest.fixture(scope="module")
def made(media: Any, models_ready: None, tmp_path_factory: pytest.TempPathFactory,
         tiny: TinyModel) -> tuple[Path, Path]:
    """A memory of real media with the tiny model installed and in use, nothing re-indexed yet."""
    import os

    from helpers import library

    from lifelog.api import Memory
    from lifelog.encoders.install import install_model
    from lifelog.encoders.registry import spec

    lib = library(tmp_path_factory, media)
    root = tmp_path_factory.mktemp("ui-engine")
    d = root / "memory"
    d.mkdir()
    (d / "settings.json").write_text(json.dumps({"capture": {"faces": False, "ocr_interval_s": 0}}))
    assert Memory(d).import_paths([lib.cat_morning, lib.rocket, lib.coffee_jpg]).imported == 3
    manifest = write_manifest(root / "m.json", tiny.entry())
    old = os.environ.get("LIFELOG_MODELS_MANIFEST")
    os.environ["LIFELOG_MODELS_MANIFEST"] = str(manifest)
    try:
        install_model(d, spec("tiny-clip"))
    finally:
        if old is None:
            os.environ.pop("LIFELOG_MODELS_MANIFEST", None)
        else:
            os.environ["LIFELOG_MODELS_MANIFEST"] = old
    return d, manifest


@pytest.fixture
def memory_dir(made: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import shutil

    monkeypatch.setenv("LIFELOG_MODELS_MANIFEST", str(made[1]))
    return Path(shutil.copytree(made[0], tmp_path / "memory"))


@pytest.fixture
def settle(qtbot: Any) -> Iterator[list[Any]]:
    wins: list[Any] = []
    yield wins
    for w in wins:
        qtbot.waitUntil(lambda w=w: not w.tasks.busy(), timeout=WAIT)


def _section(memory_dir: Path, qtbot: Any, settle: list[Any]) -> Any:
    from lifelog.api import Memory
    from ui.app import MainWindow, PageSpec
    from ui.pages.settings import Page

    win = MainWindow(Memory(memory_dir), pages=[PageSpec("settings", "Settings", Page)])
    qtbot.addWidget(win)
    settle.append(win)
    win.show()
    qtbot.waitExposed(win)
    win.navigate("settings")
    sec = win.page("settings").image_models
    qtbot.waitUntil(lambda: sec.state is not None, timeout=WAIT)
    return sec


def _click(qtbot: Any, button: Any) -> None:
    from ui.qt import Qt

    assert button.isEnabled() and button.isVisible()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_without_ray_the_choice_is_disabled_and_says_how_to_get_it(
    memory_dir: Path, qtbot: Any, settle: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed: `import ray` fails
    sec = _section(memory_dir, qtbot, settle)
    assert sec.state.ray is False and sec.state.to_reindex > 0
    assert not sec.engine.isEnabled() and sec.engine.currentData() == "local"
    assert not sec.address.isEnabled()
    assert sec.engine_note.isVisible() and "pip install 'lifelog[scale]'" in sec.engine_note.text()
    assert sec.reindex_btn.isEnabled()  # the local engine still works


def test_reindex_on_ray_with_progress_cancel_and_resume(
    memory_dir: Path, qtbot: Any, settle: list[Any]
) -> None:
    ray = pytest.importorskip("ray", reason="Ray is in the scale extra")
    from lifelog.api import Memory

    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        sec = _section(memory_dir, qtbot, settle)
        assert sec.state.ray and sec.engine.isEnabled() and not sec.engine_note.isVisible()
        assert not sec.address.isEnabled()  # local engine picked: no address to give
        sec.engine.setCurrentIndex(sec.engine.findData("ray"))
        assert sec.address.isEnabled()
        qtbot.keyClicks(sec.address, ray.get_runtime_context().gcs_address)
        total = sec.state.to_reindex

        _click(qtbot, sec.reindex_btn)  # then Cancel at once: the job stops before any frame is written
        assert "on Ray" in sec.job_label.text()
        _click(qtbot, sec.cancel_btn)
        qtbot.waitUntil(lambda: sec.job is None, timeout=WAIT)
        assert sec.last_result.cancelled and sec.last_result.remaining == total - sec.last_result.reindexed
        assert sec.job_label.text().startswith("Cancelled:") and "continue where it stopped" in sec.job_label.text()

        seen: list[Any] = []
        shown = sec._reindex_progress

        def spy(p: Any) -> None:
            seen.append((p, sec.progress.isVisible()))
            shown(p)

        sec._reindex_progress = spy
        qtbot.waitUntil(lambda: sec.reindex_btn.isEnabled(), timeout=WAIT)
        _click(qtbot, sec.reindex_btn)
        assert not sec.engine.isEnabled() and not sec.address.isEnabled()  # not while it runs
        qtbot.waitUntil(lambda: sec.job is None, timeout=WAIT)
        assert not sec.last_result.cancelled and sec.last_result.remaining == 0, sec.error.text()
        assert any(p.stage == "encoding" and visible for p, visible in seen)
        assert seen[-1][0].stage == "done" and seen[-1][0].done == seen[-1][0].total > 0
        assert "on Ray" in sec.job_label.text() and "0 left" in sec.job_label.text()
        assert Memory(memory_dir).stale_frames() == 0
        qtbot.waitUntil(lambda: sec.state is not None and sec.state.to_reindex == 0, timeout=WAIT)
        assert "0 frames left to re-index" in sec.in_use.text() and not sec.reindex_btn.isEnabled()
    finally:
        ray.shutdown()

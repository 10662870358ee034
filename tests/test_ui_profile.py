"""The Profile page (issue #14 part 4) on a real memory: a named person appears after Refresh
now, a user's edit is marked as theirs and survives the next refresh (the history says the
user won), and a bad edit shows its error inline, keeps the text in the editor and saves nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ui_memory_helpers import NAME, NOW, tiny_memory

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("models_ready")
WAIT = 30000


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> tuple[Path, str]:
    return tiny_memory(tmp_path_factory.mktemp("ui-profile"), media)


def _page(qtbot: Any, data: Path) -> Any:
    from lifelog.api import Memory
    from ui.context import AppContext
    from ui.pages.profile import ProfilePage
    from ui.tasks import Tasks

    page = ProfilePage(AppContext(Memory(data), Tasks(), now=lambda: NOW))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    return page


def test_named_person_after_refresh_and_the_user_edit_is_kept(qtbot: Any, memory: tuple[Path, str]) -> None:
    data, pid = memory
    page = _page(qtbot, data)
    assert NAME not in page.shown_text()
    assert "No profile yet" in page.info.text()

    page.refresh_button.click()
    qtbot.waitUntil(lambda: NAME in page.shown_text(), timeout=WAIT)
    person = next(s for s in page.shown if s.key == f"person:{pid}")
    assert person.source == "inferred" and person.block == "People"
    assert "seen in 1 moment" in person.text

    page.edit_button.click()
    assert page.editing
    text = page.editor.toPlainText()
    assert f"[person:{pid}]" in text
    mine = f"- {NAME}: my neighbour, we walk the dogs together  [person:{pid}]"
    edited = "\n".join(mine if f"[person:{pid}]" in line else line for line in text.splitlines())
    edited += "\n## Places and routines\n- my gym: the climbing hall on Elm Street\n"
    page.editor.setPlainText(edited)
    page.save_button.click()
    qtbot.waitUntil(lambda: not page.editing and "we walk the dogs" in page.shown_text(), timeout=WAIT)
    yours = {s.text: s for s in page.shown if s.source == "user"}
    assert f"{NAME}: my neighbour, we walk the dogs together" in yours
    assert "my gym: the climbing hall on Elm Street" in yours
    assert "seen in 1 moment" not in page.shown_text()  # the inferred line of that key is overruled
    assert page.browser.toHtml().count(">yours<") == 2  # both lines visibly marked as the user's

    # the next refresh infers the person's line again: the user's line stays, the history says so
    page.refresh_button.click()
    qtbot.waitUntil(lambda: "yours were kept" in page.message.text(), timeout=WAIT)
    qtbot.waitUntil(lambda: page.history_list.topLevelItemCount() >= 3, timeout=WAIT)
    assert "we walk the dogs" in page.shown_text()
    assert "seen in 1 moment" not in page.shown_text()
    history = [page.history_list.topLevelItem(i).text(1) for i in range(page.history_list.topLevelItemCount())]
    assert any("yours wins" in h and "seen in 1 moment" in h for h in history), history
    assert any(h.startswith("You wrote") and "climbing hall" in h for h in history), history

    # a fresh page (the app started again) shows the same
    again = _page(qtbot, data)
    assert "we walk the dogs" in again.shown_text()


def test_a_bad_edit_shows_the_error_and_loses_nothing(qtbot: Any, memory: tuple[Path, str]) -> None:
    from lifelog.api import Memory
    from lifelog.api.profile import read_profile

    data, _ = memory
    page = _page(qtbot, data)
    before = read_profile(Memory(data)).text
    page.edit_button.click()
    lines = page.editor.toPlainText().splitlines()
    bad_line = len(lines) + 2
    typed = "\n".join(lines) + "\n## Things\nmy keys are on the hook by the door\n- a good fact\n"
    page.editor.setPlainText(typed)
    page.save_button.click()
    qtbot.waitUntil(lambda: not page.edit_error.isHidden(), timeout=WAIT)
    assert f"line {bad_line}" in page.edit_error.text()
    assert "Not saved" in page.edit_error.text()
    assert page.editing and page.editor.toPlainText() == typed  # nothing lost
    assert page.editor.textCursor().blockNumber() == bad_line - 1  # the cursor is on the bad line
    assert read_profile(Memory(data)).text == before  # nothing saved

    # an unknown section is refused the same way
    page.editor.setPlainText(typed.replace("my keys are", "- my keys are").replace("## Things", "## Pets"))
    page.save_button.click()
    qtbot.waitUntil(lambda: "unknown section" in page.edit_error.text(), timeout=WAIT)
    assert read_profile(Memory(data)).text == before

    # corrected, it saves, and Cancel after that leaves the saved text
    page.editor.setPlainText(typed.replace("my keys are", "- my keys are"))
    page.save_button.click()
    qtbot.waitUntil(lambda: not page.editing and "on the hook by the door" in page.shown_text(), timeout=WAIT)
    assert "on the hook by the door" in read_profile(Memory(data)).text
    page.edit_button.click()
    page.editor.setPlainText("## People\n- nonsense that will be cancelled\n")
    page.cancel_button.click()
    assert not page.editing
    assert "nonsense" not in read_profile(Memory(data)).text

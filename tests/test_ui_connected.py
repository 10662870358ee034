"""The Connected apps page (issue #17) on a real memory with the real grants and ops layer: Add…
creates a grant whose token is shown once (Copy, a warning) and works against the served
operations; the access log shows what the token asked; an excluded person picked in the dialog
is never served; Revoke makes the token fail at once and the refused attempt is logged; a form
without a name or a scope is refused in the dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ui_memory_helpers import NAME, NOW, tiny_memory

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("models_ready")
WAIT = 30000
QUESTION = f"when did I last see {NAME}?"


@pytest.fixture(scope="module")
def memory(tmp_path_factory: pytest.TempPathFactory, media: Any, models_ready: None) -> tuple[Path, str]:
    return tiny_memory(tmp_path_factory.mktemp("ui-connected"), media)


def _page(qtbot: Any, data: Path) -> Any:
    from lifelog.api import Memory
    from ui.context import AppContext
    from ui.pages.connected import ConnectedPage
    from ui.tasks import Tasks

    page = ConnectedPage(AppContext(Memory(data), Tasks(), now=lambda: NOW))
    qtbot.addWidget(page)
    qtbot.waitUntil(lambda: page.loaded, timeout=WAIT)
    return page


def _add(qtbot: Any, page: Any, name: str, scopes: set[str], exclude: str | None = None) -> str:
    """Fill the Add dialog like a user and return the token it shows."""
    from ui.qt import QDialogButtonBox

    page.add_button.click()
    qtbot.waitUntil(lambda: page.add_dialog_shown is not None, timeout=WAIT)
    dlg = page.add_dialog_shown
    dlg.name.setText(name)
    for kind, box in dlg.scope_boxes.items():
        box.setChecked(kind in scopes)
    if exclude:
        dlg.choose_person(exclude)
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()
    qtbot.waitUntil(lambda: page.token_dialog is not None, timeout=WAIT)
    token = str(page.token_dialog.field.text())
    return token


def _all_texts(widget: Any) -> str:
    from ui.qt import QLabel, QLineEdit, QTreeWidget

    out = [w.text() for w in widget.findChildren(QLabel)] + [w.text() for w in widget.findChildren(QLineEdit)]
    for tree in widget.findChildren(QTreeWidget):
        for i in range(tree.topLevelItemCount()):
            item = tree.topLevelItem(i)
            out += [item.text(c) for c in range(tree.columnCount())]
    return "\n".join(out)


def _row(page: Any, name: str) -> list[str]:
    for i in range(page.table.topLevelItemCount()):
        item = page.table.topLevelItem(i)
        if item.text(0) == name:
            return [item.text(c) for c in range(5)]
    raise AssertionError(f"no row for {name}")


def test_add_shows_the_token_once_it_works_is_logged_and_revoke_stops_it(qtbot: Any, memory: tuple[Path, str]) -> None:
    from lifelog.api import Memory
    from lifelog.serve import ops
    from ui.qt import QApplication
    from ui.widgets import when

    data, _ = memory
    page = _page(qtbot, data)
    assert "No app is connected" in page.message.text()

    token = _add(qtbot, page, "my-assistant", {"ask", "people", "episodes"})
    assert token.startswith("llg_")
    dlg = page.token_dialog
    assert "will not be shown again" in _all_texts(dlg)
    dlg.copy_button.click()
    assert QApplication.clipboard().text() == token
    dlg.reject()
    assert page.token_dialog is None
    assert token not in _all_texts(page)  # shown once: gone from the window
    assert token not in (data / "grants.json").read_text()  # only its hash is kept
    qtbot.waitUntil(lambda: page.table.topLevelItemCount() == 1, timeout=WAIT)
    _, may, expires, used, state = _row(page, "my-assistant")
    assert state == "active" and used == "never" and "ask" in may and "transcripts" not in may

    # the token works against the served operations, and the log records what it asked
    mem = Memory(data)
    grant = ops.authenticate(mem, token)
    assert grant.expires is not None and round((grant.expires - grant.created).total_seconds()) == 30 * 86400
    assert expires == when(grant.expires, mem.tz)  # the default: 30 days
    answer = ops.ask(mem, grant, QUESTION, now=NOW)
    assert answer["hits"], answer
    assert [p["name"] for p in ops.people(mem, grant)] == [NAME]
    page.reload_button.click()
    qtbot.waitUntil(lambda: _row(page, "my-assistant")[3] != "never", timeout=WAIT)
    page.select(grant.id)
    qtbot.waitUntil(lambda: page.log_list.topLevelItemCount() == 2, timeout=WAIT)
    rows = [[page.log_list.topLevelItem(i).text(c) for c in range(4)] for i in range(2)]
    asked = next(r for r in rows if r[2].startswith("asked"))
    assert QUESTION in asked[2] and "moment" in asked[2] and asked[3] == "answered" and asked[1] == "http"
    assert any(r[2].startswith("listed people") for r in rows)

    # revoke: the next request is refused, and the refused attempt is in the log
    page.revoke_button.click()
    qtbot.waitUntil(lambda: _row(page, "my-assistant")[4] == "revoked", timeout=WAIT)
    assert not page.revoke_button.isEnabled()
    with pytest.raises(ops.Unauthorized):
        ops.authenticate(mem, token)
    page.reload_button.click()
    qtbot.waitUntil(lambda: page.log_list.topLevelItemCount() == 3, timeout=WAIT)
    newest = [page.log_list.topLevelItem(0).text(c) for c in range(4)]
    assert newest[3].startswith("refused") and "revoked" in newest[3]


def test_excluded_people_and_a_bad_form(qtbot: Any, memory: tuple[Path, str]) -> None:
    from lifelog.api import Memory
    from lifelog.serve import ops
    from ui.qt import QDialogButtonBox

    data, pid = memory
    page = _page(qtbot, data)
    # a form without a name, then without a scope: refused in the dialog, nothing created
    page.add_button.click()
    qtbot.waitUntil(lambda: page.add_dialog_shown is not None, timeout=WAIT)
    dlg = page.add_dialog_shown
    before = len(page.grants)
    ok = dlg.buttons.button(QDialogButtonBox.StandardButton.Ok)
    ok.click()
    assert "name" in dlg.error.text() and dlg.isVisible()
    dlg.name.setText("script")
    for box in dlg.scope_boxes.values():
        box.setChecked(False)
    ok.click()
    assert "at least one" in dlg.error.text() and dlg.isVisible()
    dlg.reject()
    page.reload_button.click()
    qtbot.waitUntil(lambda: page.loaded and len(page.grants) == before, timeout=WAIT)

    # the person picked in the dialog is never served to that grant
    token = _add(qtbot, page, "no-barack", {"ask", "people"}, exclude=pid)
    page.token_dialog.reject()
    mem = Memory(data)
    grant = ops.authenticate(mem, token)
    assert grant.exclude_people == (pid,)
    assert ops.people(mem, grant) == []
    assert ops.ask(mem, grant, QUESTION, now=NOW)["hits"] == []

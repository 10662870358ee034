"""What every page of the app is given: the memory, the task pools and a way to move around.

Pages never reach into the main window; they talk to it through this context.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lifelog.api import Memory
from ui.tasks import Tasks


def _no_nav(page: str, **kwargs: Any) -> None:
    return None


def _no_status(message: str) -> None:
    return None


@dataclass
class AppContext:
    memory: Memory
    tasks: Tasks
    # "now" is injectable so tests and screenshots of the sample day show a fixed present.
    now: Callable[[], datetime] = field(default_factory=lambda: (lambda: datetime.now().astimezone()))
    # navigate("timeline", day=date, episode_id="…"), navigate("ask", question="…"), …
    navigate: Callable[..., None] = _no_nav
    # one line in the window's status bar
    status: Callable[[str], None] = _no_status
    # pages call this after a write that changes what other pages show (import, people edits)
    changed: Callable[[str], None] = field(default=lambda what: None)

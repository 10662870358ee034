"""A tiny real memory for the Profile, Upkeep and Connected apps page tests: two short clips of
real footage (a face that becomes a named person, and a cat), imported for real."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

NAME = "Barack Quetzalcoatl"
T_FACE = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
T_CAT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
NOW = datetime(2024, 5, 16, 12, 0, tzinfo=UTC)


def tiny_memory(root: Path, media: Any, *, cat: bool = True) -> tuple[Path, str]:
    """Import the clips into ``root/memory``; (data dir, the named person's id)."""
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    files = [make_clip(root / "face.mp4", media.path("obama.jpg"), 8, T_FACE, fps=10, size=(640, 480),
                       roi=[0.0, 0.0, 1.0, 0.55])]
    if cat:
        files.append(make_clip(root / "cat.mp4", media.path("chelsea.png"), 3, T_CAT, fps=10, size=(320, 240)))
    data = root / "memory"
    mem = Memory(data)
    assert mem.import_paths(files).imported == len(files)
    people = mem.people()
    assert people, "the face was not found"
    mem.name_person(people[0].id, NAME)
    return data, people[0].id

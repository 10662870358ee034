"""Export and re-import keep the user's own lines of the memory profile (docs/profile.md): they
are what the nightly pass cannot infer again. Inferred lines and descriptions are written again
from the imported memory; a ranged export carries no profile lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.media]


def test_the_users_profile_lines_survive_export_and_reimport(media: Any, models_ready: None, tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.api.profile import read_profile, refresh_profile, save_profile_text
    from lifelog.sample.compose import make_clip  # test data only

    cat = make_clip(tmp_path / "cat.mp4", media.path("chelsea.png"), 4, datetime(2024, 5, 14, 9, 0, tzinfo=UTC),
                    fps=10, size=(320, 240))
    mem = Memory(tmp_path / "memory")
    assert mem.import_paths([cat]).imported == 1
    refresh_profile(mem)
    text = read_profile(mem).text
    mine = "- my gym: the climbing hall on Elm Street"
    edited = text.replace("## Places and routines", f"## Places and routines\n{mine}", 1)
    assert edited != text
    save_profile_text(mem, edited)
    assert "climbing hall on Elm Street" in read_profile(mem).text

    whole = mem.export(tmp_path / "whole")
    assert whole.counts["profile_lines"] == 1
    ranged = mem.export(tmp_path / "ranged", datetime(2024, 5, 14, tzinfo=UTC), datetime(2024, 5, 15, tzinfo=UTC))
    assert ranged.counts["profile_lines"] == 0

    other = Memory(tmp_path / "other")
    got = other.import_archive(tmp_path / "whole")
    assert got.added["profile_lines"] == 1
    assert "climbing hall on Elm Street" in read_profile(other).text
    again = other.import_archive(tmp_path / "whole")  # idempotent: the line is not added twice
    assert again.added["profile_lines"] == 0
    assert read_profile(other).text.count("climbing hall on Elm Street") == 1
    # descriptions are written again from what the archive brought
    assert [e.description for e in other.episodes()] == [e.description for e in mem.episodes()]

"""A small real memory for the API tests (built once per session): real clips composed from the
real sample photos, imported through the real pipeline, speech transcribed by the real model.

* ``meeting`` 2024-05-14 15:00 UTC — Obama's portrait (a face) with LibriVox speech
  ("… Mr. John Dashwood …");
* ``biden`` 2024-05-14 18:00 UTC — another face;
* ``cat`` 2024-05-15 19:00 UTC — a cat, nobody.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

LIBRIVOX_870 = "sense_and_sensibility_01_austen_64kb-0870.wav"
FACE_ROI = [0.0, 0.0, 1.0, 0.55]
MEETING_AT = datetime(2024, 5, 14, 15, 0, tzinfo=UTC)
BIDEN_AT = datetime(2024, 5, 14, 18, 0, tzinfo=UTC)
CAT_AT = datetime(2024, 5, 15, 19, 0, tzinfo=UTC)
NOW = "2024-05-16T12:00:00+00:00"


@dataclass(frozen=True)
class Built:
    data: Path
    clips: Path
    meeting: str  # episode ids
    biden: str
    cat: str
    obama_person: str
    biden_person: str


_BUILT: dict[str, Built] = {}


def build_memory(tmp_path_factory: Any, media: Any) -> Built:
    if "m" in _BUILT:
        return _BUILT["m"]
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip

    try:
        wav = media.path(LIBRIVOX_870)
    except KeyError:
        pytest.skip("LibriVox speech (Debian pocketsphinx-testdata) was not fetched")
    root: Path = tmp_path_factory.mktemp("api-memory")
    clips = root / "clips"
    clips.mkdir()
    meeting = make_clip(clips / "meeting.mp4", media.path("obama.jpg"), 10, MEETING_AT, fps=10, size=(640, 480),
                        effect="pan", roi=FACE_ROI, audio_wav=[wav])
    biden = make_clip(clips / "biden.mp4", media.path("biden.jpg"), 8, BIDEN_AT, fps=10, size=(640, 480),
                      effect="pan", roi=[0.0, 0.0, 1.0, 0.3])
    cat = make_clip(clips / "cat.mp4", media.path("chelsea.png"), 6, CAT_AT, fps=10, size=(320, 240))
    data = root / "memory"
    data.mkdir(mode=0o700)
    from lifelog.api.settings import Settings, save_settings

    save_settings(data, Settings(timezone="UTC"))  # days judged in UTC, whatever the machine's zone
    mem = Memory(data)
    res = mem.import_paths([meeting, biden, cat])
    assert res.imported == 3, res
    done = mem.transcribe_pending()
    assert any(getattr(r, "status", "") == "done" for r in done), done
    eps = {e.start.astimezone(UTC).replace(second=0, microsecond=0): e.id for e in mem.episodes()}
    m_id = next(i for t, i in eps.items() if t.date() == MEETING_AT.date() and t.hour == 15)
    b_id = next(i for t, i in eps.items() if t.date() == BIDEN_AT.date() and t.hour == 18)
    c_id = next(i for t, i in eps.items() if t.date() == CAT_AT.date())
    people = mem.people()
    obama = [p.id for p in people if m_id in {e.id for e in mem.person_episodes(p.id)}]
    biden_p = [p.id for p in people if b_id in {e.id for e in mem.person_episodes(p.id)}]
    assert obama and biden_p, [p.to_json() for p in people]
    built = Built(data, clips, m_id, b_id, c_id, obama[0], biden_p[0])
    _BUILT["m"] = built
    return built


def copy_memory(built: Built, dest: Path) -> Path:
    """A private copy of the shared memory, for tests that change it."""
    shutil.copytree(built.data, dest)
    return dest


@contextlib.contextmanager
def running(data: Path) -> Iterator[Any]:
    """The real API server on a free loopback port, serving the memory in ``data``."""
    from lifelog.api import Memory
    from lifelog.serve.http import ApiServer

    server = ApiServer(Memory(data), port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}

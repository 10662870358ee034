"""The one door into the core for the front ends (the desktop app in ``ui/`` and the commands in
:mod:`lifelog.commands`): they import this package and its modules, nothing below it (checked by
the import-linter contracts in ``pyproject.toml``).

* :class:`Memory` — one user's memory: import, browse, ask, people, objects (``memory``);
* :mod:`lifelog.api.devices` — capture and sync: paired devices, the Wi-Fi receiver, webcam;
* :mod:`lifelog.api.models` — optional image-text models;
* :mod:`lifelog.api.sample` — the sample-day memory;
* :mod:`lifelog.api.settings` — settings and where the memory lives;
* :mod:`lifelog.api.errors` — the errors a front end reports to the user;
* :mod:`lifelog.api.words` — reading times and object names the user typed;
* :mod:`lifelog.api.demo` — `lifelog demo`: the sample days imported and asked about.

Long operations take a progress callback (plain dataclasses) and a ``threading.Event`` to
cancel; none of them knows about widgets or terminals.
"""

from lifelog.api.memory import DayInfo, EpisodeInfo, EpisodeMedia, FrameInfo, Memory, UtteranceInfo
from lifelog.ingest.pipeline import ImportFailure, ImportResult
from lifelog.objects.timeline import ObjectInfo, ObjectSighting
from lifelog.people.types import FaceInfo, PersonInfo

__all__ = [
    "DayInfo",
    "EpisodeInfo",
    "EpisodeMedia",
    "FaceInfo",
    "FrameInfo",
    "ImportFailure",
    "ImportResult",
    "Memory",
    "ObjectInfo",
    "ObjectSighting",
    "PersonInfo",
    "UtteranceInfo",
]

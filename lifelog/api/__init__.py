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

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifelog.api.memory import DayInfo, EpisodeInfo, EpisodeMedia, FrameInfo, Memory, UtteranceInfo
    from lifelog.ingest.pipeline import ImportFailure, ImportResult
    from lifelog.objects.timeline import ObjectInfo, ObjectSighting
    from lifelog.people.types import FaceInfo, PersonInfo

# Loaded on first use (PEP 562): importing a light module of the door (``lifelog.api.handoff``,
# ``lifelog.api.background``) must not import LanceDB (seconds of a cold start, issue #18).
_LAZY = {"DayInfo": "lifelog.api.memory", "EpisodeInfo": "lifelog.api.memory", "EpisodeMedia": "lifelog.api.memory",
         "FrameInfo": "lifelog.api.memory", "Memory": "lifelog.api.memory", "UtteranceInfo": "lifelog.api.memory",
         "ImportFailure": "lifelog.ingest.pipeline", "ImportResult": "lifelog.ingest.pipeline",
         "ObjectInfo": "lifelog.objects.timeline", "ObjectSighting": "lifelog.objects.timeline",
         "FaceInfo": "lifelog.people.types", "PersonInfo": "lifelog.people.types"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'lifelog.api' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


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

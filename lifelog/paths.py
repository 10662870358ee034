"""Where things live on disk.

* The **data dir** holds the user's memory (LanceDB tables, the vault, logs, the scheduler's
  job store). Resolution order: explicit argument, ``$LIFELOG_HOME``, the platform data dir.
* The **models dir** holds ONNX files built from packages by ``models/build.py``
  (``$LIFELOG_MODELS_DIR`` or ``<repo>/models/build``).
* The **cache dir** holds fetched real sample media (``$LIFELOG_CACHE`` or the platform cache dir).
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "lifelog"
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("LIFELOG_HOME")
    if env:
        return Path(env).expanduser().resolve()
    from lifelog.config import chosen_data_dir  # the folder chosen in the app's Settings, if any

    chosen = chosen_data_dir()
    if chosen is not None:
        return chosen.resolve()
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    env = os.environ.get("LIFELOG_MODELS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "models" / "build"


def cache_dir() -> Path:
    env = os.environ.get("LIFELOG_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))

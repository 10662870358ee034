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

APP_NAME = "lifelog"
REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("LIFELOG_HOME")
    if env:
        return Path(env).expanduser().resolve()
    chosen = chosen_data_dir()  # the folder chosen in the app's Settings, if any
    if chosen is not None:
        return chosen.resolve()
    import platformdirs  # here, not at import: a command handed to the service with --data-dir needs none

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


# The desktop app's "choose another memory folder" is remembered outside any memory, in
# ``<user config dir>/lifelog/location.json`` ({"data_dir": "/path"}; written by
# lifelog.config.choose_data_dir), and takes effect on the next start.
LOCATION_FILE = "location.json"


def location_file() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / LOCATION_FILE


def chosen_data_dir() -> Path | None:
    """The memory folder chosen in the app, or None (never chosen, or the file is unusable)."""
    import json

    path = location_file()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = raw.get("data_dir") if isinstance(raw, dict) else None
    return Path(value).expanduser() if isinstance(value, str) and value.strip() else None


def models_dir() -> Path:
    env = os.environ.get("LIFELOG_MODELS_DIR")
    if env:
        return Path(env).expanduser().resolve()
    return REPO_ROOT / "models" / "build"


def cache_dir() -> Path:
    env = os.environ.get("LIFELOG_CACHE")
    if env:
        return Path(env).expanduser().resolve()
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))

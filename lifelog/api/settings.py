"""Settings and where the memory lives, for the front ends.

* :class:`Settings` (with its sections) and :func:`load_settings` / :func:`save_settings`, stored
  in the memory folder;
* the memory folder: :func:`data_dir` (``$LIFELOG_HOME`` or the platform's), the folder chosen
  in the app for the next start (:func:`chosen_data_dir` / :func:`choose_data_dir`), and the
  other places lifelog uses (:func:`cache_dir`, :func:`models_dir`, :data:`REPO_ROOT`);
* :func:`write_marker`: a small file a front end leaves in the memory folder (e.g. "the app was
  opened here").
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from lifelog.config import (
    CaptureSettings,
    EpisodeSettings,
    RetentionSettings,
    Settings,
    SettingsError,
    SpeechSettings,
    choose_data_dir,
    chosen_data_dir,
    load_settings,
    location_file,
    save_settings,
)
from lifelog.paths import APP_NAME, REPO_ROOT, cache_dir, data_dir, models_dir
from lifelog.store.files import atomic_write


def write_marker(folder: Path, name: str) -> bool:
    """Write ``folder/name`` holding the time now (atomically); False when the folder cannot be
    written (a read-only memory), which is not an error."""
    try:
        atomic_write(Path(folder) / name, datetime.now().astimezone().isoformat().encode())
    except OSError:
        return False
    return True


__all__ = [
    "APP_NAME",
    "REPO_ROOT",
    "CaptureSettings",
    "EpisodeSettings",
    "RetentionSettings",
    "Settings",
    "SettingsError",
    "SpeechSettings",
    "cache_dir",
    "choose_data_dir",
    "chosen_data_dir",
    "data_dir",
    "load_settings",
    "location_file",
    "models_dir",
    "save_settings",
    "write_marker",
]

"""Keys a person can manage: what the front ends need to change the passphrase, rotate the data
key and ask for a passphrase (docs/privacy.md, "The key"). ``Memory.change_passphrase`` and
``Memory.rotate_key`` do the work; this module names their types and the key's custody."""

from __future__ import annotations

from pathlib import Path

from lifelog import paths
from lifelog.store.keys import NEW_PASSPHRASE_ENV, RotateProgress, RotateResult
from lifelog.store.vault import PASSPHRASE_ENV, KeyMode, keyring_usable, read_key_info

__all__ = [
    "NEW_PASSPHRASE_ENV",
    "PASSPHRASE_ENV",
    "KeyMode",
    "RotateProgress",
    "RotateResult",
    "data_dir_of",
    "key_mode",
    "keyring_usable",
    "needs_passphrase",
    "rotation_unfinished",
]


def data_dir_of(explicit: str | Path | None = None) -> Path:
    """The data dir a memory opened with ``explicit`` (or none: the default) lives in."""
    return paths.data_dir(explicit)


def key_mode(data_dir: Path) -> KeyMode | None:
    """Where the memory's key is kept: ``keyring``, ``passphrase``, or None for a memory not made yet."""
    info = read_key_info(Path(data_dir))
    return info.mode if info is not None else None


def rotation_unfinished(data_dir: Path) -> bool:
    """True when a key rotation was cut short (``lifelog key rotate`` finishes it)."""
    info = read_key_info(Path(data_dir))
    return info is not None and info.next is not None


def needs_passphrase(data_dir: Path) -> bool:
    """True when opening the memory needs a passphrase a front end must ask for: it is protected
    by one, or it is new and no OS keyring can hold its key."""
    mode = key_mode(data_dir)
    return mode == "passphrase" or (mode is None and not keyring_usable())

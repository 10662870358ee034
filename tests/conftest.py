"""Shared fixtures: real stores on disk, real models, real media (fetched into the cache)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never touch the user's keyring: the vault uses a passphrase-derived key.
os.environ.setdefault("LIFELOG_PASSPHRASE", "test passphrase")
# Like the product's entry points (lifelog.commands.main, ui.app), the test process writes
# memories with a private umask; tests of the repair of open modes set their own (test_modes.py).
os.umask(0o077)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "memory"
    d.mkdir()
    return d


@pytest.fixture(scope="session")
def media() -> object:
    from lifelog.sample.fetch import SampleMediaUnavailable, sample_media

    try:
        return sample_media()
    except SampleMediaUnavailable as e:
        pytest.skip(f"real sample media unavailable: {e}")


@pytest.fixture(scope="session")
def models_ready() -> None:
    from lifelog.encoders import ModelMissingError, get_visual_encoder

    try:
        get_visual_encoder()
    except ModelMissingError as e:
        pytest.fail(f"models are not built: {e}")


@pytest.fixture
def keep_env() -> Iterator[None]:
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)

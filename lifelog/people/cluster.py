"""The face-clustering algorithm: pure functions over arrays of 128-d dlib descriptors.

Nothing here reads or writes the store; :mod:`lifelog.people.assign` feeds it the faces and
people of a memory. Thresholds are in :class:`ClusterParams` (chosen on ``bench/people.py``; the
method and the figures are in ``docs/people.md``); :func:`place_faces` is the whole method.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

MAX_EXEMPLARS = 200  # good faces per person kept for nearest-face evidence

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class ClusterParams:
    """Distances are Euclidean between dlib descriptors (dlib's own same/different cut is 0.6)."""

    seed_link: float = 0.45  # average-linkage cut grouping good faces
    seed_min_faces: int = 3  # a group with faces in this many different frames becomes a person
    group_attach: float = 0.45  # a group joins a person whose centroid is this close to the group's
    attach: float = 0.50  # a good face alone joins a person within this distance of its centroid
    attach_weak: float = 0.45  # a small / blurry / turned / occluded / cut face: stricter
    nearest_offset: float = 0.10  # ...or is within attach - this of one of the person's good faces
    attach_far: float = 0.60  # ...but never further than this from the centroid (dlib's own cut)
    margin: float = 0.06  # ...and must be this much closer to that person than to any other
    max_seed_pool: int = 4000  # at most this many faces (the best) are clustered in one pass



def pairwise(a: F32, b: F32) -> npt.NDArray[np.float32]:
    """Euclidean distances (len(a), len(b))."""
    aa = (a.astype(np.float64) ** 2).sum(1)[:, None]
    bb = (b.astype(np.float64) ** 2).sum(1)[None, :]
    d2 = np.maximum(aa + bb - 2.0 * (a.astype(np.float64) @ b.astype(np.float64).T), 0.0)
    out: npt.NDArray[np.float32] = np.sqrt(d2).astype(np.float32)
    return out


def _components(emb: F32, threshold: float, block: int = 2048) -> npt.NDArray[np.int64]:
    """Connected components of the graph 'distance <= threshold' (single linkage), by union-find."""
    n = len(emb)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    for s in range(0, n, block):
        d = pairwise(emb[s : s + block], emb)
        ii, jj = np.nonzero(d <= threshold)
        for i, j in zip(ii + s, jj, strict=True):
            if i < j:
                ri, rj = find(int(i)), find(int(j))
                if ri != rj:
                    parent[max(ri, rj)] = min(ri, rj)
    return np.asarray([find(i) for i in range(n)], dtype=np.int64)


def average_linkage(emb: F32, groups: Sequence[str], threshold: float) -> npt.NDArray[np.int64]:
    """Average-linkage agglomerative clustering cut at ``threshold``; faces with the same
    ``groups`` value (frame id) are never in one cluster. Returns a cluster label per face.

    Each single-linkage component is clustered on its own (average-linkage clusters below a cut
    never span two of them) with the nearest-neighbour-chain algorithm: O(n²) per component.
    Cannot-links are infinite distances, which the average keeps infinite, so a cluster never
    holds two faces of one frame.
    """
    n = len(emb)
    labels = np.arange(n, dtype=np.int64)
    if n < 2:
        return labels
    comp = _components(emb, threshold)
    for root in np.unique(comp):
        idx = np.nonzero(comp == root)[0]
        if len(idx) < 2:
            continue
        sub = _nn_chain(emb[idx], [groups[i] for i in idx], threshold)
        labels[idx] = idx[sub]
    return labels


def _nn_chain(emb: F32, groups: Sequence[str], threshold: float) -> npt.NDArray[np.int64]:
    n = len(emb)
    d = pairwise(emb, emb).astype(np.float64)
    g = np.asarray(groups, dtype=object)
    d[g[:, None] == g[None, :]] = np.inf  # same frame (and the diagonal)
    size = np.ones(n)
    active = np.ones(n, dtype=bool)
    parent = np.arange(n)
    chain: list[int] = []
    remaining = n
    while remaining > 1:
        if not chain:
            chain.append(int(np.nonzero(active)[0][0]))
        a = chain[-1]
        row = d[a]
        b = int(np.argmin(row))
        if len(chain) > 1 and row[chain[-2]] <= row[b]:
            b = chain[-2]
        if not np.isfinite(row[b]):
            # a's cluster cannot join anything: retire it from the chain
            active[a] = False
            d[a, :] = np.inf
            d[:, a] = np.inf
            chain.clear()
            remaining -= 1
            continue
        if len(chain) > 1 and b == chain[-2]:
            chain.pop()
            chain.pop()
            if row[b] <= threshold:
                parent[b] = a
            new = (size[a] * d[a] + size[b] * d[b]) / (size[a] + size[b])
            d[a, :] = new
            d[:, a] = new
            d[a, a] = np.inf
            d[b, :] = np.inf
            d[:, b] = np.inf
            active[b] = False
            size[a] += size[b]
            remaining -= 1
        else:
            chain.append(b)

    def root(i: int) -> int:
        while parent[i] != i:
            i = int(parent[i])
        return i

    return np.asarray([root(i) for i in range(n)], dtype=np.int64)


@dataclass
class FacePool:
    """Faces to place, as arrays (one row per face)."""

    emb: F32
    seed: npt.NDArray[np.bool_]
    quality: npt.NDArray[np.float32]
    frames: list[str]


@dataclass
class Target:
    """An existing person as the algorithm sees it."""

    centroid: F32  # mean descriptor of the person's good faces
    frames: set[str]  # frames the person is already in
    exemplars: F32  # (k, 128) the person's best good faces, for nearest-face evidence

    @classmethod
    def of(cls, emb: F32, seed: npt.NDArray[np.bool_], quality: npt.NDArray[np.float32], frames: set[str]) -> Target:
        good = seed if seed.any() else np.ones(len(emb), dtype=bool)
        idx = np.nonzero(good)[0]
        idx = idx[np.argsort(-quality[idx], kind="stable")[:MAX_EXEMPLARS]]
        return cls(emb[good].mean(axis=0).astype(np.float32), set(frames), emb[idx].astype(np.float32))


def place_faces(pool: FacePool, targets: list[Target], params: ClusterParams) -> tuple[npt.NDArray[np.int64], int]:
    """Where each face of ``pool`` goes: an index into ``targets`` (existing or new), or -1.

    1. The good (seed) faces are grouped by average linkage; a group whose centroid is within
       ``group_attach`` of one person (and ``margin`` closer than to any other) joins it whole —
       a group's mean is steadier than any of its faces; otherwise a group with faces in
       ``seed_min_faces`` frames becomes a new person.
    2. Every face still free is tried alone against all people: ``attach`` for good faces,
       ``attach_weak`` for the others.

    New people are appended to ``targets``. Returns (assignment per face, len(targets) before).
    """
    n = len(pool.emb)
    n_before = len(targets)
    out = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return out, n_before
    free = np.nonzero(pool.seed)[0]
    if len(free) > params.max_seed_pool:
        free = free[np.argsort(-pool.quality[free], kind="stable")[: params.max_seed_pool]]
    if len(free):
        labels = average_linkage(pool.emb[free], [pool.frames[i] for i in free], params.seed_link)
        groups = [free[labels == lab] for lab in np.unique(labels)]
        groups.sort(key=len, reverse=True)
        n_existing = len(targets)
        for members in groups:
            frames = {pool.frames[i] for i in members}
            centroid = pool.emb[members].mean(axis=0).astype(np.float32)
            k = _best_target(centroid, targets[:n_existing], params.group_attach, params.margin, frames)
            if k is not None:
                t = targets[k]
                t.frames |= frames
                # the group's faces now vouch for faces like them (another photo, another day)
                t.exemplars = np.concatenate([t.exemplars, pool.emb[members]])
            elif len(frames) >= params.seed_min_faces:
                ones = np.ones(len(members), dtype=bool)
                targets.append(Target.of(pool.emb[members], ones, pool.quality[members], frames))
                k = len(targets) - 1
            else:
                continue
            out[members] = k
    _attach(pool, targets, out, params)
    return out, n_before


def _best_target(
    x: F32, targets: list[Target], threshold: float, margin: float, frames: set[str]
) -> int | None:
    if not targets:
        return None
    d = pairwise(x[None, :], np.stack([t.centroid for t in targets]))[0]
    order = np.argsort(d)
    best = int(order[0])
    second = float(d[order[1]]) if len(order) > 1 else np.inf
    if d[best] > threshold or second - float(d[best]) < margin:
        return None
    if frames & targets[best].frames:
        return None
    return best


def _attach(pool: FacePool, targets: list[Target], out: npt.NDArray[np.int64], params: ClusterParams) -> None:
    free = np.nonzero(out < 0)[0]
    if not targets or len(free) == 0:
        return
    emb = pool.emb[free]
    d_cent = pairwise(emb, np.stack([t.centroid for t in targets]))
    d_near = np.stack([pairwise(emb, t.exemplars).min(axis=1) for t in targets], axis=1)
    # a face is as close to a person as its centroid, or as its nearest good face plus the
    # nearest-face allowance (never beyond ``attach_far`` of the centroid)
    d = np.where(d_cent <= params.attach_far, np.minimum(d_cent, d_near + params.nearest_offset), d_cent)
    for row in np.argsort(-pool.quality[free], kind="stable"):
        i = int(free[row])
        dist = d[row]
        order = np.argsort(dist)
        best = int(order[0])
        second = float(dist[order[1]]) if len(order) > 1 else np.inf
        limit = params.attach if pool.seed[i] else params.attach_weak
        if dist[best] > limit or second - float(dist[best]) < params.margin:
            continue
        if pool.frames[i] in targets[best].frames:
            continue  # that person is already someone else in this frame
        out[i] = best
        targets[best].frames.add(pool.frames[i])


def person_centroid(emb: F32, seed: npt.NDArray[np.bool_]) -> list[float] | None:
    """A person's stored centroid: the mean of their good (seed) faces, else of all their faces."""
    if len(emb) == 0:
        return None
    use = emb[seed] if seed.any() else emb
    return [float(v) for v in use.mean(axis=0)]

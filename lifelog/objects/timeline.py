"""Objects over time: which objects were seen when, one object's episodes, and the objects
of given episodes — read from the labels the import stored on every kept frame."""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from lifelog.objects.vocabulary import ALL_CLASSES, CLASSES_OF, NAMES, THRESHOLD, friendly_name, match_objects
from lifelog.store.db import Store
from lifelog.store.sql import sql_in, sql_str, window_filter

FRAME_COLUMNS = ["episode_id", "t", "labels", "label_scores", "thumb_id"]
_ID_CHUNK = 500  # episode ids per IN (...) filter


# ------------------------------------------------------------------ results
@dataclass(frozen=True)
class ObjectInfo:
    """One everyday object seen in the memory (times are UTC here; ``Memory`` localises them)."""

    name: str
    classes: list[str]  # the ImageNet classes it was seen as, most frames first
    first_seen: datetime
    last_seen: datetime
    episodes: int
    frames: int
    thumbnail: str | None  # vault blob id of the frame where it was most probable
    probability: float  # that frame's summed class probability

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "classes": self.classes,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "episodes": self.episodes,
            "frames": self.frames,
            "thumbnail": self.thumbnail,
            "probability": round(self.probability, 3),
        }


@dataclass(frozen=True)
class ObjectSighting:
    """An episode in which an object was seen."""

    episode_id: str
    first: datetime
    last: datetime
    thumbnail: str | None  # vault blob id of the episode's frame where it was most probable
    probability: float
    frames: int = 0
    objects: list[str] = field(default_factory=list)  # which objects (a phrase may name several)

    def to_json(self) -> dict[str, Any]:
        return {
            "episode_id": self.episode_id,
            "first": self.first.isoformat(),
            "last": self.last.isoformat(),
            "thumbnail": self.thumbnail,
            "probability": round(self.probability, 3),
            "frames": self.frames,
            "objects": self.objects,
        }


@dataclass
class _Shown:
    """Frame x object pairs over the threshold, as arrays."""

    group: npt.NDArray[np.int64]  # index into the groups asked for
    episode: list[str]
    t_us: npt.NDArray[np.int64]
    thumb: list[str | None]
    prob: npt.NDArray[np.float64]
    class_hits: dict[int, dict[str, int]]  # group -> ImageNet class -> frames


class Objects:
    """The objects timeline of one memory: ``Objects(store)``."""

    def __init__(self, store: Store, threshold: float = THRESHOLD) -> None:
        self.store = store
        self.threshold = threshold

    # -------------------------------------------------------------- public
    def find(self, name_or_phrase: str) -> builtins.list[str]:
        """The ImageNet classes that a user's word names ("phone" -> ["cellular telephone", …]);
        empty for words with no class ("keys")."""
        return [c for name in match_objects(name_or_phrase) for c in CLASSES_OF[name]]

    def list(self, start: datetime | None = None, end: datetime | None = None) -> builtins.list[ObjectInfo]:
        """Objects seen in [start, end) (open bounds: all time), most recently seen first."""
        groups = [(name, CLASSES_OF[name]) for name in NAMES]
        shown = self._shown(groups, self._where(ALL_CLASSES, start, end))
        out: builtins.list[ObjectInfo] = []
        if shown is None:
            return out
        for g in np.unique(shown.group):
            rows = np.flatnonzero(shown.group == g)
            best = rows[int(np.argmax(shown.prob[rows]))]
            hits = shown.class_hits.get(int(g), {})
            out.append(ObjectInfo(
                name=groups[int(g)][0],
                classes=sorted(hits, key=lambda c: -hits[c]),
                first_seen=_dt(int(shown.t_us[rows].min())),
                last_seen=_dt(int(shown.t_us[rows].max())),
                episodes=len({shown.episode[i] for i in rows}),
                frames=len(rows),
                thumbnail=shown.thumb[best],
                probability=float(shown.prob[best]),
            ))
        out.sort(key=lambda o: (o.last_seen, o.name), reverse=True)
        return out

    def timeline(
        self, name: str, start: datetime | None = None, end: datetime | None = None
    ) -> builtins.list[ObjectSighting]:
        """The episodes in which the object a word names was seen, in time order (empty for an
        unknown word). A frame counts when the summed probability of all the named classes in it
        reaches the threshold."""
        names = match_objects(name)
        classes = tuple(c for n in names for c in CLASSES_OF[n])
        if not classes:
            return []
        shown = self._shown([(" / ".join(names), classes)], self._where(classes, start, end))
        if shown is None:
            return []
        by_ep: dict[str, builtins.list[int]] = {}
        for i, ep in enumerate(shown.episode):
            by_ep.setdefault(ep, []).append(i)
        seen_names = [n for n in names if any(friendly_name(c) == n for c in shown.class_hits.get(0, {}))]
        out = []
        for ep, idx in by_ep.items():
            rows = np.asarray(idx)
            best = rows[int(np.argmax(shown.prob[rows]))]
            out.append(ObjectSighting(
                episode_id=ep,
                first=_dt(int(shown.t_us[rows].min())),
                last=_dt(int(shown.t_us[rows].max())),
                thumbnail=shown.thumb[best],
                probability=float(shown.prob[best]),
                frames=len(rows),
                objects=seen_names or names,
            ))
        out.sort(key=lambda s: (s.first, s.episode_id))
        return out

    def in_episodes(self, episode_ids: Sequence[str]) -> dict[str, builtins.list[str]]:
        """The objects seen in each episode, most frames first; episodes without any are absent."""
        ids = sorted(set(episode_ids))
        groups = [(name, CLASSES_OF[name]) for name in NAMES]
        out: dict[str, builtins.list[str]] = {}
        for k in range(0, len(ids), _ID_CHUNK):
            where = f"{sql_in('episode_id', ids[k : k + _ID_CHUNK])} AND {self._where(ALL_CLASSES, None, None)}"
            shown = self._shown(groups, where)
            if shown is None:
                continue
            counts: dict[str, dict[str, int]] = {}
            for g, ep in zip(shown.group.tolist(), shown.episode, strict=True):
                per = counts.setdefault(ep, {})
                per[groups[g][0]] = per.get(groups[g][0], 0) + 1
            for ep, per in counts.items():
                out[ep] = sorted(per, key=lambda n: (-per[n], n))
        return out

    # ------------------------------------------------------------ internals
    def _where(self, classes: Iterable[str], start: datetime | None, end: datetime | None) -> str:
        names = ", ".join(sql_str(c) for c in classes)
        where = f"({window_filter(start, end)}) AND array_has_any(labels, make_array({names}))"
        hidden = self.store.committed_filter(episode_column="episode_id")  # unfinished imports, the trash
        return f"{where} AND {hidden}" if hidden else where

    def _shown(self, groups: Sequence[tuple[str, Sequence[str]]], where: str) -> _Shown | None:
        """Read the matching frames (light columns only) and keep the frame x group pairs whose
        summed class probability reaches the threshold; None when there are none."""
        tbl = self.store.rows("frames", where, columns=FRAME_COLUMNS)
        if tbl.num_rows == 0:
            return None
        labels = tbl.column("labels").combine_chunks()
        scores = tbl.column("label_scores").combine_chunks()
        # labels and scores are written together; a row where they disagree is not trusted
        ok = pc.equal(pc.fill_null(pc.list_value_length(labels), 0), pc.fill_null(pc.list_value_length(scores), -1))
        if not pc.all(ok).as_py():
            tbl = tbl.filter(ok)
            labels = tbl.column("labels").combine_chunks()
            scores = tbl.column("label_scores").combine_chunks()
        if tbl.num_rows == 0:
            return None
        class_list = [c for _, classes in groups for c in classes]
        group_of_class = np.asarray([g for g, (_, classes) in enumerate(groups) for _ in classes], dtype=np.int64)
        parent = np.asarray(pc.list_parent_indices(labels).to_numpy(zero_copy_only=False), dtype=np.int64)
        flat = pc.list_flatten(labels)
        cls = pc.index_in(flat, value_set=pa.array(class_list, pa.string()))
        valid = pc.is_valid(cls).to_numpy(zero_copy_only=False)
        if not valid.any():
            return None
        cls_idx = np.asarray(pc.fill_null(cls, 0).to_numpy(zero_copy_only=False), dtype=np.int64)[valid]
        prob = np.asarray(pc.fill_null(pc.list_flatten(scores), 0.0).to_numpy(zero_copy_only=False),
                          dtype=np.float64)[valid]
        frame = parent[valid]
        group = group_of_class[cls_idx]
        n_groups = len(groups)
        keys, inverse = np.unique(frame * n_groups + group, return_inverse=True)
        summed = np.bincount(inverse, weights=prob, minlength=len(keys))
        keep = summed >= self.threshold
        if not keep.any():
            return None
        kept_keys = keys[keep]
        frames_k = kept_keys // n_groups
        groups_k = kept_keys % n_groups
        # which classes the kept pairs were seen as
        class_hits: dict[int, dict[str, int]] = {}
        kept_pair = keep[inverse]
        for c, g in zip(cls_idx[kept_pair].tolist(), group[kept_pair].tolist(), strict=True):
            per = class_hits.setdefault(int(g), {})
            per[class_list[c]] = per.get(class_list[c], 0) + 1
        t_col = pc.cast(tbl.column("t"), pa.int64())
        t_us = np.asarray(t_col.to_numpy(), dtype=np.int64)[frames_k]
        eps: builtins.list[str] = tbl.column("episode_id").to_pylist()
        thumbs: builtins.list[str | None] = tbl.column("thumb_id").to_pylist()
        fk = frames_k.tolist()
        return _Shown(
            group=groups_k.astype(np.int64),
            episode=[eps[i] for i in fk],
            t_us=t_us,
            thumb=[thumbs[i] for i in fk],
            prob=np.asarray(summed[keep], dtype=np.float64),
            class_hits=class_hits,
        )


def objects_in_episodes(store: Store, episode_ids: Sequence[str]) -> dict[str, list[str]]:
    """Episode id -> the everyday objects seen in it (most frames first), for episode lists."""
    return Objects(store).in_episodes(episode_ids)


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)

"""Who may be seen unblurred in the pictures lifelog stores (docs/privacy.md, "Bystanders").

The people the user has named are the people they know; everyone else is a bystander whose face
is blurred in stored thumbnails when ``privacy.blur_bystanders`` is on. At import time a face is
kept clear only if its descriptor is close to a named person's centroid (the distance at which a
good face alone joins a person, :class:`lifelog.people.cluster.ClusterParams`). Naming someone
therefore un-blurs their *future* pictures; pictures stored before stay blurred (the unblurred
frame is not kept anywhere).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from lifelog.people.cluster import ClusterParams
from lifelog.store.db import Store


def named_centroids(store: Store) -> npt.NDArray[np.float32]:
    """The centroids of the named, not merged-away people, (n, 128)."""
    rows = store.rows("people", "name_enc IS NOT NULL AND merged_into IS NULL", columns=["centroid", "name_enc"])
    cents = [r["centroid"] for r in rows.to_pylist() if r["centroid"] is not None and r["name_enc"]]
    return np.asarray(cents, dtype=np.float32).reshape(len(cents), -1) if cents else np.zeros((0, 128), np.float32)


def named_face_matcher(store: Store, params: ClusterParams | None = None) -> Callable[[npt.NDArray[np.float32]], bool]:
    """``is_named(descriptor)``: the face is close enough to a named person to be left unblurred."""
    cents = named_centroids(store)
    limit = (params or ClusterParams()).attach

    def is_named(descriptor: npt.NDArray[np.float32]) -> bool:
        if len(cents) == 0:
            return False
        d = np.linalg.norm(cents - np.asarray(descriptor, dtype=np.float32)[None, :], axis=1)
        return bool(d.min() <= limit)

    return is_named

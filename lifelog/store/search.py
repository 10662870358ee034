"""Search parameters shared by every ANN (IVF-PQ) vector search of the store.

The frames' ConSE vectors (``lifelog.recall.retrieve``) and the optional image-text models'
tables (``lifelog.encoders.vectors``) are searched with the same settings, tuned at a year of
memories (1M frames, ``bench/query.py``): recall@10 ≈ 0.95 against an exact search.
"""

from __future__ import annotations

NPROBES = 24  # IVF partitions looked into per query
REFINED_CANDIDATES = 1000  # PQ distances are re-ranked exactly over at least this many rows


def refine_factor(k: int) -> int:
    """IVF-PQ refine factor so that ``k * factor`` >= REFINED_CANDIDATES (recall@10 ≈ 0.95 at 1M)."""
    return max(2, -(-REFINED_CANDIDATES // max(k, 1)))

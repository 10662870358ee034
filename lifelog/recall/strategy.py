"""How recall searches: the switches of its speed-ups and the ablations of its scoring.

The product always uses the default; benchmarks turn a switch off to measure what it buys
(``bench/query.py --compare``, ``bench/recall.py --no-lexicon / --threshold``), and tests turn one
off to check that the fast path gives exactly the answer of the plain one.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifelog.recall.score import MATCH_THRESHOLD


@dataclass(frozen=True)
class RecallStrategy:
    """Every switch on by default; the product never changes them."""

    probe_first: bool = True
    """"last"/"first": one look over the whole window before searching it slice by slice
    (``answer._probe``); off, the slices are searched as they come."""
    anchor_at_newest: bool = True
    """"last": slices counted back from the newest memory of the window, not from the clock."""
    label_mass_filter: bool = True
    """Label hits filtered by their probability mass inside LanceDB (``retrieve.label_filter``);
    off, every frame having one of the labels is read."""
    episode_peaks: bool = True
    """Label hits looked for only in the episodes whose label peaks could clear the mass
    (``retrieve.peak_episodes``); off, the sightings of the whole window are scanned."""
    split_count: bool = True
    """A window open at the start is counted as all frames less those after its end
    (``retrieve.count_in``); off, counted inside the window."""
    lexicon: bool = True
    """Scene and kind words (``assets/scene_lexicon.json``, :mod:`lifelog.recall.scenes`)."""
    match_threshold: float = MATCH_THRESHOLD
    """The calibrated score an episode must reach to match (``score.MATCH_THRESHOLD``)."""


DEFAULT_STRATEGY = RecallStrategy()

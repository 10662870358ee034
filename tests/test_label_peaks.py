"""Episodes' label peaks (lifelog.ingest.peaks): questions skip the episodes where no frame can
carry the subject's label mass, and answer exactly as if they had read every sighting.

A simulated year on disk (tests/test_recall_scoring.py's: three everyday episodes a day, a cat
three times, a bird once) written as a memory made before peaks existed (nulls); the nightly
pass's ``peaks`` step fills them in.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from test_recall_scoring import YEAR_END, _write_year, _year

QUESTIONS = [
    "when did I last see a cat?",
    "when did I first see a cat?",
    "when did I last see a bird?",
    "when did I last see a giraffe?",
    "how many times did I see a cup last week?",
    "when did I last have an espresso?",
]


@pytest.fixture(scope="module")
def older(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A year written without peaks, as a memory of an earlier version holds it."""
    data = tmp_path_factory.mktemp("older") / "memory"
    _write_year(data, _year(7, {"Egyptian cat": [200, 90, 40], "brambling": [300]}))
    return data


@pytest.fixture(scope="module")
def peaked(older: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from lifelog.ingest.peaks import fill_peaks
    from lifelog.store.db import Store

    data = tmp_path_factory.mktemp("peaked") / "memory"
    shutil.copytree(older, data)
    fill_peaks(Store(data))
    return data


def _answers(data: Path) -> list[tuple[str, list[tuple[str, float]], int | None]]:
    from lifelog.api import Memory

    mem = Memory(data)
    out = []
    for q in QUESTIONS:
        a = mem.ask(q, now=YEAR_END + timedelta(hours=1))
        out.append((a.answer, [(h.episode_id, round(h.score, 4)) for h in a.hits], a.count))
    return out


def test_the_nightly_pass_fills_an_older_memorys_peaks_and_the_answers_stay(older: Path, tmp_path: Path) -> None:
    from lifelog.api import Memory
    from lifelog.consolidate.context import ConsolidationContext
    from lifelog.consolidate.steps import STEPS, fill_label_peaks

    data = tmp_path / "memory"
    shutil.copytree(older, data)
    before = _answers(data)
    mem = Memory(data)
    store = mem.store
    n_eps = store.count("episodes")
    assert store.count("episodes", "peak_labels IS NULL") == n_eps > 1000
    assert "peaks" in [s.name for s in STEPS]
    ctx = ConsolidationContext(mem.data_dir, mem.settings, store, mem.vault, UTC)
    assert fill_label_peaks(ctx, datetime.now(UTC)) == {"filled": n_eps}
    assert store.count("episodes", "peak_labels IS NULL") == 0
    # each episode's peaks are its frames' highest score of each label
    frames = store.rows("frames", None, columns=["episode_id", "labels", "label_scores"]).to_pylist()
    best: dict[str, dict[str, float]] = {}
    for f in frames:
        mine = best.setdefault(f["episode_id"], {})
        for lab, s in zip(f["labels"], f["label_scores"], strict=True):
            mine[lab] = max(mine.get(lab, 0.0), s)
    for e in store.rows("episodes", None, columns=["id", "peak_labels", "peak_scores"]).to_pylist():
        assert dict(zip(e["peak_labels"], e["peak_scores"], strict=True)) == best[e["id"]]
        assert e["peak_scores"] == sorted(e["peak_scores"], reverse=True)
    assert fill_label_peaks(ctx, datetime.now(UTC)) == {"filled": 0}  # nothing left to do
    assert _answers(data) == before


def test_a_cancelled_fill_keeps_what_it_wrote_and_the_next_one_finishes(older: Path, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import lifelog.ingest.peaks as peaks
    from lifelog.store.db import Store

    data = tmp_path / "memory"
    shutil.copytree(older, data)
    store = Store(data)
    n_eps = store.count("episodes")
    monkeypatch.setattr(peaks, "FILL_CHUNK", 100)
    seen: list[int] = []
    done = peaks.fill_peaks(store, should_stop=lambda: len(seen) >= 2, progress=lambda i, n: seen.append(i))
    assert done == 200 and seen == [100, 200]
    assert store.count("episodes", "peak_labels IS NULL") == n_eps - 200
    assert peaks.fill_peaks(store) == n_eps - 200
    assert store.count("episodes", "peak_labels IS NULL") == 0


WEIGHTS = [
    {"Egyptian cat": 1.0, "tabby": 0.5, "tiger cat": 0.5},  # three clear sightings in a year
    {"brambling": 1.0, "goldfinch": 0.8},  # one
    {"cup": 1.0, "coffee mug": 0.66, "espresso": 0.5},  # every day, weakly or clearly
    {"espresso": 1.0},
    {"giraffe": 1.0},  # never
]
WINDOWS = [
    (None, YEAR_END - timedelta(days=1)),  # the probe of "last": everything before the last day
    (None, None),
    (YEAR_END - timedelta(days=100), YEAR_END - timedelta(days=30)),
    (YEAR_END - timedelta(days=41), YEAR_END - timedelta(days=39)),
]


@pytest.mark.parametrize("min_mass", [0.05, 0.3, 0.6, 0.9])
def test_label_sightings_are_the_same_found_through_the_peaks(peaked: Path, min_mass: float) -> None:
    """Every label-path read (with the probe's cap and without) gives the same frames with the
    peaks as by scanning every sighting, and the peaks did narrow the search where they can."""
    from lifelog.recall import retrieve
    from lifelog.recall.strategy import RecallStrategy
    from lifelog.store.db import Store

    store = Store(peaked)
    off = RecallStrategy(episode_peaks=False)
    narrowed = 0
    for weights in WEIGHTS:
        for start, end in WINDOWS:
            eps = retrieve.peak_episodes(store, weights, min_mass, start, end)
            narrowed += eps is not None
            for cap in (None, 5, 1000):
                got, complete = retrieve.label_rows(store, weights, start, end, min_mass, cap=cap)
                want, want_complete = retrieve.label_rows(store, weights, start, end, min_mass, cap=cap, strategy=off)
                assert complete == want_complete, (weights, start, end, cap)
                assert sorted(got.column("id").to_pylist()) == sorted(want.column("id").to_pylist()), (
                    weights, start, end, cap)
                if eps is not None:
                    assert set(got.column("episode_id").to_pylist()) <= set(eps)
    assert narrowed >= len(WINDOWS) * 2  # the cat, the bird and the giraffe at least


def test_episodes_whose_peaks_are_not_known_are_still_searched(peaked: Path, tmp_path: Path) -> None:
    """An episode without peaks (a fill not finished) may hold the subject: its frames are read."""
    from lifelog.recall import retrieve
    from lifelog.store.db import Store

    data = tmp_path / "memory"
    shutil.copytree(peaked, data)
    store = Store(data)
    cats = sorted(set(store.rows("frames", "array_has_any(labels, make_array('Egyptian cat'))",
                                 columns=["episode_id"]).column("episode_id").to_pylist()))
    assert len(cats) == 3
    weights = WEIGHTS[0]
    assert retrieve.peak_episodes(store, weights, 0.5, None, None) == cats
    store.table("episodes").update(where=f"id = '{cats[1]}'", values={"peak_labels": None, "peak_scores": None})
    store.refresh()
    eps = retrieve.peak_episodes(store, weights, 0.5, None, None)
    assert eps == cats  # the unknown one is among them
    rows, complete = retrieve.label_rows(store, weights, None, None, 0.5)
    assert complete and set(rows.column("episode_id").to_pylist()) == set(cats)


def test_peaks_that_do_not_add_up_count_as_not_known(peaked: Path, tmp_path: Path) -> None:
    """Peaks whose labels and scores differ in length (a damaged or hand-edited archive) do not
    hide the episode: it is searched as if it had none."""
    from lifelog.recall import retrieve
    from lifelog.store.db import Store

    data = tmp_path / "memory"
    shutil.copytree(peaked, data)
    store = Store(data)
    cats = sorted(set(store.rows("frames", "array_has_any(labels, make_array('Egyptian cat'))",
                                 columns=["episode_id"]).column("episode_id").to_pylist()))
    store.table("episodes").update(where=f"id = '{cats[0]}'",
                                   values={"peak_labels": ["cup"], "peak_scores": [0.01, 0.9]})
    store.refresh()
    assert retrieve.peak_episodes(store, WEIGHTS[0], 0.5, None, None) == cats
    rows, complete = retrieve.label_rows(store, WEIGHTS[0], None, None, 0.5)
    assert complete and set(rows.column("episode_id").to_pylist()) == set(cats)

"""Recall scoring (lifelog/recall/score.py, scenes.py, retrieve.py): scene and kind words, noun
chunks, the exact label-mass filter in LanceDB, and the whole-window probe for last/first.

Real models (the ImageNet classifier's labels and MiniLM), real LanceDB stores on disk. Stores
of a simulated year are written row by row with real ConSE vectors (the probability-weighted mean
of the real label text vectors, as the importer makes them).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

pytestmark = pytest.mark.usefixtures("models_ready")


def _venc() -> Any:
    from lifelog.encoders import get_visual_encoder

    return get_visual_encoder()


def _scorer(subject: str) -> Any:
    from lifelog.recall.score import Scorer

    return Scorer(subject)


# ------------------------------------------------------------------ the lexicon
def test_every_lexicon_label_is_a_classifier_label() -> None:
    from lifelog.recall.scenes import load_lexicon

    entries = load_lexicon(_venc().label_names)
    assert len(entries) > 40
    assert all(e.labels for e in entries)
    words = [w for e in entries for w in e.words]
    for w in ("garden", "kitchen", "office", "street", "bird", "flower"):
        assert w in words


def test_a_broken_lexicon_is_refused_with_its_reason_and_recall_goes_on(tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    from lifelog.recall.scenes import LexiconError, get_lexicon, load_lexicon

    bad = tmp_path / "lexicon.json"
    bad.write_text(json.dumps({"entries": [{"kind": "scene", "words": ["garden"], "strong": ["garden gnome"]}]}))
    with pytest.raises(LexiconError, match="'garden gnome' is not an ImageNet label"):
        load_lexicon(_venc().label_names, bad)
    (tmp_path / "cut.json").write_text('{"entries": [')
    with pytest.raises(LexiconError, match="unreadable"):
        load_lexicon(_venc().label_names, tmp_path / "cut.json")
    with caplog.at_level(logging.WARNING, logger="lifelog.recall.scenes"):
        assert get_lexicon(_venc().label_names, bad) is None
    assert "scene words are off" in caplog.text


def test_a_kind_word_covers_every_species() -> None:
    w = _scorer("bird").label_weight
    for species in ("brambling", "goldfinch", "robin", "bald eagle", "goose"):
        assert w.get(species) == 1.0, species


def test_a_species_also_accepts_its_close_relatives() -> None:
    from lifelog.recall.scenes import SIBLING_WEIGHT

    w = _scorer("robin").label_weight
    assert w["robin"] == 1.0
    assert w["brambling"] == pytest.approx(SIBLING_WEIGHT)  # a European robin is often labelled so
    assert "Egyptian cat" not in w


def test_a_scene_word_is_evidence_from_the_objects_seen_there() -> None:
    from lifelog.recall.scenes import SCENE_GAIN

    garden = _scorer("garden").label_weight
    assert garden["daisy"] == pytest.approx(SCENE_GAIN) and garden["pot"] == pytest.approx(SCENE_GAIN)
    kitchen = _scorer("kitchen").label_weight
    assert kitchen["refrigerator"] == pytest.approx(SCENE_GAIN)
    assert "street sign" not in kitchen


def test_a_lexicon_word_is_not_stretched_by_text_similarity() -> None:
    """"Was I at the beach?" must not be answered with a lake: the text model finds "lakeside"
    close to "beach", the lexicon says what a beach looks like."""
    from lifelog.recall.score import Scorer
    from lifelog.recall.strategy import RecallStrategy

    assert "lakeside" not in _scorer("beach").label_weight
    assert "seashore" in _scorer("beach").label_weight
    no_lexicon = RecallStrategy(lexicon=False)
    assert "lakeside" in Scorer("beach", lexicon=no_lexicon.lexicon).label_weight  # what it was before the lexicon


# ------------------------------------------------------------------ noun chunks
@pytest.mark.parametrize(
    ("subject", "chunks"),
    [
        ("cat", [("cat", "")]),
        ("man with a camera on a tripod", [("man", ""), ("camera", "with"), ("tripod", "on")]),
        ("cyclists in town", [("cyclists", ""), ("town", "in")]),
        ("lemons and limes", [("lemons", ""), ("limes", "and")]),
        ("sign for the train station", [("sign", ""), ("train station", "for")]),
        ("red motorcycle", [("red motorcycle", "")]),
        ("", []),
    ],
)
def test_noun_chunks(subject: str, chunks: list[tuple[str, str]]) -> None:
    from lifelog.recall.score import noun_chunks

    assert noun_chunks(subject) == chunks


def test_a_detail_of_the_subject_names_labels_at_a_discount() -> None:
    from lifelog.recall.score import CHUNK_DISCOUNT

    w = _scorer("man with a camera on a tripod").label_weight
    assert w["tripod"] == pytest.approx(CHUNK_DISCOUNT)


def test_words_on_a_sign_are_looked_up_on_their_own() -> None:
    assert _scorer("sign for the train station").text_query == "train station"
    assert _scorer("signpost to the sports centre").text_query == "sports centre"
    assert _scorer("poster of an astronaut").text_query is None  # "of": what it shows, not what it says
    assert _scorer("signs").wants_text and not _scorer("cat").wants_text


# ------------------------------------------------------------------ label mass
def test_label_mass_is_the_weighted_sum_of_each_rows_labels() -> None:
    from lifelog.recall.score import label_mass

    weights = {"cat": 1.0, "tabby": 0.5, "pot": 1.5}
    rows = [["cat", "pot", "dog"], [], None, ["tabby"], ["dog", "dog"], ["pot", "cat", "tabby"]]
    probs = [[0.5, 0.2, 0.3], [], None, [0.8], [0.1, 0.1], [0.1, 0.1, 0.1]]
    labels = pa.array(rows, type=pa.list_(pa.string()))
    scores = pa.array(probs, type=pa.list_(pa.float32()))
    want = [0.5 + 0.3, 0.0, 0.0, 0.4, 0.0, 0.15 + 0.1 + 0.05]
    np.testing.assert_allclose(label_mass(weights, labels, scores), want, rtol=1e-5)
    # a slice (as LanceDB batches are) gives the same figures for its rows
    np.testing.assert_allclose(label_mass(weights, labels.slice(3), scores.slice(3)), want[3:], rtol=1e-5)
    chunked = pa.chunked_array([labels.slice(0, 2), labels.slice(2)])
    np.testing.assert_allclose(label_mass(weights, chunked, pa.chunked_array([scores.slice(0, 2), scores.slice(2)])),
                               want, rtol=1e-5)


# ------------------------------------------------------------------ a simulated year on disk
POOL = ["Egyptian cat", "tabby", "tiger cat", "espresso", "cup", "coffee mug", "street sign", "daisy", "pot",
        "lakeside", "brambling", "goldfinch", "desk", "monitor", "refrigerator", "stove"]
YEAR_END = datetime(2025, 12, 31, 20, 0, tzinfo=UTC)


def _write_year(data_dir: Path, episodes: list[tuple[datetime, list[tuple[str, float]]]], first: int = 0) -> None:
    """Episodes of 3 frames, 2 s apart, each frame with the given labels and the real ConSE vector
    (ids numbered from ``first``, so a later call can append to the same store)."""
    from lifelog.store.db import EPISODE_SCHEMA, FRAME_SCHEMA, SEMANTIC_DIM, Store

    venc = _venc()
    index = {n: i for i, n in enumerate(venc.label_names)}
    store = Store(data_dir)
    frames: dict[str, list[Any]] = {k: [] for k in ("id", "episode_id", "media_id", "t", "semantic", "labels",
                                                     "label_scores")}
    eps: dict[str, list[Any]] = {k: [] for k in ("id", "media_id", "start", "end", "labels", "label_scores",
                                                  "semantic")}
    for e, (start, labs) in enumerate(episodes, start=first):
        ep = f"ep{e:05d}"
        vec = sum(p * venc.label_vectors[index[n]] for n, p in labs)
        vec = (vec / np.linalg.norm(vec)).astype(np.float32)
        for k in range(3):
            frames["id"].append(f"{ep}-{k}")
            frames["episode_id"].append(ep)
            frames["media_id"].append(ep)
            frames["t"].append(start + timedelta(seconds=2 * k))
            frames["semantic"].append(vec)
            frames["labels"].append([n for n, _ in labs])
            frames["label_scores"].append([p for _, p in labs])
        eps["id"].append(ep)
        eps["media_id"].append(ep)
        eps["start"].append(start)
        eps["end"].append(start + timedelta(seconds=6))
        eps["labels"].append([n for n, _ in labs])
        eps["label_scores"].append([p for _, p in labs])
        eps["semantic"].append(vec)
    n = len(frames["id"])

    def table(cols: dict[str, list[Any]], schema: pa.Schema) -> pa.Table:
        arrays = []
        for f in schema:
            if f.name == "semantic":
                arrays.append(pa.FixedSizeListArray.from_arrays(pa.array(np.concatenate(cols[f.name])), SEMANTIC_DIM))
            elif f.name in cols:
                arrays.append(pa.array(cols[f.name], type=f.type))
            else:
                arrays.append(pa.nulls(len(cols["id"]), f.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    had = store.count("frames")
    store.table("frames").add(table(frames, FRAME_SCHEMA))
    store.table("episodes").add(table(eps, EPISODE_SCHEMA))
    assert store.count("frames") == had + n


def _year(seed: int, sparse: dict[str, list[int]]) -> list[tuple[datetime, list[tuple[str, float]]]]:
    """A year of everyday episodes (coffee, street, desk…); ``sparse`` puts one labelled sighting
    (label → days before the end of the year) among them."""
    rng = np.random.default_rng(seed)
    everyday = [n for n in POOL if n not in {"Egyptian cat", "tabby", "tiger cat", "brambling", "goldfinch"}]
    out = []
    for day in range(365):
        for h in (8, 13, 19):
            picks = rng.choice(len(everyday), size=3, replace=False)
            p = rng.dirichlet(np.ones(3)) * 0.9
            out.append((YEAR_END - timedelta(days=day, hours=20 - h), [(everyday[i], float(q)) for i, q in zip(picks, p,
                                                                                                             strict=True)]))
    for label, days in sparse.items():
        for d in days:
            out.append((YEAR_END - timedelta(days=d, hours=3), [(label, 0.8), ("cup", 0.05)]))
    return out


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("year") / "memory"
    _write_year(data, _year(7, {"Egyptian cat": [200, 90, 40], "brambling": [300]}))
    return data


@pytest.mark.parametrize("min_mass", [0.05, 0.125, 0.3])
def test_the_label_filter_in_lancedb_keeps_exactly_the_frames_with_enough_mass(
        year: Path, monkeypatch: pytest.MonkeyPatch, min_mass: float) -> None:
    import lifelog.recall.retrieve as retrieve
    from lifelog.recall.score import label_mass
    from lifelog.store.db import Store

    store = Store(year)
    weights = {"cup": 1.0, "coffee mug": 0.66, "espresso": 0.5}
    everything = store.rows("frames", None, columns=["id", "labels", "label_scores"])
    mass = label_mass(weights, everything.column("labels"), everything.column("label_scores"))
    want = {i for i, m in zip(everything.column("id").to_pylist(), mass, strict=True) if m >= min_mass}
    assert 0 < len(want) < everything.num_rows
    got = {}
    for below in (0, 10**9):  # SQL sum in LanceDB, or read the sightings and sum in numpy
        monkeypatch.setattr(retrieve, "FETCH_ALL_BELOW", below)
        rows, complete = retrieve.label_rows(store, weights, None, None, min_mass)
        assert complete
        got[below] = set(rows.column("id").to_pylist())
    assert got[0] == want
    assert got[10**9] == want


@pytest.mark.parametrize("min_mass", [0.0, 0.125, 0.5])
def test_counting_sightings_before_a_time_by_difference_gives_the_window_count(
        year: Path, min_mass: float) -> None:
    """The probe of "last" counts label sightings before the last day as all of them less the
    newest: the same numbers, and the same probe answer, as counting inside the window."""
    import lifelog.recall.retrieve as retrieve
    from lifelog.recall.score import label_mass
    from lifelog.recall.strategy import RecallStrategy
    from lifelog.store.db import Store

    store = Store(year)
    weights = {"cup": 1.0, "coffee mug": 0.66, "espresso": 0.5, "Egyptian cat": 1.0}
    cond = retrieve.label_filter(weights, min_mass)
    assert cond is not None
    everything = store.rows("frames", None, columns=["t", "labels", "label_scores"])
    mass = label_mass(weights, everything.column("labels"), everything.column("label_scores"))
    times = everything.column("t").to_pylist()
    for end in (YEAR_END - timedelta(days=1), YEAR_END - timedelta(days=100), YEAR_END + timedelta(days=1)):
        want = sum(1 for t, m in zip(times, mass, strict=True) if t < end and m > 0 and m >= min_mass)
        counts: dict[bool, int] = {}
        probes: dict[bool, tuple[int, bool]] = {}
        for split in (True, False):
            strategy = RecallStrategy(split_count=split)
            counts[split] = retrieve.count_in(store, None, end, cond, strategy)
            rows, complete = retrieve.label_rows(store, weights, None, end, max(min_mass, 1e-6), cap=100,
                                                 strategy=strategy)
            probes[split] = (rows.num_rows, complete)
        assert counts[True] == counts[False] == want
        assert probes[True] == probes[False]


@pytest.mark.parametrize(
    ("question", "first_start"),
    [
        ("when did I last see a cat?", YEAR_END - timedelta(days=40, hours=3)),
        ("when did I first see a cat?", YEAR_END - timedelta(days=200, hours=3)),
        ("when did I last see a bird?", YEAR_END - timedelta(days=300, hours=3)),
        ("when did I last see a giraffe?", None),
    ],
)
def test_last_and_first_find_rare_sightings_the_same_with_and_without_the_probe(
        year: Path, question: str, first_start: datetime | None) -> None:
    """A thing seen three times in a year: the whole-window probe finds every sighting at once,
    and gives exactly the answer of the slice-by-slice search."""
    import lifelog.recall.answer as answer
    from lifelog.api import Memory
    from lifelog.recall.strategy import RecallStrategy

    mem = Memory(year)
    got = {}
    for probe in (True, False):
        a = answer.ask(mem, question, now=YEAR_END, thumbnails=False, strategy=RecallStrategy(probe_first=probe))
        got[probe] = [(h.episode_id, round(h.score, 4)) for h in a.hits]
        if first_start is None:
            assert a.hits == [] and "found no" in a.answer
        else:
            assert a.hits and a.hits[0].start == first_start, a.answer
    assert got[True] == got[False]


def test_a_dense_subject_is_still_answered_from_the_most_recent_slice(year: Path) -> None:
    from lifelog.api import Memory
    from lifelog.recall.answer import ask

    a = ask(Memory(year), "when did I last see a coffee?", now=YEAR_END, thumbnails=False)
    assert a.hits and (YEAR_END - a.hits[0].start) < timedelta(days=1)


@pytest.mark.parametrize(
    ("question", "newest"),
    [
        ("when did I last see a cat?", YEAR_END - timedelta(days=40, hours=3)),
        ("when did I last see a coffee?", None),  # seen every day: the newest coffee of the year
        ("when did I last see a bird?", YEAR_END - timedelta(days=300, hours=3)),
        ("when did I last see a giraffe?", None),
    ],
)
def test_last_after_days_without_recordings_gives_the_same_answer_as_counting_back_from_now(
        year: Path, question: str, newest: datetime | None) -> None:
    """Asked ten days after the last recording: the slices are counted back from the newest
    memory (the fast path) and the answer is exactly that of slices counted back from now."""
    import lifelog.recall.answer as answer
    from lifelog.api import Memory
    from lifelog.recall.strategy import RecallStrategy

    mem = Memory(year)
    now = YEAR_END + timedelta(days=10)
    got = {}
    for anchored in (True, False):
        a = answer.ask(mem, question, now=now, thumbnails=False, strategy=RecallStrategy(anchor_at_newest=anchored))
        got[anchored] = [(h.episode_id, round(h.score, 4)) for h in a.hits]
        if "giraffe" in question:
            assert a.hits == [] and "found no" in a.answer
        elif newest is not None:
            assert a.hits and a.hits[0].start == newest, a.answer
        else:  # coffee: the evening episode of the last recorded day
            assert a.hits and YEAR_END - a.hits[0].start < timedelta(days=1), a.answer
    assert got[True] == got[False]


def test_first_sees_older_photos_imported_after_the_previous_question(tmp_path: Path) -> None:
    """The span of the memory (where "first" starts looking) is remembered between questions only
    until episodes change: photos from before it, imported later, are found."""
    from lifelog.api import Memory
    from lifelog.recall.answer import ask

    data = tmp_path / "memory"
    start = YEAR_END - timedelta(days=30)
    _write_year(data, [(start + timedelta(days=d), [("Egyptian cat", 0.8), ("cup", 0.1)]) for d in (3, 8)]
                + [(start + timedelta(days=d), [("desk", 0.5), ("monitor", 0.4)]) for d in range(30)])
    mem = Memory(data)
    now = YEAR_END + timedelta(days=3)
    before = ask(mem, "when did I first see a cat?", now=now, thumbnails=False)
    assert before.hits and before.hits[0].start == start + timedelta(days=3), before.answer
    older = start - timedelta(days=200)  # an old photo, imported after the question
    _write_year(data, [(older, [("Egyptian cat", 0.7), ("desk", 0.2)])], first=100)
    after = ask(mem, "when did I first see a cat?", now=now, thumbnails=False)
    assert after.hits and after.hits[0].start == older, after.answer
    last = ask(mem, "when did I last see a cat?", now=now, thumbnails=False)
    assert [h.start for h in last.hits] == [start + timedelta(days=8), start + timedelta(days=3), older]


# ------------------------------------------------------------------ places, end to end
@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory, media: Any) -> tuple[Path, dict[str, datetime]]:
    """Real photos imported through the real pipeline, an hour apart (capture time = mtime)."""
    import os
    import shutil

    from lifelog.api import Memory

    root = tmp_path_factory.mktemp("places")
    taken: dict[str, datetime] = {}
    files = []
    for i, name in enumerate(["flower.jpg", "china.jpg", "hfs_001.jpg", "fruits.jpg", "hfs_002.jpg"]):
        dst = root / "photos" / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(media.path(name), dst)
        at = datetime(2024, 5, 14, 9 + i, 0, tzinfo=UTC)
        os.utime(dst, (at.timestamp(), at.timestamp()))
        taken[name] = at
        files.append(dst)
    res = Memory(root / "memory").import_paths(files)
    assert res.imported == len(files) and not res.failed
    return root / "memory", taken


@pytest.mark.parametrize(
    ("question", "photo"),
    [
        ("When was I in the garden?", "flower.jpg"),
        ("When was I at the temple?", "china.jpg"),
        ("Did I go sightseeing?", "china.jpg"),
        ("What did I have for lunch?", "fruits.jpg"),
        ("When did I see the lone tree in the field?", "hfs_002.jpg"),
        ("Was I at the beach?", None),  # a lake is not a beach
        ("When did I last go skiing?", None),
    ],
)
def test_places_the_classifier_has_no_class_for(places: tuple[Path, dict[str, datetime]], question: str,
                                                photo: str | None) -> None:
    from lifelog.api import Memory
    from lifelog.recall.answer import ask

    data, taken = places
    a = ask(Memory(data), question, now=datetime(2024, 5, 14, 20, 0, tzinfo=UTC), thumbnails=False)
    if photo is None:
        assert a.hits == [], [(h.start, h.score) for h in a.hits]
    else:
        assert a.hits and a.hits[0].start == taken[photo], (a.answer, [(h.start, h.score) for h in a.hits])
        assert any(e.kind == "label" for e in a.hits[0].evidence)  # the objects that made it a garden…


def test_about_splits_a_phrase_so_the_sign_is_the_head() -> None:
    from lifelog.recall.score import TEXT_LINKS, head_noun, noun_chunks

    # "what did the sign about parking say?" is about a sign (its words: parking), not a person.
    assert head_noun("sign about parking") == "sign"
    assert noun_chunks("the sign about parking") == [("sign", ""), ("parking", "about")]
    assert "about" in TEXT_LINKS


@pytest.fixture(scope="module")
def weak_year(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bird named weakly in over a thousand episodes (a label at 2 % beside a cup) and seen
    clearly twice: more sightings than the probe reads, few with the mass to count."""
    data = tmp_path_factory.mktemp("weak-year") / "memory"
    weak = [(YEAR_END - timedelta(days=d % 360, hours=2, minutes=d // 360), [("goldfinch", 0.02), ("cup", 0.6)])
            for d in range(1200)]
    _write_year(data, _year(8, {"goldfinch": [250, 20]}) + weak)
    return data


@pytest.mark.parametrize(("question", "days_before"), [("when did I last see a goldfinch?", 20),
                                                       ("when did I first see a goldfinch?", 250)])
def test_a_thing_named_weakly_often_and_clearly_rarely_is_found_by_the_probe_as_by_the_slices(
        weak_year: Path, question: str, days_before: int) -> None:
    """The probe reads the few sightings with the mass (not every weak one) and answers at once,
    exactly as the slice-by-slice search does."""
    import lifelog.recall.answer as answer
    import lifelog.recall.retrieve as retrieve
    from lifelog.api import Memory
    from lifelog.recall.strategy import RecallStrategy

    mem = Memory(weak_year)
    weights = {"goldfinch": 1.0}
    has = retrieve.count_in(mem.store, None, None, retrieve.label_filter(weights) or "true")
    assert has > answer.PROBE_LABEL_CAP  # the probe cannot read every sighting
    rows, complete = retrieve.label_rows(mem.store, weights, None, YEAR_END - timedelta(days=1), 0.125,
                                         cap=answer.PROBE_LABEL_CAP)
    assert complete and rows.num_rows == 6  # the two clear sightings' frames, nothing weak
    got = {}
    for probe in (True, False):
        a = answer.ask(mem, question, now=YEAR_END, thumbnails=False, strategy=RecallStrategy(probe_first=probe))
        assert a.hits and a.hits[0].start == YEAR_END - timedelta(days=days_before, hours=3), a.answer
        got[probe] = [(h.episode_id, round(h.score, 4)) for h in a.hits]
    assert got[True] == got[False]

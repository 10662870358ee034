"""The knowledge graph: build time and query latency, on the sample days and on a month.

    .venv/bin/python bench/graph.py [--days 30] [--queries 40]

* **sample days**: the composed sample days imported once (``bench/archive.py``'s cached memory,
  ``<cache>/bench/archive-days``; imported here if missing), on a fresh copy: a full build, then
  the same build again (idempotent: nothing written).
* **a month**: ``bench/forget.py``'s synthetic month (``bench/ui.py``'s ``build_month``: 30 days
  × 91 one-minute episodes of 30 frames, one named person in every third episode), on a fresh
  copy given a second person (every fifth episode, so the two meet in every fifteenth) and four
  places (each episode at one, by the hour). Measured: a full build; the incremental build an
  import of the last day would run (only that day's frames read for objects); a no-op build.
* **queries** (models warm, graph built): ``people_between`` over one day and
  ``seen_with`` over a week, ``places_between`` over a day, p50/p95 over random windows, each as a
  ratio to a plain scan of the same window's episodes (``Store.rows("episodes", overlap)``)
  measured in the same run; and ``people_between`` answered from the domain tables alone (a
  memory whose graph is not built yet).

* **a year** (``--year 1000000``): ``bench/query.py``'s cached year of 1M frames (33,333
  episodes), copied once to ``graph-year-<frames>`` with 20 people (0–2 per episode, 8 named), 12
  places (by weekday and hour, 4 named) and its graph (built once, cached). Timed, models warm:
  the first question in a fresh process, the query functions over random days and weeks, and
  the full ``ask`` of the issue's graph questions (asked at 22:00 on random days). With
  ``--baseline TREE [--rounds 3]`` each round is a fresh process per tree, alternating
  (baseline, this tree, …), reported as p50/p95 per question and as ratios; the answers of the
  two trees are compared.

    git -C . archive HEAD | tar -x -C /tmp/base    # the code before (link models/build into it)
    .venv/bin/python bench/graph.py --skip-sample-days --skip-month --year 1000000 --baseline /tmp/base

Figures are printed and written to ``bench/results/graph.json``. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
if os.environ.get("LIFELOG_BENCH_TREE"):  # --baseline's rounds: the code of that tree
    sys.path.insert(0, os.environ["LIFELOG_BENCH_TREE"])
RESULTS = REPO / "bench" / "results" / "graph.json"
PASSPHRASE = "bench passphrase"


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


def _pct(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


def _ms(xs: list[float]) -> dict[str, float]:
    return {"p50_ms": round(statistics.median(xs) * 1000, 2), "p95_ms": round(_pct(xs, 0.95) * 1000, 2)}


def _drop_graph(store: Any) -> None:
    from lifelog.graph import tables

    for t in tables.TABLES:
        store.table(t).delete("true")


def _timed_build(store: Any, vault: Any, episodes: list[str] | None) -> dict[str, Any]:
    from lifelog.graph.build import build_graph

    t0 = time.perf_counter()
    r = build_graph(store, vault, episodes)
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 3), **r.to_json()}


def sample_days(cache: Path) -> dict[str, Any]:
    from lifelog.api import Memory

    base = cache / "archive-days"
    if not (base / "db").exists():
        from lifelog.api.sample import compose_sample_days, fetch_sample_media

        log("importing the sample days (once) …")
        days = compose_sample_days(fetch_sample_media())
        Memory(base).import_paths(days.files)
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-graph-") as tmp:
        data = Path(tmp) / "memory"
        shutil.copytree(base, data)
        mem = Memory(data)
        _drop_graph(mem.store)
        eps = mem.store.count("episodes")
        log(f"sample days: {eps} episodes; full build")
        full = _timed_build(mem.store, mem.vault, None)
        again = _timed_build(mem.store, mem.vault, None)
        return {"episodes": eps, "frames": mem.store.count("frames"), "faces": mem.store.count("faces"),
                "full": full, "again": again}


def _enrich_month(data: Path) -> tuple[str, str, list[str]]:
    """A second person (every 5th episode) and four places (by the hour) on a copy of the month."""
    import numpy as np
    import pyarrow as pa

    from lifelog.api import Memory
    from lifelog.store.db import FACE_DIM, FACE_SCHEMA, PEOPLE_SCHEMA, PLACE_SCHEMA, PLACE_VISIT_SCHEMA

    mem = Memory(data)
    store = mem.store
    first = store.rows("people", None, columns=["id"]).column("id").to_pylist()[0]
    eps = sorted(store.rows("episodes", None, columns=["id", "media_id", "start", "end"]).to_pylist(),
                 key=lambda r: r["start"])
    rng = np.random.default_rng(9)
    pid = "c" * 10
    rows = []
    for i, e in enumerate(eps):
        if i % 5:
            continue
        emb = rng.normal(0, 1, FACE_DIM).astype(np.float32)
        rows.append({"id": f"{e['id']}-f1", "frame_id": f"{e['media_id']}-00001", "media_id": e["media_id"],
                     "episode_id": e["id"], "t": e["start"] + timedelta(seconds=2), "box": [0.6, 0.2, 0.2, 0.3],
                     "quality": 0.9, "embedding": (emb / np.linalg.norm(emb)).tolist(), "person_id": pid,
                     "crop_id": None, "model": "bench", "seed": True, "assigned_by": "auto"})
    store.table("faces").add(pa.Table.from_pylist(rows, schema=FACE_SCHEMA))
    now = eps[0]["start"]
    store.table("people").add(pa.Table.from_pylist(
        [{"id": pid, "hidden": False, "user_locked": False, "centroid": [0.0] * FACE_DIM, "updated_at": now,
          "created_at": now, "model": "bench"}], schema=PEOPLE_SCHEMA))
    places = [f"plbench{k:03d}" for k in range(4)]
    store.table("places").add(pa.Table.from_pylist(
        [{"id": p, "kind": "scene", "name_source": None, "user_named": False, "created_at": now, "updated_at": now}
         for p in places], schema=PLACE_SCHEMA))
    store.table("place_visits").add(pa.Table.from_pylist(
        [{"id": e["id"], "episode_id": e["id"], "media_id": e["media_id"], "place_id": places[e["start"].hour % 4],
          "start": e["start"], "end": e["end"]} for e in eps], schema=PLACE_VISIT_SCHEMA))
    last_day = eps[-1]["start"].date()
    return first, pid, [e["id"] for e in eps if e["start"].date() == last_day]


def month(cache: Path, days: int, n_queries: int) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.graph import query
    from lifelog.store.sql import overlap_conditions

    base = cache / f"forget-month-{days}d"
    if not (base / ".built").exists():
        raise SystemExit(f"build the month first: .venv/bin/python bench/forget.py --days {days}")
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-graph-") as tmp:
        data = Path(tmp) / "memory"
        shutil.copytree(base, data)
        first, _second, last_day = _enrich_month(data)
        mem = Memory(data)
        s, v = mem.store, mem.vault
        _drop_graph(s)
        out: dict[str, Any] = {"episodes": s.count("episodes"), "frames": s.count("frames"),
                               "faces": s.count("faces")}
        # answered from the domain tables (no graph yet), before building
        starts = sorted(s.rows("episodes", None, columns=["start"]).column("start").to_pylist())
        lo, hi = starts[0], starts[-1]
        rnd = random.Random(4)

        def window(span: timedelta) -> tuple[datetime, datetime]:
            a = lo + (hi - lo - span) * rnd.random()
            return a, a + span

        day_windows = [window(timedelta(days=1)) for _ in range(n_queries)]
        week_windows = [window(timedelta(days=7)) for _ in range(n_queries)]
        fallback = []
        for a, b in day_windows[: max(3, n_queries // 8)]:
            t0 = time.perf_counter()
            query.people_between(s, v, a, b)
            fallback.append(time.perf_counter() - t0)
        out["people_between_without_graph"] = _ms(fallback)
        log("month: full build")
        out["full"] = _timed_build(s, v, None)
        out["again"] = _timed_build(s, v, None)
        out["incremental_last_day"] = {**_timed_build(s, v, last_day), "new_episodes": len(last_day)}

        def timed(fn: Any, windows: list[tuple[datetime, datetime]]) -> list[float]:
            xs = []
            for a, b in windows:
                t0 = time.perf_counter()
                fn(a, b)
                xs.append(time.perf_counter() - t0)
            return xs

        def scan(a: datetime, b: datetime) -> Any:
            return s.rows("episodes", " AND ".join(overlap_conditions(a, b)), columns=["id", "start", "end"])

        timed(lambda a, b: query.people_between(s, v, a, b), day_windows[:3])  # warm
        base_day = timed(scan, day_windows)
        base_week = timed(scan, week_windows)
        q = {
            "people_between_day": timed(lambda a, b: query.people_between(s, v, a, b), day_windows),
            "seen_with_week": timed(lambda a, b: query.seen_with(s, v, first, a, b), week_windows),
            "places_between_day": timed(lambda a, b: query.places_between(s, v, a, b), day_windows),
        }
        scans = {"people_between_day": base_day, "seen_with_week": base_week, "places_between_day": base_day}
        out["episode_scan_day"] = _ms(base_day)
        out["episode_scan_week"] = _ms(base_week)
        out["queries"] = {k: {**_ms(xs), "ratio_p50_to_episode_scan": round(statistics.median(xs) /
                                                                          statistics.median(scans[k]), 2)}
                          for k, xs in q.items()}
        out["seen_with_count"] = len(query.seen_with(s, v, first))
        out["stats"] = query.stats(s).to_json()
        return out


# --------------------------------------------------------------------------- a year
YEAR_PEOPLE = ["Sam", "Alex", "Robin", "Kim", "Jo", "Lee", "Max", "Pat"]  # 8 named + 12 not named yet
YEAR_PLACES = ["home", "the gym", "the office", "the park"]  # 4 named + 8 not named


def _year_memory(cache: Path, frames: int) -> Path:
    """``bench/query.py``'s cached year (``query-<frames>``), copied once to ``graph-year-<frames>``
    (the frames table hard-linked: LanceDB never rewrites a data file) and given 20 people (0–2
    per episode, 8 named), 12 places (by weekday and hour, 4 named) and its graph, built once."""
    import numpy as np
    import pyarrow as pa

    from lifelog.api import Memory
    from lifelog.places import Places
    from lifelog.store.db import FACE_DIM, FACE_SCHEMA, PEOPLE_SCHEMA, PLACE_SCHEMA, PLACE_VISIT_SCHEMA

    base = cache / f"query-{frames}"
    if not (base / "bench-stamp.json").exists():
        raise SystemExit(f"build the year first: .venv/bin/python bench/query.py --frames {frames}")
    data = cache / f"graph-year-{frames}"
    stamp = data / "graph-stamp.json"
    if stamp.exists():
        return data
    if not (data / "db").exists():
        log(f"year: copying {base.name} (frames hard-linked)")
        shutil.copytree(base, data, ignore=shutil.ignore_patterns("frames.lance"))
        shutil.copytree(base / "db" / "frames.lance", data / "db" / "frames.lance", copy_function=os.link)
    os.environ["LIFELOG_PASSPHRASE"] = "bench"  # bench/query.py's
    mem = Memory(data)
    store = mem.store
    if store.count("faces"):  # a run stopped after the people were added: start again from the year
        shutil.rmtree(data)
        return _year_memory(cache, frames)
    eps = sorted(store.rows("episodes", None, columns=["id", "media_id", "start", "end"]).to_pylist(),
                 key=lambda r: r["start"])
    rng = np.random.default_rng(15)
    people = [f"pby{k:07d}" for k in range(20)]
    weights = np.array([1.0 / (k + 1) for k in range(len(people))])
    weights /= weights.sum()
    faces = []
    for e in eps:
        for k in rng.choice(len(people), size=int(rng.integers(0, 3)), replace=False, p=weights):
            emb = rng.normal(0, 1, FACE_DIM).astype(np.float32)
            faces.append({"id": f"{e['id']}-p{k}", "frame_id": f"{e['media_id']}-00001", "media_id": e["media_id"],
                          "episode_id": e["id"], "t": e["start"] + timedelta(seconds=2),
                          "box": [0.6, 0.2, 0.2, 0.3], "quality": 0.9,
                          "embedding": (emb / np.linalg.norm(emb)).tolist(), "person_id": people[k],
                          "crop_id": None, "model": "bench", "seed": True, "assigned_by": "auto"})
    store.table("faces").add(pa.Table.from_pylist(faces, schema=FACE_SCHEMA))
    now = eps[0]["start"]
    store.table("people").add(pa.Table.from_pylist(
        [{"id": p, "hidden": False, "user_locked": False, "centroid": [0.0] * FACE_DIM, "updated_at": now,
          "created_at": now, "model": "bench"} for p in people], schema=PEOPLE_SCHEMA))
    places = [f"plyear{k:04d}" for k in range(12)]
    store.table("places").add(pa.Table.from_pylist(
        [{"id": p, "kind": "scene", "name_source": None, "user_named": False, "created_at": now, "updated_at": now}
         for p in places], schema=PLACE_SCHEMA))
    store.table("place_visits").add(pa.Table.from_pylist(
        [{"id": e["id"], "episode_id": e["id"], "media_id": e["media_id"],
          "place_id": places[(e["start"].hour // 3 + 3 * e["start"].weekday()) % 12], "start": e["start"],
          "end": e["end"]} for e in eps], schema=PLACE_VISIT_SCHEMA))
    log(f"year: {len(eps)} episodes, {len(faces)} faces; building the graph")
    t0 = time.perf_counter()
    built = _timed_build(store, mem.vault, None)
    from lifelog.graph.build import build_graph
    from lifelog.people.service import People

    pl, pe = Places(store, mem.vault), People(store, mem.vault)
    for pid, name in zip(places, YEAR_PLACES, strict=False):
        pl.name(pid, name)
    for pid, name in zip(people, YEAR_PEOPLE, strict=False):
        pe.name(pid, name)  # not Memory.name_person: that re-describes the whole year after each name
    build_graph(store, mem.vault, [])  # the names' history, as after a people edit
    stamp.write_text(json.dumps({"build": built, "named_s": round(time.perf_counter() - t0, 1)}) + "\n")
    return data


QUESTIONS = ["who did I meet on Tuesday?", "who was I with this morning?", "who do I see most at the gym?",
             "when was I last at home with Sam?", "where was I on Wednesday afternoon?",
             "where did I see Sam last?", "what do I usually do on Friday mornings?",
             "who did I see with Alex last week?"]


def year_round(cache: Path, frames: int, n_queries: int) -> dict[str, Any]:
    """One round on the year, in this process (whichever ``lifelog`` is first on the path):
    the first question after the memory is opened (models warm; the graph's per-process state
    still to read), then the query functions and the full ``ask`` of :data:`QUESTIONS`, each
    timed, with a plain scan of the same windows' episodes for scale."""
    from lifelog.api import Memory
    from lifelog.encoders import get_text_encoder, get_visual_encoder
    from lifelog.graph import query
    from lifelog.places import Places
    from lifelog.store.sql import overlap_conditions

    data = _year_memory(cache, frames)
    os.environ["LIFELOG_PASSPHRASE"] = "bench"
    mem = Memory(data)
    s, v = mem.store, mem.vault
    get_visual_encoder(), get_text_encoder()  # models warm (graph questions load none; the rest do)
    starts = sorted(s.rows("episodes", None, columns=["start"]).column("start").to_pylist())
    lo, hi = starts[0], starts[-1]
    rnd = random.Random(15)

    def window(span: timedelta) -> tuple[datetime, datetime]:
        a = lo + (hi - lo - span) * rnd.random()
        return a, a + span

    days = [window(timedelta(days=1)) for _ in range(n_queries)]
    weeks = [window(timedelta(days=7)) for _ in range(n_queries)]
    nows = [(lo + (hi - lo) * (0.2 + 0.8 * rnd.random())).replace(hour=22, minute=0)  # asked in the evening
            for _ in range(max(2, n_queries // 4))]
    t0 = time.perf_counter()
    mem.ask(QUESTIONS[0], now=nows[0], thumbnails=False)
    res: dict[str, Any] = {"first_ask_ms": round((time.perf_counter() - t0) * 1000, 2)}
    sam = next(p.id for p in mem.people() if p.name == "Sam")
    gym = Places(s, v).find("the gym")
    assert gym is not None

    def timed(fn: Any, windows: list[tuple[datetime, datetime]]) -> list[float]:
        xs = []
        for a, b in windows:
            t0 = time.perf_counter()
            fn(a, b)
            xs.append(time.perf_counter() - t0)
        return xs

    def scan(a: datetime, b: datetime) -> Any:
        return s.rows("episodes", " AND ".join(overlap_conditions(a, b)), columns=["id", "start", "end"])

    funcs = {
        "people_between_day": (lambda a, b: query.people_between(s, v, a, b), days),
        "seen_with_week": (lambda a, b: query.seen_with(s, v, sam, a, b), weeks),
        "places_between_day": (lambda a, b: query.places_between(s, v, a, b), days),
        "places_of_person_week": (lambda a, b: query.places_of_person(s, v, sam, a, b), weeks),
        "people_at_week": (lambda a, b: query.people_at(s, v, gym.id, a, b), weeks),
    }
    res["scan_day_s"], res["scan_week_s"] = timed(scan, days), timed(scan, weeks)
    res["funcs_s"] = {name: timed(fn, ws) for name, (fn, ws) in funcs.items()}
    res["ask_s"], res["answers"] = {}, {}
    for q in QUESTIONS:
        xs = []
        for n in nows:
            t0 = time.perf_counter()
            a = mem.ask(q, now=n, thumbnails=False)
            xs.append(time.perf_counter() - t0)
            res["answers"].setdefault(q, []).append(a.answer)
        res["ask_s"][q] = xs
    return res


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of each query function and question over all the rounds of one tree."""
    def pool(get: Any) -> list[float]:
        return [x for r in rounds for x in get(r)]

    out: dict[str, Any] = {"first_ask_ms": [r["first_ask_ms"] for r in rounds],
                           "episode_scan_day": _ms(pool(lambda r: r["scan_day_s"]))}
    out["funcs"] = {k: _ms(pool(lambda r, k=k: r["funcs_s"][k])) for k in rounds[0]["funcs_s"]}
    out["ask"] = {q: _ms(pool(lambda r, q=q: r["ask_s"][q])) for q in QUESTIONS}
    out["ask_all"] = _ms(pool(lambda r: [x for xs in r["ask_s"].values() for x in xs]))
    return out


def year(cache: Path, frames: int, n_queries: int, baseline: Path | None, rounds: int) -> dict[str, Any]:
    """Graph questions on the year (1M frames), models warm: p50/p95 of the query functions and of
    the full ``ask`` of each question. With ``baseline`` (a tree of the code before, e.g.
    ``git archive HEAD | tar -x -C /tmp/base``) each round runs in a fresh process per tree,
    alternating (baseline, this tree, baseline, …), and the figures are ratios of this tree's
    to the baseline's; the answers of both must be the same."""
    from lifelog.graph import query

    data = _year_memory(cache, frames)
    if baseline is None:
        only = _summary([year_round(cache, frames, n_queries)])
        return {"this_tree": only}
    os.environ["LIFELOG_PASSPHRASE"] = "bench"
    from lifelog.api import Memory

    stats = query.stats(Memory(data).store).to_json()
    per: dict[str, list[dict[str, Any]]] = {"baseline": [], "this_tree": []}
    for k in range(rounds):
        for label, tree in (("baseline", baseline), ("this_tree", REPO)):
            log(f"year round {k + 1}/{rounds}: {label}")
            with tempfile.NamedTemporaryFile(suffix=".json") as f:
                env = {**os.environ, "LIFELOG_BENCH_TREE": str(tree)}
                subprocess.run([sys.executable, __file__, "--year-round", str(frames), "--queries", str(n_queries),
                                "--out", f.name], check=True, env=env)
                per[label].append(json.loads(Path(f.name).read_text()))
    same = all(a["answers"] == b["answers"] for a, b in zip(per["baseline"], per["this_tree"], strict=True))
    out: dict[str, Any] = {"frames": frames, "rounds": rounds, "stats": stats, "same_answers": same,
                           "build": json.loads((data / "graph-stamp.json").read_text())}
    summ = {label: _summary(rs) for label, rs in per.items()}
    out.update(summ)
    b, n = summ["baseline"], summ["this_tree"]
    out["ratio_this_to_baseline"] = {
        "ask_all_p50": round(n["ask_all"]["p50_ms"] / b["ask_all"]["p50_ms"], 3),
        "ask_all_p95": round(n["ask_all"]["p95_ms"] / b["ask_all"]["p95_ms"], 3),
        "ask_p95": {q: round(n["ask"][q]["p95_ms"] / b["ask"][q]["p95_ms"], 3) for q in QUESTIONS},
        "funcs_p95": {k: round(n["funcs"][k]["p95_ms"] / b["funcs"][k]["p95_ms"], 3) for k in n["funcs"]},
    }
    log(f"year: ask p95 {b['ask_all']['p95_ms']} ms (baseline) → {n['ask_all']['p95_ms']} ms; "
        f"same answers: {same}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("--queries", type=int, default=40)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--skip-sample-days", action="store_true")
    ap.add_argument("--skip-month", action="store_true")
    ap.add_argument("--year", type=int, default=0, metavar="FRAMES",
                    help="also time graph questions on bench/query.py's year of FRAMES frames (1000000)")
    ap.add_argument("--baseline", type=Path, default=None, metavar="TREE",
                    help="with --year: alternate rounds with the code of TREE (a copy of the code before)")
    ap.add_argument("--rounds", type=int, default=3, help="with --baseline: rounds per tree")
    ap.add_argument("--year-round", type=int, default=0, metavar="FRAMES", help=argparse.SUPPRESS)
    a = ap.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", PASSPHRASE)
    from lifelog.paths import cache_dir

    cache = cache_dir() / "bench"
    if a.year_round:  # one round of --baseline, in a process of its own
        a.out.write_text(json.dumps(year_round(cache, a.year_round, a.queries)) + "\n")
        return 0
    load0 = os.getloadavg()[0]
    res: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": platform.machine(),
                           "cpus": os.cpu_count(), "load_before": round(load0, 2)}
    if not a.skip_sample_days:
        res["sample_days"] = sample_days(cache)
    if not a.skip_month:
        res["month"] = month(cache, a.days, a.queries)
    if a.year:
        res["year"] = year(cache, a.year, a.queries, a.baseline, a.rounds)
    res["load_after"] = round(os.getloadavg()[0], 2)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

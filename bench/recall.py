"""Recall benchmark: ask the question set over the composed sample days and score the answers.

Usage::

    .venv/bin/python bench/recall.py                     # compose (cached), import into a temp memory, ask, score
    .venv/bin/python bench/recall.py --data-dir DIR      # use (and keep) this memory; a re-run skips the import
    .venv/bin/python bench/recall.py --derive            # (re)write the expected answers in bench/questions.json

The questions live in ``bench/questions.json``. Each one was written from the ground truth of the
composed days (``assets/sample_days.json``) before the system was run, and carries a ``truth`` spec:
what to look for (tags, people, legible text, words spoken, or any scene), the time window the
question means (absolute times, as the person asking would mean them) and what to pick (last,
first, all, a count of episodes or of days). The expected answer (``expect``) is *computed* from
that spec and the ground truth by :func:`derive_expect`, never typed by hand; the run stops if the
stored ``expect`` and the derived one disagree (run ``--derive`` after editing a spec).

Metrics (see ``bench/README.md``):

* **R@1 / R@5 at tIoU >= 0.3 and >= 0.5** (the Ego4D NLQ metric) over the answerable questions: a
  question scores if one of its top-k hits has temporal IoU >= the threshold with one of the
  expected scenes. A photo (start == end) counts as a 1-second span, for scenes and hits alike;
* **intent accuracy**, **count accuracy** (exact), **no-answer precision and recall** (a question
  is "answered nothing" when the answer has no hits, and for a count question a count of 0);
* **list recall** for list questions: the fraction of expected scenes that some hit covers;
* breakdowns per signal (what a right answer needs) and per intent, and the failures;
* the score of the top hit for answerable and for no-answer questions, as answered and with the
  match threshold switched off (a second pass), to calibrate that threshold.

Everything goes to ``bench/results/recall.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

if TYPE_CHECKING:
    from lifelog.recall.strategy import RecallStrategy

QUESTIONS = REPO / "bench" / "questions.json"
RESULTS = REPO / "bench" / "results" / "recall.json"
DEFAULT_PASSPHRASE = "bench"
THRESHOLDS = (0.3, 0.5)
KS = (1, 5)
ASK_LIMIT = 10
PHOTO_SPAN = timedelta(seconds=1)
INTENTS = ("last", "first", "when", "count", "list", "where", "what")
SIGNALS = ("visual-label", "visual-scene", "ocr", "person", "speech", "time-only")
PICKS = ("last", "first", "all", "count", "count_days")
MATCH_KEYS = {"tags", "all_tags", "people", "text", "speech", "has_speech", "kind", "any"}

Span = tuple[datetime, datetime]


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# ================================================================= expected answers (truth)
def _lower(xs: Iterable[str]) -> set[str]:
    return {x.strip().lower() for x in xs}


def scene_matches(scene: Any, match: dict[str, Any]) -> bool:
    """Does a ground-truth scene satisfy every criterion of a question's ``truth.match``?

    ``tags``/``people``: any of them (case-insensitive, whole tag); ``all_tags``: all of them;
    ``text``/``speech``: any of the strings occurs in the scene's legible text / transcript;
    ``has_speech``: the scene has a transcript; ``kind``: video or photo; ``any``: every scene.
    """
    unknown = set(match) - MATCH_KEYS
    if unknown or not match:
        raise ValueError(f"bad truth.match {match!r} (keys: {', '.join(sorted(MATCH_KEYS))})")
    tags = _lower(scene.tags)
    if "tags" in match and not (_lower(match["tags"]) & tags):
        return False
    if "all_tags" in match and not (_lower(match["all_tags"]) <= tags):
        return False
    if "people" in match and not (_lower(match["people"]) & _lower(scene.people)):
        return False
    if "text" in match:
        legible = " | ".join(scene.text).lower()
        if not any(t.lower() in legible for t in match["text"]):
            return False
    if "speech" in match and not any(t.lower() in scene.speech.lower() for t in match["speech"]):
        return False
    if "has_speech" in match and bool(scene.speech) != bool(match["has_speech"]):
        return False
    return not ("kind" in match and scene.kind != match["kind"])


def span_of(start: datetime, end: datetime) -> Span:
    return (start, max(end, start + PHOTO_SPAN))


def derive_expect(q: dict[str, Any], gt: Any) -> dict[str, Any]:
    """The expected answer of a question, computed from its ``truth`` spec and the ground truth.

    Candidates are the scenes that match, that overlap the window (start inclusive, end
    exclusive) and that had begun by ``now``. ``pick`` chooses among them; no candidate at all
    makes it a no-answer question (``{"none": true}``, with ``count: 0`` for a count).
    """
    truth = q["truth"]
    now = datetime.fromisoformat(q["now"])
    window = truth.get("window")
    w0 = datetime.fromisoformat(window[0]) if window else None
    w1 = datetime.fromisoformat(window[1]) if window else None
    pick = truth["pick"]
    if pick not in PICKS:
        raise ValueError(f"{q['id']}: pick must be one of {PICKS}")
    cands = []
    for s in sorted(gt.scenes, key=lambda s: (s.start, s.offset)):
        if s.start > now or not scene_matches(s, truth["match"]):
            continue
        a, b = span_of(s.start, s.end)
        if (w1 is not None and a >= w1) or (w0 is not None and b <= w0):
            continue
        cands.append(s)
    out: dict[str, Any] = {}
    if pick in ("count", "count_days"):
        unit = "days" if pick == "count_days" else "episodes"
        zone = now.tzinfo
        n = len({s.start.astimezone(zone).date() for s in cands}) if unit == "days" else len(cands)
        out = {"count": n, "count_unit": unit}
    if not cands:
        out["none"] = True
        return out
    chosen = [cands[-1]] if pick == "last" else [cands[0]] if pick == "first" else cands
    out["scenes"] = [s.id for s in chosen]
    return out


def load_questions(path: Path) -> list[dict[str, Any]]:
    qs: list[dict[str, Any]] = json.loads(path.read_text())
    ids = [q["id"] for q in qs]
    if len(ids) != len(set(ids)):
        raise SystemExit(f"{path}: duplicate question ids")
    for q in qs:
        if q["intent"] not in INTENTS:
            raise SystemExit(f"{q['id']}: intent {q['intent']!r} is not one of {INTENTS}")
        if q["signal"] not in SIGNALS:
            raise SystemExit(f"{q['id']}: signal {q['signal']!r} is not one of {SIGNALS}")
        if datetime.fromisoformat(q["now"]).utcoffset() is None:
            raise SystemExit(f"{q['id']}: now must carry a UTC offset")
    return qs


def check_or_derive(qs: list[dict[str, Any]], gt: Any, path: Path, write: bool) -> None:
    """Compare every stored ``expect`` with the derived one (or, with ``write``, store it)."""
    wrong = []
    for q in qs:
        exp = derive_expect(q, gt)
        if q.get("expect") != exp:
            wrong.append(f"{q['id']}: stored {q.get('expect')} != derived {exp}")
            q["expect"] = exp
    if write:
        order = ("id", "question", "now", "intent", "expect", "signal", "note", "truth")
        rows = [{k: q[k] for k in order if k in q} | {k: v for k, v in q.items() if k not in order} for q in qs]
        path.write_text(_dump_questions(rows))
        log(f"wrote the expected answers of {len(qs)} questions to {path} ({len(wrong)} changed)")
    elif wrong:
        raise SystemExit(
            "the expected answers in questions.json do not follow from the ground truth:\n  "
            + "\n  ".join(wrong)
            + "\n(run bench/recall.py --derive after editing a truth spec)"
        )


def _dump_questions(rows: list[dict[str, Any]]) -> str:
    """One question per block, its small dicts on one line: readable and diff-friendly."""
    lines = []
    for r in rows:
        fields = [f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in r.items()]
        lines.append(" {\n" + ",\n".join(fields) + "\n }")
    return "[\n" + ",\n".join(lines) + "\n]\n"


# ======================================================================== scoring
def tiou(a: Span, b: Span) -> float:
    inter = (min(a[1], b[1]) - max(a[0], b[0])).total_seconds()
    if inter <= 0:
        return 0.0
    union = (a[1] - a[0]).total_seconds() + (b[1] - b[0]).total_seconds() - inter
    return inter / union if union > 0 else 0.0


def hit_span(h: dict[str, Any]) -> Span:
    return span_of(datetime.fromisoformat(h["start"]), datetime.fromisoformat(h["end"]))


def best_iou(h: dict[str, Any], spans: Sequence[Span]) -> float:
    hs = hit_span(h)
    return max((tiou(hs, s) for s in spans), default=0.0)


def nearest_scene(h: dict[str, Any], gt: Any) -> tuple[str, float]:
    """The ground-truth scene a hit overlaps most (for reading failures)."""
    hs = hit_span(h)
    best = ("-", 0.0)
    for s in gt.scenes:
        v = tiou(hs, span_of(s.start, s.end))
        if v > best[1]:
            best = (s.id, v)
    return best


def answered_nothing(ans: dict[str, Any]) -> bool:
    return not ans.get("hits") and ans.get("count") in (None, 0)


def judge(q: dict[str, Any], ans: dict[str, Any] | None, gt: Any) -> dict[str, Any]:
    """Per-question figures (see the module docstring)."""
    exp = q["expect"]
    by_id = {s.id: s for s in gt.scenes}
    r: dict[str, Any] = {"answerable": not exp.get("none", False)}
    if ans is None:  # the system raised
        r.update(intent_ok=False, answered_nothing=False, correct=False)
        if r["answerable"]:
            r.update({f"r{k}@{t}": False for k in KS for t in THRESHOLDS})
        if "count" in exp:
            r["count_ok"] = False
        return r
    hits = ans.get("hits") or []
    r["intent_ok"] = ans.get("intent") == q["intent"]
    r["answered_nothing"] = answered_nothing(ans)
    if "count" in exp:
        r["count_ok"] = ans.get("count") == exp["count"]
    if r["answerable"]:
        spans = [span_of(by_id[i].start, by_id[i].end) for i in exp["scenes"]]
        ious = [best_iou(h, spans) for h in hits]
        r["top_iou"] = round(ious[0], 3) if ious else 0.0
        for k in KS:
            for t in THRESHOLDS:
                r[f"r{k}@{t}"] = any(v >= t for v in ious[:k])
        if q["intent"] == "list":
            covered = [any(tiou(hit_span(h), sp) >= THRESHOLDS[0] for h in hits) for sp in spans]
            r["list_recall"] = sum(covered) / len(covered)
        if "count" in exp:
            r["correct"] = r["count_ok"]
        elif q["intent"] == "list":
            r["correct"] = r["list_recall"] == 1.0
        else:
            r["correct"] = r[f"r1@{THRESHOLDS[0]}"]
    else:
        r["correct"] = r["answered_nothing"]
        if "count" in exp:
            r["correct"] = r["correct"] and r["count_ok"]
    return r


def _frac(xs: Sequence[bool]) -> float | None:
    return round(sum(xs) / len(xs), 3) if xs else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["judge"]["answerable"]]
    none = [r for r in rows if not r["judge"]["answerable"]]
    out: dict[str, Any] = {"questions": len(rows), "answerable": len(ans), "no_answer": len(none)}
    for k in KS:
        for t in THRESHOLDS:
            out[f"R@{k} tIoU>={t}"] = _frac([r["judge"][f"r{k}@{t}"] for r in ans])
    out["intent accuracy"] = _frac([r["judge"]["intent_ok"] for r in rows])
    counted = [r for r in rows if "count_ok" in r["judge"]]
    out["count accuracy"] = _frac([r["judge"]["count_ok"] for r in counted])
    out["count questions"] = len(counted)
    said_nothing = [r for r in rows if r["judge"]["answered_nothing"]]
    out["answered nothing"] = len(said_nothing)
    out["no-answer precision"] = _frac([not r["judge"]["answerable"] for r in said_nothing])
    out["no-answer recall"] = _frac([r["judge"]["answered_nothing"] for r in none])
    lists = [r["judge"]["list_recall"] for r in ans if "list_recall" in r["judge"]]
    out["list recall"] = round(statistics.fmean(lists), 3) if lists else None
    out["correct"] = _frac([r["judge"]["correct"] for r in rows])
    out["errors"] = sum(1 for r in rows if r.get("error"))
    return out


def breakdown(rows: list[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    out = {}
    for name, rs in sorted(groups.items()):
        ans = [r for r in rs if r["judge"]["answerable"]]
        none = [r for r in rs if not r["judge"]["answerable"]]
        out[name] = {
            "n": len(rs),
            "answerable": len(ans),
            "R@1 0.3": _frac([r["judge"]["r1@0.3"] for r in ans]),
            "R@5 0.3": _frac([r["judge"]["r5@0.3"] for r in ans]),
            "R@1 0.5": _frac([r["judge"]["r1@0.5"] for r in ans]),
            "no-answer": len(none),
            "no-answer right": _frac([r["judge"]["answered_nothing"] for r in none]),
            "intent": _frac([r["judge"]["intent_ok"] for r in rs]),
            "correct": _frac([r["judge"]["correct"] for r in rs]),
        }
    return out


def distribution(xs: Sequence[float]) -> dict[str, Any]:
    if not xs:
        return {"n": 0}
    s = sorted(xs)

    def q(p: float) -> float:
        return round(s[min(len(s) - 1, int(p * (len(s) - 1) + 0.5))], 3)

    return {
        "n": len(s),
        "min": q(0),
        "p10": q(0.1),
        "p25": q(0.25),
        "median": q(0.5),
        "p75": q(0.75),
        "p90": q(0.9),
        "max": q(1),
        "values": [round(x, 3) for x in s],
    }


def histogram(groups: dict[str, Sequence[float]], lo: float = 0.0, hi: float = 1.0, bins: int = 10) -> str:
    """Counts per score bin, one column per group; bars are scaled to 16 characters at most."""
    width = (hi - lo) / bins
    names = list(groups)
    counts = {
        n: [
            sum(1 for x in groups[n] if lo + b * width <= x < lo + (b + 1) * width or (b == bins - 1 and x >= hi))
            for b in range(bins)
        ]
        for n in names
    }
    scale = max(1.0, max((c for cs in counts.values() for c in cs), default=0) / 16)
    lines = [f"    {'score':>9}  " + "  ".join(f"{n[:26]:>26}" for n in names)]
    for b in range(bins):
        a = lo + b * width
        cells = []
        for n in names:
            c = counts[n][b]
            bar = "#" * (round(c / scale) if c else 0) or ("." if c else "")
            cells.append(f"{bar:<22}{c:>4}")
        lines.append(f"    {a:4.2f}–{a + width:4.2f}  " + "  ".join(cells))
    return "\n".join(lines)


def threshold_sweep(rows: list[dict[str, Any]], gt: Any) -> list[dict[str, Any]]:
    """What a match threshold t would give, simulated on the threshold-off pass.

    The threshold-off hits of a question keep the order the intent gives them (time for
    last/first, score otherwise); keeping only those scoring >= t, the first one left is the
    answer, and no hit left means "nothing". Count questions are judged on their hits only.
    """
    by_id = {s.id: s for s in gt.scenes}
    out = []
    for i in range(1, 20):
        t = i / 20
        right, silent_ans, silent_none = [], [], []
        for r in rows:
            if "raw" not in r:
                continue
            kept = [h for h in r["raw"]["hits"] if h[2] >= t]
            if r["judge"]["answerable"]:
                spans = [span_of(by_id[s].start, by_id[s].end) for s in r["expect"]["scenes"]]
                top = span_of(datetime.fromisoformat(kept[0][0]), datetime.fromisoformat(kept[0][1])) if kept else None
                right.append(top is not None and max(tiou(top, sp) for sp in spans) >= THRESHOLDS[0])
                silent_ans.append(not kept)
            else:
                silent_none.append(not kept)
        said_nothing = sum(silent_ans) + sum(silent_none)
        out.append(
            {
                "threshold": t,
                "R@1 0.3": _frac(right),
                "no-answer precision": round(sum(silent_none) / said_nothing, 3) if said_nothing else None,
                "no-answer recall": _frac(silent_none),
            }
        )
    return out


# ======================================================================= running
def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        info["git_commit"] = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        info["git_dirty"] = bool(
            subprocess.run(
                ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True
            ).stdout.strip()
        )
    except (OSError, subprocess.CalledProcessError):
        pass
    with contextlib.suppress(OSError):
        info["load_avg"] = os.getloadavg()
    return info


def compose(compose_dir: Path) -> Any:
    from lifelog.sample.compose import compose_days
    from lifelog.sample.fetch import SampleMediaUnavailable

    try:
        return compose_days(compose_dir)
    except SampleMediaUnavailable as e:
        raise SystemExit(f"{e}\nFetch the sample media first: .venv/bin/python -m lifelog.sample.fetch") from e


def name_people_like_a_user(mem: Any, gt: Any) -> dict[str, str]:
    """Do what a user does once: look at each person the app found and type their name.

    The "user" here knows who was in each scene (the ground truth's ``people``); a cluster is
    named after the person in the majority of the scenes its episodes overlap, and left unnamed
    when there is no clear majority. Nothing else about the system's output is used.
    """
    from collections import Counter

    named: dict[str, str] = {}
    for person in mem.people():
        votes: Counter[str] = Counter()
        for ep in mem.person_episodes(person.id):
            for s in gt.scenes:
                lo, hi = s.start, max(s.end, s.start + timedelta(seconds=1))
                if ep.start < hi and lo < ep.end:
                    votes.update(s.people)
        if votes:
            name, n = votes.most_common(1)[0]
            if n > sum(votes.values()) / 2:
                mem.name_person(person.id, name)
                named[person.id] = name
    return named


def open_memory(data_dir: Path, timezone: str) -> Any:
    from lifelog.api import Memory
    from lifelog.config import load_settings, save_settings

    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(data_dir)
    if settings.timezone is None:  # the user lived these days in the recipe's zone
        save_settings(data_dir, settings.model_copy(update={"timezone": timezone}))
    return Memory(data_dir)


def ask_all(mem: Any, qs: list[dict[str, Any]], limit: int, strategy: RecallStrategy
            ) -> list[tuple[dict[str, Any] | None, str | None, float]]:
    from lifelog.recall.answer import ask

    out: list[tuple[dict[str, Any] | None, str | None, float]] = []
    for q in qs:
        t0 = time.perf_counter()
        try:
            a = ask(mem, q["question"], now=datetime.fromisoformat(q["now"]), limit=limit, thumbnails=False,
                    strategy=strategy)
            out.append((a.to_json(), None, time.perf_counter() - t0))
        except Exception as e:  # a crash is a failure of that question, not of the run
            out.append((None, f"{type(e).__name__}: {e}", time.perf_counter() - t0))
    return out


def raw_pass(mem: Any, qs: list[dict[str, Any]], limit: int, strategy: RecallStrategy
             ) -> list[tuple[dict[str, Any] | None, str | None, float]]:
    """Ask again with the match threshold off, to see the scores the threshold cuts."""
    return ask_all(mem, qs, max(limit, mem.stats()["episodes"]), replace(strategy, match_threshold=-1.0))


def fmt_expect(exp: dict[str, Any], gt: Any, zone: Any) -> str:
    by_id = {s.id: s for s in gt.scenes}
    parts = []
    if exp.get("none"):
        parts.append("nothing")
    if "count" in exp:
        parts.append(f"count {exp['count']} {exp['count_unit']}")
    if exp.get("scenes"):
        ss = [f"{i}@{by_id[i].start.astimezone(zone):%H:%M:%S}" for i in exp["scenes"]]
        parts.append(", ".join(ss[:4]) + (f" (+{len(ss) - 4})" if len(ss) > 4 else ""))
    return "; ".join(parts)


def fmt_got(row: dict[str, Any], gt: Any, zone: Any) -> str:
    if row.get("error"):
        return f"ERROR {row['error']}"
    ans = row["answer"]
    und = ans.get("understood") or {}
    w = und.get("window")
    win = "none" if not w else f"{_short(w['start'], zone)}→{_short(w['end'], zone)}"
    parts = [f"intent {ans['intent']}", f"subject {und.get('subject')!r}", f"window {win}"]
    if ans.get("count") is not None:
        parts.append(f"count {ans['count']}")
    hs = []
    for h in ans["hits"][:3]:
        sid, v = nearest_scene(h, gt)
        hs.append(f"{_short(h['start'], zone)} s={h['score']:.2f} ≈{sid}({v:.2f})")
    parts.append("hits: " + ("; ".join(hs) if hs else "none"))
    return " | ".join(parts)


def _f(x: float | None) -> str:
    return "   - " if x is None else f"{x:5.2f}"


def _short(iso: str | None, zone: Any) -> str:
    if not iso:
        return "open"
    return f"{datetime.fromisoformat(iso).astimezone(zone):%m-%d %H:%M:%S}"


# ------------------------------------------------------------------ who / where / with whom
_PARTS = {"morning": (5, 12), "afternoon": (12, 17), "evening": (17, 22)}


def who_where_questions(gt: Any, known: set[str]) -> list[dict[str, Any]]:
    """Who/where/with-whom questions written from the ground truth of the composed days alone
    (issue 15): per day and part of day, "who did I meet on <day> <part>?" (truth: the people the
    scenes of that window show); per person the user named, "who did I see with X?" (truth: the
    others in X's scenes) and "where did I see X last?" (truth: X's last scene). ``known``: the
    people the user could name (those a cluster was named after); others cannot be named by
    anyone and are left out of the truth."""
    zone = gt.scenes[0].start.tzinfo
    now = max(s.end for s in gt.scenes).astimezone(zone).replace(hour=23, minute=0, second=0, microsecond=0)
    out: list[dict[str, Any]] = []
    for day in gt.days:
        d = datetime.fromisoformat(day).date()
        weekday = d.strftime("%A")
        for part, (lo, hi) in _PARTS.items():
            scenes = [sc for sc in gt.scenes if sc.start.astimezone(zone).date() == d
                      and lo <= sc.start.astimezone(zone).hour < hi]
            with_people = [sc for sc in scenes if set(sc.people) & known]
            out.append({"question": f"who did I meet on {weekday} {part}?", "now": now, "kind": "who",
                        "names": sorted({p for sc in with_people for p in sc.people if p in known}),
                        "scenes": [sc.id for sc in with_people]})
    for person in sorted(known):
        mine = [sc for sc in gt.scenes if person in sc.people]
        others = [sc for sc in mine if set(sc.people) - {person}]
        out.append({"question": f"who did I see with {person.split()[0]}?", "now": now, "kind": "with", "about": person,
                    "names": sorted({p for sc in others for p in sc.people if p != person and p in known}),
                    "scenes": [sc.id for sc in others]})
        last = max(mine, key=lambda sc: sc.start)
        out.append({"question": f"where did I see {person.split()[0]} last?", "now": now, "kind": "last",
                    "names": [person], "scenes": [last.id]})
    return out


def who_where_section(mem: Any, gt: Any, named: dict[str, str]) -> dict[str, Any]:
    """Ask :func:`who_where_questions` and score them: **R@1** (tIoU >= 0.3 of the top hit with one
    of the truth's scenes, over the questions whose truth has scenes) and **names right** (the
    set of people the answer names, among those the user named, equals the truth's)."""
    known = set(named.values())
    qs = who_where_questions(gt, known)
    by_id = {sc.id: sc for sc in gt.scenes}
    rows = []
    for q in qs:
        t0 = time.perf_counter()
        a = mem.ask(q["question"], now=q["now"], thumbnails=False).to_json()
        dt = time.perf_counter() - t0
        said = sorted(n for n in known if (n in a["answer"] or n.split()[0] in a["answer"].split())
                      and n != q.get("about"))  # "with Barack you saw …": Barack is not an answer
        spans = [span_of(by_id[i].start, by_id[i].end) for i in q["scenes"]]
        r1 = bool(a["hits"]) and best_iou(a["hits"][0], spans) >= THRESHOLDS[0] if spans else None
        rows.append({"question": q["question"], "kind": q["kind"], "truth_names": q["names"], "named": said,
                     "names_right": said == q["names"], "r1": r1, "answer": a["answer"],
                     "latency_ms": round(dt * 1000, 1)})
    r1s = [r["r1"] for r in rows if r["r1"] is not None]
    summary = {"questions": len(rows), "with_scenes": len(r1s), "R@1 tIoU>=0.3": _frac(r1s),
               "names right": _frac([r["names_right"] for r in rows]),
               "by_kind": {k: {"n": sum(r["kind"] == k for r in rows),
                               "names right": _frac([r["names_right"] for r in rows if r["kind"] == k]),
                               "R@1": _frac([r["r1"] for r in rows if r["kind"] == k and r["r1"] is not None])}
                           for k in ("who", "with", "last")},
               "ask_latency_ms": distribution([r["latency_ms"] for r in rows])}
    return {"summary": summary, "questions": rows}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench/recall.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, help="memory to use and keep (default: a fresh temp dir, removed after)")
    p.add_argument("--compose-dir", type=Path, help="where the days are composed (default: <cache>/sample-days)")
    p.add_argument("--questions", type=Path, default=QUESTIONS)
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--limit", type=int, default=ASK_LIMIT, help="hits asked for per question")
    p.add_argument("--derive", action="store_true", help="write the derived expected answers into the questions file")
    p.add_argument("--no-raw", action="store_true", help="skip the second pass with the match threshold off")
    p.add_argument("--no-lexicon", action="store_true",
                   help="ablation: score without the scene/kind lexicon (assets/scene_lexicon.json)")
    p.add_argument("--threshold", type=float, help="ablation: this match threshold instead of MATCH_THRESHOLD")
    args = p.parse_args(argv)
    from lifelog.recall.strategy import RecallStrategy

    strategy = RecallStrategy(lexicon=not args.no_lexicon)  # the product's, unless an ablation is asked for
    if args.threshold is not None:
        strategy = replace(strategy, match_threshold=args.threshold)

    from lifelog import paths
    from lifelog.store.vault import PASSPHRASE_ENV

    started = datetime.now(UTC)
    compose_dir = args.compose_dir or (paths.cache_dir() / "sample-days")
    log(f"composing the sample days in {compose_dir} (cached)…")
    t0 = time.monotonic()
    gt = compose(compose_dir)
    compose_s = time.monotonic() - t0
    if gt.skipped:
        log(f"WARNING: {len(gt.skipped)} scenes skipped (missing media): {gt.skipped}")
    qs = load_questions(args.questions)
    check_or_derive(qs, gt, args.questions, write=args.derive)
    if args.derive:
        return 0

    from lifelog.sample.compose import load_recipe

    timezone = str(load_recipe()["days"][0].get("timezone", "UTC"))
    zone = gt.scenes[0].start.tzinfo
    os.environ.setdefault(PASSPHRASE_ENV, DEFAULT_PASSPHRASE)
    os.environ["TZ"] = timezone  # the device lived these days in the recipe's zone
    time.tzset()
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="lifelog-bench-recall-")
        data_dir = Path(tmp)
    try:
        mem = open_memory(data_dir, timezone)
        files = [compose_dir / f for f in gt.files]
        log(f"importing {len(files)} files into {data_dir}…")
        t0 = time.monotonic()
        res = mem.import_paths(files)
        # The same pipeline as `lifelog import`: speech is transcribed after the visual import.
        speech = mem.transcribe_pending()
        log(f"transcribed {sum(r.status == 'done' for r in speech)} file(s) with audio")
        named = name_people_like_a_user(mem, gt)
        log(f"named people as a user would: {named}")
        import_s = time.monotonic() - t0
        for f in res.failed:
            log(f"  import failed: {f.path}: {f.error}")
        stats = mem.stats()
        log(f"imported {res.imported}, already there {res.skipped}, failed {len(res.failed)}; {stats}")

        log(f"asking {len(qs)} questions…")
        answers = ask_all(mem, qs, args.limit, strategy)
        raw = [] if args.no_raw else raw_pass(mem, qs, args.limit, strategy)
        log("who/where/with-whom questions…")
        who_where = who_where_section(mem, gt, named)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    rows: list[dict[str, Any]] = []
    by_id = {s.id: s for s in gt.scenes}
    for i, (q, (ans, err, dt)) in enumerate(zip(qs, answers, strict=True)):
        row: dict[str, Any] = {k: q[k] for k in ("id", "question", "now", "intent", "signal", "expect")}
        row["note"] = q.get("note", "")
        row["latency_ms"] = round(dt * 1000, 1)
        if err:
            row["error"] = err
        else:
            row["answer"] = ans
        row["judge"] = judge(q, ans, gt)
        if raw and raw[i][0] is not None:
            rh = raw[i][0]["hits"]  # type: ignore[index]
            spans = [span_of(by_id[s].start, by_id[s].end) for s in q["expect"].get("scenes", [])]
            right = [h["score"] for h in rh if spans and best_iou(h, spans) >= THRESHOLDS[0]]
            row["raw"] = {
                "hits": [[h["start"], h["end"], h["score"]] for h in rh],
                "top_score": rh[0]["score"] if rh else None,
                "top_right": bool(rh) and bool(spans) and best_iou(rh[0], spans) >= THRESHOLDS[0],
                "best_right_score": max(right) if right else None,
            }
        rows.append(row)

    threshold = strategy.match_threshold
    summary = summarise(rows)
    by_signal = breakdown(rows, lambda r: r["signal"])
    by_intent = breakdown(rows, lambda r: r["intent"])
    top = {
        "answerable, top hit right": [
            r["answer"]["hits"][0]["score"]
            for r in rows
            if r["judge"]["answerable"] and r.get("answer") and r["answer"]["hits"] and r["judge"]["r1@0.3"]
        ],
        "answerable, top hit wrong": [
            r["answer"]["hits"][0]["score"]
            for r in rows
            if r["judge"]["answerable"] and r.get("answer") and r["answer"]["hits"] and not r["judge"]["r1@0.3"]
        ],
        "no-answer": [
            r["answer"]["hits"][0]["score"]
            for r in rows
            if not r["judge"]["answerable"] and r.get("answer") and r["answer"]["hits"]
        ],
    }
    raw_top = {
        "answerable, best right hit": [
            r["raw"]["best_right_score"]
            for r in rows
            if "raw" in r and r["judge"]["answerable"] and r["raw"]["best_right_score"] is not None
        ],
        "answerable, top hit": [
            r["raw"]["top_score"]
            for r in rows
            if "raw" in r and r["judge"]["answerable"] and r["raw"]["top_score"] is not None
        ],
        "no-answer, top hit": [
            r["raw"]["top_score"]
            for r in rows
            if "raw" in r and not r["judge"]["answerable"] and r["raw"]["top_score"] is not None
        ],
    }
    sweep = threshold_sweep(rows, gt) if raw else None
    lat = [r["latency_ms"] for r in rows]
    failures = [r for r in rows if not r["judge"]["correct"]]

    # ------------------------------------------------------------------ print
    print(
        f"\nRecall benchmark: {summary['questions']} questions ({summary['answerable']} answerable, "
        f"{summary['no_answer']} with no answer) over {', '.join(gt.days)}"
    )
    print(f"memory: {stats}; import {import_s:.1f} s; ask p50 {statistics.median(lat):.0f} ms, max {max(lat):.0f} ms\n")
    for k in KS:
        print("  " + "   ".join(f"R@{k} tIoU>={t}: {summary[f'R@{k} tIoU>={t}']}" for t in THRESHOLDS))
    print(f"  intent accuracy:     {summary['intent accuracy']}")
    print(f"  count accuracy:      {summary['count accuracy']}  (of {summary['count questions']})")
    print(f"  no-answer precision: {summary['no-answer precision']}  (answered nothing {summary['answered nothing']})")
    print(f"  no-answer recall:    {summary['no-answer recall']}")
    print(f"  list recall:         {summary['list recall']}")
    print(f"  correct overall:     {summary['correct']}   errors: {summary['errors']}")
    for title, table in (("signal", by_signal), ("intent", by_intent)):
        print(f"\n  by {title}:")
        print(
            f"    {title:<13}{'n':>4}{'ans':>5}{'R@1.3':>7}{'R@5.3':>7}{'R@1.5':>7}{'none':>6}{'none ok':>9}"
            f"{'intent':>8}{'correct':>9}"
        )
        for name, v in table.items():

            def f(x: Any) -> str:
                return "-" if x is None else f"{x:.2f}"

            print(
                f"    {name:<13}{v['n']:>4}{v['answerable']:>5}{f(v['R@1 0.3']):>7}{f(v['R@5 0.3']):>7}"
                f"{f(v['R@1 0.5']):>7}{v['no-answer']:>6}{f(v['no-answer right']):>9}{f(v['intent']):>8}"
                f"{f(v['correct']):>9}"
            )
    print("\n  top-hit score, as answered (questions with no hit are not shown):")
    print(histogram(top))
    if raw:
        print(f"\n  scores with the match threshold ({threshold}) off, all episodes ranked (for calibration):")
        print(histogram(raw_top))
        print("\n  if the threshold were t (simulated on that pass):")
        print("       t   R@1 0.3   no-answer precision   no-answer recall")
        for row in sweep or []:
            if round(row["threshold"] * 20) % 2 == 0 or abs(row["threshold"] - threshold) < 0.026:
                print(
                    f"    {row['threshold']:4.2f}   {_f(row['R@1 0.3'])}          {_f(row['no-answer precision'])}"
                    f"                 {_f(row['no-answer recall'])}"
                )
    ww = who_where["summary"]
    print(f"\n  who / where / with whom ({ww['questions']} questions from the ground truth): "
          f"R@1 tIoU>=0.3 {_f(ww['R@1 tIoU>=0.3'])} (of {ww['with_scenes']}), names right {_f(ww['names right'])}")
    for k, v in ww["by_kind"].items():
        print(f"    {k:<6} n {v['n']:>3}   names right {_f(v['names right'])}   R@1 {_f(v['R@1'])}")
    for r in who_where["questions"]:
        if not r["names_right"] or r["r1"] is False:
            print(f"    miss: {r['question']}  truth {r['truth_names']}  named {r['named']}  r1 {r['r1']}")
            print(f"          {r['answer'][:150]}")
    print(f"\n  failures ({len(failures)}):")
    for r in failures:
        print(f"    {r['id']} [{r['signal']}, expects {r['intent']}] {r['question']}   (now {r['now']})")
        print(f"        expected: {fmt_expect(r['expect'], gt, zone)}")
        print(f"        got:      {fmt_got(r, gt, zone)}")

    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine_info(),
        "compose": {
            "dir": str(compose_dir),
            "seconds": round(compose_s, 1),
            "days": list(gt.days),
            "scenes": len(gt.scenes),
            "skipped": list(gt.skipped),
        },
        "import": {
            "seconds": round(import_s, 1),
            "imported": res.imported,
            "skipped": res.skipped,
            "failed": [f"{f.path}: {f.error}" for f in res.failed],
            "stats": stats,
            "timezone": timezone,
        },
        "summary": summary,
        "by_signal": by_signal,
        "by_intent": by_intent,
        "ask_latency_ms": distribution(lat),
        "top_score": {k: distribution(v) for k, v in top.items()},
        "top_score_threshold_off": {k: distribution(v) for k, v in raw_top.items()} if raw else None,
        "match_threshold": threshold,
        "threshold_sweep": sweep,
        "failures": [
            {
                "id": r["id"],
                "question": r["question"],
                "now": r["now"],
                "expected": fmt_expect(r["expect"], gt, zone),
                "got": fmt_got(r, gt, zone),
            }
            for r in failures
        ],
        "questions": rows,
        "who_where": who_where,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1, ensure_ascii=False, default=str))
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Natural-question benchmark: questions phrased the way people talk, over the composed sample days.

Usage::

    .venv/bin/python bench/natural.py                    # compose (cached), import into a temp memory, ask, score
    .venv/bin/python bench/natural.py --data-dir DIR     # use (and keep) this memory; a re-run skips the import
    .venv/bin/python bench/natural.py --derive           # (re)write the expected answers in the questions file
    .venv/bin/python bench/natural.py --set fresh        # the fresh split (bench/natural_questions_fresh.json)

The questions (``bench/natural_questions.json``, 132) were written from the ground truth of the
composed days (``assets/sample_days.json``) in the forms of issue 16: kinds ("any animals", "pets",
"vehicles"), "what did I eat/drink", "what did the sign … say", "who did I meet", "what was I doing",
"anything about …", "show me …", yes/no, typos and plurals, negatives (a gym, a beach, a dog that were
never there), and periods outside the memory. Each has a ``truth`` spec as in ``bench/questions.json``
(the expected answer is derived from it by ``bench/recall.py``'s :func:`derive_expect`, never typed).

Each question carries a fixed ``split``: ``tune`` may be looked at while changing recall; ``held``
(every third of the first 125 questions) is never tuned on. n126–n132 ask who/where through the
knowledge graph ("who was I with this morning?", "where did I see Barack?", "where did I leave my
cup?") and are ``tune`` only. Figures are reported for both and for all.

Metrics: those of ``bench/recall.py`` (R@1/R@5 at tIoU 0.3, count accuracy, no-answer precision and
recall) plus **answer sentence correct**: for an answerable question the top hit is right and the
sentence gives that moment's clock time (or the count); for a no-answer question the sentence says
nothing was found, that it cannot tell, or that it is not sure. **Honest** also accepts an "I'm not
sure …" sentence for an answerable question. Everything goes to ``bench/results/natural.json``.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

QUESTIONS = REPO / "bench" / "natural_questions.json"
RESULTS = REPO / "bench" / "results" / "natural.json"
# --set fresh: 40 questions written from the ground truth after the held split had informed fixes,
# run once and reported as they came (never tuned on).
FRESH_QUESTIONS = REPO / "bench" / "natural_questions_fresh.json"
FRESH_RESULTS = REPO / "bench" / "results" / "natural_fresh.json"
SETS = {"main": ("tune", "held"), "fresh": ("fresh",)}
SPLITS = SETS["main"]
_NEGATIVE = re.compile(r"^(?:I found no|I found nothing|I can't|I could not|Nothing was recorded|I don't know anyone|"
                       r"I saw nobody|I'm not sure|Nothing said|Those times contradict|Your memory|"
                       r"I didn't see anyone|I don't know a place|I don't know where|You were not at)", re.IGNORECASE)
_UNSURE = re.compile(r"\bI'm not sure\b|\bI can't tell\b", re.IGNORECASE)


def _recall_module() -> Any:
    spec = importlib.util.spec_from_file_location("bench_recall", REPO / "bench" / "recall.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_recall"] = mod
    spec.loader.exec_module(mod)
    return mod


def sentence_ok(q: dict[str, Any], ans: dict[str, Any] | None, judged: dict[str, Any]) -> tuple[bool, bool]:
    """(answer sentence correct, honest): see the module docstring."""
    if ans is None:
        return False, False
    text = str(ans.get("answer", ""))
    exp = q["expect"]
    unsure = bool(_UNSURE.search(text))
    if not judged["answerable"]:
        ok = bool(_NEGATIVE.search(text)) or (exp.get("count") == 0 and ans.get("count") == 0)
        return ok, ok
    if "count" in exp:
        ok = bool(judged.get("count_ok")) and re.search(rf"\b{exp['count']}\b", text) is not None
        return ok, ok
    hits = ans.get("hits") or []
    if not hits or _NEGATIVE.search(text) or not judged.get("r1@0.3"):
        return False, unsure
    clock = datetime.fromisoformat(hits[0]["start"]).strftime("%H:%M")
    ok = clock in text and not unsure
    return ok, ok or unsure


def main(argv: list[str] | None = None) -> int:
    rb = _recall_module()
    p = argparse.ArgumentParser(prog="bench/natural.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, help="memory to use and keep (default: a fresh temp dir, removed after)")
    p.add_argument("--compose-dir", type=Path, help="where the days are composed (default: <cache>/sample-days)")
    p.add_argument("--set", choices=tuple(SETS), default="main",
                   help="main: the tune and held splits; fresh: the untouched fresh split")
    p.add_argument("--questions", type=Path, help="questions file (default: the set's)")
    p.add_argument("--out", type=Path, help="results file (default: the set's)")
    p.add_argument("--derive", action="store_true", help="write the derived expected answers into the questions file")
    args = p.parse_args(argv)

    from lifelog import paths
    from lifelog.recall.strategy import DEFAULT_STRATEGY
    from lifelog.sample.compose import load_recipe
    from lifelog.store.vault import PASSPHRASE_ENV

    splits = SETS[args.set]
    fresh = args.set == "fresh"
    args.questions = args.questions or (FRESH_QUESTIONS if fresh else QUESTIONS)
    args.out = args.out or (FRESH_RESULTS if fresh else RESULTS)
    started = datetime.now(UTC)
    compose_dir = args.compose_dir or (paths.cache_dir() / "sample-days")
    gt = rb.compose(compose_dir)
    qs = rb.load_questions(args.questions)
    bad = [q["id"] for q in qs if q.get("split") not in splits]
    if bad:
        raise SystemExit(f"{args.questions}: questions without a split: {bad}")
    rb.check_or_derive(qs, gt, args.questions, write=args.derive)
    if args.derive:
        return 0
    timezone = str(load_recipe()["days"][0].get("timezone", "UTC"))
    os.environ.setdefault(PASSPHRASE_ENV, rb.DEFAULT_PASSPHRASE)
    os.environ["TZ"] = timezone
    time.tzset()
    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.mkdtemp(prefix="lifelog-bench-natural-")
        data_dir = Path(tmp)
    try:
        mem = rb.open_memory(data_dir, timezone)
        res = mem.import_paths([compose_dir / f for f in gt.files])
        mem.transcribe_pending()
        rb.name_people_like_a_user(mem, gt)
        for f in res.failed:
            rb.log(f"  import failed: {f.path}: {f.error}")
        rb.log(f"asking {len(qs)} questions…")
        answers = rb.ask_all(mem, qs, rb.ASK_LIMIT, DEFAULT_STRATEGY)
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)

    rows: list[dict[str, Any]] = []
    for q, (ans, err, dt) in zip(qs, answers, strict=True):
        row: dict[str, Any] = {k: q[k] for k in ("id", "question", "split", "intent", "signal", "expect")}
        row["latency_ms"] = round(dt * 1000, 1)
        if err:
            row["error"] = err
        row["answer"] = ans
        row["judge"] = rb.judge(q, ans, gt)
        ok, honest = sentence_ok(q, ans, row["judge"])
        row["judge"]["sentence_ok"] = ok
        row["judge"]["honest"] = honest
        rows.append(row)

    def summary(sel: list[dict[str, Any]]) -> dict[str, Any]:
        s: dict[str, Any] = rb.summarise(sel)
        s["answer sentence correct"] = rb._frac([r["judge"]["sentence_ok"] for r in sel])
        s["honest (correct or 'not sure')"] = rb._frac([r["judge"]["honest"] for r in sel])
        lat = sorted(r["latency_ms"] for r in sel)
        s["latency p95 ms"] = lat[min(len(lat) - 1, int(0.95 * len(lat)))] if lat else None
        return s

    out = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "machine": rb.machine_info(),
        "set": args.set,
        "splits": {name: summary([r for r in rows if r["split"] == name]) for name in splits},
        "all": summary(rows),
        "by_signal": rb.breakdown(rows, lambda r: r["signal"]),
        "failures": [
            {"id": r["id"], "split": r["split"], "question": r["question"], "expect": r["expect"],
             "answer": (r["answer"] or {}).get("answer"),
             "hits": [h["start"] for h in ((r["answer"] or {}).get("hits") or [])[:3]]}
            for r in rows if not r["judge"]["sentence_ok"] or not r["judge"]["correct"]
        ],
        "questions": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1, default=str) + "\n")
    keys = ("R@1 tIoU>=0.3", "R@5 tIoU>=0.3", "count accuracy", "no-answer precision", "no-answer recall",
            "answer sentence correct", "honest (correct or 'not sure')", "latency p95 ms")
    print(f"{'':28s}" + "".join(f"{n:>10s}" for n in (*splits, "all")))
    for k in ("questions", "answerable", *keys):
        vals = [out["splits"][n].get(k) for n in splits] + [out["all"].get(k)]
        print(f"{k:28s}" + "".join(f"{'-' if v is None else v!s:>10s}" for v in vals))
    for f in out["failures"]:
        print(f"  [{f['split']}] {f['id']} {f['question']!r}: {f['answer']!r}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

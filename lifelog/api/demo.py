"""``lifelog demo``: compose the sample days from real media, import them, ask questions whose
right answers the ground truth knows, and show whether each answer is right.

The demo keeps its own memory (``<platform data dir>/lifelog-demo``) unless ``--data-dir`` or
``LIFELOG_HOME`` says otherwise, so it never mixes sample footage into a real memory. Where no
OS keyring exists and no ``LIFELOG_PASSPHRASE`` is set, the demo memory is protected with the
documented demo passphrase ``lifelog-demo`` — and says so.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs

from lifelog import paths

if TYPE_CHECKING:
    from lifelog.ingest.pipeline import ImportProgress

DEMO_PASSPHRASE = "lifelog-demo"


@dataclass(frozen=True)
class DemoQuestion:
    question: str
    now: datetime
    expect_scene_ids: tuple[str, ...]  # any of these counts as right; () = expect "nothing found"
    expect_count: int | None = None


def demo_data_dir(explicit: str | os.PathLike[str] | None) -> Path:
    if explicit or os.environ.get("LIFELOG_HOME"):
        return paths.data_dir(explicit)
    return Path(platformdirs.user_data_dir("lifelog-demo", appauthor=False))


def demo_passphrase_if_needed() -> None:
    """Use the published demo passphrase for the demo memory when nothing better exists."""
    from lifelog.store.vault import PASSPHRASE_ENV, keyring_usable

    if not keyring_usable() and not os.environ.get(PASSPHRASE_ENV):
        os.environ[PASSPHRASE_ENV] = DEMO_PASSPHRASE


def demo_questions(gt: Any) -> list[DemoQuestion]:
    """Questions over the composed days, with answers read from the ground truth."""
    last_day = max(gt.days)
    day_scenes = gt.on_day(last_day)
    now = max(s.end for s in day_scenes) + timedelta(hours=1)
    qs: list[DemoQuestion] = []

    def last(tag: str) -> tuple[str, ...]:
        s = gt.last_seen(tag, now)
        return (s.id,) if s else ()

    qs.append(DemoQuestion("When did I last see a cat?", now, last("cat")))
    first = gt.scenes_with("coffee")
    qs.append(DemoQuestion("When did I first have a coffee?", now, (first[0].id,) if first else ()))
    yesterday = (now - timedelta(days=1)).date().isoformat()
    moto = [s for s in gt.scenes_with("motorcycle") if s.day == yesterday]
    qs.append(DemoQuestion("Did I see a motorcycle yesterday?", now, tuple(s.id for s in moto)))
    cats = gt.scenes_with("cat")
    qs.append(DemoQuestion("How many times did I see a cat this week?", now, tuple(s.id for s in cats), len(cats)))
    qs.append(DemoQuestion("When did I last go skiing?", now, ()))
    said = [s for s in gt.scenes if "dashwood" in s.speech.lower()]
    if said:
        qs.append(DemoQuestion("Did anyone mention Dashwood?", now, tuple(s.id for s in said)))
    return qs


def _overlaps(hit: dict[str, Any], scene: Any) -> bool:
    a0, a1 = datetime.fromisoformat(hit["start"]), datetime.fromisoformat(hit["end"])
    b0, b1 = scene.start, max(scene.end, scene.start + timedelta(seconds=1))
    return bool(a0 < b1 and b0 < a1)


def judge(q: DemoQuestion, ans: dict[str, Any], gt: Any) -> bool:
    by_id = {s.id: s for s in gt.scenes}
    if q.expect_count is not None:
        return ans.get("count") == q.expect_count
    hits = ans.get("hits") or []
    if not q.expect_scene_ids:
        return not hits
    if not hits:
        return False
    return any(_overlaps(hits[0], by_id[i]) for i in q.expect_scene_ids)


def _adopt_sample_timezone(mem: Any, gt: Any) -> None:
    """The sample days were lived in one zone (Europe/London): show them in it, as their owner
    would, unless the demo memory already has a zone set."""
    from zoneinfo import ZoneInfo

    from lifelog.config import save_settings

    zones: set[str | None] = {getattr(s.start.tzinfo, "key", None) for s in gt.scenes}
    zone = zones.pop() if len(zones) == 1 else None
    if mem.settings.timezone is None and zone is not None:
        ZoneInfo(zone)  # a real IANA name, or fail loudly
        mem.settings = mem.settings.model_copy(update={"timezone": zone})
        save_settings(mem.data_dir, mem.settings)


def run_demo(
    data_dir: str | None,
    out: Path | None = None,
    as_json: bool = False,
    progress: Callable[[ImportProgress], None] | None = None,
) -> int:
    from lifelog.api import Memory
    from lifelog.sample.compose import compose_days
    from lifelog.sample.fetch import fetch_all
    from lifelog.store.vault import PASSPHRASE_ENV, keyring_usable

    log = sys.stderr
    ddir = demo_data_dir(data_dir)
    passphrase = None
    if not keyring_usable() and not os.environ.get(PASSPHRASE_ENV):
        passphrase = DEMO_PASSPHRASE
        print(
            f"lifelog demo: no OS keyring here and {PASSPHRASE_ENV} is not set; the demo memory at "
            f"{ddir} is protected with the demo passphrase '{DEMO_PASSPHRASE}'.",
            file=log,
        )
    print("lifelog demo: fetching real sample media (cached)…", file=log)
    media = fetch_all(quiet=True)
    compose_dir = out or (paths.cache_dir() / "sample-days")
    print(f"lifelog demo: composing the sample days in {compose_dir}…", file=log)
    gt = compose_days(compose_dir, media)
    mem = Memory(ddir, passphrase=passphrase)
    _adopt_sample_timezone(mem, gt)
    print(f"lifelog demo: importing into {ddir}…", file=log)
    files = [compose_dir / f for f in gt.files]
    result = mem.import_paths(files, progress=progress)
    print(
        f"lifelog demo: imported {result.imported}, already there {result.skipped}, failed {len(result.failed)}",
        file=log,
    )
    for f in result.failed:
        print(f"  failed: {f.path}: {f.error}", file=log)
    for w in result.warnings:  # a step that could not run (a model that did not load): said, not hidden
        print(f"  warning: {w.path}: {w.error}", file=log)
    print("lifelog demo: transcribing speech on the device…", file=log)
    speech = mem.transcribe_pending()
    print(f"lifelog demo: transcribed {sum(r.status == 'done' for r in speech)} file(s) with speech", file=log)
    report = []
    right = 0
    qs = demo_questions(gt)
    for q in qs:
        ans = mem.ask(q.question, now=q.now, limit=3, thumbnails=True).to_json()
        ok = judge(q, ans, gt)
        right += ok
        report.append({"question": q.question, "now": q.now.isoformat(), "answer": ans["answer"],
                       "correct": ok, "expected": list(q.expect_scene_ids), "hits": ans["hits"]})
    if as_json:
        print(json.dumps({"data_dir": str(ddir), "imported": result.imported, "questions": report,
                          "correct": right, "asked": len(qs),
                          "warnings": [{"path": w.path, "warning": w.error} for w in result.warnings]}))
    else:
        print(f"\nSample memory: {ddir}")
        print(f"Questions asked as if it were {qs[0].now:%A %d %B %Y, %H:%M}:\n")
        for r in report:
            mark = "right" if r["correct"] else "WRONG"
            print(f"  Q: {r['question']}\n  A: {r['answer']}   [{mark}; ground truth: "
                  f"{', '.join(r['expected']) or 'nothing'}]\n")
        print(f"{right} of {len(qs)} answers agree with the ground truth.")
        print(f"Try: lifelog --data-dir '{ddir}' ask \"when did I last see a cat?\" --now {qs[0].now.isoformat()}")
    return 0

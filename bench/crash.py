"""Crash matrix: SIGKILL a real ``lifelog import`` (and ``lifelog transcribe``) at each write step.

For every kill point the harness starts the real command in its own process on a fresh data
dir, **watches the data dir** (no test hooks in the product) and SIGKILLs the process the moment
the step becomes visible on disk:

| step        | seen as                                                                 |
|-------------|-------------------------------------------------------------------------|
| journal     | ``journal/<media id>`` appeared (the n-th file's entry)                  |
| blob-tmp    | a ``.tmp-`` file in the vault while the file is journalled (mid-write)   |
| blobs       | the first vault blob ``<media id>-*.bin`` of the file                    |
| frames      | a new version of the ``frames`` table (``db/frames.lance/_versions``)   |
| faces, ocr  | a new version of that table                                             |
| episodes    | a new version of ``episodes``                                           |
| media       | a new version of ``media`` (the commit row; the journal entry may stay)  |
| indexes     | the last file committed, then any new table version (index/optimize)    |

Versions are counted against the moment the file's journal entry appeared. After the kill the
harness records what was really on disk (a step can be overtaken between two polls) and re-runs
the import; the store must then equal a clean run's: the same rows in media, episodes, frames,
faces, ocr (and their ids), no vault blob that no row references, no ``.tmp-`` file anywhere,
no journal entry. ``lifelog transcribe`` is killed the same way (speech journal, utterances
written, the first file's transcript committed) and re-run: the same utterances as a clean run.

``lifelog sync`` (a paired, simulated DCF card of three clips) is killed at each of its write
steps for the n-th file — ``partial`` (a ``.part`` download appeared), ``journal`` (its import
journalled), ``media`` (its media row committed), ``original`` (its encrypted kept copy
``.lgo`` written), ``ledger`` (the device ledger records it) — and re-run: the same store as a
clean sync, the same encrypted originals, every file in the ledger, no ``.part``, no plaintext
copy left in ``originals/``, no ``.tmp-`` file.

    .venv/bin/python bench/crash.py            # every point (~6 min on 2 cores)
    .venv/bin/python bench/crash.py --quick    # a few points, like the test suite
    .venv/bin/python bench/crash.py --only sync    # one command's points (import|transcribe|sync)

Prints a table and writes ``bench/results/crash.json``. ``tests/test_crash_matrix.py`` runs a
few of the same points through :func:`run_import_point` and :func:`run_transcribe_point`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

POLL_S = 0.001
COUNTED = ("media", "episodes", "frames", "faces", "ocr", "ocr_terms", "utterances", "utterance_terms",
           "transcripts")
IMPORT_STEPS = ("journal", "blob-tmp", "blobs", "frames", "faces", "ocr", "episodes", "media", "indexes")
SPEECH_STEPS = ("speech-journal", "utterances", "transcripts")
VERSIONED = ("frames", "faces", "ocr", "ocr_terms", "episodes", "media", "utterances", "utterance_terms",
             "transcripts")


# ------------------------------------------------------------------------------- the inputs
def make_inputs(dst: Path) -> tuple[Path, Path]:
    """Short real clips and photos (faces, text, a plain scene) and real speech files.

    Returns (footage folder, speech folder). The footage is imported in name order.
    """
    from lifelog.sample.compose import make_clip
    from lifelog.sample.fetch import sample_media

    m = sample_media()
    footage, speech = dst / "footage", dst / "speech"
    if not (footage / "c_biden.jpg").exists():
        footage.mkdir(parents=True, exist_ok=True)
        t0 = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
        make_clip(footage / "a_obama.mp4", m.path("obama.jpg"), 6, t0, fps=10, size=(320, 240), effect="pan",
                  seed=1)
        make_clip(footage / "b_sign.mp4", m.path("scenetext01.jpg"), 6, t0.replace(hour=10), fps=10,
                  size=(320, 240), effect="pan", seed=2)
        shutil.copyfile(m.path("biden.jpg"), footage / "c_biden.jpg")
    if not (speech / "cards_003.wav").exists():
        speech.mkdir(parents=True, exist_ok=True)
        for n in ("cards_001.wav", "cards_002.wav", "cards_003.wav"):
            shutil.copyfile(m.path(n), speech / n)
    return footage, speech


# ------------------------------------------------------------------------------- the CLI
def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("LIFELOG_PASSPHRASE", "test passphrase")
    env["TZ"] = "UTC"
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(REPO), env.get("PYTHONPATH", "")] if p)
    env.pop("LIFELOG_DEBUG", None)
    env.pop("LIFELOG_HOME", None)
    return env


def cli(data: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), *args], capture_output=True,
                          text=True, env=cli_env(), cwd=REPO, timeout=timeout)


def _popen(data: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(data), *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_env(), cwd=REPO)


# ------------------------------------------------------------------------------- watching
def _names(d: Path) -> list[str]:
    try:
        return [n for n in os.listdir(d) if not n.startswith(".")]
    except FileNotFoundError:
        return []


def _tmp_in(d: Path) -> bool:
    try:
        return any(n.startswith(".tmp-") for n in os.listdir(d))
    except FileNotFoundError:
        return False


def versions(data: Path, table: str) -> int:
    try:
        return len(os.listdir(data / "db" / f"{table}.lance" / "_versions"))
    except FileNotFoundError:
        return 0


def _blobs_of(data: Path, mid: str) -> int:
    try:
        return sum(n.startswith(mid) and n.endswith(".bin") for n in os.listdir(data / "vault" / "blobs" / mid[:2]))
    except FileNotFoundError:
        return 0


@dataclass
class Outcome:
    """One kill point: where it was aimed, what was on disk at the kill, and the comparison."""

    command: str  # import | transcribe
    step: str
    nth: int  # the n-th file (1-based) the step is aimed at
    killed: bool = False
    seen: dict[str, Any] = field(default_factory=dict)  # the data dir right after the kill
    kill_after_s: float = 0.0  # from the start of the process to the kill
    rerun_s: float = 0.0
    ok: bool = False
    problems: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def _after_kill(data: Path, mid: str | None) -> dict[str, Any]:
    seen: dict[str, Any] = {"journal": _names(data / "journal"), "speech_journal": _names(data / "journal-speech"),
                            "versions": {t: versions(data, t) for t in VERSIONED}}
    if mid:
        seen["blobs_of_file"] = _blobs_of(data, mid)
    seen["tmp_files"] = [str(p.relative_to(data)) for p in data.rglob(".tmp-*")]
    return seen


def kill_import_at(data: Path, src: Path, step: str, nth: int, timeout: float = 180) -> Outcome:
    """Run ``lifelog import SRC`` on ``data`` and SIGKILL it when ``step`` of the ``nth`` file shows."""
    out = Outcome("import", step, nth)
    t0 = time.monotonic()
    proc = _popen(data, "import", str(src), "--json", "--no-transcribe")
    journal, blobs = data / "journal", data / "vault" / "blobs"
    seen_mids: list[str] = []
    base: dict[str, int] = {}
    mid: str | None = None
    committed_all = False
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            now = _names(journal)
            for m in now:
                if m not in seen_mids:
                    seen_mids.append(m)
                    if len(seen_mids) == nth:
                        mid = m
                        base = {t: versions(data, t) for t in VERSIONED}
            hit = False
            if mid is not None:
                if step == "journal":
                    hit = True
                elif step == "blob-tmp":
                    hit = mid in now and _tmp_in(blobs / mid[:2])
                elif step == "blobs":
                    hit = _blobs_of(data, mid) > 0
                elif step in VERSIONED:
                    hit = versions(data, step) > base[step]
                elif step == "indexes":
                    if not committed_all and not now and versions(data, "media") > base["media"]:
                        committed_all = True
                        base = {t: versions(data, t) for t in VERSIONED}
                    elif committed_all:
                        hit = any(versions(data, t) > base[t] for t in ("frames", "episodes", "media"))
            if hit:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                out.killed = True
                out.kill_after_s = time.monotonic() - t0
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    out.seen = _after_kill(data, mid)
    if mid is not None and base:
        out.seen["tables_written"] = sorted(t for t in VERSIONED if out.seen["versions"][t] > base[t])
    return out


def kill_transcribe_at(data: Path, step: str, nth: int, timeout: float = 300) -> Outcome:
    """Run ``lifelog transcribe`` on an imported memory; SIGKILL it at ``step`` of the ``nth`` file."""
    out = Outcome("transcribe", step, nth)
    t0 = time.monotonic()
    proc = _popen(data, "transcribe", "--json")
    jdir = data / "journal-speech"
    base = {t: versions(data, t) for t in VERSIONED}
    journals = 0
    was: list[str] = []
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            now = _names(jdir)
            journals += len([m for m in now if m not in was])
            was = now
            hit = journals >= nth if step == "speech-journal" else versions(data, step) - base[step] >= nth
            if hit:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                out.killed = True
                out.kill_after_s = time.monotonic() - t0
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    out.seen = _after_kill(data, None)
    out.seen["tables_written"] = sorted(t for t in VERSIONED if out.seen["versions"][t] > base[t])
    return out


# ------------------------------------------------------------------------------- comparing
def summary(data: Path) -> dict[str, Any]:
    """What a crash must not change: row counts and ids, blobs, leftovers (read as another process)."""
    from lifelog.store.blind_index import INDEX_KEY_BLOB
    from lifelog.store.db import Store

    store = Store(data)

    def col(table: str, c: str) -> list[Any]:
        values: list[Any] = store.rows(table, None, columns=[c]).column(c).to_pylist()
        return values

    counts = {t: store.count(t) for t in COUNTED}
    ids = {t: sorted(col(t, "id")) for t in ("media", "episodes", "frames", "faces", "ocr", "utterances")}
    referenced = {INDEX_KEY_BLOB}
    referenced.update(x for x in col("frames", "thumb_id") if x)
    referenced.update(x for x in col("faces", "crop_id") if x)
    for thumbs in col("episodes", "thumb_ids"):
        referenced.update(thumbs or [])
    blob_dir = data / "vault" / "blobs"
    blobs = sorted(p.stem for p in blob_dir.rglob("*.bin")) if blob_dir.is_dir() else []
    return {
        "counts": counts,
        "ids": ids,
        "blobs": blobs,
        "orphan_blobs": sorted(set(blobs) - referenced),
        "missing_blobs": sorted(referenced - set(blobs) - {INDEX_KEY_BLOB}),
        "tmp_files": sorted(str(p.relative_to(data)) for p in data.rglob(".tmp-*")),
        "journal": _names(data / "journal") + _names(data / "journal-speech"),
    }


def compare(got: dict[str, Any], clean: dict[str, Any]) -> list[str]:
    problems = []
    for t, n in clean["counts"].items():
        if got["counts"][t] != n:
            problems.append(f"{t}: {got['counts'][t]} rows, a clean run has {n}")
    for t, ids in clean["ids"].items():
        if got["ids"][t] != ids:
            problems.append(f"{t}: other ids than a clean run")
    for k in ("orphan_blobs", "missing_blobs", "tmp_files", "journal"):
        if got[k]:
            problems.append(f"{k}: {got[k][:5]}")
    if got["blobs"] != clean["blobs"]:
        problems.append("the vault holds other blobs than a clean run's")
    return problems


# ------------------------------------------------------------------------------- one point
Rerun = Callable[[Path], None]


def cli_import(src: Path) -> Rerun:
    def run(data: Path) -> None:
        r = cli(data, "import", str(src), "--json", "--no-transcribe")
        if r.returncode != 0:
            raise RuntimeError(f"re-run import failed ({r.returncode}): {r.stderr[-800:]}")
    return run


def cli_transcribe(data: Path) -> None:
    r = cli(data, "transcribe", "--json")
    if r.returncode != 0:
        raise RuntimeError(f"re-run transcribe failed ({r.returncode}): {r.stderr[-800:]}")


def run_import_point(work: Path, src: Path, step: str, nth: int, clean: dict[str, Any], rerun: Rerun) -> Outcome:
    data = work / f"import-{step}-{nth}"
    shutil.rmtree(data, ignore_errors=True)
    out = kill_import_at(data, src, step, nth)
    t = time.monotonic()
    rerun(data)
    out.rerun_s = time.monotonic() - t
    got = summary(data)
    out.counts = got["counts"]
    out.problems = compare(got, clean)
    out.ok = out.killed and not out.problems
    return out


def run_transcribe_point(work: Path, speech: Path, step: str, nth: int, clean: dict[str, Any],
                         rerun: Rerun) -> Outcome:
    data = work / f"transcribe-{step}-{nth}"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(speech_imported(work, speech), data, symlinks=True)
    out = kill_transcribe_at(data, step, nth)
    t = time.monotonic()
    rerun(data)
    out.rerun_s = time.monotonic() - t
    got = summary(data)
    out.counts = got["counts"]
    out.problems = compare(got, clean)
    out.ok = out.killed and not out.problems
    return out


def clean_import(work: Path, src: Path) -> dict[str, Any]:
    data = work / "clean-import"
    shutil.rmtree(data, ignore_errors=True)
    cli_import(src)(data)
    return summary(data)


def speech_imported(work: Path, speech: Path) -> Path:
    """The speech files imported (not transcribed) once; each transcribe run starts from a copy."""
    data = work / "speech-imported"
    if not (data / "db" / "media.lance").is_dir():
        shutil.rmtree(data, ignore_errors=True)
        r = cli(data, "import", str(speech), "--json", "--no-transcribe")
        if r.returncode != 0:
            raise RuntimeError(f"import of the speech files failed: {r.stderr[-800:]}")
    return data


def clean_transcribe(work: Path, speech: Path) -> dict[str, Any]:
    data = work / "clean-transcribe"
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(speech_imported(work, speech), data, symlinks=True)
    cli_transcribe(data)
    return summary(data)


# ------------------------------------------------------------------------------- sync
SYNC_STEPS = ("partial", "journal", "media", "original", "ledger")


def make_card(dst: Path) -> Path:
    """A folder of mount points holding one simulated camera card (DCF) with three short clips."""
    from lifelog.sources.sim.clips import make_clips
    from lifelog.sources.sim.dcf import make_volume

    mounts = dst / "mounts"
    if not (mounts / "CRASHCAM").is_dir():
        clips = make_clips(dst / "card-clips", 3, datetime(2024, 5, 20, 9, 0, tzinfo=UTC))
        make_volume(mounts, "CRASHCAM", "gopro", clips)
    return mounts


def _sync_env(mounts: Path) -> dict[str, str]:
    return {**cli_env(), "LIFELOG_MOUNT_ROOTS": str(mounts)}


def paired_memory(data: Path, mounts: Path) -> str:
    """A fresh memory with the card paired; the device id."""
    shutil.rmtree(data, ignore_errors=True)
    r = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "devices", "pair", "usb",
                        str(mounts / "CRASHCAM"), "--json"], capture_output=True, text=True, env=_sync_env(mounts),
                       cwd=REPO, timeout=300)
    if r.returncode != 0:
        raise RuntimeError(f"pairing the card failed: {r.stderr[-800:]}")
    return str(json.loads(r.stdout)["id"])


def cli_sync(mounts: Path) -> Rerun:
    def run(data: Path) -> None:
        r = subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "sync", "--json"],
                           capture_output=True, text=True, env=_sync_env(mounts), cwd=REPO, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"sync failed ({r.returncode}): {r.stderr[-800:]}")
    return run


def _ledger_items(data: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for led in (data / "devices").glob("*/ledger.json"):
        try:
            items = json.loads(led.read_text()).get("items") or {}
        except (OSError, ValueError):
            continue
        out.update({k: v.get("status") if isinstance(v, dict) else v for k, v in items.items()})
    return out


def _files_named(d: Path, suffix: str) -> list[str]:
    return sorted(str(p.relative_to(d)) for p in d.rglob(f"*{suffix}")) if d.is_dir() else []


def sync_summary(data: Path) -> dict[str, Any]:
    """:func:`summary` plus what a sync leaves: kept originals, the ledger, partial downloads."""
    got = summary(data)
    originals = data / "originals"
    got["originals"] = _files_named(originals, ".lgo")
    got["plain_originals"] = sorted(str(p.relative_to(data)) for p in originals.rglob("*")
                                    if p.is_file() and p.suffix != ".lgo") if originals.is_dir() else []
    got["ledger"] = _ledger_items(data)
    got["partials"] = _files_named(data / "devices", ".part")
    return got


def compare_sync(got: dict[str, Any], clean: dict[str, Any]) -> list[str]:
    problems = compare(got, clean)
    if got["originals"] != clean["originals"]:
        problems.append(f"kept originals {got['originals']}, a clean sync keeps {clean['originals']}")
    if got["plain_originals"]:
        problems.append(f"plaintext copies left: {got['plain_originals'][:3]}")
    if sorted(got["ledger"]) != sorted(clean["ledger"]):
        problems.append(f"ledger holds {sorted(got['ledger'])}, a clean sync {sorted(clean['ledger'])}")
    if got["partials"]:
        problems.append(f"partial downloads left: {got['partials'][:3]}")
    return problems


def kill_sync_at(data: Path, mounts: Path, step: str, nth: int, timeout: float = 300) -> Outcome:
    """Run ``lifelog sync`` and SIGKILL it when ``step`` of the ``nth`` file shows on disk."""
    out = Outcome("sync", step, nth)
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "lifelog", "--data-dir", str(data), "sync", "--json"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_sync_env(mounts), cwd=REPO)
    parts: list[str] = []
    mids: list[str] = []
    base: dict[str, int] = {}
    try:
        while proc.poll() is None and time.monotonic() - t0 < timeout:
            for name in _files_named(data / "devices", ".part"):
                if name not in parts:
                    parts.append(name)
            for m in _names(data / "journal"):
                if m not in mids:
                    mids.append(m)
                    if len(mids) == nth:
                        base = {t: versions(data, t) for t in VERSIONED}
            if step == "partial":  # a small file's .part lives for milliseconds: overtaken, its journal
                hit = len(parts) >= nth or len(mids) >= nth
            elif step == "journal":
                hit = len(mids) >= nth
            elif step == "media":
                hit = bool(base) and versions(data, "media") > base["media"]
            elif step == "original":
                hit = len(_files_named(data / "originals", ".lgo")) >= nth
            else:  # ledger
                hit = len(_ledger_items(data)) >= nth
            if hit:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                out.killed = True
                out.kill_after_s = time.monotonic() - t0
                break
            time.sleep(POLL_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    out.seen = _after_kill(data, mids[nth - 1] if len(mids) >= nth else None)
    out.seen["partials"] = _files_named(data / "devices", ".part")
    out.seen["originals"] = _files_named(data / "originals", ".lgo")
    out.seen["ledger"] = len(_ledger_items(data))
    if base:
        out.seen["tables_written"] = sorted(t for t in VERSIONED if out.seen["versions"][t] > base[t])
    return out


def run_sync_point(work: Path, mounts: Path, step: str, nth: int, clean: dict[str, Any]) -> Outcome:
    data = work / f"sync-{step}-{nth}"
    paired_memory(data, mounts)
    out = kill_sync_at(data, mounts, step, nth)
    t = time.monotonic()
    cli_sync(mounts)(data)
    out.rerun_s = time.monotonic() - t
    got = sync_summary(data)
    out.counts = got["counts"]
    out.problems = compare_sync(got, clean)
    out.ok = out.killed and not out.problems
    return out


def clean_sync(work: Path, mounts: Path) -> dict[str, Any]:
    data = work / "clean-sync"
    paired_memory(data, mounts)
    cli_sync(mounts)(data)
    return sync_summary(data)


# ------------------------------------------------------------------------------- the bench
# file 1 has faces, file 2 text (OCR), file 3 is a photo with a face; "indexes" follows the last file
ALL_IMPORT_POINTS = [
    *[(s, n) for n, extra in ((1, "faces"), (2, "ocr"), (3, "faces"))
      for s in ("journal", "blob-tmp", "blobs", "frames", extra, "episodes", "media")],
    ("indexes", 3),
]
QUICK_IMPORT_POINTS = [("blob-tmp", 2), ("frames", 2), ("episodes", 2), ("media", 2)]
ALL_SPEECH_POINTS = [(s, n) for n in (1, 2) for s in SPEECH_STEPS]
QUICK_SPEECH_POINTS = [("transcripts", 1)]
ALL_SYNC_POINTS = [(s, n) for n in (1, 2) for s in SYNC_STEPS]
QUICK_SYNC_POINTS = [("partial", 2), ("media", 2), ("original", 1), ("ledger", 1)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="only the points the test suite runs")
    ap.add_argument("--only", choices=("import", "transcribe", "sync"), action="append",
                    help="only this command's points (repeatable; default: all three)")
    ap.add_argument("--keep", action="store_true", help="keep the data dirs")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "crash.json")
    args = ap.parse_args(argv)
    only = set(args.only or ("import", "transcribe", "sync"))
    os.environ.setdefault("LIFELOG_PASSPHRASE", "test passphrase")
    started = datetime.now(UTC)
    load0 = list(os.getloadavg())
    work = Path(tempfile.mkdtemp(prefix="lifelog-crash-"))
    t_all = time.monotonic()
    clean: dict[str, Any] = {}
    outcomes: list[Outcome] = []
    try:
        footage, speech = make_inputs(work / "inputs")
        if "import" in only:
            t = time.monotonic()
            clean_i = clean_import(work, footage)
            clean.update(import_=clean_i["counts"], import_s=round(time.monotonic() - t, 2))
            for step, nth in QUICK_IMPORT_POINTS if args.quick else ALL_IMPORT_POINTS:
                o = run_import_point(work, footage, step, nth, clean_i, cli_import(footage))
                outcomes.append(o)
                _row(o)
        if "transcribe" in only:
            t = time.monotonic()
            clean_t = clean_transcribe(work, speech)
            clean.update(transcribe=clean_t["counts"], transcribe_s=round(time.monotonic() - t, 2))
            for step, nth in QUICK_SPEECH_POINTS if args.quick else ALL_SPEECH_POINTS:
                o = run_transcribe_point(work, speech, step, nth, clean_t, cli_transcribe)
                outcomes.append(o)
                _row(o)
        if "sync" in only:
            mounts = make_card(work / "inputs")
            t = time.monotonic()
            clean_s = clean_sync(work, mounts)
            clean.update(sync=clean_s["counts"], sync_originals=len(clean_s["originals"]),
                         sync_s=round(time.monotonic() - t, 2))
            for step, nth in QUICK_SYNC_POINTS if args.quick else ALL_SYNC_POINTS:
                o = run_sync_point(work, mounts, step, nth, clean_s)
                outcomes.append(o)
                _row(o)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    total = time.monotonic() - t_all
    bad = [o for o in outcomes if not o.ok]
    missed = [o for o in outcomes if not o.killed]
    print(f"\n{len(outcomes)} kill points, {len(outcomes) - len(bad)} recovered to a clean run's store; "
          f"{len(missed)} not reached; {total:.0f} s in all "
          f"(clean runs: {', '.join(f'{k} {v} s' for k, v in clean.items() if k.endswith('_s'))})")
    if "import_" in clean:
        clean["import"] = clean.pop("import_")
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "args": {"quick": args.quick, "only": sorted(only)},
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "load_avg_at_start": load0, "load_avg_at_end": list(os.getloadavg())},
        "inputs": {"import": "a_obama.mp4 (6 s, faces), b_sign.mp4 (6 s, text), c_biden.jpg (a face)",
                   "transcribe": "cards_001.wav, cards_002.wav, cards_003.wav",
                   "sync": "a paired simulated DCF card (gopro layout) with 3 clips of 3 s"},
        "clean": clean,
        "total_s": round(total, 1),
        "summary": {"points": len(outcomes), "recovered": len(outcomes) - len(bad), "not_reached": len(missed),
                    "by_command": {c: sum(o.command == c for o in outcomes) for c in sorted(only)}},
        "points": [asdict(o) for o in outcomes],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 1 if bad else 0


def _row(o: Outcome) -> None:
    if not _row.__dict__.get("header"):
        print(f"{'command':<11} {'step':<15} {'file':>4}  {'killed at':>9}  {'written before the kill':<40} "
              f"{'rerun':>6}  result")
        _row.__dict__["header"] = True
    written = ",".join(o.seen.get("tables_written", [])) or "-"
    if o.seen.get("blobs_of_file"):
        written = f"{o.seen['blobs_of_file']} blob(s); {written}"
    if o.seen.get("tmp_files"):
        written = f"{len(o.seen['tmp_files'])} .tmp; {written}"
    result = "ok" if o.ok else ("NOT REACHED" if not o.killed else "; ".join(o.problems))
    print(f"{o.command:<11} {o.step:<15} {o.nth:>4}  {o.kill_after_s:>8.1f}s  {written:<40.40} {o.rerun_s:>5.1f}s  "
          f"{result}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())

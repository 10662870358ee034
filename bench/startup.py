"""Start-up time: how long a cold process takes to answer, and how much memory it takes.

Usage::

    .venv/bin/python bench/startup.py              # 5 runs of each, this tree against HEAD
    .venv/bin/python bench/startup.py --runs 3 --baseline-ref HEAD~3
    .venv/bin/python bench/startup.py --no-baseline   # this tree only
    .venv/bin/python bench/startup.py --baseline-tree /tmp/base   # a tree extracted before (git archive)
    .venv/bin/python bench/startup.py --tree /tmp/mine --baseline-tree /tmp/base   # two trees

Each figure is a **cold process** (a new interpreter, started by this script with ``Popen``),
run ``--runs`` times; the median and the max of the wall time, the CPU time (user + system,
``wait4``'s ``ru_utime + ru_stime`` of that child: what the process itself cost, which load
from other processes on the machine does not inflate as much as the wall time) and the peak
RSS (``wait4``'s ``ru_maxrss`` of that child alone) are reported:

* ``python -c pass`` — the floor: an interpreter that does nothing;
* ``lifelog --version``;
* ``lifelog ask "when did I last see a cat?"`` on the sample memory (a private copy of the
  ``lifelog demo`` memory, made by ``lifelog demo`` first when there is none), in-process;
* ``lifelog ask`` of a question with words outside the models' vocabulary ("a cat asleep on a
  sunny windowsill"), which starts the text model (a question whose words are all in the
  vocabulary reads their vectors instead: ``lifelog.encoders.phrases``, made before the runs);
* the same question while a ``lifelog service`` runs for that memory (the CLI hands it to the
  service over the memory's local socket, ``lifelog.serve.asks``): each tree's command against
  the same running service (this tree's), interleaved; ``ask_service`` names the memory with
  ``--data-dir``, ``ask_service_chosen`` does not (the folder chosen in the app, as a user types it);
* the app (``ui.app.main`` offscreen, the real window and pages) until its first window is shown
  (a visible top-level window titled "lifelog — …": the start window, or the main window where
  there is none), until the timeline has drawn its day (``moments_s``: the main window's
  timeline has its day's moments — what the user sees), and until its content is loaded
  (``content_s``: the day's moments and no task is left — every page's first read, the
  thumbnails, the start-up retention purge and the nightly schedule's start all done).

The children run with their bytecode (as an installed lifelog, whose bytecode pip compiles at
install), written to a private folder of this run (``PYTHONPYCACHEPREFIX``) by one unmeasured run
of each case first; ``--no-bytecode`` runs them as the environment has them (where
``PYTHONDONTWRITEBYTECODE`` is set, every run then compiles the modules changed since their
bytecode was last written: ~0.15 s of a cold ask in a tree being worked on).

Peak RSS is ``wait4``'s ``ru_maxrss`` of the child: it includes what the child had at ``fork``
(this script's own ~20 MB), so figures under ~20 MB read as this script's size.

The baseline is the same run of today's code: ``--baseline-ref`` (default ``HEAD``) is extracted
with ``git archive`` into a temporary folder (git state is not touched) and measured with the
same interpreter, the same memory, interleaved with this tree's runs. ``--baseline-tree`` takes
a tree extracted earlier instead (``git archive REF | tar -x -C DIR``: a baseline that stays put
while commits are made during the work). Ratios are this tree
divided by the baseline. Figures are printed and written to ``bench/results/startup.json``.
Nothing here is a test; load on the machine shows in the ``python -c pass`` figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "startup.json"
QUESTION = "when did I last see a cat?"
OTHER_QUESTION = "when did I last see a cat asleep on a sunny windowsill?"
NOW = "2024-05-16T00:00:00+00:00"
DEMO_PASSPHRASE = "lifelog-demo"


def log(msg: str) -> None:
    print(f"[startup bench] {msg}", file=sys.stderr, flush=True)


# ------------------------------------------------------------------ one cold process
def run_cold(cmd: list[str], *, cwd: Path, env: dict[str, str], marks: bool = False,
             timeout: float = 120.0) -> dict[str, Any]:
    """Start ``cmd``, wait for it; wall seconds, peak RSS in MB and, with ``marks``, the
    seconds from the start to each ``MARK name epoch`` line the child printed on stdout."""
    t0_epoch = time.time()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:6])}… exited {proc.returncode}: {err.strip()[-400:]}")
    doc: dict[str, Any] = {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
                           "rss_mb": usage.ru_maxrss / 1024, "stdout": out}
    if marks:
        for line in out.splitlines():
            if line.startswith("MARK "):
                _, name, epoch = line.split()
                doc[name] = float(epoch) - t0_epoch
    return doc


def summary(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 3), "max": round(max(values), 3),
            "min": round(min(values), 3)}


# ------------------------------------------------------------------ the app child
APP_CHILD = r"""
import sys, time
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QTimer
app = QApplication(sys.argv)
state = {"shown": False}
def poll():
    from PySide6.QtWidgets import QApplication as A
    for w in A.topLevelWidgets():
        if not w.isVisible() or not w.windowTitle().startswith("lifelog"):
            continue
        if not state["shown"]:  # the first window (the start window where there is one)
            state["shown"] = True
            print(f"MARK window {time.time()}", flush=True)
        if type(w).__name__ != "MainWindow":
            continue
        page = w.pages.get("timeline")
        if page is not None and getattr(page, "moments", None) and not state.get("moments"):
            state["moments"] = True  # the day is drawn
            print(f"MARK moments {time.time()}", flush=True)
        if page is not None and getattr(page, "moments", None) and not w.tasks.busy():
            print(f"MARK content {time.time()}", flush=True)
            w.close()
            A.quit()
            return
timer = QTimer()
timer.timeout.connect(poll)
timer.start(5)
from ui.app import main
sys.exit(main(data_dir=sys.argv[1]))
"""


# ------------------------------------------------------------------ the sample memory
def sample_memory(root: Path, env: dict[str, str]) -> Path:
    """A private copy of the demo memory (``lifelog demo`` builds it when there is none)."""
    import platformdirs

    src = Path(platformdirs.user_data_dir("lifelog-demo", appauthor=False))
    if not (src / "db").exists():
        log("no demo memory yet: running `lifelog demo` (once)")
        subprocess.run([sys.executable, "-m", "lifelog", "demo"], cwd=REPO, env=env, check=True,
                       stdout=subprocess.DEVNULL)
    dst = root / "memory"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.lock", "service.sock", "run"))
    os.chmod(dst, 0o700)
    return dst


def tree_of(ref: str, root: Path) -> Path:
    """``git archive REF`` extracted under ``root`` (read-only use of git)."""
    dst = root / f"tree-{ref.replace('/', '_').replace('~', '-')}"
    dst.mkdir()
    archive = subprocess.run(["git", "archive", ref, "lifelog", "ui"], cwd=REPO, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dst)], input=archive, check=True)
    for shared in ("models", "assets"):  # built models and assets are not in git: the same files
        if (REPO / shared).exists():
            (dst / shared).symlink_to(REPO / shared)
    return dst


def env_for(tree: Path, base: dict[str, str]) -> dict[str, str]:
    env = dict(base)
    env["PYTHONPATH"] = str(tree)
    return env


def wait_for_socket(data_dir: Path, timeout: float = 120.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (data_dir / "run" / "service.sock").exists():
            return True
        time.sleep(0.2)
    return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-ref", default="HEAD")
    ap.add_argument("--baseline-tree", type=Path, help="a tree extracted before (instead of --baseline-ref)")
    ap.add_argument("--tree", type=Path, default=REPO,
                    help="the tree measured as 'now' (default: this working tree), e.g. one change alone")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--no-app", action="store_true")
    ap.add_argument("--no-bytecode", action="store_true",
                    help="children as the environment has them (with PYTHONDONTWRITEBYTECODE set, every run"
                         " compiles the modules that have no bytecode yet from source)")
    args = ap.parse_args()
    py = sys.executable
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LIFELOG_HOME")}
    base_env.setdefault("LIFELOG_PASSPHRASE", DEMO_PASSPHRASE)
    base_env["QT_QPA_PLATFORM"] = "offscreen"
    results: dict[str, Any] = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                           "load": os.getloadavg()}, "runs": args.runs, "question": QUESTION,
                               "bytecode": not args.no_bytecode}
    with tempfile.TemporaryDirectory(prefix="lifelog-startup-") as tmp:
        root = Path(tmp)
        if not args.no_bytecode:
            # An installed lifelog has its bytecode (pip compiles it); a shell with
            # PYTHONDONTWRITEBYTECODE would compile every changed module from source in every
            # run (~0.15 s of a cold ask). The children write and read it in a private folder,
            # filled by one unmeasured run of each case below; the trees are not written to.
            base_env.pop("PYTHONDONTWRITEBYTECODE", None)
            base_env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        memory = sample_memory(root, base_env)
        # the vocabulary's text vectors, as packaging/setup.sh, the service and the app make them
        # (lifelog.encoders.phrases): what a cold ask of this tree reads instead of the text model
        subprocess.run([py, "-c", "from lifelog.encoders.text import ensure_phrase_table as e; e()"],
                       env=env_for(args.tree.resolve(), base_env), check=True)
        now_tree = args.tree.resolve()
        trees: dict[str, Path] = {"now": now_tree}
        results["tree"] = str(now_tree)
        if args.baseline_tree is not None and not args.no_baseline:
            trees["baseline"] = args.baseline_tree.resolve()
            results["baseline_tree"] = str(trees["baseline"])
        elif not args.no_baseline:
            trees["baseline"] = tree_of(args.baseline_ref, root)
            results["baseline_ref"] = subprocess.run(["git", "rev-parse", args.baseline_ref], cwd=REPO,
                                                     capture_output=True, text=True).stdout.strip()
        cases: dict[str, Callable[[Path], list[str]]] = {
            "python_pass": lambda t: [py, "-c", "pass"],
            "version": lambda t: [py, "-m", "lifelog", "--version"],
            "ask": lambda t: [py, "-m", "lifelog", "--data-dir", str(memory), "ask", QUESTION, "--now", NOW],
            # words outside the models' vocabulary: the text model is started (lifelog.encoders.phrases)
            "ask_other_words": lambda t: [py, "-m", "lifelog", "--data-dir", str(memory), "ask", OTHER_QUESTION,
                                          "--now", NOW],
        }
        if not args.no_app:
            cases["app"] = lambda t: [py, "-c", APP_CHILD, str(memory)]
        samples: dict[str, dict[str, list[float]]] = {}
        answers: dict[str, str] = {}
        if not args.no_bytecode:
            for tree in trees.values():  # the bytecode written, the files in the page cache
                for cmd in cases.values():
                    run_cold(cmd(tree), cwd=tree, env=env_for(tree, base_env))
            log("bytecode written (one unmeasured run of each)")
        for i in range(args.runs):
            for label, tree in trees.items():
                for case, cmd in cases.items():
                    if case == "python_pass" and label != "now":
                        continue
                    r = run_cold(cmd(tree), cwd=tree, env=env_for(tree, base_env), marks=case == "app")
                    s = samples.setdefault(f"{case}:{label}", {})
                    for m in ("wall_s", "cpu_s", "rss_mb"):
                        s.setdefault(m, []).append(r[m])
                    for mark in ("window", "moments", "content"):
                        if mark in r:
                            s.setdefault(f"{mark}_s", []).append(r[mark])
                    if case == "ask":
                        answers[label] = r["stdout"]
            log(f"run {i + 1}/{args.runs} done")
        if "baseline" in answers and answers["baseline"] != answers["now"]:
            log("WARNING: the answer differs from the baseline's")
        results["same_answer_as_baseline"] = answers.get("baseline") == answers.get("now")
        # the hand-off to a running service: each tree's command, this tree's service
        env = env_for(now_tree, base_env)
        service = subprocess.Popen([py, "-m", "lifelog", "--data-dir", str(memory), "service", "--no-receiver",
                                    "--no-usb"], cwd=now_tree, env=env, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        try:
            if wait_for_socket(memory):
                run_cold(cases["ask"](now_tree), cwd=now_tree, env=env)  # the service's first answer warms it
                config = root / "config"  # the memory folder chosen in the app (location.json)
                (config / "lifelog").mkdir(parents=True)
                (config / "lifelog" / "location.json").write_text(json.dumps({"data_dir": str(memory)}))
                chosen = [py, "-m", "lifelog", "ask", QUESTION, "--now", NOW]
                for _ in range(args.runs):
                    for label, tree in trees.items():
                        for case, cmd, extra in (("ask_service", cases["ask"](tree), {}),
                                                 ("ask_service_chosen", chosen, {"XDG_CONFIG_HOME": str(config)})):
                            r = run_cold(cmd, cwd=tree, env={**env_for(tree, base_env), **extra})
                            s = samples.setdefault(f"{case}:{label}", {})
                            for m in ("wall_s", "cpu_s", "rss_mb"):
                                s.setdefault(m, []).append(r[m])
                            if r["stdout"] != answers.get("now"):
                                log(f"WARNING: the service's answer ({case}, {label}) differs from the in-process one")
                                results["service_same_answer"] = False
                results.setdefault("service_same_answer", True)
            else:
                log("no service socket: the hand-off is not measured")
        finally:
            service.terminate()
            service.wait(timeout=60)
    figures = {k: {m: summary(v) for m, v in s.items()} for k, s in samples.items()}
    results["figures"] = figures
    ratios: dict[str, Any] = {}
    for key, fig in figures.items():
        case, label = key.split(":")
        if label == "now" and f"{case}:baseline" in figures:
            b = figures[f"{case}:baseline"]
            ratios[case] = {m: round(fig[m]["median"] / b[m]["median"], 3) for m in fig if m in b}
    if "ask_service:now" in figures and "ask:baseline" in figures:
        ratios["ask_service_over_cold_ask_baseline"] = {
            "wall_s": round(figures["ask_service:now"]["wall_s"]["median"]
                            / figures["ask:baseline"]["wall_s"]["median"], 3)}
    if "python_pass:now" in figures:
        floor = figures["python_pass:now"]["wall_s"]["median"]
        results["over_python_pass"] = {k: round(f["wall_s"]["median"] / floor, 1) for k, f in figures.items()}
    results["ratios_now_over_baseline"] = ratios
    for key, fig in sorted(figures.items()):
        parts = [f"{m} median {v['median']:.3f} max {v['max']:.3f}" for m, v in fig.items()]
        print(f"{key:<20} " + "; ".join(parts))
    print("ratios (this tree / baseline, medians):", json.dumps(ratios))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    log(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The app's import runs in a child process: the UI process never shares its GIL with the models.

Why: the face detector (mediapipe) and other native steps of an import hold Python's GIL for
tens to hundreds of milliseconds at a time. In a thread of the app's own process that freezes the
UI event loop for as long (bench/ui.py measured stalls of 200–500 ms with faces and OCR on; the
visual path alone stayed under 100 ms). In a child process nothing of the import can block the UI
thread: the app's write thread only waits on a pipe.

Protocol (JSON lines; no Qt here, so the child starts fast). One child serves consecutive
imports of one memory folder (:class:`ImportWorker`), so the models load once:

* parent → child, on stdin: one request per line, ``{"paths": [...], "transcribe": true}``;
  ``cancel`` sets the running request's cancel ``Event`` (the core stops at its next check and
  rolls the file in progress back); end of file (the app closed or went away) cancels what runs
  and ends the child.
* child → parent, on stdout, per request: ``{"type": "progress", "phase": "importing" |
  "transcribing", ...the progress dataclass's fields}`` (per phase at most ``PROGRESS_HZ`` a
  second, plus every stage change; the two phases interleave: speech is transcribed beside the
  import), then exactly one ``{"type": "result", "result": ImportResult.to_json(),
  "speech": [...], "speech_error": ..., "folder": bool}`` or ``{"type": "error", "message": "one
  line"}``. Logs and tracebacks go to stderr (the last line is shown if the child dies).

:class:`ImportWorker` is the parent side (its ``run`` is called on the app's write thread),
:func:`main` the child.
:func:`import_and_transcribe` is what the child runs, usable in-process too.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

PROGRESS_HZ = 20.0
CHILD_NICE = 10  # the import process runs at a lower CPU priority than the app
DISK_FULL = "disk full"
SPEECH_NOT_TRANSCRIBED = "speech not transcribed:"  # the import's warning when no speech model


class ImportBlocked(RuntimeError):
    """The whole import could not run (read-only memory, disk full, another writer): one line."""


@dataclass
class ItemOutcome:
    """What one import returned (plain data)."""

    result: Any  # lifelog.ingest.pipeline.ImportResult
    speech: list[Any] = field(default_factory=list)  # SpeechResult-like objects (status, error, media_id)
    speech_error: str | None = None
    folder: bool = False  # every path was a folder (for the "nothing to import" wording)


@dataclass(frozen=True)
class SpeechLine:
    """A transcription result as the parent sees it."""

    media_id: str
    status: str
    error: str | None = None


@dataclass(frozen=True)
class Progress:
    """A progress report as the parent sees it (the fields of ImportProgress / SpeechProgress)."""

    phase: str  # importing | transcribing
    stage: str = ""
    files_done: int = 0
    files_total: int = 0
    current: str | None = None  # the file; for speech, the media id
    fraction: float = 0.0


def blocked_reason(e: BaseException, data_dir: Path) -> str:
    """One clear line for an error that stopped a whole import."""
    if isinstance(e, OSError):
        if e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return (f"the memory folder {data_dir} is read-only: nothing can be imported into it "
                    "(nothing in it was changed)")
        if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            return (f"{DISK_FULL}: the disk of the memory folder {data_dir} has no space left "
                    "(nothing already stored was changed)")
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


# ------------------------------------------------------------------ the work itself
def import_and_transcribe(
    memory: Any,
    paths: list[Path],
    cancel: threading.Event,
    report: Callable[[str, Any], None],
    transcribe: bool = True,
) -> ItemOutcome:
    """Import ``paths`` with the speech of each imported file transcribed beside the import of
    the next (:meth:`lifelog.api.Memory.import_and_transcribe`); ``report(phase, progress)`` is
    called from the importing thread (``importing``) and from the speech thread
    (``transcribing``). ``cancel`` stops both."""
    speech_on = transcribe and bool(memory.settings.speech.enabled)
    try:
        if speech_on:
            result, speech = memory.import_and_transcribe(
                paths, progress=lambda p: report("importing", p), cancel=cancel,
                speech_progress=lambda p: report("transcribing", p))
        else:
            result, speech = memory.import_paths(paths, progress=lambda p: report("importing", p), cancel=cancel), []
    except OSError as e:
        raise ImportBlocked(blocked_reason(e, memory.data_dir)) from e
    outcome = ItemOutcome(result, speech=list(speech), folder=bool(paths) and all(p.is_dir() for p in paths))
    # a missing speech model is a warning of the import: the app says it as "speech not transcribed"
    said = [w for w in result.warnings if w.error.startswith(SPEECH_NOT_TRANSCRIBED)]
    if said:
        result.warnings = [w for w in result.warnings if w not in said]
        outcome.speech_error = said[0].error.removeprefix(SPEECH_NOT_TRANSCRIBED).strip() or said[0].error
    return outcome


# ------------------------------------------------------------------ parent side
def _result_from_json(doc: dict[str, Any]) -> Any:
    from lifelog.api import ImportFailure, ImportResult

    r = ImportResult(
        imported=int(doc.get("imported", 0)),
        skipped=int(doc.get("skipped", 0)),
        failed=[ImportFailure(str(f["path"]), str(f["error"])) for f in doc.get("failed", [])],
        episodes=[str(e) for e in doc.get("episodes", [])],
        ignored=int(doc.get("ignored", 0)),
        warnings=[ImportFailure(str(w["path"]), str(w["warning"])) for w in doc.get("warnings", [])],
        cancelled=bool(doc.get("cancelled", False)),
        frames_decoded=int(doc.get("frames_decoded", 0)),
        frames_embedded=int(doc.get("frames_embedded", 0)),
        footage_s=float(doc.get("footage_seconds", 0.0)),
    )
    return r


def worker_command(data_dir: Path) -> list[str]:
    return [sys.executable, "-m", "ui.import_worker", "--data-dir", str(data_dir)]


class ImportWorker:
    """One child process for a memory folder, reused for consecutive imports (the models load
    once). Started on first use; :meth:`release` lets it exit (the app does so when the queue
    has been idle for a while, and on close). Calls are serialised by a lock."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(data_dir)
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._err_tail: list[str] = []

    def _ensure(self) -> subprocess.Popen[str]:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parent.parent)  # `-m ui.import_worker` from a checkout
        env["PYTHONPATH"] = os.pathsep.join(p for p in [root, env.get("PYTHONPATH", "")] if p)
        env.pop("QT_QPA_PLATFORM", None)
        proc = subprocess.Popen(
            worker_command(self.data_dir), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=env, text=True, errors="surrogateescape", bufsize=1,
        )
        tail = self._err_tail = []

        def drain(stream: Any = proc.stderr) -> None:
            for line in stream:
                tail.append(line.rstrip("\n"))
                del tail[:-20]

        threading.Thread(target=drain, daemon=True, name="import-worker-stderr").start()
        self._proc = proc
        return proc

    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _send(self, proc: subprocess.Popen[str], line: str) -> None:
        assert proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def run(
        self,
        paths: list[Path],
        cancel: threading.Event,
        on_progress: Callable[[Progress], None],
        transcribe: bool = True,
        speech_beside: bool = False,
    ) -> ItemOutcome:
        """Import ``paths`` in the child and wait (the caller's thread blocks on a pipe, holding
        no GIL). ``cancel`` is forwarded; progress arrives as :class:`Progress`. The speech is
        transcribed beside the import: with ``speech_beside`` its progress arrives interleaved
        with the import's; without, only once the import's is done (one phase after the other)."""
        with self._lock:
            proc = self._ensure()
            assert proc.stdout is not None
            self._send(proc, json.dumps({"paths": [os.fsdecode(p) for p in paths], "transcribe": transcribe}))
            done = threading.Event()

            def forward_cancel() -> None:
                while not done.is_set():
                    if cancel.wait(0.1):
                        self._send(proc, "cancel")
                        return

            fwd = threading.Thread(target=forward_cancel, daemon=True, name="import-worker-cancel")
            fwd.start()
            final: dict[str, Any] | None = None
            imported = False  # the import's progress said "done"
            try:
                for line in proc.stdout:
                    try:
                        msg = json.loads(line)
                    except ValueError:
                        continue
                    kind = msg.get("type")
                    if kind == "progress":
                        p = _progress(msg)
                        if p.phase == "importing" and p.stage == "done":
                            imported = True
                        if p.phase == "importing" or speech_beside or imported:
                            on_progress(p)
                    elif kind in ("result", "error"):
                        final = msg
                        break
            finally:
                done.set()
                fwd.join(5)
            if final is None:  # the child died (killed, out of memory…): start afresh next time
                proc.wait()
                self._proc = None
                tail = next((ln for ln in reversed(self._err_tail) if ln.strip()), "")
                raise RuntimeError(f"the import process ended unexpectedly (exit code {proc.returncode})"
                                   + (f": {tail[:300]}" if tail else ""))
        if final["type"] == "error":
            raise ImportBlocked(str(final.get("message") or "import failed"))
        return ItemOutcome(
            _result_from_json(final["result"]),
            speech=[SpeechLine(str(s.get("media_id", "")), str(s.get("status", "")), s.get("error"))
                    for s in final.get("speech", [])],
            speech_error=final.get("speech_error"),
            folder=bool(final.get("folder", False)),
        )

    def release(self, wait_s: float = 0.0) -> None:
        """Let the child exit (end of its stdin) without blocking; ``wait_s`` > 0 waits for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.close()
        if wait_s > 0:
            try:
                proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            threading.Thread(target=proc.wait, daemon=True, name="import-worker-reap").start()


def _progress(msg: dict[str, Any]) -> Progress:
    return Progress(
        phase=str(msg.get("phase", "importing")), stage=str(msg.get("stage", "")),
        files_done=int(msg.get("files_done", msg.get("done", 0)) or 0),
        files_total=int(msg.get("files_total", msg.get("total", 0)) or 0),
        current=msg.get("current", msg.get("media_id")), fraction=float(msg.get("fraction", 0.0) or 0.0),
    )


def run_import(data_dir: Path, paths: list[Path], cancel: threading.Event,
               on_progress: Callable[[Progress], None], transcribe: bool = True) -> ItemOutcome:
    """One import in a child process of its own (started and released here)."""
    worker = ImportWorker(data_dir)
    try:
        return worker.run(paths, cancel, on_progress, transcribe)
    finally:
        worker.release(wait_s=30)


# ------------------------------------------------------------------ child side
def _emit(doc: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _fields(p: Any) -> dict[str, Any]:
    if p is None:
        return {}
    d = asdict(p) if is_dataclass(p) and not isinstance(p, type) else dict(vars(p))
    if "fraction" not in d:
        d["fraction"] = float(getattr(p, "fraction", 0.0))
    return {k: v for k, v in d.items() if isinstance(v, (str, int, float, bool, type(None)))}


def main(argv: list[str] | None = None) -> int:
    """The child: read import requests (one JSON object per line) until stdin ends."""
    import argparse
    import queue

    ap = argparse.ArgumentParser(prog="python -m ui.import_worker")
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--nice", type=int, default=CHILD_NICE)
    a = ap.parse_args(argv)
    if a.nice and hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(a.nice)  # background work: the app's UI thread wins the CPU when it needs it
    requests: queue.Queue[tuple[dict[str, Any], threading.Event] | None] = queue.Queue()
    current: list[threading.Event] = [threading.Event()]

    def read_stdin() -> None:
        for line in sys.stdin:
            text = line.strip()
            if text == "cancel":
                current[0].set()
            elif text:
                try:
                    req = json.loads(text)
                except ValueError:
                    continue
                ev = threading.Event()  # made here, so a "cancel" right after the request hits it
                current[0] = ev
                requests.put((req, ev))
        current[0].set()  # the app went away: stop what runs, then exit
        requests.put(None)

    threading.Thread(target=read_stdin, daemon=True).start()
    last_t: dict[str, float] = {}
    last_key: dict[str, str] = {}
    out_lock = threading.Lock()  # the import and the speech beside it report from two threads

    def report(phase: str, p: Any) -> None:
        now = time.monotonic()
        key = f"{getattr(p, 'stage', '')}:{getattr(p, 'files_done', '')}:{getattr(p, 'media_id', '')}"
        with out_lock:
            if key == last_key.get(phase) and now - last_t.get(phase, 0.0) < 1.0 / PROGRESS_HZ:
                return
            last_t[phase], last_key[phase] = now, key
            _emit({"type": "progress", "phase": phase, **_fields(p)})

    data_dir = Path(a.data_dir)
    memory: Any = None
    while True:
        item = requests.get()
        if item is None:
            return 0
        req, cancel = item
        try:
            if memory is None:
                from lifelog.api import Memory

                try:
                    memory = Memory(data_dir)
                except OSError as e:
                    raise ImportBlocked(blocked_reason(e, data_dir)) from e
            else:
                from lifelog.api.settings import load_settings

                memory.settings = load_settings(data_dir)  # saved in the app since the last request
                memory.store.refresh()  # others (the CLI) may have written since
            out = import_and_transcribe(memory, [Path(p) for p in req.get("paths", [])], cancel, report,
                                        transcribe=bool(req.get("transcribe", True)))
        except Exception as e:  # one line for the app; the traceback to stderr
            import traceback

            traceback.print_exc()
            text = str(e).strip()
            _emit({"type": "error", "message": text.splitlines()[0] if text else type(e).__name__})
            continue
        _emit({
            "type": "result",
            "result": out.result.to_json(),
            "speech": [{"media_id": str(getattr(s, "media_id", "")), "status": str(getattr(s, "status", "")),
                        "error": getattr(s, "error", None)} for s in out.speech],
            "speech_error": out.speech_error,
            "folder": out.folder,
        })


if __name__ == "__main__":
    raise SystemExit(main())

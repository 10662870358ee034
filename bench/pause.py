"""How fast does `lifelog pause` stop every capture path? (issue #13)

Each path runs for real while `python -m lifelog pause` runs as a separate process:

* **webcam** — a :class:`Recorder` on the simulated camera in real time (30 fps, real footage),
  obeying the data dir's pause: stopped = the first frame it drops;
* **sync** — a device sync of a 512 MiB file from a DCF volume, read at ~100 MiB/s (a card
  reader): stopped = ``sync_source`` returned ``paused`` (partial kept, nothing imported);
* **wifi** — a paired upload of a 512 MiB file to the receiver on loopback, sent in 1 MiB
  chunks at ~100 MiB/s: stopped = the receiver answered 423.

Times are from the moment the pause command wrote ``capture.json`` (its mtime) to the moment the
path stopped, plus the command's own run time (Python start-up included). Prints a table and
writes ``bench/results/pause.json``.

    .venv/bin/python bench/pause.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lifelog.sources import capture  # noqa: E402

BIG = 512 * 2**20


def _cli_pause(data: Path) -> tuple[float, float]:
    """Run `lifelog pause`; (its run time, the wall-clock moment it wrote the pause)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t = time.monotonic()
    subprocess.run([sys.executable, "-m", "lifelog", "--data-dir", str(data), "pause", "--json"],
                   check=True, env=env, capture_output=True)
    took = time.monotonic() - t
    return took, os.stat(capture.capture_file(data)).st_mtime  # the moment the pause was written


def _big_media(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        block = os.urandom(1 << 20)
        for _ in range(BIG >> 20):
            f.write(block)
    return path


def bench_webcam(root: Path) -> dict[str, float]:
    from lifelog.sample.fetch import sample_media
    from lifelog.sources.sim.camera import SimCamera
    from lifelog.sources.webcam import Recorder, RecorderState

    data = root / "webcam"
    data.mkdir()
    footage = Path(sample_media().path("vtest.avi"))
    stopped: list[float] = []
    started = threading.Event()

    def on_state(s: RecorderState) -> None:
        if s.frames_recorded >= 15:
            started.set()
        if s.status == "paused" and not stopped:
            stopped.append(time.time())

    cam = SimCamera(footage, datetime.now(UTC), fps=30, realtime=True)
    watch = capture.CaptureWatch(data)
    rec = Recorder(cam, data / "originals" / "webcam-bench", segment_s=60, on_state=on_state,
                   capture_paused=watch.paused)
    th = threading.Thread(target=rec.run, kwargs={"duration_s": 60})
    th.start()
    started.wait(30)
    cli_s, t0 = _cli_pause(data)
    while not stopped and th.is_alive():
        time.sleep(0.005)
    rec.stop()
    th.join()
    return {"stop_s": stopped[0] - t0, "cli_s": cli_s}


class _Throttled:
    """A source whose reads run at ~100 MiB/s (a card reader)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def identity(self) -> Any:
        return self.inner.identity()

    def list_media(self) -> Any:
        return self.inner.list_media()

    def open(self, item: Any, offset: int) -> Any:
        f = self.inner.open(item, offset)
        read = f.read

        def slow(n: int = -1) -> bytes:
            time.sleep(0.01)
            return bytes(read(n))

        f.read = slow
        return f


class _NoImport:
    def __init__(self, data: Path) -> None:
        self.data_dir = data

    def import_paths(self, *a: Any, **k: Any) -> Any:
        raise AssertionError("imported while paused")

    def keep_original(self, p: Path) -> None:
        raise AssertionError


def bench_sync(root: Path) -> dict[str, float]:
    from lifelog.sources.dcf import DcfVolumeSource
    from lifelog.sources.sync import sync_source

    data = root / "sync"
    data.mkdir()
    vol = root / "vol"
    (vol / "MISC").mkdir(parents=True)
    _big_media(vol / "DCIM" / "100GOPRO" / "GX010001.MP4")
    out: list[Any] = []
    downloading = threading.Event()

    def progress(p: Any) -> None:
        if p.stage == "downloading" and p.bytes_done > 16 * 2**20:
            downloading.set()

    def run() -> None:
        src: Any = _Throttled(DcfVolumeSource(vol))
        target: Any = _NoImport(data)
        out.append((sync_source(target, src, progress=progress), time.time()))

    th = threading.Thread(target=run)
    th.start()
    downloading.wait(60)
    cli_s, t0 = _cli_pause(data)
    th.join()
    res, t1 = out[0]
    assert res.paused and res.imported == 0, res.to_json()
    return {"stop_s": t1 - t0, "cli_s": cli_s}


def bench_wifi(root: Path) -> dict[str, float]:
    from lifelog.api import Memory
    from lifelog.sources.wifi.client import CompanionClient, ReceiverError
    from lifelog.sources.wifi.pairing import new_pairing_offer
    from lifelog.sources.wifi.server import start_receiver

    data = root / "wifi"
    data.mkdir()
    big = _big_media(root / "up" / "big.mp4")
    rec = start_receiver(Memory(data), "127.0.0.1", 0, advertise=False)
    try:
        offer = new_pairing_offer(data, host="127.0.0.1", port=rec.port)
        client, _p = CompanionClient.pair_with_uri(offer.uri, "bench", timeout=120)
        sending = threading.Event()
        out: list[Any] = []

        def progress(done: int, total: int) -> None:
            if done > 16 * 2**20:
                sending.set()
            time.sleep(0.01)  # ~100 MiB/s in 1 MiB chunks

        def send() -> None:
            try:
                out.append(client.upload(big, chunk=1 << 20, progress=progress))
            except ReceiverError as e:
                out.append(e)
            out.append(time.time())

        th = threading.Thread(target=send)
        th.start()
        sending.wait(60)
        cli_s, t0 = _cli_pause(data)
        th.join()
        err, t1 = out
        assert isinstance(err, ReceiverError) and err.status == 423, err
        return {"stop_s": t1 - t0, "cli_s": cli_s}
    finally:
        rec.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("LIFELOG_PASSPHRASE", "bench passphrase")
    rows: dict[str, list[dict[str, float]]] = {"webcam": [], "sync": [], "wifi": []}
    load0 = os.getloadavg()
    for _ in range(args.rounds):
        for name, fn in (("webcam", bench_webcam), ("sync", bench_sync), ("wifi", bench_wifi)):
            with tempfile.TemporaryDirectory(prefix="pause-bench-") as tmp:
                rows[name].append(fn(Path(tmp)))
    summary = {k: {"stop_s_median": statistics.median(r["stop_s"] for r in v),
                   "stop_s_max": max(r["stop_s"] for r in v),
                   "cli_s_median": statistics.median(r["cli_s"] for r in v)} for k, v in rows.items()}
    doc = {"machine": platform.platform(), "cpus": os.cpu_count(), "load_start": load0, "load_end": os.getloadavg(),
           "rounds": rows, "summary": summary, "when": datetime.now(UTC).isoformat()}
    print(f"{'path':8} {'stop after pause written (median / max)':>42} {'`lifelog pause` run time':>26}")
    for k, s in summary.items():
        print(f"{k:8} {s['stop_s_median']:>30.3f} s / {s['stop_s_max']:.3f} s {s['cli_s_median']:>20.2f} s")
    out = REPO / "bench" / "results" / "pause.json"
    out.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()

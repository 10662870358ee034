"""Speech benchmark: word error rate on real speech with known transcripts, and speed, per model.

Usage::

    .venv/bin/python bench/speech.py                 # every model that is installed (tiny.en, base)
    .venv/bin/python bench/speech.py --models tiny.en --beams 1,5
    .venv/bin/python bench/speech.py --minutes 30    # a longer "day recording" for the speed figure

Speech with known transcripts (``docs/data.md``): the five LibriVox sentences (Sense and
Sensibility, read English, 24.7 s) and the five CMU "cards" calls (9.6 s) from Debian's
``pocketsphinx-testdata``. WER is computed here (no jiwer): word-level Levenshtein distance
after :func:`lifelog.speech.text.words` (case, punctuation, "10" = "ten", "Mr." = "mister").

Speed, as audio seconds per wall-clock second (× real time), through the real
:class:`~lifelog.speech.transcribe.Transcriber` (Silero VAD + Whisper with word timestamps):

* **speech**: the ten clips back to back (0.5 s apart): continuous speech, the worst case;
* **recording**: a ``--minutes`` long recording of room tone (Gaussian noise at -54 dBFS) with
  the ten clips spread through it (about 5 % speech in 10 minutes) — what a worn camera's day
  sounds like; the VAD skips the rest.

Both are timed after a warm-up, with CPU time next to wall time: on a shared machine the wall
figures drop with the load average (recorded in the JSON); ``× RT (cpu)`` = audio s / (CPU s /
threads) is what the run would give with the cores to itself. Results: ``bench/results/speech.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import sys
import time
import wave
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lifelog.config import SpeechSettings  # noqa: E402
from lifelog.sample.fetch import SampleMediaUnavailable, sample_media  # noqa: E402
from lifelog.speech.audio import SAMPLE_RATE  # noqa: E402
from lifelog.speech.text import word_error_rate  # noqa: E402
from lifelog.speech.transcribe import SpeechModelError, Transcriber, TranscribeStats  # noqa: E402

RESULTS = REPO / "bench" / "results" / "speech.json"


def _load_wav(path: Path) -> np.ndarray[Any, Any]:
    with wave.open(str(path), "rb") as wf:
        if wf.getframerate() != SAMPLE_RATE or wf.getnchannels() != 1 or wf.getsampwidth() != 2:
            raise ValueError(f"{path.name}: expected 16 kHz mono 16-bit")
        return np.frombuffer(wf.readframes(wf.getnframes()), "<i2").astype(np.float32) / 32768.0


def corpus() -> dict[str, list[tuple[str, np.ndarray[Any, Any], str]]]:
    """{"librivox": [(name, audio, reference)], "cards": [...]} from the fetched sample media."""
    media = sample_media()
    out: dict[str, list[tuple[str, np.ndarray[Any, Any], str]]] = {"librivox": [], "cards": []}
    if media.has("librivox.transcription"):
        for line in media.path("librivox.transcription").read_text().splitlines():
            m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
            if m and media.has(m.group(2) + ".wav"):
                name = m.group(2) + ".wav"
                out["librivox"].append((name, _load_wav(media.path(name)), m.group(1)))
    if media.has("cards.transcription"):
        for i, line in enumerate(media.path("cards.transcription").read_text().splitlines(), start=1):
            ref = re.sub(r"\(.*\)$", "", line).replace("<s>", "").replace("</s>", "").strip()
            name = f"cards_{i:03d}.wav"
            if ref and media.has(name):
                out["cards"].append((name, _load_wav(media.path(name)), ref))
    return out


def make_inputs(clips: list[np.ndarray[Any, Any]], minutes: float) -> dict[str, np.ndarray[Any, Any]]:
    gap = np.zeros(SAMPLE_RATE // 2, np.float32)
    speech = np.concatenate([x for c in clips for x in (c, gap)])
    rng = np.random.default_rng(0)
    n = int(minutes * 60 * SAMPLE_RATE)
    rec = rng.normal(0, 0.002, n).astype(np.float32)
    slots = np.linspace(0.05, 0.9, len(clips))
    for c, at in zip(clips, slots, strict=True):
        i = int(at * n)
        rec[i : i + len(c)] += c
    return {"speech": speech, "recording": np.clip(rec, -1, 1)}


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_model(
    model: str, beam: int, threads: int, data: dict[str, list[tuple[str, Any, str]]], inputs: dict[str, Any]
) -> dict[str, Any]:
    settings = SpeechSettings.model_validate({"model": model, "beam_size": beam, "cpu_threads": threads})
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    tr = Transcriber(settings)
    tr.backend.load()
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {"model": model, "model_id": tr.model_id, "beam_size": beam, "cpu_threads": threads,
                           "load_s": round(load_s, 3), "rss_after_load_mb": round(_rss_mb() - rss0, 1),
                           "multilingual": tr.backend.multilingual}
    tr.transcribe_array(data["cards"][0][1] if data["cards"] else inputs["speech"][: SAMPLE_RATE * 2])  # warm-up
    wer: dict[str, Any] = {}
    all_pairs = []
    for name, items in data.items():
        pairs, clips = [], []
        for clip, audio, ref in items:
            hyp = " ".join(s.text for s in tr.transcribe_array(audio))
            pairs.append((ref, hyp))
            clips.append({"clip": clip, "reference": ref, "hypothesis": hyp})
        w, errors, words = word_error_rate(pairs)
        wer[name] = {"wer": round(w, 4), "errors": errors, "words": words, "clips": clips}
        all_pairs += pairs
    w, errors, words = word_error_rate(all_pairs)
    wer["all"] = {"wer": round(w, 4), "errors": errors, "words": words}
    out["wer"] = wer
    speed = {}
    for name, audio in inputs.items():
        st = TranscribeStats()
        c0, w0 = time.process_time(), time.perf_counter()
        segs = tr.transcribe_array(audio, stats=st)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        secs = len(audio) / SAMPLE_RATE
        speed[name] = {
            "audio_s": round(secs, 2),
            "speech_s_after_vad": round(st.speech_s, 2),
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "x_realtime": round(secs / wall, 1),
            "x_realtime_cpu": round(secs / (cpu / threads), 1) if cpu > 0 else None,
            "segments": len(segs),
            "languages": {k: round(v, 1) for k, v in st.languages.items()},
        }
    out["speed"] = speed
    tr.backend.unload()
    return out


def machine() -> dict[str, Any]:
    def ver(d: str) -> str:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            return "-"

    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "faster_whisper": ver("faster-whisper"),
        "ctranslate2": ver("ctranslate2"),
        "onnxruntime": ver("onnxruntime"),
        "load_avg_at_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default="tiny.en,base", help="comma-separated: tiny.en, base")
    ap.add_argument("--beams", default="1", help="comma-separated beam sizes (1 = greedy, the default)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the 'recording' input")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    started = datetime.now(UTC)
    try:
        data = corpus()
    except SampleMediaUnavailable as e:
        print(f"sample media unavailable: {e}", file=sys.stderr)
        return 1
    if not data["librivox"] and not data["cards"]:
        print("no speech with transcripts in the sample media (pocketsphinx-testdata not fetched)", file=sys.stderr)
        return 1
    clips = [a for items in data.values() for _, a, _ in items]
    inputs = make_inputs(clips, args.minutes)
    info = machine()
    results = []
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        for beam in [int(b) for b in args.beams.split(",")]:
            print(f"… {model} beam {beam}", file=sys.stderr, flush=True)
            try:
                results.append(run_model(model, beam, args.threads, data, inputs))
            except SpeechModelError as e:
                print(f"  skipped: {e}", file=sys.stderr)
                results.append({"model": model, "beam_size": beam, "skipped": str(e)})
    info["load_avg_at_end"] = list(os.getloadavg())
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": info,
        "corpus": {k: {"clips": len(v), "audio_s": round(sum(len(a) for _, a, _ in v) / SAMPLE_RATE, 2)}
                   for k, v in data.items()},
        "results": results,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    rows = [r for r in results if "skipped" not in r]
    head = ("model", "beam", "WER libri", "WER cards", "WER all", "× RT speech", "× RT rec.", "× RT speech (cpu)",
            "× RT rec. (cpu)", "load s")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        w, sp = r["wer"], r["speed"]
        print(" | ".join(str(x) for x in (
            r["model"], r["beam_size"], f"{w['librivox']['wer']:.3f}", f"{w['cards']['wer']:.3f}",
            f"{w['all']['wer']:.3f} ({w['all']['errors']}/{w['all']['words']})",
            sp["speech"]["x_realtime"], sp["recording"]["x_realtime"],
            sp["speech"]["x_realtime_cpu"], sp["recording"]["x_realtime_cpu"], r["load_s"],
        )))
    la0, la1 = info["load_avg_at_start"][0], info["load_avg_at_end"][0]
    print(f"\nspeech input {inputs['speech'].size / SAMPLE_RATE:.1f} s; recording {args.minutes:g} min "
          f"(speech {sum(len(c) for c in clips) / SAMPLE_RATE:.1f} s); load average {la0:.2f} → {la1:.2f} "
          f"on {info['cpus']} CPUs; written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

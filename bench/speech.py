"""Speech benchmark: word error rate on real speech with known transcripts, and speed, per model.

Usage::

    .venv/bin/python bench/speech.py                 # every model that is installed (tiny.en, base)
    .venv/bin/python bench/speech.py --models tiny.en --beams 1,5
    .venv/bin/python bench/speech.py --minutes 30    # a longer "day recording" for the speed figure
    .venv/bin/python bench/speech.py --compute-types int8,int16,float32 --beams 1,5   # every candidate
    .venv/bin/python bench/speech.py --models "" --vad-rounds 0 --overlap 4        # import beside speech

Before the models, it times what silence costs: the transcriber without the energy gate and
speech packing ("before") against with them, in alternating rounds with the same loaded model,
on speech-dense, mostly-silent, room-tone and digitally silent audio (``--vad-rounds``, 0 skips).
With ``--overlap N`` it also imports N real clips with speech and transcribes them, in sequence
(``import_paths`` + ``transcribe_pending``) and overlapped (``import_and_transcribe``).

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
from lifelog.speech.audio import SAMPLE_RATE, AudioChunk  # noqa: E402
from lifelog.speech.text import word_error_rate  # noqa: E402
from lifelog.speech.transcribe import (  # noqa: E402
    FasterWhisperBackend,
    SpeechModelError,
    Transcriber,
    TranscribeStats,
)

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


def file_chunks(audio: np.ndarray[Any, Any], chunk_s: float = 30.0) -> list[AudioChunk]:
    """The audio as :func:`lifelog.speech.audio.iter_audio` gives a file's: 30 s chunks."""
    n = round(chunk_s * SAMPLE_RATE)
    return [AudioChunk(i / SAMPLE_RATE, audio[i : i + n]) for i in range(0, audio.size, n)]


def vad_first(
    data: dict[str, list[tuple[str, Any, str]]], inputs: dict[str, Any], threads: int, rounds: int, minutes: float
) -> dict[str, Any]:
    """What silence costs: the transcriber as it was (Silero VAD over every sample, one model
    call per window with speech) against now (an energy gate in front of the VAD, speech of
    several windows packed into one model call), on speech-dense, mostly-silent, room-tone and
    digitally silent audio, in alternating rounds with the same loaded model (default settings)."""
    settings = SpeechSettings.model_validate({"cpu_threads": threads})
    before = Transcriber(settings, energy_gate=False, pack_s=0.0)
    after = Transcriber(settings, backend=before.backend)
    before.backend.load()
    before.transcribe_array(inputs["speech"][: SAMPLE_RATE * 3])  # warm-up (model and VAD)
    n = int(minutes * 60 * SAMPLE_RATE)
    cases = {
        "speech-dense": inputs["speech"],
        "mostly-silent": inputs["recording"],
        "room tone": np.random.default_rng(1).normal(0, 0.002, n).astype(np.float32),
        "digital silence": np.zeros(n, np.float32),
    }
    reference = " ".join(ref for items in data.values() for _, _, ref in items)
    out: dict[str, Any] = {}
    for name, audio in cases.items():
        secs = audio.size / SAMPLE_RATE
        runs: dict[str, list[tuple[float, float, TranscribeStats, str]]] = {"before": [], "after": []}
        for _ in range(rounds):
            for label, tr in (("before", before), ("after", after)):
                st = TranscribeStats()
                c0, w0 = time.process_time(), time.perf_counter()
                text = " ".join(s.text for s in tr.transcribe_chunks(file_chunks(audio), stats=st))
                runs[label].append((time.process_time() - c0, time.perf_counter() - w0, st, text))
        row: dict[str, Any] = {"audio_s": round(secs, 1)}
        for label, rs in runs.items():
            cpu = float(np.median([r[0] for r in rs]))
            wall = float(np.median([r[1] for r in rs]))
            st, text = rs[0][2], rs[0][3]
            row[label] = {
                "cpu_s": round(cpu, 3), "wall_s": round(wall, 3),
                "x_realtime": round(secs / wall, 1), "x_realtime_cpu": round(secs / (cpu / threads), 1),
                "vad_s": round(st.vad_s, 1), "speech_s": round(st.speech_s, 1), "model_calls": st.model_calls,
                "wer": round(word_error_rate([(reference, text)])[0], 4) if name != "room tone" and
                name != "digital silence" else None,
                "words": len(text.split()),
            }
        row["cpu_ratio_after_over_before"] = round(row["after"]["cpu_s"] / max(row["before"]["cpu_s"], 1e-9), 3)
        row["wall_ratio_after_over_before"] = round(row["after"]["wall_s"] / max(row["before"]["wall_s"], 1e-9), 3)
        out[name] = row
    before.backend.unload()
    return out


def talk_clips(work: Path, n: int) -> list[Path] | None:
    """``n`` real 12 s clips with speech (LibriVox sentences over sample pictures) in
    ``work/clips``, made once; None when the sample media has no LibriVox speech."""
    from lifelog.sample.compose import make_clip

    media = sample_media()
    wavs = sorted(p.name for p in media.root.glob("sense_and_sensibility_*.wav"))  # the LibriVox sentences
    if not wavs:
        return None
    pictures = [x for x in ("obama.jpg", "scenetext01.jpg", "biden.jpg", "coffee.png") if media.has(x)]
    clips_dir = work / "clips"
    clips_dir.mkdir(parents=True, exist_ok=True)
    files = []
    t = datetime(2024, 5, 14, 9, 0, tzinfo=UTC)
    for i in range(n):
        out = clips_dir / f"talk-{i:03d}.mp4"
        if not out.exists():
            make_clip(out, media.path(pictures[i % len(pictures)]), 12, t.replace(minute=i % 60, hour=9 + i // 60),
                      audio_wav=[media.path(wavs[i % len(wavs)]), media.path(wavs[(i + 1) % len(wavs)])], seed=i)
        files.append(out)
    return files


def overlap(n_files: int, rounds: int, work: Path) -> dict[str, Any]:
    """The full default import (faces, OCR) of ``n_files`` real clips with speech, then their
    transcription, in sequence (``import_paths`` + ``transcribe_pending``, what the CLI and the
    app did) against overlapped (``import_and_transcribe``: speech on a background thread while
    the next file is imported), in alternating rounds on fresh memories."""
    import shutil
    import tempfile

    from lifelog.api import Memory

    files = talk_clips(work, n_files)
    if files is None:
        return {"skipped": "no LibriVox speech in the sample media"}
    audio_s = 0.0
    from lifelog.speech.audio import probe_audio_stream

    for f in files:
        audio_s += probe_audio_stream(f).duration_s
    runs: dict[str, list[dict[str, Any]]] = {"sequential": [], "overlapped": []}
    warm = Path(tempfile.mkdtemp(prefix="speech-warm-", dir=work))
    try:  # load every model once, untimed: the first round must not pay for it
        Memory(warm, passphrase="speech bench").import_and_transcribe(files[:1])
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    for r in range(rounds):
        for mode in ("sequential", "overlapped"):
            d = Path(tempfile.mkdtemp(prefix=f"speech-{mode}-", dir=work))
            try:
                mem = Memory(d, passphrase="speech bench")
                c0, w0 = time.process_time(), time.perf_counter()
                if mode == "sequential":
                    res = mem.import_paths(files)
                    t_import = time.perf_counter() - w0
                    speech = mem.transcribe_pending()
                    during = 0
                else:
                    res, speech = mem.import_and_transcribe(files)
                    t_import = float("nan")
                    during = -1
                wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                texts = sorted((s.media_id, s.utterances) for s in speech)
                runs[mode].append({"round": r, "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
                                   "import_wall_s": round(t_import, 2), "imported": res.imported,
                                   "transcribed": sum(s.status == "done" for s in speech),
                                   "utterances": sum(s.utterances for s in speech), "per_file": texts,
                                   "prepared_during_import": during})
                print(f"  round {r} {mode}: {wall:.1f} s wall, {cpu:.1f} s cpu, "
                      f"{sum(s.utterances for s in speech)} utterances", file=sys.stderr, flush=True)
            finally:
                shutil.rmtree(d, ignore_errors=True)
    seq = float(np.median([x["wall_s"] for x in runs["sequential"]]))
    ovl = float(np.median([x["wall_s"] for x in runs["overlapped"]]))
    same = all(a["per_file"] == b["per_file"] for a, b in zip(runs["sequential"], runs["overlapped"], strict=True))
    return {"files": n_files, "footage_s": round(audio_s, 1), "rounds": runs,
            "sequential_wall_s": round(seq, 2), "overlapped_wall_s": round(ovl, 2),
            "speedup": round(seq / ovl, 3), "x_realtime_sequential": round(audio_s / seq, 1),
            "x_realtime_overlapped": round(audio_s / ovl, 1), "same_utterance_counts": same}


def _rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def run_model(
    model: str, beam: int, threads: int, data: dict[str, list[tuple[str, Any, str]]], inputs: dict[str, Any],
    compute_type: str = "int8",
) -> dict[str, Any]:
    settings = SpeechSettings.model_validate({"model": model, "beam_size": beam, "cpu_threads": threads})
    rss0 = _rss_mb()
    t0 = time.perf_counter()
    backend = FasterWhisperBackend(settings.model, threads, beam, compute_type=compute_type)  # type: ignore[arg-type]
    tr = Transcriber(settings, backend=backend)
    tr.backend.load()
    load_s = time.perf_counter() - t0
    out: dict[str, Any] = {"model": model, "model_id": tr.model_id, "beam_size": beam, "cpu_threads": threads,
                           "compute_type": compute_type,
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
    reference = " ".join(ref for items in data.values() for _, _, ref in items)
    for name, audio in inputs.items():
        st = TranscribeStats()
        c0, w0 = time.process_time(), time.perf_counter()
        segs = list(tr.transcribe_chunks(file_chunks(audio), stats=st))
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        secs = len(audio) / SAMPLE_RATE
        w_in = word_error_rate([(reference, " ".join(s.text for s in segs))])[0]
        speed[name] = {
            "audio_s": round(secs, 2),
            "speech_s_after_vad": round(st.speech_s, 2),
            "wall_s": round(wall, 3),
            "cpu_s": round(cpu, 3),
            "x_realtime": round(secs / wall, 1),
            "x_realtime_cpu": round(secs / (cpu / threads), 1) if cpu > 0 else None,
            "segments": len(segs),
            "model_calls": st.model_calls,
            "wer": round(w_in, 4),
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
    ap.add_argument("--compute-types", default="int8", help="comma-separated CTranslate2 types: int8, int16, float32")
    ap.add_argument("--vad-rounds", type=int, default=2, help="rounds of the silence-cost comparison (0 = skip it)")
    ap.add_argument("--overlap", type=int, default=0, metavar="N",
                    help="also time importing N clips with speech then transcribing, in sequence vs overlapped")
    ap.add_argument("--overlap-rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/lifelog-bench-speech"), help="scratch folder (--overlap)")
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
    vad: dict[str, Any] = {}
    if args.vad_rounds > 0:
        print("… silence cost: before/after the energy gate and speech packing", file=sys.stderr, flush=True)
        vad = vad_first(data, inputs, args.threads, args.vad_rounds, args.minutes)
    ovl: dict[str, Any] = {}
    if args.overlap > 0:
        print(f"… import + transcription of {args.overlap} clips: sequential vs overlapped", file=sys.stderr,
              flush=True)
        ovl = overlap(args.overlap, args.overlap_rounds, args.work)
    for model in [m.strip() for m in args.models.split(",") if m.strip()]:
        for ct in [c.strip() for c in args.compute_types.split(",") if c.strip()]:
            for beam in [int(b) for b in args.beams.split(",")]:
                print(f"… {model} {ct} beam {beam}", file=sys.stderr, flush=True)
                try:
                    results.append(run_model(model, beam, args.threads, data, inputs, ct))
                except SpeechModelError as e:
                    print(f"  skipped: {e}", file=sys.stderr)
                    results.append({"model": model, "beam_size": beam, "compute_type": ct, "skipped": str(e)})
    info["load_avg_at_end"] = list(os.getloadavg())
    doc = {
        "started": started.isoformat(),
        "finished": datetime.now(UTC).isoformat(),
        "args": {k: str(v) for k, v in vars(args).items()},
        "machine": info,
        "corpus": {k: {"clips": len(v), "audio_s": round(sum(len(a) for _, a, _ in v) / SAMPLE_RATE, 2)}
                   for k, v in data.items()},
        "results": results,
        "silence_cost": vad,
        "overlap": ovl,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=1))
    rows = [r for r in results if "skipped" not in r]
    if vad:
        head = ("audio", "s", "× RT before (cpu)", "× RT after (cpu)", "CPU after/before", "wall after/before",
                "VAD s before → after", "model calls", "WER before → after")
        print(" | ".join(head))
        print(" | ".join("---" for _ in head))
        for name, v in vad.items():
            b, a = v["before"], v["after"]
            wer = f"{b['wer']:.3f} → {a['wer']:.3f}" if b["wer"] is not None else "-"
            print(" | ".join(str(x) for x in (
                name, v["audio_s"], b["x_realtime_cpu"], a["x_realtime_cpu"], v["cpu_ratio_after_over_before"],
                v["wall_ratio_after_over_before"], f"{b['vad_s']:g} → {a['vad_s']:g}",
                f"{b['model_calls']} → {a['model_calls']}", wer,
            )))
        print()
    if ovl and "skipped" not in ovl:
        print(f"import + transcription of {ovl['files']} clips ({ovl['footage_s']} s): sequential "
              f"{ovl['sequential_wall_s']} s ({ovl['x_realtime_sequential']}× RT), overlapped "
              f"{ovl['overlapped_wall_s']} s ({ovl['x_realtime_overlapped']}× RT): {ovl['speedup']}× "
              f"(same utterance counts: {ovl['same_utterance_counts']})\n")
    head2 = ("model", "compute", "beam", "WER libri", "WER cards", "WER all", "WER rec.", "× RT speech", "× RT rec.",
            "× RT speech (cpu)", "× RT rec. (cpu)", "load s")
    print(" | ".join(head2))
    print(" | ".join("---" for _ in head2))
    for r in rows:
        w, sp = r["wer"], r["speed"]
        print(" | ".join(str(x) for x in (
            r["model"], r["compute_type"], r["beam_size"], f"{w['librivox']['wer']:.3f}", f"{w['cards']['wer']:.3f}",
            f"{w['all']['wer']:.3f} ({w['all']['errors']}/{w['all']['words']})", f"{sp['recording']['wer']:.3f}",
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

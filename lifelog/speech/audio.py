"""Decode the audio of any media file to 16 kHz mono float32, streaming.

Whisper and the Silero VAD both take 16 kHz mono. :func:`iter_audio` demuxes the file's first
audio stream with PyAV, decodes packet by packet and lets FFmpeg's resampler (swresample)
convert whatever comes in — 8 kHz telephone audio, 44.1/48 kHz stereo, 5.1, 96 kHz — to
16 kHz mono float32. It yields chunks of ``chunk_s`` seconds, so a 3-hour recording is never
in memory at once (3 h of 16 kHz float32 would be 690 MB; a 30 s chunk is 1.9 MB).

Timing is kept exact: the position of each decoded frame is taken from its timestamp, and a
stretch lost to damaged packets is filled with silence, so every later sample stays at its
true offset from the start of the stream (offset 0 = the first audio sample = the media's
capture start).

Failures are :class:`AudioError` (a :class:`~lifelog.ingest.media.MediaError`): the message
says in plain words what is wrong. A video whose audio stream is damaged is still imported
visually by the importer; only its transcript is missing, and the job reports why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from lifelog.ingest.media import MediaError

SAMPLE_RATE = 16000
CHUNK_S = 30.0
#: A gap in frame timestamps longer than this is filled with silence (damaged or missing packets).
GAP_FILL_S = 0.2
#: This many undecodable packets before the first good frame means the stream is unusable.
MAX_LEADING_ERRORS = 25


class AudioError(MediaError):
    """The audio of a file cannot be used; the message says why in words a user understands."""


class NoAudioStream(AudioError):
    """The file has no audio stream (not an error for a video: there is nothing to transcribe)."""


class AudioDecodeError(AudioError):
    """The audio stream exists but cannot be decoded (corrupt, truncated or an unknown codec)."""


@dataclass(frozen=True)
class AudioStreamInfo:
    codec: str
    sample_rate: int
    channels: int
    duration_s: float  # 0.0 when the container does not say


@dataclass
class AudioReport:
    """What decoding met, filled in while :func:`iter_audio` runs."""

    info: AudioStreamInfo | None = None
    packets: int = 0
    bad_packets: int = 0
    samples: int = 0  # 16 kHz samples produced (including filled gaps)
    filled_s: float = 0.0  # seconds of silence put in place of damaged stretches
    warnings: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.samples / SAMPLE_RATE


@dataclass(frozen=True)
class AudioChunk:
    offset_s: float  # of the first sample, from the start of the audio stream
    samples: NDArray[np.float32]  # 1-D, 16 kHz mono, in [-1, 1]

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def _open(path: Path) -> Any:
    from lifelog.ingest.decode import open_media

    try:
        return open_media(Path(path))
    except AudioError:
        raise
    except MediaError as e:  # the same reasons as for video, reported as an audio error
        raise AudioError(str(e)) from e


def _info(stream: Any, container: Any) -> AudioStreamInfo:
    import av

    ctx = stream.codec_context
    duration = 0.0
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    elif container.duration:
        duration = float(container.duration / av.time_base)
    try:
        codec = str(ctx.name)
    except Exception:  # pragma: no cover - a codec without a decoder
        codec = "unknown"
    return AudioStreamInfo(codec, int(stream.rate or ctx.sample_rate or 0), int(ctx.channels or 0), duration)


def probe_audio_stream(path: Path) -> AudioStreamInfo:
    """The first audio stream's codec, rate, channels and duration; :class:`NoAudioStream` if none."""
    with _open(path) as c:
        if not c.streams.audio:
            raise NoAudioStream("the file has no audio stream")
        return _info(c.streams.audio[0], c)


def iter_audio(
    path: Path,
    *,
    chunk_s: float = CHUNK_S,
    report: AudioReport | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[AudioChunk]:
    """Yield the file's audio as consecutive 16 kHz mono float32 chunks of about ``chunk_s`` s.

    Raises :class:`NoAudioStream` when the file has none and :class:`AudioDecodeError` when the
    stream cannot be decoded at all. Damage in the middle of a stream is skipped (the lost
    stretch becomes silence) and recorded in ``report.warnings``. ``should_stop`` is checked
    between packets; when it returns true the generator raises :class:`InterruptedError`.
    """
    import av

    rep = report if report is not None else AudioReport()
    want = max(1, round(chunk_s * SAMPLE_RATE))
    with _open(path) as c:
        if not c.streams.audio:
            raise NoAudioStream("the file has no audio stream")
        stream = c.streams.audio[0]
        rep.info = _info(stream, c)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        pending: list[NDArray[np.float32]] = []
        pending_n = 0
        emitted = 0  # samples already yielded
        t0: float | None = None  # timestamp of the first decoded frame
        in_pos = 0.0  # seconds of input consumed, by timestamps (for gap detection)
        errors_before_first = 0

        def take(arr: NDArray[np.float32]) -> None:
            nonlocal pending_n
            if arr.size:
                pending.append(arr)
                pending_n += arr.size
                rep.samples += arr.size

        def resample(frame: Any) -> None:
            for out in resampler.resample(frame):
                take(np.ascontiguousarray(out.to_ndarray().reshape(-1), dtype=np.float32))

        def drain(final: bool) -> Iterator[AudioChunk]:
            nonlocal pending, pending_n, emitted
            while pending_n >= want or (final and pending_n > 0):
                buf = np.concatenate(pending) if len(pending) > 1 else pending[0]
                n = min(want, buf.size)
                head, tail = buf[:n], buf[n:]
                pending, pending_n = ([tail], tail.size) if tail.size else ([], 0)
                yield AudioChunk(emitted / SAMPLE_RATE, np.clip(head, -1.0, 1.0))
                emitted += n

        try:
            for packet in c.demux(stream):
                if should_stop is not None and should_stop():
                    raise InterruptedError
                if packet.size == 0:
                    continue
                rep.packets += 1
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    rep.bad_packets += 1
                    if t0 is None:
                        errors_before_first += 1
                        if errors_before_first > MAX_LEADING_ERRORS:
                            raise AudioDecodeError(
                                "the audio stream cannot be decoded (corrupt or damaged audio data)"
                            ) from None
                    continue
                for frame in frames:
                    rate = frame.sample_rate or rep.info.sample_rate or SAMPLE_RATE
                    if frame.pts is not None and frame.time_base is not None:
                        t = float(frame.pts * frame.time_base)
                        if t0 is None:
                            t0 = t
                        t -= t0
                        if t - in_pos > GAP_FILL_S:
                            gap = t - in_pos
                            take(np.zeros(round(gap * SAMPLE_RATE), dtype=np.float32))
                            rep.filled_s += gap
                            in_pos = t
                    elif t0 is None:
                        t0 = 0.0
                    in_pos += frame.samples / float(rate)
                    resample(frame)
                yield from drain(final=False)
            resample(None)
        except av.error.FFmpegError as e:
            if rep.samples == 0:
                raise AudioDecodeError(f"the audio stream cannot be decoded ({e.strerror or e})") from e
            rep.warnings.append(
                f"audio decoding stopped at {rep.seconds:.1f} s: the rest of the audio stream is damaged"
            )
        if rep.samples == 0 and rep.packets > 0:
            raise AudioDecodeError(
                "the audio stream cannot be decoded (corrupt or damaged audio data, or an unsupported codec)"
            )
        if rep.bad_packets:
            rep.warnings.append(
                f"{rep.bad_packets} damaged audio packet(s) skipped ({rep.filled_s:.1f} s replaced by silence)"
            )
        yield from drain(final=True)


def read_audio(path: Path, max_s: float | None = None) -> NDArray[np.float32]:
    """The whole audio of a (short) file as one array. For tests and the benchmark."""
    parts: list[NDArray[np.float32]] = []
    total = 0
    for ch in iter_audio(path):
        parts.append(ch.samples)
        total += ch.samples.size
        if max_s is not None and total >= max_s * SAMPLE_RATE:
            break
    out = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)
    return out[: round(max_s * SAMPLE_RATE)] if max_s is not None else out

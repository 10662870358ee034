"""Decoding only what is needed.

Videos are demuxed with PyAV and **only keyframe packets are sent to the decoder**: a
keyframe decodes on its own, so a 30-minute H.264 file costs a few hundred intra-frame
decodes instead of 54,000 full decodes. Decoded frames are scaled by FFmpeg's swscale straight
to a working size (``WORK_WIDTH`` pixels wide): enough for faces and signs, and all the
classifier needs (it resizes to 224).
If keyframes are sparser than ``max_interval`` (some cameras write one per 10 s or more), the
gaps are filled by seeking to the missing times and decoding forward from the previous keyframe.

Photos are read with Pillow (EXIF orientation applied; 16-bit, grayscale, palette and
alpha images converted to 8-bit RGB).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

from lifelog.ingest.media import MediaError, parse_creation_time, parse_exif_time

WORK_WIDTH = 640

# PyAV logs every corrupt packet loudly; our own messages are clearer.
av.logging.set_level(av.logging.PANIC)


@dataclass
class VideoInfo:
    duration_s: float
    width: int
    height: int
    codec: str
    fps: float
    has_audio: bool
    creation_time: datetime | None
    has_video: bool = True


@dataclass
class SampledFrame:
    offset_s: float
    rgb: NDArray[Any]  # (h, WORK_WIDTH, 3) uint8


@dataclass
class DecodeStats:
    packets: int = 0
    decoded: int = 0
    warnings: list[str] = field(default_factory=list)


def open_media(path: Path) -> av.container.InputContainer:
    """Open a media file for reading with PyAV; failures become a :class:`MediaError` in words."""
    return _open(path)


# Options for opening a file only to read what it holds (streams, duration, metadata): FFmpeg's
# stream probe then decodes no picture (1080p H.264: ~2 ms per file instead of ~10; issue 21,
# many short clips). A file whose streams it cannot describe so is opened again without them.
PROBE_OPTIONS = {"threads": "1", "skip_frame": "all"}


def _open(path: Path, probe: bool = False) -> av.container.InputContainer:
    try:
        if path.stat().st_size == 0:
            raise MediaError("empty file (0 bytes)")
        return av.open(str(path), mode="r", metadata_errors="ignore", options=PROBE_OPTIONS if probe else {})
    except MediaError:
        raise
    except av.error.InvalidDataError as e:
        raise MediaError("not a readable media file (corrupt, truncated or an unknown format)") from e
    except PermissionError as e:
        raise MediaError("permission denied") from e
    except FileNotFoundError as e:
        raise MediaError("file not found") from e
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot open: {e.strerror or e}") from e
    except OSError as e:
        raise MediaError(f"cannot read: {e.strerror or e}") from e


def probe_video(path: Path) -> VideoInfo:
    info = _probe_video(path, probe=True)
    if info.has_video and (info.width <= 0 or info.height <= 0 or not info.codec):
        info = _probe_video(path, probe=False)  # the quick probe could not describe the stream
    return info


def _probe_video(path: Path, probe: bool) -> VideoInfo:
    with _open(path, probe) as c:
        vs = c.streams.video[0] if c.streams.video else None
        has_audio = any(s.type == "audio" for s in c.streams)
        ct = c.metadata.get("creation_time") or ""
        if vs is not None and not ct:
            ct = vs.metadata.get("creation_time", "")
        created = parse_creation_time(ct) if ct else None
        duration = float(c.duration / av.time_base) if c.duration else 0.0
        if vs is None:
            return VideoInfo(duration, 0, 0, "", 0.0, has_audio, created, has_video=False)
        if vs.duration and vs.time_base:
            duration = max(duration, float(vs.duration * vs.time_base))
        ctx = vs.codec_context
        if ctx is None:
            raise MediaError("unsupported video codec: this build of FFmpeg has no decoder for it")
        try:
            codec = ctx.name
        except Exception:  # pragma: no cover - codec without a decoder
            codec = "unknown"
        rate = vs.average_rate or vs.guessed_rate
        fps = float(rate) if rate else 0.0
        return VideoInfo(duration, ctx.width or 0, ctx.height or 0, codec, fps, has_audio, created)


def _work_size(width: int, height: int, target: int = WORK_WIDTH) -> tuple[int, int]:
    if width <= 0 or height <= 0:
        return target, target * 3 // 4
    w = min(target, width)
    h = max(2, round(height * w / width / 2) * 2)
    return w, h


def frame_to_rgb(frame: av.VideoFrame) -> NDArray[Any]:
    w, h = _work_size(frame.width, frame.height)
    arr = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
    return np.ascontiguousarray(arr)


def _decode_now(ctx: av.VideoCodecContext, packets: list[Any]) -> list[av.VideoFrame]:
    """Decode ``packets`` (starting at a keyframe) and drain the decoder so no frame is held back
    for reordering; the decoder is then reset for the next, independent keyframe."""
    frames: list[av.VideoFrame] = []
    for pkt in packets:
        frames.extend(ctx.decode(pkt))
    frames.extend(ctx.decode(None))
    ctx.flush_buffers()
    return frames


def sample_video(
    path: Path,
    *,
    min_interval: float = 2.0,
    max_interval: float = 10.0,
    stats: DecodeStats | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Iterator[SampledFrame]:
    """Yield small RGB frames, in time order, at keyframes, at most one per ``min_interval`` s.

    Packets of the current group of pictures (GOP) are buffered, still compressed; only when a
    GOP turns out longer than ``max_interval`` is it decoded in full to take frames inside it.
    """
    st = stats if stats is not None else DecodeStats()
    with _open(path) as c:
        vs = c.streams.video[0] if c.streams.video else None
        if vs is None:
            return
        ctx = vs.codec_context
        try:
            ctx.thread_type = "SLICE"  # no frame-threading delay: each keyframe comes out at once
            ctx.thread_count = 2
        except Exception:  # pragma: no cover
            pass
        tb = vs.time_base or Fraction(1, 90000)
        start_pts = vs.start_time or 0
        last_t = -math.inf
        emitted = 0
        errors = 0
        gop: list[Any] = []
        gop_t0 = 0.0

        def secs(pts: int | None, default: float) -> float:
            return float((pts - start_pts) * tb) if pts is not None else default

        def fill(t_end: float) -> Iterator[SampledFrame]:
            # Frames strictly inside a long GOP, one per max_interval at most.
            nonlocal last_t, emitted, errors
            if len(gop) < 2 or t_end - gop_t0 <= max_interval:
                return
            n = int((t_end - gop_t0) // max_interval)
            step = (t_end - gop_t0) / (n + 1)
            targets = [gop_t0 + step * (i + 1) for i in range(n)]
            try:
                frames = _decode_now(ctx, gop)
            except av.error.FFmpegError:
                errors += 1
                return
            st.decoded += len(frames)
            frames.sort(key=lambda f: f.pts if f.pts is not None else 0)
            for target in targets:
                best = min(frames, key=lambda f: abs(secs(f.pts, gop_t0) - target), default=None)
                if best is None:
                    continue
                ft = secs(best.pts, target)
                if ft - last_t >= min_interval:
                    last_t = ft
                    emitted += 1
                    yield SampledFrame(max(ft, 0.0), frame_to_rgb(best))

        try:
            for packet in c.demux(vs):
                if should_stop is not None and should_stop():
                    raise InterruptedError
                if packet.size == 0 or packet.pts is None:
                    continue
                st.packets += 1
                t = secs(packet.pts, 0.0)
                if not packet.is_keyframe:
                    if gop:
                        gop.append(packet)
                    continue
                yield from fill(t)
                gop = [packet]
                gop_t0 = t
                if t - last_t < min_interval:
                    continue
                try:
                    frames = _decode_now(ctx, [packet])
                except av.error.FFmpegError:
                    errors += 1
                    if errors > 20 and emitted == 0:
                        raise
                    continue
                st.decoded += len(frames)
                for fr in frames[:1]:
                    ft = secs(fr.pts, t)
                    last_t = ft
                    emitted += 1
                    yield SampledFrame(max(ft, 0.0), frame_to_rgb(fr))
            duration = secs(vs.duration, 0.0) + secs(start_pts, 0.0) if vs.duration else 0.0
            end = max(duration, float(c.duration / av.time_base) if c.duration else 0.0)
            yield from fill(end if end > gop_t0 else gop_t0 + len(gop) / float(vs.average_rate or 25))
        except av.error.FFmpegError as e:
            if emitted == 0:
                raise MediaError(f"video stream cannot be decoded ({e.strerror or e})") from e
            st.warnings.append(f"decoding stopped at {last_t:.1f} s: the rest of the file is damaged")
            return
        if errors:
            st.warnings.append(f"{errors} damaged keyframe(s) skipped")
        if emitted == 0 and st.packets:
            raise MediaError("no decodable video frames (corrupt, truncated or an unsupported codec)")


# ----------------------------------------------------------------------- photos
@dataclass
class Photo:
    rgb: NDArray[Any]  # work-size RGB
    width: int
    height: int
    taken: datetime | None


def load_photo(path: Path) -> Photo:
    try:
        if path.stat().st_size == 0:
            raise MediaError("empty file (0 bytes)")
        with Image.open(path) as im:
            im.load()
            taken = _exif_time(im)
            im2 = ImageOps.exif_transpose(im)
            width, height = im2.size
            rgb = _pil_to_rgb(im2)
    except MediaError:
        raise
    except Image.DecompressionBombError as e:
        raise MediaError(_too_large(e)) from e
    except UnidentifiedImageError as e:
        raise MediaError("not a readable image (corrupt or an unsupported format)") from e
    except PermissionError as e:
        raise MediaError("permission denied") from e
    except (OSError, SyntaxError, ValueError) as e:
        raise MediaError(f"image is damaged or truncated ({e})") from e
    w, h = _work_size(width, height)
    small = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
    return Photo(np.ascontiguousarray(small), width, height, taken)


def _too_large(e: Image.DecompressionBombError) -> str:
    """Pillow refuses images of more than twice ``Image.MAX_IMAGE_PIXELS`` (a decompression bomb:
    a small file that would take gigabytes once decoded); say so in words."""
    limit = f"{2 * (Image.MAX_IMAGE_PIXELS or 0) / 1e6:.0f}"
    found = re.search(r"\((\d+) pixels\)", str(e))
    if found is None:
        return f"image too large: more than the limit of {limit} megapixels"
    return f"image too large: {int(found.group(1)) / 1e6:.0f} megapixels, more than the limit of {limit}"


def _pil_to_rgb(im: Image.Image) -> NDArray[Any]:
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scaled = ((arr - lo) / (hi - lo) * 255.0) if hi > lo else np.zeros_like(arr)
        g = scaled.astype(np.uint8)
        return np.stack([g, g, g], axis=-1)
    if im.mode != "RGB":
        if im.mode in ("RGBA", "LA", "P", "PA"):
            bg = Image.new("RGB", im.size, (255, 255, 255))
            rgba = im.convert("RGBA")
            bg.paste(rgba, mask=rgba.getchannel("A"))
            im = bg
        else:
            im = im.convert("RGB")
    return np.asarray(im, dtype=np.uint8)


def _exif_time(im: Image.Image) -> datetime | None:
    try:
        exif = im.getexif()
        sub = exif.get_ifd(0x8769)  # Exif IFD
    except Exception:
        return None
    value = sub.get(0x9003) or exif.get(0x0132)  # DateTimeOriginal, DateTime
    offset = sub.get(0x9011) or sub.get(0x9010)  # OffsetTimeOriginal, OffsetTime
    if not isinstance(value, str):
        return None
    return parse_exif_time(value, offset if isinstance(offset, str) else None)


# ------------------------------------------------------------------------ audio
@dataclass
class AudioInfo:
    duration_s: float
    creation_time: datetime | None
    sample_rate: int
    channels: int


def probe_audio(path: Path) -> AudioInfo:
    with _open(path) as c:
        a = c.streams.audio[0] if c.streams.audio else None
        if a is None:
            raise MediaError("no audio stream")
        duration = float(c.duration / av.time_base) if c.duration else 0.0
        if duration <= 0 and a.duration and a.time_base:
            duration = float(a.duration * a.time_base)
        if duration <= 0:
            # Some formats carry no duration: count it by decoding.
            samples = 0
            try:
                for fr in c.decode(a):
                    samples += getattr(fr, "samples", 0)
            except av.error.FFmpegError as e:
                raise MediaError(f"audio stream cannot be decoded ({e.strerror or e})") from e
            duration = samples / float(a.rate or 1)
        ct = c.metadata.get("creation_time") or ""
        return AudioInfo(
            duration,
            parse_creation_time(ct) if ct else None,
            int(a.rate or 0),
            int(a.channels or 0),
        )


def end_of(start: datetime, seconds: float) -> datetime:
    return start + timedelta(seconds=max(seconds, 0.0))


def capture_time(path: Path, kind_from: str | None = None) -> datetime | None:
    """When ``path`` was recorded, read as the importer reads it (:mod:`lifelog.ingest.pipeline`):
    a video's or audio file's ``creation_time`` (else its mtime minus its duration), a photo's EXIF
    time (else its mtime) — without decoding any frame. None when it is not media or unreadable.
    ``kind_from``: the name whose extension says the kind (a received ``.part`` file's own name)."""
    from lifelog.ingest.media import kind_of, mtime_of

    kind = kind_of(Path(kind_from) if kind_from else path)
    try:
        if kind == "video" or kind == "audio":
            try:
                if kind == "video":
                    vi = probe_video(path)
                    created, duration = vi.creation_time, vi.duration_s
                else:
                    ai = probe_audio(path)
                    created, duration = ai.creation_time, ai.duration_s
            except MediaError:
                return None
            return created if created is not None else mtime_of(path) - timedelta(seconds=duration)
        if kind == "photo":
            try:
                with Image.open(path) as im:
                    taken = _exif_time(im)
            except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
                taken = None
            return taken if taken is not None else mtime_of(path)
    except OSError:
        return None
    return None

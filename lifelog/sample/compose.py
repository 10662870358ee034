"""Composed days of head-worn-camera footage, with a ground truth of what was seen when.

There is no real egocentric footage among the media we may fetch, so a day is *composed*
from real photos and clips (see ``lifelog.sample.fetch``), the way a head-worn camera would
have recorded them:

* a photo becomes a short clip with a slow pan or zoom over it (Ken Burns), a slight
  hand-held shake (a smooth random walk of position and roll), a little sensor noise on the
  luma plane and a slow brightness (exposure) drift;
* a real video (``vtest.avi``, ``bikes.mp4``) is cropped to 16:9, re-timed to the output
  frame rate and gets the same shake, noise and drift;
* real speech (LibriVox sentences) can be muxed in as AAC audio, with its transcript kept
  in the ground truth;
* some photos are written as JPEGs with EXIF ``DateTimeOriginal`` + ``OffsetTimeOriginal``,
  as a camera that takes a still every now and then would.

Clips are H.264 (libx264, yuv420p) MP4 files, 640x360 at 15 fps by default with a fixed GOP
(``gop_seconds``; no extra keyframes at scene cuts, as body cameras do), and carry the MP4
``creation_time`` (UTC, ISO 8601 with ``Z``) of their first frame. Scenes that share a
``clip`` in the recipe are cut back to back in one file, so that scene-change cutting is
exercised within a file.

The recipe is declarative: ``assets/sample_days.json`` (see ``docs/data.md``). Output is
deterministic (seeded per scene) and idempotent: a file whose recipe hash is unchanged is
not encoded again (hashes live in ``<out_dir>/.compose-state.json``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import wave
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from fractions import Fraction
from pathlib import Path
from queue import Queue
from typing import Any, ClassVar, Literal
from zoneinfo import ZoneInfo

import av
import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from lifelog.paths import REPO_ROOT
from lifelog.sample.fetch import SampleMedia, SampleMediaUnavailable, sample_media

log = logging.getLogger(__name__)

#: Bump when a change to the renderer changes the output, so cached files are rebuilt.
COMPOSER_VERSION = 1
RECIPE_PATH = REPO_ROOT / "assets" / "sample_days.json"
GROUND_TRUTH_FILE = "ground_truth.json"
STATE_FILE = ".compose-state.json"

Kind = Literal["video", "photo"]
EFFECTS = ("pan", "pan_left", "pan_right", "zoom_in", "zoom_out", "static", "video")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm")

RGB = npt.NDArray[np.uint8]
_NoisePlane = tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]  # (positive part, negative part)


# --------------------------------------------------------------------------------------------
# ground truth


@dataclass(frozen=True)
class Scene:
    """What the wearer saw from ``start`` to ``end`` (equal for a photo), and where it is."""

    day: str  # local date, YYYY-MM-DD
    start: datetime  # tz-aware (the day's local zone)
    end: datetime
    source: str  # sample media name, e.g. "chelsea.png"
    file: str  # output file relative to the compose dir, e.g. "2024-05-14/VID_20240514_084000.mp4"
    tags: tuple[str, ...]  # what is visible, in plain words ("cat", "pet", "home")
    people: tuple[str, ...] = ()  # known people whose face is visible
    kind: Kind = "video"
    id: str = ""  # unique within the ground truth, e.g. "2024-05-14/cat-morning"
    offset: float = 0.0  # seconds into ``file`` where the scene begins (>0 after a hard cut)
    text: tuple[str, ...] = ()  # words legible in the scene (signs), for OCR checks
    speech: str = ""  # transcript of real speech audible in the scene
    description: str = ""  # one sentence a person would say about the scene

    @property
    def duration(self) -> float:
        return (self.end - self.start).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "day": self.day,
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "file": self.file,
            "offset": self.offset,
            "source": self.source,
            "tags": list(self.tags),
            "people": list(self.people),
            "text": list(self.text),
            "speech": self.speech,
            "description": self.description,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Scene:
        kind = d.get("kind", "video")
        if kind not in ("video", "photo"):
            raise ValueError(f"scene kind must be video or photo, not {kind!r}")
        return cls(
            day=str(d["day"]),
            start=_aware(datetime.fromisoformat(d["start"])),
            end=_aware(datetime.fromisoformat(d["end"])),
            source=str(d["source"]),
            file=str(d["file"]),
            tags=tuple(d.get("tags", ())),
            people=tuple(d.get("people", ())),
            kind=kind,
            id=str(d.get("id", "")),
            offset=float(d.get("offset", 0.0)),
            text=tuple(d.get("text", ())),
            speech=str(d.get("speech", "")),
            description=str(d.get("description", "")),
        )


def _aware(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError(f"naive datetime in ground truth: {dt.isoformat()}")
    return dt


@dataclass(frozen=True)
class GroundTruth:
    """The composed days: every scene with its time span, file and what is in it."""

    days: tuple[str, ...]
    scenes: tuple[Scene, ...]
    skipped: tuple[str, ...] = ()  # "<scene id>: <reason>" for scenes whose media was missing

    def to_json(self) -> dict[str, Any]:
        files: dict[str, dict[str, Any]] = {}
        for s in self.scenes:
            f = files.setdefault(s.file, {"file": s.file, "kind": s.kind, "start": s.start, "end": s.end, "scenes": []})
            f["start"] = min(f["start"], s.start)
            f["end"] = max(f["end"], s.end)
            f["scenes"].append(s.id)
        return {
            "version": 1,
            "composer": COMPOSER_VERSION,
            "days": list(self.days),
            "files": [
                {
                    **f,
                    "start": f["start"].isoformat(),
                    "end": f["end"].isoformat(),
                    "creation_time": _utc_z(f["start"]),
                }
                for f in sorted(files.values(), key=lambda f: (f["start"], f["file"]))
            ],
            "scenes": [s.to_json() for s in self.scenes],
            "skipped": list(self.skipped),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> GroundTruth:
        return cls(
            days=tuple(d.get("days", ())),
            scenes=tuple(Scene.from_json(s) for s in d.get("scenes", ())),
            skipped=tuple(d.get("skipped", ())),
        )

    @classmethod
    def load(cls, path: Path) -> GroundTruth:
        """Read ``ground_truth.json`` (or a compose dir containing it)."""
        p = path / GROUND_TRUTH_FILE if path.is_dir() else path
        return cls.from_json(json.loads(p.read_text()))

    def scenes_with(self, tag: str) -> list[Scene]:
        """Scenes whose tags (or people) include ``tag`` (case-insensitive), in time order."""
        t = tag.strip().lower()
        return sorted(
            (s for s in self.scenes if t in {x.lower() for x in (*s.tags, *s.people)}),
            key=lambda s: s.start,
        )

    def last_seen(self, tag: str, now: datetime | None = None) -> Scene | None:
        """The latest scene with ``tag`` that started before ``now`` (any time if None)."""
        hits = [s for s in self.scenes_with(tag) if now is None or s.start <= now]
        return hits[-1] if hits else None

    def on_day(self, day: str) -> list[Scene]:
        return sorted((s for s in self.scenes if s.day == day), key=lambda s: s.start)

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(s.file for s in sorted(self.scenes, key=lambda s: s.start)))


def _utc_z(dt: datetime) -> str:
    """MP4 ``creation_time`` style: UTC, microseconds, trailing Z."""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# --------------------------------------------------------------------------------------------
# recipe


def load_recipe(recipe: Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    if recipe is None:
        recipe = RECIPE_PATH
    if isinstance(recipe, Path):
        data: dict[str, Any] = json.loads(recipe.read_text())
        return data
    return dict(recipe)


def parse_timezone(name: str) -> tzinfo:
    """An IANA zone name ("Europe/London") or a fixed offset ("+02:00", "-0530", "Z", "UTC")."""
    if name in ("Z", "UTC", "utc"):
        return UTC
    m = re.fullmatch(r"([+-])(\d{2}):?(\d{2})", name)
    if m:
        sign = 1 if m.group(1) == "+" else -1
        return timezone(sign * timedelta(hours=int(m.group(2)), minutes=int(m.group(3))))
    return ZoneInfo(name)


@dataclass
class _PlannedScene:
    scene: Scene
    spec: dict[str, Any]
    seconds: float


@dataclass
class _PlannedFile:
    rel: str
    kind: Kind
    start: datetime
    scenes: list[_PlannedScene] = field(default_factory=list)
    audio: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(p.seconds for p in self.scenes)


def _plan_day(day: Mapping[str, Any]) -> tuple[str, list[_PlannedFile]]:
    """Turn one recipe day into files with their scenes (no media needed)."""
    date_s = str(day["date"])
    d = date.fromisoformat(date_s)
    tz = parse_timezone(str(day.get("timezone", "UTC")))
    files: dict[str, _PlannedFile] = {}
    clip_of: dict[str, str] = {}
    seen_ids: set[str] = set()
    for i, spec in enumerate(day["scenes"]):
        sid = f"{date_s}/{spec.get('id', i)}"
        if sid in seen_ids:
            raise ValueError(f"duplicate scene id {sid}")
        seen_ids.add(sid)
        kind: Kind = "photo" if spec.get("kind") == "photo" else "video"
        start = datetime.combine(d, time.fromisoformat(str(spec["start"])), tzinfo=tz)
        seconds = 0.0 if kind == "photo" else float(spec["duration"])
        if kind == "video" and seconds <= 0:
            raise ValueError(f"{sid}: a video scene needs a positive duration")
        effect = str(spec.get("effect", "video" if _is_video(spec["source"]) else "pan"))
        if effect not in EFFECTS:
            raise ValueError(f"{sid}: unknown effect {effect!r} (one of {', '.join(EFFECTS)})")
        clip = spec.get("clip")
        if kind == "video" and clip and clip in clip_of:
            pf = files[clip_of[clip]]
            expected = pf.start + timedelta(seconds=pf.seconds)
            if start != expected:
                raise ValueError(
                    f"{sid}: scenes in clip {clip!r} must follow each other without a gap: "
                    f"starts {start.time()} but the previous scene ends {expected.time()}"
                )
        else:
            stamp = start.strftime("%Y%m%d_%H%M%S")
            prefix, ext = ("IMG", "jpg") if kind == "photo" else ("VID", "mp4")
            rel = f"{date_s}/{prefix}_{stamp}.{ext}"
            if rel in files:
                raise ValueError(f"{sid}: two files start at the same second ({rel})")
            pf = files[rel] = _PlannedFile(rel=rel, kind=kind, start=start)
            if kind == "video" and clip:
                clip_of[str(clip)] = rel
        offset = float(pf.seconds)
        scene = Scene(
            day=date_s,
            start=start,
            end=start + timedelta(seconds=seconds),
            source=str(spec["source"]),
            file=pf.rel,
            tags=tuple(spec.get("tags", ())),
            people=tuple(spec.get("people", ())),
            kind=kind,
            id=sid,
            offset=offset,
            text=tuple(spec.get("text", ())),
            speech="",
            description=str(spec.get("description", "")),
        )
        pf.scenes.append(_PlannedScene(scene=scene, spec={**spec, "effect": effect}, seconds=seconds))
        pf.audio.extend(str(a) for a in spec.get("audio", ()))
    return date_s, sorted(files.values(), key=lambda f: f.start)


def _is_video(source: str) -> bool:
    return source.lower().endswith(VIDEO_SUFFIXES)


def _transcripts(media: SampleMedia) -> dict[str, str]:
    """wav name -> transcript, from the LibriVox/cards transcription files when present."""
    out: dict[str, str] = {}
    if media.has("librivox.transcription"):
        for line in media.path("librivox.transcription").read_text().splitlines():
            m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
            if m:
                out[m.group(2) + ".wav"] = m.group(1)
    if media.has("cards.transcription"):
        for i, line in enumerate(media.path("cards.transcription").read_text().splitlines(), start=1):
            text = re.sub(r"\(.*\)$", "", line).strip()
            if text:
                out[f"cards_{i:03d}.wav"] = text
    return out


# --------------------------------------------------------------------------------------------
# rendering


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def _load_rgb(source: Path | RGB | Image.Image, roi: Sequence[float] | None = None) -> RGB:
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim == 2:
            arr = np.repeat(arr[:, :, None], 3, axis=2)
    else:
        im = source if isinstance(source, Image.Image) else Image.open(source)
        arr = np.asarray(im.convert("RGB"))
    if roi is not None:
        h, w = arr.shape[:2]
        x0, y0, x1, y1 = roi
        top, left = int(y0 * h), int(x0 * w)
        arr = arr[top : max(int(y1 * h), top + 2), left : max(int(x1 * w), left + 2)]
    return np.ascontiguousarray(arr, dtype=np.uint8)


class _Motion:
    """Camera path for one scene: window centre/zoom over the source, shake, exposure drift."""

    def __init__(
        self,
        effect: str,
        seconds: float,
        rng: np.random.Generator,
        shake: float = 1.0,
        drift: float = 1.0,
        focus: Sequence[float] | None = None,
    ) -> None:
        self.effect = effect
        self.seconds = max(seconds, 1e-6)
        self.shake = shake
        direction = rng.choice([-1.0, 1.0])
        if effect == "pan_left":
            direction = -1.0
        elif effect == "pan_right":
            direction = 1.0
        self.direction = float(direction)
        self.z0, self.z1 = {
            "pan": (1.10, 1.22),
            "pan_left": (1.10, 1.22),
            "pan_right": (1.10, 1.22),
            "zoom_in": (1.06, 1.45),
            "zoom_out": (1.45, 1.06),
            "static": (1.12, 1.14),
            "video": (1.06, 1.08),
        }[effect]
        self.vertical = float(rng.uniform(-0.35, 0.35))
        fx, fy = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.35, 0.6))
        # where a zoom ends (zoom_in) or starts (zoom_out), as fractions of the pan slack
        self.focus = (float(focus[0]), float(focus[1])) if focus is not None else (fx, fy)
        # shake: a few incommensurate sinusoids per axis (a smooth, deterministic random walk)
        self.freqs = rng.uniform(0.25, 2.2, size=(3, 4))
        self.phases = rng.uniform(0, 2 * math.pi, size=(3, 4))
        self.amps = rng.uniform(0.4, 1.0, size=(3, 4)) / 2.4
        self.exposure = float(rng.uniform(0.93, 1.05))
        self.drift = 0.05 * drift
        self.drift_period = float(rng.uniform(6.0, 14.0))
        self.drift_phase = float(rng.uniform(0, 2 * math.pi))

    def _ease(self, u: float) -> float:
        return 0.5 - 0.5 * math.cos(math.pi * min(max(u, 0.0), 1.0))

    def at(self, t: float) -> tuple[float, float, float, float, float, float]:
        """(zoom, u_x, u_y, shake_dx, shake_dy, roll) at time t; u_* in [0, 1] over the slack."""
        u = self._ease(t / self.seconds)
        z = self.z0 + (self.z1 - self.z0) * u
        if self.effect.startswith("pan"):
            ux = 0.5 + 0.5 * self.direction * (2 * u - 1)
            uy = 0.5 + 0.5 * self.vertical * (2 * u - 1)
        elif self.effect in ("zoom_in", "zoom_out"):
            ux = 0.5 + (self.focus[0] - 0.5) * (u if self.effect == "zoom_in" else 1 - u)
            uy = 0.5 + (self.focus[1] - 0.5) * (u if self.effect == "zoom_in" else 1 - u)
        else:
            ux = 0.5 + 0.1 * self.direction * (2 * u - 1)
            uy = 0.5
        s = np.sin(2 * math.pi * self.freqs * t + self.phases) * self.amps
        dx, dy, roll = (float(v) for v in s.sum(axis=1))
        return z, ux, uy, dx * self.shake, dy * self.shake, roll * self.shake

    def gain(self, t: float) -> float:
        wave_ = math.sin(2 * math.pi * t / self.drift_period + self.drift_phase)
        return self.exposure * (1.0 + self.drift * wave_)


@dataclass(frozen=True)
class _Planes:
    """An image as I420 planes (even size): the renderer warps these, never RGB."""

    y: npt.NDArray[np.uint8]
    u: npt.NDArray[np.uint8]
    v: npt.NDArray[np.uint8]

    @classmethod
    def from_i420(cls, yuv: npt.NDArray[np.uint8], h: int, w: int) -> _Planes:
        flat = yuv.reshape(-1)  # a view: the buffer is contiguous (h * 3 / 2, w)
        n, q = h * w, h * w // 4
        return cls(
            y=flat[:n].reshape(h, w),
            u=flat[n : n + q].reshape(h // 2, w // 2),
            v=flat[n + q : n + 2 * q].reshape(h // 2, w // 2),
        )

    @classmethod
    def from_rgb(cls, rgb: RGB) -> _Planes:
        h, w = rgb.shape[0] // 2 * 2, rgb.shape[1] // 2 * 2
        rgb = np.ascontiguousarray(rgb[:h, :w])
        # OpenCV's I420 conversion is BT.601 limited range, which decoders assume by default.
        return cls.from_i420(np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), dtype=np.uint8), h, w)


def _warp(src: _Planes, size: tuple[int, int], motion: _Motion, t: float) -> npt.NDArray[np.uint8]:
    """Render the output frame at time t (I420): a rotated, scaled window into ``src``."""
    out_w, out_h = size
    sh, sw = src.y.shape[:2]
    z, ux, uy, dx, dy, roll = motion.at(t)
    aspect = out_w / out_h
    w0 = min(sw, sh * aspect)
    win_w = w0 / z
    win_h = win_w / aspect
    cx = win_w / 2 + ux * (sw - win_w)
    cy = win_h / 2 + uy * (sh - win_h)
    scale = win_w / out_w  # source pixels per output pixel
    cx += dx * 0.008 * out_w * scale
    cy += dy * 0.008 * out_w * scale
    theta = math.radians(0.5 * roll)
    c, s = math.cos(theta) * scale, math.sin(theta) * scale
    a = np.array([[c, -s], [s, c]], dtype=np.float64)
    b = np.array([cx - c * out_w / 2 + s * out_h / 2, cy - s * out_w / 2 - c * out_h / 2])
    # Chroma: output chroma pixel p maps to luma 2p + 0.5; source luma x to chroma (x - 0.5) / 2.
    bc = (a @ np.array([0.5, 0.5]) + b - 0.5) / 2
    out = np.empty((out_h * 3 // 2, out_w), dtype=np.uint8)
    dst = _Planes.from_i420(out, out_h, out_w)
    _affine(src.y, a, b, (out_w, out_h), dst.y)
    _affine(src.u, a, bc, (out_w // 2, out_h // 2), dst.u)
    _affine(src.v, a, bc, (out_w // 2, out_h // 2), dst.v)
    return out


def _affine(
    src: npt.NDArray[np.uint8],
    a: npt.NDArray[np.float64],
    b: npt.NDArray[np.float64],
    size: tuple[int, int],
    dst: npt.NDArray[np.uint8],
) -> None:
    """dst(p) = src(a @ p + b), bilinear.

    When upscaling, warp at source resolution first and then resize: ``cv2.resize`` is ~15x
    faster per output pixel than ``cv2.warpAffine``, which matters for 1080p.
    """
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    border = cv2.BORDER_REFLECT101
    out_w, out_h = size
    step = math.hypot(a[0, 0], a[1, 0])  # source pixels per output pixel
    if step >= 0.9:
        cv2.warpAffine(src, np.hstack([a, b[:, None]]), size, dst=dst, flags=flags, borderMode=border)
        return
    iw, ih = max(2, math.ceil(out_w * step)), max(2, math.ceil(out_h * step))
    rx, ry = out_w / iw, out_h / ih
    # intermediate pixel q is output pixel (q + 0.5) * r - 0.5 (cv2.resize's pixel-centre mapping)
    ai = a @ np.diag([rx, ry])
    bi = a @ np.array([0.5 * rx - 0.5, 0.5 * ry - 0.5]) + b
    tmp = cv2.warpAffine(src, np.hstack([ai, bi[:, None]]), (iw, ih), flags=flags, borderMode=border)
    cv2.resize(tmp, size, dst=dst, interpolation=cv2.INTER_LINEAR)


def _prescale(src: RGB, size: tuple[int, int], min_zoom: float) -> RGB:
    """Downscale a source much larger than needed (area filter), so warping does not alias."""
    out_w, out_h = size
    sh, sw = src.shape[:2]
    w0 = min(sw, sh * out_w / out_h) / min_zoom
    scale = w0 / out_w
    if scale <= 1.3:
        return src
    f = 1.15 / scale
    return np.asarray(
        cv2.resize(src, (max(2, round(sw * f)), max(2, round(sh * f))), interpolation=cv2.INTER_AREA),
        dtype=np.uint8,
    )


class _VideoReader:
    """Frames of a real video as a function of time (monotonic), looping at the end."""

    def __init__(self, path: Path, start: float = 0.0) -> None:
        self.path = path
        self.start = start
        self._it: Iterator[tuple[float, av.VideoFrame]] = iter(())
        self._cur: tuple[float, av.VideoFrame] | None = None
        self._next: tuple[float, av.VideoFrame] | None = None
        self._serial = 0  # bumped for every new current frame
        self._planes: tuple[int, _Planes] | None = None  # (serial of the frame, its planes)
        self._base = 0.0  # timeline offset added after each loop
        self._step = 0.04  # source frame interval, set on open
        self._open()

    def _frames(self) -> Iterator[tuple[float, av.VideoFrame]]:
        with av.open(str(self.path)) as c:
            stream = c.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or 25)
            self._step = 1.0 / rate
            first: float | None = None
            for i, frame in enumerate(c.decode(stream)):
                ts = frame.time if frame.time is not None else i / rate
                if ts < self.start - 1e-6:
                    continue
                if first is None:
                    first = ts
                yield ts - first, frame

    def _open(self) -> None:
        self._it = self._frames()
        self._next = next(self._it, None)
        if self._next is None:
            raise ValueError(f"{self.path.name}: no video frames after {self.start:.1f} s")

    def at(self, t: float, roi: Sequence[float] | None = None) -> _Planes:
        if self._cur is None:
            self._cur = self._next
        while self._next is not None and self._base + self._next[0] <= t + 1e-6:
            self._cur = self._next
            self._serial += 1
            self._next = next(self._it, None)
            if self._next is None:  # loop: the source is shorter than the scene
                assert self._cur is not None
                self._base += self._cur[0] + self._step
                self._open()
        assert self._cur is not None
        frame = self._cur[1]
        if self._planes is None or self._planes[0] != self._serial:
            w, h = frame.width, frame.height
            if roi is None and w % 2 == 0 and h % 2 == 0:
                yuv = np.asarray(frame.to_ndarray(format="yuv420p"), dtype=np.uint8)
                planes = _Planes.from_i420(yuv, h, w)
            else:
                planes = _Planes.from_rgb(_load_rgb(np.asarray(frame.to_ndarray(format="rgb24")), roi))
            self._planes = (self._serial, planes)
        return self._planes[1]


class _Noise:
    """A few precomputed luma noise planes (split into +/- parts for saturating adds)."""

    _cache: ClassVar[dict[tuple[int, int, float], list[_NoisePlane]]] = {}
    _lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def planes(cls, w: int, h: int, sigma: float) -> list[_NoisePlane]:
        key = (w, h, round(sigma, 2))
        with cls._lock:
            if key not in cls._cache:
                rng = np.random.default_rng(_seed("noise", w, h, sigma))
                planes = []
                for _ in range(5):
                    n = rng.normal(0.0, sigma, size=(h, w)).round().clip(-127, 127).astype(np.int16)
                    planes.append((n.clip(0, None).astype(np.uint8), (-n).clip(0, None).astype(np.uint8)))
                if len(cls._cache) > 4:
                    cls._cache.clear()
                cls._cache[key] = planes
            return cls._cache[key]


def _grade(yuv: npt.NDArray[np.uint8], h: int, gain: float, noise: _NoisePlane | None) -> None:
    """Exposure drift and sensor noise, on the luma plane in place."""
    y = yuv[:h]
    if abs(gain - 1.0) > 1e-3:
        cv2.convertScaleAbs(y, dst=y, alpha=gain)
    if noise is not None:
        cv2.add(y, noise[0], dst=y)
        cv2.subtract(y, noise[1], dst=y)


@dataclass
class _Segment:
    """One scene inside a clip: a still (with motion) or a real video."""

    source: Path | RGB | Image.Image
    seconds: float
    effect: str
    seed: int
    roi: Sequence[float] | None = None
    source_start: float = 0.0
    shake: float = 1.0
    noise: float = 2.0
    drift: float = 1.0
    focus: Sequence[float] | None = None


class _ClipWriter:
    """H.264 (+ optional AAC) MP4 writer with creation_time, fixed GOP, atomic rename."""

    def __init__(
        self,
        path: Path,
        start: datetime,
        fps: int,
        size: tuple[int, int],
        gop_seconds: float,
        preset: str = "veryfast",
        crf: int = 23,
        audio: npt.NDArray[np.float32] | None = None,
        audio_rate: int = 16000,
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("clip start must be timezone-aware")
        w, h = size
        if w % 2 or h % 2:
            raise ValueError(f"frame size must be even, got {w}x{h}")
        self.path = path
        self.tmp = path.with_name(path.name + ".part")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.fps = fps
        self.size = size
        self.container = av.open(str(self.tmp), "w", format="mp4")
        self.container.metadata["creation_time"] = _utc_z(start)
        gop = max(1, round(gop_seconds * fps))
        self.video = self.container.add_stream(
            "libx264",
            rate=fps,
            options={
                "preset": preset,
                "crf": str(crf),
                "x264-params": f"keyint={gop}:min-keyint={gop}:scenecut=0",
            },
        )
        self.video.width = w
        self.video.height = h
        self.video.pix_fmt = "yuv420p"
        self.video.codec_context.time_base = Fraction(1, fps)
        self.video.codec_context.thread_count = 0
        self.audio_data = audio
        self.audio_rate = audio_rate
        self.audio_pos = 0
        self.audio_stream: Any = None
        if audio is not None:
            self.audio_stream = self.container.add_stream("aac", rate=audio_rate, layout="mono")
            self.audio_stream.bit_rate = 48000
        self.frames = 0

    def write(self, yuv: RGB) -> None:
        frame = av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        frame.pts = self.frames
        frame.time_base = Fraction(1, self.fps)
        for packet in self.video.encode(frame):
            self.container.mux(packet)
        self.frames += 1
        self._write_audio(self.frames / self.fps)

    def _write_audio(self, until: float, final: bool = False) -> None:
        if self.audio_data is None:
            return
        end = min(len(self.audio_data), round(until * self.audio_rate))
        while self.audio_pos + 1024 <= end or (final and self.audio_pos < end):
            chunk = self.audio_data[self.audio_pos : min(self.audio_pos + 1024, end)]
            samples = np.ascontiguousarray(chunk[None, :])
            af = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
            af.sample_rate = self.audio_rate
            af.pts = self.audio_pos
            af.time_base = Fraction(1, self.audio_rate)
            for packet in self.audio_stream.encode(af):
                self.container.mux(packet)
            self.audio_pos += len(chunk)

    def close(self) -> Path:
        for packet in self.video.encode():
            self.container.mux(packet)
        if self.audio_stream is not None:
            self._write_audio(self.frames / self.fps, final=True)
            for packet in self.audio_stream.encode():
                self.container.mux(packet)
        self.container.close()
        self.tmp.replace(self.path)
        return self.path

    def abort(self) -> None:
        try:
            self.container.close()
        except Exception:  # the original error matters, not this one
            log.debug("closing an aborted clip failed", exc_info=True)
        finally:
            self.tmp.unlink(missing_ok=True)


def _render(writer: _ClipWriter, segments: Sequence[_Segment], noise_sigma_scale: float = 1.0) -> None:
    """Render segments back to back into the writer; frames are made in a background thread."""
    fps = writer.fps
    size = writer.size
    w, h = size
    q: Queue[RGB | BaseException | None] = Queue(maxsize=8)
    stop = threading.Event()

    def produce() -> None:
        try:
            elapsed = 0.0
            k = 0
            for seg in segments:
                n = round((elapsed + seg.seconds) * fps) - round(elapsed * fps)
                elapsed += seg.seconds
                motion = _Motion(
                    seg.effect, seg.seconds, np.random.default_rng(seg.seed), seg.shake, seg.drift, seg.focus
                )
                sigma = seg.noise * noise_sigma_scale
                planes = _Noise.planes(w, h, sigma) if sigma > 0 else None
                if isinstance(seg.source, Path) and _is_video(seg.source.name):
                    reader: _VideoReader | None = _VideoReader(seg.source, seg.source_start)
                    still = None
                else:
                    reader = None
                    rgb = _prescale(_load_rgb(seg.source, seg.roi), size, min(motion.z0, motion.z1))
                    still = _Planes.from_rgb(rgb)
                for i in range(n):
                    if stop.is_set():
                        return
                    t = i / fps
                    src = reader.at(t, seg.roi) if reader is not None else still
                    assert src is not None
                    yuv = _warp(src, size, motion, t)
                    _grade(yuv, h, motion.gain(t), planes[k % len(planes)] if planes else None)
                    q.put(yuv)
                    k += 1
            q.put(None)
        except BaseException as e:  # handed to the consumer, re-raised there
            q.put(e)

    thread = threading.Thread(target=produce, name="compose-render", daemon=True)
    thread.start()
    try:
        while True:
            item = q.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            writer.write(item)
    finally:
        stop.set()
        while thread.is_alive():
            try:
                q.get_nowait()
            except Exception:
                thread.join(timeout=0.05)


def _read_wavs(
    paths: Sequence[Path], seconds: float, lead: float = 1.0, gap: float = 0.6
) -> tuple[npt.NDArray[np.float32], int]:
    """Speech sentences one after another (with a pause), padded with faint room noise."""
    rate = 16000
    total = round(seconds * rate)
    out = np.zeros(total, dtype=np.float32)
    pos = round(lead * rate)
    for p in paths:
        with wave.open(str(p), "rb") as wf:
            r, ch, width = wf.getframerate(), wf.getnchannels(), wf.getsampwidth()
            raw = wf.readframes(wf.getnframes())
        if width != 2:
            raise ValueError(f"{p.name}: only 16-bit PCM wav is supported")
        x = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        if ch > 1:
            x = x.reshape(-1, ch).mean(axis=1)
        if r != rate:
            n = round(len(x) * rate / r)
            x = np.interp(np.linspace(0, len(x) - 1, n), np.arange(len(x)), x).astype(np.float32)
        take = max(0, min(len(x), total - pos))
        if take < len(x):
            log.warning("%s does not fit in %.1f s of clip; cut", p.name, seconds)
        out[pos : pos + take] += x[:take]
        pos += len(x) + round(gap * rate)
    rng = np.random.default_rng(_seed("room", seconds, tuple(p.name for p in paths)))
    out += rng.normal(0, 0.002, size=total).astype(np.float32)
    return np.clip(out, -1, 1).astype(np.float32), rate


def make_clip(
    path: Path,
    source_image_or_video: Path | str | RGB | Image.Image,
    seconds: float,
    start: datetime,
    fps: int = 15,
    size: tuple[int, int] = (640, 360),
    effect: str = "pan",
    audio_wav: Path | str | Sequence[Path | str] | None = None,
    gop_seconds: float = 2.0,
    *,
    roi: Sequence[float] | None = None,
    source_start: float = 0.0,
    seed: int = 0,
    preset: str = "veryfast",
) -> Path:
    """Write one H.264 MP4 clip of ``seconds`` from a photo (pan/zoom) or a video.

    ``start`` (tz-aware) becomes the MP4 ``creation_time``. ``effect`` is one of
    ``EFFECTS`` ("video" for a video source). ``audio_wav``: one or more 16-bit wav files
    muxed as AAC speech starting 1 s in.
    """
    path = Path(path)
    src: Path | RGB | Image.Image = (
        Path(source_image_or_video) if isinstance(source_image_or_video, str) else source_image_or_video
    )
    if isinstance(src, Path) and _is_video(src.name) and effect not in ("video", "static"):
        effect = "video"
    if effect not in EFFECTS:
        raise ValueError(f"unknown effect {effect!r} (one of {', '.join(EFFECTS)})")
    wavs: list[Path] = []
    if audio_wav is not None:
        wavs = [Path(audio_wav)] if isinstance(audio_wav, str | Path) else [Path(a) for a in audio_wav]
    audio = _read_wavs(wavs, seconds) if wavs else None
    writer = _ClipWriter(
        path,
        start,
        fps,
        size,
        gop_seconds,
        preset=preset,
        audio=audio[0] if audio else None,
        audio_rate=audio[1] if audio else 16000,
    )
    try:
        _render(writer, [_Segment(src, seconds, effect, seed, roi=roi, source_start=source_start)])
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def _exif_time(dt: datetime) -> tuple[str, str]:
    off = dt.utcoffset() or timedelta(0)
    total = int(off.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return dt.strftime("%Y:%m:%d %H:%M:%S"), f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


def write_photo(
    path: Path,
    source: Path | RGB | Image.Image,
    taken: datetime,
    roi: Sequence[float] | None = None,
    max_side: int = 1600,
) -> Path:
    """A JPEG with EXIF DateTimeOriginal/OffsetTimeOriginal = ``taken`` (local time + offset)."""
    if taken.tzinfo is None:
        raise ValueError("photo time must be timezone-aware")
    arr = _load_rgb(source, roi)
    im = Image.fromarray(arr)
    if max(im.size) > max_side:
        im.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    local, offset = _exif_time(taken)
    exif = Image.Exif()
    exif[0x010F] = "lifelog"  # Make
    exif[0x0110] = "composed sample camera"  # Model
    exif[0x0131] = "lifelog.sample.compose"  # Software
    exif[0x0132] = local  # DateTime
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = local  # DateTimeOriginal
    sub[0x9004] = local  # DateTimeDigitized
    sub[0x9010] = offset  # OffsetTime
    sub[0x9011] = offset  # OffsetTimeOriginal
    sub[0x9012] = offset  # OffsetTimeDigitized
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    im.save(tmp, format="JPEG", quality=90, exif=exif)
    tmp.replace(path)
    return path


# --------------------------------------------------------------------------------------------
# days


def _file_hash(pf: _PlannedFile, media: SampleMedia, fps: int, size: tuple[int, int], gop: float) -> str:
    sources = {s.scene.source for s in pf.scenes} | set(pf.audio)
    digest = {n: media.info(n).get("sha256", "") if media.has(n) else "" for n in sorted(sources)}
    payload = {
        "v": COMPOSER_VERSION,
        "file": pf.rel,
        "start": pf.start.isoformat(),
        "scenes": [p.spec for p in pf.scenes],
        "audio": pf.audio,
        "fps": fps,
        "size": list(size),
        "gop": gop,
        "sources": digest,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


def _plan(recipe: Path | Mapping[str, Any] | None, days: Sequence[str] | None) -> list[tuple[str, list[_PlannedFile]]]:
    data = load_recipe(recipe)
    plan = [_plan_day(d) for d in data["days"]]
    if days is not None:
        unknown = set(days) - {d for d, _ in plan}
        if unknown:
            raise ValueError(f"no such day in the recipe: {', '.join(sorted(unknown))}")
        plan = [(d, fs) for d, fs in plan if d in set(days)]
    return plan


def planned_truth(recipe: Path | Mapping[str, Any] | None = None, days: Sequence[str] | None = None) -> GroundTruth:
    """The ground truth the recipe describes, without composing anything or needing media.

    Same scenes, files and times as :func:`compose_days` would give when every source is
    present, except that ``speech`` is empty (transcripts come with the media).
    """
    plan = _plan(recipe, days)
    scenes = [p.scene for _, files in plan for pf in files for p in pf.scenes]
    return GroundTruth(days=tuple(d for d, _ in plan), scenes=tuple(sorted(scenes, key=lambda s: (s.start, s.offset))))


def _read_state(out_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((out_dir / STATE_FILE).read_text())
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def compose_days(
    out_dir: Path,
    media: SampleMedia | None = None,
    days: Sequence[str] | None = None,
    fps: int = 15,
    size: tuple[int, int] = (640, 360),
    gop_seconds: float = 2.0,
    *,
    recipe: Path | Mapping[str, Any] | None = None,
    force: bool = False,
) -> GroundTruth:
    """Build the recipe's days (all, or the given dates) into ``out_dir``.

    Writes ``<out_dir>/<date>/VID_*.mp4`` and ``IMG_*.jpg`` and ``<out_dir>/ground_truth.json``.
    Files whose recipe hash is unchanged are kept. Scenes whose source media is missing are
    left out (listed in ``GroundTruth.skipped``); a clip loses all its scenes if one is missing.
    ``media`` defaults to the cached sample media (:func:`sample_media`, no download).
    """
    out_dir = Path(out_dir)
    if media is None:
        media = sample_media()
    plan = _plan(recipe, days)
    transcripts = _transcripts(media)
    out_dir.mkdir(parents=True, exist_ok=True)
    state = _read_state(out_dir)
    new_state: dict[str, str] = {}
    scenes: list[Scene] = []
    skipped: list[str] = []
    for _day, files in plan:
        for pf in files:
            missing = [p.scene.source for p in pf.scenes if not media.has(p.scene.source)]
            if missing:
                for p in pf.scenes:
                    skipped.append(f"{p.scene.id}: missing sample media {', '.join(sorted(set(missing)))}")
                log.warning("skipping %s: missing %s", pf.rel, ", ".join(missing))
                continue
            audio = [a for a in pf.audio if media.has(a)]
            if len(audio) < len(pf.audio):
                log.warning("%s: speech %s missing, clip is silent", pf.rel, set(pf.audio) - set(audio))
                audio = []
            pf.audio = audio
            digest = _file_hash(pf, media, fps, size, gop_seconds)
            target = out_dir / pf.rel
            if force or state.get(pf.rel) != digest or not target.is_file():
                _build_file(pf, target, media, fps, size, gop_seconds)
            new_state[pf.rel] = digest
            speech = " ".join(transcripts.get(a, "") for a in audio).strip()
            for p in pf.scenes:
                sc = p.scene
                if speech and sc.kind == "video" and p is pf.scenes[0]:
                    sc = replace(sc, speech=speech)
                scenes.append(sc)
    # Files this composer made before for a composed day but no longer plans are removed;
    # nothing it did not make is touched, nor the files of days not composed this time.
    planned_days = {d for d, _ in plan}
    for rel, old in state.items():
        if rel in new_state:
            continue
        if rel.split("/", 1)[0] in planned_days:
            (out_dir / rel).unlink(missing_ok=True)
        else:
            new_state[rel] = old
    (out_dir / STATE_FILE).write_text(json.dumps(dict(sorted(new_state.items())), indent=1))
    truth = GroundTruth(
        days=tuple(d for d, _ in plan),
        scenes=tuple(sorted(scenes, key=lambda s: (s.start, s.offset))),
        skipped=tuple(skipped),
    )
    (out_dir / GROUND_TRUTH_FILE).write_text(json.dumps(truth.to_json(), indent=2, ensure_ascii=False))
    return truth


def _build_file(
    pf: _PlannedFile, target: Path, media: SampleMedia, fps: int, size: tuple[int, int], gop: float
) -> None:
    if pf.kind == "photo":
        spec = pf.scenes[0].spec
        write_photo(target, media.path(pf.scenes[0].scene.source), pf.start, roi=spec.get("roi"))
        log.info("wrote %s", target)
        return
    segments = [
        _Segment(
            source=media.path(p.scene.source),
            seconds=p.seconds,
            effect=str(p.spec["effect"]),
            seed=_seed(p.scene.id),
            roi=p.spec.get("roi"),
            source_start=float(p.spec.get("source_start", 0.0)),
            shake=float(p.spec.get("shake", 1.0)),
            noise=float(p.spec.get("noise", 2.0)),
            drift=float(p.spec.get("drift", 1.0)),
            focus=p.spec.get("focus"),
        )
        for p in pf.scenes
    ]
    audio = _read_wavs([media.path(a) for a in pf.audio], pf.seconds) if pf.audio else None
    writer = _ClipWriter(
        target,
        pf.start,
        fps,
        size,
        gop,
        audio=audio[0] if audio else None,
        audio_rate=audio[1] if audio else 16000,
    )
    try:
        _render(writer, segments)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    log.info("wrote %s (%.0f s)", target, pf.seconds)


# --------------------------------------------------------------------------------------------
# long video for the ingest benchmark

_LONG_STILLS = (
    ("coffee.png", "pan"),
    ("chelsea.png", "zoom_in"),
    ("scenetext01.jpg", "pan"),
    ("china.jpg", "pan_right"),
    ("motorcycle_left.png", "zoom_out"),
    ("astronaut.png", "static"),
    ("scenetext05.jpg", "pan_left"),
    ("rocket.jpg", "zoom_in"),
    ("camera.png", "pan"),
    ("fruits.jpg", "zoom_out"),
    ("left01.jpg", "static"),
    ("flower.jpg", "zoom_in"),
)
_LONG_VIDEOS = ("vtest.avi", "bikes.mp4")


def make_long_video(
    path: Path,
    minutes: float = 30,
    size: tuple[int, int] = (1920, 1080),
    fps: int = 30,
    media: SampleMedia | None = None,
    gop_seconds: float = 2.0,
    *,
    start: datetime | None = None,
    scene_seconds: float = 40.0,
    preset: str = "ultrafast",
    crf: int = 26,
) -> Path:
    """A long H.264 video cycling through the real media (pan/zoom, hard cuts between scenes).

    For the ingest benchmark. Encoded with a fast preset and all cores; ``creation_time`` is
    ``start`` (default 2024-05-16 09:00 UTC). Deterministic.
    """
    if media is None:
        media = sample_media()
    path = Path(path)
    start = start or datetime(2024, 5, 16, 9, 0, tzinfo=UTC)
    pool: list[tuple[str, str]] = [(n, e) for n, e in _LONG_STILLS if media.has(n)]
    pool += [(n, "video") for n in _LONG_VIDEOS if media.has(n)]
    if not pool:
        raise SampleMediaUnavailable("no sample media to build a long video from")
    total = minutes * 60.0
    segments: list[_Segment] = []
    elapsed = 0.0
    i = 0
    while elapsed < total - 1e-9:
        rng = np.random.default_rng(_seed("long", i))
        seconds = min(total - elapsed, scene_seconds * float(rng.uniform(0.6, 1.4)))
        name, effect = pool[i % len(pool)]
        segments.append(
            _Segment(
                source=media.path(name),
                seconds=seconds,
                effect=effect,
                seed=_seed("long", i, name),
                source_start=float(rng.uniform(0, 30)) if name == "vtest.avi" else 0.0,
                noise=1.5,
            )
        )
        elapsed += seconds
        i += 1
    writer = _ClipWriter(path, start, fps, size, gop_seconds, preset=preset, crf=crf)
    try:
        _render(writer, segments)
    except BaseException:
        writer.abort()
        raise
    return writer.close()


def main(argv: Sequence[str] | None = None) -> int:
    import argparse
    import time as _time

    parser = argparse.ArgumentParser(
        prog="python -m lifelog.sample.compose", description="Compose the sample days into a folder."
    )
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--day", action="append", help="only this date (repeatable)")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--gop", type=float, default=2.0, help="seconds between keyframes")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--long", type=float, metavar="MINUTES", help="instead, write one long 1080p video")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="lifelog.sample.compose: %(message)s")
    t0 = _time.monotonic()
    try:
        if args.long:
            p = make_long_video(args.out_dir / "long.mp4", minutes=args.long, gop_seconds=args.gop)
            print(f"{p} in {_time.monotonic() - t0:.1f} s")
            return 0
        truth = compose_days(args.out_dir, days=args.day, fps=args.fps, gop_seconds=args.gop, force=args.force)
    except SampleMediaUnavailable as e:
        print(f"lifelog.sample.compose: {e}")
        return 1
    for sc in truth.scenes:
        tags = ", ".join(sc.tags[:4])
        print(f"{sc.start.isoformat()}  {sc.duration:5.1f}s  {sc.file:40s} {sc.source:22s} {tags}")
    for reason in truth.skipped:
        print(f"skipped {reason}")
    print(f"{len(truth.files)} files, {len(truth.scenes)} scenes in {_time.monotonic() - t0:.1f} s")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

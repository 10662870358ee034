"""Faces in frames: detect → keep the best few → align → describe → score → crop.

:func:`find_faces` does one image; :class:`FaceAnalyzer` is the import's
:class:`~lifelog.encoders.analyzers.FrameAnalyzer` (name ``faces``, table ``faces``): it runs a
batch of kept frames, describes all their faces in one onnxruntime call, writes each face's
crop (a small JPEG) into the vault and returns rows of :data:`lifelog.store.db.FACE_SCHEMA`
(the importer fills in ``media_id`` and ``episode_id``). People are assigned later, by
:mod:`lifelog.people`, once the file's rows are written.

Limits, on purpose:

* at most :data:`MAX_FACES` faces per frame are kept — the largest, most confident ones; the
  row's ``faces_in_frame`` says how many were detected (a crowd gives 10 rows that each say
  how many faces were found), and the analyzer counts capped frames in :attr:`FaceAnalyzer.stats`;
* faces narrower than :data:`MIN_FACE_PX` or less than half inside the frame are skipped
  (nothing of an identity can be read from them); small, blurry, turned or cut faces are kept
  but marked ``seed = false``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifelog.encoders.analyzers import StillGate
from lifelog.faces.image import as_rgb8
from lifelog.faces.models import Detection, FaceModels, get_face_models
from lifelog.faces.quality import FaceQuality, assess, frontalness, sharpness, texture, visible_fraction

if TYPE_CHECKING:
    from lifelog.encoders.analyzers import FrameInput
    from lifelog.store.vault import Vault

log = logging.getLogger(__name__)

MAX_FACES = 10
MIN_FACE_PX = 20.0
MIN_VISIBLE = 0.5
CROP_SIZE = 96  # px, square, JPEG
CROP_QUALITY = 80
# The detection gate (issue 21; lifelog.encoders.analyzers.StillGate): detection is skipped on a
# frame that cannot hold a face (flat: a dark, blank or washed-out frame) and on a frame that has
# hardly moved since the last frame in which the detector found no face (a face cannot appear
# without the picture changing).
GATING = True  # the default of ``FaceAnalyzer(gate=…)``; benchmarks switch it off to measure the gate


@dataclass
class Face:
    """One face found in an image (pixel coordinates of that image)."""

    box: tuple[float, float, float, float]  # x, y, w, h in pixels
    detection: Detection
    landmarks: npt.NDArray[np.float32]  # (5, 2) dlib 5-point landmarks
    chip: npt.NDArray[np.uint8]  # (150, 150, 3) aligned RGB chip
    quality: FaceQuality
    embedding: npt.NDArray[np.float32] | None = None  # (128,) after describe

    def crop_jpeg(self, rgb: npt.NDArray[np.uint8], size: int = CROP_SIZE) -> bytes:
        """A square JPEG around the face (1.4× the box), ``size`` px, for lists and thumbnails."""
        import cv2

        x, y, w, h = self.box
        side = max(w, h) * 1.4
        cx, cy = x + w / 2, y + h / 2
        x0, y0 = round(cx - side / 2), round(cy - side / 2)
        s = max(1, round(side))
        ih, iw = rgb.shape[:2]
        pad = ((max(0, -y0), max(0, y0 + s - ih)), (max(0, -x0), max(0, x0 + s - iw)), (0, 0))
        crop: npt.NDArray[Any] = rgb[max(0, y0) : y0 + s, max(0, x0) : x0 + s]
        if any(p for pair in pad[:2] for p in pair):
            crop = np.pad(crop, pad, mode="constant")
        crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA if s > size else cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, CROP_QUALITY,
                                                                             cv2.IMWRITE_JPEG_OPTIMIZE, 1])
        if not ok:
            raise RuntimeError("JPEG encoding of a face crop failed")
        return bytes(buf.tobytes())


@dataclass
class FrameFaces:
    faces: list[Face]
    detected: int  # faces the detector found, before the cap and the size/cut filters
    rgb: npt.NDArray[np.uint8]
    # every detection's box (x, y, w, h in pixels), kept or not: what bystander blurring hides
    boxes: list[tuple[float, float, float, float]] = field(default_factory=list)


def _rank_key(d: Detection) -> float:
    return d.score * min(1.0, d.w / 64.0)


def find_faces(
    image: npt.NDArray[Any],
    models: FaceModels | None = None,
    max_faces: int = MAX_FACES,
    describe: bool = True,
) -> FrameFaces:
    """The faces in one image ((H, W), (H, W, 3) or (H, W, 4); uint8, uint16 or float), best first."""
    m = models or get_face_models()
    rgb = as_rgb8(image)
    h, w = rgb.shape[:2]
    dets = m.detect(rgb)
    usable = [
        d for d in dets if d.w >= MIN_FACE_PX and visible_fraction(d.x, d.y, d.w, d.h, w, h) >= MIN_VISIBLE
    ]
    usable.sort(key=_rank_key, reverse=True)
    faces = []
    for d in usable[:max_faces]:
        landmarks, chip = m.align(rgb, d)
        visible = visible_fraction(d.x, d.y, d.w, d.h, w, h)
        q = assess(d.w, sharpness(chip), frontalness(landmarks), d.score, visible, texture(chip))
        faces.append(Face((d.x, d.y, d.w, d.h), d, landmarks, chip, q))
    if describe and faces:
        for f, e in zip(faces, m.describe([f.chip for f in faces]), strict=True):
            f.embedding = e
    return FrameFaces(faces, len(dets), rgb, [(d.x, d.y, d.w, d.h) for d in dets])


@dataclass
class AnalyzerStats:
    frames: int = 0
    faces: int = 0
    capped_frames: int = 0  # frames with more than MAX_FACES faces (only the best were kept)
    skipped_flat: int = 0  # frames the gate did not search: flat (dark, blank)
    skipped_still: int = 0  # frames the gate did not search: unchanged since a frame without a face
    detect_s: float = 0.0  # detection, landmarks, chips and quality
    describe_s: float = 0.0
    crops_s: float = 0.0


class FaceAnalyzer:
    """The import's face stage. ``FaceAnalyzer(vault)``; models are shared and load on first use."""

    name = "faces"
    table = "faces"

    def __init__(
        self,
        vault: Vault,
        models: FaceModels | None = None,
        max_faces: int = MAX_FACES,
        *,
        blur_bystanders: bool = False,
        keep_clear: Callable[[npt.NDArray[np.float32]], bool] | None = None,
        gate: bool | None = None,
    ) -> None:
        """``blur_bystanders``: every face found is reported for blurring in the stored pictures
        (:meth:`blur_regions`) except those ``keep_clear(descriptor)`` says belong to a person the
        user named. The face crops stay unblurred: they are how the user names someone.
        ``gate``: skip detection where no face can be (flat frames, frames unchanged since one
        without a face; :data:`GATING` when None, on)."""
        if max_faces < 1:
            raise ValueError("max_faces must be at least 1")
        self.blur_bystanders = blur_bystanders
        self.keep_clear = keep_clear
        self._hide: dict[str, list[tuple[float, float, float, float]]] = {}
        self.vault = vault
        self._models = models
        self.max_faces = max_faces
        self.stats = AnalyzerStats()
        self.gate = GATING if gate is None else gate
        self._still = StillGate()  # remembers the last frame without a face

    @property
    def models(self) -> FaceModels:
        if self._models is None:
            self._models = get_face_models()
        return self._models

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        import time

        if not frames:
            return []
        m = self.models
        model = m.version
        found: list[tuple[FrameInput, FrameFaces]] = []
        t0 = time.perf_counter()
        for fr in frames:
            sig = None
            if self.gate:
                sig, why = self._still.check(fr)
                if why is not None:
                    if why == "flat":
                        self.stats.skipped_flat += 1
                    else:
                        self.stats.skipped_still += 1
                    continue
            ff = find_faces(fr.rgb, m, self.max_faces, describe=False)
            if sig is not None:
                if ff.detected == 0:
                    self._still.remember(sig, fr.t)
                else:  # faces may move or leave: look again at the next frame
                    self._still.forget()
            if ff.detected > self.max_faces:
                self.stats.capped_frames += 1
                log.info("frame %s: %d faces, kept the best %d", fr.frame_id, ff.detected, len(ff.faces))
            found.append((fr, ff))
        t1 = time.perf_counter()
        all_faces = [f for _, ff in found for f in ff.faces]
        for f, e in zip(all_faces, m.describe([f.chip for f in all_faces]), strict=True):
            f.embedding = e
        t2 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        self._hide = {fr.frame_id: _bystanders(ff, self.keep_clear) for fr, ff in found} if self.blur_bystanders else {}
        for fr, ff in found:
            h, w = ff.rgb.shape[:2]
            for k, f in enumerate(ff.faces):
                face_id = f"{fr.frame_id}-face{k:02d}"  # the vault's blob ids are hex and '-'
                self.vault.put(face_id, f.crop_jpeg(ff.rgb))
                rows.append(face_row(face_id, fr.frame_id, fr.t, f, w, h, ff.detected, model))
        self.stats.frames += len(frames)
        self.stats.faces += len(rows)
        self.stats.detect_s += t1 - t0
        self.stats.describe_s += t2 - t1
        self.stats.crops_s += time.perf_counter() - t2
        return rows

    def blur_regions(self) -> dict[str, list[tuple[float, float, float, float]]]:
        """The faces of the last batch to blur in stored pictures, by frame (``blur_bystanders``)."""
        return self._hide


def _bystanders(
    ff: FrameFaces, keep_clear: Callable[[npt.NDArray[np.float32]], bool] | None
) -> list[tuple[float, float, float, float]]:
    """The boxes (fractions of the frame) of every detected face but the named people's."""
    h, w = ff.rgb.shape[:2]
    clear = [
        f.box for f in ff.faces if keep_clear is not None and f.embedding is not None and keep_clear(f.embedding)
    ]
    return [(x / w, y / h, bw / w, bh / h) for x, y, bw, bh in ff.boxes if (x, y, bw, bh) not in clear]


def face_row(
    face_id: str, frame_id: str, t: Any, f: Face, width: int, height: int, detected: int, model: str
) -> dict[str, Any]:
    """One row of ``faces`` (without ``media_id``/``episode_id``, which the importer adds)."""
    assert f.embedding is not None
    x, y, w, h = f.box
    q = f.quality
    return {
        "id": face_id,
        "frame_id": frame_id,
        "t": t,
        "box": [x / width, y / height, w / width, h / height],
        "quality": q.quality,
        "embedding": f.embedding.astype(np.float32).tolist(),
        "person_id": None,
        "crop_id": face_id,
        "model": model,
        "det_score": q.score,
        "size_px": q.size_px,
        "sharpness": q.sharpness,
        "frontal": q.frontal,
        "visible": q.visible,
        "seed": q.seed,
        "landmarks": (f.landmarks / np.asarray([width, height], dtype=np.float32)).ravel().tolist(),
        "faces_in_frame": detected,
        "assigned_by": None,
    }

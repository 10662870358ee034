"""Extension point: per-frame analyzers that run inside the import (faces, objects, OCR…).

An analyzer receives each batch of kept frames (RGB at the work size, up to
``lifelog.ingest.decode.WORK_WIDTH`` pixels wide) and returns rows for its own LanceDB table. The importer
fills in ``media_id`` and ``episode_id`` (known only once the file's episodes are cut) and
writes the rows in the same crash-safe sequence as the frames: before the episode rows, after
the journal entry — so a rolled-back import removes them too.

A failing analyzer degrades its own signal only: the importer records a visible warning for
the file and carries on (never a silent empty result).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from numpy.typing import NDArray


@dataclass(frozen=True)
class FrameInput:
    frame_id: str
    t: datetime
    rgb: NDArray[Any]  # (h, w, 3) uint8, w <= WORK_WIDTH


#: A region of a frame as fractions of it: x, y, w, h.
Region = tuple[float, float, float, float]


@runtime_checkable
class RegionReporter(Protocol):
    """An analyzer that also says which regions of the frames it just analysed must not be seen
    (sensitive text, bystanders' faces). Right after its ``analyze``, the importer blurs them in
    the batch's frames: every analyzer after it and the stored thumbnail see them blurred
    (``lifelog.ingest.redact``, docs/privacy.md)."""

    def blur_regions(self) -> Mapping[str, Sequence[Region]]:
        """frame id → regions to blur, for the batch of the last ``analyze`` call."""
        ...


class FrameAnalyzer(Protocol):
    name: str  # e.g. "faces"
    table: str  # the table its rows go to (must have media_id and episode_id columns)

    def analyze(self, frames: Sequence[FrameInput]) -> list[dict[str, Any]]:
        """Rows for ``table``; each must carry ``frame_id``."""
        ...


# Frames worth looking at (issue 21): a detector is not run on a frame that cannot show anything
# (flat: dark, blank, washed out) nor on one that has hardly moved since a frame whose result is
# known to still hold. Used by the face and the object analyzers.
GATE_FLAT_STD = 6.0  # grey standard deviation (0–255) below which a frame is flat
GATE_STILL = 0.035  # mean 16×16 grey difference (0–1) below which a frame has not moved
GATE_RECHECK_S = 10.0  # a still scene is looked at again after this many seconds


class StillGate:
    """Says which frames need not be searched: flat ones, and ones that hardly moved since the
    frame :meth:`remember` was last given (within :data:`GATE_RECHECK_S`)."""

    def __init__(self) -> None:
        self._last: tuple[NDArray[Any], datetime] | None = None

    def check(self, fr: FrameInput) -> tuple[NDArray[Any] | None, str | None]:
        """(the frame's motion signature, ``"flat"`` / ``"still"`` when it need not be searched, else None)."""
        import cv2
        import numpy as np

        rgb = np.asarray(fr.rgb)
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
        if float(cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA).std()) < GATE_FLAT_STD:
            return None, "flat"
        small = cv2.resize(grey, (16, 16), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        sig: NDArray[Any] = small - small.mean()
        if self._last is not None:
            last, t = self._last
            try:
                recent = 0.0 <= (fr.t - t).total_seconds() < GATE_RECHECK_S
            except (TypeError, AttributeError):
                recent = False
            if recent and float(np.abs(sig - last).mean()) < GATE_STILL:
                return sig, "still"
        return sig, None

    def remember(self, sig: NDArray[Any] | None, t: datetime) -> None:
        """Frames like this one (signature ``sig``, at ``t``) need not be searched for a while."""
        self._last = (sig, t) if sig is not None else None

    def forget(self) -> None:
        """The next frame is searched whatever it looks like."""
        self._last = None


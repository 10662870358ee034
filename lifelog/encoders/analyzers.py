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

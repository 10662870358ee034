"""Blurring regions of a frame before any picture of it is stored (docs/privacy.md, "Redaction").

Analyzers report regions to hide (:class:`lifelog.encoders.analyzers.RegionReporter`): lines of
sensitive text, faces of people the user has not named. :func:`blur_boxes` makes them
unreadable for good: the region, grown by a margin, is pixelated to blocks about a third of its
shorter side, Gaussian-blurred at that scale and smoothly scaled back up — no detector finds a
face in it again, no text can be read, and its pixel variance drops far below the original's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

#: A box as fractions of the frame: x, y, w, h.
Box = tuple[float, float, float, float]

MARGIN = 0.25  # the box is grown by this share of its size on every side


def blur_boxes(rgb: NDArray[Any], boxes: Sequence[Box], margin: float = MARGIN) -> NDArray[np.uint8]:
    """A copy of ``rgb`` (H, W, 3 uint8) with every box (fractions of the frame) blurred."""
    import cv2

    out = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    for bx, by, bw, bh in boxes:
        if not all(np.isfinite(v) for v in (bx, by, bw, bh)) or bw <= 0 or bh <= 0:
            continue
        grow = margin * max(bw * w, bh * h)
        x0 = max(0, int(np.floor(bx * w - grow)))
        y0 = max(0, int(np.floor(by * h - grow)))
        x1 = min(w, int(np.ceil((bx + bw) * w + grow)))
        y1 = min(h, int(np.ceil((by + bh) * h + grow)))
        if x1 - x0 < 1 or y1 - y0 < 1:
            continue
        region = out[y0:y1, x0:x1]
        rh, rw = region.shape[:2]
        block = max(3.0, min(rw, rh) / 3.0)
        small = cv2.resize(region, (max(1, round(rw / block)), max(1, round(rh / block))),
                           interpolation=cv2.INTER_AREA)
        # the Gaussian runs on the pixelated image (a few pixels: cheap), half a block wide
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=0.5, sigmaY=0.5, borderType=cv2.BORDER_REPLICATE)
        out[y0:y1, x0:x1] = cv2.resize(small, (rw, rh), interpolation=cv2.INTER_LINEAR)
    return out

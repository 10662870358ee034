"""Input images for the face functions: any of the shapes and depths a caller may hold."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

RGB8 = npt.NDArray[np.uint8]


def as_rgb8(image: npt.NDArray[Any]) -> RGB8:
    """``image`` as a contiguous (H, W, 3) uint8 RGB array.

    Accepts (H, W) and (H, W, 1) grayscale, (H, W, 3) RGB and (H, W, 4) RGBA (alpha dropped),
    in uint8, uint16 (16-bit: the high byte is kept) or float (0–1, clipped). Raises
    ``ValueError`` with the shape or dtype for anything else.
    """
    a = np.asarray(image)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image, got shape {a.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"empty image (shape {a.shape})")
    if a.dtype == np.uint8:
        pass
    elif a.dtype == np.uint16:
        a = (a >> 8).astype(np.uint8)
    elif a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        a = (np.clip(np.nan_to_num(a, nan=0.0), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    else:
        raise ValueError(f"expected a uint8, uint16 or float (0-1) image, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.shape[2] == 4:
        a = a[:, :, :3]
    return np.ascontiguousarray(a)

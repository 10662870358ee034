"""How usable a face is for identity: size, sharpness, detector confidence, frontalness,
occlusion, cut-off.

Each measure becomes a term in 0–1 and ``quality`` is their geometric mean, so one bad term
(a 30-px face, a motion-blurred one, a profile) pulls the whole score down. ``seed`` is the
stricter yes/no gate a face must pass to help *start* a new person (see :mod:`lifelog.people`);
faces that fail it are still stored, and may join a person that already exists, at a stricter
distance. The constants were set on ``bench/people.py``'s variants (docs/people.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# gates for seeding a person
SEED_MIN_PX = 48.0  # face box width in the analysed frame
SEED_MIN_SHARPNESS = 60.0  # variance of the Laplacian of the aligned grey chip's centre, at half size
SEED_MIN_FRONTAL = 0.5
SEED_MIN_SCORE = 0.6
SEED_MIN_VISIBLE = 0.97
SEED_MIN_TEXTURE = 0.25  # an eye or the mouth flatter than this (relative to the face) is covered

# term ramps (value at which the term is 0, value at which it is 1)
_SIZE_RAMP = (20.0, 96.0)
_SHARP_RAMP = (10.0, 300.0)  # on log scale
_FRONTAL_RAMP = (0.1, 0.7)
_SCORE_RAMP = (0.5, 0.9)
_VISIBLE_RAMP = (0.6, 1.0)
_TEXTURE_RAMP = (0.1, 0.45)
_FLOOR = 0.05  # so the geometric mean still orders faces that have one zero term


@dataclass(frozen=True)
class FaceQuality:
    size_px: float
    sharpness: float
    frontal: float  # 1 = facing the camera, 0 = full profile
    score: float  # detector confidence
    visible: float  # fraction of the (slightly enlarged) face box inside the frame
    texture: float  # the flattest of eyes and mouth, relative to the face (low = sunglasses, mask, hand)
    quality: float  # 0–1
    seed: bool

    @property
    def why_not_seed(self) -> list[str]:
        """The gates this face fails, in words (empty when it can seed)."""
        out = []
        if self.size_px < SEED_MIN_PX:
            out.append(f"small ({self.size_px:.0f} px < {SEED_MIN_PX:.0f})")
        if self.sharpness < SEED_MIN_SHARPNESS:
            out.append(f"blurry (sharpness {self.sharpness:.0f} < {SEED_MIN_SHARPNESS:.0f})")
        if self.frontal < SEED_MIN_FRONTAL:
            out.append(f"turned away (frontal {self.frontal:.2f} < {SEED_MIN_FRONTAL})")
        if self.score < SEED_MIN_SCORE:
            out.append(f"unsure detection ({self.score:.2f} < {SEED_MIN_SCORE})")
        if self.texture < SEED_MIN_TEXTURE:
            out.append(f"eyes or mouth covered (texture {self.texture:.2f} < {SEED_MIN_TEXTURE})")
        if self.visible < SEED_MIN_VISIBLE:
            out.append(f"cut off by the frame edge ({self.visible:.0%} visible)")
        return out


def _ramp(v: float, lo: float, hi: float) -> float:
    return min(1.0, max(0.0, (v - lo) / (hi - lo)))


def sharpness(chip: npt.NDArray[np.uint8]) -> float:
    """Variance of the Laplacian of the aligned chip's centre, at half size (grey); higher = sharper.

    Measured on the aligned chip, so it reflects the face's *effective* resolution: a small
    face upscaled to 150 px is as blurry as a defocused one. Halving the chip first keeps
    sensor noise and JPEG blocks from passing for detail (they still raise it somewhat).
    """
    import cv2

    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    h, w = grey.shape
    half = cv2.resize(grey, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    centre = half[h // 10 : h // 2 - h // 10, w // 10 : w // 2 - w // 10]
    return float(cv2.Laplacian(centre, cv2.CV_32F).var())


def frontalness(landmarks: npt.NDArray[np.float32]) -> float:
    """1 when the nose sits midway between the eyes (facing the camera), 0 towards profile.

    From dlib's 5 landmarks (outer and inner corner of each eye, base of the nose): where the
    nose projects on the line between the two eye centres (0.5 when frontal), so head roll
    does not count. A three-quarter view scores ~0.5–0.7. (BlazeFace's ear keypoints were
    tried first; they are guessed for the hidden ear and scored frontal portraits 0.5.)
    """
    right_eye = (landmarks[0] + landmarks[1]) / 2
    left_eye = (landmarks[2] + landmarks[3]) / 2
    axis = left_eye - right_eye
    n2 = float(axis @ axis)
    if n2 < 1e-6:
        return 0.0
    t = float((landmarks[4] - right_eye) @ axis) / n2
    return max(0.0, 1.0 - 2.0 * abs(t - 0.5))


# Regions of dlib's aligned chip (150 px, padding 0.25), where its canonical eye corners and
# nose sit: measured by running the 5-point model on chips of the sample faces.
_REGIONS = {
    "eye_1": (30, 35, 65, 58),  # x0, y0, x1, y1
    "eye_2": (85, 35, 120, 58),
    "mouth": (50, 98, 100, 122),
}


def texture(chip: npt.NDArray[np.uint8]) -> float:
    """The lowest grey-level spread of the two eye regions and the mouth region of an aligned
    chip, divided by the spread of the whole face. Near 0 when one of them is covered by
    something flat (sunglasses, a mask, a hand); ~0.4–1 for an uncovered face, whatever the
    contrast or exposure. Such faces give descriptors far from the person's (0.6 for a bar over
    the eyes in ``bench/people.py``) and close to other covered faces, so they must not seed.
    """
    import cv2

    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY).astype(np.float32)
    k = grey.shape[0] / 150.0
    face = float(grey[round(30 * k) : round(125 * k), round(30 * k) : round(120 * k)].std()) + 1e-3
    spreads = [
        float(grey[round(y0 * k) : round(y1 * k), round(x0 * k) : round(x1 * k)].std())
        for x0, y0, x1, y1 in _REGIONS.values()
    ]
    return min(spreads) / face


def visible_fraction(x: float, y: float, w: float, h: float, width: int, height: int, grow: float = 1.2) -> float:
    """Fraction of the face box, enlarged by ``grow`` about its centre, that lies inside the image."""
    cx, cy = x + w / 2, y + h / 2
    w2, h2 = w * grow / 2, h * grow / 2
    ix = max(0.0, min(width, cx + w2) - max(0.0, cx - w2))
    iy = max(0.0, min(height, cy + h2) - max(0.0, cy - h2))
    area = 4 * w2 * h2
    return float(ix * iy / area) if area > 0 else 0.0


def assess(
    size_px: float, sharp: float, frontal: float, score: float, visible: float, tex: float = 1.0
) -> FaceQuality:
    terms = [
        _ramp(tex, *_TEXTURE_RAMP),
        _ramp(size_px, *_SIZE_RAMP),
        _ramp(math.log10(max(sharp, 1e-3)), math.log10(_SHARP_RAMP[0]), math.log10(_SHARP_RAMP[1])),
        _ramp(frontal, *_FRONTAL_RAMP),
        _ramp(score, *_SCORE_RAMP),
        _ramp(visible, *_VISIBLE_RAMP),
    ]
    q = float(np.exp(np.mean(np.log([max(t, _FLOOR) for t in terms]))))
    seed = (
        size_px >= SEED_MIN_PX
        and sharp >= SEED_MIN_SHARPNESS
        and frontal >= SEED_MIN_FRONTAL
        and score >= SEED_MIN_SCORE
        and visible >= SEED_MIN_VISIBLE
        and tex >= SEED_MIN_TEXTURE
    )
    return FaceQuality(size_px, sharp, frontal, score, visible, tex, round(q, 4), seed)

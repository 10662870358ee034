"""Label noise where a face was detected (issue 16): at import each frame with a sure face is
classified again with the face covered, and its labels keep the lower probability. The real
classifier on real pictures: the evidence under a "face" box goes, evidence elsewhere stays."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image


def _frame(media: Any) -> np.ndarray:
    """A real photo of a cat on the right half of a plain grey frame (the left half empty)."""
    cat = np.asarray(Image.open(media.path("chelsea.png")).convert("RGB"))
    h, w = cat.shape[:2]
    frame = np.full((h, 2 * w, 3), 128, np.uint8)
    frame[:, w:] = cat
    return frame


_COS: dict[str, float] = {}  # cosine of the frame's ConSE vector with "a cat", after the last _run


def _run(media: Any, box: list[float], det: float) -> tuple[dict[str, float], dict[str, float]]:
    from lifelog.encoders import get_text_encoder, get_visual_encoder
    from lifelog.ingest.pipeline import quiet_face_labels

    enc = get_visual_encoder()
    rgb = _frame(media)
    batch = enc.encode([rgb])
    before = dict(batch.labels[0])
    cat = get_text_encoder().encode(["a cat"])[0]
    _COS["before"] = float(batch.semantic[0] @ cat)
    quiet_face_labels(enc, batch, [rgb], ["m-00000"], [{"frame_id": "m-00000", "box": box, "det_score": det}])
    _COS["after"] = float(batch.semantic[0] @ cat)
    return before, dict(batch.labels[0])


def test_a_label_whose_evidence_is_under_a_face_box_goes(models_ready: None, media: Any) -> None:
    before, after = _run(media, [0.5, 0.0, 0.5, 1.0], det=0.95)  # the "face" covers the cat
    assert before.get("Egyptian cat", 0.0) >= 0.3, before
    assert after.get("Egyptian cat", 0.0) < 0.5 * before["Egyptian cat"], after
    assert all(after[lab] <= before[lab] for lab in after)  # nothing is raised or added
    assert _COS["after"] < _COS["before"] - 0.1, _COS  # meaning-based search no longer finds the cat there


def test_labels_elsewhere_and_doubtful_faces_are_kept(models_ready: None, media: Any) -> None:
    before, beside = _run(media, [0.05, 0.3, 0.3, 0.4], det=0.95)  # a face in the empty half
    assert beside.get("Egyptian cat", 0.0) >= 0.8 * before["Egyptian cat"], (before, beside)
    _, doubtful = _run(media, [0.5, 0.0, 0.5, 1.0], det=0.55)  # as doubtful as a cat's face: left alone
    assert doubtful == before and _COS["after"] == _COS["before"]
    _, tiny = _run(media, [0.7, 0.4, 0.1, 0.1], det=0.95)  # 1 % of the frame: too small to matter
    assert tiny == before

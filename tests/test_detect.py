"""Issue #16: the object detector (SSD-MobileNetV2, Open Images) on real frames, at import, in
answers, and forgotten with its footage.

The real model built at set-up (``models/detector.py``) runs on real sample media: the bicycle
ridden past in ``bikes.mp4`` (a frame the ImageNet classifier calls "car mirror"), the pedestrians
of OpenCV's ``vtest.avi``, the cat of ``chelsea.png``. A memory that imports the bikes video answers
"when did I last see a bike?" with the moment and the detector's box as evidence, and forgetting
the moment leaves no detection row on disk (byte scan).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers import json_doc, run_cli

pytestmark = [pytest.mark.media]


def _video_frame(path: Path, index: int) -> Any:
    import av

    with av.open(str(path)) as c:
        for i, f in enumerate(c.decode(c.streams.video[0])):
            if i == index:
                return f.to_ndarray(format="rgb24")
    raise AssertionError(f"{path} has no frame {index}")


@pytest.fixture(scope="module")
def detector() -> Any:
    from lifelog.objects.detect import Detector

    det = Detector()
    if not det.available:
        pytest.fail("the object detector is not built (bash packaging/setup.sh runs models/detector.py)")
    return det


def test_anchors_and_decoding_follow_mediapipe() -> None:
    from lifelog.objects.detect import anchors, decode

    a = anchors()
    assert a.shape == (1917, 4)  # 19²·3 + (10² + 5² + 3² + 2² + 1)·6
    labels = ["???", "Bicycle", "Person"]
    boxes = np.zeros((1917, 4), np.float32)
    scores = np.full((1917, 3), -8.0, np.float32)
    # Two overlapping anchors of one cell say "person" (the weaker is suppressed); another cell's
    # anchor says "bicycle", its box moved and widened as MediaPipe decodes SSD offsets.
    cell = 1083 + (1 * 10 + 1) * 6  # 10×10 map, cell (x=1, y=1): its 6 anchor shapes
    scores[cell, 2], scores[cell + 5, 2] = 3.0, 1.0
    j = 1083 + (4 * 10 + 4) * 6  # cell (4, 4), shape 0: centre (0.45, 0.45), 0.35 × 0.35
    scores[j, 1] = 2.0
    boxes[j] = [1.0, 2.0, 0.0, 5.0 * np.log(2.0)]  # dy, dx (÷10 × anchor size), dh, dw (exp(÷5))
    found = decode(boxes, scores, labels, min_score=0.5)
    assert [d.label for d in found] == ["person", "bicycle"]
    assert found[0].score == pytest.approx(1 / (1 + np.exp(-3.0)), abs=1e-5)
    assert a[j] == pytest.approx([0.45, 0.45, 0.35, 0.35], abs=1e-6)
    x, y, w, h = found[1].box
    assert (x + w / 2, y + h / 2) == pytest.approx((0.45 + 0.2 * 0.35, 0.45 + 0.1 * 0.35), abs=1e-5)
    assert (w, h) == pytest.approx((0.7, 0.35), abs=1e-5)


def test_a_bicycle_in_the_bikes_video(detector: Any, media: Any) -> None:
    rgb = _video_frame(media.path("bikes.mp4"), 120)
    bikes = [d for d in detector.detect(rgb) if d.label == "bicycle"]
    assert bikes and bikes[0].score >= 0.4, detector.detect(rgb)
    x, y, w, h = bikes[0].box
    assert 0.0 <= x < x + w <= 1.0 and 0.0 <= y < y + h <= 1.0
    assert 0.05 < w * h < 0.5  # a bicycle in the street, not the whole frame


def test_pedestrians_and_a_cat(detector: Any, media: Any) -> None:
    import cv2

    people = [d for d in detector.detect(_video_frame(media.path("vtest.avi"), 40)) if d.label == "person"]
    assert len(people) >= 3  # a square full of walkers
    assert all(b.box[3] > b.box[2] for b in people)  # standing: taller than wide
    cat = cv2.cvtColor(cv2.imread(str(media.path("chelsea.png"))), cv2.COLOR_BGR2RGB)
    found = detector.detect(cat)
    assert found and found[0].label == "cat" and found[0].score > 0.7
    assert not [d for d in found if d.label in ("bicycle", "car", "laptop")]


def test_bad_input_and_a_missing_model(detector: Any, tmp_path: Path) -> None:
    from lifelog.objects.detect import Detector, DetectorMissing

    with pytest.raises(ValueError, match="RGB image"):
        detector.detect(np.zeros((10, 10), np.uint8))
    with pytest.raises(ValueError, match="RGB image"):
        detector.detect(np.zeros((0, 10, 3), np.uint8))
    empty = Detector(models_dir=tmp_path)
    assert not empty.available
    with pytest.raises(DetectorMissing, match=r"not built .*setup\.sh"):
        empty.detect(np.zeros((32, 32, 3), np.uint8))


def test_a_broken_detector_degrades_only_its_own_signal(tmp_path: Path, media: Any) -> None:
    import shutil

    from lifelog.config import Settings
    from lifelog.ingest.pipeline import Importer
    from lifelog.objects.detect import LABELS_FILE, MODEL_FILE, DetectionAnalyzer, Detector, get_detector
    from lifelog.sample.compose import make_clip  # test data only
    from lifelog.store.db import Store
    from lifelog.store.vault import Vault

    broken = tmp_path / "models"
    broken.mkdir()
    (broken / MODEL_FILE).write_bytes(b"TFL3 not a model")
    shutil.copy(get_detector().dir / LABELS_FILE, broken / LABELS_FILE)
    clip = make_clip(tmp_path / "cat.mp4", media.path("chelsea.png"), 3, datetime(2024, 5, 14, 18, 0, tzinfo=UTC),
                     fps=10, size=(320, 240))
    data = tmp_path / "memory"
    data.mkdir()
    store, vault = Store(data), Vault.open(data, passphrase="p")
    result = Importer(store, vault, Settings(), analyzers=[DetectionAnalyzer(Detector(broken))]).run([clip])
    assert result.imported == 1 and store.count("frames") > 0  # the footage is in
    assert any(w.error.startswith("detections analysis failed") for w in result.warnings), result.warnings
    assert store.count("detections") == 0


@pytest.fixture(scope="module")
def bikes_memory(tmp_path_factory: pytest.TempPathFactory, media: Any) -> dict[str, Any]:
    from lifelog.api import Memory
    from lifelog.sample.compose import make_clip  # test data only

    root = tmp_path_factory.mktemp("bikes")
    src = root / "footage"
    src.mkdir()
    bikes = make_clip(src / "bikes.mp4", media.path("bikes.mp4"), 10, datetime(2024, 5, 14, 9, 0, tzinfo=UTC),
                      effect="video")
    cat = make_clip(src / "cat.mp4", media.path("chelsea.png"), 4, datetime(2024, 5, 14, 18, 0, tzinfo=UTC),
                    fps=10, size=(320, 240))
    data = root / "memory"
    mem = Memory(data)
    res = mem.import_paths([bikes, cat])
    assert res.imported == 2 and not res.warnings, res
    return {"mem": mem, "data": data}


def test_the_import_stores_boxes_and_an_answer_shows_them(bikes_memory: dict[str, Any]) -> None:
    mem, data = bikes_memory["mem"], bikes_memory["data"]
    rows = mem.store.rows("detections", None).to_pylist()
    labels = {r["label"] for r in rows}
    assert {"bicycle", "cat"} <= labels, labels
    assert all(r["episode_id"] and r["media_id"] and r["frame_id"] for r in rows)
    proc = run_cli(data, "ask", "when did I last see a bike?", "--now", "2024-05-15T12:00:00+00:00", "--json",
                   "--no-thumbnails")
    assert proc.returncode == 0, proc.stderr
    doc = json_doc(proc)
    assert doc["hits"], doc["answer"]
    top = doc["hits"][0]
    assert top["start"].startswith("2024-05-14T09:00"), doc
    assert any(e["kind"] == "object" and e["text"].startswith("bicycle") for e in top["evidence"]), top
    assert not doc["answer"].startswith(("I found no", "I'm not sure")), doc["answer"]
    # a thing the detector does not see there is still not claimed
    proc = run_cli(data, "ask", "did I see a dog?", "--now", "2024-05-15T12:00:00+00:00", "--json", "--no-thumbnails")
    assert all(e["kind"] != "object" for h in json_doc(proc)["hits"] for e in h["evidence"])


def test_an_export_carries_the_boxes(bikes_memory: dict[str, Any], tmp_path: Path) -> None:
    data = bikes_memory["data"]
    export = tmp_path / "export"
    proc = run_cli(data, "export", export, "--json")
    assert proc.returncode == 0, proc.stderr
    target = tmp_path / "restored"
    proc = run_cli(target, "import-archive", export, "--json")
    assert proc.returncode == 0, proc.stderr
    assert json_doc(proc)["added"]["detections"] > 0
    from lifelog.store.db import Store  # test inspection of the restored tables

    cols = ["id", "episode_id", "label", "score", "box"]
    mine = sorted(map(str, bikes_memory["mem"].store.rows("detections", None, columns=cols).to_pylist()))
    assert sorted(map(str, Store(target).rows("detections", None, columns=cols).to_pylist())) == mine


def test_forgetting_the_moment_removes_its_boxes_from_disk(bikes_memory: dict[str, Any]) -> None:
    mem, data = bikes_memory["mem"], bikes_memory["data"]
    ep = next(e.id for e in mem.episodes() if e.start.hour == 9)
    ids = mem.store.rows("detections", f"episode_id = '{ep}'", columns=["id"]).column("id").to_pylist()
    assert ids
    needles = [i.encode() for i in ids[:3]]
    files = [p for p in data.rglob("*") if p.is_file()]
    assert any(n in p.read_bytes() for p in files for n in needles), "the scan sees the rows"
    proc = run_cli(data, "forget", "--episode", ep, "--yes", "--json")
    assert proc.returncode == 0, proc.stderr
    files = [p for p in data.rglob("*") if p.is_file()]
    assert not [str(p) for p in files for n in needles if n in p.read_bytes()]
    mem.store.refresh()
    assert mem.store.count("detections", f"episode_id = '{ep}'") == 0
    assert mem.store.count("detections") > 0  # the cat's boxes stay

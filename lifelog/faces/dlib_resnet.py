"""dlib's face descriptor network, read from its weight file and rebuilt as an ONNX graph.

``dlib_face_recognition_resnet_model_v1.dat`` (PyPI ``face_recognition_models`` 0.3.0, CC0)
is the ResNet-29 of dlib's ``dnn_face_recognition_ex.cpp``: a 150×150 aligned RGB chip →
128-d descriptor; two faces of one person are usually closer than 0.6 (Euclidean). dlib-bin's
own CPU implementation takes ~100 ms of CPU per face on this kind of machine (it is built
without BLAS); the same network on onnxruntime takes ~8–20 ms, with the same numbers (max
difference ~3e-7, checked at load and in ``tests/test_faces.py``).

**The file format.** dlib serialises a network as nested layers, the loss first; each layer
writes a version, its sub-network, then its own details (``con_4``, ``affine_``, ``relu_``,
``max_pool_2``, ``avg_pool_2``, ``add_prev_``, ``fc_2``…) and a trailer (three bools as the
characters ``'0'``/``'1'`` and three tensors). Tag and skip layers write only a version. So after
a prefix of versions the file is a flat sequence of layer records in forward order, which
:func:`read_network` walks record by record and must consume to the last byte. Integers are
dlib's packed form (a byte ``size | 0x80 if negative``, then ``size`` little-endian bytes);
floats are a packed int64 mantissa and int16 exponent; tensors are ``version 2, n, k, nr, nc``
then raw little-endian float32.

**The architecture** (checked while reading): input − mean, ÷ 256 → conv 7×7/2 (32) → affine →
relu → max-pool 3×3/2 → 14 residual blocks (conv 3×3 → affine → relu → conv 3×3 → affine,
plus the input — average-pooled 2×2/2 where the block downsamples — then relu) → global average
→ fc 256→128 without bias. dlib adds tensors of different shapes by zero-padding the smaller to
the larger (more channels after a downsampling block; 3×3 + 4×4 at the last two stages); the
graph does the same with ``Pad``. Each affine (a frozen batch-norm) is folded into its conv.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lifelog.faces.onnx_proto import GraphBuilder

CHIP_SIZE = 150
DESCRIPTOR_DIM = 128

F32 = npt.NDArray[np.float32]


class DlibFormatError(ValueError):
    """The weight file is not the dlib face descriptor network this module knows."""


@dataclass(frozen=True)
class Conv:
    weight: F32  # (out, in, kh, kw), affine folded in
    bias: F32  # (out,)
    stride: int
    pad: int


@dataclass(frozen=True)
class Block:
    conv1: Conv
    conv2: Conv
    pool: tuple[int, int] | None  # (window, stride) of the shortcut's average pool, None = identity


@dataclass(frozen=True)
class Network:
    mean_rgb: tuple[float, float, float]
    size: int
    stem: Conv
    stem_pool: tuple[int, int]  # max pool (window, stride)
    blocks: tuple[Block, ...]
    fc: F32  # (256, 128): descriptor = pooled @ fc
    sha256: str


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"file ends early (at byte {self.pos}, {n} more needed)")

    def read_int(self) -> int:
        self._need(1)
        head = self.data[self.pos]
        size = head & 0x0F
        if size > 8:
            raise DlibFormatError(f"bad packed integer at byte {self.pos}")
        self._need(1 + size)
        value = int.from_bytes(self.data[self.pos + 1 : self.pos + 1 + size], "little")
        self.pos += 1 + size
        return -value if head & 0x80 else value

    def peek_int(self) -> int:
        pos = self.pos
        try:
            return self.read_int()
        finally:
            self.pos = pos

    def read_float(self) -> float:
        mantissa = self.read_int()
        exponent = self.read_int()
        return float(mantissa) * 2.0**exponent

    def read_str(self) -> str:
        n = self.read_int()
        if not 0 < n < 64:
            raise DlibFormatError(f"expected a layer name at byte {self.pos}")
        self._need(n)
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError as e:
            raise DlibFormatError(f"expected a layer name at byte {self.pos - n}") from e

    def read_bool(self) -> bool:
        self._need(1)
        c = self.data[self.pos : self.pos + 1]
        if c not in (b"0", b"1"):
            raise DlibFormatError(f"expected a bool at byte {self.pos}")
        self.pos += 1
        return c == b"1"

    def read_tensor(self) -> F32:
        version = self.read_int()
        if version != 2:
            raise DlibFormatError(f"unknown tensor version {version} at byte {self.pos}")
        dims = [self.read_int() for _ in range(4)]
        n = int(np.prod(dims))
        self._need(4 * n)
        a = np.frombuffer(self.data, dtype="<f4", count=n, offset=self.pos).astype(np.float32)
        self.pos += 4 * n
        return a

    def read_alias(self) -> tuple[int, ...]:
        if self.read_int() != 1:
            raise DlibFormatError(f"unknown alias_tensor version at byte {self.pos}")
        return tuple(self.read_int() for _ in range(4))


@dataclass
class _Layer:
    kind: str
    conv: Conv | None = None
    scale: F32 | None = None
    shift: F32 | None = None
    pool: tuple[int, int] | None = None
    fc: F32 | None = None


def _read_layer(r: _Reader, name: str) -> _Layer:
    if name == "con_4":
        params = r.read_tensor()
        n_out, kh, kw, sy, sx, py, px = (r.read_int() for _ in range(7))
        w_shape = r.read_alias()
        b_shape = r.read_alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.read_float()
        n_in = w_shape[1]
        if w_shape != (n_out, n_in, kh, kw) or b_shape != (1, n_out, 1, 1) or sy != sx or py != px or kh != kw:
            raise DlibFormatError(f"unexpected convolution {w_shape} stride {sy}x{sx} pad {py}x{px}")
        nw = n_out * n_in * kh * kw
        if params.size != nw + n_out:
            raise DlibFormatError("convolution parameters do not match its shape")
        conv = Conv(params[:nw].reshape(n_out, n_in, kh, kw), params[nw:], sy, py)
        return _Layer("conv", conv=conv)
    if name == "affine_":
        params = r.read_tensor()
        g_shape = r.read_alias()
        r.read_alias()
        mode = r.read_int()
        k = params.size // 2
        if mode != 0 or g_shape != (1, k, 1, 1):
            raise DlibFormatError(f"unexpected affine layer (mode {mode}, shape {g_shape})")
        return _Layer("affine", scale=params[:k], shift=params[k:])
    if name == "relu_":
        return _Layer("relu")
    if name in ("max_pool_2", "avg_pool_2"):
        nr, nc, sy, sx, py, px = (r.read_int() for _ in range(6))
        if nr != nc or sy != sx or py != 0 or px != 0:
            raise DlibFormatError(f"unexpected pooling {nr}x{nc}/{sy}x{sx} pad {py}x{px}")
        return _Layer("max" if name.startswith("max") else "avg", pool=(nr, sy))
    if name == "add_prev_":
        return _Layer("add")
    if name == "fc_2":
        n_out, n_in = r.read_int(), r.read_int()
        params = r.read_tensor()
        w_shape = r.read_alias()
        r.read_alias()
        bias_mode = r.read_int()
        for _ in range(4):
            r.read_float()
        if bias_mode != 1 or w_shape != (n_in, n_out, 1, 1) or params.size != n_in * n_out:
            raise DlibFormatError("unexpected fully connected layer (expected one without bias)")
        return _Layer("fc", fc=params.reshape(n_in, n_out))
    raise DlibFormatError(f"unknown layer {name!r}")


def read_network(path: Path) -> Network:
    """Read and check dlib's descriptor network; raises :class:`DlibFormatError` if it differs."""
    data = Path(path).read_bytes()
    r = _Reader(data)
    if r.read_int() != 1 or r.read_str() != "loss_metric_2":
        raise DlibFormatError(f"{path} is not a dlib metric-learning network")
    r.read_float()  # margin
    r.read_float()  # distance threshold
    while r.peek_int() in (1, 2, 3):  # versions of the nested layers, outermost first
        r.read_int()
    if r.read_str() != "input_rgb_image_sized":
        raise DlibFormatError("expected an RGB image input layer")
    mean = (r.read_float(), r.read_float(), r.read_float())
    nr, nc = r.read_int(), r.read_int()
    if nr != nc:
        raise DlibFormatError(f"unexpected input size {nr}x{nc}")
    layers: list[_Layer] = []
    while r.pos < len(data):
        layers.append(_read_layer(r, r.read_str()))
        for _ in range(3):
            r.read_bool()
        for _ in range(3):  # gradient / cached output tensors (empty in a saved model)
            r.read_tensor()
        if len(layers) == 1 and r.read_int() != 1:  # the layer on the input also writes its sample expansion factor
            raise DlibFormatError("unexpected sample expansion factor")
    return _assemble(layers, mean, nr, hashlib.sha256(data).hexdigest())


def _fold(conv: _Layer, affine: _Layer) -> Conv:
    assert conv.conv is not None and affine.scale is not None and affine.shift is not None
    c = conv.conv
    w = (c.weight * affine.scale[:, None, None, None]).astype(np.float32)
    b = (c.bias * affine.scale + affine.shift).astype(np.float32)
    return Conv(w, b, c.stride, c.pad)


def _assemble(layers: list[_Layer], mean: tuple[float, float, float], size: int, sha: str) -> Network:
    kinds = [la.kind for la in layers]

    def expect(i: int, *want: str) -> None:
        if tuple(kinds[i : i + len(want)]) != want:
            raise DlibFormatError(f"unexpected layer order at layer {i}: {kinds[i : i + len(want)]}, wanted {want}")

    expect(0, "conv", "affine", "relu", "max")
    stem = _fold(layers[0], layers[1])
    stem_pool = layers[3].pool
    assert stem_pool is not None
    i = 4
    blocks: list[Block] = []
    while i < len(layers) and kinds[i] == "conv":
        expect(i, "conv", "affine", "relu", "conv", "affine")
        conv1, conv2 = _fold(layers[i], layers[i + 1]), _fold(layers[i + 3], layers[i + 4])
        i += 5
        pool = None
        if kinds[i] == "avg":
            pool = layers[i].pool
            i += 1
        expect(i, "add", "relu")
        i += 2
        blocks.append(Block(conv1, conv2, pool))
    expect(i, "avg", "fc")
    if layers[i].pool != (0, 1) or i + 2 != len(layers):
        raise DlibFormatError("expected a global average pool and one fc layer at the end")
    fc = layers[i + 1].fc
    assert fc is not None
    if fc.shape[1] != DESCRIPTOR_DIM or not blocks:
        raise DlibFormatError(f"unexpected descriptor size {fc.shape}")
    return Network(mean, size, stem, stem_pool, tuple(blocks), fc, sha)


def _out(n: int, window: int, stride: int, pad: int = 0) -> int:
    return (n + 2 * pad - window) // stride + 1


def to_onnx(net: Network) -> bytes:
    """The network as ONNX bytes. Input ``chip``: float32 (N, 3, 150, 150) RGB 0–255; output
    ``descriptor``: float32 (N, 128), dlib's raw descriptor."""
    g = GraphBuilder("dlib_face_recognition_resnet_model_v1")
    mean = np.asarray(net.mean_rgb, dtype=np.float32).reshape(1, 3, 1, 1)
    x = g.node("Sub", ["chip", g.constant("mean", mean)])
    x = g.node("Mul", [x, g.constant("scale", np.asarray([1.0 / 256.0], dtype=np.float32))])

    def conv(x: str, c: Conv) -> str:
        return g.node(
            "Conv",
            [x, g.constant("w", c.weight), g.constant("b", c.bias)],
            int_lists={"kernel_shape": list(c.weight.shape[2:]), "strides": [c.stride] * 2, "pads": [c.pad] * 4},
        )

    def pool(x: str, op: str, window: int, stride: int) -> str:
        return g.node(op, [x], int_lists={"kernel_shape": [window, window], "strides": [stride, stride]})

    def pad_to(x: str, shape: tuple[int, int], target: tuple[int, int]) -> str:
        if shape == target:
            return x
        pads = np.asarray([0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1], target[1] - shape[1]])
        return g.node("Pad", [x, g.constant("pads", pads.astype(np.int64))])

    x = g.node("Relu", [conv(x, net.stem)])
    x = pool(x, "MaxPool", *net.stem_pool)
    side = _out(_out(net.size, net.stem.weight.shape[2], net.stem.stride, net.stem.pad), *net.stem_pool)
    shape = (net.stem.weight.shape[0], side)  # (channels, side)
    for b in net.blocks:
        y = g.node("Relu", [conv(x, b.conv1)])
        y = conv(y, b.conv2)
        k1, k2 = b.conv1.weight.shape[2], b.conv2.weight.shape[2]
        ys = _out(_out(shape[1], k1, b.conv1.stride, b.conv1.pad), k2, b.conv2.stride, b.conv2.pad)
        y_shape = (b.conv2.weight.shape[0], ys)
        if b.pool is not None:
            skip, s_shape = pool(x, "AveragePool", *b.pool), (shape[0], _out(shape[1], *b.pool))
        else:
            skip, s_shape = x, shape
        target = (max(y_shape[0], s_shape[0]), max(y_shape[1], s_shape[1]))
        x = g.node("Relu", [g.node("Add", [pad_to(y, y_shape, target), pad_to(skip, s_shape, target)])])
        shape = target
    x = g.node("Flatten", [g.node("GlobalAveragePool", [x])])
    g.node("MatMul", [x, g.constant("fc", net.fc.astype(np.float32))], output="descriptor")
    return g.model(inputs=[("chip", ["N", 3, net.size, net.size])], outputs=[("descriptor", ["N", DESCRIPTOR_DIM])])

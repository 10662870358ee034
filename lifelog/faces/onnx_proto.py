"""A minimal writer of ONNX model files (protobuf wire format), so no ``onnx`` package is needed.

The ``onnx`` package cannot live in the run-time environment (it pulls a protobuf that
mediapipe 0.10.21 refuses), and the face descriptor network is rebuilt from dlib's weight
file on the user's machine (:mod:`lifelog.faces.dlib_resnet`). The graph uses a handful of
operators, so writing the few ONNX messages it needs by hand is shorter and safer than an
extra build environment. Field numbers are those of ``onnx/onnx.proto`` (IR version 7).

Only what :mod:`lifelog.faces.dlib_resnet` uses is here: float32/int64 initializers, nodes
with int and int-list attributes, graph inputs/outputs with (possibly symbolic) shapes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IR_VERSION = 7  # ONNX 1.8+
_WIRE_VARINT = 0
_WIRE_BYTES = 2
_TENSOR_FLOAT = 1
_TENSOR_INT64 = 7
_ATTR_INT = 2
_ATTR_INTS = 7


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 as two's complement, as protobuf does
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int_field(num: int, value: int) -> bytes:
    return _varint((num << 3) | _WIRE_VARINT) + _varint(value)


def _bytes_field(num: int, value: bytes | str) -> bytes:
    data = value.encode("utf-8") if isinstance(value, str) else value
    return _varint((num << 3) | _WIRE_BYTES) + _varint(len(data)) + data


def _tensor(name: str, array: npt.NDArray[np.generic]) -> bytes:
    a = np.ascontiguousarray(array)
    if a.dtype == np.float32:
        dtype = _TENSOR_FLOAT
    elif a.dtype == np.int64:
        dtype = _TENSOR_INT64
    else:
        raise TypeError(f"unsupported initializer dtype {a.dtype}")
    raw = a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    # TensorProto: dims=1, data_type=2, name=8, raw_data=9
    return b"".join(_int_field(1, d) for d in a.shape) + _int_field(2, dtype) + _bytes_field(8, name) + _bytes_field(
        9, raw
    )


def _value_info(name: str, dims: Sequence[int | str]) -> bytes:
    # Dimension: dim_value=1 | dim_param=2; TensorShapeProto: dim=1; TypeProto.Tensor: elem_type=1, shape=2;
    # TypeProto: tensor_type=1; ValueInfoProto: name=1, type=2
    shape = b"".join(
        _bytes_field(1, _int_field(1, d) if isinstance(d, int) else _bytes_field(2, d)) for d in dims
    )
    tensor_type = _int_field(1, _TENSOR_FLOAT) + _bytes_field(2, shape)
    return _bytes_field(1, name) + _bytes_field(2, _bytes_field(1, tensor_type))


@dataclass
class GraphBuilder:
    """Collects nodes and initializers; :meth:`model` serialises an ``onnx.ModelProto``."""

    name: str
    _nodes: list[bytes] = field(default_factory=list)
    _inits: list[bytes] = field(default_factory=list)
    _count: int = 0

    def _fresh(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def constant(self, prefix: str, array: npt.NDArray[np.generic]) -> str:
        name = self._fresh(prefix)
        self._inits.append(_tensor(name, array))
        return name

    def node(
        self,
        op: str,
        inputs: Sequence[str],
        ints: dict[str, int] | None = None,
        int_lists: dict[str, Sequence[int]] | None = None,
        output: str | None = None,
    ) -> str:
        out = output or self._fresh(op.lower())
        attrs = []
        for key, value in (ints or {}).items():
            # AttributeProto: name=1, i=3, type=20
            attrs.append(_bytes_field(1, key) + _int_field(3, value) + _int_field(20, _ATTR_INT))
        for key, values in (int_lists or {}).items():
            # AttributeProto: name=1, ints=8 (repeated, unpacked), type=20
            attrs.append(
                _bytes_field(1, key) + b"".join(_int_field(8, v) for v in values) + _int_field(20, _ATTR_INTS)
            )
        # NodeProto: input=1, output=2, name=3, op_type=4, attribute=5
        self._nodes.append(
            b"".join(_bytes_field(1, i) for i in inputs)
            + _bytes_field(2, out)
            + _bytes_field(3, out)
            + _bytes_field(4, op)
            + b"".join(_bytes_field(5, a) for a in attrs)
        )
        return out

    def model(
        self,
        inputs: Sequence[tuple[str, Sequence[int | str]]],
        outputs: Sequence[tuple[str, Sequence[int | str]]],
        opset: int = 13,
        producer: str = "lifelog",
    ) -> bytes:
        # GraphProto: node=1, name=2, initializer=5, input=11, output=12
        graph = (
            b"".join(_bytes_field(1, n) for n in self._nodes)
            + _bytes_field(2, self.name)
            + b"".join(_bytes_field(5, t) for t in self._inits)
            + b"".join(_bytes_field(11, _value_info(n, d)) for n, d in inputs)
            + b"".join(_bytes_field(12, _value_info(n, d)) for n, d in outputs)
        )
        # ModelProto: ir_version=1, producer_name=2, graph=7, opset_import=8 (OperatorSetIdProto: version=2)
        return (
            _int_field(1, IR_VERSION)
            + _bytes_field(2, producer)
            + _bytes_field(7, graph)
            + _bytes_field(8, _int_field(2, opset))
        )


"""The bundled MiniLM's ONNX graph, written op by op from its safetensors weights (no torch).

all-MiniLM-L6-v2 is a BERT encoder (6 layers, 12 heads, 384 wide, exact GELU): this module
lays out the same computation as transformers' eager `BertModel` with `onnx.helper`, weights
read from `model.safetensors` straight into NumPy. Inputs and output match the torch export
(`input_ids`, `attention_mask`, `token_type_ids` -> `last_hidden_state`), so the embedder's
pooling and the index built from either are the same; tests check the vectors against the
torch export (max abs diff <= 1e-5).
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import numpy as np

OPSET = 17  # LayerNormalization is a standard op from 17 on
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "last_hidden_state"
DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64}


def read_safetensors(path: Path) -> dict[str, np.ndarray]:
    """Read a .safetensors file into NumPy arrays (8-byte header size, JSON header, data)."""
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + size])
    data = memoryview(raw)[8 + size :]
    tensors: dict[str, np.ndarray] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        dtype = DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path.name}: tensor {name} has unsupported dtype {info['dtype']}")
        array = np.frombuffer(data[start:end], dtype=np.dtype(dtype).newbyteorder("<"))
        tensors[name] = array.reshape(info["shape"]).astype(dtype)
    return tensors


class _Graph:
    """Collects nodes and initializers with unique names."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._n = 0

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, kind: str, *inputs: str, **attrs: Any) -> str:
        from onnx import helper

        self._n += 1
        out = f"{kind.lower()}_{self._n}"
        self.nodes.append(helper.make_node(kind, list(inputs), [out], name=out, **attrs))
        return out

    def linear(self, x: str, weights: dict[str, np.ndarray], prefix: str) -> str:
        """x @ W.T + b, as torch.nn.Linear (W stored [out, in])."""
        w = self.const(f"{prefix}.weight_t", weights[f"{prefix}.weight"].T.astype(np.float32))
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("Add", self.op("MatMul", x, w), b)

    def layer_norm(self, x: str, weights: dict[str, np.ndarray], prefix: str, eps: float) -> str:
        g = self.const(f"{prefix}.weight", weights[f"{prefix}.weight"].astype(np.float32))
        b = self.const(f"{prefix}.bias", weights[f"{prefix}.bias"].astype(np.float32))
        return self.op("LayerNormalization", x, g, b, axis=-1, epsilon=eps)


def _embeddings(g: _Graph, w: dict[str, np.ndarray], eps: float) -> str:
    """Word + token-type + position embeddings, then LayerNorm (as BertEmbeddings)."""
    word = g.op(
        "Gather", g.const("word_embeddings", w["embeddings.word_embeddings.weight"]), INPUTS[0]
    )
    kind = g.op(
        "Gather",
        g.const("token_type_embeddings", w["embeddings.token_type_embeddings.weight"]),
        INPUTS[2],
    )
    # position_ids[:, :seq] as in the torch export (1-D slice bounds, which onnxruntime's
    # embedding fusion expects; a scalar Range breaks it)
    first, second = g.const("i_0", np.array([0], np.int64)), g.const("i_1", np.array([1], np.int64))
    seq = g.op("Slice", g.op("Shape", INPUTS[0]), second, g.const("i_2", np.array([2], np.int64)))
    table = g.const(
        "position_ids",
        np.arange(int(w["embeddings.position_embeddings.weight"].shape[0]), dtype=np.int64)[
            None, :
        ],
    )
    positions = g.op("Slice", table, first, seq, second)
    pos = g.op(
        "Gather",
        g.const("position_embeddings", w["embeddings.position_embeddings.weight"]),
        positions,
    )
    summed = g.op("Add", g.op("Add", word, kind), pos)
    return g.layer_norm(summed, w, "embeddings.LayerNorm", eps)


def _mask_bias(g: _Graph) -> str:
    """(1 - mask) * float32.min, shaped [batch, 1, 1, seq], as transformers' extended mask."""
    mask = g.op("Cast", INPUTS[1], to=1)  # FLOAT
    inverted = g.op("Sub", g.const("f_one", np.array(1.0, np.float32)), mask)
    bias = g.op("Mul", inverted, g.const("f_min", np.array(np.finfo(np.float32).min, np.float32)))
    return g.op("Unsqueeze", bias, g.const("axes_1_2", np.array([1, 2], np.int64)))


def _layer(
    g: _Graph, w: dict[str, np.ndarray], x: str, i: int, cfg: dict[str, Any], bias: str
) -> str:
    """One encoder layer: self-attention, add & norm, GELU feed-forward, add & norm."""
    heads = int(cfg["num_attention_heads"])
    size = int(cfg["hidden_size"]) // heads
    eps = float(cfg["layer_norm_eps"])
    p = f"encoder.layer.{i}"
    split = g.const(f"split_{i}", np.array([0, 0, heads, size], np.int64))

    def heads_of(name: str, perm: list[int]) -> str:
        projected = g.linear(x, w, f"{p}.attention.self.{name}")
        return g.op("Transpose", g.op("Reshape", projected, split), perm=perm)

    q = heads_of("query", [0, 2, 1, 3])
    k = heads_of("key", [0, 2, 3, 1])
    v = heads_of("value", [0, 2, 1, 3])
    scale = g.const(f"scale_{i}", np.array(math.sqrt(size), np.float32))
    scores = g.op("Add", g.op("Div", g.op("MatMul", q, k), scale), bias)
    context = g.op("MatMul", g.op("Softmax", scores, axis=-1), v)
    merged = g.op(
        "Reshape",
        g.op("Transpose", context, perm=[0, 2, 1, 3]),
        g.const(f"merge_{i}", np.array([0, 0, heads * size], np.int64)),
    )
    attended = g.op("Add", g.linear(merged, w, f"{p}.attention.output.dense"), x)
    x = g.layer_norm(attended, w, f"{p}.attention.output.LayerNorm", eps)
    inner = g.linear(x, w, f"{p}.intermediate.dense")
    erf = g.op("Erf", g.op("Div", inner, g.const(f"sqrt2_{i}", np.array(math.sqrt(2), np.float32))))
    half = g.const(f"half_{i}", np.array(0.5, np.float32))
    gelu = g.op("Mul", g.op("Mul", inner, half), g.op("Add", erf, "f_one"))
    out = g.op("Add", g.linear(gelu, w, f"{p}.output.dense"), x)
    return g.layer_norm(out, w, f"{p}.output.LayerNorm", eps)


def build_model(model_dir: Path) -> Any:
    """Return the `onnx.ModelProto` of the BERT encoder in `model_dir` (config + safetensors)."""
    from onnx import TensorProto, checker, helper

    cfg = json.loads((model_dir / "config.json").read_text())
    if cfg.get("model_type") != "bert" or cfg.get("hidden_act") != "gelu":
        raise ValueError(f"{model_dir}: not a BERT model with exact GELU")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError(f"{model_dir}: only absolute position embeddings are supported")
    weights = {
        k.removeprefix("bert."): v
        for k, v in read_safetensors(model_dir / "model.safetensors").items()
    }
    g = _Graph()
    bias = _mask_bias(g)
    x = _embeddings(g, weights, float(cfg["layer_norm_eps"]))
    for i in range(int(cfg["num_hidden_layers"])):
        x = _layer(g, weights, x, i, cfg, bias)
    g.nodes.append(helper.make_node("Identity", [x], [OUTPUT], name="output"))
    dims = ["batch", "seq"]
    graph = helper.make_graph(
        g.nodes,
        "minilm",
        [helper.make_tensor_value_info(n, TensorProto.INT64, dims) for n in INPUTS],
        [
            helper.make_tensor_value_info(
                OUTPUT, TensorProto.FLOAT, [*dims, int(cfg["hidden_size"])]
            )
        ],
        initializer=g.inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="paperchat"
    )
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    checker.check_model(model)
    return model


def write_model(model_dir: Path, out: Path) -> None:
    """Build the graph and save it to `out`."""
    import onnx

    onnx.save_model(build_model(model_dir), str(out))

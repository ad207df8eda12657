"""Can an artifact run on a target? Its ops and dtypes against what each runtime or delegate takes.

The op lists are the runtimes' own published ones (sources beside each); they change between
releases, so a check that fails here is a strong hint, not a proof: `edgekit bench --on` is.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from edgekit import formats
from edgekit.errors import ModelLoadError
from edgekit.manifest import size_of

# https://coral.ai/docs/edgetpu/models-intro/#supported-operations
EDGETPU_OPS = set(
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE "
    "EXPAND_DIMS FULLY_CONNECTED GATHER HARD_SWISH L2_NORMALIZATION LOGISTIC LSTM MAXIMUM "
    "MAX_POOL_2D MEAN MINIMUM MUL PACK PAD PRELU QUANTIZE REDUCE_MAX REDUCE_MIN RELU RELU6 "
    "RELU_N1_TO_1 RESHAPE RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SLICE SOFTMAX "
    "SPACE_TO_DEPTH SPLIT SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM TANH TRANSPOSE "
    "TRANSPOSE_CONV UNPACK".split()
)
# https://ai.google.dev/edge/litert/performance/gpu#supported_ops (and gpu/common/operations)
GPU_DELEGATE_OPS = set(
    "ABS ADD AVERAGE_POOL_2D BATCH_MATMUL CAST CONCATENATION CONV_2D COS CUMSUM "
    "DEPTHWISE_CONV_2D DEPTH_TO_SPACE DEQUANTIZE DIV ELU EQUAL EXP FLOOR FLOOR_DIV FLOOR_MOD "
    "FULLY_CONNECTED GATHER GREATER GREATER_EQUAL HARD_SWISH LESS LESS_EQUAL LEAKY_RELU LOG "
    "LOGISTIC LSTM MAXIMUM MAX_POOL_2D MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD POW "
    "PRELU QUANTIZE REDUCE_MAX REDUCE_MIN REDUCE_PROD RELU RELU6 RELU_N1_TO_1 RESHAPE "
    "RESIZE_BILINEAR RESIZE_NEAREST_NEIGHBOR RSQRT SELECT_V2 SIN SLICE SOFTMAX SPACE_TO_DEPTH "
    "SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE STRIDED_SLICE SUB SUM TANH TILE TRANSPOSE "
    "TRANSPOSE_CONV".split()
)
# https://ai.google.dev/edge/litert/ios/coreml (Supported ops; float models only, A12 and later)
COREML_DELEGATE_OPS = set(
    "ADD AVERAGE_POOL_2D CONCATENATION CONV_2D DEPTHWISE_CONV_2D FULLY_CONNECTED HARD_SWISH "
    "LOGISTIC MAX_POOL_2D MIRROR_PAD MEAN MUL PAD RELU RELU_N1_TO_1 RELU6 RESHAPE "
    "RESIZE_BILINEAR SOFTMAX TANH TRANSPOSE_CONV".split()
)
# what an ahead-of-time compile leaves in the .tflite: one custom op per NPU partition
# (LiteRT's compiler plugins, ai_edge_litert.aot), or edgetpu_compiler's one op per TPU segment
NPU_DISPATCH_OP = "CUSTOM:DISPATCH_OP"
EDGETPU_CUSTOM_OP = "CUSTOM:edgetpu-custom-op"
# ONNX ops TensorRT 10's ONNX parser marks unsupported (onnx/onnx-tensorrt docs/operators.md);
# QOperator-style int8 ops among them: TensorRT wants QuantizeLinear/DequantizeLinear pairs
TENSORRT_MISSING = set(
    "Bernoulli BitwiseAnd BitwiseNot BitwiseOr BitwiseXor BlackmanWindow Col2Im "
    "ConcatFromSequence ConvInteger DFT Det HammingWindow HannWindow ImageDecoder "
    "LabelEncoder MatMulInteger MelWeightMatrix Multinomial Optional OptionalGetElement "
    "OptionalHasElement QLinearConv QLinearMatMul RegexFullMatch STFT SequenceAt "
    "SequenceConstruct SequenceEmpty SequenceErase SequenceInsert SequenceLength SequenceMap "
    "SplitToSequence StringConcat StringNormalizer StringSplit TfIdfVectorizer Unique".split()
)
ORT_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "com.microsoft"}  # ONNX Runtime's CPU kernels
INT_TYPES = {"int8", "uint8"}
FLOAT_TYPES = {"float32", "float16", "bfloat16"}
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 7: "int16"}
_TFLITE_TYPES.update({9: "int8", 6: "bool", 10: "float64", 16: "bfloat16"})


@dataclass
class ArtifactInfo:
    """What the doctor needs to know about an artifact, read without running it."""

    path: Path
    format: str
    ops: Counter = field(default_factory=Counter)  # op type -> count
    compute_dtypes: Counter = field(default_factory=Counter)  # dtype of compute ops' inputs
    weight_bytes: int = 0
    activation_bytes: int = 0  # sum of non-constant tensors (an upper bound)
    domains: set[str] = field(default_factory=set)
    custom: list[str] = field(default_factory=list)  # custom op codes (Flex, edgetpu)
    stamp: str = ""  # an NPU build's LiteRT build stamp: the SoC it was compiled for


def read(path: Path) -> ArtifactInfo:
    """Ops, dtypes and sizes of a .tflite, .onnx, OpenVINO .xml, ncnn .param or .mlpackage."""
    p = Path(path)
    if not p.exists():
        raise ModelLoadError(f"artifact not found; got: {p}")
    fmt = formats.of_path(p).name
    p = formats.main_file(p)
    if fmt == "coreml":
        return ArtifactInfo(p, "coreml", weight_bytes=size_of(p))
    return {"tflite": _tflite, "onnx": _onnx, "openvino": _openvino, "ncnn": _ncnn}[fmt](p)


def _tflite(p: Path) -> ArtifactInfo:
    from edgekit.flatbuffer import schema as flatbuffer_schema
    from edgekit.runtimes.tflite import validate

    flat = p.read_bytes()
    # bounds-checked: a corrupt file is a ModelLoadError, not a crash
    metadata = validate(flat, p.name)
    schema = flatbuffer_schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(flat, 0)
    info = ArtifactInfo(p, "tflite")
    # LiteRT's build stamp: the SoC manufacturer and model, NUL-padded
    stamp = metadata.get("LiteRtStamp", "")
    info.stamp = " ".join(w for w in re.split(r"[\x00-\x1f]+", stamp) if w.isprintable() and w)
    sg = model.Subgraphs(0)
    tensors = [sg.Tensors(i) for i in range(sg.TensorsLength())]
    const = [model.Buffers(t.Buffer()).DataLength() > 0 for t in tensors]
    for t, is_const in zip(tensors, const):
        size = _tensor_bytes(list(t.ShapeAsNumpy()) if t.ShapeLength() else [], t.Type())
        if is_const:
            info.weight_bytes += size
        else:
            info.activation_bytes += size
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if name == "CUSTOM":
            custom = (code.CustomCode() or b"").decode(errors="replace")
            info.custom.append(custom)
            name = f"CUSTOM:{custom}"
        info.ops[name] += 1
        ins = [int(x) for x in op.InputsAsNumpy()] if op.InputsLength() else []
        if ins and ins[0] >= 0 and name not in ("QUANTIZE", "DEQUANTIZE"):
            info.compute_dtypes[_TFLITE_TYPES.get(tensors[ins[0]].Type(), "other")] += 1
    return info


def _tensor_bytes(shape: list, type_code: int) -> int:
    width = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 7: 2, 9: 1, 10: 8, 16: 2}.get(type_code, 4)
    n = 1
    for d in shape:
        n *= max(int(d), 1)
    return n * width


def _onnx(p: Path) -> ArtifactInfo:
    from edgekit._deps import need

    onnx = need("onnx", what="reading ONNX ops")
    try:
        model = onnx.load(str(p), load_external_data=False)
    except Exception as e:
        raise ModelLoadError(f"{p.name} is not a valid ONNX model: {str(e)[:200]}") from e
    info = ArtifactInfo(p, "onnx", weight_bytes=p.stat().st_size)
    types = {i.name: i.data_type for i in model.graph.initializer}
    for vi in list(model.graph.input) + list(model.graph.value_info):
        types.setdefault(vi.name, vi.type.tensor_type.elem_type)
    names = {1: "float32", 10: "float16", 16: "bfloat16", 3: "int8", 2: "uint8", 7: "int64"}
    for node in model.graph.node:
        info.ops[node.op_type] += 1
        info.domains.add(node.domain)
        if node.input and node.input[0] in types:
            info.compute_dtypes[names.get(types[node.input[0]], "other")] += 1
    return info


def _openvino(p: Path) -> ArtifactInfo:
    try:
        root = ET.parse(p).getroot()
    except (ET.ParseError, OSError) as e:
        raise ModelLoadError(f"{p.name} is not a valid OpenVINO IR: {e}") from e
    weights = p.with_suffix(".bin")
    info = ArtifactInfo(
        p, "openvino", weight_bytes=weights.stat().st_size if weights.exists() else 0
    )
    for layer in root.iter("layer"):
        kind = layer.get("type", "")
        info.ops[kind] += 1
        if kind == "Const":
            continue
        port = layer.find("input/port")
        if port is not None and port.get("precision"):
            info.compute_dtypes[_ov_type(port.get("precision"))] += 1
    return info


def _ov_type(precision: str) -> str:
    return {
        "FP32": "float32",
        "FP16": "float16",
        "BF16": "bfloat16",
        "I8": "int8",
        "U8": "uint8",
    }.get(precision.upper(), precision.lower())


def _ncnn(p: Path) -> ArtifactInfo:
    lines = p.read_text(errors="replace").splitlines()
    if not lines or lines[0].strip() != "7767517":
        raise ModelLoadError(f"{p.name} is not an ncnn .param file (no 7767517 magic)")
    weights = p.with_suffix(".bin")
    info = ArtifactInfo(p, "ncnn", weight_bytes=weights.stat().st_size if weights.exists() else 0)
    for line in lines[2:]:
        parts = line.split()
        if parts:
            info.ops[parts[0]] += 1
    info.compute_dtypes["float32"] = sum(info.ops.values())  # ncnn picks fp16 itself where it can
    return info


def is_fully_integer(info: ArtifactInfo) -> bool:
    """Every compute op takes int8/uint8 inputs (what the Edge TPU and NNAPI int8 need)."""
    floats = sum(n for d, n in info.compute_dtypes.items() if d in FLOAT_TYPES)
    return floats == 0 and bool(info.compute_dtypes)


def takes(runtime: str, fmt: str, op: str) -> bool | None:
    """Whether a runtime's accelerator path takes one op type of a `fmt` artifact: True, False
    (it runs on the CPU, or not at all for a CPU runtime), or None when no list is published
    (vendor NPU compilers decide for themselves; `edgekit convert --to tflite:npu` records it)."""
    if fmt == "tflite":
        if op == NPU_DISPATCH_OP or op == EDGETPU_CUSTOM_OP:
            return runtime in ("litert-npu", "edgetpu")  # compiled for that unit only
        if runtime == "edgetpu":
            return op in EDGETPU_OPS
        if runtime in ("tflite-gpu", "litert-gpu"):  # the same GPU kernels (ML Drift)
            return op in GPU_DELEGATE_OPS
        if runtime == "tflite-coreml":
            return op in COREML_DELEGATE_OPS
        if runtime in ("tflite", "nnapi"):
            return not re.match(r"CUSTOM:Flex", op)  # Flex ops need full TensorFlow
        return None
    if fmt == "onnx" and runtime == "tensorrt":
        return op not in TENSORRT_MISSING
    return None


def unsupported(info: ArtifactInfo, runtime: str) -> list[str]:
    """Op types the runtime (or its delegate) cannot take; for delegates they fall back to CPU."""
    if runtime == "onnxruntime" and info.format == "onnx":
        return sorted(f"{d}:*" for d in info.domains - ORT_DOMAINS)
    if runtime == "litert-npu" and NPU_DISPATCH_OP in info.ops:
        # a compiled artifact: what the vendor compiler left as builtins runs on the CPU
        return sorted(o for o in info.ops if o != NPU_DISPATCH_OP)
    return sorted(o for o in info.ops if takes(runtime, info.format, o) is False)

"""Artifact readers for the cost model: TFLite flatbuffer, OpenVINO IR, ONNX and Core ML spec.

Each reads the graph as stored (no runtime, no compilation), so costs work for every format on
any machine; the TFLite file is walked bounds-checked first, like the runtime does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from edgekit._deps import need
from edgekit.costmodel.ops import (
    ModelCost,
    OpCost,
    OpKind,
    dominant_precision,
    elementwise_kind,
    matmul_op,
    prod,
    simple_op,
)
from edgekit.errors import ModelLoadError

# bytes per element and the precision of the arithmetic, by each format's dtype name
_DTYPES = {
    "float32": (4, "fp32"), "f32": (4, "fp32"), "fp32": (4, "fp32"),
    "float16": (2, "fp16"), "f16": (2, "fp16"), "fp16": (2, "fp16"),
    "int8": (1, "int8"), "i8": (1, "int8"), "uint8": (1, "int8"), "u8": (1, "int8"),
    "int16": (2, "int8"), "i16": (2, "int8"), "int32": (4, "fp32"), "i32": (4, "fp32"),
    "int64": (8, "fp32"), "i64": (8, "fp32"), "bool": (1, "fp32"), "boolean": (1, "fp32"),
    "u4": (0.5, "int8"), "i4": (0.5, "int8"), "u1": (0.125, "int8"),
}  # fmt: skip
_TFLITE_TYPES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool",
                 7: "int16", 9: "int8"}  # fmt: skip


def _width(dtype: str) -> float:
    return _DTYPES.get(str(dtype).lower(), (4, "fp32"))[0]


def _prec(dtype: str) -> str:
    return _DTYPES.get(str(dtype).lower(), (4, "fp32"))[1]


def _finish(path: Path, fmt: str, ops: list[OpCost], tally: Counter, io: float = 0) -> ModelCost:
    return ModelCost(str(path), fmt, dominant_precision(tally), ops, int(io))


# ---- TFLite -------------------------------------------------------------------------------


def tflite_costs(path: Path) -> ModelCost:
    """Costs of a `.tflite` flatbuffer, read with the LiteRT schema."""
    from edgekit.flatbuffer import schema as flatbuffer_schema
    from edgekit.runtimes.tflite import validate

    flat = Path(path).read_bytes()
    validate(flat, Path(path).name)  # bounds-checked walk: a corrupt file is an error
    schema = flatbuffer_schema()
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    model = schema.Model.GetRootAs(flat, 0)
    sg = model.Subgraphs(0)
    tensors = [sg.Tensors(i) for i in range(sg.TensorsLength())]
    const = [model.Buffers(t.Buffer()).DataLength() > 0 for t in tensors]
    dtype = [_TFLITE_TYPES.get(t.Type(), "float32") for t in tensors]
    shape = [list(t.ShapeAsNumpy()) if t.ShapeLength() else [] for t in tensors]
    # fp16 weights: DEQUANTIZE(const fp16) -> fp32 weight; charge the fp16 bytes to the consumer
    dequant: dict[int, int] = {}
    ops, tally = [], Counter()
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        name = names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        if name == "CUSTOM":  # as edgekit.device.checks names them (CUSTOM:edgetpu-custom-op)
            name = f"CUSTOM:{(code.CustomCode() or b'').decode(errors='replace')}"
        ins = [int(x) for x in op.InputsAsNumpy() if x >= 0] if op.InputsLength() else []
        outs = [int(x) for x in op.OutputsAsNumpy()] if op.OutputsLength() else []
        if name == "DEQUANTIZE" and ins and const[ins[0]]:
            dequant[outs[0]] = prod(shape[ins[0]]) * _width(dtype[ins[0]])
            continue

        def wbytes(t: int) -> float:
            return dequant.get(t, prod(shape[t]) * _width(dtype[t]) if const[t] else 0)

        act_idx = [t for t in ins + outs if not const[t] and t not in dequant]
        act = sum(prod(shape[t]) * _width(dtype[t]) for t in act_idx)
        out_shape = shape[outs[0]] if outs else []
        op_name = f"{name.lower()}_{i}"
        if name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV"):
            w = ins[1]
            kind = {"CONV_2D": OpKind.CONV, "DEPTHWISE_CONV_2D": OpKind.DEPTHWISE,
                    "FULLY_CONNECTED": OpKind.DENSE}.get(name, OpKind.CONV)  # fmt: skip
            cout = shape[w][-1] if name == "DEPTHWISE_CONV_2D" else shape[w][0]
            wb = sum(wbytes(t) for t in ins)
            c = matmul_op(op_name, kind, out_shape, shape[w], cout,
                          weight_bytes=wb, act_elems=act, elem_bytes=1)  # fmt: skip
            tally[_prec(dtype[w]) if w not in dequant else "fp16"] += c.macs
        elif name == "BATCH_MATMUL" and len(ins) == 2:
            k = shape[ins[0]][-1] if shape[ins[0]] else 1
            kind = OpKind.DENSE if const[ins[1]] or ins[1] in dequant else OpKind.ATTENTION
            c = OpCost(op_name, kind, prod(out_shape) * k, int(wbytes(ins[1])), int(act))
            tally[_prec(dtype[ins[0]])] += c.macs
        else:
            c = simple_op(op_name, elementwise_kind(name), out_shape, act, 1)
            c.weight_bytes = int(sum(wbytes(t) for t in ins))
        c.op = name
        ops.append(c)
    io = [int(t) for t in list(sg.InputsAsNumpy()) + list(sg.OutputsAsNumpy())]
    return _finish(path, "tflite", ops, tally, sum(prod(shape[t]) * _width(dtype[t]) for t in io))


# ---- OpenVINO IR --------------------------------------------------------------------------

_OV_MATMUL = {"Convolution": OpKind.CONV, "GroupConvolution": OpKind.DEPTHWISE,
              "MatMul": OpKind.DENSE, "ConvolutionBackpropData": OpKind.CONV}  # fmt: skip
_OV_PASS = ("Convert", "FakeQuantize", "Multiply", "Subtract", "Reshape", "Transpose")
_OV_SKIP = {"Parameter", "Result", "Const", "Convert", "FakeQuantize", "ShapeOf"}


def openvino_costs(path: Path) -> ModelCost:
    """Costs of an OpenVINO IR `.xml` (shapes and weight sizes are in the XML itself)."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError) as e:
        raise ModelLoadError(f"{Path(path).name} is not a readable OpenVINO IR ({e})") from e
    layers = {ly.get("id"): ly for ly in root.iter("layer")}
    feeds = {(e.get("to-layer"), e.get("to-port")): e.get("from-layer") for e in root.iter("edge")}
    ops, tally = [], Counter()
    for lid, ly in layers.items():
        kind_name = ly.get("type", "")
        if kind_name in _OV_SKIP:
            continue
        ins = [_ov_dims(p) for p in ly.findall("./input/port")]
        outs = [_ov_dims(p) for p in ly.findall("./output/port")]
        out_shape, out_type = outs[0] if outs else ([], "f32")
        in_ports = [p.get("id") for p in ly.findall("./input/port")]
        const_in = [_ov_const(layers, feeds, lid, pid) for pid in in_ports]
        wb = sum(c[0] for c in const_in if c)
        act = sum(prod(s) * _width(t) for (s, t), c in zip(ins, const_in) if not c)
        act += sum(prod(s) * _width(t) for s, t in outs)
        name = ly.get("name", lid)
        if kind_name in _OV_MATMUL and len(ins) >= 2:
            w_shape = ins[1][0]
            kind = _OV_MATMUL[kind_name]
            if kind_name == "GroupConvolution" and not (
                len(w_shape) > 2 and w_shape[1:3] == [1, 1]
            ):
                kind = OpKind.CONV
            if kind_name == "MatMul" and not const_in[1]:
                kind = OpKind.ATTENTION
            cout = out_shape[1] if kind != OpKind.ATTENTION and len(out_shape) > 1 else 1
            if kind_name == "MatMul":
                cout = out_shape[-1] if out_shape else 1
            c = matmul_op(name, kind, out_shape, w_shape, cout,
                          weight_bytes=wb, act_elems=act, elem_bytes=1)  # fmt: skip
            tally[const_in[1][1] if const_in[1] else "fp32"] += c.macs
        else:
            c = simple_op(name, elementwise_kind(kind_name), out_shape, act, 1)
            c.weight_bytes = int(wb)
        c.op = kind_name
        ops.append(c)
    io = [_ov_dims(p) for ly in layers.values() if ly.get("type") in ("Parameter", "Result")
          for p in ly.findall("./output/port") + ly.findall("./input/port")]  # fmt: skip
    return _finish(path, "openvino", ops, tally, sum(prod(s) * _width(t) for s, t in io))


def _ov_dims(port) -> tuple[list[int], str]:
    dims = [int(d.text) if d.text and d.text.lstrip("-").isdigit() else 1 for d in port.iter("dim")]
    return dims, port.get("precision", "FP32").lower()


def _ov_const(layers, feeds, lid: str, port: str, hops: int = 4):
    """(bytes, precision) of the constant feeding this input port, following converts."""
    src = feeds.get((lid, port))
    for _ in range(hops):
        ly = layers.get(src)
        if ly is None:
            return None
        if ly.get("type") == "Const":
            data = ly.find("data")
            size = int(data.get("size", 0)) if data is not None else 0
            return size, _prec(data.get("element_type", "f32") if data is not None else "f32")
        if ly.get("type") not in _OV_PASS:
            return None
        src = feeds.get((src, ly.find("./input/port").get("id")))
    return None


# ---- ONNX ---------------------------------------------------------------------------------

_ONNX_TYPES = {1: "float32", 10: "float16", 3: "int8", 2: "uint8", 6: "int32", 7: "int64"}


def onnx_costs(path: Path) -> ModelCost:
    """Costs of an ONNX model, with shapes from ONNX shape inference."""
    onnx = need("onnx", what="reading ONNX costs")
    try:
        model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    except Exception as e:  # DecodeError, ValidationError, ...
        raise ModelLoadError(f"{Path(path).name} is not a readable ONNX model ({e})") from e
    g = model.graph
    info = {}
    for v in list(g.input) + list(g.value_info) + list(g.output):
        t = v.type.tensor_type
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in t.shape.dim]
        info[v.name] = (dims, _ONNX_TYPES.get(t.elem_type, "float32"))
    inits = {i.name: (list(i.dims), _ONNX_TYPES.get(i.data_type, "float32")) for i in g.initializer}
    ops, tally = [], Counter()
    for k, node in enumerate(g.node):
        if node.op_type in ("Constant", "Shape"):
            continue
        ins = [n for n in node.input if n]
        wb = sum(prod(inits[n][0]) * _width(inits[n][1]) for n in ins if n in inits)
        act = sum(prod(info[n][0]) * _width(info[n][1]) for n in ins if n in info)
        act += sum(prod(info[n][0]) * _width(info[n][1]) for n in node.output if n in info)
        out_shape, out_type = info.get(node.output[0], ([], "float32"))
        name = node.name or f"{node.op_type.lower()}_{k}"
        w = inits.get(ins[1]) if len(ins) > 1 else None
        if node.op_type in ("Conv", "ConvTranspose") and w:
            depthwise = len(w[0]) > 1 and w[0][1] == 1 and _group(node) > 1
            kind = OpKind.DEPTHWISE if depthwise else OpKind.CONV
            c = matmul_op(name, kind, out_shape, w[0], w[0][0],
                          weight_bytes=wb, act_elems=act, elem_bytes=1)  # fmt: skip
            tally[_prec(w[1])] += c.macs
        elif node.op_type in ("Gemm", "MatMul") and len(ins) > 1:
            a = info.get(ins[0], inits.get(ins[0], ([1], "float32")))[0]
            kdim = a[-1] if a else 1
            kind = OpKind.DENSE if w else OpKind.ATTENTION
            c = OpCost(name, kind, prod(out_shape) * kdim, int(wb), int(act))
            tally[_prec(out_type)] += c.macs
        else:
            c = simple_op(name, elementwise_kind(node.op_type), out_shape, act, 1)
            c.weight_bytes = int(wb)
        c.op = node.op_type
        ops.append(c)
    io = [info[v.name] for v in list(g.input) + list(g.output) if v.name in info]
    return _finish(path, "onnx", ops, tally, sum(prod(s) * _width(t) for s, t in io))


def _group(node) -> int:
    return next((a.i for a in node.attribute if a.name == "group"), 1)


# ---- Core ML ------------------------------------------------------------------------------

_ML_TYPES = {
    11: "float32",
    10: "float16",
    21: "int8",
    31: "uint8",
    23: "int32",
    24: "int64",
    25: "i4",
    35: "u4",
}  # MIL_pb2.DataType
_ML_CONST = ("const", "constexpr_affine_dequantize", "constexpr_lut_to_dense",
             "constexpr_blockwise_shift_scale", "constexpr_sparse_to_dense")  # fmt: skip


def coreml_costs(path: Path) -> ModelCost:
    """Costs of a Core ML ML Program (`.mlpackage`, `.mlmodel`) read from its protobuf spec."""
    spec = _coreml_spec(Path(path))
    if not spec.HasField("mlProgram"):
        raise ModelLoadError(
            f"{Path(path).name} is a neural-network Core ML model; costs read ML Programs only "
            "(convert with edgekit, which writes ML Programs)"
        )
    fn = spec.mlProgram.functions["main"]
    block = fn.block_specializations[fn.opset]
    types: dict[str, tuple[list[int], str]] = {}
    for v in fn.inputs:
        types[v.name] = _ml_type(v.type)
    consts: dict[str, float] = {}  # name -> stored bytes
    ops, tally = [], Counter()
    for k, op in enumerate(block.operations):
        for o in op.outputs:
            types[o.name] = _ml_type(o.type)
        if op.type in _ML_CONST:
            consts[op.outputs[0].name] = _ml_stored(op, types[op.outputs[0].name])
            continue
        args = {n: [a.name for a in arg.arguments if a.name] for n, arg in op.inputs.items()}
        names = [a for v in args.values() for a in v]
        wb = sum(consts[a] for a in names if a in consts)
        act = sum(prod(types[a][0]) * _width(types[a][1]) for a in names
                  if a in types and a not in consts)  # fmt: skip
        out_shape, out_type = types[op.outputs[0].name] if op.outputs else ([], "float32")
        act += prod(out_shape) * _width(out_type)
        name = op.outputs[0].name if op.outputs else f"{op.type}_{k}"
        weight = (args.get("weight") or args.get("y") or [None])[0]
        if op.type in ("conv", "conv_transpose", "linear", "matmul") and weight in types:
            w_shape = types[weight][0]
            kind = {"linear": OpKind.DENSE, "matmul": OpKind.DENSE}.get(op.type, OpKind.CONV)
            cout = w_shape[0] if kind == OpKind.CONV else out_shape[-1] if out_shape else 1
            if kind == OpKind.CONV and len(w_shape) > 1 and w_shape[1] == 1 and w_shape[0] > 1:
                kind = OpKind.DEPTHWISE
            if op.type == "matmul" and weight not in consts:
                kind = OpKind.ATTENTION
                w_shape, cout = [types[weight][0][-2]], 1
            c = matmul_op(name, kind, out_shape, w_shape, cout,
                          weight_bytes=wb, act_elems=act, elem_bytes=1)  # fmt: skip
            tally[_prec(types[weight][1]) if weight not in consts else _ml_prec(wb, w_shape)] += (
                c.macs
            )
        else:
            c = simple_op(name, elementwise_kind(op.type), out_shape, act, 1)
            c.weight_bytes = int(wb)
        c.op = op.type
        ops.append(c)
    io = [types[n] for n in [v.name for v in fn.inputs] + list(block.outputs) if n in types]
    return _finish(path, "coreml", ops, tally, sum(prod(s) * _width(t) for s, t in io))


def _coreml_spec(path: Path):
    need("coremltools", what="reading Core ML costs")
    from coremltools.proto import Model_pb2

    file = path
    if path.is_dir():
        file = next(iter(path.glob("Data/com.apple.CoreML/*.mlmodel")), None)
        if file is None:
            raise ModelLoadError(f"{path.name} has no Data/com.apple.CoreML/*.mlmodel inside")
    spec = Model_pb2.Model()
    try:
        spec.ParseFromString(Path(file).read_bytes())
    except Exception as e:  # google.protobuf DecodeError
        raise ModelLoadError(f"{path.name} is not a readable Core ML model ({e})") from e
    return spec


def _ml_type(vt) -> tuple[list[int], str]:
    t = vt.tensorType
    dims = [int(d.constant.size) if d.HasField("constant") else 1 for d in t.dimensions]
    return dims, _ML_TYPES.get(t.dataType, "float32")


def _ml_stored(op, dense: tuple[list[int], str]) -> float:
    """Bytes a constant takes as stored: compressed (constexpr) weights count one byte each,
    an upper bound for 4- and 6-bit palettes."""
    elems = prod(dense[0])
    return elems * _width(dense[1]) if op.type == "const" else elems


def _ml_prec(stored: float, shape: list[int]) -> str:
    per = stored / max(prod(shape), 1)
    return "fp32" if per >= 4 else "fp16" if per >= 2 else "int8"

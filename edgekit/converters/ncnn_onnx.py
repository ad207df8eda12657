"""ONNX rewrites before pnnx: what tf2onnx writes and pnnx leaves unmapped (a Pad without its
mode, min/max over several axes, a one-axis ReduceSum, `divide_no_nan`, Keras 3 embedding
lookups), each replaced by an exact equivalent that pnnx maps to ncnn layers. Each rewrite
returns how many places it changed; `ncnn_ready` drops what they leave unused. Parity still
checks every ncnn artifact against the original model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def ncnn_ready(path: Path) -> list[str]:
    """Rewrite the ONNX model at `path` in place for pnnx; what was rewritten, for the log."""
    import onnx

    model = onnx.load(str(path))
    rewrites = {
        "Pad modes": _pad_modes,
        "multi-axis ReduceMax/ReduceMin": _single_axis_reductions,
        "one-axis ReduceSum": _sum_axes_as_list,
        "divide_no_nan": _divide_no_nan,
        "embedding lookups": _lookups_as_one_hot,
    }
    done = [f"{n} {what}" for what, rewrite in rewrites.items() if (n := rewrite(model))]
    if done:
        _prune(model.graph)
        onnx.save(model, str(path))
    return done


def _pad_modes(model) -> int:
    """Pad's mode defaults to constant and tf2onnx leaves it out; pnnx maps a Pad only when the
    mode is spelled out (its pattern captures it), else writes a `Pad` layer ncnn lacks."""
    from onnx import helper

    pads = [n for n in model.graph.node if n.op_type == "Pad" and _attr(n, "mode") is None]
    for node in pads:
        node.attribute.append(helper.make_attribute("mode", "constant"))
    return len(pads)


def _single_axis_reductions(model) -> int:
    """pnnx maps ReduceMax/ReduceMin over one axis or all of them; over some (tf.reduce_min(x,
    [1, 2])) it writes the ONNX op as it is. The max over several axes is the max over one
    after the other, highest first, so the lower axes keep their numbers."""
    from onnx import helper

    ranks, nodes, n = _ranks(model), [], 0
    for node in model.graph.node:
        axes, rank = _attr(node, "axes"), ranks.get(node.input[0])
        if node.op_type not in ("ReduceMax", "ReduceMin") or not axes or len(axes) < 2:
            nodes.append(node)
            continue
        if rank is None and min(axes) < 0:
            nodes.append(node)
            continue
        keep, src = _attr(node, "keepdims", 1), node.input[0]
        order = sorted({a % rank if rank else a for a in axes}, reverse=True)
        for i, axis in enumerate(order):
            dst = node.output[0] if i == len(order) - 1 else f"{node.output[0]}/axis{axis}"
            name = f"{node.name}/axis{axis}"
            nodes.append(
                helper.make_node(node.op_type, [src], [dst], name, axes=[axis], keepdims=keep)
            )
            src = dst
        n += 1
    _set_nodes(model.graph, nodes)
    return n


def _sum_axes_as_list(model) -> int:
    """pnnx turns ReduceSum's one-element axes input into a scalar `dim`, and its ncnn writer
    reads `dim` as a list only: the Reduction it writes sums over nothing, and ncnn loads it
    (found on basic-pitch). Over a trailing axis of size 1 added for the purpose, the axes are
    a list of two and the sum is the same."""
    from onnx import helper

    g, nodes, n = model.graph, [], 0
    consts, ranks = _constants(g), _ranks(model)
    for node in g.node:
        axes = (
            consts.get(node.input[1])
            if node.op_type == "ReduceSum" and len(node.input) > 1
            else None
        )
        rank = ranks.get(node.input[0])
        if axes is None or axes.size != 1 or rank is None or rank > 4:  # ncnn: 4 dims + batch
            nodes.append(node)
            continue
        p, keep = f"{node.name}/list", _attr(node, "keepdims", 1)
        extra = _new_const(g, f"{p}/extra", np.array([rank], np.int64))
        both = _new_const(g, f"{p}/axes", np.array([int(axes.item()) % rank, rank], np.int64))
        out = f"{p}/kept" if keep else node.output[0]
        nodes.append(helper.make_node("Unsqueeze", [node.input[0], extra], [f"{p}/x"], f"{p}/0"))
        nodes.append(
            helper.make_node("ReduceSum", [f"{p}/x", both], [out], f"{p}/1", keepdims=keep)
        )
        if keep:
            nodes.append(helper.make_node("Squeeze", [out, extra], [node.output[0]], f"{p}/2"))
        n += 1
    _set_nodes(g, nodes)
    return n


def _divide_no_nan(model) -> int:
    """tf.math.divide_no_nan(x, y) is Where(Equal(y, 0), 0, x / y), and ncnn has no comparison
    or select layer. For finite x it is exactly x / (y + e) * (1 - e) with e = 1 - |sign(y)|
    (1 where y == 0, else 0): y + e is y itself wherever y != 0."""
    g, nodes, n = model.graph, [], 0
    consts, producer = _constants(g), {o: nd for nd in g.node for o in nd.output}
    for node in g.node:
        found = _no_nan_parts(node, producer, consts)
        if found is None:
            nodes.append(node)
            continue
        x, y, zero = found
        p = f"{node.name}/no_nan"
        one = _new_const(g, f"{p}/one", np.ones((), zero.dtype))
        nodes += _chain(
            p,
            [("Sign", [y], "@sign"), ("Abs", ["@sign"], "@abs"), ("Sub", [one, "@abs"], "@e")],
            [("Add", [y, "@e"], "@den"), ("Div", [x, "@den"], "@q"), ("Sub", [one, "@e"], "@keep")],
            [("Mul", ["@q", "@keep"], node.output[0])],
        )
        n += 1
    _set_nodes(g, nodes)
    return n


def _no_nan_parts(node, producer: dict, consts: dict):
    """(x, y, the zero) when `node` is Where(Equal(y, 0), 0, Div(x, y)), else None."""
    if node.op_type != "Where" or len(node.input) != 3:
        return None
    cond, div = producer.get(node.input[0]), producer.get(node.input[2])
    zero = consts.get(node.input[1])
    if cond is None or cond.op_type != "Equal" or div is None or div.op_type != "Div":
        return None
    if zero is None or zero.size != 1 or zero.dtype.kind != "f" or zero.item() != 0:
        return None
    a, b = cond.input
    y = a if _is_zero(consts.get(b)) else b if _is_zero(consts.get(a)) else None
    return (div.input[0], y, zero) if y is not None and div.input[1] == y else None


def _lookups_as_one_hot(model) -> int:
    """A Keras Embedding is Gather(table, int(x)), Keras 3 first wrapping negative ids
    (where(ids < 0, ids + V, ids)). ncnn computes in floats, and its Embed layer reads int32
    ids that edgekit's float input cannot carry, so pnnx leaves the casts, the comparison and
    the Gather unmapped. For every id in [-V, V) the same rows come from floats: t = sign(x) *
    floor(|x|) (the cast's truncation), w = t + V * relu(-sign(t)) (ONNX Gather wraps negative
    ids too), then the one-hot rows relu(1 - |w - [0, V)|) times the table."""
    g, nodes, n = model.graph, [], 0
    consts, types = _constants(g), _types(model)
    producer = {o: nd for nd in g.node for o in nd.output}
    for node in g.node:
        x = _lookup_source(g, node, producer, consts, types)
        if x is None:
            nodes.append(node)
            continue
        table = consts[node.input[0]]
        p, v = f"{node.name}/one_hot", table.shape[0]
        ids = _new_const(g, f"{p}/ids", np.arange(v, dtype=np.float32))
        vocab = _new_const(g, f"{p}/vocab", np.array(v, np.float32))
        one = _new_const(g, f"{p}/one", np.array(1, np.float32))
        last = _new_const(g, f"{p}/last", np.array([-1], np.int64))
        nodes += _chain(
            p,
            [
                ("Sign", [x], "@sx"),
                ("Abs", [x], "@ax"),
                ("Floor", ["@ax"], "@fx"),
                ("Mul", ["@sx", "@fx"], "@t"),
            ],
            [("Sign", ["@t"], "@st"), ("Neg", ["@st"], "@nt"), ("Relu", ["@nt"], "@neg")],
            [
                ("Mul", ["@neg", vocab], "@off"),
                ("Add", ["@t", "@off"], "@w"),
                ("Unsqueeze", ["@w", last], "@wu"),
            ],
            [
                ("Sub", ["@wu", ids], "@d"),
                ("Abs", ["@d"], "@ad"),
                ("Sub", [one, "@ad"], "@o"),
                ("Relu", ["@o"], "@h"),
            ],
            [("MatMul", ["@h", node.input[0]], node.output[0])],
        )
        n += 1
    _set_nodes(g, nodes)
    return n


def _lookup_source(g, node, producer: dict, consts: dict, types: dict):
    """The float tensor x when `node` is Gather(float table [V, D], ids) with ids int(x) or
    Keras' wrap of it (checked by running the ids' subgraph on every id in [-V, V)), else None."""
    table = consts.get(node.input[0]) if node.op_type == "Gather" else None
    if table is None or table.ndim != 2 or table.dtype != np.float32 or _attr(node, "axis", 0):
        return None
    sub, cast = _ids_subgraph(node.input[1], producer, consts, types)
    if cast is None or types.get(cast.input[0]) != FLOAT:
        return None
    v = table.shape[0]
    c = np.arange(-v, v)
    got = _run_subgraph(g, sub, cast, node.input[1], c)
    wrapped = np.where(c < 0, c + v, c)
    ok = got is not None and got.shape == c.shape
    return (
        cast.input[0] if ok and (np.array_equal(got, c) or np.array_equal(got, wrapped)) else None
    )


def _ids_subgraph(ids: str, producer: dict, consts: dict, types: dict):
    """(the nodes computing `ids` from one float -> int Cast, that Cast), or ([], None) when
    they read anything else that is not a constant."""
    sub, casts, stack, seen = [], set(), [ids], set()
    while stack:
        name = stack.pop()
        if name in seen or name in consts:
            continue
        seen.add(name)
        node = producer.get(name)
        if node is None:
            return [], None  # a graph input, not through a cast
        if (
            node.op_type == "Cast"
            and types.get(node.input[0]) == FLOAT
            and _attr(node, "to") in INTS
        ):
            casts.add(id(node))
            cast = node
            continue
        sub.append(node)
        stack += [i for i in node.input if i]
    return (sub, cast) if len(casts) == 1 else ([], None)


def _run_subgraph(g, sub: list, cast, ids: str, c: np.ndarray):
    """`sub` run by ONNX's reference evaluator with `c` as the cast's output; None if it fails."""
    from onnx import TensorProto, helper
    from onnx.reference import ReferenceEvaluator

    from edgekit.converters.onnx import OPSET  # what ONNXConverter.write wrote

    order = {id(nd): i for i, nd in enumerate(g.node)}
    nodes = sorted(sub, key=lambda nd: order[id(nd)])
    used = {i for nd in nodes for i in nd.input}
    inits = [t for t in g.initializer if t.name in used]
    to = _attr(cast, "to")
    graph = helper.make_graph(
        nodes,
        "ids",
        [helper.make_tensor_value_info(cast.output[0], to, [len(c)])],
        [helper.make_tensor_value_info(ids, TensorProto.UNDEFINED, None)],
        inits,
    )
    dtype = helper.tensor_dtype_to_np_dtype(to)
    try:
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        (got,) = ReferenceEvaluator(model).run(None, {cast.output[0]: c.astype(dtype)})
    except Exception:  # noqa: BLE001 - not the construct this rewrite knows: leave it as it is
        return None
    return np.asarray(got)


FLOAT = 1  # onnx.TensorProto.FLOAT
INTS = (2, 3, 4, 5, 6, 7, 12, 13)  # the (u)int8..64 TensorProto types


def _attr(node, name: str, default=None):
    from onnx import helper

    found = [a for a in node.attribute if a.name == name]
    return helper.get_attribute_value(found[0]) if found else default


def _constants(g) -> dict:
    """Initializers and Constant outputs by name, as arrays."""
    from onnx import numpy_helper

    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for node in g.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            consts[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    return consts


def _is_zero(a) -> bool:
    return a is not None and a.size == 1 and a.item() == 0


def _types(model) -> dict:
    """Element type of every tensor ONNX's shape inference can tell."""
    return {k: t.elem_type for k, (t, _) in _value_infos(model).items()}


def _ranks(model) -> dict:
    return {k: rank for k, (_, rank) in _value_infos(model).items() if rank is not None}


def _value_infos(model) -> dict:
    from onnx import shape_inference

    try:
        g = shape_inference.infer_shapes(model).graph
    except Exception:  # noqa: BLE001 - inference is a help here, not a requirement
        g = model.graph
    found = {}
    for v in [*g.input, *g.value_info, *g.output]:
        t = v.type.tensor_type
        found[v.name] = (t, len(t.shape.dim) if t.HasField("shape") else None)
    return found


def _new_const(g, name: str, value: np.ndarray) -> str:
    from onnx import numpy_helper

    g.initializer.append(numpy_helper.from_array(value, name))
    return name


def _chain(prefix: str, *steps: list) -> list:
    """Nodes from (op, inputs, output) steps; "@name" is a tensor of this chain (prefixed)."""
    from onnx import helper

    def full(name: str) -> str:
        return f"{prefix}/{name[1:]}" if name.startswith("@") else name

    return [
        helper.make_node(op, [full(i) for i in ins], [full(out)], f"{prefix}/{k}")
        for k, (op, ins, out) in enumerate(step for group in steps for step in group)
    ]


def _set_nodes(g, nodes: list) -> None:
    if list(g.node) != nodes:
        del g.node[:]
        g.node.extend(nodes)


def _prune(g) -> None:
    """Drop the nodes and initializers nothing reads any more (what the rewrites replaced)."""
    needed, kept = {o.name for o in g.output}, []
    for node in reversed(g.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
    _set_nodes(g, kept[::-1])
    inits = [t for t in g.initializer if t.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)

"""The frozen graph with what graph converters cannot read rewritten, for fallback routes.

Two things in a Keras 3 frozen graph stop tf2onnx and coremltools (found on ConvNeXtTiny by
`benchmarks/coverage.py`):
- function calls freezing leaves in place: Keras' TensorFlow backend runs grouped
  convolutions in a `tf.function(jit_compile=True)` (TF's CPU kernels lack them), and
  Grappler never inlines a function marked `_XlaMustCompile`, so a `StatefulPartitionedCall`
  stays in the graph: tf2onnx writes a model ONNX Runtime rejects, coremltools refuses it;
- `Erfc` (Keras' exact GELU is `0.5 * x * erfc(-x / sqrt(2))`), which neither maps; both map
  `Erf`, and `erfc(z) = 1 - erf(z)`.
The rewritten graph only serves conversion: it cannot run on a CPU without XLA (grouped
convolution), so the reference outputs keep coming from the source's frozen function.
"""

from __future__ import annotations

XLA_ATTRS = ("_XlaMustCompile", "_noinline")


def inlined_graph_def(source):
    """`source.frozen` as a GraphDef with every function call inlined and Erfc as 1 - Erf
    (made once per source)."""
    cache = source._exports
    if "inlined_graph_def" not in cache:
        cache["inlined_graph_def"] = _erfc_as_erf(_inline(source.frozen))
    return cache["inlined_graph_def"]


def _inline(frozen):
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer
    from tensorflow.python.training.saver import export_meta_graph

    graph_def = frozen.graph.as_graph_def()
    for fn in graph_def.library.function:
        for key in XLA_ATTRS:
            fn.attr.pop(key, None)
    for node in graph_def.node:
        node.attr.pop("_XlaMustCompile", None)
    meta = export_meta_graph(graph_def=graph_def, graph=frozen.graph)
    fetch = meta.collection_def["train_op"].node_list.value
    fetch.extend(t.name for t in frozen.outputs)  # what Grappler must keep
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.min_graph_nodes = -1
    rewrite.optimizers.append("function")
    return tf_optimizer.OptimizeGraph(config, meta)


def _erfc_as_erf(graph_def):
    import tensorflow as tf
    from tensorflow.core.framework import node_def_pb2

    nodes = []
    for n in graph_def.node:
        if n.op != "Erfc":
            nodes.append(n)
            continue
        erf = node_def_pb2.NodeDef(name=f"{n.name}/erf", op="Erf", input=list(n.input))
        one = node_def_pb2.NodeDef(name=f"{n.name}/one", op="Const")
        dtype = tf.dtypes.as_dtype(n.attr["T"].type)
        one.attr["dtype"].CopyFrom(n.attr["T"])
        one.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(1.0, dtype))
        sub = node_def_pb2.NodeDef(name=n.name, op="Sub", input=[one.name, erf.name])
        erf.attr["T"].CopyFrom(n.attr["T"])
        sub.attr["T"].CopyFrom(n.attr["T"])
        nodes += [erf, one, sub]
    del graph_def.node[:]
    graph_def.node.extend(nodes)
    return graph_def


RECURRENT = ("LSTM", "GRU", "SimpleRNN")


def unrolled_function(source):
    """The Keras model with its recurrent layers unrolled, frozen: no while loop left, for
    converters that cannot read TensorFlow control flow (coremltools on Keras 3 LSTM/GRU).
    Needs a fixed sequence length, which edgekit's fixed input shapes give."""
    from edgekit.errors import ConversionError

    cache = source._exports
    if "unrolled" in cache:
        return cache["unrolled"]
    model = source.keras_model
    if model is None:
        raise ConversionError("no Keras model to unroll (a SavedModel source)")
    config = model.get_config()
    if not _unroll(config):
        raise ConversionError("no recurrent layer to unroll")
    import tensorflow as tf

    from edgekit.source import freeze_graph

    clone = type(model).from_config(config)
    clone.set_weights(model.get_weights())

    def call(*xs):
        out = clone(list(xs) if len(xs) > 1 else xs[0], training=False)
        return tuple(out) if isinstance(out, (list, tuple)) else (out,)

    traced = tf.function(call, input_signature=source.tf_specs())
    cache["unrolled"] = freeze_graph(traced.get_concrete_function())
    return cache["unrolled"]


def _unroll(config) -> bool:
    """Set `unroll=True` on every recurrent layer in a (nested) Keras config."""
    found = False
    if isinstance(config, dict):
        if config.get("class_name") in RECURRENT and isinstance(config.get("config"), dict):
            config["config"]["unroll"] = True
            found = True
        for value in config.values():
            found = _unroll(value) or found
    elif isinstance(config, list):
        for value in config:
            found = _unroll(value) or found
    return found

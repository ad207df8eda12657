"""SavedModels at the graph level: one signature and its variables, whoever wrote the folder.

`tf.saved_model.load` revives the Python objects a SavedModel was saved from. On TensorFlow
2.16+ that fails for folders written by tf.keras 2 with the optimizers of TF <= 2.10 (their
Adam moments are checkpointed as slot variables, revived with an `add_slot` the generic
object lacks) and for some custom training objects. The MetaGraph inside every SavedModel
needs no Python objects: TensorFlow's TF1 loader restores it into a Graph and a Session, and
the signature's outputs are frozen there. That is the second loader, tried when the first
fails; both give the same callable, so everything after loading is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import ModelLoadError

log = logging.getLogger(__name__)
SERVE = "serve"  # tf.saved_model.SERVING
DEFAULT_SIGNATURE = "serving_default"
OBJECTS = "tf-saved-model-signatures"  # tf.saved_model.load, Python objects revived
SESSION = "tf1-session"  # the MetaGraph in a tf.compat.v1 Session, frozen


@dataclass
class Signature:
    """A SavedModel signature: either `fn(list of tensors) -> {output key: tensor}` to trace
    (OBJECTS), or the frozen, inlined `graph_def` to wrap as it is (SESSION)."""

    inputs: list  # tf.TensorSpec per input, named by its key, in key order
    outputs: list[str]  # output keys, sorted
    loader: str  # OBJECTS or SESSION
    name: str  # which signature
    fn: Callable[[list], dict] | None = None
    graph_def: object = None
    tensors: tuple[dict, dict] = ({}, {})  # input and output key -> tensor name in graph_def

    def function(self, specs: list, names: list[str], tf):
        """The frozen graph as a ConcreteFunction with fixed-shape inputs (`specs`, in input
        order) and outputs named `names` (in output order), for the SESSION loader."""
        ins, outs = self.tensors

        def body(*xs):
            got = tf.compat.v1.import_graph_def(
                self.graph_def,
                input_map={ins[s.name]: x for s, x in zip(self.inputs, xs)},
                return_elements=[outs[k] for k in self.outputs],
                name="model",
            )
            return [tf.identity(t, name=n) for t, n in zip(got, names)]

        from tensorflow.python.util import deprecation

        with deprecation.silence():
            wrapped = tf.compat.v1.wrap_function(body, specs)
        # only what the outputs need: the imported graph's own placeholders and outputs
        # would read as extra inputs and outputs to a converter
        return wrapped.prune(feeds=wrapped.inputs, fetches=wrapped.outputs)


def load(path: Path, tf) -> Signature:
    """The SavedModel's serving signature (else its only one), by the first loader that works.

    Raises:
        ModelLoadError: no usable signature, or neither loader can restore the folder.
    """
    tags, name, proto = choose(path)
    inputs = _input_specs(proto, tf)
    outputs = sorted(proto.outputs)
    try:
        fn = _objects(path, tf, tags, name, [s.name for s in inputs])
        return Signature(inputs, outputs, OBJECTS, name, fn=fn)
    except Exception as first:  # TensorFlow raises anything from revived Python objects
        log.debug("tf.saved_model.load failed on %s; trying the TF1 loader", path, exc_info=True)
        try:
            graph_def, tensors = _session(path, tf, tags, name, outputs)
        except Exception as second:
            raise ModelLoadError(
                f"cannot load SavedModel {path}: {_line(first)}; the graph-level loader "
                f"failed too: {_line(second)}; re-export it with tf.saved_model.save"
            ) from second
        log.debug("loaded %s with the TF1 loader after: %s", path, _line(first))
        return Signature(inputs, outputs, SESSION, name, graph_def=graph_def, tensors=tensors)


def choose(path: Path):
    """(tags, signature name, SignatureDef): the `serve` MetaGraph (else the only one) and its
    `serving_default` signature (else the only one)."""
    from tensorflow.python.saved_model import loader_impl

    try:
        saved = loader_impl.parse_saved_model(str(path))
    except Exception as e:  # OSError or a protobuf DecodeError on a damaged file
        raise ModelLoadError(f"cannot read SavedModel {path}: {_line(e)}; is it complete?") from e
    graphs = list(saved.meta_graphs)
    serving = [g for g in graphs if SERVE in g.meta_info_def.tags]
    if not serving and len(graphs) != 1:
        tag_sets = "; ".join(",".join(g.meta_info_def.tags) or "(none)" for g in graphs)
        raise ModelLoadError(
            f"SavedModel {path} has no '{SERVE}' MetaGraph; got tag sets: {tag_sets}; "
            "re-export it for serving (tf.saved_model.save)"
        )
    graph = (serving or graphs)[0]
    names = sorted(k for k in graph.signature_def if not k.startswith("__"))
    if DEFAULT_SIGNATURE in names:
        name = DEFAULT_SIGNATURE
    elif len(names) == 1:
        name = names[0]
    else:
        found = ", ".join(names) or "none"
        raise ModelLoadError(
            f"SavedModel {path} has no '{DEFAULT_SIGNATURE}' signature to convert; got: "
            f"{found}; re-export it with signatures={{'{DEFAULT_SIGNATURE}': fn}}"
        )
    return list(graph.meta_info_def.tags), name, graph.signature_def[name]


def _input_specs(proto, tf) -> list:
    specs = []
    for key in sorted(proto.inputs):
        info = proto.inputs[key]
        shape = (
            None
            if info.tensor_shape.unknown_rank
            else [None if d.size < 0 else d.size for d in info.tensor_shape.dim]
        )
        specs.append(tf.TensorSpec(shape, tf.dtypes.as_dtype(info.dtype), name=key))
    return specs


def _objects(path: Path, tf, tags, name: str, keys: list[str]):
    loaded = tf.saved_model.load(str(path), tags=tags)
    sig = loaded.signatures[name]

    def fn(xs, _keep=loaded):  # the default keeps the variables alive with the function
        return dict(sig(**dict(zip(keys, xs))))

    return fn


def _session(path: Path, tf, tags, name: str, outputs: list[str]):
    """Restore the MetaGraph in a TF1 Session, fold the variables into constants and inline
    the function calls (a flat graph: every converter and TensorFlow's shape inference read
    it). Returns the GraphDef and the signature's tensor names in it."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_from_session_graph,
    )
    from tensorflow.python.util import deprecation

    graph = tf.Graph()
    # the TF1 API is the point here: its deprecation notices would only be noise
    with deprecation.silence(), graph.as_default(), tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, tags, str(path))
        sig = meta.signature_def[name]
        fetch = sorted({sig.outputs[k].name.split(":")[0] for k in outputs})
        frozen = convert_variables_to_constants_from_session_graph(
            session, graph.as_graph_def(), fetch
        )
    ins = {k: v.name for k, v in sig.inputs.items()}
    outs = {k: v.name for k, v in sig.outputs.items()}
    return inline(frozen, list(outs.values()), graph), (ins, outs)


def inline(graph_def, fetch: list[str], graph):
    """`graph_def` with every function call inlined by Grappler's function optimizer."""
    from tensorflow.core.protobuf import config_pb2
    from tensorflow.python.grappler import tf_optimizer
    from tensorflow.python.training.saver import export_meta_graph

    meta = export_meta_graph(graph_def=graph_def, graph=graph)
    meta.collection_def["train_op"].node_list.value.extend(fetch)  # what Grappler must keep
    config = config_pb2.ConfigProto()
    rewrite = config.graph_options.rewrite_options
    rewrite.min_graph_nodes = -1
    rewrite.optimizers.append("function")
    return tf_optimizer.OptimizeGraph(config, meta)


def _line(e: BaseException) -> str:
    text = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
    return text if len(text) <= 200 else text[:200].rsplit(" ", 1)[0] + " ..."

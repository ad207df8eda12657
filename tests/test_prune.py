"""Pruning native to Keras 3: masks, schedules, M:N, structured rewrites, and the artifacts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli

BUILTIN = "keras.layers"


def _residual_model(size: int = 32):
    """Depthwise convs, BatchNorm, residual adds (the MobileNet-style example, narrow)."""
    import keras

    from edgekit.example.mobilenet import build

    keras.utils.set_random_seed(3)
    model = build(size=size, width=0.5, blocks=((1, 16, 1, 1), (4, 16, 2, 2), (4, 32, 2, 2)))
    x = np.random.default_rng(0).uniform(0, 255, (16, size, size, 3)).astype("float32")
    model(x, training=True)  # BatchNorm statistics off their defaults
    return model


def _graph_model():
    """Residual add, depthwise, BatchNorm, concatenation, separable conv, two outputs."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    inp = keras.Input((16, 16, 3))
    x = layers.Conv2D(16, 3, padding="same")(inp)
    x = layers.ReLU()(layers.BatchNormalization()(x))
    y = layers.BatchNormalization()(layers.DepthwiseConv2D(3, padding="same")(x))
    x = layers.Add()([x, layers.Conv2D(16, 1)(y)])
    c = layers.Concatenate()(
        [
            layers.Conv2D(8, 1, activation="relu")(x),
            layers.SeparableConv2D(12, 3, padding="same")(x),
        ]
    )
    g = layers.GlobalAveragePooling2D()(layers.Conv2D(24, 3, padding="same", activation="relu")(c))
    o1 = layers.Dense(4, activation="softmax", name="o1")(layers.Dense(32, activation="relu")(g))
    model = keras.Model(inp, [o1, layers.Dense(2, name="o2")(g)])
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            for w in layer.weights:
                w.assign(np.random.default_rng(1).uniform(0.5, 1.5, w.shape))
    return model


def _data(model, n: int = 96):
    rng = np.random.default_rng(0)
    shape = model.inputs[0].shape[1:]
    return rng.uniform(0, 255, (n, *shape)).astype("float32"), rng.integers(0, 4, n)


def _builtin_only(model) -> bool:
    return all(type(layer).__module__.startswith("keras.src.") for layer in model.layers)


def test_magnitude_pruning_reaches_sparsity_and_strips_masks(tmp_path):
    import keras

    from edgekit.optimize import PruneConfig, prune, sparsity_of

    model = _residual_model()
    result = prune(model, config=PruneConfig(sparsity=0.5, epochs=0, min_weights=256))
    assert result.layers and all(abs(s - 0.5) < 0.01 for s in result.layers.values())
    assert _builtin_only(result.model) and getattr(result.model, "optimizer", None) is None
    result.model.save(tmp_path / "p.keras")
    again = keras.models.load_model(tmp_path / "p.keras")
    assert sparsity_of(again, names=list(result.layers)) == result.layers


def test_polynomial_schedule_ramps_to_target():
    from edgekit.optimize.prune import MaskKeeper, PruneConfig

    keeper = MaskKeeper([], PruneConfig(sparsity=0.6, schedule="polynomial", ramp=0.5), steps=100)
    values = [keeper.target(s) for s in range(0, 101, 10)]
    assert values[0] == 0 and all(a <= b for a, b in zip(values, values[1:]))
    assert values[5] == pytest.approx(0.6) and values[-1] == pytest.approx(0.6)
    flat = MaskKeeper([], PruneConfig(sparsity=0.6, schedule="constant"), steps=100)
    assert flat.target(0) == pytest.approx(0.6)


def test_global_scope_and_exclusions():
    from edgekit.optimize import PruneConfig, prune

    model = _residual_model()
    cfg = PruneConfig(sparsity=0.5, scope="global", epochs=0, min_weights=256, exclude=["head_*"])
    result = prune(model, config=cfg)
    assert result.sparsity == pytest.approx(0.5, abs=0.01)
    assert len({round(s, 2) for s in result.layers.values()}) > 1  # one threshold, not per layer
    assert "head_conv" in result.skipped and "head_conv" not in result.layers


def test_m_n_pattern_holds_and_depthwise_is_skipped():
    from edgekit.optimize import PruneConfig, prune
    from edgekit.optimize.prune import holds_m_n, m_n_mask

    w = np.random.default_rng(0).normal(size=(3, 3, 16, 8))
    assert holds_m_n(w * m_n_mask(w, 2, 4), 2, 4) and not holds_m_n(w, 2, 4)
    result = prune(_residual_model(), config=PruneConfig(m_n=(2, 4), epochs=0, min_weights=256))
    for name in result.layers:
        assert holds_m_n(result.model.get_layer(name).kernel.numpy(), 2, 4), name
    assert any("depthwise" in why for why in result.skipped.values())


def test_structured_rewrite_computes_what_the_masked_model_computes():
    import keras

    from edgekit.optimize import channels
    from edgekit.optimize.structured import _choose, _zero_inputs, flops, rebuild

    model = _graph_model()
    cg = channels.trace(model)
    groups = cg.prunable()
    assert len(groups) == 5  # the residual pair is one group; outputs stay whole
    keep = {g: _choose(model, cg, g, 0.4, 4, "l2") for g in groups}
    slim = rebuild(model, cg, keep, keras)
    for g in groups:
        _zero_inputs(model, cg, g, keep[g])
    x = _data(model, 4)[0] / 255
    for ref, got in zip(model.predict(x, verbose=0), slim.predict(x, verbose=0)):
        np.testing.assert_allclose(got, ref, atol=1e-5)
    assert flops(slim) < 0.7 * flops(model) and _builtin_only(slim)


@pytest.fixture(scope="session")
def pruned_models(tmp_path_factory):
    from edgekit.optimize import PruneConfig, prune, prune_channels

    tmp = tmp_path_factory.mktemp("pruned")
    model = _residual_model()
    data = _data(model)
    structured = prune_channels(model, data, ratio=0.3, epochs=1)
    m_n = prune(model, data, config=PruneConfig(m_n=(2, 4), epochs=1, min_weights=256))
    paths = {"structured": tmp / "structured.keras", "m_n": tmp / "m_n.keras"}
    structured.model.save(paths["structured"])
    m_n.model.save(paths["m_n"])
    return paths, structured, m_n


ALL = "tflite:fp32,tflite:int8,openvino:fp32,onnx:fp32,coreml:fp32"


def test_structured_pruned_residual_model_converts_everywhere_with_parity(pruned_models, tmp_path):
    import edgekit

    paths, structured, _ = pruned_models
    assert structured.flops_after < 0.9 * structured.flops_before
    report = edgekit.convert(paths["structured"], to=ALL, out=tmp_path, random_calib=True)
    done = {(a.format, a.precision): a.parity for a in report.artifacts}
    assert set(done) == {tuple(t.split(":")) for t in ALL.split(",")}
    assert all(p["passed"] for p in done.values()), done


def test_m_n_pattern_holds_in_every_artifact(pruned_models, tmp_path):
    import edgekit
    from edgekit.optimize import sparse

    paths, _, m_n = pruned_models
    report = edgekit.convert(paths["m_n"], to=ALL, out=tmp_path, random_calib=True)
    for art in report.artifacts:
        held = sparse.m_n_layers(tmp_path / art.file, 2, 4, min_size=256)
        assert sum(held.values()) >= len(m_n.layers), (art.file, held)
    from edgekit.converters.coreml import inspect

    mlpackage = next(tmp_path / a.file for a in report.artifacts if a.format == "coreml")
    stored = sparse.sparsify_coreml(mlpackage, tmp_path / "sparse.mlpackage")
    assert inspect(stored)["compressed_weights"].get("constexpr_sparse_to_dense", 0) >= 1
    assert sparse.gzipped_size(stored) < sparse.gzipped_size(mlpackage)


def test_sparse_tflite_is_smaller(pruned_models, tmp_path):
    from edgekit import source
    from edgekit.optimize import sparse

    paths, _, _ = pruned_models
    src = source.load(paths["m_n"])
    dense = tmp_path / "dense.tflite"
    import tensorflow as tf

    dense.write_bytes(tf.lite.TFLiteConverter.from_concrete_functions([src.frozen]).convert())
    small = sparse.write_tflite(src, "fp32", tmp_path / "sparse.tflite")
    assert small.stat().st_size < dense.stat().st_size


def test_cli_prune_structured_and_bad_flags(tmp_path):
    from edgekit.example import LABELS, MODEL

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (64, 64, 64, 3)).astype("float32"), rng.integers(0, 4, 64)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    out = tmp_path / "slim.keras"
    r = run_cli("prune", MODEL, "--structured", "0.3", "--data", tmp_path / "train.npz",
                "--epochs", "1", "-o", out, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.exists() and '"flops_after"' in r.stdout
    bad = run_cli(
        "prune", MODEL, "--sparsity", "0.5", "--structured", "0.3", "-o", tmp_path / "b.keras"
    )
    assert bad.returncode == 2 and "pick one of" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "b.keras").exists()
    wrong = run_cli("prune", MODEL, "--m-n", "4:2", "--labels", LABELS, "-o", tmp_path / "c.keras")
    assert wrong.returncode == 2 and "0 < n < m" in wrong.stderr


def test_convert_with_prune_step(tmp_path, tiny_keras):
    import keras

    from edgekit.example import MODEL
    from edgekit.optimize import sparsity_of

    rng = np.random.default_rng(0)
    x, y = rng.uniform(0, 255, (48, 64, 64, 3)).astype("float32"), rng.integers(0, 4, 48)
    np.savez(tmp_path / "train.npz", x=x, y=y)
    out = tmp_path / "out"
    r = run_cli("convert", MODEL, "--prune", "sparsity=0.5", "--data", tmp_path / "train.npz",
                "--to", "tflite:fp32", "--random-calib", "-o", out)  # fmt: skip
    assert r.returncode == 0, r.stderr
    pruned = keras.models.load_model(out / "shapes_pruned.keras")
    assert max(sparsity_of(pruned).values()) == pytest.approx(0.5, abs=0.01)
    assert (out / "shapes_pruned_fp32.tflite").exists()
    small = run_cli("convert", tiny_keras, "--prune", "sparsity=0.5",
                    "--data", tmp_path / "train.npz", "-o", tmp_path / "o2")  # fmt: skip
    assert small.returncode == 2 and "Traceback" not in small.stderr

"""Latency-aware structured pruning: kernel-width counts, groups that do not pay, parity."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli
from tests.test_prune import _residual_model


def _two_stage_model():
    """A wide 3x3 conv pair at 32x32 (pays to prune) and a 16-unit dense head (does not)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(5)
    inp = keras.Input((32, 32, 3))
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="wide_a")(inp)
    x = layers.Conv2D(32, 3, padding="same", activation="relu", name="wide_b")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(16, activation="relu", name="small")(x)
    return keras.Model(inp, layers.Dense(4, activation="softmax", name="out")(x))


def test_simd_channels_from_the_profile_isa():
    from edgekit.optimize.latency import simd_channels

    assert simd_channels("x86-64") == 8  # AVX2: 256-bit vectors, 8 fp32 lanes
    assert simd_channels("rpi5") == 4  # NEON: 128-bit
    assert simd_channels("rpi5", "fp16") == 8  # Cortex-A76 has fp16 arithmetic
    assert simd_channels() in (4, 8, 16)  # this machine, whatever it is


@pytest.mark.parametrize("criterion", ["l2", "latency"])
def test_kept_channel_counts_are_multiples_of_the_kernel_width(criterion):
    from edgekit.optimize import prune_channels

    model = _residual_model()
    r = prune_channels(model, ratio=0.3, epochs=0, multiple=8, criterion=criterion)
    pruned = {k: v for k, v in r.channels.items() if v[1] < v[0]}
    assert pruned, r.channels
    for name, (before, after) in r.channels.items():
        assert after == before or after % 8 == 0 or before <= 8, (name, before, after)
    assert r.flops_after < 0.8 * r.flops_before


def test_latency_choice_leaves_a_group_alone_when_it_does_not_pay():
    from edgekit.optimize import prune_channels

    model = _two_stage_model()
    uniform = prune_channels(model, ratio=0.3, epochs=0, multiple=4)
    aware = prune_channels(model, ratio=0.3, epochs=0, multiple=4, criterion="latency")
    assert uniform.channels["small"] == (16, 12)  # uniform cuts every group
    assert aware.channels["small"] == (16, 16), aware.channels  # a few ns saved: not worth it
    assert aware.channels["wide_a"][1] < 32 and "small" in aware.estimate["untouched"]
    assert aware.flops_after <= uniform.flops_after * 1.05  # same FLOPs goal, met elsewhere
    est = aware.estimate
    assert est["seconds_after"] < est["seconds_before"]


def test_latency_pruned_model_runs_in_tflite_and_openvino_like_keras(tmp_path):
    import edgekit
    from edgekit.optimize import prune_channels

    r = prune_channels(_residual_model(), ratio=0.3, epochs=0, criterion="latency", multiple=8)
    assert r.flops_after < 0.8 * r.flops_before
    path = tmp_path / "slim.keras"
    r.model.save(path)
    report = edgekit.convert(path, to="tflite:fp32,openvino:fp32", out=tmp_path / "out",
                             random_calib=True)  # fmt: skip
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    ref = r.model.predict(x, verbose=0)
    for art in report.artifacts:
        assert art.parity["passed"], (art.format, art.parity)
        with edgekit.load(tmp_path / "out" / art.file) as session:
            got = np.concatenate([session.predict(x[i : i + 1]) for i in range(2)])
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=art.format)


@pytest.mark.parametrize(
    ("kw", "words"),
    [
        ({"multiple": 0}, "multiple takes a whole number"),
        ({"input_size": -5}, "input_size takes a whole number"),
        ({"criterion": "fast"}, "unknown criterion"),
        ({"criterion": "latency", "target": "no-such-board"}, "no-such-board"),
    ],
)
def test_bad_option_is_one_config_error_line(kw, words):
    from edgekit.errors import ConfigError
    from edgekit.optimize import prune_channels

    with pytest.raises(ConfigError) as err:
        prune_channels(_residual_model(), ratio=0.3, epochs=0, **kw)
    assert words in str(err.value) and "got:" in str(err.value)
    assert "\n" not in str(err.value)


def test_cli_prune_structured_by_latency(tmp_path):
    from edgekit.example import MODEL

    out = tmp_path / "slim.keras"
    r = run_cli("prune", MODEL, "--structured", "0.3", "--criterion", "latency", "-o", out,
                "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert out.exists() and '"seconds_after"' in r.stdout


def test_cli_prune_structured_for_a_target_device(tmp_path):
    """`--target rpi5`: NEON's 4-lane grid (kept counts multiples of 4), the estimate for the
    Pi; `--target` without --structured is one line, exit 2, nothing written."""
    import json

    from edgekit.example import MODEL

    out = tmp_path / "slim.keras"
    r = run_cli("prune", MODEL, "--structured", "0.3", "--criterion", "latency",
                "--target", "rpi5", "--epochs", "0", "-o", out, "--json")  # fmt: skip
    assert r.returncode == 0, r.stderr
    result = json.loads(r.stdout)
    assert result["estimate"]["multiple"] == 4
    for before, after in result["channels"].values():
        assert after == before or after % 4 == 0 or before <= 4, (before, after)
    bad = run_cli(
        "prune", MODEL, "--sparsity", "0.5", "--target", "rpi5", "-o", tmp_path / "x.keras"
    )
    assert bad.returncode == 2 and "--target applies to --structured" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.keras").exists()

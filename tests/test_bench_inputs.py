"""`edgekit bench --inputs FILE.npz`: the user's own input instead of random values, for models
that random values break (a sample-rate scalar, token ids, a recurrent state); here, with the
light install too, and over SSH in tests/test_ssh.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgekit.device.runner import RunnerError, Spec, load_feed
from tests.conftest import run_cli

INT8 = Path(__file__).parent / "data" / "example" / "shapes_int8-io.tflite"
SPECS = [Spec("image", [1, 4, 4, 3], "int8", 0.5, -3), Spec("sr", [1], "int64")]


@pytest.mark.light
def test_feed_by_name_and_by_position_cast_and_quantized(tmp_path):
    img = np.linspace(-2, 2, 48, dtype=np.float32).reshape(1, 4, 4, 3)
    np.savez(tmp_path / "named.npz", sr=np.array([16000]), image=img)
    np.savez(tmp_path / "ordered.npz", img, np.array([16000], dtype=np.int32))
    for name in ("named.npz", "ordered.npz"):
        x, sr = load_feed(tmp_path / name, SPECS)
        assert x.dtype == np.int8 and x.shape == (1, 4, 4, 3)
        np.testing.assert_array_equal(x, np.clip(np.round(img / 0.5 - 3), -128, 127))
        assert sr.dtype == np.int64 and sr.tolist() == [16000]


@pytest.mark.light
@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        ({"image": np.zeros((1, 4, 4, 3)), "rate": np.array([1])}, "no array for input 'sr'"),
        ({"image": np.zeros((5, 4, 3)), "sr": np.array([1])}, "takes [1, 4, 4, 3]"),
    ],
)
def test_a_feed_that_does_not_fit_says_which_input(tmp_path, arrays, words):
    np.savez(tmp_path / "in.npz", **arrays)
    with pytest.raises(RunnerError) as err:
        load_feed(tmp_path / "in.npz", SPECS)
    assert words in str(err.value) and "\n" not in str(err.value)


@pytest.mark.light
def test_bench_cli_runs_on_the_given_inputs_and_refuses_bad_ones(tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "frame.npz", image=rng.uniform(-1, 1, (1, 64, 64, 3)).astype("float32"))
    out = tmp_path / "r.json"
    ok = run_cli("bench", INT8, "--inputs", "frame.npz", "--runs", "5", "--json", out,
                 cwd=tmp_path)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(out.read_text())["results"][0]["runs"] == 5
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    for args, words in (
        (["--inputs", "bad.npz"], "cannot read bad.npz as arrays"),
        (["--inputs", "none.npz"], "--inputs file not found"),
    ):
        bad = run_cli("bench", INT8, *args, "--json", tmp_path / "no.json", cwd=tmp_path)
        assert bad.returncode == 2, bad.stderr
        assert words in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "no.json").exists()

"""`--import MODULE|FILE.py`: the user's registered custom layers, in .keras and Keras 2 .h5
files; the one-line error that names a missing class; KerasHub and other backends' layers."""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import ConfigError, MissingDependencyError, ModelLoadError, UnsafeModelError
from edgekit.source import import_user_code
from tests.conftest import has, run_cli

DATA = Path(__file__).parent / "data"
LAYERS = '''
import keras


@keras.saving.register_keras_serializable(package="my")
class Scale(keras.layers.Layer):
    """The user's own layer: a learned factor per channel."""

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(input_shape[-1],), initializer="ones")

    def call(self, x):
        return x * self.factor
'''


@pytest.fixture
def unregistered():
    """Each test starts with `my>Scale` unknown to Keras, as in a fresh process."""
    import keras

    registry = keras.saving.get_custom_objects()  # Keras' live global registry
    registry.pop("my>Scale", None)
    yield
    registry.pop("my>Scale", None)


@pytest.fixture
def custom_model(tmp_path, unregistered, monkeypatch) -> Path:
    """tmp/my_layers.py and tmp/m.keras, saved by a script that did `import my_layers`."""
    import importlib

    import keras

    (tmp_path / "my_layers.py").write_text(LAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_layers", raising=False)
    layers = importlib.import_module("my_layers")
    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 16, 3), name="image")
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inp)
    scale = layers.Scale(name="scale")
    x = scale(x)
    scale.set_weights([np.array([0.5, 2.0, 1.5, -1.0], np.float32)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    model = keras.Model(inp, keras.layers.Dense(3, activation="softmax", name="probs")(x))
    model.save(tmp_path / "m.keras")
    keras.saving.get_custom_objects().pop("my>Scale")
    monkeypatch.delitem(sys.modules, "my_layers")
    return tmp_path / "m.keras"


def test_cli_names_the_missing_class_and_says_import(custom_model):
    res = run_cli("convert", "m.keras", "--to", "tflite", cwd=custom_model.parent)
    assert res.returncode == 2, res.stderr[-2000:]
    lines = [ln for ln in res.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "Traceback" not in res.stderr
    assert "my>Scale" in lines[0] and "--import" in lines[0]
    assert "e.g. --import my_layers" in lines[0]  # the module the config names
    assert not (custom_model.parent / "edgekit-out").exists()


def test_cli_import_file_by_relative_path_default_folder(custom_model):
    res = run_cli(
        "convert", "m.keras", "--to", "tflite", "--import", "my_layers.py", cwd=custom_model.parent
    )
    assert res.returncode == 0, res.stderr[-2000:]
    manifest = json.loads((custom_model.parent / "edgekit-out" / "edgekit.json").read_text())
    (art,) = manifest["artifacts"]
    assert art["file"] == "m_fp32.tflite" and art["parity"]["passed"]
    assert manifest["source"]["loader"] == "keras"


def test_estimate_imports_a_module_by_name(custom_model):
    res = run_cli(
        "estimate", "m.keras", "--target", "rpi5", "--import", "my_layers", "--json",
        cwd=custom_model.parent,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    (row,) = json.loads(res.stdout)
    assert row["target"] == "rpi5" and row["latency_ms"] > 0


def test_cli_bad_import_is_one_line(custom_model):
    res = run_cli("convert", "m.keras", "--import", "no_such_module_here", cwd=custom_model.parent)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("error:") and "no_such_module_here" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_prune_import_registered_layer_default_output(custom_model):
    """`edgekit prune` loads in its child process: --import reaches it there; without it the
    one line names the class; the default output (pruned.keras) keeps the user's layer."""
    folder = custom_model.parent
    x = np.random.default_rng(0).uniform(0, 1, (24, 16, 16, 3)).astype(np.float32)
    np.savez(folder / "train.npz", x=x)
    args = ["prune", "m.keras", "--sparsity", "0.5", "--min-weights", "1", "--data", "train.npz",
            "--epochs", "1", "--json"]  # fmt: skip
    missing = run_cli(*args, cwd=folder)
    assert missing.returncode == 2 and "Traceback" not in missing.stderr
    (line,) = [ln for ln in missing.stderr.splitlines() if ln.startswith("error:")]
    assert "my>Scale" in line and "--import" in line
    assert not (folder / "pruned.keras").exists()
    res = run_cli(*args, "--import", "my_layers.py", cwd=folder)
    assert res.returncode == 0, res.stderr[-2000:]
    assert json.loads(res.stdout)["layers"]["conv"] == pytest.approx(0.5, abs=0.05)
    config = json.loads(zipfile.ZipFile(folder / "pruned.keras").read("config.json"))
    assert "my>Scale" in json.dumps(config)  # the user's layer is still there, registered


def test_tfkeras2_h5_with_registered_layer(tmp_path, unregistered):
    """A Keras 2 .h5 (made by TensorFlow 2.15) whose config names `my>Scale`."""
    h5 = DATA / "tfkeras2_scale.h5"
    with pytest.raises(ModelLoadError, match=r"got: my>Scale; pass --import"):
        edgekit.convert(h5, to="tflite", out=tmp_path / "a")
    (tmp_path / "my_layers.py").write_text(LAYERS)
    imports = [str(tmp_path / "my_layers.py")]
    report = edgekit.convert(h5, to="tflite", out=tmp_path / "b", imports=imports)
    assert report.artifacts[0].parity["passed"]
    from edgekit import source

    ref = np.load(DATA / "tfkeras2_scale.npz")  # what tf.keras 2 computed, Scale included
    got = source.load(h5, imports=imports).predict(ref["image"])[0]
    np.testing.assert_allclose(got, ref["probs"], atol=1e-6)


def test_import_user_code_files_and_modules(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "layers.py").write_text("VALUE = 'a'\n")
    (tmp_path / "b" / "layers.py").write_text("VALUE = 'b'\n")
    first = import_user_code(tmp_path / "a" / "layers.py")
    assert import_user_code(str(tmp_path / "a" / "layers.py")) is first  # a second call
    other = import_user_code(tmp_path / "b" / "layers.py")
    assert (first.VALUE, other.VALUE) == ("a", "b")  # same stem, its own module
    assert import_user_code("json") is json
    (tmp_path / "broken.py").write_text("raise RuntimeError('needs a GPU')\n")
    with pytest.raises(ConfigError, match="broken.py failed while importing: RuntimeError"):
        import_user_code(tmp_path / "broken.py")
    with pytest.raises(ConfigError, match="file not found"):
        import_user_code(tmp_path / "missing.py")
    with pytest.raises(ConfigError, match="module name or a .py file"):
        import_user_code("not a module")


def test_safe_mode_stays_on_with_import(tmp_path, custom_model):
    import keras

    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2)(inp)).save(tmp_path / "lam.keras")
    with pytest.raises(UnsafeModelError, match="safe mode"):
        edgekit.convert(tmp_path / "lam.keras", to="onnx", out=tmp_path / "o",
                        imports=[str(custom_model.parent / "my_layers.py")])  # fmt: skip


def _rewrite_config(src: Path, dest: Path, change) -> Path:
    """A copy of a .keras file whose config.json went through `change(config)`."""
    with zipfile.ZipFile(src) as z:
        entries = {n: z.read(n) for n in z.namelist()}
    config = json.loads(entries["config.json"])
    change(config)
    entries["config.json"] = json.dumps(config).encode()
    with zipfile.ZipFile(dest, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return dest


def _layer(config: dict, name: str) -> dict:
    return next(layer for layer in config["config"]["layers"] if layer["name"] == name)


def test_keras_hub_model_needs_keras_hub(tmp_path, tiny_keras):
    def as_hub(config):
        layer = _layer(config, "probs")
        layer.update(module="keras_hub.src.layers.modeling.dense", class_name="HubDense",
                     registered_name="keras_hub>HubDense")  # fmt: skip

    path = _rewrite_config(tiny_keras, tmp_path / "hub.keras", as_hub)
    if has("keras_hub"):  # installed: its classes are imported, the name is then Keras' call
        with pytest.raises(ModelLoadError):
            edgekit.convert(path, to="onnx", out=tmp_path / "o")
    else:
        with pytest.raises(MissingDependencyError, match="pip install keras-hub"):
            edgekit.convert(path, to="onnx", out=tmp_path / "o")


def test_other_backends_layer_is_one_clear_line(tmp_path, tiny_keras):
    def as_torch(config):
        layer = _layer(config, "probs")
        layer.update(module="keras.layers", class_name="TorchModuleWrapper",
                     registered_name="TorchModuleWrapper")  # fmt: skip

    path = _rewrite_config(tiny_keras, tmp_path / "torch.keras", as_torch)
    with pytest.raises(ModelLoadError, match="KERAS_BACKEND=torch"):
        edgekit.convert(path, to="onnx", out=tmp_path / "o")

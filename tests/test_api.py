"""The public API's contract: every name in `edgekit.__all__` is the same object before and
after every subpackage is imported, has a docstring, and can be called again; `convert`'s
signature lists its options; the version comes from the package metadata."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.light

# Run in a fresh interpreter: the bug this guards against (a lazy name shadowed by a subpackage
# of the same name) shows only in the order a new process meets the names.
PROBE = textwrap.dedent(
    """
    import importlib, json, pkgutil, sys
    import edgekit

    before = {n: id(getattr(edgekit, n)) for n in edgekit.__all__}
    skipped = {}
    for info in pkgutil.walk_packages(edgekit.__path__, "edgekit."):
        if info.name.endswith("__main__"):
            continue
        try:
            importlib.import_module(info.name)
        except ImportError as e:  # an optional dependency this environment lacks
            skipped[info.name] = str(e)
    after = {n: id(getattr(edgekit, n)) for n in edgekit.__all__}
    changed = sorted(n for n in before if before[n] != after[n])
    modules = sorted(n for n in edgekit.__all__
                     if type(getattr(edgekit, n)).__name__ == "module")
    undocumented = sorted(n for n in edgekit.__all__
                          if not (getattr(edgekit, n).__doc__ or "").strip())
    print(json.dumps({"changed": changed, "modules": modules, "undocumented": undocumented,
                      "skipped": skipped, "dir": sorted(dir(edgekit))}))
    """
)


@pytest.fixture(scope="module")
def probe() -> dict:
    res = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_public_names_keep_their_objects_when_subpackages_are_imported(probe):
    assert probe["changed"] == []
    assert probe["modules"] == []  # no public name is a module


def test_public_names_have_docstrings_and_are_listed(probe):
    import edgekit

    assert probe["undocumented"] == []
    assert set(edgekit.__all__) <= set(probe["dir"])
    assert len(edgekit.__all__) == len(set(edgekit.__all__))


def test_only_optional_dependencies_are_missing(probe):
    # in the full environment every module imports; in the light one only what needs TensorFlow
    # (or another conversion-only package) may not
    from tests.conftest import FULL

    if FULL:
        assert probe["skipped"] == {}
    for name, why in probe["skipped"].items():
        assert "No module named" in why, (name, why)


def test_version_comes_from_the_package_metadata():
    from importlib.metadata import version

    import edgekit

    assert edgekit.__version__ == version("edgekit")


def test_estimate_can_be_called_twice():
    """Was `TypeError: 'module' object is not callable` on the second access."""
    import edgekit
    from edgekit.example.detect import TFLITE

    first = edgekit.estimate(TFLITE, targets=["rpi5"])
    second = edgekit.estimate(TFLITE, targets=["rpi5", "pixel4"])
    assert callable(edgekit.estimate) and callable(edgekit.profile)
    assert [e.target for e in first] == ["rpi5"]
    assert {e.target for e in second} == {"rpi5", "pixel4"}
    assert first[0].latency_ms == pytest.approx(second[0].latency_ms)
    assert edgekit.profile("rpi5").id == "rpi5"


def test_convert_lists_its_options_keyword_only():
    import edgekit

    sig = inspect.signature(edgekit.convert)
    params = sig.parameters
    assert list(params)[0] == "model"
    expected = {"to", "precisions", "recipe", "out", "calib", "val", "labels", "prune", "data",
                "max_drop", "max_float", "device", "imports", "isolate", "safe_mode"}  # fmt: skip
    assert expected <= set(params)
    assert all(p.kind is p.KEYWORD_ONLY for n, p in params.items() if n != "model")
    assert not any(p.kind is p.VAR_KEYWORD for p in params.values())
    with pytest.raises(TypeError, match="precision"):
        edgekit.convert(None, precision="int8")  # a misspelt option fails before any work

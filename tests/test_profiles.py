"""Recipes and device profiles are data files; every one must parse and point at real things."""

from __future__ import annotations

import pytest

from edgekit import converters, devices, recipes
from edgekit.errors import ConfigError


@pytest.mark.light
@pytest.mark.parametrize("name", recipes.names())
def test_recipe_targets_are_possible(name):
    r = recipes.get(name)
    assert r.targets and r.description
    for fmt, precision in r.targets:
        converters.check_pair(fmt, precision)


@pytest.mark.light
@pytest.mark.parametrize("name", devices.names())
def test_device_profile_names_a_recipe(name):
    d = devices.get(name)
    assert d.name and d.reach in ("ssh", "adb", "local", "none")
    assert d.runtime in converters.REGISTRY
    assert any(fmt == d.runtime for fmt, _ in recipes.get(d.recipe).targets)


@pytest.mark.light
def test_unknown_names_list_the_choices():
    with pytest.raises(ConfigError, match="rpi5-int8"):
        recipes.get("nope")
    with pytest.raises(ConfigError, match="jetson-orin-nano"):
        devices.get("nope")


def test_device_option_uses_its_recipe(tiny_keras, tmp_path):
    from tests.conftest import run_cli

    res = run_cli("convert", tiny_keras, "--device", "jetson-orin-nano", "-o", tmp_path, "--json")
    assert res.returncode == 0, res.stderr[-2000:]
    import json

    (a,) = json.loads(res.stdout)["artifacts"]
    assert (a["format"], a["precision"]) == ("onnx", "fp32")

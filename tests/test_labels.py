"""Class folders are matched to the model's labels by name, and a folder order that does not
follow the model's output order is said in one line (convert --val, prune, --max-drop)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli

FER = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _folders(root, names, per_class: int = 3):
    import cv2

    for i, name in enumerate(names):
        (root / name).mkdir(parents=True)
        for j in range(per_class):
            cv2.imwrite(str(root / name / f"{j}.png"), np.full((8, 8, 3), 10 * i + j, np.uint8))
    return root


@pytest.mark.light
def test_folders_map_to_labels_by_name_not_folder_order(tmp_path):
    from edgekit.contract import Preprocess
    from edgekit.data import read_labelled

    root = _folders(tmp_path / "val", ["Neutral", "happy", "sad_face"])
    pre = Preprocess.for_shape([1, 8, 8, 3])
    s = read_labelled(root, preprocess=pre, labels=["sad face", "happy", "neutral"])
    # sorted folders: Neutral, happy, sad_face -> label indices 2, 1, 0 (case, _ and space)
    assert s.y.tolist() == [2] * 3 + [1] * 3 + [0] * 3
    assert s.classes == ["sad face", "happy", "neutral"]


@pytest.mark.light
def test_folder_that_names_no_label_is_one_error_line(tmp_path):
    from edgekit.contract import Preprocess
    from edgekit.data import read_labelled
    from edgekit.errors import ConfigError

    root = _folders(tmp_path / "val", ["happy", "grumpy"])
    with pytest.raises(ConfigError) as info:
        read_labelled(root, preprocess=Preprocess.for_shape([1, 8, 8, 3]), labels=FER)
    text = str(info.value)
    assert "['grumpy']" in text and "got labels: angry" in text and "--labels FILE" in text
    assert "\n" not in text


@pytest.mark.light
def test_label_order_warning_rule():
    from edgekit.data import binomial_tail, label_order_warning

    assert binomial_tail(5, 10, 0.5) == pytest.approx(0.623046875)
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 200)
    folder_order = sorted(FER)  # what a folder listing gives
    model_of_folder = np.array([FER.index(c) for c in folder_order])
    swapped = label_order_warning(y, model_of_folder[y], folder_order)
    assert swapped and "folder order probably differs" in swapped and "--labels" in swapped
    assert label_order_warning(y, y, folder_order) is None  # right order: quiet
    noisy = np.where(rng.random(200) < 0.35, rng.integers(0, 7, 200), y)
    assert label_order_warning(y, noisy, folder_order) is None  # a mediocre model: quiet
    chance = label_order_warning(y, rng.integers(0, 7, 200), folder_order)
    assert chance and "near chance" in chance


def test_convert_val_in_folder_order_warns_and_labels_silence_it(tmp_path, example_data):
    """The bundled model's outputs are circle, square, triangle, cross; its val folders sort
    as circle, cross, square, triangle."""
    from edgekit.example import LABELS, MODEL

    base = ["convert", MODEL, "--to", "tflite:fp32", "--val", example_data["val"]]
    r = run_cli(*base, "-o", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    said = " ".join((r.stderr + r.stdout).split())
    assert "folder order probably differs from the model's output order" in said
    ok = run_cli(*base, "--labels", LABELS, "-o", tmp_path / "b")
    assert ok.returncode == 0 and "folder order" not in ok.stderr + ok.stdout


def test_prune_and_budget_warn_on_folder_order(tmp_path, example_data):
    from edgekit.example import LABELS, MODEL
    from edgekit.optimize import PruneConfig, prune
    from edgekit.optimize.pipeline import convert_to_budget

    r = prune(MODEL, example_data["val"], config=PruneConfig(sparsity=0.3, epochs=0))
    assert any("folder order probably differs" in n for n in r.notes)
    quiet = prune(MODEL, example_data["val"], labels=LABELS, config=PruneConfig(epochs=0))
    assert not any("folder order" in n for n in quiet.notes)
    report = convert_to_budget(MODEL, formats=["coreml"], calib=example_data["calib"],
                               val=example_data["val"], out=tmp_path, max_drop=100.0,
                               calib_samples=16)  # fmt: skip
    assert report.label_warning and "--labels" in report.label_warning

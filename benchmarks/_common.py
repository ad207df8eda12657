"""Shared by the benchmark scripts: the test model, statistics, and result files."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

RESULTS = Path(__file__).parent / "results"


def mobilenet_v2(folder: Path) -> Path:
    """keras.applications MobileNetV2 (weights=None, 224x224) saved as .keras."""
    import keras

    path = folder / "mobilenet_v2.keras"
    if not path.exists():
        keras.utils.set_random_seed(0)
        model = keras.applications.MobileNetV2(weights=None, input_shape=(224, 224, 3))
        for layer in model.layers:  # BatchNorm statistics from data, as after training
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.0
        model(calibration(8), training=True)
        model.save(path)
    return path


def calibration(n: int = 16):
    import numpy as np

    return np.random.default_rng(0).uniform(-1, 1, (n, 224, 224, 3)).astype("float32")


def timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def median(xs) -> float:
    return float(statistics.median(xs))


def save(name: str, payload: dict) -> Path:
    """benchmarks/results/NAME.json with the machine fingerprint, and NAME.csv of the rows."""
    import csv

    from edgekit.fingerprint import fingerprint

    RESULTS.mkdir(exist_ok=True)
    payload = {"machine": fingerprint(), "date": time.strftime("%Y-%m-%d %H:%M"), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    rows = payload["rows"]
    with open(RESULTS / f"{name}.csv", "w", newline="") as fh:
        # every row's keys, in first-seen order (a row may add one, e.g. a plan's "reason")
        w = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)
    return path

"""50% magnitude pruning of a trained classifier from the wild corpus (tempocnn's Keras 2
tempo model, 313k weights, 40x256 mel spectrograms), distilled through `edgekit.prune` on
unlabelled synthetic click tracks (random tempo, timbre, phase and noise): top-1 agreement
with the original on other tracks, one-shot and distilled, per amount of data.

    python benchmarks/prune_distill.py [--tracks 400,1600] [--epochs 8]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from _common import save

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import wild, wild_data  # noqa: E402


def tracks(n: int, seed: int, sr: int = 11025, frames: int = 256) -> np.ndarray:
    """n click tracks as tempocnn's input (n, 40, 256, 1), each different in every respect."""
    rng = np.random.default_rng(seed)
    length = (frames - 1) * 512 + 1024
    bank = wild_data._mel_bank(sr, 1024, 40, 20.0, 5000.0)
    out = []
    for _ in range(n):
        bpm = rng.uniform(60, 180)
        y = rng.normal(0, rng.uniform(0.002, 0.03), length)
        decay, freq = rng.uniform(15, 60), rng.uniform(0.2, 1.2)
        click = np.exp(-np.arange(256) / decay) * np.sin(np.arange(256) * freq)
        for b in np.arange(rng.uniform(0, sr * 60 / bpm), length - 256, sr * 60 / bpm):
            y[int(b) : int(b) + 256] += click * rng.uniform(0.7, 1.0)
        windows = wild_data._windows(y, 1024, 512) * np.hanning(1024)
        mel = bank @ np.abs(np.fft.rfft(windows, axis=1)).T
        out.append((mel / mel.max())[..., None])
    return np.stack(out).astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tracks", default="400,1600")
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    import keras

    from edgekit.optimize import PruneConfig, prune

    path = wild.source(wild.model("tempocnn"))
    original = keras.models.load_model(path, compile=False)
    test = tracks(200, 2)
    ref = original.predict(test, verbose=0).argmax(1)

    def agreement(model) -> float:
        return round(float(np.mean(model.predict(test, verbose=0).argmax(1) == ref)), 4)

    one_shot = agreement(prune(path, config=PruneConfig(sparsity=0.5, epochs=0)).model)
    rows = []
    for n in (int(v) for v in args.tracks.split(",")):
        t = time.perf_counter()
        cfg = PruneConfig(sparsity=0.5, epochs=args.epochs, batch_size=64, learning_rate=1e-3)
        r = prune(path, tracks(n, 1), config=cfg)
        rows.append({"model": "tempocnn", "sparsity": 0.5, "tracks": n, "epochs": args.epochs,
                     "test_tracks": len(test), "one_shot_agreement": one_shot,
                     "distilled_agreement": agreement(r.model),
                     "seconds": round(time.perf_counter() - t, 1)})  # fmt: skip
        print(rows[-1])
    print(f"wrote {save('prune_distill', {'rows': rows, 'settings': vars(args)})}")


if __name__ == "__main__":
    main()

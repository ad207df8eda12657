"""Structured pruning's latency effect at camera-like resolutions.

At 64x64 the MobileNet-style model runs in about 0.1 ms and per-op overhead hides the FLOPs
saved. The model is fully convolutional, so the same weights run at any input size: here
the trained model and its 30%-channel-pruned version (same channel choice as
`compression.py`; fine-tuning changes weights, not shapes, so latency does not need it) are
rebuilt at 128x128 and 224x224, converted by edgekit, and timed in this process with
baseline and pruned alternating round by round (median of per-round ratios; shared machine).

    python benchmarks/compression_latency.py [--sizes 128,224] [--rounds 7] [--runs 50]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from _common import save
from compression import latency, mobilenet

TARGETS = ("tflite:fp32", "tflite:int8", "openvino:fp32", "onnx:fp32")


def resized(model, size: int):
    """The same layers and weights with a size x size input."""
    cfg = model.get_config()
    cfg["layers"][0]["config"]["batch_shape"] = [None, size, size, 3]
    out = model.__class__.from_config(cfg)
    out.set_weights(model.get_weights())
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="128,224")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "edgekit-bench")
    args = ap.parse_args()
    import keras

    import edgekit
    from edgekit.optimize import prune_channels
    from edgekit.optimize.structured import flops

    base = keras.models.load_model(mobilenet(args.cache), compile=False)
    slim = prune_channels(base, ratio=0.3, epochs=0).model
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgekit-latency-") as t:
        tmp = Path(t)
        for size in (int(s) for s in args.sizes.split(",")):
            paths: dict[str, dict[str, Path]] = {}
            for name, m in (("baseline", base), ("structured-30", slim)):
                r = resized(m, size)
                src = tmp / f"{name}-{size}.keras"
                r.save(src)
                out = tmp / f"{name}-{size}"
                rep = edgekit.convert(src, to=",".join(TARGETS), out=out, random_calib=True)
                paths[name] = {f"{a.format}:{a.precision}": out / a.file for a in rep.artifacts}
                paths[name]["flops"] = flops(r)
            ratio_flops = paths["structured-30"]["flops"] / paths["baseline"]["flops"]
            for target in TARGETS:
                for threads in (int(x) for x in args.threads.split(",")):
                    lat = latency({n: paths[n][target] for n in paths}, args.rounds, args.runs,
                                  threads)  # fmt: skip
                    rows.append({
                        "size": size, "artifact": target, "threads": threads,
                        "baseline_p50_ms": lat["baseline"]["p50_ms"],
                        "pruned_p50_ms": lat["structured-30"]["p50_ms"],
                        "latency_ratio": lat["structured-30"]["ratio"],
                        "flops_ratio": round(ratio_flops, 3),
                    })  # fmt: skip
                    print(rows[-1])
    settings = vars(args) | {"cache": str(args.cache)}
    print(f"wrote {save('compression_latency', {'rows': rows, 'settings': settings})}")


if __name__ == "__main__":
    main()

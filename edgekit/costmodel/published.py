"""The published latencies the estimator is fitted on, mapped onto edgekit's ids.

`data/published_latency.csv` is a copy of the shared table (every row names its source;
`data/published_latency.md` has the caveats). Each row is mapped to a device profile id, a
runtime id, the precision its arithmetic ran in, a thread count and a model key; rows that map
to no profile or runtime edgekit has are kept out, with the reason (`excluded()`).

`data/published_models.json` holds each published model's per-op costs, computed by building
the architecture (keras.applications with weights=None, or `architectures.py`) and, where no
Keras equivalent exists, scaled from a sibling to the paper's figure; `build_model_table()`
regenerates it (needs Keras).
"""

from __future__ import annotations

import csv
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path

from edgekit.costmodel.ops import ModelCost, OpCost, OpKind

DATA = Path(__file__).parent / "data"
CSV_PATH = DATA / "published_latency.csv"
MODELS_PATH = DATA / "published_models.json"

# (substring of the CSV's device column, profile id); first match wins
DEVICES = [
    ("Raspberry Pi 4B", "rpi4"), ("Raspberry Pi 5", "rpi5"), ("Jetson Nano 4GB", "jetson-nano"),
    ("Jetson Orin Nano 8GB Super", "jetson-orin-nano-super"),
    ("Jetson Orin Nano 8GB", "jetson-orin-nano"), ("Jetson Orin NX", "jetson-orin-nx"),
    ("Jetson AGX Orin", "jetson-agx-orin"), ("Google Pixel 4", "pixel4"),
    ("OnePlus 7T", "pixel4"), ("Google Pixel 3a", "pixel3a"), ("Google Pixel 3", "pixel3"),
    ("Google Pixel 2", "pixel2"), ("Google Pixel (SD821)", "pixel"),
    ("iPhone 11 Pro", "iphone-11-pro"), ("iPhone XS", "iphone-xs"),
    ("iPhone 12 Pro", "iphone-12-pro"), ("Coral USB Accelerator", "coral-usb"),
    ("Coral Dev Board", "coral-devboard"), ("Core Ultra 7 155H", "intel-core-ultra-155h"),
    ("Celeron N5105", "intel-celeron-n5105"), ("Galaxy S24 (Snapdragon 8 Gen 3)", "galaxy-s24"),
]  # fmt: skip

# rows that measure something other than the profile's setup: (column, substring, why)
MISMATCHED = [
    ("device", "Coral USB Accelerator (host RPi",
     "the host is a Raspberry Pi, not the coral-usb profile's x86-64 host, and Ultralytics' "
     "YOLOv8 Edge TPU export leaves many ops to that host's CPU (ultralytics/ultralytics#4719, "
     "#4754), a split the cost table does not have"),
    ("source", "aallan/benchmarking-ml-on-the-edge",
     "the source's columns say MobileNet v1/v2 but its caption says COCO SSD at 300x300, and "
     "the precision is not stated (../shared/data/README.md: lower-trust)"),
    ("runtime", "Core ML via Vision",
     "timed through Vision (VNCoreMLRequest), which scales and crops the image before the "
     "model runs: not the model's own latency"),
    ("note", "noisy: min",
     "the source's own loop ranged from its min to a max eight times higher (its note): the "
     "mean of that loop is not a steady-state latency (throttling or a busy core)"),
    ("note", "a fixed cost, not the model's compute",
     "the same latency on every unit of the device whatever its peak (the row's note): a cost "
     "outside the model's ops that the cost table does not have"),
]  # fmt: skip

# (substring of the lower-cased runtime column, runtime id or None to exclude)
RUNTIMES = [
    ("pytorch", None), ("mnn", None), ("openvino npu", None), ("onnx runtime (ultralytics)", None),
    ("tflite + qnn delegate", "litert-npu"), ("onnx runtime + qnn", "onnxruntime-qnn"),
    ("onnx runtime tensorrt", "tensorrt"), ("tensorrt", "tensorrt"),
    ("onnx runtime", "onnxruntime"), ("openvino igpu", "openvino-gpu"),
    ("openvino", "openvino"), ("edgetpu", "edgetpu"), ("edge tpu", "edgetpu"),
    ("nnapi", "nnapi"), ("gpu delegate", "tflite-gpu"), ("metal", "tflite-gpu"),
    ("xnnpack", "tflite"), ("tflite", "tflite"), ("ncnn vulkan", "ncnn-vulkan"),
    ("ncnn", "ncnn"), ("core ml via vision", "coreml"), ("core ml cpu", "coreml-cpu"),
    ("core ml gpu", "coreml-gpu"), ("core ml ane", "coreml-ane"),
]  # fmt: skip

# (regex on the model column, model key); the input size completes the key
MODELS = [
    (r"^SSD-MobileNetV1", "ssd_mobilenet_v1"), (r"^SSD-MobileNetV2", "ssd_mobilenet_v2"),
    (r"^MobileNetV1", "mobilenet_v1"), (r"^MobileNetV2", "mobilenet_v2"),
    (r"^MobileNetV3-Small", "mobilenet_v3_small"), (r"^MobileNetV3", "mobilenet_v3_large"),
    (r"^EfficientNet-B0", "efficientnet_b0"), (r"^EfficientNet-Lite0", "efficientnet_lite0"),
    (r"^ResNet-50 V2", "resnet50_v2"), (r"^ResNet-152 V2", "resnet152_v2"),
    (r"^ResNet-50", "resnet50"), (r"^ResNet-18", "resnet18"), (r"^DenseNet-121", "densenet121"),
    (r"^Inception-ResNet V2", "inception_resnet_v2"), (r"^VGG16", "vgg16"), (r"^VGG19", "vgg19"),
    (r"^NASNet mobile", "nasnet_mobile"),
    (r"^SqueezeNet1\.1", "squeezenet1_1"), (r"^YOLOv8n", "yolov8n"), (r"^YOLO11n", "yolo11n"),
]  # fmt: skip

# where each model's costs come from (also written into the JSON table)
MODEL_SOURCES = {
    "mobilenet_v1": "keras.applications.MobileNet(weights=None); 569 M MACs in Howard et al. 2017",
    "mobilenet_v2": "keras.applications.MobileNetV2(weights=None); 300 M MACs in "
    "Sandler et al. 2018",
    "mobilenet_v3_large": "keras.applications.MobileNetV3Large(weights=None); 219 M MACs in "
    "Howard et al. 2019 (ncnn's 'MobileNetV3' taken as Large)",
    "mobilenet_v3_small": "keras.applications.MobileNetV3Small(weights=None); 56 M MACs in "
    "Howard et al. 2019",
    "efficientnet_b0": "keras.applications.EfficientNetB0(weights=None); 0.39 B FLOPs in "
    "Tan & Le 2019",
    "efficientnet_lite0": "architectures.efficientnet_lite0 (B0's MBConv stack without "
    "squeeze-excite, ReLU6 for swish: tensorflow/tpu efficientnet/lite README); 4.7 M parameters",
    "resnet50": "keras.applications.ResNet50(weights=None); 3.8-4.1 G MACs in He et al. 2016",
    "resnet18": "architectures.resnet18 (torchvision layout); 1.8 G MACs in He et al. 2016",
    "resnet50_v2": "keras.applications.ResNet50V2(weights=None); He et al. 2016b (pre-activation)",
    "resnet152_v2": "keras.applications.ResNet152V2(weights=None); He et al. 2016b",
    "densenet121": "keras.applications.DenseNet121(weights=None); 2.9 G MACs in Huang et al. 2017",
    "inception_resnet_v2": "keras.applications.InceptionResNetV2(weights=None); Szegedy et al. "
    "2017 (13 G MACs at 299)",
    "vgg16": "keras.applications.VGG16(weights=None); 15.5 G MACs, 138 M parameters "
    "(Simonyan & Zisserman 2015)",
    "vgg19": "keras.applications.VGG19(weights=None); 19.6 G MACs, 144 M parameters",
    "nasnet_mobile": "keras.applications.NASNetMobile(weights=None); 564 M MACs in Zoph et al. "
    "2018",
    "squeezenet1_1": "architectures.squeezenet1_1 (torchvision layout); 0.35 G MACs",
    "yolov8n": "architectures.yolov8n (yolov8n.yaml); 8.7 GFLOPs, 3.2 M params in Ultralytics' "
    "model table",
    "yolo11n": "yolov8n op mix scaled to 6.5 GFLOPs (Ultralytics' YOLO11 model table)",
    "ssd_mobilenet_v1": "MobileNet backbone (keras.applications, include_top=False) scaled to "
    "1.2 G MACs at 300x300 (Howard et al. 2017, Table 13), by area at other sizes",
    "ssd_mobilenet_v2": "MobileNetV2 backbone (keras.applications, include_top=False) scaled to "
    "0.8 G MACs at 300x300 (SSDLite, Sandler et al. 2018, Table 6), by area at other sizes",
}


@dataclass
class PublishedRow:
    """One published measurement, mapped onto edgekit's ids."""

    device: str  # profile id
    runtime: str  # runtime id
    precision: str  # fp32 | fp16 | int8, as the row states it
    threads: int | None
    model: str  # model key, e.g. "mobilenet_v2@224"
    latency_ms: float
    bench: str  # which benchmark table: rows from one table share a setup
    raw: dict


def _match(text: str, table) -> str | None:
    return next((v for k, v in table if k in text), "")


def _precision(row: dict) -> str:
    text = (row["precision"] + " " + row["model"]).lower()
    if re.search(r"int8|uint8|8-bit|quant", text):
        return "int8"
    return "fp16" if "fp16" in text else "fp32"


def _threads(text: str) -> int | None:
    m = re.match(r"^\s*(?:default \()?(\d+)", text)
    return int(m.group(1)) if m else None


def bench_tag(source: str) -> str:
    """A short name for the benchmark table a row comes from (its first words)."""
    return re.sub(r"[^a-z0-9]+", "-", source.lower().split("(")[0].strip())[:60].strip("-")


def _map(raw: dict) -> tuple[PublishedRow | None, str]:
    why = next((w for col, text, w in MISMATCHED if text in raw[col]), "")
    if why:
        return None, why
    device = _match(raw["device"], DEVICES)
    if not device:
        return None, "no device profile"
    runtime = _match(raw["runtime"].lower(), RUNTIMES)
    if not runtime:
        return None, "not an edgekit runtime"
    model = next((k for rx, k in MODELS if re.search(rx, raw["model"])), None)
    if model is None:
        return None, "no cost figure for this model"
    size = raw["input"].split("x")[0]
    row = PublishedRow(
        device, runtime, _precision(raw), _threads(raw["threads"]), f"{model}@{size}",
        float(raw["latency_ms"]), bench_tag(raw["source"]), raw,
    )  # fmt: skip
    return row, ""


@functools.lru_cache(maxsize=1)
def _mapped() -> tuple[list[PublishedRow], list[tuple[dict, str]]]:
    rows, out = [], []
    with open(CSV_PATH, newline="", encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            row, why = _map(raw)
            (rows.append(row) if row else out.append((raw, why)))
    from edgekit.device.profiles import get

    costs = model_table()
    keep = []
    for r in rows:
        if r.model not in costs:
            out.append((r.raw, "no cost figure for this input size"))
        elif r.runtime not in get(r.device).runtimes:
            out.append((r.raw, f"the {r.device} profile does not list {r.runtime}"))
        else:
            keep.append(r)
    return keep, out


def rows() -> list[PublishedRow]:
    """The published rows that map onto a device profile, a runtime and a costed model."""
    return list(_mapped()[0])


def excluded() -> list[tuple[dict, str]]:
    """Rows left out of the fit, each with the reason."""
    return list(_mapped()[1])


@functools.lru_cache(maxsize=1)
def model_table() -> dict[str, ModelCost]:
    """Per-op fp32 costs of each published model, keyed "name@size"."""
    data = json.loads(MODELS_PATH.read_text(encoding="utf-8"))
    return {
        key: ModelCost(
            d["source"],
            "published",
            "fp32",
            [OpCost(f"op{i}", OpKind(k), m, w, a) for i, (k, m, w, a) in enumerate(d["ops"])],
        )  # fmt: skip
        for key, d in data.items()
    }


def build_model_table(path: Path = MODELS_PATH) -> dict[str, dict]:
    """Rebuild `published_models.json` from the architectures (needs Keras, about a minute)."""
    import keras

    from edgekit.costmodel import architectures as arch
    from edgekit.costmodel.costs import model_costs

    apps = keras.applications
    builders = {
        "mobilenet_v1": lambda s: apps.MobileNet(weights=None, input_shape=(s, s, 3)),
        "mobilenet_v2": lambda s: apps.MobileNetV2(weights=None, input_shape=(s, s, 3)),
        "mobilenet_v3_large": lambda s: apps.MobileNetV3Large(weights=None, input_shape=(s, s, 3)),
        "mobilenet_v3_small": lambda s: apps.MobileNetV3Small(weights=None, input_shape=(s, s, 3)),
        "efficientnet_b0": lambda s: apps.EfficientNetB0(weights=None, input_shape=(s, s, 3)),
        "resnet50": lambda s: apps.ResNet50(weights=None, input_shape=(s, s, 3)),
        "resnet50_v2": lambda s: apps.ResNet50V2(weights=None, input_shape=(s, s, 3)),
        "resnet152_v2": lambda s: apps.ResNet152V2(weights=None, input_shape=(s, s, 3)),
        "densenet121": lambda s: apps.DenseNet121(weights=None, input_shape=(s, s, 3)),
        "inception_resnet_v2": lambda s: apps.InceptionResNetV2(
            weights=None, input_shape=(s, s, 3)
        ),
        "vgg16": lambda s: apps.VGG16(weights=None, input_shape=(s, s, 3)),
        "vgg19": lambda s: apps.VGG19(weights=None, input_shape=(s, s, 3)),
        "nasnet_mobile": lambda s: apps.NASNetMobile(weights=None, input_shape=(s, s, 3)),
        "resnet18": arch.resnet18,
        "squeezenet1_1": arch.squeezenet1_1,
        "efficientnet_lite0": arch.efficientnet_lite0,
        "yolov8n": arch.yolov8n,
    }
    scaled = {  # key: (sibling builder, published MACs at reference size, reference size)
        "yolo11n": ("yolov8n", 6.5e9 / 2, 640),
        "ssd_mobilenet_v1": (
            lambda s: apps.MobileNet(weights=None, include_top=False, input_shape=(s, s, 3)),
            1.2e9, 300,
        ),
        "ssd_mobilenet_v2": (
            lambda s: apps.MobileNetV2(weights=None, include_top=False, input_shape=(s, s, 3)),
            0.8e9, 300,
        ),
    }  # fmt: skip
    wanted = sorted({(r.model, int(r.raw["input"].split("x")[0])) for r in _all_mapped()})
    table = {}
    for key, size in wanted:
        name = f"{key}@{size}"
        if key in builders:
            cost = model_costs(builders[key](size))
        else:
            sib, macs, ref = scaled[key]
            base = model_costs((builders[sib] if isinstance(sib, str) else sib)(size))
            cost = base.scaled(macs * (size / ref) ** 2 / base.macs, source=name)
        table[name] = {
            "source": MODEL_SOURCES[key],
            "macs": cost.macs,
            "weight_bytes_fp32": cost.weight_bytes,
            "ops": [[o.kind.value, o.macs, o.weight_bytes, o.act_bytes] for o in cost.ops],
        }
    path.write_text(json.dumps(table, separators=(",", ":")), encoding="utf-8")
    model_table.cache_clear()
    _mapped.cache_clear()
    return table


def _all_mapped() -> list[PublishedRow]:
    out = []
    with open(CSV_PATH, newline="", encoding="utf-8") as f:
        for raw in csv.DictReader(f):
            row, _ = _map(raw)
            if row:
                row.model = row.model.split("@")[0]
                out.append(row)
    return out

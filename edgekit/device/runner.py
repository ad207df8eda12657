"""The benchmark loop and machine fingerprint, self-contained: the standard library, numpy and
the one runtime the artifact needs (ai-edge-litert / tflite-runtime, openvino or onnxruntime).

`edgekit bench` uses it here, and `edgekit bench --on ssh://...` copies this one file to the
device and runs it there, so local and remote numbers come from the same code:

    python runner.py model.tflite --json [--threads 4] [--runs 100 | --duration 10]
        [--warmup 10] [--sustained 60] [--device CPU] [--delegate libedgetpu.so.1]
        [--precision int8] [--stream]

`--json` prints `{"machine": ..., "results": [...]}`, the schema of `edgekit bench --json`.
`--stream` prints one JSON object a line while it runs (machine, loaded, samples every quarter
second, sustained rows, result), so a caller reading over a link keeps every sample it got.
Nothing here imports edgekit: keep it that way.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEFAULT_RUNS = 100
STREAM_EVERY_S = 0.25
ISA_FLAGS = tuple(
    "avx avx2 fma avx512f avx512_vnni avx512_bf16 avx_vnni amx_int8 amx_bf16 "
    "neon asimd asimddp asimdhp fphp i8mm sve bf16".split()
)
RUNTIMES = tuple(
    "ai-edge-litert tflite-runtime tensorflow openvino onnxruntime onnxruntime-gpu "
    "coremltools ncnn numpy opencv-python-headless".split()
)
TFLITE_BACKENDS = (  # module, distribution
    ("ai_edge_litert.interpreter", "ai-edge-litert"),
    ("tflite_runtime.interpreter", "tflite-runtime"),
    ("tensorflow.lite.python.interpreter", "tensorflow"),
)
# edgekit artifact precision -> what LiteRT computes in (XNNPACK dequantizes fp16 weights)
TFLITE_EXECUTED = dict(fp32="f32", fp16="f32", int8="int8", int16x8="int16x8")
TFLITE_EXECUTED.update({"dynamic-int8": "int8-dynamic", "int8-io": "int8", "uint8-io": "int8"})
TFLITE_EXECUTED["npu"] = "int8"  # an NPU build: quantized to int8, the vendor decides on device
OV_READ_BACK = dict(float32="f32", f32="f32", bfloat16="bf16", bf16="bf16", float16="f16")
INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}


class RunnerError(Exception):
    """A problem the runner reports as one line (bad artifact, missing runtime)."""


# -- the machine ----------------------------------------------------------------------------
def fingerprint() -> dict:
    """A JSON-ready description of this machine, for every benchmark result."""
    cpu = cpuinfo()
    return {
        "cpu": cpu.get("model name")
        or cpu.get("Model")
        or cpu.get("Hardware")
        or platform.processor(),
        "board": read_sys("/proc/device-tree/model"),
        "machine": platform.machine(),
        "cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "isa": isa_flags(cpu),
        "memory_gb": memory_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "runtimes": {name: v for name in RUNTIMES if (v := version(name))},
        "governor": read_sys("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        **state(),
    }


def isa_flags(cpu: dict | None = None) -> list[str]:
    """The CPU features (of ISA_FLAGS) that decide which kernels and precisions runtimes use."""
    cpu = cpuinfo() if cpu is None else cpu
    return sorted(
        set(cpu.get("flags", "").split() + cpu.get("Features", "").split()) & set(ISA_FLAGS)
    )


def has_bf16() -> bool:
    """Whether this CPU runs bf16 natively (AVX512_BF16 or AMX on x86, BF16 on Arm)."""
    return bool({"avx512_bf16", "amx_bf16", "bf16"} & set(isa_flags()))


def state() -> dict:
    """The parts that change while a benchmark runs: temperature, clock, throttling."""
    return {"temperature_c": temperature(), "cpu_mhz": cpu_mhz(), "throttled": throttled()}


def temperature() -> float | None:
    """Hottest thermal zone in degrees C (Pi: cpu-thermal; Jetson: several zones)."""
    temps = []
    for zone in Path("/sys/class/thermal").glob("thermal_zone*/temp"):
        raw = read_sys(zone)
        if raw and raw.lstrip("-").isdigit():
            temps.append(int(raw) / 1000)
    return max(temps) if temps else None


def cpu_mhz() -> float | None:
    raw = read_sys("/sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq")
    return int(raw) / 1000 if raw and raw.isdigit() else None


def throttled() -> str | None:
    """Raspberry Pi firmware throttle bits (0x0 = never throttled), where the kernel shows them."""
    return read_sys("/sys/devices/platform/soc/soc:firmware/get_throttled")


def version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    from importlib import metadata

    for name in (dist, dist.replace("_", "-")):
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def cpuinfo() -> dict:
    info: dict[str, str] = {}
    for line in (read_sys("/proc/cpuinfo") or "").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() not in info:
            info[key.strip()] = value.strip()
    return info


def memory_gb() -> float | None:
    m = re.search(r"MemTotal:\s+(\d+)", read_sys("/proc/meminfo") or "")
    return round(int(m.group(1)) / 1024**2, 1) if m else None


def read_sys(path) -> str | None:
    try:
        return Path(path).read_text(errors="replace").strip().strip("\x00") or None
    except OSError:
        return None


def rss_mb() -> float:
    """This process's resident memory now (MB)."""
    statm = read_sys("/proc/self/statm")
    if statm:
        return int(statm.split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return peak_rss_mb()


def peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


# -- the loop -------------------------------------------------------------------------------
@dataclass
class Spec:
    """An input tensor: what `sample_feed` needs (edgekit's TensorSpec has the same fields)."""

    name: str
    shape: list
    dtype: str = "float32"
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.dtype in INT_RANGES and bool(self.scale)


def sample_feed(specs) -> list[np.ndarray]:
    """A fixed input in the model's native dtypes (random image-like values, seed 0)."""
    rng = np.random.default_rng(0)
    feed = []
    for spec in specs:
        x = rng.uniform(0, 1, [d if d > 0 else 1 for d in spec.shape]).astype(np.float32)
        if spec.quantized:
            lo, hi = INT_RANGES[spec.dtype]
            x = np.clip(np.round(x / spec.scale + spec.zero_point), lo, hi)
        feed.append(np.ascontiguousarray(x.astype(spec.dtype)))
    return feed


def read_inputs(path) -> dict:
    """The arrays of an .npz (or one .npy, as arr_0), read before any model is loaded.

    Raises:
        RunnerError: a missing, truncated or pickled file.
    """
    try:
        with open(path, "rb") as fh:
            got = np.load(fh, allow_pickle=False)
            return {"arr_0": got} if isinstance(got, np.ndarray) else dict(got)
    except Exception as e:  # numpy's own text talks of pickles and is no help here
        raise RunnerError(
            f"--inputs: cannot read {Path(path).name} as arrays; got: {type(e).__name__}; "
            "write it with np.savez(path, input_name=array, ...)"
        ) from None


def load_feed(path, specs) -> list[np.ndarray]:
    """The user's own input (`--inputs FILE.npz`, or its `read_inputs` dict): one array per
    model input, by input name
    (or arr_0, arr_1, ... in input order, as `np.savez(f, a, b)` writes them), cast to the
    input's dtype; float arrays for a quantized input are quantized with its scale. For
    models that random values break (a sample-rate scalar, token ids, a recurrent state).

    Raises:
        RunnerError: unreadable file, a missing input, or a shape that does not fit.
    """
    data = path if isinstance(path, dict) else read_inputs(path)
    feed = []
    for i, spec in enumerate(specs):
        key = spec.name if spec.name in data else f"arr_{i}"
        if key not in data:
            raise RunnerError(
                f"--inputs: no array for input {spec.name!r}; got: {sorted(data)}; name "
                f"them {[s.name for s in specs]} (np.savez(f, **{{name: array}}))"
            )
        x = np.asarray(data[key])
        want = [d if d > 0 else x.shape[k] if k < x.ndim else 1 for k, d in enumerate(spec.shape)]
        if x.size == int(np.prod(want, dtype=np.int64)):
            x = x.reshape(want)
        elif x.ndim != len(want):  # same rank: sizes a runtime left free (ONNX) are the user's
            raise RunnerError(
                f"--inputs: {key} has shape {list(x.shape)}; input {spec.name!r} takes "
                f"{list(spec.shape)}"
            )
        if spec.quantized and x.dtype.kind == "f":
            lo, hi = INT_RANGES[spec.dtype]
            x = np.clip(np.round(x / spec.scale + spec.zero_point), lo, hi)
        feed.append(np.ascontiguousarray(x.astype(spec.dtype)))
    return feed


def timed_loop(run, feed, *, runs=None, duration=None, on_samples=None) -> list[float]:
    """Seconds per `run(feed)` call: N runs, or as many as fit in `duration` seconds.
    `on_samples(list_of_ms)` gets the new samples every STREAM_EVERY_S seconds and at the end."""
    clock = time.perf_counter
    times: list[float] = []
    limit = runs or (None if duration else DEFAULT_RUNS)
    end = clock() + duration if duration else None
    sent = 0
    flush_at = clock() + STREAM_EVERY_S
    while True:
        t = clock()
        if end is not None and t >= end and times:
            break
        run(feed)
        times.append(clock() - t)
        if limit and len(times) >= limit:
            break
        if on_samples is not None and times and clock() >= flush_at:
            on_samples([round(s * 1e3, 5) for s in times[sent:]])
            sent, flush_at = len(times), clock() + STREAM_EVERY_S
    if on_samples is not None and sent < len(times):
        on_samples([round(s * 1e3, 5) for s in times[sent:]])
    return times


def sustained_log(run, feed, seconds: float, on_row=None) -> list[dict]:
    """One row a second: mean latency, temperature, clock, throttle bits."""
    rows = []
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        times = timed_loop(run, feed, duration=1.0)
        row = {"t_s": round(elapsed, 1), "mean_ms": _r(np.mean(times) * 1e3), **state()}
        rows.append(row)
        if on_row:
            on_row(row)
    return rows


def summarize(ms) -> dict:
    """Latency statistics of per-run milliseconds, in BenchResult's field names."""
    ms = np.asarray(ms, dtype=np.float64)
    if ms.size == 0:
        return {"runs": 0}
    return {
        "runs": int(ms.size),
        "p50_ms": _r(np.percentile(ms, 50)),
        "p90_ms": _r(np.percentile(ms, 90)),
        "p99_ms": _r(np.percentile(ms, 99)),
        "mean_ms": _r(ms.mean()),
        "std_ms": _r(ms.std()),
        "min_ms": _r(ms.min()),
        "max_ms": _r(ms.max()),
        "fps": _r(1e3 / ms.mean()),
    }


def _r(v) -> float:
    return round(float(v), 4)


# -- the runtimes (one file's worth each: load, specs, run, what it computes in) -------------
class Model:
    """A loaded artifact: `inputs` (Spec), `run(feed)`, `runtime`, `format`, `execution`."""

    format = ""
    runtime = ""

    def __init__(self) -> None:
        self.inputs: list[Spec] = []
        self.execution: dict = {}

    def run(self, feed):
        raise NotImplementedError


class TFLiteModel(Model):
    """LiteRT's Interpreter (XNNPACK or a delegate), or with `api="compiled"` its CompiledModel
    API on an accelerator (cpu, gpu, npu), as edgekit's TFLite session runs them."""

    format = "tflite"

    def __init__(
        self, path, *, threads=None, delegate=None, xnnpack=True, precision=None, api=None,
        accelerator=None, **_,
    ):  # fmt: skip
        super().__init__()
        if api == "compiled" or accelerator:
            self._compiled(path, threads, accelerator or "cpu", precision)
            return
        mod, self.runtime = _import_first(TFLITE_BACKENDS, "pip install ai-edge-litert")
        kwargs: dict = {"model_path": str(path), "num_threads": threads}
        if delegate:
            kwargs["experimental_delegates"] = [mod.load_delegate(delegate)]
        if not xnnpack:
            kwargs["experimental_op_resolver_type"] = (
                mod.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
            )
        self._it = it = mod.Interpreter(**kwargs)
        it.allocate_tensors()
        self.inputs = [_tflite_spec(d) for d in it.get_input_details()]
        self._in = [d["index"] for d in it.get_input_details()]
        self._out = [d["index"] for d in it.get_output_details()]
        quantized = any(s.quantized for s in self.inputs) or any(
            _tflite_spec(d).quantized for d in it.get_output_details()
        )
        computed = TFLITE_EXECUTED.get(precision or "") or ("int8" if quantized else "f32")
        self.execution = {
            "precision": computed,
            "settings": {"api": "interpreter", "xnnpack": bool(xnnpack and not delegate),
                         "xnnpack_fp16": False},
            "isa": isa_flags(),
        }  # fmt: skip

    def _compiled(self, path, threads, accelerator, precision):
        cm = _import("ai_edge_litert.compiled_model", "pip install -U 'ai-edge-litert>=2'")
        self.runtime = f"ai-edge-litert {version('ai-edge-litert') or '?'} (CompiledModel)"
        hw = cm.HardwareAccelerator
        if accelerator not in ("cpu", "gpu", "npu"):
            raise RunnerError(f"unknown accelerator; got: {accelerator!r}; use cpu, gpu or npu")
        chosen = getattr(hw, accelerator.upper()) | hw.CPU  # what it cannot take: the CPU
        options = cm.Options(chosen, cpu_options=cm.CpuOptions(num_threads=int(threads or 0)))
        try:
            self._cm = cm.CompiledModel.from_file(str(path), options=options)
        except (RuntimeError, ValueError) as e:
            raise RunnerError(
                f"LiteRT's {accelerator} accelerator is not available here for "
                f"{Path(path).name} (its log above says why); use --accelerator cpu"
            ) from e
        # the scales and zero points the buffers need, from the Interpreter's reading
        details = {d["name"]: d for d in _import_first(TFLITE_BACKENDS, "")[0]
                   .Interpreter(model_path=str(path)).get_input_details()}  # fmt: skip
        sig = self._cm.get_signature_list()
        key = next(iter(sig))
        shapes = self._cm.get_input_tensor_details(key)
        self.inputs = [
            _tflite_spec(details[n]) if n in details
            else Spec(n, list(shapes[n]["shape"]), shapes[n]["dtype"])
            for n in sig[key]["inputs"]
        ]  # fmt: skip
        self._cin = self._cm.create_input_buffers(0)
        self._cout = self._cm.create_output_buffers(0)
        quantized = any(s.quantized for s in self.inputs)
        computed = TFLITE_EXECUTED.get(precision or "") or ("int8" if quantized else "f32")
        self.execution = {
            "precision": "f16" if accelerator == "gpu" and computed == "f32" else computed,
            "settings": {"api": "compiled", "accelerator": accelerator,
                         "fully_accelerated": bool(self._cm.is_fully_accelerated()),
                         "xnnpack": accelerator == "cpu"},
            "isa": isa_flags() if accelerator == "cpu" else [],
        }  # fmt: skip
        self.run = self._run_compiled

    def _run_compiled(self, feed):
        for buf, a in zip(self._cin, feed):
            buf.write(a)
        self._cm.run_by_index(0, self._cin, self._cout)
        return self._cout

    def run(self, feed):
        it = self._it
        for idx, a in zip(self._in, feed):
            it.set_tensor(idx, a)
        it.invoke()
        return [it.get_tensor(idx) for idx in self._out]


class OpenVINOModel(Model):
    format = "openvino"

    def __init__(self, path, *, threads=None, device=None, precision=None, **_):
        super().__init__()
        ov = _import("openvino", 'pip install "openvino"')
        self.runtime = f"openvino {version('openvino') or ov.__version__}"
        core = ov.Core()
        model = core.read_model(str(Path(path).with_suffix(".xml")))
        device = (device or "CPU").upper()
        # the same defaults as edgekit's OpenVINO session: f32 on CPU unless the IR is bf16
        config = {"PERFORMANCE_HINT": "LATENCY"}
        if precision == "bf16":
            config["INFERENCE_PRECISION_HINT"] = "bf16"
        elif device.startswith("CPU") or precision in (None, "fp32"):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        compiled = core.compile_model(model, device, config)
        try:
            got = str(compiled.get_property("INFERENCE_PRECISION_HINT"))
        except Exception:  # a plugin without the property
            got = "unknown"
        name = got.split("'")[1] if "'" in got else got
        self.execution = {
            "precision": OV_READ_BACK.get(name.lower(), name),
            "settings": {"device": device, **{k: str(v) for k, v in config.items()}},
            "isa": isa_flags() if device.startswith("CPU") else [],
        }
        if any(op.get_type_name() == "FakeQuantize" for op in model.get_ops()):
            # NNCF's int8 IR: quantized ops run in int8, the rest in the hinted precision
            self.execution["precision"] = f"int8+{self.execution['precision']}"
        self._request = compiled.create_infer_request()
        self._ov, self._bound = ov, None
        self._n_out = len(compiled.outputs)
        self.inputs = [
            Spec(
                p.get_any_name(),
                [int(d) for d in p.get_partial_shape().get_min_shape()],
                p.get_element_type().to_dtype().name,
            )
            for p in compiled.inputs
        ]

    def run(self, feed):
        # inputs bound as shared tensors once, as edgekit's session does: no copy per call
        if feed is not self._bound:
            for i, a in enumerate(feed):
                self._request.set_input_tensor(i, self._ov.Tensor(a, shared_memory=True))
            self._bound = feed
        self._request.infer()
        return [self._request.get_output_tensor(i).data for i in range(self._n_out)]


class ONNXModel(Model):
    format = "onnx"
    PROVIDERS = {
        "cpu": "CPUExecutionProvider",
        "cuda": "CUDAExecutionProvider",
        "tensorrt": "TensorrtExecutionProvider",
    }

    def __init__(self, path, *, threads=None, device=None, **_):
        super().__init__()
        ort = _import("onnxruntime", "pip install onnxruntime")
        self.runtime = f"onnxruntime {ort.__version__}"
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        key = (device or "cpu").lower()
        providers = [self.PROVIDERS[key]] + (["CPUExecutionProvider"] if key != "cpu" else [])
        self._s = ort.InferenceSession(str(path), opts, providers=providers)
        args = self._s.get_inputs()
        self._names = [a.name for a in args]
        self.inputs = [
            Spec(
                a.name,
                [d if isinstance(d, int) else 1 for d in a.shape],
                _onnx_dtype(a.type),
            )
            for a in args
        ]
        fp16 = any(s.dtype == "float16" for s in self.inputs)
        self.execution = {
            "precision": "f16" if fp16 else "f32",
            "settings": {"providers": self._s.get_providers()},
            "isa": isa_flags(),
        }

    def run(self, feed):
        return self._s.run(None, dict(zip(self._names, feed)))


class NCNNModel(Model):
    """Tencent ncnn's Python binding (CPU; Vulkan with device="vulkan"), as edgekit's ncnn
    session runs it: f32 for an fp32 file, fp16 storage and arithmetic (where the CPU has
    them) for an fp16 one. Input shapes come from the .param's Input layers, where edgekit's
    converter records them."""

    format = "ncnn"
    FLAGS = ("use_fp16_packed", "use_fp16_storage", "use_fp16_arithmetic", "use_bf16_storage")

    def __init__(self, path, *, threads=None, device=None, precision=None, **_):
        super().__init__()
        ncnn = _import("ncnn", "pip install ncnn")
        self.runtime = f"ncnn {version('ncnn') or getattr(ncnn, '__version__', '?')}"
        param, weights = (artifact_files(path) * 2)[:2]
        missing = [f.name for f in (param, weights) if not f.is_file()]
        if missing:
            raise RunnerError(f"{missing[0]} is missing; an ncnn model is a .param and a .bin")
        text = param.read_text(errors="replace")
        if not text.startswith("7767517"):
            raise RunnerError(f"{param.name} is not an ncnn .param file (no 7767517 magic)")
        if device not in (None, "cpu", "vulkan", "gpu"):
            raise RunnerError(f"unknown ncnn device; got: {device!r}; use cpu or vulkan")
        vulkan, fp16 = device in ("vulkan", "gpu"), precision == "fp16"
        net = ncnn.Net()
        for flag in self.FLAGS:
            setattr(net.opt, flag, fp16 and "bf16" not in flag)
        net.opt.use_vulkan_compute = vulkan
        if threads:
            net.opt.num_threads = int(threads)
        if net.load_param(str(param)) != 0 or net.load_model(str(weights)) != 0:
            raise RunnerError(f"ncnn cannot load {param.name} with {weights.name}")
        self._ncnn, self._net = ncnn, net
        self._in, self._out = list(net.input_names()), list(net.output_names())
        self.inputs = [Spec(name, shape) for name, shape in ncnn_inputs(text)]
        self.execution = {
            "precision": "f16" if fp16 else "f32",
            "settings": {"vulkan": vulkan, **{f: fp16 and "bf16" not in f for f in self.FLAGS}},
            "isa": isa_flags(),
        }

    def run(self, feed):
        ex = self._net.create_extractor()
        for name, x in zip(self._in, feed):  # ncnn takes one sample: the batch axis dropped
            ex.input(name, self._ncnn.Mat(np.ascontiguousarray(x[0], np.float32)).clone())
        outs = []
        for name in self._out:
            code, mat = ex.extract(name)
            if code != 0:
                raise RunnerError(f"ncnn failed to compute output {name} (code {code})")
            outs.append(np.array(mat)[None])
        return outs


def ncnn_inputs(text: str) -> list:
    """(blob name, shape with batch 1) of each Input layer of a .param: 0=w 1=h 2=c 11=d."""
    found = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 5 or parts[0] != "Input":
            continue
        n_in, n_out = int(parts[2]), int(parts[3])
        params = dict(p.split("=", 1) for p in parts[4 + n_in + n_out :] if "=" in p)
        dims = [int(params[k]) for k in ("11", "2", "1", "0") if k in params]
        found.append((parts[4 + n_in], [1, *dims]))
    return found


MODELS = {
    ".tflite": TFLiteModel,
    ".xml": OpenVINOModel,
    ".bin": OpenVINOModel,  # a plain .bin with a .param beside it (and no .xml) is ncnn's
    ".onnx": ONNXModel,
    ".ncnn.param": NCNNModel,
    ".ncnn.bin": NCNNModel,
    ".param": NCNNModel,
}
# the two files of an artifact (main, weights): ncnn's own names first, then an IR's .bin
# before a plain ncnn pair's, as edgekit's format registry reads model.bin
PAIRS = ((".ncnn.param", ".ncnn.bin"), (".xml", ".bin"), (".param", ".bin"))


def artifact_files(path) -> list:
    """[main, weights] of a two-file artifact (either file named), else [the file]."""
    p = Path(path)
    guess = None
    for main, weights in PAIRS:
        for have, other in ((main, weights), (weights, main)):
            if p.name.lower().endswith(have):
                q = p.with_name(p.name[: -len(have)] + other)
                pair = [p, q] if have == main else [q, p]
                if q.exists() or have == main:
                    return pair
                guess = guess or (pair if main == PAIRS[0][0] else None)
    return guess or [p]


def model_class(path):
    """The Model class for a file: by its longest ending in MODELS (.ncnn.bin before .bin)."""
    files = artifact_files(path)
    name = files[0].name.lower()
    ending = max((e for e in MODELS if name.endswith(e)), key=len, default=None)
    return MODELS.get(ending)


def open_model(path, **options) -> Model:
    """Load an artifact with the runtime its suffix calls for."""
    p = Path(path)
    model = model_class(p)
    if model is None:
        raise RunnerError(f"the runner takes {sorted(MODELS)}; got: {p.name}")
    if not p.is_file():
        raise RunnerError(f"artifact not found; got: {p}")
    try:
        return model(p, **options)
    except RunnerError:
        raise
    except Exception as e:  # the runtime's own failure: one line, with its words
        raise RunnerError(f"cannot load {p.name}: {' '.join(str(e).split())[:300]}") from e


def _tflite_spec(d: dict) -> Spec:
    scale, zp = d.get("quantization", (0.0, 0))
    return Spec(
        d["name"],
        [int(v) for v in d["shape"]],
        np.dtype(d["dtype"]).name,
        float(scale) or None,
        int(zp),
    )


def _onnx_dtype(t: str) -> str:
    name = t.removeprefix("tensor(").removesuffix(")")
    return {"float": "float32", "double": "float64"}.get(name, name)


def _import(module: str, fix: str):
    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise RunnerError(f"{module} is not installed on this machine; fix: {fix}") from e


def _import_first(candidates, fix: str):
    for module, dist in candidates:
        try:
            return importlib.import_module(module), f"{dist} {version(dist) or '?'}"
        except ImportError:
            continue
    raise RunnerError(f"no TFLite interpreter found; fix: {fix}")


def file_size(path) -> int:
    """Bytes of an artifact, its weights file counted (an IR's .bin, ncnn's .param and .bin)."""
    if not Path(path).is_file():
        return 0
    return sum(f.stat().st_size for f in artifact_files(path) if f.is_file())


# -- one benchmark --------------------------------------------------------------------------
def bench(
    path,
    *,
    threads=None,
    runs=None,
    duration=None,
    warmup=10,
    sustained=None,
    device=None,
    delegate=None,
    precision=None,
    emit=None,
    inputs=None,
    **options,
) -> dict:
    """Benchmark one artifact; returns BenchResult's fields. `emit(event_dict)` streams.
    `inputs`: an .npz of the model's inputs (`load_feed`; default random values).
    `options` go to the model class (TFLite: api="compiled", accelerator="gpu")."""
    data = read_inputs(inputs) if inputs else None  # a bad file fails before the model loads
    rss0 = rss_mb()
    t = time.perf_counter()
    model = open_model(
        path, threads=threads, device=device, delegate=delegate, precision=precision, **options
    )
    load_ms = (time.perf_counter() - t) * 1e3
    return {
        "artifact": str(path),
        "precision": precision,
        "size_bytes": file_size(path),
        "threads": threads,
        **measure(model, load_ms=load_ms, rss0=rss0, runs=runs, duration=duration,
                  warmup=warmup, sustained=sustained, emit=emit,
                  feed=load_feed(data, model.inputs) if data is not None else None),
    }  # fmt: skip


def measure(
    model, *, load_ms, rss0, runs=None, duration=None, warmup=10, sustained=None, emit=None,
    feed=None,
) -> dict:  # fmt: skip
    """The loop every edgekit benchmark runs, here and on devices: first run, warm-up, timed
    runs, the sustained log and memory. `model` has `inputs` (Spec-like), `run(feed)`,
    `format`, `runtime` and `execution`: a runner Model, or an edgekit Session adapted to it."""
    emit = emit or (lambda event: None)
    feed = sample_feed(model.inputs) if feed is None else feed
    t = time.perf_counter()
    model.run(feed)
    first_ms = (time.perf_counter() - t) * 1e3
    emit(
        {
            "event": "loaded",
            "load_ms": _r(load_ms),
            "first_ms": _r(first_ms),
            "runtime": model.runtime,
            "runs": runs,
            "duration": duration,
        }
    )
    for _ in range(warmup):
        model.run(feed)
    times = timed_loop(
        model.run,
        feed,
        runs=runs,
        duration=duration,
        on_samples=lambda ms: emit({"event": "samples", "ms": ms}),
    )
    rows = (
        sustained_log(
            model.run, feed, sustained, on_row=lambda row: emit({"event": "sustained", "row": row})
        )
        if sustained
        else []
    )
    peak = rss_mb()
    return {
        "format": model.format,
        "runtime": model.runtime,
        "executed_precision": model.execution.get("precision"),
        "load_ms": _r(load_ms),
        "first_ms": _r(first_ms),
        **summarize(np.asarray(times) * 1e3),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "rss_growth_mb": round(max(peak - rss0, 0.0), 1),
        "parity": None,
        "execution": model.execution,
        "sustained": rows,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="edgekit's device runner (numpy + one runtime)")
    ap.add_argument("artifact")
    ap.add_argument("--json", action="store_true", help="print the result document as JSON")
    ap.add_argument("--stream", action="store_true", help="one JSON event a line while running")
    ap.add_argument("--threads", type=int)
    ap.add_argument("--runs", type=int)
    ap.add_argument("--duration", type=float)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--sustained", type=float)
    ap.add_argument("--device")
    ap.add_argument("--delegate")
    ap.add_argument("--precision", help="the artifact's precision as edgekit recorded it")
    ap.add_argument("--inputs", help="an .npz of the model's inputs (default: random values)")
    ap.add_argument("--api", choices=("interpreter", "compiled"), help="TFLite: LiteRT's API")
    ap.add_argument("--accelerator", choices=("cpu", "gpu", "npu"),
                    help="TFLite CompiledModel accelerator (implies --api compiled)")  # fmt: skip
    a = ap.parse_args(argv)

    def emit(event: dict) -> None:
        if a.stream:
            sys.stdout.write(json.dumps(event) + "\n")
            sys.stdout.flush()

    machine = fingerprint()
    emit({"event": "machine", "machine": machine})
    try:
        result = bench(
            a.artifact,
            threads=a.threads,
            runs=a.runs,
            duration=a.duration,
            warmup=a.warmup,
            sustained=a.sustained,
            device=a.device,
            delegate=a.delegate,
            precision=a.precision,
            emit=emit,
            inputs=a.inputs,
            **{k: v for k, v in (("api", a.api), ("accelerator", a.accelerator)) if v},
        )
    except RunnerError as e:
        emit({"event": "error", "error": str(e)})
        sys.stderr.write(f"error: {e}\n")
        return 1
    emit({"event": "result", "result": result})
    if a.json:
        sys.stdout.write(json.dumps({"machine": machine, "results": [result]}) + "\n")
    elif not a.stream:
        sys.stdout.write(
            f"{Path(a.artifact).name}: p50 {result['p50_ms']} ms, "
            f"{result['fps']} fps, {result['runs']} runs, {result['runtime']}\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

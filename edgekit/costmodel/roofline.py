"""Roofline time of a model on one target, in parts: the ops its path runs on the accelerator,
the ops it cannot take (on the CPU), the copies between the two, and what crosses the link of an
off-chip accelerator.

- An op's time is the slower of its arithmetic at the unit's peak and its bytes at the memory
  bandwidth, plus a dispatch overhead per op and per inference.
- Ops a path cannot take (`edgekit.device.checks.takes`, the runtimes' published op lists) run
  on the CPU. The Edge TPU compiler maps the graph only up to the first op it cannot take, the
  rest runs on the CPU (https://coral.ai/docs/edgetpu/models-intro/#compatibility-overview);
  LiteRT's GPU delegate takes one partition by default (`max_delegated_partitions` = 1 in
  `TfLiteGpuDelegateOptionsV2Default`), the largest; other paths take every supported op.
  Each switch copies the activations across and waits for the accelerator to finish.
- An off-chip accelerator (Coral USB on USB 3.0, the Dev Board's Edge TPU on PCIe) has on-chip
  memory for parameters (~8 MB SRAM on the Edge TPU): weights beyond it stream over the link on
  every inference ("parameter data caching", https://coral.ai/docs/edgetpu/compiler/), and the
  input and output tensors cross it too. That part is physics, not efficiency: the fit does not
  scale it (`Parts.link_s`).

The fit (`fit.py`) scales the rest by efficiency factors learnt from measurements; this module
only knows the hardware figures of the device profiles and what each runtime runs on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgekit import formats
from edgekit.costmodel.cores import cpu_peaks, share_weights
from edgekit.costmodel.ops import PRECISION_BYTES, ModelCost, OpKind
from edgekit.device import checks
from edgekit.errors import ConfigError

RUNTIMES = tuple(formats.RUNTIMES)  # the one table: edgekit.formats.RUNTIMES
CPU_RUNTIMES = {r.id for r in formats.RUNTIMES.values() if r.unit == "cpu"}
# runtimes that run float models in fp16 on their unit by default
FP16_BY_DEFAULT = {r.id for r in formats.RUNTIMES.values() if r.fp16_default}
# relative efficiency of each op kind's arithmetic (depthwise has little reuse per byte)
KIND_EFFICIENCY = {OpKind.DEPTHWISE: 0.5, OpKind.ATTENTION: 0.5}
# per-op dispatch and per-inference fixed overheads, seconds (priors, scaled by the fit)
OP_OVERHEAD = {"cpu": 2e-6, "gpu": 15e-6, "other": 2e-6}
FIXED_OVERHEAD = {"cpu": 5e-5, "gpu": 5e-4, "other": 1e-4}
# waiting for an accelerator to finish before the CPU takes over (a GPU queue flush), seconds
SWITCH_OVERHEAD = {"gpu": 1e-4, "other": 5e-5}
# delegates that take only their largest partition (TfLiteGpuDelegateOptionsV2Default)
ONE_PARTITION = {"tflite-gpu", "litert-gpu"}
# accelerator kinds that compute in integers only: the Hexagon DSPs (680-690) of the phones
# profiled run quantized models only (tensorflow/lite/delegates/hexagon/README.md: "we only
# support quantized models"; Qualcomm AI Engine Direct: the DSP/HTP backend takes quantized
# 8-bit ops, the GPU backend float32/float16, docs.qualcomm.com 80-63442-10 "Acceleration
# Support"). A float model sent through NNAPI there runs on another driver (the GPU's, where
# the profile lists NNAPI for it) or on NNAPI's CPU path
INTEGER_ONLY = {"dsp"}


@dataclass
class Unit:
    """The compute unit a runtime uses on a device, with its figures for one precision."""

    kind: str  # cpu | gpu | npu | tpu | ane | dsp
    name: str
    precision: str  # the precision the arithmetic runs in
    peak_gflops: float
    bandwidth_gbs: float
    threads: int = 0
    core_fraction: float = 1.0  # share of the CPU's peak the threads reach
    sram_mb: float | None = None
    link_gbs: float | None = None
    note: str = ""


@dataclass
class Parts:
    """Roofline seconds of one model on one target, by where the time goes."""

    accel_s: float  # the ops the path's unit runs (the whole model on a CPU runtime)
    fallback_s: float = 0.0  # ops the path cannot take, on the CPU
    switch_s: float = 0.0  # activations copied between the CPU and the unit, and the waits
    overhead_s: float = 0.0
    link_s: float = 0.0  # streamed weights and I/O over an off-chip link (not fitted)
    fallback_ops: list[str] = field(default_factory=list)  # op types that ran on the CPU
    unit: Unit | None = None

    @property
    def base_s(self) -> float:
        """What the fitted efficiency scales."""
        return self.accel_s + self.fallback_s + self.switch_s + self.overhead_s


def unit_for(profile, runtime: str, precision: str, threads: int | None = None) -> Unit:
    """The unit `runtime` runs on for `profile`, with the peak for the precision it computes in.

    Raises:
        ConfigError: the device cannot use this runtime.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"unknown runtime; got: {runtime}; valid: {', '.join(RUNTIMES)}")
    if runtime not in profile.runtimes:
        raise ConfigError(
            f"{profile.id} cannot run {runtime}; got: --runtime {runtime}; "
            f"valid for {profile.id}: {', '.join(profile.runtimes)}"
        )
    acc = _accelerator(profile, runtime, precision)
    if runtime in CPU_RUNTIMES or acc is None:
        return cpu_unit(profile, runtime, precision, threads)
    prec = _compute_precision(runtime, precision, acc.peak_gflops)
    peak = acc.peak_gflops.get(prec)
    note = ""
    if peak is None:  # no published peak: the CPU's at the same precision stands in (an
        # accelerator is there because it beats the CPU); the fit's family effect corrects it.
        # The precision asked for, not `prec`: with no peaks at all `prec` fell to fp32, and
        # an int8 model on a DSP (NNAPI's quantized path) would get the CPU's fp32 peak
        cpu_peak = cpu_peaks(profile.cpu)
        prec = cpu_prec = _compute_precision(runtime, precision, cpu_peak)
        peak = cpu_peak.get(cpu_prec, 1.0)
        note = f"{acc.name} has no published peak; the CPU's {cpu_prec} peak stands in"
    # an accelerator with on-chip memory keeps parameters and activations there: its ops are
    # not bound by the host's DRAM (what does not fit crosses the link: `link_seconds`)
    bandwidth = float("inf") if acc.memory_mb else float(profile.memory.bandwidth_gbs)
    return Unit(
        acc.kind, acc.name, prec, float(peak), bandwidth,
        sram_mb=acc.memory_mb, link_gbs=acc.link_gbs, note=note,
    )  # fmt: skip


def _accelerator(profile, runtime: str, precision: str):
    """The accelerator `runtime` gives a model of `precision` to, or None for the CPU: the first
    the profile lists for the runtime that computes the precision, an integer-only unit first for
    an int8 model. NNAPI hands each op to the driver that reports itself fastest for the op's
    operand type (https://source.android.com/docs/core/interaction/neural-networks/device-discovery:
    a driver reports its type, CPU, GPU or ACCELERATOR, and its performance), and a DSP built for
    integers is that driver for a quantized model."""
    accs = [a for a in profile.accelerators if runtime in a.runtimes]
    if precision == "int8":
        return next((a for a in accs if a.kind in INTEGER_ONLY), accs[0] if accs else None)
    return next((a for a in accs if a.kind not in INTEGER_ONLY), None)


def cpu_unit(profile, runtime: str, precision: str, threads: int | None = None) -> Unit:
    """The CPU with `threads` threads (default: the profile's), on its fastest cores first (a
    big core's share weighted by its clock and vector width: `cores.share_weights`)."""
    cores = profile.cpu.cores
    n = threads or profile.recommended.threads or cores
    n = max(1, min(int(n), cores))
    weights = share_weights(profile.cpu)
    fraction = sum(weights[:n]) / sum(weights)
    peaks = cpu_peaks(profile.cpu)
    prec = _compute_precision(runtime, precision, peaks)
    peak = peaks[prec] * fraction
    return Unit("cpu", "CPU", prec, peak, float(profile.memory.bandwidth_gbs), n, fraction)


def _compute_precision(runtime: str, precision: str, peaks: dict) -> str:
    """What the arithmetic runs in: fp16 where the runtime defaults to it and the unit has it;
    else the first of precision, fp16, fp32 the unit has a peak for."""
    want = precision
    if precision == "fp32" and runtime in FP16_BY_DEFAULT and peaks.get("fp16"):
        want = "fp16"
    if formats.runtime(runtime).integer_only:
        want = "int8"
    order = [want] + [p for p in ("fp16", "fp32", "int8") if p != want]
    return next((p for p in order if peaks.get(p)), "fp32")


def op_seconds(cost: ModelCost, unit: Unit, mask=None) -> float:
    """Sum over ops (those `mask` selects) of max(arithmetic time, memory time)."""
    if not cost.ops:
        return 0.0
    macs = np.array([o.macs for o in cost.ops], float)
    eff = np.array([KIND_EFFICIENCY.get(o.kind, 1.0) for o in cost.ops])
    nbytes = np.array([o.bytes for o in cost.ops], float) * _byte_scale(cost, unit)
    t = np.maximum(2 * macs / (unit.peak_gflops * 1e9 * eff), nbytes / (unit.bandwidth_gbs * 1e9))
    return float(t[mask].sum() if mask is not None else t.sum())


def parts(cost: ModelCost, profile, runtime: str, precision: str, threads=None) -> Parts:
    """The roofline of `cost` on `profile` with `runtime`, split as the module says."""
    unit = unit_for(profile, runtime, precision, threads)
    cls = "cpu" if unit.kind == "cpu" else "gpu" if unit.kind == "gpu" else "other"
    overhead = len(cost.ops) * OP_OVERHEAD[cls] + FIXED_OVERHEAD[cls]
    on = accelerated(cost, runtime) if unit.kind != "cpu" else np.ones(len(cost.ops), bool)
    out = Parts(op_seconds(cost, unit, on), overhead_s=overhead, unit=unit)
    if not on.all():
        cpu = cpu_unit(profile, "tflite", precision)
        out.fallback_s = op_seconds(cost, cpu, ~on) + (~on).sum() * OP_OVERHEAD["cpu"]
        out.fallback_ops = sorted({o.op for o, a in zip(cost.ops, on) if not a})
        edges = np.flatnonzero(np.diff(on.astype(int)))  # an op whose successor switches side
        crossing = sum(cost.ops[i].act_bytes for i in edges) * _byte_scale(cost, unit)
        out.switch_s = len(edges) * SWITCH_OVERHEAD[cls if cls == "gpu" else "other"]
        out.switch_s += 2 * crossing / (unit.bandwidth_gbs * 1e9)
    if unit.link_gbs:
        out.link_s = link_seconds(cost, unit)
    return out


def accelerated(cost: ModelCost, runtime: str) -> np.ndarray:
    """Which ops the runtime's accelerator takes (op types it has no published list for: all)."""
    ok = np.array([checks.takes(runtime, cost.format, o.op) is not False for o in cost.ops], bool)
    if ok.all() or not len(ok):
        return ok
    if runtime == "edgetpu":  # the compiler stops at the first op it cannot map
        first = int(np.argmin(ok))
        ok[first:] = False
    elif runtime in ONE_PARTITION:
        ok = _largest_run(cost, ok)
    return ok


def _largest_run(cost: ModelCost, ok: np.ndarray) -> np.ndarray:
    """Only the run of consecutive supported ops with the most MACs."""
    best, best_macs, start = (0, 0), -1, None
    for i, flag in enumerate(list(ok) + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            macs = sum(o.macs for o in cost.ops[start:i])
            if macs > best_macs:
                best, best_macs = (start, i), macs
            start = None
    out = np.zeros_like(ok)
    out[best[0] : best[1]] = True
    return out


def link_seconds(cost: ModelCost, unit: Unit) -> float:
    """Weights beyond the on-chip memory, and the input and output, over the host link."""
    scale = _byte_scale(cost, unit)
    spill = max(0.0, cost.weight_bytes * scale - (unit.sram_mb or 0.0) * 2**20)
    return (spill + cost.io_bytes * scale) / (unit.link_gbs * 1e9)


def _byte_scale(cost: ModelCost, unit: Unit) -> float:
    """Costs stored at one width, run at another (a float model run in fp16 on a GPU)."""
    stored = PRECISION_BYTES.get(cost.precision, 4)
    run = PRECISION_BYTES.get(unit.precision, 4)
    return run / stored if run < stored else 1.0


def depthwise_share(cost: ModelCost) -> float:
    """Share of the MACs in depthwise convolutions."""
    total = max(cost.macs, 1)
    return sum(o.macs for o in cost.ops if o.kind == OpKind.DEPTHWISE) / total

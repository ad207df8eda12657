"""Roofline time of a model on one target: per op, the slower of its arithmetic at the unit's
peak and its bytes at the memory bandwidth, plus dispatch overheads.

The fit (`fit.py`) scales this by efficiency factors learnt from measurements; this module only
knows the hardware figures of the device profiles and what each runtime runs on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgekit import formats
from edgekit.errors import ConfigError
from edgekit.estimate.costs import PRECISION_BYTES, ModelCost, OpKind

RUNTIMES = tuple(formats.RUNTIMES)  # the one table: edgekit.formats.RUNTIMES
CPU_RUNTIMES = {r.id for r in formats.RUNTIMES.values() if r.unit == "cpu"}
# runtimes that run float models in fp16 on their unit by default
FP16_BY_DEFAULT = {r.id for r in formats.RUNTIMES.values() if r.fp16_default}
# relative efficiency of each op kind's arithmetic (depthwise has little reuse per byte)
KIND_EFFICIENCY = {OpKind.DEPTHWISE: 0.5, OpKind.ATTENTION: 0.5}
# per-op dispatch and per-inference fixed overheads, seconds (priors, scaled by the fit)
OP_OVERHEAD = {"cpu": 2e-6, "gpu": 15e-6, "other": 2e-6}
FIXED_OVERHEAD = {"cpu": 5e-5, "gpu": 5e-4, "other": 1e-4}


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
    acc = next((a for a in profile.accelerators if runtime in a.runtimes), None)
    if runtime in CPU_RUNTIMES or acc is None:
        return _cpu_unit(profile, runtime, precision, threads)
    prec = _compute_precision(runtime, precision, acc.peak_gflops)
    peak = acc.peak_gflops.get(prec)
    note = ""
    if peak is None:  # an accelerator with no published peak: the CPU's figure stands in
        peak = profile.cpu.peak_gflops.get("fp32", 1.0)
        note = f"{acc.name} has no published peak; the CPU's fp32 peak stands in"
    return Unit(
        acc.kind, acc.name, prec, float(peak), float(profile.memory.bandwidth_gbs),
        sram_mb=acc.memory_mb, link_gbs=acc.link_gbs, note=note,
    )  # fmt: skip


def _cpu_unit(profile, runtime: str, precision: str, threads: int | None) -> Unit:
    cores = profile.cpu.cores
    n = threads or profile.recommended.threads or cores
    n = max(1, min(int(n), cores))
    ghz = sorted((c.ghz for c in profile.cpu.clusters for _ in range(c.cores)), reverse=True)
    fraction = sum(ghz[:n]) / sum(ghz)  # threads land on the fastest cores first
    prec = _compute_precision(runtime, precision, profile.cpu.peak_gflops)
    peak = profile.cpu.peak_gflops[prec] * fraction
    return Unit("cpu", "CPU", prec, peak, float(profile.memory.bandwidth_gbs), n, fraction)


def _compute_precision(runtime: str, precision: str, peaks: dict) -> str:
    """What the arithmetic runs in: fp16 where the runtime defaults to it and the unit has it;
    else the first of precision, fp16, fp32 the unit has a peak for."""
    want = precision
    if precision == "fp32" and runtime in FP16_BY_DEFAULT and peaks.get("fp16"):
        want = "fp16"
    if runtime == "edgetpu":
        want = "int8"
    order = [want] + [p for p in ("fp16", "fp32", "int8") if p != want]
    return next((p for p in order if peaks.get(p)), "fp32")


def roofline_seconds(cost: ModelCost, unit: Unit, runtime: str) -> float:
    """Sum over ops of max(arithmetic time, memory time), plus overheads, in seconds."""
    kinds = [o.kind for o in cost.ops]
    macs = np.array([o.macs for o in cost.ops], float)
    eff = np.array([KIND_EFFICIENCY.get(k, 1.0) for k in kinds])
    scale = _byte_scale(cost, unit)
    nbytes = np.array([o.weight_bytes + o.act_bytes for o in cost.ops], float) * scale
    compute = 2 * macs / (unit.peak_gflops * 1e9 * eff)
    memory = nbytes / (unit.bandwidth_gbs * 1e9)
    t = float(np.maximum(compute, memory).sum())
    if unit.kind == "tpu" and unit.sram_mb and unit.link_gbs:
        spill = max(0.0, cost.weight_bytes * scale - unit.sram_mb * 2**20)
        t += spill / (unit.link_gbs * 1e9)  # weights beyond the SRAM stream every inference
    cls = "cpu" if unit.kind == "cpu" else "gpu" if unit.kind == "gpu" else "other"
    return t + len(cost.ops) * OP_OVERHEAD[cls] + FIXED_OVERHEAD[cls]


def _byte_scale(cost: ModelCost, unit: Unit) -> float:
    """Costs stored at one width, run at another (a float model run in fp16 on a GPU)."""
    stored = PRECISION_BYTES.get(cost.precision, 4)
    run = PRECISION_BYTES.get(unit.precision, 4)
    return run / stored if run < stored else 1.0


def depthwise_share(cost: ModelCost) -> float:
    """Share of the MACs in depthwise convolutions."""
    total = max(cost.macs, 1)
    return sum(o.macs for o in cost.ops if o.kind == OpKind.DEPTHWISE) / total

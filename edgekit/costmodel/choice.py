"""Which runtime an estimate assumes: the runtimes that load each format (derived from
`edgekit.formats.RUNTIMES`, in its order of preference) and the default for a device profile.

Deprecated runtimes (NNAPI from Android 15) are never a default; an integer-only unit (the
Edge TPU) is a default for int8 models only, a phone NPU for int8 and fp16 ones; a GPU path is
not the default for an int8 model, which it would dequantize.
"""

from __future__ import annotations

from edgekit import formats
from edgekit.errors import ConfigError

# the runtimes that can load each format, in the registry's order; a Keras model can go anywhere
FORMAT_RUNTIMES: dict[str, tuple[str, ...]] = {
    name: tuple(r.id for r in formats.RUNTIMES.values() if r.format == name)
    for name in formats.FORMATS
}
FORMAT_RUNTIMES["keras"] = tuple(formats.RUNTIMES)


def loads(fmt: str, runtime: str) -> bool:
    """Whether `runtime` can run a model of format `fmt` (a Keras model: any)."""
    return runtime in FORMAT_RUNTIMES.get(fmt, formats.RUNTIMES)


def suitable(runtime: str, precision: str) -> bool:
    """Whether a runtime is a sensible default for a model at this precision."""
    r = formats.runtime(runtime)
    if r.deprecated:
        return False
    if r.integer_only:
        return precision == "int8"
    if r.unit == "npu":  # phone NPUs take int8 and fp16 graphs (Hexagon HTP, APU, Tensor TPU)
        return precision in ("int8", "fp16")
    return not (precision == "int8" and (r.unit == "gpu" or r.float_only))


def default_runtime(fmt: str, precision: str, profile) -> str:
    """The runtime the format and the profile imply: the profile's recommendation when it can
    load the format and suits the precision, else the first such runtime the device has.

    Raises:
        ConfigError: the device has no runtime for the format.
    """
    have = [r for r in FORMAT_RUNTIMES.get(fmt, formats.RUNTIMES) if r in profile.runtimes]
    choices = [r for r in have if suitable(r, precision)]
    rec = profile.recommended.runtime
    if rec in choices:
        return rec
    if choices:
        return choices[0]
    fallback = [r for r in have if not formats.runtime(r).integer_only or precision == "int8"]
    if fallback:  # only a deprecated or GPU path: still an answer, the basis says which
        return fallback[0]
    raise ConfigError(
        f"{profile.id} has no runtime for {fmt} models at {precision}; got: {fmt}; it runs "
        f"{', '.join(profile.runtimes)}: convert to a format one of those loads"
    )


def check(fmt: str, runtime: str, precision: str) -> None:
    """ConfigError when an explicit runtime cannot take this model."""
    if not loads(fmt, runtime):
        raise ConfigError(
            f"{runtime} does not load {fmt} models; got: --runtime {runtime}; "
            f"valid: {', '.join(FORMAT_RUNTIMES[fmt])}"
        )
    if formats.runtime(runtime).integer_only and precision != "int8":
        raise ConfigError(
            f"{runtime} runs full-integer models only; got: {precision}; convert to int8 "
            "(tflite:int8, or tflite:npu for a phone's NPU)"
        )

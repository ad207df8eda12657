"""The converters, one per row of `edgekit.formats.FORMATS`, imported only when used."""

from __future__ import annotations

from edgekit import formats
from edgekit.converters.base import Converter, Precision
from edgekit.errors import ConfigError


def get(name: str) -> Converter:
    """A fresh converter for the format called `name`."""
    return formats.resolve(formats.get(name).converter)()


def check_pair(fmt: str, precision: str) -> None:
    """Refuse an impossible format/precision pair before any work starts."""
    row = formats.get(fmt)
    if precision not in row.precisions:
        raise ConfigError(
            f"{fmt} cannot do precision {precision!r}; {fmt} can do: {', '.join(row.precisions)}"
        )
    if precision == "bf16":
        from edgekit.fingerprint import has_bf16, isa_flags

        if not has_bf16():
            raise ConfigError(
                f"{fmt}:bf16 needs a CPU with AVX512_BF16 or AMX (to check parity here); this "
                f"CPU has: {', '.join(isa_flags()) or 'none of the known flags'}; convert "
                "openvino:fp32 and load it with inference_precision='bf16' on a bf16 machine"
            )


__all__ = ["Converter", "Precision", "get", "check_pair"]

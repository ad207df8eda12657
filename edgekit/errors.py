"""Every error edgekit raises on purpose. The CLI turns these into one red line and an exit code."""

from __future__ import annotations


class EdgeKitError(Exception):
    """Base class. `exit_code` is what the CLI exits with: 2 for usage/config, 1 for runtime."""

    exit_code = 1


class ConfigError(EdgeKitError, ValueError):
    """An argument, option or file is wrong; the message says what and how to fix it."""

    exit_code = 2


class ModelLoadError(ConfigError):
    """A model file is missing, corrupt, truncated or of an unknown kind."""


class UnsafeModelError(ConfigError):
    """The model needs code execution to load (e.g. a Lambda layer) and safe mode is on."""


class MissingDependencyError(EdgeKitError, ImportError):
    """An optional package is not installed; the message names the pip extra."""

    exit_code = 2


class ConversionError(EdgeKitError, RuntimeError):
    """A converter failed; raised `from` the third-party error, with likely causes."""


class InputError(EdgeKitError, ValueError):
    """Data passed to `predict` (or a calibration set) does not fit the model."""

    exit_code = 2


class DeviceUnavailableError(EdgeKitError, RuntimeError):
    """The runtime or hardware this needs is not on this machine (e.g. Core ML off macOS)."""


class OutputMismatchError(EdgeKitError, AssertionError):
    """An artifact's outputs differ from the source model by more than the tolerance."""

    def __init__(self, message: str, *, max_diff: float, tolerance: float) -> None:
        super().__init__(message)
        self.max_diff = max_diff
        self.tolerance = tolerance


class HostKeyError(ConfigError):
    """The device's host key is unknown (or changed) and was not accepted."""


class RemoteError(DeviceUnavailableError):
    """The device could not be reached, refused the login, or the runner failed there."""


class ConnectionLostError(RemoteError):
    """The link dropped mid-run. `partial` holds a BenchResult of the samples that arrived."""

    def __init__(self, message: str, *, partial=None, machine: dict | None = None) -> None:
        super().__init__(message)
        self.partial = partial
        self.machine = machine


class BudgetNotMetError(EdgeKitError):
    """A budget (accuracy drop, latency) was not met; `result` holds the closest candidate."""

    def __init__(self, message: str, result=None) -> None:
        super().__init__(message)
        self.result = result


class NativeCrashError(EdgeKitError, RuntimeError):
    """Native code (TensorFlow, a runtime) died from a signal, also after the safe retry."""

"""Run a stage that executes native code on a user's model in a child process that may die.

TensorFlow, oneDNN, XNNPACK, OpenVINO and the converters are C++. On some CPUs and some
models they die from a signal (a SIGSEGV inside TensorFlow's compiled train step, fixed by
turning oneDNN off): in-process, that kills edgekit without a word. `call` runs a library
function in a spawned child instead, relays its progress, logs and callbacks to this
process, and returns its result (pickled). When the child dies from a signal it is run once
more with known-safe settings (`SAFE_ENV`), saying so in one warning; if it dies again,
NativeCrashError names the stage it was in, the signal and what was tried.

Test hook: `EDGEKIT_CRASH_AT=<stage>` makes the child kill itself with SIGSEGV when it
reports a progress message starting with <stage> (e.g. `loading`, `converting tflite`);
`EDGEKIT_CRASH_AT=<stage>:once` only in the first attempt, so the retry succeeds.
"""

from __future__ import annotations

import faulthandler
import logging
import multiprocessing
import os
import pickle
import shutil
import signal
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from edgekit.errors import NativeCrashError

log = logging.getLogger(__name__)
XNNPACK_ENV = "EDGEKIT_XNNPACK"  # "0": LiteRT sessions without the XNNPACK delegate
CRASH_ENV = "EDGEKIT_CRASH_AT"
SAFE_ENV = {
    "TF_ENABLE_ONEDNN_OPTS": "0",
    XNNPACK_ENV: "0",
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
}
SAFE_SETTINGS = "oneDNN off, XNNPACK off and one thread"
# deaths that other native settings can avoid; SIGKILL (the OOM killer) or SIGTERM cannot be
CRASHES = {"SIGSEGV", "SIGBUS", "SIGILL", "SIGFPE", "SIGABRT"}
PROGRESS = "progress"  # the callback whose messages name the stage
CHILD_ENV = "EDGEKIT_ISOLATED"  # set in a child: what it calls runs there, not in another


def in_child() -> bool:
    """Whether this process is a child of `call` (or runs under one)."""
    return os.environ.get(CHILD_ENV) == "1"


@dataclass
class Outcome:
    """How one child ended: a value, an exception, or a signal (with the stage it was in)."""

    value: object = None
    error: BaseException | None = None
    signal: str = ""
    stage: str = ""
    fault: str = ""  # faulthandler's Python stack of the crashed child


def call(
    fn: Callable,
    *args,
    stage: str = "starting",
    callbacks: dict[str, Callable] | None = None,
    capture: bool = False,
    leftovers: Iterable[tuple[Path, str]] = (),
    **kwargs,
):
    """`fn(*args, **kwargs)` in a child process; a native crash there is retried once.

    Args:
        fn: a module-level function (pickled by reference); args, kwargs: picklable.
        stage: what the child is doing until its first progress message.
        callbacks: keyword arguments of `fn` that are callbacks (`progress`, `done`): the
            child gets stand-ins that send each call here, where these run.
        capture: pass `capture=` an `edgekit._quiet.Capture` made in the child (what other
            libraries print, collected there).
        leftovers: (folder, glob) pairs: files a crashed child left there are removed.

    Returns:
        What `fn` returned. An exception it raised is raised here (same type and message).

    Raises:
        NativeCrashError: the child died from a signal twice.
    """
    callbacks = dict(callbacks or {})
    payload = pickle.dumps((fn, args, kwargs, sorted(callbacks), capture))
    first = None
    for attempt, env in enumerate(({}, SAFE_ENV)):
        before = _existing(leftovers)
        outcome = _attempt(payload, env, attempt, callbacks, stage)
        if not outcome.signal:
            if outcome.error is not None:
                raise outcome.error
            return outcome.value
        _remove_new(leftovers, before)
        log.debug("child died from %s while %s; its stack:\n%s", outcome.signal,
                  outcome.stage, outcome.fault)  # fmt: skip
        if outcome.signal not in CRASHES:
            raise NativeCrashError(
                f"the child process was killed ({outcome.signal}) while {outcome.stage}; got: "
                f"{outcome.signal}, not a crash that other settings avoid; SIGKILL is usually "
                "the out-of-memory killer: free memory or try a smaller model"
            )
        if first is None:
            first = outcome
            log.warning(
                "native code crashed (%s) while %s; retrying once with %s",
                outcome.signal, outcome.stage, SAFE_SETTINGS,
            )  # fmt: skip
    raise NativeCrashError(
        f"native code crashed ({outcome.signal}) while {outcome.stage}, also on the retry with "
        f"{SAFE_SETTINGS}; got: {first.signal} while {first.stage}, then {outcome.signal}; "
        "skip that stage (another --to format or --precision) or run on another machine, "
        "and report it with the model (--debug shows the crashed stack)"
    )


def _attempt(payload: bytes, env: dict, attempt: int, callbacks: dict, stage: str) -> Outcome:
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked TF state
    receive, send = ctx.Pipe(duplex=False)
    scratch = tempfile.mkdtemp(prefix="edgekit-child-")
    level = logging.getLogger("edgekit").getEffectiveLevel()
    child = ctx.Process(target=_child, args=(send, payload, env, attempt, scratch, level))
    outcome = Outcome(stage=stage)
    try:
        child.start()
        send.close()  # the child holds the only writer: its death ends `recv` with EOF
        _receive(receive, callbacks, outcome)
        child.join()
    finally:
        if child.is_alive():  # Ctrl-C or an error here: the child must not outlive us
            child.terminate()
            child.join()
        receive.close()
        if child.exitcode is not None and child.exitcode < 0:
            outcome.signal = _signal_name(-child.exitcode)
            outcome.fault = _read(Path(scratch) / "fault.txt")
        shutil.rmtree(scratch, ignore_errors=True)
    if not outcome.signal and outcome.error is None and child.exitcode:
        outcome.error = NativeCrashError(
            f"the child process for {outcome.stage} exited with status {child.exitcode} "
            "before returning; got: no result; rerun with --debug"
        )
    return outcome


def _receive(receive, callbacks: dict, outcome: Outcome) -> None:
    while True:
        try:
            kind, value = receive.recv()
        except EOFError:
            return
        if kind == "value":
            outcome.value = value
        elif kind == "error":
            outcome.error = _rebuild(value)
        elif kind == "log":
            name, level, message = value
            logging.getLogger(name).log(level, "%s", message)
        else:
            if kind == PROGRESS:
                outcome.stage = str(value)
            callbacks[kind](value)


def _child(send, payload: bytes, env: dict, attempt: int, scratch: str, level: int) -> None:
    """The child's whole life: settings first (before TensorFlow is imported), then `fn`."""
    os.environ.update(env)
    os.environ[CHILD_ENV] = "1"
    os.environ["TMPDIR"] = tempfile.tempdir = scratch  # what a crash leaves is removed
    fault = open(Path(scratch) / "fault.txt", "w")  # stays open: faulthandler writes on death
    faulthandler.enable(fault)
    lock = threading.Lock()

    def put(kind: str, value) -> None:
        with lock:  # converters may report from their own threads
            send.send((kind, value))

    _relay_logs(put, level)
    try:
        fn, args, kwargs, names, capture = pickle.loads(payload)
        for name in names:
            kwargs[name] = _stand_in(put, name, attempt)
        if capture:
            from edgekit._quiet import Capture

            with Capture() as cap:
                value = fn(*args, capture=cap, **kwargs)
        else:
            value = fn(*args, **kwargs)
        put("value", value)
    except BaseException as e:  # everything goes back to the parent, KeyboardInterrupt too
        put("error", _portable(e))
    finally:
        send.close()


def _stand_in(put, name: str, attempt: int) -> Callable:
    def relay(value) -> None:
        put(name, value)
        if name == PROGRESS:
            _maybe_crash(str(value), attempt)

    return relay


def _maybe_crash(message: str, attempt: int) -> None:
    """The test hook (see the module docstring)."""
    hook = os.environ.get(CRASH_ENV, "")
    stage, _, mode = hook.partition(":")
    if stage and message.startswith(stage) and (mode != "once" or attempt == 0):
        os.kill(os.getpid(), signal.SIGSEGV)


class _Relay(logging.Handler):
    def __init__(self, put, level: int) -> None:
        super().__init__(level)
        self._put = put

    def emit(self, record: logging.LogRecord) -> None:
        self._put("log", (record.name, record.levelno, record.getMessage()))


def _relay_logs(put, level: int) -> None:
    """edgekit's log records go to the parent, which shows them as it shows its own."""
    logger = logging.getLogger("edgekit")
    logger.setLevel(level)
    logger.addHandler(_Relay(put, level))
    logger.propagate = False


def _portable(e: BaseException) -> tuple:
    """An exception as (class, args, attributes, traceback) that unpickles whatever its
    __init__ takes; attributes that do not pickle are left out."""
    attrs = {}
    for key, value in vars(e).items():
        try:
            pickle.dumps(value)
        except Exception:  # e.g. a Keras model in BudgetNotMetError.result
            continue
        attrs[key] = value
    text = "".join(traceback.format_exception(e))
    cls = type(e)
    try:
        pickle.dumps(cls)
    except Exception:  # a class defined in a function
        cls, attrs = RuntimeError, {}
    return cls, e.args if cls is type(e) else (f"{type(e).__name__}: {e}",), attrs, text


def _rebuild(parts: tuple) -> BaseException:
    cls, args, attrs, text = parts
    error = cls.__new__(cls)
    error.args = args
    vars(error).update(attrs)
    error.add_note(f"raised in edgekit's child process:\n{text}")
    return error


def _existing(leftovers) -> set[Path]:
    """The folders that exist and the files in them that match, before an attempt."""
    found = set()
    for folder, pattern in leftovers:
        if Path(folder).is_dir():
            found |= {Path(folder), *Path(folder).glob(pattern)}
    return found


def _remove_new(leftovers, before: set[Path]) -> None:
    """What a crashed child made: matching files, and the folders it created if empty."""
    for path in _existing(leftovers) - before:
        if path.is_dir() and path not in {Path(f) for f, _ in leftovers}:
            shutil.rmtree(path, ignore_errors=True)
        elif path.is_file():
            path.unlink(missing_ok=True)
    for folder, _ in leftovers:
        folder = Path(folder)
        if folder not in before and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return ""

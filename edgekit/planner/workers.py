"""Where `edgekit plan` converts: worker processes on this machine, or a Ray cluster.

Conversions and their accuracy runs go to the workers, several at once; latency is measured
afterwards in the planning process, one artifact at a time, so no conversion competes with a
timed run. A worker is itself the isolation (`edgekit.isolate`): what it calls, fine-tuning
a pruned variant included, runs in it, not in one more child. A worker that dies (a native
crash: TensorFlow's oneDNN train step on some CPUs) breaks the pool; it is started again
with the safe native settings (oneDNN off, one thread) and the jobs that had not finished
are tried once more there; a second death fails them, never the plan.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from edgekit import isolate
from edgekit.errors import ConfigError

log = logging.getLogger(__name__)


def default_workers() -> int:
    """Two processes where there are two cores or more: a conversion is mostly one busy
    thread (TensorFlow's converter, NNCF's statistics), so two overlap well; more would
    only share the same cores and memory (see docs/plan.md for the measurement)."""
    return max(1, min(os.cpu_count() or 1, 2))


class Pool:
    """Runs `fn(*job)` for a batch of jobs and gives the results in order; a job that raises
    or whose worker dies gives {"error": ...}."""

    def __init__(self, workers: int | None = None, *, ray: str | None = None, quiet=True):
        if workers is not None and workers < 1:
            raise ConfigError(f"--workers must be at least 1; got: {workers}")
        self.workers = workers or default_workers()
        self.ray = ray
        self.quiet = quiet
        self._pool = None
        self.safe = False  # workers start with isolate.SAFE_ENV (after a native crash)
        self._dead: list = []  # exit codes of the workers of the last pool that broke
        self._ray, self._joined = _connect(ray) if ray else (None, False)

    def map(self, fn, jobs: list[tuple]) -> list[dict]:
        if not jobs:
            return []
        if self._ray is not None:
            return self._map_ray(fn, jobs)
        if self.workers == 1 and not self.quiet:
            return [_call(fn, job) for job in jobs]
        return self._map_local(fn, jobs)

    def warm(self) -> None:
        """Start the worker processes now, each importing TensorFlow, so that start-up
        overlaps what the caller does meanwhile (reading the model) instead of delaying the
        first conversion; nothing waits for it."""
        if self._ray is None and not (self.workers == 1 and not self.quiet):
            for _ in range(self.workers):
                self._local().submit(_call, _import_tensorflow, ())

    def _local(self) -> ProcessPoolExecutor:
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_init,
                                             initargs=(self.quiet, self.safe))  # fmt: skip
        return self._pool

    def _map_local(self, fn, jobs):
        out = self._run(fn, jobs)
        crashed = any(r is _BROKEN for r in out) and _crashed(self._dead)
        if crashed and not self.safe:  # other native settings may avoid it: once more
            log.warning("a conversion worker died (a native crash); trying its jobs again "
                        "with %s", isolate.SAFE_SETTINGS)  # fmt: skip
            self.safe = True
            again = [i for i, r in enumerate(out) if r is _BROKEN]
            for i, r in zip(again, self._run(fn, [jobs[i] for i in again])):
                out[i] = r
        if not any(r is _BROKEN for r in out):
            return out
        why = _why_broken(self._dead)
        why += f", also with {isolate.SAFE_SETTINGS}" if self.safe and _crashed(self._dead) else ""
        return [{"error": why} if r is _BROKEN else r for r in out]

    def _run(self, fn, jobs) -> list:
        """Results in order; _BROKEN for each job the death of a worker took."""
        futures = None
        for _ in range(2):  # a pool can be broken before our first job (its warm-up died)
            pool = self._local()
            try:
                futures = [pool.submit(_call, fn, job) for job in jobs]
                break
            except BrokenProcessPool:
                self._dead = [p.exitcode for p in _reaped(pool)]
                self.close()
        if futures is None:
            return [_BROKEN] * len(jobs)
        out = []
        for f in futures:
            try:
                out.append(f.result())
            except BrokenProcessPool:
                out.append(_BROKEN)
        if _BROKEN in out:
            self._dead = [p.exitcode for p in _reaped(pool)]
            self.close()  # the next batch starts a fresh pool
        return out

    def _map_ray(self, fn, jobs):
        ray = self._ray
        task = ray.remote(num_cpus=1)(_call)
        refs = [task.remote(fn, job) for job in jobs]
        out = []
        for ref in refs:
            try:
                out.append(ray.get(ref))
            except Exception as e:  # a Ray worker that died or a task that could not run
                out.append({"error": f"ray: {' '.join(str(e).split())[:300]}"})
        return out

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None
        if self._joined:  # we connected: disconnect (the cluster itself keeps running)
            self._ray.shutdown()
            self._joined = False

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _connect(address: str):
    """Ray, connected to the cluster at `address`; and whether this call connected it."""
    from edgekit._deps import need

    ray = need("ray", what="edgekit plan --ray")
    if ray.is_initialized():
        return ray, False
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ConfigError(
            f"cannot reach the Ray cluster; got: --ray {address} ({' '.join(str(e).split())}); "
            "start one with `ray start --head` and pass its address (host:port or auto)"
        ) from e
    return ray, True


_BROKEN = object()  # a job whose worker died


def _init(quiet: bool, safe: bool = False) -> None:
    """A worker's start, before anything imports TensorFlow: it is the isolation (nested
    calls run here), the safe native settings after a crash, and TensorFlow's and the
    converters' own output off the terminal."""
    os.environ[isolate.CHILD_ENV] = "1"
    if safe:
        os.environ.update(isolate.SAFE_ENV)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TQDM_DISABLE", "1")
    if quiet:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)


def _import_tensorflow() -> dict:
    import tensorflow  # noqa: F401  (what every conversion imports first)

    return {}


def _call(fn, job: tuple):
    """One job; every failure becomes the job's error, never the plan's."""
    try:
        return fn(*job)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}


def _reaped(pool) -> list:
    """The pool's worker processes, joined so that their exit codes are known."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.join(timeout=5)
    return procs


def _crashed(codes: list) -> bool:
    """A worker was killed by a signal (or left no exit code to read)."""
    return any(c is not None and c < 0 for c in codes) or not codes


def _why_broken(codes: list) -> str:
    """A worker killed by a signal is a native crash; one that exited on its own before any
    job is, almost always, a script without the `__main__` guard: spawned workers import the
    caller's script, and multiprocessing refuses to start a pool from its top level."""
    if _crashed(codes):
        return "a worker process died (a native crash in a converter)"
    return (
        f"a worker process exited at start-up (exit codes {sorted(set(codes), key=str)}): "
        "a script that calls edgekit.plan "
        'needs `if __name__ == "__main__":` around it (workers are spawned and import it)'
    )

"""Where `edgekit plan` converts: worker processes on this machine, or a Ray cluster.

Conversions and their accuracy runs go to the workers, several at once; latency is measured
afterwards in the planning process, one artifact at a time, so no conversion competes with a
timed run. A worker that dies (a native crash in a converter) fails its own candidates, and
the pool is started again for the rest.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

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
        self._ray, self._joined = _connect(ray) if ray else (None, False)

    def map(self, fn, jobs: list[tuple]) -> list[dict]:
        if not jobs:
            return []
        if self._ray is not None:
            return self._map_ray(fn, jobs)
        if self.workers == 1 and not self.quiet:
            return [_call(fn, job) for job in jobs]
        return self._map_local(fn, jobs)

    def _map_local(self, fn, jobs):
        if self._pool is None:
            ctx = multiprocessing.get_context("spawn")  # TensorFlow does not survive fork
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx,
                                             initializer=_init, initargs=(self.quiet,))  # fmt: skip
        futures = [self._pool.submit(_call, fn, job) for job in jobs]
        out = []
        for f in futures:
            try:
                out.append(f.result())
            except BrokenProcessPool:
                out.append({"error": _why_broken(self._pool)})
        if any(not f.done() or f.exception() for f in futures):
            self.close()  # broken: the next batch starts a fresh pool
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


def _init(quiet: bool) -> None:
    """A worker's start: TensorFlow's and the converters' own output off the terminal."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TQDM_DISABLE", "1")
    if quiet:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)


def _call(fn, job: tuple):
    """One job; every failure becomes the job's error, never the plan's."""
    try:
        return fn(*job)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:300]}"}


def _why_broken(pool) -> str:
    """A worker killed by a signal is a native crash; one that exited on its own before any
    job is, almost always, a script without the `__main__` guard: spawned workers import the
    caller's script, and multiprocessing refuses to start a pool from its top level."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.join(timeout=5)  # reaped, so its exit code is known
    codes = [proc.exitcode for proc in procs]
    if any(c is not None and c < 0 for c in codes) or not codes:
        return "a worker process died (a native crash in a converter)"
    return (
        f"a worker process exited at start-up (exit codes {sorted(set(codes), key=str)}): "
        "a script that calls edgekit.plan "
        'needs `if __name__ == "__main__":` around it (workers are spawned and import it)'
    )

"""The plan's worker pool survives a native crash: the pool starts again with the safe
native settings and the jobs the crash took are tried once more there. The crash is real
(the worker kills itself with SIGSEGV), set off on purpose: no CPU here crashes on demand."""

from __future__ import annotations

import os
import signal

from edgekit.planner.workers import Pool


def crash_unless_onednn_off(n: int) -> dict:
    """Dies like TensorFlow's oneDNN train step on some CPUs, unless oneDNN is off."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0":
        os.kill(os.getpid(), signal.SIGSEGV)
    return {"n": n, "isolated": os.environ.get("EDGEKIT_ISOLATED")}


def always_crash(n: int) -> dict:
    os.kill(os.getpid(), signal.SIGSEGV)
    return {}


def square(n: int) -> dict:
    return {"n": n * n}


def test_forced_worker_segfault_is_retried_with_safe_settings_and_the_pool_goes_on():
    with Pool(2) as pool:
        out = pool.map(crash_unless_onednn_off, [(1,), (2,), (3,)])
        assert [r.get("n") for r in out] == [1, 2, 3], out
        assert all(r["isolated"] == "1" for r in out)  # nested calls run in the worker
        assert pool.safe
        assert pool.map(square, [(4,)]) == [{"n": 16}]  # the next batch: a fresh pool


def test_forced_worker_segfault_twice_fails_its_jobs_in_one_line_not_the_pool():
    with Pool(1) as pool:
        out = pool.map(always_crash, [(1,)])
        assert "native crash" in out[0]["error"] and "also with oneDNN off" in out[0]["error"]
        assert pool.map(square, [(3,)]) == [{"n": 9}]


def test_warm_workers_take_the_first_jobs():
    with Pool(2) as pool:
        pool.warm()
        assert pool.map(square, [(2,), (5,)]) == [{"n": 4}, {"n": 25}]

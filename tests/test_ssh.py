"""`edgekit bench --on ssh://`: against a real OpenSSH server on 127.0.0.1 (tests/sshd.py).
(demo --on: tests/test_demo_on.py; provision and doctor --on: tests/test_provision.py)

The device is this machine reached over SSH, with `.venv-light`'s Python (only the light
install) running the copied runner. No sshd fails these tests; tests/run.sh installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from pathlib import Path

import pytest

import edgekit
from edgekit.device import remote, ssh
from edgekit.fingerprint import fingerprint
from tests import sshd
from tests.conftest import run_cli

DATA = Path(__file__).parent / "data" / "example"
INT8 = DATA / "shapes_int8-io.tflite"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = sshd.start(tmp_path_factory.mktemp("sshd"))
    yield srv
    sshd.stop(srv)


def left_on_device(srv, wait: float = 10) -> list[str]:
    end = time.monotonic() + wait
    while (left := os.listdir(srv.device_tmp)) and time.monotonic() < end:
        time.sleep(0.2)
    return left


def test_bench_over_ssh_matches_local_schema(server):
    events = []
    machine, r = ssh.bench(
        INT8,
        server.url,
        options=server.options(),
        runs=40,
        warmup=2,
        threads=1,
        on_event=events.append,
    )
    local = edgekit.benchmark(INT8, runs=5, warmup=1, threads=1)
    assert set(r.to_dict()) == set(local.to_dict())
    assert set(machine) == set(fingerprint())
    assert r.runs == 40 and r.threads == 1 and r.artifact == str(INT8)
    assert r.runtime.startswith("ai-edge-litert") and r.precision == local.precision == "int8-io"
    assert r.executed_precision == local.executed_precision == "int8"
    assert r.size_bytes == local.size_bytes
    assert 0 < r.min_ms <= r.p50_ms <= r.p99_ms <= r.max_ms
    assert machine["python"] == run_device_python(
        "import platform; print(platform.python_version())"
    )
    kinds = [e["event"] for e in events]
    assert kinds[0] == "machine" and kinds[-1] == "result" and "samples" in kinds
    assert sum(len(e["ms"]) for e in events if e["event"] == "samples") == 40
    assert left_on_device(server) == []


def bench_on(server, known_hosts, *args):
    """`edgekit bench INT8 --on` the test server, with its key and the given known_hosts."""
    return run_cli(
        "bench",
        INT8,
        "--on",
        server.url,
        *args,
        "--identity",
        server.identity,
        "--remote-python",
        sshd.DEVICE_PYTHON,
        "--ssh-option",
        f"UserKnownHostsFile={known_hosts}",
    )


def test_bench_cli_on_ssh_writes_local_json_schema(server, tmp_path):
    out, local_out = tmp_path / "remote.json", tmp_path / "local.json"
    res = bench_on(server, server.known_hosts, "--runs", "20", "--json", out)
    assert res.returncode == 0, res.stderr
    assert run_cli("bench", INT8, "--runs", "5", "--json", local_out).returncode == 0
    remote_doc, local_doc = json.loads(out.read_text()), json.loads(local_out.read_text())
    assert set(remote_doc) >= set(local_doc)
    assert set(remote_doc["machine"]) == set(local_doc["machine"])
    assert set(remote_doc["results"][0]) == set(local_doc["results"][0])
    assert remote_doc["results"][0]["runs"] == 20 and remote_doc["target"] == server.url
    assert "127.0.0.1" in res.stdout and "shapes_int8-io" in res.stdout


def test_unknown_host_key_is_refused_unless_accepted(server, tmp_path):
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    with pytest.raises(ssh.HostKeyError, match="unknown host key, refused.*--accept-host-key"):
        ssh.bench(INT8, server.url, options=server.options(known_hosts=empty), runs=3)
    assert empty.read_text() == "" and left_on_device(server, wait=0) == []
    res = bench_on(server, empty, "--runs", "3")
    assert res.returncode == 2 and "unknown host key" in res.stderr
    assert "Traceback" not in res.stderr
    options = server.options(known_hosts=empty, accept_host_key=True)
    _, r = ssh.bench(INT8, server.url, options=options, runs=3)
    assert r.runs == 3 and empty.read_text().strip()  # the key was recorded


def test_changed_host_key_is_refused_even_when_accepting(server, tmp_path):
    other = tmp_path / "other_key"
    os.system(f"ssh-keygen -q -t ed25519 -N '' -f {other}")
    wrong = tmp_path / "known_hosts"
    key = other.with_suffix(".pub").read_text().split()
    wrong.write_text(f"[127.0.0.1]:{server.port} {key[0]} {key[1]}\n")
    options = server.options(known_hosts=wrong, accept_host_key=True)
    with pytest.raises(ssh.HostKeyError, match="changed"):
        ssh.bench(INT8, server.url, options=options, runs=3)


def test_connection_killed_mid_run_keeps_samples(server):
    batches = []

    def kill_after_three_batches(event):
        if event["event"] == "samples":
            batches.append(len(event["ms"]))
            if len(batches) == 3:
                for pid in server.session_pids():  # the server side of this connection
                    os.kill(pid, signal.SIGKILL)

    t = time.monotonic()
    with pytest.raises(ssh.ConnectionLostError, match="connection lost mid-run") as info:
        ssh.bench(
            INT8,
            server.url,
            options=server.options(),
            duration=60,
            on_event=kill_after_three_batches,
        )
    assert time.monotonic() - t < 40  # not the full 60 s run
    partial = info.value.partial
    assert partial is not None and partial.runs >= sum(batches[:3]) > 0
    assert 0 < partial.min_ms <= partial.p50_ms <= partial.max_ms
    assert info.value.machine and info.value.machine["python"]
    assert left_on_device(server) == []


def test_runner_failure_on_device_is_one_line(server, tmp_path):
    bad = tmp_path / "broken.tflite"
    bad.write_bytes(b"\0\0\0\0TFL3" + bytes(200))
    with pytest.raises(ssh.RemoteError, match="runner failed there; got: cannot load broken"):
        ssh.bench(bad, server.url, options=server.options(), runs=3)
    with pytest.raises(ssh.RemoteError, match="runner did not start"):
        ssh.bench(INT8, server.url, options=server.options(python="/nonexistent/python3"), runs=3)
    assert left_on_device(server) == []


def test_bench_on_ssh_takes_the_users_inputs(server, tmp_path):
    """`--inputs` travels with the artifact; the device's runner reads it (a wrong input name
    is its one line, nothing left on the device)."""
    import numpy as np

    frame = np.random.default_rng(1).uniform(-1, 1, (1, 64, 64, 3)).astype("float32")
    np.savez(tmp_path / "frame.npz", image=frame)
    np.savez(tmp_path / "wrong.npz", pixels=frame)
    out = tmp_path / "r.json"
    ok = bench_on(server, server.known_hosts, "--inputs", tmp_path / "frame.npz", "--runs", "5",
                  "--json", out)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert json.loads(out.read_text())["results"][0]["runs"] == 5
    with pytest.raises(ssh.RemoteError, match="no array for input 'image'"):
        ssh.bench(INT8, server.url, options=server.options(), runs=3,
                  inputs=tmp_path / "wrong.npz")  # fmt: skip
    assert left_on_device(server) == []


def test_several_targets_run_concurrently_and_fail_alone(server):
    by_ip, by_name = server.url, server.url.replace("127.0.0.1", "localhost")
    closed = f"ssh://root@127.0.0.1:{sshd.free_port()}"
    seen: dict = {}

    def note(target, event):
        seen.setdefault((target, event["event"]), time.monotonic())

    outcomes = remote.bench_on(
        [by_ip, by_name, closed],
        INT8,
        ssh_options=server.options(),
        on_event=note,
        duration=2,
        warmup=1,
    )
    assert [o.target for o in outcomes] == [by_ip, by_name, closed]
    assert all(o.result is not None and o.result.runs > 10 for o in outcomes[:2])
    assert outcomes[2].result is None and "cannot connect" in outcomes[2].error
    # both devices were timing at once: each began before the other finished
    starts = [seen[(t, "loaded")] for t in (by_ip, by_name)]
    ends = [seen[(t, "result")] for t in (by_ip, by_name)]
    assert max(starts) < min(ends)
    assert left_on_device(server) == []


def test_provision_runtime_only_installs_the_install_line_in_a_venv(server, tmp_path):
    """`--runtime-only`: the install line's packages and no edgekit (enough for bench --on);
    edgekit itself: tests/test_provision.py."""
    from edgekit.device.provision import provision

    venv = tmp_path / "venv"
    lines = []
    report = provision(
        server.url,
        options=server.options(),
        install="pip install iniconfig",
        venv=str(venv),
        runtime_only=True,
        on_line=lines.append,
    )
    assert (venv / "bin" / "python").exists() and report.python == str(venv / "bin" / "python")
    assert report.versions.get("iniconfig") and lines and report.changed
    assert "edgekit" not in report.versions and not report.edgekit
    # again through the command: already there, so nothing runs; bench --on then uses it
    res = run_cli(
        "provision",
        server.url,
        "--install",
        "pip install iniconfig",
        "--runtime-only",
        "--venv",
        venv,
        "--json",
        "--identity",
        server.identity,
        "--ssh-option",
        f"UserKnownHostsFile={server.known_hosts}",
    )
    assert res.returncode == 0, res.stderr
    again = json.loads(res.stdout)
    assert again["versions"] == report.versions and again["changed"] is False
    assert shutil.which("ssh")


def run_device_python(code: str) -> str:
    import subprocess

    return subprocess.run(
        [sshd.DEVICE_PYTHON, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()

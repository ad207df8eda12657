"""The device runner on aarch64, under qemu-user emulation: a functional check, not a benchmark.

Builds, once, into a cache folder (nothing is installed on the host): an arm64 sysroot
(Debian bookworm's python3.11 and the libraries it links, `dpkg-deb -x`), Debian trixie's
qemu-user (static binaries), both through a private apt that uses this host's Debian archive;
and aarch64 wheels through pip. Then runs `edgekit/device/runner.py ARTIFACT --json` with that
aarch64 Python under qemu-aarch64, for the committed example models, with each runtime:

    tflite-runtime 2.14 + numpy < 2   (an older Pi OS / Python <= 3.11 device)
    ai-edge-litert 2.3  + numpy 2     (what `pip install edgekit` brings on aarch64)

and checks it against the same runner here:
  - the JSON document has the same keys as a local run (machine, result, execution);
  - it reports machine 'aarch64', the runtime it was given, the same executed precision,
    as many runs as asked, finite positive timings;
  - on labelled example images (edgekit.example.shapes, validation seed) the outputs match the
    same runtime release on this machine (top-1 and max |diff|), agree in top-1 with this
    Python's runtime, and classify the images as well.

Timings under emulation mean nothing (qemu translates every Arm instruction on this x86-64
CPU): they are kept only to show the loop ran. Needs apt-get and dpkg (a Debian/Ubuntu host).

    python benchmarks/qemu_aarch64.py [--runtime all|tflite-runtime|ai-edge-litert]
        [--runs 20] [--images 40] [--cpu cortex-a76] [--cache DIR] [--rebuild]
        [--qemu BINARY] [--results PATH]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RUNNER = ROOT / "edgekit" / "device" / "runner.py"
EXAMPLE = ROOT / "tests" / "data" / "example"
ARTIFACTS = ("shapes_fp32.tflite", "shapes_int8-io.tflite")
RESULTS = Path(__file__).parent / "results" / "qemu_aarch64.json"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "edgekit/qemu-aarch64"

# Debian 12: its python3.11 is the newest Python that tflite-runtime (<= 3.11) has wheels for.
SUITE = "bookworm"
DEBS = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6")
PYTHON = "usr/bin/python3.11"
# Debian 13's qemu 10: bookworm's qemu 7.2 crashes ai-edge-litert >= 2.2 (KNOWN_ISSUES)
QEMU_SUITE, QEMU_DEB = "trixie", "qemu-user"
# a Raspberry Pi 5's core: its features, not qemu's 'max' model (SVE, SME...), which also
# emulates several times slower
CPU = "cortex-a76"
# aarch64 wheels for the sysroot's CPython 3.11 on glibc 2.36; --no-deps: the runner needs only
# numpy and the runtime's interpreter module (neither runtime's interpreter imports more)
RUNTIMES = {
    "tflite-runtime": ("tflite-runtime==2.14.0", "numpy<2"),
    "ai-edge-litert": ("ai-edge-litert==2.3.0", "numpy>=2"),
}
PLATFORMS = ["manylinux2014_aarch64"] + [f"manylinux_2_{m}_aarch64" for m in range(17, 37)]
NOTE = (
    "Functional check only. The timings come from qemu-user emulation (every Arm instruction "
    "translated on an x86-64 host CPU): they measure the emulator, not any Arm CPU, and mean "
    "nothing; never compare them with a device or with each other. 'cpu' and 'isa' are what "
    "qemu's emulated /proc/cpuinfo says for the CPU model it was given (-cpu), not a board."
)
KNOWN_ISSUES = [
    "Under Debian bookworm's qemu-aarch64-static 7.2, ai-edge-litert 2.2.0 and 2.3.0 die with "
    "SIGSEGV creating the Interpreter (2.0.3, 2.1.6 and tflite-runtime 2.14 run); qemu 7.2 "
    "also passes the host's x86 /proc/cpuinfo through (the runner then reports x86 'isa' flags "
    "on machine 'aarch64'). Under trixie's qemu 10.0 both are fine, hence its use here.",
    "tflite-runtime 2.14's int8 softmax outputs differ from ai-edge-litert 2.3's by up to "
    "~0.3 on the same inputs (same top-1), on x86-64 as on aarch64: a runtime-release "
    "difference, not an architecture one; outputs are compared within one release.",
]
TIMING_KEYS = ("load_ms", "first_ms", "p50_ms", "mean_ms", "min_ms", "max_ms", "fps")

# Run with both Pythons next to a lone copy of runner.py: the artifact on labelled images
# through the runner's own loader, outputs dequantized. Python 3.11 + numpy 1.x syntax only.
PROBE = r"""
import json, platform, sys
import numpy as np
import runner

model = runner.open_model(sys.argv[1])
x = np.load(sys.argv[2])
spec = model.inputs[0]
outs = model._it.get_output_details()
rows = []
for i in range(len(x)):
    a = x[i : i + 1]
    if spec.quantized:
        lo, hi = runner.INT_RANGES[spec.dtype]
        a = np.clip(np.round(a / spec.scale + spec.zero_point), lo, hi)
    y = model.run([np.ascontiguousarray(a.astype(spec.dtype))])[0]
    scale, zp = outs[0]["quantization"]
    y = (y.astype(np.float32) - zp) * np.float32(scale) if scale else y.astype(np.float32)
    rows.append([float(v) for v in y.reshape(-1)])
json.dump({"machine": platform.machine(), "runtime": model.runtime, "outputs": rows,
           "output_scale": float(outs[0]["quantization"][0])}, sys.stdout)
"""


class Failed(Exception):
    """A step that cannot go on (no qemu, no mirror, a download refused)."""


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def sh(cmd, *, env=None, cwd=None, timeout=1200) -> subprocess.CompletedProcess:
    res = subprocess.run(
        [str(c) for c in cmd], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if res.returncode != 0:
        tail = (res.stderr or res.stdout).strip()[-2000:]
        raise Failed(f"{' '.join(map(str, cmd[:4]))} ... exited {res.returncode}:\n{tail}")
    return res


# -- the sysroot ----------------------------------------------------------------------------
def debian_sources() -> list[tuple[str, str | None]]:
    """(URI, Signed-By) of the Debian archives this host's apt uses: main, then security."""
    found: list[tuple[str, str | None]] = []
    files = [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]
    for f in files:
        if f.suffix not in (".list", ".sources", "") or not f.is_file():
            continue
        text = f.read_text(errors="replace")
        if f.suffix == ".sources":  # deb822 stanzas
            for stanza in re.split(r"\n\s*\n", text):
                fields = dict(
                    (k.strip().lower(), v.strip())
                    for k, _, v in (
                        ln.partition(":")
                        for ln in stanza.splitlines()
                        if ln.strip() and not ln.lstrip().startswith("#")
                    )
                )
                if "enabled" in fields and fields["enabled"].lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    found.append((uri, fields.get("signed-by")))
        else:  # one-line: deb [opts] URI suite components
            for ln in text.splitlines():
                m = re.match(r"\s*deb\s+(\[[^\]]*\]\s+)?(\S+)\s", ln)
                if m:
                    sb = re.search(r"signed-by=(\S+?)[\s\]]", m.group(1) or "")
                    found.append((m.group(2), sb.group(1) if sb else None))
    main = [s for s in found if s[0].rstrip("/").endswith("/debian")]
    security = [s for s in found if s[0].rstrip("/").endswith("/debian-security")]
    env_main = os.environ.get("EDGEKIT_DEBIAN_MIRROR")
    if env_main:
        main = [(env_main, None)]
    if not main:
        raise Failed(
            "no Debian archive in this host's apt sources; set EDGEKIT_DEBIAN_MIRROR to one "
            "(the URI that ends in /debian)"
        )
    return main[:1] + security[:1]


def private_apt(apt: Path, arch: str, suite: str) -> dict:
    """The env for an apt of its own (one architecture, one suite and its updates and security,
    its own lists, status and archives), so the host's apt state stays as it is."""
    for d in ("etc/apt.conf.d", "etc/preferences.d", "etc/sources.list.d", "lists/partial"):
        (apt / d).mkdir(parents=True, exist_ok=True)
    (apt / "archives/partial").mkdir(parents=True, exist_ok=True)
    (apt / "status").touch()
    (apt / "etc/main.conf").touch()
    lines = []
    for uri, signed_by in debian_sources():
        keyring = signed_by or "/usr/share/keyrings/debian-archive-keyring.gpg"
        opts = f"arch={arch}" + (f" signed-by={keyring}" if Path(keyring).is_file() else "")
        security = uri.rstrip("/").endswith("-security")
        suites = [f"{suite}-security"] if security else [suite, f"{suite}-updates"]
        lines += [f"deb [{opts}] {uri} {s} main" for s in suites]
    (apt / "etc/sources.list").write_text("\n".join(lines) + "\n")
    conf = {
        "APT::Architecture": arch,
        "APT::Architectures::": arch,
        "Dir::State": f"{apt}/",
        "Dir::State::Lists": f"{apt}/lists/",
        "Dir::State::status": f"{apt}/status",
        "Dir::Cache": f"{apt}/",
        "Dir::Cache::archives": f"{apt}/archives/",
        "Dir::Etc::main": f"{apt}/etc/main.conf",  # empty: apt.conf is read as APT_CONFIG
        "Dir::Etc::Parts": f"{apt}/etc/apt.conf.d/",
        "Dir::Etc::sourcelist": f"{apt}/etc/sources.list",
        "Dir::Etc::sourceparts": f"{apt}/etc/sources.list.d/",
        "Dir::Etc::preferences": f"{apt}/etc/preferences",
        "Dir::Etc::preferencesparts": f"{apt}/etc/preferences.d/",
        "Acquire::Languages": "none",
        "Acquire::Check-Valid-Until": "false",
    }
    if os.geteuid() == 0:
        conf["APT::Sandbox::User"] = "root"
    (apt / "etc/apt.conf").write_text("".join(f'{k} "{v}";\n' for k, v in conf.items()))
    env = {**os.environ, "APT_CONFIG": str(apt / "etc/apt.conf"), "LC_ALL": "C"}
    for tool in ("apt-get", "dpkg-deb"):
        if not shutil.which(tool):
            raise Failed(f"{tool} not found: the sysroot and qemu come from Debian packages")
    sh(["apt-get", "-q", "update"], env=env)
    shutil.rmtree(apt / "archives", ignore_errors=True)
    (apt / "archives/partial").mkdir(parents=True)
    return env


def unpack_debs(debs: list[Path], dest: Path) -> None:
    """dpkg -x each package into a fresh dest (no maintainer scripts, nothing installed)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for deb in debs:
        sh(["dpkg-deb", "-x", deb, tmp])
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def cached(stamp: Path, want: dict, *paths: Path) -> dict | None:
    if stamp.is_file() and all(p.exists() for p in paths):
        got = json.loads(stamp.read_text())
        if got.get("want") == want:
            return got
    return None


def build_sysroot(cache: Path, *, rebuild: bool) -> tuple[Path, dict]:
    """cache/sysroot: arm64 python3.11 and the libraries it and the runtimes link."""
    root, stamp = cache / "sysroot", cache / "sysroot.json"
    want = {"suite": SUITE, "debs": list(DEBS)}
    got = None if rebuild else cached(stamp, want, root / PYTHON)
    if got:
        return root, got
    log(f"building the arm64 sysroot in {root} ...")
    apt = cache / "apt-arm64"
    env = private_apt(apt, "arm64", SUITE)
    sh(["apt-get", "-q", "-y", "-d", "--no-install-recommends", "install", *DEBS], env=env)
    debs = sorted((apt / "archives").glob("*.deb"))
    unpack_debs(debs, root)
    shutil.rmtree(apt)  # lists and packages: rebuilt by the next --rebuild
    if not (root / PYTHON).is_file():
        raise Failed(f"the packages gave no {PYTHON}: {[d.name for d in debs]}")
    got = {"want": want, "packages": [d.name for d in debs]}
    stamp.write_text(json.dumps(got, indent=1))
    return root, got


def build_qemu(cache: Path, *, rebuild: bool) -> tuple[Path, dict]:
    """cache/qemu: Debian's newer qemu-user (static binaries, so unpacking is enough)."""
    folder, stamp = cache / "qemu", cache / "qemu.json"
    binary = folder / "qemu-aarch64"
    arch = sh(["dpkg", "--print-architecture"]).stdout.strip()
    want = {"suite": QEMU_SUITE, "package": QEMU_DEB, "arch": arch}
    got = None if rebuild else cached(stamp, want, binary)
    if got:
        return binary, got
    log(f"unpacking {QEMU_SUITE}'s {QEMU_DEB} ({arch}) in {folder} ...")
    apt = cache / f"apt-{arch}"
    env = private_apt(apt, arch, QEMU_SUITE)
    sh(["apt-get", "-q", "download", QEMU_DEB], env=env, cwd=apt / "archives")
    debs = sorted((apt / "archives").glob("*.deb"))
    unpack_debs(debs, folder.with_name("qemu-debs"))
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    shutil.move(folder.with_name("qemu-debs") / "usr/bin/qemu-aarch64", binary)
    shutil.rmtree(folder.with_name("qemu-debs"))  # the other targets: 400+ MB
    shutil.rmtree(apt)
    version = sh([binary, "--version"]).stdout.splitlines()[0]
    got = {"want": want, "packages": [d.name for d in debs], "version": version}
    stamp.write_text(json.dumps(got, indent=1))
    return binary, got


def build_site(cache: Path, runtime: str, *, host: bool = False, rebuild: bool) -> tuple:
    """cache/site-RUNTIME: the aarch64 wheels of RUNTIMES[runtime], unzipped (a PYTHONPATH);
    host=True: cache/site-host-RUNTIME, the same releases for this machine (the reference)."""
    name = f"host-{runtime}" if host else runtime
    site, stamp = cache / f"site-{name}", cache / f"site-{name}.json"
    tags = [] if host else ["--python-version", "3.11", "--implementation", "cp", "--abi", "cp311"]
    tags += [] if host else [a for p in PLATFORMS for a in ("--platform", p)]
    want = {"requirements": list(RUNTIMES[runtime]), "tags": tags}
    if host:
        want["python"] = sys.version.split()[0]
    got = None if rebuild else cached(stamp, want, site)
    if got:
        return site, got
    log(f"downloading the {'x86-64' if host else 'aarch64'} wheels of {runtime} ...")
    wheels = cache / f"wheels-{name}"
    shutil.rmtree(wheels, ignore_errors=True)
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--dest", wheels, "--no-deps"]
    sh([*cmd, "--only-binary=:all:", *tags, *RUNTIMES[runtime]])
    tmp = cache / f"site-{name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    names = sorted(w.name for w in wheels.glob("*.whl"))
    for whl in names:
        with zipfile.ZipFile(wheels / whl) as z:
            z.extractall(tmp)
    shutil.rmtree(wheels)
    shutil.rmtree(site, ignore_errors=True)
    tmp.rename(site)
    got = {"want": want, "wheels": names}
    stamp.write_text(json.dumps(got, indent=1))
    return site, got


# -- the runs -------------------------------------------------------------------------------
def make_images(folder: Path, count: int) -> tuple[Path, list[int]]:
    """Labelled example images (validation seed) through the models' preprocessing, as .npy."""
    import numpy as np

    from edgekit.contract import Preprocess
    from edgekit.example.shapes import arrays

    manifest = json.loads((EXAMPLE / "edgekit.json").read_text())
    pre = Preprocess.from_dict(manifest["contract"]["preprocess"])
    images, labels = arrays("val", count)
    x = np.concatenate([pre.apply(img) for img in images]).astype(np.float32)
    path = folder / "images.npy"
    np.save(path, x)
    return path, [int(k) for k in labels]


def key_paths(doc, prefix: str = "") -> set[str]:
    """Dotted key paths of a JSON document; lists by their first item; not into 'runtimes'
    (its keys are the installed distributions' names, which differ by design)."""
    paths = set()
    if isinstance(doc, dict):
        for k, v in doc.items():
            p = f"{prefix}.{k}" if prefix else k
            paths.add(p)
            if k != "runtimes":
                paths |= key_paths(v, p)
    elif isinstance(doc, list) and doc:
        paths |= key_paths(doc[0], prefix + "[]")
    return paths


def last_json(stdout: str) -> dict:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("{")]
    if not lines:
        raise Failed(f"no JSON in the runner's output:\n{stdout[-2000:]}")
    return json.loads(lines[-1])


class Runs:
    """The same lone copy of runner.py (and the probe beside it) under each Python."""

    def __init__(self, work: Path, qemu: Path, cpu: str, sysroot: Path):
        self.work, self.cpu = work, cpu
        shutil.copy(RUNNER, work / "runner.py")
        (work / "probe.py").write_text(PROBE)
        self.qemu, self.sysroot = qemu, sysroot

    def local(self, args: list, site: Path | None = None) -> subprocess.CompletedProcess:
        """This Python as it is, or (site given) without its site-packages: only site's wheels."""
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        if site is None:
            return sh([sys.executable, *args], env=env, cwd=self.work)
        env["PYTHONPATH"] = str(site)
        return sh([sys.executable, "-S", *args], env=env, cwd=self.work)

    def emulated(self, site: Path, args: list) -> subprocess.CompletedProcess:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "LANG": "C.UTF-8",
            "PYTHONPATH": str(site),
            "PYTHONNOUSERSITE": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        cmd = [self.qemu, "-cpu", self.cpu, "-L", self.sysroot, self.sysroot / PYTHON, *args]
        return sh(cmd, env=env, cwd=self.work)


def probe(res: subprocess.CompletedProcess):
    import numpy as np

    doc = json.loads(res.stdout)
    return doc, np.asarray(doc["outputs"], dtype=np.float64)


def check_artifact(runs: Runs, sites: dict, runtime, name, precision, n_runs, images, labels):
    """One artifact with one runtime: the checks, and a row for the results."""
    import numpy as np

    art = EXAMPLE / name
    args = ["runner.py", art, "--json", "--precision", precision]
    args += ["--runs", str(n_runs)]
    t = time.perf_counter()
    remote = last_json(runs.emulated(sites["aarch64"], args).stdout)
    wall_s = time.perf_counter() - t
    local = last_json(runs.local(args).stdout)  # the runner as `edgekit bench` runs it here
    rq, rl = remote["results"][0], local["results"][0]
    got_keys, want_keys = key_paths(remote), key_paths(local)

    doc, yq = probe(runs.emulated(sites["aarch64"], ["probe.py", art, images]))
    _, yv = probe(runs.local(["probe.py", art, images]))  # this Python's own runtime
    y = np.asarray(labels)
    checks = {
        "same_keys": got_keys == want_keys,
        "machine_aarch64": remote["machine"]["machine"] == doc["machine"] == "aarch64",
        "runtime": rq["runtime"].startswith(runtime + " ")
        and rq["runtime"] == doc["runtime"]
        and runtime in remote["machine"]["runtimes"],
        "executed_precision": rq["executed_precision"] == rl["executed_precision"],
        "runs": rq["runs"] == n_runs,
        "timings_finite": all(
            isinstance(rq.get(k), (int, float)) and math.isfinite(rq[k]) and rq[k] > 0
            for k in TIMING_KEYS
        ),
        "outputs_finite": bool(np.isfinite(yq).all()) and yq.shape == yv.shape == (len(y), 4),
    }
    # the same runtime release on this machine: aarch64 and x86-64 kernels, same numbers
    tol = max(1e-4, 1.01 * doc["output_scale"])  # fp32: the manifest's parity; int8: one step
    row_ref: dict = {"reference": None, "top1_agreement": None, "max_abs_diff": None}
    if sites.get("host"):
        ref_doc, yr = probe(runs.local(["probe.py", art, images], site=sites["host"]))
        top1, max_abs = float(np.mean(yq.argmax(1) == yr.argmax(1))), float(abs(yq - yr).max())
        checks["same_runtime_top1"] = top1 == 1.0
        checks["same_runtime_close"] = max_abs <= tol
        row_ref = {"reference": ref_doc["runtime"], "top1_agreement": round(top1, 4)}
        row_ref["max_abs_diff"] = float(f"{max_abs:.3g}")
    # this Python's runtime (another release, maybe): the same predictions
    top1_v = float(np.mean(yq.argmax(1) == yv.argmax(1)))
    acc_q, acc_v = float(np.mean(yq.argmax(1) == y)), float(np.mean(yv.argmax(1) == y))
    checks["local_runtime_top1"] = top1_v >= 0.95
    checks["accuracy"] = acc_q >= 0.9 and acc_q >= acc_v - 0.05
    row = {
        "runtime": rq["runtime"],
        "artifact": name,
        "machine": remote["machine"]["machine"],
        "python": remote["machine"]["python"],
        "numpy": remote["machine"]["runtimes"].get("numpy"),
        "executed_precision": rq["executed_precision"],
        "same_keys": got_keys == want_keys,
        "images": len(y),
        **row_ref,
        "tolerance": float(f"{tol:.3g}"),
        "local_runtime": rl["runtime"],
        "local_top1_agreement": round(top1_v, 4),
        "local_max_abs_diff": float(f"{float(abs(yq - yv).max()):.3g}"),
        "accuracy_emulated": round(acc_q, 4),
        "accuracy_local": round(acc_v, 4),
        "runs": rq["runs"],
        "emulated_p50_ms_meaningless": rq["p50_ms"],
        "wall_s": round(wall_s, 1),
        "passed": all(checks.values()),
    }
    return {
        "row": row,
        "checks": checks,
        "missing_keys": sorted(want_keys - got_keys),
        "extra_keys": sorted(got_keys - want_keys),
        "emulated": remote,
        "local_machine": local["machine"],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runtime", choices=["all", *RUNTIMES], default="all")
    ap.add_argument("--runs", type=int, default=20, help="timed runs per artifact (20)")
    ap.add_argument("--cpu", default=CPU, help=f"qemu's CPU model ({CPU}: a Raspberry Pi 5's)")
    ap.add_argument("--images", type=int, default=40, help="labelled images for the outputs")
    ap.add_argument("--cache", type=Path, default=CACHE, help=f"default: {CACHE}")
    ap.add_argument("--rebuild", action="store_true", help="download and unpack again")
    ap.add_argument(
        "--qemu", help=f"a qemu-aarch64 binary (default: {QEMU_SUITE}'s, unpacked in the cache)"
    )
    ap.add_argument("--results", type=Path, default=RESULTS, help="JSON path (CSV beside it)")
    a = ap.parse_args(argv)

    runtimes = list(RUNTIMES) if a.runtime == "all" else [a.runtime]
    try:
        a.cache.mkdir(parents=True, exist_ok=True)
        if a.qemu:
            qemu = Path(shutil.which(a.qemu) or a.qemu)
            qemu_info = {"packages": None}
        else:
            qemu, qemu_info = build_qemu(a.cache, rebuild=a.rebuild)
        qemu_version = sh([qemu, "--version"]).stdout.splitlines()[0]
        sysroot, sysroot_info = build_sysroot(a.cache, rebuild=a.rebuild)
        sites, wheels = {}, {}
        for rt in runtimes:
            site, info = build_site(a.cache, rt, rebuild=a.rebuild)
            sites[rt], wheels[rt] = {"aarch64": site}, info["wheels"]
            try:
                site, info = build_site(a.cache, rt, host=True, rebuild=a.rebuild)
                sites[rt]["host"], wheels[f"{rt} (host)"] = site, info["wheels"]
            except Failed as e:  # e.g. no wheel of that release for this Python
                log(f"no {rt} reference on this machine, outputs compared by top-1 only: {e}")
        manifest = json.loads((EXAMPLE / "edgekit.json").read_text())
        precision = {art["file"]: art["precision"] for art in manifest["artifacts"]}
        done = []
        with tempfile.TemporaryDirectory(prefix="edgekit-qemu-") as tmp:
            work = Path(tmp)
            images, labels = make_images(work, a.images)
            runs = Runs(work, qemu, a.cpu, sysroot)
            for rt in runtimes:
                for name in ARTIFACTS:
                    log(f"{rt}: {name} under {qemu_version.split(' (')[0]} ...")
                    r = check_artifact(
                        runs, sites[rt], rt, name, precision[name], a.runs, images, labels
                    )
                    failed = [k for k, ok in r["checks"].items() if not ok]
                    log(f"  {'ok' if not failed else 'FAILED: ' + ', '.join(failed)}: {r['row']}")
                    done.append(r)
    except (Failed, subprocess.TimeoutExpired) as e:
        log(f"error: {e}")
        return 1

    passed = all(r["row"]["passed"] for r in done)
    payload = {
        "note": NOTE,
        "passed": passed,
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "emulator": {"version": qemu_version, "cpu": a.cpu, "packages": qemu_info["packages"]},
        "emulated_machine": done[0]["emulated"]["machine"],
        "host_machine": done[0]["local_machine"],
        "sysroot": {"suite": SUITE, "packages": sysroot_info["packages"]},
        "wheels": wheels,
        "known_issues": KNOWN_ISSUES,
        "checks": [
            {
                "runtime": r["row"]["runtime"],
                "artifact": r["row"]["artifact"],
                **r["checks"],
                "missing_keys": r["missing_keys"],
                "extra_keys": r["extra_keys"],
            }
            for r in done
        ],
        "rows": [r["row"] for r in done],
        "results": {f"{r['row']['runtime']} {r['row']['artifact']}": r["emulated"] for r in done},
    }
    a.results.parent.mkdir(parents=True, exist_ok=True)
    a.results.write_text(json.dumps(payload, indent=2) + "\n")
    with open(a.results.with_suffix(".csv"), "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(payload["rows"][0]))
        w.writeheader()
        w.writerows(payload["rows"])
    print(f"{'PASSED' if passed else 'FAILED'}: {len(done)} runner runs on aarch64 under qemu")
    print(f"wrote {a.results} (timings under emulation mean nothing)")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())

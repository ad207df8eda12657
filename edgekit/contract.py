"""The model's input contract: how a camera frame or image file becomes the input tensor.

The same `Preprocess` is written to the manifest, embedded in each artifact, and applied by
every runtime session, so a frame is prepared identically on every device.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

import numpy as np

from edgekit.errors import ConfigError, InputError


class Resize(str, Enum):
    STRETCH = "stretch"  # resize to the input size, ignoring aspect ratio
    LETTERBOX = "letterbox"  # keep aspect ratio, pad with `pad_value`
    CROP = "crop"  # keep aspect ratio, resize the short side, centre-crop


class Color(str, Enum):
    RGB = "rgb"
    BGR = "bgr"
    GRAY = "gray"


class Layout(str, Enum):
    NHWC = "nhwc"
    NCHW = "nchw"


# name -> (scale, mean, std): value = (pixel * scale - mean) / std, pixel in 0..255
PRESETS = {
    "raw": (1.0, [0.0], [1.0]),
    "unit": (1 / 255, [0.0], [1.0]),
    "tf": (1 / 127.5, [1.0], [1.0]),
    "torch": (1 / 255, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
}


@dataclass
class Preprocess:
    """Image-to-tensor recipe. `size` is (height, width)."""

    size: tuple[int, int]
    resize: Resize = Resize.STRETCH
    color: Color = Color.RGB
    scale: float = 1 / 255
    mean: list[float] = field(default_factory=lambda: [0.0])
    std: list[float] = field(default_factory=lambda: [1.0])
    layout: Layout = Layout.NHWC
    pad_value: int = 114

    def __post_init__(self) -> None:
        self.size = (int(self.size[0]), int(self.size[1]))
        try:
            self.resize = Resize(self.resize)
            self.color = Color(self.color)
            self.layout = Layout(self.layout)
        except ValueError as e:
            raise ConfigError(f"bad preprocessing option: {e}") from e
        if any(s == 0 for s in self.std):
            raise ConfigError(f"preprocessing std must be non-zero; got: {self.std}")

    @classmethod
    def from_preset(cls, preset: str, *, size: tuple[int, int], **kw) -> Preprocess:
        if preset not in PRESETS:
            raise ConfigError(
                f"unknown preprocessing preset; got: {preset!r}; choose from {sorted(PRESETS)}"
            )
        scale, mean, std = PRESETS[preset]
        return cls(size=size, scale=scale, mean=list(mean), std=list(std), **kw)

    @classmethod
    def for_shape(cls, shape: list[int], preset: str = "unit") -> Preprocess | None:
        """The contract for an image input of this shape (NHWC, or NCHW when the channel
        count sits second), or None when the input is not an image."""
        if len(shape) != 4:
            return None
        nchw = shape[1] in (1, 3) and shape[3] not in (1, 3)
        h, w, c = (shape[2], shape[3], shape[1]) if nchw else (shape[1], shape[2], shape[3])
        if c not in (1, 3):
            return None  # feature maps or spectrogram stacks: tensors, not gray or RGB pixels
        layout, color = ("nchw" if nchw else "nhwc"), ("gray" if c == 1 else "rgb")
        return cls.from_preset(preset, size=(h, w), color=color, layout=layout)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocess:
        return cls(**{**d, "size": tuple(d["size"])})

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(resize=self.resize.value, color=self.color.value, layout=self.layout.value)
        d["size"] = list(self.size)
        return d

    @property
    def channels(self) -> int:
        return 1 if self.color is Color.GRAY else 3

    def apply(self, image: np.ndarray) -> np.ndarray:
        """BGR uint8 image (as OpenCV reads it), HxW or HxWxC -> float32 batch of one."""
        import cv2

        if not isinstance(image, np.ndarray) or image.ndim not in (2, 3) or image.size == 0:
            shape = getattr(image, "shape", type(image).__name__)
            raise InputError(f"expected an HxW or HxWxC image array; got: {shape}")
        img = self._to_color(image, cv2)
        img = self._resize(img, cv2).astype(np.float32)
        if img.ndim == 2:
            img = img[:, :, None]
        img = (img * self.scale - np.asarray(self.mean, np.float32)) / np.asarray(
            self.std, np.float32
        )
        if self.layout is Layout.NCHW:
            img = img.transpose(2, 0, 1)
        return np.ascontiguousarray(img[None], dtype=np.float32)

    def _to_color(self, img: np.ndarray, cv2) -> np.ndarray:
        if img.dtype != np.uint8:
            img = np.clip(img, 0, 255).astype(np.uint8)
        if img.ndim == 3 and img.shape[2] == 4:
            img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        gray_in = img.ndim == 2 or img.shape[2] == 1
        if self.color is Color.GRAY:
            return img.reshape(img.shape[:2]) if gray_in else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if gray_in:
            img = cv2.cvtColor(img.reshape(img.shape[:2]), cv2.COLOR_GRAY2BGR)
        return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if self.color is Color.RGB else img

    def _resize(self, img: np.ndarray, cv2) -> np.ndarray:
        h, w = self.size
        ih, iw = img.shape[:2]
        if self.resize is Resize.STRETCH:
            return cv2.resize(img, (w, h), interpolation=cv2.INTER_LINEAR)
        if self.resize is Resize.CROP:
            r = max(h / ih, w / iw)
            big = cv2.resize(img, (max(w, round(iw * r)), max(h, round(ih * r))))
            y, x = (big.shape[0] - h) // 2, (big.shape[1] - w) // 2
            return big[y : y + h, x : x + w]
        r = min(h / ih, w / iw)
        small = cv2.resize(img, (max(1, round(iw * r)), max(1, round(ih * r))))
        out = np.full((h, w) + img.shape[2:], self.pad_value, dtype=img.dtype)
        y, x = (h - small.shape[0]) // 2, (w - small.shape[1]) // 2
        out[y : y + small.shape[0], x : x + small.shape[1]] = small
        return out


@dataclass
class TensorSpec:
    """One input or output: name, shape (batch included), dtype, and affine quantization."""

    name: str
    shape: list[int]
    dtype: str = "float32"
    scale: float | None = None
    zero_point: int | None = None

    @property
    def quantized(self) -> bool:
        return self.dtype in ("int8", "uint8", "int16") and bool(self.scale)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TensorSpec:
        return cls(**d)


@dataclass
class Contract:
    """What a model expects and returns, independent of format."""

    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    preprocess: Preprocess | None = None
    labels: list[str] | None = None
    task: str = "classification"
    head: int | None = 0  # the output holding class scores (multi-output models), if any
    # raw SSD outputs: {"anchors": {...}, "decode": {...}, "nms": {...}} under MediaPipe's
    # option names (edgekit.demo.tasks.anchors reads and checks them)
    detection: dict | None = None

    def to_dict(self) -> dict:
        d = {
            "task": self.task,
            "head": self.head,
            "inputs": [t.to_dict() for t in self.inputs],
            "outputs": [t.to_dict() for t in self.outputs],
            "preprocess": self.preprocess.to_dict() if self.preprocess else None,
            "labels": self.labels,
        }
        if self.detection:
            d["detection"] = self.detection
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Contract:
        pre = d.get("preprocess")
        return cls(
            inputs=[TensorSpec.from_dict(t) for t in d["inputs"]],
            outputs=[TensorSpec.from_dict(t) for t in d["outputs"]],
            preprocess=Preprocess.from_dict(pre) if pre else None,
            labels=d.get("labels"),
            task=d.get("task", "classification"),
            head=d.get("head", 0),
            detection=d.get("detection"),
        )


def read_labels(path) -> list[str]:
    """One label per line; blank lines ignored."""
    from pathlib import Path

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"labels file not found; got: {p}; pass a text file, one label a line")
    labels = [ln.strip() for ln in p.read_text(encoding="utf-8", errors="replace").splitlines()]
    labels = [ln for ln in labels if ln]
    if not labels:
        raise ConfigError(f"labels file is empty; got: {p}; write one label a line")
    return labels

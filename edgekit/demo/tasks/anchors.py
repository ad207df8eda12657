"""Anchor-based SSD detectors whose graph ends before the post-processing: the options that
decode them, read from a TOML file (or the manifest), and the anchors they generate.

The option names are MediaPipe's, so a graph's `.pbtxt` options copy over as they are:
`[anchors]` takes those of `SsdAnchorsCalculatorOptions`, `[decode]` those of
`TensorsToDetectionsCalculatorOptions`, `[nms]` those of `NonMaxSuppressionCalculatorOptions`
(`algorithm = "weighted"` as MediaPipe's face detector uses, or `"default"`, plain NMS).
`edgekit/demo/anchors/*.toml` are bundled examples, passed by name (`--anchors
blazeface-short`) or as a path.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgekit.errors import ConfigError

BUNDLED = Path(__file__).resolve().parent.parent / "anchors"


@dataclass
class AnchorOptions:
    """SsdAnchorsCalculatorOptions (the single-scale generator); MediaPipe's defaults."""

    num_layers: int
    min_scale: float
    max_scale: float
    input_size_height: int | None = None  # None: the model's input height
    input_size_width: int | None = None
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    strides: list[int] = field(default_factory=list)
    aspect_ratios: list[float] = field(default_factory=list)
    feature_map_height: list[int] = field(default_factory=list)
    feature_map_width: list[int] = field(default_factory=list)
    reduce_boxes_in_lowest_layer: bool = False
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = False

    def check(self, where: str) -> None:
        maps = len(self.feature_map_height)
        if maps != len(self.feature_map_width):
            raise ConfigError(
                f"[anchors] in {where}: feature_map_height and feature_map_width differ in "
                f"length; got: {maps} and {len(self.feature_map_width)}; give one size a layer"
            )
        layers = maps or len(self.strides)
        if layers != self.num_layers:
            what = "feature_map_height" if maps else "strides"
            raise ConfigError(
                f"[anchors] in {where}: num_layers = {self.num_layers} needs one {what} value "
                f"a layer; got: {layers}; e.g. strides = [8, 16, 16, 16] for num_layers = 4"
            )


@dataclass
class DecodeOptions:
    """TensorsToDetectionsCalculatorOptions; the scales have no usable default (MediaPipe's
    0.0 divides by zero), so they are required."""

    num_classes: int
    num_boxes: int
    num_coords: int
    x_scale: float
    y_scale: float
    w_scale: float
    h_scale: float
    box_coord_offset: int = 0
    keypoint_coord_offset: int = 4
    num_keypoints: int = 0
    num_values_per_keypoint: int = 2
    sigmoid_score: bool = False
    score_clipping_thresh: float | None = None
    reverse_output_order: bool = False
    box_format: str = ""  # "yxhw", "xywh" or "xyxy"; "" follows reverse_output_order
    apply_exponential_on_box_size: bool = False
    min_score_thresh: float | None = None  # None: the detector's threshold

    def check(self, where: str) -> None:
        need = 4 + self.num_keypoints * self.num_values_per_keypoint
        if self.num_values_per_keypoint != 2:
            raise ConfigError(
                f"[decode] in {where}: num_values_per_keypoint must be 2 (x, y); "
                f"got: {self.num_values_per_keypoint}"
            )
        if self.num_coords != need or self.num_classes < 1 or self.num_boxes < 1:
            raise ConfigError(
                f"[decode] in {where}: num_coords must be 4 + 2 x num_keypoints = {need} and "
                f"num_classes, num_boxes at least 1; got: num_coords = {self.num_coords}, "
                f"num_classes = {self.num_classes}, num_boxes = {self.num_boxes}"
            )
        scales = {k: getattr(self, k) for k in ("x_scale", "y_scale", "w_scale", "h_scale")}
        if any(v <= 0 for v in scales.values()):
            raise ConfigError(
                f"[decode] in {where}: the scales must be positive; got: {scales}; "
                "e.g. 128.0 each for a 128x128 model that predicts in pixels"
            )
        if self.box_format not in BOX_FORMATS:
            raise ConfigError(
                f"[decode] in {where}: unknown box_format; got: {self.box_format!r}; choose "
                "from yxhw, xywh, xyxy"
            )

    @property
    def layout(self) -> str:
        """How a box is laid out in the regression tensor, as MediaPipe reads it."""
        return self.box_format or ("xywh" if self.reverse_output_order else "yxhw")


BOX_FORMATS = ("", "yxhw", "xywh", "xyxy")
NMS_ALGORITHMS = ("weighted", "default")


@dataclass
class NmsOptions:
    """NonMaxSuppressionCalculatorOptions, IoU overlap. MediaPipe's own default threshold
    (1.0) suppresses nothing; 0.45 is the detector's usual IoU."""

    algorithm: str = "default"
    min_suppression_threshold: float = 0.45
    max_num_detections: int = -1  # -1: the detector's max_boxes

    def check(self, where: str) -> None:
        if self.algorithm.lower() not in NMS_ALGORITHMS:
            raise ConfigError(
                f"[nms] in {where}: unknown algorithm; got: {self.algorithm!r}; choose from "
                "weighted, default (plain NMS)"
            )
        self.algorithm = self.algorithm.lower()
        if not 0 <= self.min_suppression_threshold <= 1:
            raise ConfigError(
                f"[nms] in {where}: min_suppression_threshold is an IoU in 0..1; "
                f"got: {self.min_suppression_threshold}"
            )


TABLES = {"anchors": AnchorOptions, "decode": DecodeOptions, "nms": NmsOptions}


@dataclass
class SsdSpec:
    """Everything that turns raw SSD outputs into detections: anchors, decoding, NMS."""

    anchors: AnchorOptions
    decode: DecodeOptions
    nms: NmsOptions = field(default_factory=NmsOptions)

    @classmethod
    def from_dict(cls, data: dict, where: str = "the detection options") -> SsdSpec:
        """From `{"anchors": {...}, "decode": {...}, "nms": {...}}`; ConfigError naming the
        table and key for anything unknown, missing or of the wrong type."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where} must be a table; got: {type(data).__name__}")
        unknown = [t for t in data if t not in TABLES]
        if unknown:
            raise ConfigError(
                f"unknown table in {where}; got: [{unknown[0]}]; valid: "
                + ", ".join(f"[{t}]" for t in TABLES)
            )
        for table in ("anchors", "decode"):
            if table not in data:
                raise ConfigError(f"{where} has no [{table}] table; got: {sorted(data)}")
        parts = {t: build(TABLES[t], data.get(t, {}), t, where) for t in TABLES}
        for part in parts.values():
            part.check(where)
        return cls(**parts)

    def to_dict(self) -> dict:
        """JSON/TOML-ready, only what differs from the defaults plus the required keys."""
        return {name: trimmed(getattr(self, name)) for name in TABLES}


def read_spec(path_or_name: str | Path) -> SsdSpec:
    """A TOML file of detection options, or the name of a bundled one (`blazeface-short`).

    Raises:
        ConfigError: no such file or name, a TOML syntax error, or a bad option.
    """
    from edgekit import _toml as toml

    path = Path(path_or_name)
    if not path.is_file() and path.suffix == "" and (BUNDLED / f"{path.name}.toml").is_file():
        path = BUNDLED / f"{path.name}.toml"
    if not path.is_file():
        raise ConfigError(
            f"anchors file not found; got: {path_or_name}; pass a TOML file with [anchors] "
            f"and [decode] tables, or a bundled name: {', '.join(bundled())}"
        )
    try:
        data = toml.loads(path.read_text(encoding="utf-8"))
    except (toml.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"anchors file {path.name} is not valid TOML; got: {e}") from e
    return SsdSpec.from_dict(data, where=path.name)


def bundled() -> list[str]:
    """Names of the bundled anchor files."""
    return sorted(p.stem for p in BUNDLED.glob("*.toml"))


def build(cls, table, name: str, where: str):
    """`cls(**table)` with every key known and of the type its field declares."""
    if not isinstance(table, dict):
        raise ConfigError(f"[{name}] in {where} must be a table; got: {table!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for key, value in table.items():
        if key not in fields:
            raise ConfigError(
                f"unknown key in [{name}] of {where}; got: {key!r}; valid: {', '.join(fields)}"
            )
        if not fits(value, hints[key]):
            raise ConfigError(
                f"[{name}] {key} in {where} must be {type_words(hints[key])}; got: {value!r}"
            )
    missing = [k for k, f in fields.items() if k not in table and required(f)]
    if missing:
        raise ConfigError(
            f"[{name}] in {where} is missing {', '.join(missing)}; valid keys: " + ", ".join(fields)
        )
    return cls(**{k: as_declared(v, hints[k]) for k, v in table.items()})


def as_declared(value, hint):
    """Ints given for float fields become floats (1 -> 1.0), in lists too."""
    if typing.get_origin(hint) is list:
        return [as_declared(v, typing.get_args(hint)[0]) for v in value]
    return float(value) if float in (hint, *typing.get_args(hint)) else value


def required(f: dataclasses.Field) -> bool:
    no_default = f.default is dataclasses.MISSING
    return no_default and f.default_factory is dataclasses.MISSING  # type: ignore[misc]


def fits(value, hint) -> bool:
    """Whether a TOML value matches a field type (ints pass for floats, bools never for
    numbers)."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) is list:
        return isinstance(value, list) and all(fits(v, args[0]) for v in value)
    if type(None) in args:  # X | None: TOML has no null, so the value is an X
        return fits(value, next(a for a in args if a is not type(None)))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, hint)


def type_words(hint) -> str:
    if typing.get_origin(hint) is list:
        return f"a list of {type_words(typing.get_args(hint)[0])}s"
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    hint = args[0] if args else hint
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}[hint]


def trimmed(options) -> dict:
    """The options as a dict without the ones left at their default."""
    out = {}
    for f in dataclasses.fields(options):
        value = getattr(options, f.name)
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        if required(f) or value != default:
            out[f.name] = value
    return out


def generate(options: AnchorOptions, input_size: tuple[int, int]) -> np.ndarray:
    """The anchors as MediaPipe's SsdAnchorsCalculator makes them: [N, 4] rows of
    (x_center, y_center, w, h), normalised to the input. `input_size` (h, w) fills
    input_size_height/width when the options leave them out."""
    height = options.input_size_height or input_size[0]
    width = options.input_size_width or input_size[1]
    rows: list[tuple[float, float, float, float]] = []
    layer = 0
    while layer < options.num_layers:
        sizes, last = layer_sizes(options, layer)
        if options.feature_map_height:
            fh, fw = options.feature_map_height[layer], options.feature_map_width[layer]
        else:
            fh = math.ceil(height / options.strides[layer])
            fw = math.ceil(width / options.strides[layer])
        for y in range(fh):
            for x in range(fw):
                xc = (x + options.anchor_offset_x) / fw
                yc = (y + options.anchor_offset_y) / fh
                rows.extend((xc, yc, w, h) for w, h in sizes)
        layer = last
    return np.array(rows, dtype=np.float32).reshape(-1, 4)


def layer_sizes(options: AnchorOptions, layer: int) -> tuple[list[tuple[float, float]], int]:
    """(w, h) of the anchors at each grid cell of `layer` and the layers that share its
    stride (merged into one grid, as MediaPipe does), and the index after them."""
    # feature maps without strides: each layer its own grid (nothing to merge by)
    strides = options.strides or list(range(options.num_layers))
    n = len(strides)
    ratios: list[float] = []
    scales: list[float] = []
    last = layer
    while last < n and strides[last] == strides[layer]:
        scale = layer_scale(options, last, n)
        if last == 0 and options.reduce_boxes_in_lowest_layer:
            ratios += [1.0, 2.0, 0.5]
            scales += [0.1, scale, scale]
        else:
            ratios += list(options.aspect_ratios)
            scales += [scale] * len(options.aspect_ratios)
            if options.interpolated_scale_aspect_ratio > 0:
                following = 1.0 if last == n - 1 else layer_scale(options, last + 1, n)
                scales.append(math.sqrt(scale * following))
                ratios.append(options.interpolated_scale_aspect_ratio)
        last += 1
    if options.fixed_anchor_size:
        return [(1.0, 1.0)] * len(ratios), last
    return [(s * math.sqrt(r), s / math.sqrt(r)) for s, r in zip(scales, ratios)], last


def layer_scale(options: AnchorOptions, index: int, count: int) -> float:
    if count == 1:
        return (options.min_scale + options.max_scale) * 0.5
    return options.min_scale + (options.max_scale - options.min_scale) * index / (count - 1)


def looks_like_raw_ssd(shapes: list[list[int]]) -> bool:
    """Two [1, N, D] outputs over the same N, one of them boxes (+ keypoints): 4 + 2K values
    per anchor. What an SSD exported without its post-processing op returns."""
    if len(shapes) != 2 or any(len(s) != 3 for s in shapes) or shapes[0][1] != shapes[1][1]:
        return False
    return shapes[0][1] >= 16 and any(s[2] >= 4 and (s[2] - 4) % 2 == 0 for s in shapes)

"""The in-repo detector: finds the example's rendered shapes in a frame and boxes them.

`detector.keras` is trained by `python -m edgekit.example.detect.train` on scenes from
`scenes.py` (frames with known boxes, no download); `detector.tflite` is its fp32 TFLite
export with the detection contract embedded, so the light install can run it. Its output is
a YOLO-style head `[1, 4 + C, N]`: box centre, width and height in input pixels, then one
sigmoid score per class, for each of the N = (size / 8)^2 grid cells.
"""

from pathlib import Path

HERE = Path(__file__).parent
MODEL = HERE / "detector.keras"
TFLITE = HERE / "detector.tflite"
LABELS = HERE / "labels.txt"
INPUT = 160  # square input; frames are letterboxed into it
STRIDE = 8

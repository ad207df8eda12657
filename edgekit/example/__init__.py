"""The bundled example: a small CNN that tells rendered shapes apart.

`shapes.keras` is trained by `python -m edgekit.example.train` on images from `shapes.py`;
the same generator with the held-out seed gives the validation split.
"""

from pathlib import Path

HERE = Path(__file__).parent
MODEL = HERE / "shapes.keras"
LABELS = HERE / "labels.txt"

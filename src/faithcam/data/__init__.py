"""ShapesBench: a procedural data set with exact ground truth, and small CNNs trained on it.

Its section of ``faithcam demo`` lives in ``faithcam.demo.shapes``.
"""

from faithcam.data.models import (
    ShapesModel,
    build_model,
    bundled_models,
    load_shapes_model,
)
from faithcam.data.shapes import CLASSES, CUE_COLOURS, SPLITS, ShapesBench, ShapesDataset

__all__ = [
    "CLASSES",
    "CUE_COLOURS",
    "SPLITS",
    "ShapesBench",
    "ShapesDataset",
    "ShapesModel",
    "build_model",
    "bundled_models",
    "load_shapes_model",
]

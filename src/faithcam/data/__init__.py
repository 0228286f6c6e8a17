"""ShapesBench: a procedural data set with exact ground truth, and small CNNs trained on it.

``faithcam.data.shapes_demo`` (the ShapesBench section of ``faithcam demo``) is not imported
here: it pulls in matplotlib.
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

"""ShapesBench: a procedural data set with exact ground truth, and small CNNs trained on it."""

from faithcam.data.shapes import CLASSES, CUE_COLOURS, SPLITS, ShapesBench, ShapesDataset

__all__ = ["CLASSES", "CUE_COLOURS", "SPLITS", "ShapesBench", "ShapesDataset"]

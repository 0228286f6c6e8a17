"""Ground truth at the layer: exact (or sampled) Shapley values of the layer's locations, cases
with a known truth, and scores of maps against it (see docs/truth.md)."""

from faithcam.truth.shapley import ShapleyResult, shapley

__all__ = ["ShapleyResult", "shapley"]

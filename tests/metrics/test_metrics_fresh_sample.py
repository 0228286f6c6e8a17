"""Tests written for survivors of the fresh mutmut sample of the metrics tier (seed 20261206,
docs/mutation.md); expected values by hand."""

from __future__ import annotations

import torch
from torch import nn

from faithcam.metrics import conservation_violation
from faithcam.metrics.evaluate import EvaluationTable


def test_conservation_violation_range_starts_at_zero() -> None:
    """A violation is |y − Σ c| (/ |y|): any value ≥ 0 is possible, so the range is [0, ∞) and
    the interval of near-zero violations reaches below 1 (here: CAM on a bias-free GAP + linear
    head, violation 0)."""
    torch.manual_seed(0)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5, bias=False)).eval()
    acts = torch.rand(6, 8, 4, 4)
    targets = head(acts).argmax(1)
    weights = head[2].weight[targets].detach() / 16
    result = conservation_violation(acts, weights, head, targets)
    assert result.bounds == (0.0, float("inf"))
    low, high = result.ci
    assert 0.0 <= low <= result.mean <= high < 1e-4


def test_evaluation_table_text_has_its_column_names() -> None:
    table = EvaluationTable([], {})
    header = repr(table).splitlines()[0].split()
    assert header[:3] == ["method", "metric", "mean"]

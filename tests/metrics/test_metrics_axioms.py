"""XGrad-CAM axioms: conservation and sensitivity violations."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from faithcam.errors import FaithcamValueError
from faithcam.metrics import conservation_violation, sensitivity_violation


def gap_linear_head(bias: bool) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5, bias=bias)).eval()


def cam_weights(head: nn.Module, targets: torch.Tensor, z: int) -> torch.Tensor:
    """CAM for GAP + linear: w_k = W_ck / Z, so Σ_ij w_k A^k_ij = W_ck · mean(A^k)."""
    return head[2].weight[targets].detach() / z


def test_cam_satisfies_both_axioms_without_bias():
    head = gap_linear_head(bias=False)
    acts = torch.rand(4, 8, 5, 6)
    targets = head(acts).argmax(1)
    weights = cam_weights(head, targets, 30)
    cons = conservation_violation(acts, weights, head, targets)
    sens = sensitivity_violation(acts, weights, head, targets, batch_size=7)
    torch.testing.assert_close(cons.values, torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)
    torch.testing.assert_close(sens.values, torch.zeros(4, dtype=torch.float64), atol=1e-5, rtol=0)
    assert sens.details["drops"].shape == (4, 8)
    assert (cons.name, sens.name) == ("conservation_violation", "sensitivity_violation")


def test_bias_shows_as_conservation_gap_only():
    head = gap_linear_head(bias=True)
    acts = torch.rand(3, 8, 4, 4)
    targets = head(acts).argmax(1)  # targets=None must give the same
    weights = cam_weights(head, targets, 16)
    cons = conservation_violation(acts, weights, head, None, relative=False)
    torch.testing.assert_close(
        cons.values, head[2].bias[targets].detach().abs().double(), atol=1e-5, rtol=1e-5
    )
    sens = sensitivity_violation(acts, weights, head, None)
    assert sens.values.abs().max() < 1e-5


def test_per_location_weights_and_a_bad_map():
    head = gap_linear_head(bias=False)
    acts = torch.rand(2, 8, 3, 3)
    targets = torch.tensor([1, 2])
    per_location = cam_weights(head, targets, 9)[:, :, None, None].expand(2, 8, 3, 3)
    good = sensitivity_violation(acts, per_location, head, targets)
    bad = sensitivity_violation(acts, torch.ones(2, 8), head, targets)
    assert good.values.max() < 1e-5 and (bad.values > 0.1).all()


def test_bad_inputs():
    head = gap_linear_head(bias=False)
    acts = torch.rand(2, 8, 3, 3)
    with pytest.raises(FaithcamValueError, match=r"weights must have shape \(B, K\)"):
        conservation_violation(acts, torch.ones(2, 7), head)
    with pytest.raises(FaithcamValueError, match=r"activations must be a tensor of shape"):
        sensitivity_violation(acts[0], torch.ones(2, 8), head)


def test_relative_sensitivity_violation_divides_each_image_by_its_own_drops():
    """Seed 20261216: on GAP + linear without bias the drop of channel k is S_k = W_ck · mean(A^k)
    and a map of weights 1 credits c_k = Σ_ij A^k_ij; each image's violation is
    Σ_k |S_k − c_k| / Σ_k |S_k|, by its own drops, not those of the batch."""
    head = gap_linear_head(bias=False)
    acts = torch.rand(2, 8, 3, 3, generator=torch.Generator().manual_seed(3)) * torch.tensor(
        [1.0, 5.0]
    ).view(2, 1, 1, 1)
    targets = torch.tensor([1, 2])
    drops = head[2].weight[targets].detach().double() * acts.double().mean((2, 3))
    credited = acts.double().sum((2, 3))
    expected = (drops - credited).abs().sum(1) / drops.abs().sum(1)
    result = sensitivity_violation(acts, torch.ones(2, 8), head, targets)
    torch.testing.assert_close(result.values, expected, atol=1e-5, rtol=1e-5)

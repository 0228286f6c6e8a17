"""Property tests (hypothesis): the papers' theorems on random tiny models and inputs.

Each property holds for every model and input of its family, so hypothesis draws them: the
seed of a GAP + linear model (its width, classes, input size) or of a pixel-linear model.
Few examples and tiny models keep each test under a few seconds.
"""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import faithcam
from faithcam.metrics import deletion
from tests.helpers import GapLinearNet

FAST = settings(max_examples=10, deadline=None, derandomize=True)

gap_models = st.tuples(
    st.integers(0, 2**16),  # seed
    st.integers(1, 6),  # channels
    st.integers(2, 5),  # classes
    st.integers(4, 12),  # input size
    st.integers(1, 3),  # batch
)


def _gap_case(case: tuple[int, int, int, int, int]):
    seed, channels, classes, size, batch = case
    torch.manual_seed(seed)
    model = GapLinearNet(classes=classes, channels=channels).eval()
    images = torch.randn(batch, 3, size, size)
    targets = torch.randint(classes, (batch,))
    return model, images, targets


@FAST
@given(gap_models)
def test_hirescam_equals_cam_over_z(case) -> None:
    """Draelos & Carin: on any GAP + linear head, HiResCAM = CAM / Z, at raw scale."""
    model, images, targets = _gap_case(case)
    hires = faithcam.explain(model, images, "hirescam", targets=targets, layer="features")
    cam = faithcam.explain(model, images, "cam", targets=targets, layer="features")
    z = hires.raw_maps[0].numel()
    torch.testing.assert_close(hires.raw_maps * z, cam.raw_maps, rtol=1e-4, atol=1e-5)


@FAST
@given(gap_models)
def test_conservation_sums_to_score_minus_bias(case) -> None:
    """Fu et al.: XGrad-CAM (and Grad-CAM, HiResCAM) raw maps sum to y_c − b_c on ReLU nets
    with a GAP + linear head."""
    model, images, targets = _gap_case(case)
    with torch.no_grad():
        logits = model(images)
    expected = logits[torch.arange(len(images)), targets] - model.fc.bias[targets]
    for method in ("xgradcam", "gradcam", "hirescam"):
        raw = faithcam.explain(model, images, method, targets=targets, layer="features").raw_maps
        torch.testing.assert_close(raw.sum(dim=(1, 2)), expected, rtol=1e-4, atol=1e-4)


class PixelLinear(nn.Module):
    """y = Σ_cij W_kcij x_cij + b_k: each pixel's contribution to y_k is Σ_c W_kcij x_cij."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.fc = nn.Linear(3 * size * size, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@settings(max_examples=20, deadline=None, derandomize=True)
@given(st.integers(0, 2**16), st.integers(3, 6), st.randoms(use_true_random=False))
def test_deletion_of_true_contributions_beats_any_permutation(seed, size, rng) -> None:
    """Deleting pixels (to a zero substrate) in decreasing order of their true contribution
    removes the most score at every step, so its logit deletion AUC is ≤ that of any
    permutation of the same map."""
    torch.manual_seed(seed)
    model = PixelLinear(size).eval()
    image = torch.randn(1, 3, size, size)
    weights = model.fc.weight[0].detach().view(3, size, size)
    contribution = (weights * image[0]).sum(dim=0)[None]
    order = list(range(size * size))
    rng.shuffle(order)
    permuted = contribution.flatten(1)[:, order].view_as(contribution)
    kwargs = {"pixels_per_step": 1, "substrate": torch.zeros(1), "score": "logit"}
    true_auc = deletion(model, image, contribution, 0, **kwargs).values
    permuted_auc = deletion(model, image, permuted, 0, **kwargs).values
    assert float(true_auc[0]) <= float(permuted_auc[0]) + 1e-6
    # and the true map's curve is the score minus the running sum of sorted contributions
    curve = deletion(model, image, contribution, 0, **kwargs).details["curves"][0]
    sorted_c = contribution.flatten().sort(descending=True).values.double()
    with torch.no_grad():
        logit = model(image)[0, 0].double()
    expected = logit - torch.cat([torch.zeros(1, dtype=torch.float64), sorted_c.cumsum(0)])
    torch.testing.assert_close(curve, expected, rtol=1e-5, atol=1e-5)

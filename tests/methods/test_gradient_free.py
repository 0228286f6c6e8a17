"""Score-CAM and Ablation-CAM: the papers' formulas, the peer, cost, bad input and hygiene.

Peer agreement (pytorch-grad-cam 1.5.7) is checked at the layer's resolution after ReLU and
min-max scaling, as in test_agreement_peers.py. Known differences from the peer:

- Score-CAM: both use α = softmax_k of the target scores of the masked images. The paper's
  Algorithm 1 subtracts the score of the black baseline first, which a softmax cancels (it is
  shift-invariant), so the weights agree. The masks differ: the peer upsamples with
  ``UpsamplingBilinear2d`` (align_corners=True); faithcam defaults to align_corners=False and
  takes ``align_corners=True`` to reproduce the peer (test_scorecam_default_upsampling_differs).
- Ablation-CAM: same w_k = (y − y_k) / y, but where the layer's output has negative values the
  peer ablates with min(A) − 1e7 (lowered again for each row of a batch) instead of the paper's
  0 (test_peer_ablation_value_deviates_on_signed_layers); the compared layers here are
  non-negative (post-ReLU / max-pool), where the peer zeroes too.

The agreement tests use early layers (64 channels): both methods cost one forward per channel,
and the peer's Ablation-CAM re-runs the whole network per channel; the auto layer of resnet18
is used where only faithcam runs.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import faithcam
from tests.helpers import GapLinearNet, seeded_images, seeded_torchvision
from tests.methods.test_hygiene import _hook_count
from tests.peer_helpers import classifier_targets, minmax, peer_lowres
from tests.references import layer_output

METHODS = ["scorecam", "ablationcam"]


# ---------------------------------------------------------------- naive references (papers)


def naive_score_cam(
    model: nn.Module,
    module: nn.Module,
    images: torch.Tensor,
    classes: list[int],
    weights: str = "softmax",
    align_corners: bool = False,
) -> torch.Tensor:
    """Score-CAM one channel at a time: C_k = f^c(X ∘ s(Up(A^k))) − f^c(0)."""
    activations = layer_output(model, module, images)
    maps = []
    with torch.no_grad():
        for x, a, c in zip(images, activations, classes, strict=True):
            baseline = model(torch.zeros_like(x)[None])[0, c]
            increase = []
            for channel in a:
                up = F.interpolate(
                    channel[None, None], x.shape[-2:], mode="bilinear", align_corners=align_corners
                )[0, 0]
                span = up.max() - up.min()
                mask = (up - up.min()) / span if span > 0 else torch.zeros_like(up)
                increase.append(model((x * mask)[None])[0, c] - baseline)
            alpha = torch.stack(increase)
            alpha = torch.softmax(alpha, 0) if weights == "softmax" else alpha
            maps.append(torch.einsum("k,khw->hw", alpha, a))
    return torch.stack(maps)


def naive_ablation_cam(head, activations: torch.Tensor, classes: list[int]) -> torch.Tensor:
    """Ablation-CAM one channel at a time: w_k = (y − y_k) / y, y_k with channel k zeroed."""
    maps = []
    with torch.no_grad():
        for a, c in zip(activations, classes, strict=True):
            y = head(a[None])[0, c]
            ablated = a[None].repeat(len(a), 1, 1, 1)
            ablated[torch.arange(len(a)), torch.arange(len(a))] = 0
            weights = (y - head(ablated)[:, c]) / y
            maps.append(torch.einsum("k,khw->hw", weights, a))
    return torch.stack(maps)


def gap_head(model: GapLinearNet):
    return lambda a: model.fc(model.pool(a).flatten(1))


class SkipNet(nn.Module):
    """The part after `layer` also reads the stem's output (a skip connection over the layer)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.layer = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, stride=1), nn.ReLU())
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.stem(x)
        return self.fc((self.layer(s) + s).mean((2, 3)))


class RowCounter:
    """Forward pre-hook counting the calls of a module and the rows (images) it processes."""

    def __init__(self, module: nn.Module) -> None:
        self.calls = self.rows = 0
        self.handle = module.register_forward_pre_hook(self)

    def __call__(self, _module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.calls += 1
        self.rows += len(inputs[0])


@pytest.fixture
def model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


IMAGES = seeded_images(3, 16)
CLASSES = [0, 3, 4]


# ---------------------------------------------------------------- the papers' formulas


@pytest.mark.parametrize("weights", ["softmax", "cic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_scorecam_is_the_paper_formula(model, weights, align_corners) -> None:
    result = faithcam.explain(
        model, IMAGES, "scorecam", CLASSES, weights=weights, align_corners=align_corners
    )
    reference = naive_score_cam(model, model.features, IMAGES, CLASSES, weights, align_corners)
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-5)
    assert result.layer == "features" and result.method == "scorecam"
    assert result.settings["weights"] == weights
    assert result.settings["align_corners"] is align_corners


def test_ablationcam_is_the_paper_formula(model) -> None:
    result = faithcam.explain(model, IMAGES, "ablation-cam", CLASSES)
    activations = layer_output(model, model.features, IMAGES)
    reference = naive_ablation_cam(gap_head(model), activations, CLASSES)
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-6)
    assert result.settings["forward"] == "after-layer"


def test_ablationcam_falls_back_to_full_forwards_over_skip_connections() -> None:
    """After `layer` the network also needs the stem's output: the empty-batch shortcut fails
    its check and every chunk replays the full forward, still giving the paper's weights."""
    torch.manual_seed(0)
    model = SkipNet().eval()
    result = faithcam.explain(model, IMAGES, "ablationcam", [0, 1, 2], layer="layer", batch_size=3)
    assert result.settings["forward"] == "full"
    with torch.no_grad():
        stem = model.stem(IMAGES)
    activations = model.layer(stem).detach()
    maps = [
        naive_ablation_cam(lambda a, s=s: model.fc((a + s).mean((2, 3))), a[None], [c])
        for a, s, c in zip(activations, stem, [0, 1, 2], strict=True)
    ]
    torch.testing.assert_close(result.raw_maps, torch.cat(maps), rtol=1e-4, atol=1e-6)
    assert _hook_count(model) == 0


class InplaceAfterLayer(nn.Module):
    """An in-place ReLU right after the target layer (as torchvision's DenseNet `features`)."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.relu(self.layer(x), inplace=True).mean((2, 3)))


def test_ablationcam_with_inplace_op_after_layer() -> None:
    """The forward-only capture keeps a copy of the layer output, so an in-place op after the
    layer does not overwrite the activations."""
    torch.manual_seed(0)
    model = InplaceAfterLayer().eval()
    result = faithcam.explain(model, IMAGES, "ablationcam", [0, 1, 2], "layer")
    activations = model.layer(IMAGES).detach()
    reference = naive_ablation_cam(
        lambda a: model.fc(F.relu(a).mean((2, 3))), activations, [0, 1, 2]
    )
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_targets_batch_size_and_result(model, method) -> None:
    reference = faithcam.explain(model, IMAGES, method, 2, batch_size=64)
    for other in (
        faithcam.explain(model, IMAGES, method, 2, batch_size=1),
        faithcam.explain(model, IMAGES, method, faithcam.CallableTarget(lambda out: out[:, 2])),
    ):
        torch.testing.assert_close(other.raw_maps, reference.raw_maps, rtol=1e-4, atol=1e-6)
    predicted = faithcam.explain(model, IMAGES, method)
    with torch.no_grad():
        logits = model(IMAGES)
    torch.testing.assert_close(predicted.targets, logits.argmax(1))
    torch.testing.assert_close(predicted.scores, logits.max(1).values)
    assert predicted.maps.shape == (3, 16, 16)
    assert predicted.maps.min() >= 0 and predicted.maps.max() <= 1


def test_classes_and_aliases(model) -> None:
    by_class = faithcam.ScoreCAM(model, weights="cic")(IMAGES, CLASSES)
    by_alias = faithcam.explain(model, IMAGES, "Score-CAM", CLASSES, weights="cic")
    torch.testing.assert_close(by_class.maps, by_alias.maps)
    assert faithcam.AblationCAM(model)(IMAGES).method == "ablationcam"
    assert "Desai" in faithcam.AblationCAM.__doc__
    assert {"scorecam", "ablationcam"} <= set(faithcam.METHODS)


def test_progress_bar(model, capsys) -> None:
    faithcam.explain(model, IMAGES, "scorecam", progress=True)
    assert "scorecam" in capsys.readouterr().err


# ---------------------------------------------------------------- cost


def test_ablationcam_runs_the_backbone_once_per_image() -> None:
    """The modules before the layer see each image once: every ablation chunk enters the
    network at the layer (their input batch is empty, zero rows of arithmetic). The layer is
    named, so the one-image probe of automatic layer selection does not count."""
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    stem = RowCounter(model.conv1)
    try:
        result = faithcam.explain(model, images, "ablationcam", [3, 17], "layer4", batch_size=64)
    finally:
        stem.handle.remove()
    assert result.layer == "layer4" and result.settings["forward"] == "after-layer"
    assert stem.rows == len(images)  # the capture pass; the 2·512 ablated rows skip the stem
    assert stem.calls == 1 + 2 * 512 // 64


def test_scorecam_forwards_each_distinct_mask_once(model) -> None:
    """Channels 0-2 are all zero, 3 is a constant 0.5 and 5 duplicates 4: they share the zero
    mask (which is the black baseline) and one mask, so each image costs 4 forwards, not 9."""
    conv = model.features[2]
    with torch.no_grad():
        conv.weight[:4] = 0
        conv.bias[:3] = -1.0
        conv.bias[3] = 0.5
        conv.weight[5], conv.bias[5] = conv.weight[4], conv.bias[4]
    activations = layer_output(model, model.features, IMAGES).flatten(2)
    assert (activations[:, 4:].amax(2) > activations[:, 4:].amin(2)).all()
    counter = RowCounter(model.features[0])
    try:
        result = faithcam.explain(model, IMAGES, "scorecam", CLASSES, "features")
    finally:
        counter.handle.remove()
    assert result.settings["forwards"] == 4 * len(IMAGES)
    assert counter.rows == len(IMAGES) + 4 * len(IMAGES)
    reference = naive_score_cam(model, model.features, IMAGES, CLASSES)
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------- pytorch-grad-cam

PEER_CASES = [("resnet18", "layer1", 2, 64), ("vgg11_bn", "features.3", 1, 48)]


@pytest.mark.parametrize(("model_name", "layer", "n_images", "size"), PEER_CASES)
@pytest.mark.parametrize("method", METHODS)
def test_matches_pytorch_grad_cam(model_name, layer, n_images, size, method, peer_output) -> None:
    model = seeded_torchvision(model_name)
    images = seeded_images(n_images, size)
    classes = [3, 17][:n_images]
    options = {"align_corners": True} if method == "scorecam" else {}
    result = faithcam.explain(model, images, method, classes, layer, **options)
    module = dict(model.named_modules())[layer]
    peer_name = "ScoreCAM" if method == "scorecam" else "AblationCAM"
    theirs = peer_output(
        method,
        lambda: peer_lowres(peer_name, model, module, images, classifier_targets(classes)),
        model=model_name,
        layer=layer,
        images=images,
    )
    np.testing.assert_allclose(minmax(result.raw_maps.numpy()), minmax(theirs), atol=1e-4)
    if method == "ablationcam":  # the peer zeroes channels only on non-negative outputs
        assert layer_output(model, module, images).min() == 0
    elif model_name == "resnet18":
        # faithcam's default masks use align_corners=False; the peer's UpsamplingBilinear2d
        # uses True, which shifts every mask by up to half an activation cell.
        default = faithcam.explain(model, images, method, classes, layer)
        assert np.abs(minmax(default.raw_maps.numpy()) - minmax(theirs)).max() > 1e-3


def test_peer_ablation_value_deviates_on_signed_layers(peer_output) -> None:
    """On a conv output with negative values (followed by GAP, not a ReLU) the peer ablates
    with min(A) − 1e7, not 0: its map is not the paper's, faithcam's is (checked against the
    one-channel-at-a-time formula)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 6, 3, padding=1),  # the layer: signed
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(6, 5),
    ).eval()
    module = model[2]
    result = faithcam.explain(model, IMAGES, "ablationcam", CLASSES, module)
    activations = layer_output(model, module, IMAGES)
    assert activations.min() < 0
    reference = naive_ablation_cam(model[3:], activations, CLASSES)
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-6)
    theirs = peer_output(
        "ablationcam",
        lambda: peer_lowres("AblationCAM", model, module, IMAGES, classifier_targets(CLASSES)),
        model="conv-relu-conv-gap-linear, torch.manual_seed(0)",
        layer="2",
        images=IMAGES,
    )
    assert np.abs(minmax(result.raw_maps.numpy()) - minmax(theirs)).max() > 1e-2


# ---------------------------------------------------------------- bad input and hygiene


@pytest.mark.parametrize(
    ("method", "options", "error", "match"),
    [
        ("scorecam", {"steps": 3}, ValueError, r"unexpected options \['steps'\]"),
        ("scorecam", {"weights": "raw"}, ValueError, "weights: expected one of softmax, cic"),
        ("scorecam", {"align_corners": "yes"}, TypeError, "align_corners: expected a bool"),
        ("ablationcam", {"weights": "cic"}, ValueError, "valid: none"),
        ("ablationcam", {"estimator": "integrated"}, ValueError, "estimator: .* gradient-free"),
        ("scorecam", {"batch_size": 0}, ValueError, "batch_size"),
        ("ablationcam", {"layer": "nope"}, ValueError, "layer: no module named 'nope'"),
        ("scorecam", {"targets": [1, 2]}, ValueError, "targets: got 2 class ids for 3 images"),
    ],
)
def test_bad_input_fails_before_any_forward(model, method, options, error, match) -> None:
    counter = RowCounter(model.features[0])
    try:
        with pytest.raises(error, match=match):
            faithcam.explain(model, IMAGES, method, **options)
    finally:
        counter.handle.remove()
    assert counter.calls == 0


@pytest.mark.parametrize("method", METHODS)
def test_bad_layer_and_target(model, method) -> None:
    with pytest.raises(faithcam.LayerError, match="expected a 4-D"):
        faithcam.explain(model, IMAGES, method, layer="fc")
    with pytest.raises(faithcam.TargetError, match="out of range"):
        faithcam.explain(model, IMAGES, method, targets=99)
    assert _hook_count(model) == 0

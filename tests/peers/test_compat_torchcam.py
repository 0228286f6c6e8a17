"""faithcam.compat.torchcam agrees with torchcam 0.5 on code written for torchcam (its README's
call: hook, run the model, ``extractor(class_idx, scores)``), on a seeded ResNet-18: the maps
of every provided extractor to 1e-4, LayerCAM's fusion, ``overlay_mask`` and the metrics.
torchcam's outputs are golden (tests/golden/) in ``make test``, live in ``make test-peers``.
The deliberate differences (Grad-CAM++, Score-CAM's mask order) are pinned, Grad-CAM++'s
against an independent computation of what torchcam does."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch
from PIL import Image

import faithcam
from faithcam.compat.torchcam import methods as drop_in
from faithcam.compat.torchcam import metrics as drop_in_metrics
from faithcam.compat.torchcam.utils import overlay_mask
from faithcam.errors import FaithcamNotImplementedError, FaithcamValueError
from tests.helpers import GapLinearNet, seeded_images, seeded_torchvision

CLASSES = [3, 17]
CASES = {  # case: (extractor, target layer(s), extra constructor arguments)
    "GradCAM": ("GradCAM", "layer4", {}),
    "XGradCAM": ("XGradCAM", "layer4", {}),
    "LayerCAM": ("LayerCAM", ["layer3", "layer4"], {}),
    "CAM": ("CAM", "layer4", {"fc_layer": "fc"}),
    "ScoreCAM": ("ScoreCAM", "layer4", {"batch_size": 128}),  # 2 x 2 maps: see below
    "ScoreCAM-layer3": ("ScoreCAM", "layer3", {"batch_size": 128}),
    "ISCAM": ("ISCAM", "layer4", {"batch_size": 256, "num_samples": 2}),
    "GradCAMpp": ("GradCAMpp", "layer4", {}),
}
DIFFERENT = ("GradCAMpp", "ScoreCAM-layer3")


def extract(module, name: str, images: torch.Tensor, fused: bool = False):
    """torchcam's README call with extractor ``module.<name>``: maps (N, h, w), one per layer."""
    model = seeded_torchvision("resnet18")
    cls, layer, extra = CASES[name]
    with getattr(module, cls)(model, layer, **extra) as extractor:
        scores = model(images)
        maps = extractor(CLASSES, scores)
        out = extractor.fuse_cams(maps) if fused else maps
    model.zero_grad(set_to_none=True)
    return [m.detach() for m in out] if not fused else out.detach()


def torchcam(name: str, images: torch.Tensor, fused: bool = False):
    """torchcam's maps: {"0": layer 0's, "1": ...} (a dict: the layers' shapes differ)."""
    out = extract(pytest.importorskip("torchcam.methods"), name, images, fused)
    return out if fused else {str(i): m for i, m in enumerate(out)}


def layers_of(stored: dict) -> list[torch.Tensor]:
    return [stored[str(i)] for i in range(len(stored))]


@pytest.mark.parametrize("name", [n for n in CASES if n not in DIFFERENT])
def test_each_extractor_matches_torchcam(name: str, peer_output) -> None:
    images = seeded_images(2, 64)
    ours = extract(drop_in, name, images)
    theirs = layers_of(
        peer_output(name, lambda: torchcam(name, images), model="resnet18", images=images)
    )
    assert len(ours) == len(theirs)
    for mine, peer in zip(ours, theirs, strict=True):
        assert mine.shape == peer.shape
        np.testing.assert_allclose(mine.numpy(), peer.numpy(), atol=1e-4)
        assert float(mine.max()) > 0.99  # normalized to [0, 1]: not a trivially equal zero map


def test_layercam_fusion_matches_torchcam(peer_output) -> None:
    images = seeded_images(2, 64)
    ours = extract(drop_in, "LayerCAM", images, fused=True)
    theirs = peer_output(
        "LayerCAM-fused", lambda: torchcam("LayerCAM", images, fused=True),
        model="resnet18", images=images,
    )  # fmt: skip
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-4)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    maps = maps - maps.amin(dim=(1, 2), keepdim=True)
    return maps / (maps.amax(dim=(1, 2), keepdim=True) + 1e-8)


def test_gradcampp_is_the_papers_and_torchcams_is_pinned(peer_output) -> None:
    """The drop-in's Grad-CAM++ is faithcam's (the paper's α); torchcam 0.5's α is never
    applied (it divides a copy), so its weights are Σ_ij G² ReLU(G), computed here by hand."""
    images = seeded_images(2, 64)
    model = seeded_torchvision("resnet18")
    (ours,) = extract(drop_in, "GradCAMpp", images)
    own = faithcam.explain(model, images, "gradcam++", CLASSES, "layer4").raw_maps
    np.testing.assert_allclose(ours.numpy(), minmax(own.clamp(min=0)).numpy(), atol=1e-5)
    (theirs,) = layers_of(
        peer_output(
            "GradCAMpp", lambda: torchcam("GradCAMpp", images), model="resnet18", images=images
        )
    )
    layer4 = torch.nn.Sequential(*list(model.children())[:-2])(images)  # ResNet up to layer4
    scores = model.fc(model.avgpool(layer4).flatten(1))
    (gradients,) = torch.autograd.grad(scores[[0, 1], CLASSES].sum(), layer4)
    weights = (gradients.pow(2) * gradients.clamp(min=0)).sum(dim=(2, 3))
    quirk = torch.einsum("bk,bkhw->bhw", weights, layer4.detach()).clamp(min=0)
    np.testing.assert_allclose(theirs.numpy(), minmax(quirk).numpy(), atol=1e-4)
    assert float((ours - theirs).abs().max()) > 1e-2  # a real difference, stated in the docs


def test_scorecam_masks_are_scaled_after_upsampling(peer_output) -> None:
    """Score-CAM's masks are s(Up(A^k)) (the paper, pytorch-grad-cam, faithcam); torchcam
    min-max scales before upsampling, so the two agree where upsampling keeps each channel's
    extremes (a 2 x 2 grid: test above) and differ slightly on finer grids (4 x 4 here)."""
    images = seeded_images(2, 64)
    (ours,) = extract(drop_in, "ScoreCAM-layer3", images)
    model = seeded_torchvision("resnet18")
    own = faithcam.explain(model, images, "scorecam", CLASSES, "layer3").raw_maps
    np.testing.assert_allclose(ours.numpy(), minmax(own.clamp(min=0)).numpy(), atol=1e-5)
    run = lambda: torchcam("ScoreCAM-layer3", images)  # noqa: E731
    (theirs,) = layers_of(peer_output("ScoreCAM-layer3", run, model="resnet18", images=images))
    assert 1e-5 < float((ours - theirs).abs().max()) < 1e-2


def test_overlay_mask_matches_torchcam(peer_output) -> None:
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8))
    mask = Image.fromarray(rng.random((10, 12)).astype(np.float32), mode="F")

    def theirs_overlay() -> np.ndarray:
        utils = pytest.importorskip("torchcam.utils")
        return np.asarray(utils.overlay_mask(img, mask, alpha=0.5))

    theirs = peer_output(
        "overlay_mask", theirs_overlay, image=np.asarray(img), mask=np.asarray(mask), alpha=0.5
    )
    np.testing.assert_array_equal(np.asarray(overlay_mask(img, mask, alpha=0.5)), theirs)


def test_callable_targets_equal_class_idx_and_hooks_are_removed() -> None:
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    with drop_in.GradCAM(model, "layer4") as extractor:
        by_class = extractor(CLASSES, model(images))[0]
        targets = [lambda out, c=c: out[c] for c in CLASSES]  # one image's (K,) output each
        by_target = extractor(targets=targets, scores=model(images))[0]
    torch.testing.assert_close(by_target, by_class)
    assert not model._forward_hooks and not model.layer4._forward_hooks


def test_scorecam_on_two_layers_explains_the_input_the_model_saw() -> None:
    """Score-CAM's own masked forwards must not replace the stored input: with two layers the
    second layer's map equals that layer's map alone."""
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    images = seeded_images(2, 16)
    with drop_in.ScoreCAM(model, ["features.1", "features.3"]) as extractor:
        model(images)
        both = extractor([1, 3])
    with drop_in.ScoreCAM(model, "features.3") as extractor:
        model(images)
        (alone,) = extractor([1, 3])
    torch.testing.assert_close(both[1], alone)
    assert not model._forward_pre_hooks


def test_misuse_is_refused_in_one_line() -> None:
    model = seeded_torchvision("resnet18")
    with drop_in.GradCAM(model, "layer4") as extractor:
        with pytest.raises(FaithcamValueError, match=r"^scores: run the model"):
            extractor(1, torch.zeros(1, 1000))
        scores = model(seeded_images(1, 64))
        with pytest.raises(FaithcamValueError, match=r"^class_idx, targets: give exactly one"):
            extractor(1, scores, targets=lambda out: out[1])
        with pytest.raises(FaithcamValueError, match=r"^class_idx: got 2 class ids for 1 images"):
            extractor([1, 2], scores)
        with torch.no_grad():
            frozen = model(seeded_images(1, 64))
        with pytest.raises(FaithcamValueError, match=r"^scores: GradCAM differentiates"):
            extractor(1, frozen)
    with pytest.raises(FaithcamNotImplementedError, match=r"^SSCAM: not part of"):
        drop_in.SSCAM(model, "layer4")


def metric_summaries(methods, metrics, images: torch.Tensor) -> dict[str, float]:
    """torchcam's README metric usage (softmax scores; the top class, then targets)."""
    model = seeded_torchvision("resnet18")
    softmax = partial(torch.softmax, dim=-1)
    per_image = [lambda out: out[3], lambda out: out[17]]
    with methods.GradCAM(model, "layer3") as extractor:
        confidence = metrics.ClassificationMetric(extractor, softmax)
        curves = metrics.DeletionInsertionMetric(extractor, softmax, steps=5)
        for metric in (confidence, curves):
            metric.update(images)
            metric.update(images, targets=per_image)
        summary = {**confidence.summary(), **curves.summary()}
    model.zero_grad(set_to_none=True)
    return summary


def test_metrics_match_torchcam(peer_output) -> None:
    """Average Drop / Increase in Confidence to 1e-6; the AUCs (≈ 3e-3 here) to 2e-6: the
    extractors' maps differ by ~1e-7, which can swap near-tied pixels of the upsampled map."""
    images = seeded_images(2, 64)
    ours = metric_summaries(drop_in, drop_in_metrics, images)

    def theirs_run() -> dict[str, torch.Tensor]:
        peer = pytest.importorskip("torchcam.metrics")
        summary = metric_summaries(pytest.importorskip("torchcam.methods"), peer, images)
        return {key: torch.tensor(value) for key, value in summary.items()}

    theirs = peer_output("metrics", theirs_run, model="resnet18", images=images)
    assert ours.keys() == theirs.keys()
    for key in ("avg_drop", "conf_increase"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=1e-6)
    for key in ("deletion_auc", "insertion_auc"):
        assert ours[key] == pytest.approx(float(theirs[key]), abs=2e-6)


@pytest.mark.peers
def test_metrics_on_torchcams_own_extractor_match_torchcam() -> None:
    """The same extractor (torchcam's) in both metric classes: the same values to 1e-7."""
    methods = pytest.importorskip("torchcam.methods")
    peer = pytest.importorskip("torchcam.metrics")
    images = seeded_images(2, 64)
    ours = metric_summaries(methods, drop_in_metrics, images)
    theirs = metric_summaries(methods, peer, images)
    for key, value in theirs.items():
        assert ours[key] == pytest.approx(value, rel=1e-7, abs=1e-12)

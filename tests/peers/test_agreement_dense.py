"""Agreement with pytorch-grad-cam 1.5.7 beyond CNN classifiers: vision transformers (with the
peer's reshape transforms), Swin's channels-last maps, a DeiT-style distillation token, and
semantic segmentation with its SemanticSegmentationTarget. Maps are compared at the layer's
resolution after ReLU and min-max, to 1e-4. The peer's maps are its golden outputs (tests/golden/)
in `make test`, the live peer in `make test-peers`; the peer's reshape transforms and target
objects, which faithcam is also given here, come from the installed peer in both."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

import faithcam
from tests.peer_helpers import classifier_targets, pytorch_grad_cam
from tests.transformer_models import deit_like, small_swin, small_vit, token_transform

PEER_CLASSES = {
    "gradcam": "GradCAM",
    "hirescam": "HiResCAM",
    "xgradcam": "XGradCAM",
    "layercam": "LayerCAM",
}


def minmax(maps: np.ndarray) -> np.ndarray:
    maps = np.maximum(maps, 0)
    flat = maps.reshape(len(maps), -1)
    low = flat.min(1)[:, None, None]
    span = (flat.max(1) - low[:, 0, 0])[:, None, None]
    return (maps - low) / np.where(span > 0, span, 1)


def peer_map(peer_name, model, module, images, targets, reshape, grid) -> np.ndarray:
    """pytorch-grad-cam's map at the layer's (h, w) grid (its resize made the identity)."""
    peer_cls = getattr(pytorch_grad_cam(), peer_name)
    targets = classifier_targets(targets)  # class ids -> the peer's targets
    with peer_cls(model=model, target_layers=[module], reshape_transform=reshape) as cam:
        cam.get_target_width_height = lambda _x: (grid[1], grid[0])
        return cam(input_tensor=images, targets=targets)


def images(n: int, size: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


def peer_transform(name: str):
    """A reshape transform of pytorch-grad-cam's (imported when called)."""
    pytorch_grad_cam()
    from pytorch_grad_cam.utils import reshape_transforms

    return getattr(reshape_transforms, name)


# torchvision's Swin blocks give (B, h, w, C); the peer's transform takes (B, N, C) tokens.
CASES = {
    # name: (model factory, image size, peer layer, peer reshape transform, grid)
    "vit": (small_vit, 64, "encoder.layers.encoder_layer_1.ln_1",
            lambda t: peer_transform("vit_reshape_transform")(t, 4, 4), (4, 4)),
    "swin": (small_swin, 128, "features.7.1.norm1",
             lambda t: peer_transform("swinT_reshape_transform")(t.flatten(1, 2), 4, 4), (4, 4)),
    "deit": (deit_like, 64, "blocks.1.ln_1", token_transform(2, 4, 4), (4, 4)),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_transformers_match_pytorch_grad_cam(case: str, peer_output) -> None:
    factory, size, layer, reshape, grid = CASES[case]
    model = factory()
    x = images(2, size)
    classes = [3, 7]
    for method, peer_name in PEER_CLASSES.items():
        ours = faithcam.explain(model, x, method, targets=classes)  # automatic layer + layout
        assert ours.layer == layer
        assert tuple(ours.raw_maps.shape) == (2, *grid) and ours.raw_maps.abs().min() > 0
        module = dict(model.named_modules())[layer]
        theirs = peer_output(
            method,
            partial(peer_map, peer_name, model, module, x, classes, reshape, grid),
            model=f"tests.transformer_models.{factory.__name__}", layer=layer, images=x,
        )  # fmt: skip
        np.testing.assert_allclose(minmax(ours.raw_maps.numpy()), theirs, atol=1e-4)
        # the peer's transform passed as reshape_transform= gives the same maps
        given = faithcam.explain(model, x, method, classes, layer, reshape_transform=reshape)
        torch.testing.assert_close(given.raw_maps, ours.raw_maps)


def test_fcn_resnet50_matches_semantic_segmentation_target(peer_output) -> None:
    import torchvision

    pytorch_grad_cam()
    from pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget

    torch.manual_seed(0)
    model = torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=4
    ).eval()
    x = images(2, 64)
    with torch.no_grad():
        out = model(x)["out"]
    category = 2
    masks = (out.argmax(1) == category).float().numpy()
    masks[:, 16:48, 16:48] = 1.0  # never empty
    peer_targets = [SemanticSegmentationTarget(category, m) for m in masks]
    ours = faithcam.explain(model, x, "gradcam", targets=peer_targets)  # unchanged peer objects
    assert ours.layer == "backbone.layer4"
    native = faithcam.explain(
        model, x, "gradcam", targets=faithcam.SegmentationTarget(category, masks)
    )
    torch.testing.assert_close(native.raw_maps, ours.raw_maps)
    expected = (out[:, category] * torch.from_numpy(masks)).sum((1, 2))
    torch.testing.assert_close(ours.scores, expected)

    class OutOnly(torch.nn.Module):  # the peer needs a tensor output (its tutorial's wrapper)
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, inputs):
            return self.model(inputs)["out"]

    grid = tuple(ours.raw_maps.shape[-2:])
    wrapped = OutOnly()
    theirs = peer_output(
        "gradcam",
        partial(peer_map, "GradCAM", wrapped, model.backbone.layer4, x, peer_targets, None, grid),
        model="fcn_resnet50(num_classes=4), torch.manual_seed(0)",
        layer="backbone.layer4",
        masks=masks,
        images=x,
    )
    np.testing.assert_allclose(minmax(ours.raw_maps.numpy()), theirs, atol=1e-4)

"""Agreement with the peer libraries on the same seeded models, inputs and layers.

Maps are compared at the layer's resolution after both are brought to the same scale (ReLU,
then min-max per image), which removes the peers' different upsampling conventions.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import faithcam
from tests.conftest import seeded_images, seeded_torchvision

pgc = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget  # noqa: E402

MODELS = ["resnet18", "resnet50", "vgg11_bn", "densenet121", "mobilenet_v3_small"]
# DenseNet's automatic layer `features` is followed by an in-place F.relu, which overwrites the
# activations pytorch-grad-cam keeps (it stores a view of the output): see
# test_densenet_inplace_relu_after_layer below. Compare on the block before it instead.
PEER_LAYERS = {"densenet121": "features.denseblock4"}
PEER_CLASSES = {
    "gradcam": pgc.GradCAM,
    "gradcam++": pgc.GradCAMPlusPlus,
    "xgradcam": pgc.XGradCAM,
    "hirescam": pgc.HiResCAM,
    "layercam": pgc.LayerCAM,
}


def minmax(maps: np.ndarray) -> np.ndarray:
    maps = np.maximum(maps, 0)
    flat = maps.reshape(len(maps), -1)
    low = flat.min(1)[:, None, None]
    span = (flat.max(1) - flat.min(1))[:, None, None]
    return (maps - low) / np.where(span > 0, span, 1)


def peer_lowres(peer_cls, model, module, images, targets) -> np.ndarray:
    """pytorch-grad-cam's map at the layer's resolution (its resize made the identity)."""
    with peer_cls(model=model, target_layers=[module]) as cam:
        with torch.no_grad():
            h, w = _layer_size(model, module, images)
        cam.get_target_width_height = lambda _x: (w, h)
        return cam(input_tensor=images, targets=targets)


def _layer_size(model, module, images) -> tuple[int, int]:
    sizes = []
    handle = module.register_forward_hook(lambda _m, _i, out: sizes.append(out.shape[-2:]))
    try:
        model(images[:1])
    finally:
        handle.remove()
    return tuple(sizes[0])


@pytest.mark.parametrize("model_name", MODELS)
def test_vanilla_family_matches_pytorch_grad_cam(model_name: str) -> None:
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 128)
    classes = [3, 17]
    for method, peer_cls in PEER_CLASSES.items():
        # pytorch-grad-cam adds eps = 1e-6 to Grad-CAM++'s α denominator, which the paper does
        # not have; a x10^4 score makes that eps negligible (pinned in the next test).
        scale = 1e4 if method == "gradcam++" else 1.0
        result = faithcam.explain(
            model,
            images,
            method,
            targets=_scaled_classes(classes, scale),
            layer=PEER_LAYERS.get(model_name),
        )
        module = dict(model.named_modules())[result.layer]
        peer_targets = [_ScaledTarget(c, scale) for c in classes]
        theirs = peer_lowres(peer_cls, model, module, images, peer_targets)
        np.testing.assert_allclose(
            minmax(result.raw_maps.numpy()),
            minmax(theirs),
            atol=1e-4,
            err_msg=f"{model_name} {method}",
        )


class _ScaledTarget:
    """Peer target: scale × logit of a class (ClassifierOutputTarget when scale == 1)."""

    def __init__(self, class_id: int, scale: float) -> None:
        self.inner = ClassifierOutputTarget(class_id)
        self.scale = scale

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return self.scale * self.inner(output)


def _scaled_classes(classes: list[int], scale: float):
    if scale == 1.0:
        return classes
    fns = [lambda out, c=c: scale * out[c] for c in classes]  # one image's output each
    return faithcam.CallableTarget(fns)


def test_densenet_inplace_relu_after_layer() -> None:
    """On DenseNet's `features` (norm5, then an in-place ReLU in forward) faithcam uses the true
    layer output, checked against a plain full-autograd reference; pytorch-grad-cam's stored
    activations are the post-ReLU ones, so its map differs there."""
    model = seeded_torchvision("densenet121")
    images = seeded_images(2, 128)
    result = faithcam.explain(model, images, "gradcam", targets=[3, 17])
    assert result.layer == "features"
    # Reference: torchvision's DenseNet forward written out by hand, with a plain autograd leaf.
    with torch.no_grad():
        activations = model.features(images)
    leaf = activations.clone().requires_grad_(True)
    pooled = torch.nn.functional.adaptive_avg_pool2d(torch.relu(leaf), 1).flatten(1)
    scores = model.classifier(pooled)[[0, 1], [3, 17]]
    (gradients,) = torch.autograd.grad(scores.sum(), leaf)
    reference = faithcam.cams.weightings.gradcam(activations, gradients)
    torch.testing.assert_close(result.raw_maps, reference, rtol=1e-4, atol=1e-6)
    module = model.features
    assert (activations < 0).any(), "norm5's output has negative values before the ReLU"
    theirs = peer_lowres(
        pgc.GradCAM, model, module, images, [ClassifierOutputTarget(c) for c in (3, 17)]
    )
    assert np.abs(minmax(result.raw_maps.numpy()) - theirs).max() > 1e-2


def test_gradcam_plus_plus_peer_epsilon_is_pinned() -> None:
    """Without score scaling the peer's ε = 1e-6 in α's denominator changes Grad-CAM++ where
    gradients are small (|G| ~ 1e-3 on random nets); faithcam follows the paper (no ε)."""
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 128)
    result = faithcam.explain(model, images, "gradcam++", targets=[3, 17])
    module = dict(model.named_modules())[result.layer]
    theirs = peer_lowres(
        pgc.GradCAMPlusPlus, model, module, images, [ClassifierOutputTarget(c) for c in (3, 17)]
    )
    assert np.abs(minmax(result.raw_maps.numpy()) - minmax(theirs)).max() > 1e-3


@pytest.mark.parametrize("model_name", ["resnet18", "vgg11_bn"])
def test_gradcam_matches_captum_layer_gradcam(model_name: str) -> None:
    captum_attr = pytest.importorskip("captum.attr")
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 128)
    result = faithcam.explain(model, images, "gradcam", targets=[3, 17])
    module = dict(model.named_modules())[result.layer]
    theirs = captum_attr.LayerGradCam(model, module).attribute(
        images, target=[3, 17], relu_attributions=True
    )
    np.testing.assert_allclose(
        minmax(result.raw_maps.numpy()), minmax(theirs[:, 0].detach().numpy()), atol=1e-4
    )


@pytest.mark.parametrize("model_name", ["resnet18", "mobilenet_v3_small"])
def test_gradcam_matches_torchcam(model_name: str) -> None:
    torchcam_methods = pytest.importorskip("torchcam.methods")
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 128)
    result = faithcam.explain(model, images, "gradcam", targets=[3, 17])
    with torchcam_methods.GradCAM(model, target_layer=result.layer) as extractor:
        scores = model(images)
        theirs = extractor([3, 17], scores)[0]
    model.zero_grad(set_to_none=True)  # torchcam back-propagates into the parameters
    np.testing.assert_allclose(
        minmax(result.raw_maps.numpy()), minmax(theirs.detach().numpy()), atol=1e-4
    )

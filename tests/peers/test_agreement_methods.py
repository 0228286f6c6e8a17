"""Agreement with pytorch-grad-cam 1.5.7 for the methods and options added to match its breadth.

Maps are compared at the layer's resolution (the peer's resize made the identity) after ReLU
and min-max scaling, on seeded random-init resnet18, resnet50 and vgg11_bn, 96x96, batch 2. The
peer's maps are its golden outputs (tests/golden/) in `make test`, the live peer in
`make test-peers`.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

import faithcam
from tests.helpers import seeded_images, seeded_torchvision
from tests.peer_helpers import classifier_targets, minmax, pytorch_grad_cam
from tests.peer_helpers import layer_size as _layer_size

MODELS = ["resnet18", "resnet50", "vgg11_bn"]
CLASSES = [3, 17]
SIZE = 96
# faithcam method -> (peer class name in pytorch_grad_cam, peer call keywords)
PEERS = {
    "gradcam-elementwise": ("GradCAMElementWise", {}),
    "eigencam": ("EigenCAM", {}),
    "eigengradcam": ("EigenGradCAM", {}),
    "kpcacam": ("KPCA_CAM", {}),
    "shapleycam": ("ShapleyCAM", {}),
}
EIGEN_SMOOTHED = {
    "gradcam": "GradCAM",
    "gradcam++": "GradCAMPlusPlus",
    "xgradcam": "XGradCAM",
    "hirescam": "HiResCAM",
    "layercam": "LayerCAM",
    "gradcam-elementwise": "GradCAMElementWise",
}


def run_peer(cam, model, module, images, size=None, **kwargs) -> np.ndarray:
    """Call a pytorch-grad-cam object with its resize to ``size`` (default: the layer's)."""
    base = getattr(cam, "base_cam", cam)
    if size is None:
        with torch.no_grad():
            h, w = _layer_size(model, module, images)
        size = (w, h)
    base.get_target_width_height = lambda _x: size
    try:
        return cam(input_tensor=images, **kwargs)
    finally:
        model.zero_grad(set_to_none=True)  # the peer back-propagates into the parameters


def peer_map(peer_name, model, modules, images, size=None, keywords=None, **kwargs):
    """Build the pytorch-grad-cam class ``peer_name`` on ``modules`` (its ``keywords``) and
    :func:`run_peer` it (the layer's size from the first module unless ``size``); ``targets``
    given as class ids become the peer's ClassifierOutputTargets."""
    peer_cls = getattr(pytorch_grad_cam(), peer_name)
    kwargs["targets"] = classifier_targets(kwargs.get("targets"))  # class ids -> peer targets
    with peer_cls(model=model, target_layers=modules, **(keywords or {})) as cam:
        return run_peer(cam, model, modules[0] if modules else None, images, size, **kwargs)


def assert_agree(ours: torch.Tensor, theirs: np.ndarray, message: str, atol: float = 1e-4):
    np.testing.assert_allclose(minmax(ours.numpy()), minmax(theirs), atol=atol, err_msg=message)


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return seeded_images(2, SIZE)


@pytest.mark.parametrize("model_name", MODELS)
def test_new_methods_match_pytorch_grad_cam(model_name: str, images, peer_output) -> None:
    model = seeded_torchvision(model_name)
    for method, (peer_name, keywords) in PEERS.items():
        result = faithcam.explain(model, images, method, targets=CLASSES)
        module = dict(model.named_modules())[result.layer]
        theirs = peer_output(
            method,
            partial(peer_map, peer_name, model, [module], images, None, keywords,
                    targets=CLASSES),
            model=model_name, layer=result.layer, images=images,
        )  # fmt: skip
        assert_agree(result.raw_maps, theirs, f"{model_name} {method}")


@pytest.mark.parametrize("model_name", MODELS)
def test_eigen_smooth_matches_pytorch_grad_cam(model_name: str, images, peer_output) -> None:
    model = seeded_torchvision(model_name)
    # every weighting on resnet18; two on the larger models (the peer's full SVD is slow)
    methods = EIGEN_SMOOTHED if model_name == "resnet18" else ["gradcam", "hirescam"]
    for method in methods:
        scale = 1e4 if method == "gradcam++" else 1.0  # the peer's ε in α (test_agreement_peers)
        # one callable per image, each given that image's output
        targets = faithcam.CallableTarget([lambda o, c=c, s=scale: s * o[c] for c in CLASSES])
        result = faithcam.explain(model, images, method, targets=targets, eigen_smooth=True)
        module = dict(model.named_modules())[result.layer]
        scaled = [lambda o, c=c, s=scale: s * o[..., c] for c in CLASSES]
        theirs = peer_output(
            method,
            partial(peer_map, EIGEN_SMOOTHED[method], model, [module], images,
                    targets=scaled, eigen_smooth=True),
            model=model_name, layer=result.layer, images=images, score_scale=scale,
        )  # fmt: skip
        assert_agree(result.raw_maps, theirs, f"{model_name} {method} eigen_smooth")


def test_shapleycam_with_a_curved_target_matches_the_peer(images, peer_output) -> None:
    """With a softmax-probability target the Hessian term H·A is not zero, and ShapleyCAM
    differs from Grad-CAM; the peer agrees."""
    model = seeded_torchvision("resnet18")
    probability = faithcam.ClassProbability(CLASSES)
    result = faithcam.explain(model, images, "shapleycam", targets=probability)
    gradcam = faithcam.explain(model, images, "gradcam", targets=probability)
    assert (
        minmax(result.raw_maps.numpy()) - minmax(gradcam.raw_maps.numpy())
    ).__abs__().max() > 1e-3
    module = model.layer4
    fns = [lambda o, c=c: torch.softmax(o, -1)[..., c] for c in CLASSES]
    theirs = peer_output(
        "shapleycam",
        partial(peer_map, "ShapleyCAM", model, [module], images, targets=fns),
        model="resnet18", layer="layer4", target="softmax", images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, "shapleycam softmax")


@pytest.mark.parametrize("model_name", MODELS)
def test_finercam_matches_pytorch_grad_cam(model_name: str, images, peer_output) -> None:
    model = seeded_torchvision(model_name)
    result = faithcam.explain(model, images, "finercam")
    module = dict(model.named_modules())[result.layer]
    theirs = peer_output(
        "finercam",
        partial(peer_map, "FinerCAM", model, [module], images, targets=None),
        model=model_name, layer=result.layer, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, f"{model_name} finercam")


def test_randomcam_matches_the_peer_given_the_same_weights(
    images, monkeypatch, peer_output
) -> None:
    """The peer draws from NumPy's global RNG; handed faithcam's seeded draws it agrees."""
    model = seeded_torchvision("resnet18")
    result = faithcam.explain(model, images, "randomcam", targets=CLASSES, seed=5)
    weights = faithcam.cams.activation_cams.random_weights(
        (2, 512), torch.Generator().manual_seed(5), torch.zeros(1)
    )
    again = faithcam.explain(model, images, "randomcam", targets=CLASSES, seed=5)
    torch.testing.assert_close(again.raw_maps, result.raw_maps, rtol=0, atol=0)
    monkeypatch.setattr(np.random, "uniform", lambda *a, **k: weights.double().numpy())
    theirs = peer_output(
        "randomcam",
        partial(peer_map, "RandomCAM", model, [model.layer4], images, targets=CLASSES),
        model="resnet18", layer="layer4", weights=weights, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, "randomcam")
    other = faithcam.explain(model, images, "randomcam", targets=CLASSES, seed=6)
    assert not torch.equal(other.raw_maps, result.raw_maps)


@pytest.mark.parametrize("model_name", MODELS)
def test_aug_smooth_matches_pytorch_grad_cam(model_name: str, peer_output) -> None:
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 64)  # 6 augmented passes per side: the smallest input
    result = faithcam.explain(model, images, "gradcam", targets=CLASSES, aug_smooth=True)
    module = dict(model.named_modules())[result.layer]
    theirs = peer_output(
        "gradcam",
        partial(peer_map, "GradCAM", model, [module], images, targets=CLASSES,
                aug_smooth=True),
        model=model_name, layer=result.layer, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, f"{model_name} aug_smooth")


@pytest.mark.parametrize(
    ("model_name", "layers"),
    [
        ("resnet18", ["layer2", "layer3", "layer4"]),
        ("resnet50", ["layer3", "layer4"]),
        ("vgg11_bn", ["features.21", "features.28"]),
    ],
)
def test_several_layers_fuse_as_pytorch_grad_cam(
    model_name: str, layers, images, peer_output
) -> None:
    model = seeded_torchvision(model_name)
    result = faithcam.explain(model, images, "gradcam", targets=CLASSES, layer=layers)
    assert result.layer == ",".join(layers)
    modules = [dict(model.named_modules())[name] for name in layers]
    theirs = peer_output(
        "gradcam",
        partial(peer_map, "GradCAM", model, modules, images, (SIZE, SIZE),
                targets=CLASSES),
        model=model_name, layers=layers, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, f"{model_name} {layers}")


def test_layercam_fusion_matches_torchcam(images, peer_output) -> None:
    model = seeded_torchvision("resnet18")
    layers = ["layer2", "layer3", "layer4"]
    result = faithcam.explain(
        model, images, "layercam", targets=CLASSES, layer=layers, fusion="layercam"
    )

    def torchcam_fused() -> torch.Tensor:
        torchcam_methods = pytest.importorskip("torchcam.methods")
        with torchcam_methods.LayerCAM(model, target_layer=layers) as extractor:
            scores = model(images)
            cams = extractor(CLASSES, scores)
            fused = extractor.fuse_cams(cams)
        model.zero_grad(set_to_none=True)
        return fused

    theirs = peer_output(
        "LayerCAM-fused", torchcam_fused, model="resnet18", layers=layers, images=images
    )
    assert result.raw_maps.shape == theirs.shape
    assert_agree(result.raw_maps, theirs.detach().numpy(), "layercam fusion")


def test_eigencam_on_a_detector_backbone_matches_the_peer(peer_output) -> None:
    """Eigen-CAM needs no target: it explains a Faster R-CNN's backbone features directly."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    detector = torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, min_size=96, max_size=96
    ).eval()
    images = seeded_images(2, 96)
    layer = "backbone.body.layer4"
    # the detector returns boxes, not logits: any callable target serves (Eigen-CAM ignores it)
    result = faithcam.explain(
        detector,
        images,
        "eigencam",
        layer=layer,
        output_selector=lambda out: torch.stack([o["scores"].sum() for o in out])[:, None],
        targets=0,
    )
    module = dict(detector.named_modules())[layer]
    theirs = peer_output(
        "eigencam",
        partial(peer_map, "EigenCAM", detector, [module], images,
                targets=[lambda _out: 0.0] * 2),
        model="fasterrcnn_resnet50_fpn(min_size=96, max_size=96), torch.manual_seed(0)",
        layer=layer, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, "fasterrcnn eigencam")


@pytest.mark.parametrize("model_name", MODELS)
def test_fullgrad_matches_pytorch_grad_cam(model_name: str, peer_output) -> None:
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 64)
    result = faithcam.explain(model, images, "fullgrad", targets=CLASSES)
    assert result.raw_maps.shape == (2, 64, 64)
    theirs = peer_output(
        "fullgrad",
        partial(peer_map, "FullGrad", model, [], images, (64, 64), targets=CLASSES),
        model=model_name, images=images,
    )  # fmt: skip
    assert_agree(result.raw_maps, theirs, f"{model_name} fullgrad")
    smoothed = faithcam.explain(model, images, "fullgrad", targets=CLASSES, eigen_smooth=True)
    theirs = peer_output(
        "fullgrad-eigen_smooth",
        partial(peer_map, "FullGrad", model, [], images, (64, 64), targets=CLASSES,
                eigen_smooth=True),
        model=model_name, images=images,
    )  # fmt: skip
    assert_agree(smoothed.raw_maps, theirs, f"{model_name} fullgrad eigen_smooth")

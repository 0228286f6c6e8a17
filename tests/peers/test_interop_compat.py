"""The pytorch-grad-cam drop-in gives the peer's arrays on the peer's own README examples.

Each example is the peer's README code with only its import prefix changed; it runs once
through ``pytorch_grad_cam`` and once through ``faithcam.compat.pytorch_grad_cam`` on the same
seeded model and images, and the arrays must agree to 1e-4. The peer's arrays are its golden
outputs (tests/golden/) in `make test`, the live peer in `make test-peers`.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from faithcam.compat import pytorch_grad_cam as dropin
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image, show_cam_on_image
from faithcam.compat.pytorch_grad_cam.utils.model_targets import (
    ClassifierOutputSoftmaxTarget,
    ClassifierOutputTarget,
)
from faithcam.errors import FaithcamNotImplementedError, FaithcamTypeError, FaithcamValueError
from tests.helpers import build_seeded_torchvision, seeded_images, seeded_torchvision
from tests.peer_helpers import pytorch_grad_cam

# The peer's README "Usage examples" block (pytorch-grad-cam 1.5.7), with `{pkg}` for its
# import prefix and the set-up lines (pretrained weights, the photo) provided by the test.
README_USAGE = """
from {pkg} import GradCAM, HiResCAM, ScoreCAM, GradCAMPlusPlus, AblationCAM, XGradCAM
from {pkg}.utils.model_targets import ClassifierOutputTarget
from {pkg}.utils.image import show_cam_on_image

target_layers = [model.layer4[-1]]
targets = [ClassifierOutputTarget(281)]

with GradCAM(model=model, target_layers=target_layers) as cam:
  grayscale_cam = cam(input_tensor=input_tensor, targets=targets)
  grayscale_cam = grayscale_cam[0, :]
  visualization = show_cam_on_image(rgb_img, grayscale_cam, use_rgb=True)
  model_outputs = cam.outputs
"""

# The README's list of layers: "If you pass a list with several layers, the CAM will be
# averaged across them", with the constructor used directly (no context manager).
README_LAYERS = """
from {pkg} import {method}
from {pkg}.utils.model_targets import ClassifierOutputTarget

cam = {method}(model=model, target_layers=[model.layer3[-1], model.layer4[-1]])
grayscale_cam = cam(input_tensor=input_tensor, targets=[ClassifierOutputTarget(c) for c in (3, 17)])
"""

PKGS = {"peer": "pytorch_grad_cam", "faithcam": "faithcam.compat.pytorch_grad_cam"}
METHODS = [
    "GradCAM",
    "HiResCAM",
    "XGradCAM",
    "GradCAMPlusPlus",
    "LayerCAM",
    "ScoreCAM",
    "AblationCAM",
]


def exec_example(code: str, side: str, namespace: dict) -> dict:
    """The variables after running ``code`` with the import prefix of ``side``."""
    scope = dict(namespace)
    exec(code.format(pkg=PKGS[side], method=namespace.get("method", "")), scope)
    return scope


def run_example(
    code: str, peer_output=None, model_name: str = "", keep=("grayscale_cam",), **namespace
) -> dict[str, dict]:
    """The example's variables on both sides: the peer's (only ``keep``; through
    ``peer_output`` when given, else live), then faithcam's drop-in's."""

    def peer_side() -> dict:
        pytorch_grad_cam()
        scope = exec_example(code, "peer", namespace)
        return {name: scope[name] for name in keep}

    if peer_output is None:
        peer = peer_side()
    else:
        inputs = {k: v for k, v in namespace.items() if not isinstance(v, torch.nn.Module)}
        peer = peer_output("example", peer_side, model=model_name, **inputs)
    return {"peer": peer, "faithcam": exec_example(code, "faithcam", namespace)}


def rgb_of(images: torch.Tensor) -> np.ndarray:
    image = images[0].permute(1, 2, 0).numpy()
    return ((image - image.min()) / (image.max() - image.min())).astype(np.float32)


def test_readme_usage_on_resnet50(peer_output) -> None:
    model = seeded_torchvision("resnet50")
    images = seeded_images(1, 96)
    out = run_example(
        README_USAGE, peer_output, "resnet50", ("grayscale_cam", "visualization", "model_outputs"),
        model=model, input_tensor=images, rgb_img=rgb_of(images),
    )  # fmt: skip
    peer, ours = out["peer"], out["faithcam"]
    assert ours["grayscale_cam"].dtype == np.float32
    np.testing.assert_allclose(ours["grayscale_cam"], peer["grayscale_cam"], atol=1e-4)
    # a 1e-7 difference of the mask can cross one of the 256 jet levels (steps of up to 4)
    assert np.abs(ours["visualization"].astype(int) - peer["visualization"]).max() <= 4
    torch.testing.assert_close(ours["model_outputs"], peer["model_outputs"].detach())


class TinyResNetLike(torch.nn.Module):
    """Few channels with ResNet's attribute names, so the gradient-free CAMs (one forward per
    channel) stay fast: stem -> layer3 -> layer4 (lists of blocks) -> GAP -> fc."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())
        self.layer3 = nn.Sequential(nn.Conv2d(8, 12, 3, stride=2, padding=1), nn.ReLU())
        self.layer4 = nn.Sequential(nn.Conv2d(12, 16, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(16, 20)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.layer4(self.layer3(self.stem(x))).mean(dim=(2, 3)))


@pytest.mark.parametrize("method", METHODS)
def test_readme_several_layers_every_method(method: str, peer_output) -> None:
    torch.manual_seed(0)
    gradient_free = method in ("ScoreCAM", "AblationCAM")
    model = TinyResNetLike().eval() if gradient_free else seeded_torchvision("resnet18")
    name = "TinyResNetLike, torch.manual_seed(0)" if gradient_free else "resnet18"
    images = seeded_images(2, 64)
    out = run_example(
        README_LAYERS, peer_output, name, model=model, input_tensor=images, method=method
    )
    peer, ours = out["peer"]["grayscale_cam"], out["faithcam"]["grayscale_cam"]
    assert ours.shape == peer.shape == (2, 64, 64)
    np.testing.assert_allclose(ours, peer, atol=1e-4)


def test_predicted_class_and_softmax_target(peer_output) -> None:
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    for targets in (None, [ClassifierOutputSoftmaxTarget(5), ClassifierOutputSoftmaxTarget(9)]):
        categories = None if targets is None else [t.category for t in targets]
        theirs = peer_output(
            f"HiResCAM-{categories}",
            partial(peer_hirescam, model, images, categories),
            model="resnet18", layer="layer4", softmax_categories=categories, images=images,
        )  # fmt: skip
        ours = dropin.HiResCAM(model=model, target_layers=[model.layer4])(images, targets)
        np.testing.assert_allclose(ours, theirs, atol=1e-4)


def peer_hirescam(model, images, categories) -> np.ndarray:
    """The peer's HiResCAM at layer4, for the predicted class (``categories`` None) or the
    softmax of ``categories``."""
    pgc = pytorch_grad_cam()
    peer_targets = (
        None
        if categories is None
        else [pgc.utils.model_targets.ClassifierOutputSoftmaxTarget(c) for c in categories]
    )
    return pgc.HiResCAM(model=model, target_layers=[model.layer4])(images, peer_targets)


def peer_image_function(name: str):
    """A function of pytorch_grad_cam.utils.image (imported when called)."""
    pytorch_grad_cam()
    from pytorch_grad_cam.utils import image

    return getattr(image, name)


def test_scale_cam_image_matches_peer(peer_output) -> None:
    maps = np.random.default_rng(0).normal(size=(3, 5, 7)).astype(np.float32)
    resized, unsized = peer_output(
        "scale_cam_image",
        lambda: {
            "resized": peer_image_function("scale_cam_image")(maps, (20, 11)),
            "unsized": peer_image_function("scale_cam_image")(maps),
        },
        maps=maps,
    ).values()
    np.testing.assert_allclose(scale_cam_image(maps, (20, 11)), resized, atol=1e-5)
    np.testing.assert_allclose(scale_cam_image(maps), unsized, atol=1e-6)


@pytest.mark.parametrize("use_rgb", [False, True])
def test_show_cam_on_image_matches_peer(use_rgb: bool, peer_output) -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(12, 10, 3)).astype(np.float32)
    mask = rng.uniform(size=(12, 10)).astype(np.float32)
    ours = show_cam_on_image(image, mask, use_rgb=use_rgb, image_weight=0.3)
    theirs = peer_output(
        "show_cam_on_image",
        lambda: peer_image_function("show_cam_on_image")(
            image, mask, use_rgb=use_rgb, image_weight=0.3
        ),
        image=image,
        mask=mask,
    )
    assert ours.dtype == np.uint8
    np.testing.assert_array_equal(ours, theirs)


def test_model_state_and_hooks_are_left_alone() -> None:
    model = build_seeded_torchvision("resnet18")  # not the cached one the peer hooked
    model.train()
    model.layer1.eval()
    flags = [p.requires_grad for p in model.parameters()]
    images = seeded_images(2, 64)
    with dropin.GradCAM(model=model, target_layers=[model.layer4[-1]]) as cam:
        cam(input_tensor=images, targets=[ClassifierOutputTarget(1), ClassifierOutputTarget(2)])
    assert model.training and not model.layer1.training and model.layer2.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert all(p.grad is None for p in model.parameters())
    assert not any(m._forward_hooks or m._backward_hooks for m in model.modules())


def test_bad_input_names_the_argument() -> None:
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    cam = dropin.GradCAM(model=model, target_layers=[model.layer4])
    for flag in ("aug_smooth", "eigen_smooth"):
        with pytest.raises(FaithcamNotImplementedError, match=flag):
            cam(input_tensor=images, **{flag: True})
    with pytest.raises(FaithcamValueError, match="targets: got 1 targets for 2 images"):
        cam(input_tensor=images, targets=[ClassifierOutputTarget(1)])
    with pytest.raises(FaithcamTypeError, match="target_layers"):
        dropin.GradCAM(model=model, target_layers=model.layer4)
    with pytest.raises(FaithcamNotImplementedError, match="reshape_transform"):
        dropin.ScoreCAM(model=model, target_layers=[model.layer4], reshape_transform=lambda t: t)
    with pytest.raises(FaithcamValueError, match="reshape_transform: must return a 4-D"):
        dropin.GradCAM(model=model, target_layers=[model.layer4], reshape_transform=torch.flatten)(
            images
        )
    with pytest.raises(FaithcamValueError, match="image_weight"):
        show_cam_on_image(np.zeros((4, 4, 3)), np.zeros((4, 4)), image_weight=2)


# The peer's ViT example (its README's "reshape_transform" section and ViT tutorial): drop the
# class token and fold the patch tokens back into a (B, C, h, w) grid.
README_VIT = """
from {pkg} import {method}
from {pkg}.utils.model_targets import ClassifierOutputTarget

def reshape_transform(tensor, height=4, width=4):
    result = tensor[:, 1:, :].reshape(tensor.size(0), height, width, tensor.size(2))
    result = result.transpose(2, 3).transpose(1, 2)
    return result

target_layers = [model.encoder.layers[-1].ln_1]
targets = [ClassifierOutputTarget(c) for c in (1, 7)]
with {method}(model=model, target_layers=target_layers, reshape_transform=reshape_transform) as cam:
    grayscale_cam = cam(input_tensor=input_tensor, targets=targets)
"""


@pytest.mark.parametrize("method", ["GradCAM", "HiResCAM", "LayerCAM"])
def test_readme_vit_with_reshape_transform(method: str, peer_output) -> None:
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=16, mlp_dim=32,
        num_classes=10,
    ).eval()  # fmt: skip
    torch.nn.init.normal_(model.heads.head.weight)  # torchvision zero-initialises the head
    images = seeded_images(2, 32)
    name = "VisionTransformer(32, 8, 2 layers, 2 heads, 16, 32, 10 classes), manual_seed(0)"
    out = run_example(
        README_VIT, peer_output, name, model=model, input_tensor=images, method=method
    )
    peer, ours = out["peer"]["grayscale_cam"], out["faithcam"]["grayscale_cam"]
    assert ours.shape == peer.shape == (2, 32, 32) and peer.max() > 0.99
    np.testing.assert_allclose(ours, peer, atol=1e-4)


@pytest.mark.cuda
@pytest.mark.parametrize("method", ["GradCAM", "HiResCAM", "GradCAMPlusPlus", "ScoreCAM"])
def test_readme_usage_on_cuda(method: str) -> None:
    if not torch.cuda.is_available():
        pytest.fail("this test is selected by `make test-cuda`, which needs a CUDA device")
    model = build_seeded_torchvision("resnet50").cuda()
    images = seeded_images(2, 96).cuda()
    code = README_LAYERS.replace("model.layer3[-1], ", "")  # one layer: Score-CAM is 2048 passes
    out = run_example(code, model=model, input_tensor=images, method=method)
    np.testing.assert_allclose(
        out["faithcam"]["grayscale_cam"], out["peer"]["grayscale_cam"], atol=1e-4
    )

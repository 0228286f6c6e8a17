"""Guided backpropagation and Guided Grad-CAM: agreement with pytorch-grad-cam's
GuidedBackpropReLUModel, the composition with Grad-CAM, and a model left bit-identical."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import faithcam
from faithcam.cams.guided import guided_backprop, guided_gradcam
from tests.helpers import seeded_images, seeded_torchvision
from tests.methods.test_hygiene import _hook_count
from tests.peer_helpers import pytorch_grad_cam

CLASSES = [3, 17]


@pytest.mark.parametrize("model_name", ["resnet18", "resnet50", "vgg11_bn"])
def test_guided_backprop_matches_pytorch_grad_cam(model_name: str, peer_output) -> None:
    model = seeded_torchvision(model_name)
    images = seeded_images(2, 64)
    ours = guided_backprop(model, images, CLASSES)

    def peer_guided_backprop() -> dict[str, np.ndarray]:
        # the peer swaps the model's ReLUs: run it on a copy, one image at a time
        peer = pytorch_grad_cam().GuidedBackpropReLUModel(copy.deepcopy(model), device="cpu")
        return {
            str(i): peer(images[i : i + 1].clone(), target_category=class_id)
            for i, class_id in enumerate(CLASSES)
        }

    peers = peer_output(
        "GuidedBackpropReLUModel",
        peer_guided_backprop,
        model=model_name,
        classes=CLASSES,
        images=images,
    )
    for i in range(len(CLASSES)):
        theirs = peers[str(i)].transpose(2, 0, 1)
        scale = np.abs(theirs).max()
        assert scale > 0
        np.testing.assert_allclose(ours[i].numpy() / scale, theirs / scale, atol=1e-5)


def test_guided_gradcam_is_guided_backprop_times_upsampled_gradcam() -> None:
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    product = guided_gradcam(model, images, CLASSES)
    cam = faithcam.explain(model, images, "gradcam", targets=CLASSES).raw_maps.clamp(min=0)
    cam = torch.nn.functional.interpolate(cam[:, None], size=(64, 64), mode="bilinear")
    torch.testing.assert_close(product, guided_backprop(model, images, CLASSES) * cam)
    result = faithcam.explain(model, images, "guided-gradcam", targets=CLASSES)
    torch.testing.assert_close(result.raw_maps, product.abs().amax(1))
    assert result.maps.shape == (2, 64, 64) and result.layer == "layer4"


def test_the_model_is_bit_identical_after_guided_calls() -> None:
    model = seeded_torchvision("resnet18")
    before = copy.deepcopy(model)
    images = seeded_images(2, 64)
    plain = model(images).detach()
    faithcam.explain(model, images, "guided-gradcam", targets=CLASSES)
    guided_backprop(model, images, CLASSES)
    assert _hook_count(model) == 0
    assert [type(m) for m in model.modules()] == [type(m) for m in before.modules()]
    assert all(p.grad is None for p in model.parameters())
    for (name, a), (_, b) in zip(
        model.state_dict().items(), before.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b), name
    torch.testing.assert_close(model(images).detach(), plain, rtol=0, atol=0)
    # the ReLUs are still plain ReLUs: a backward through one is not guided
    x = torch.tensor([-1.0, 2.0], requires_grad=True)
    (grad,) = torch.autograd.grad((model.relu(x * 1) * torch.tensor([3.0, -5.0])).sum(), x)
    assert grad.tolist() == [0.0, -5.0]  # a guided ReLU would pass 0 for the -5


def test_hooks_are_removed_when_the_guided_call_fails() -> None:
    model = seeded_torchvision("resnet18")
    with pytest.raises(faithcam.TargetError):
        guided_backprop(model, seeded_images(1, 64), targets=5000)
    assert _hook_count(model) == 0


def test_guided_gradcam_at_an_explicit_layer_uses_that_layers_gradcam() -> None:
    """Seed 20261222 (`guided_gradcam` 16): ``layer="layer3"`` composes guided backprop with
    the upsampled Grad-CAM of layer3 (4 x 4 cells for a 64-pixel image), not with that of the
    automatic layer4 (2 x 2)."""
    model = seeded_torchvision("resnet18")
    images = seeded_images(2, 64)
    product = guided_gradcam(model, images, CLASSES, layer="layer3")
    cam = faithcam.explain(model, images, "gradcam", targets=CLASSES, layer="layer3")
    assert cam.raw_maps.shape == (2, 4, 4)
    up = torch.nn.functional.interpolate(cam.raw_maps.clamp(min=0)[:, None], size=(64, 64),
                                         mode="bilinear")  # fmt: skip
    torch.testing.assert_close(product, guided_backprop(model, images, CLASSES) * up)

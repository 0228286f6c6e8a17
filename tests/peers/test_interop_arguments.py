"""The adapters pass their arguments through: ``quantus_explain``'s ``layer=`` and the
pytorch-grad-cam drop-in's (width, height) resizing (issue 25's named survivors). References:
a naive HiResCAM by plain autograd, and the input's own (H, W)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from faithcam.compat import pytorch_grad_cam as dropin
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from faithcam.interop import quantus_explain


def two_stage_cnn() -> nn.Sequential:
    """A 16 × 16 first stage (layer "1") and an 8 × 8 second stage (layer "3")."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(),
        nn.Conv2d(6, 8, 3, padding=1, stride=2), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3),
    ).eval()  # fmt: skip


def naive_hirescam(model: nn.Module, layer: nn.Module, image: torch.Tensor, target: int):
    """ReLU(Σ_k G^k ⊙ A^k) at ``layer`` by autograd, divided by its maximum."""
    store = {}
    handle = layer.register_forward_hook(lambda m, i, o: store.update(a=o))
    try:
        out = model(image)
    finally:
        handle.remove()
    (gradient,) = torch.autograd.grad(out[0, target], store["a"])
    cam = torch.relu((gradient * store["a"]).sum(1))[0].detach()
    return (cam / cam.max()).numpy()


def test_quantus_explain_uses_the_layer_argument() -> None:
    """layer="1" (16 × 16, the input's size: no resizing) is not the default last layer."""
    model = two_stage_cnn()
    torch.manual_seed(1)
    images = torch.rand(2, 3, 16, 16)
    maps = quantus_explain(model, images.numpy(), np.array([0, 2]), method="hirescam", layer="1")
    for i, target in enumerate((0, 2)):
        expected = naive_hirescam(model, model[1], images[i : i + 1], target)
        np.testing.assert_allclose(maps[i, 0], expected, rtol=1e-4, atol=1e-5)


def test_dropin_resizes_to_the_input_height_and_width() -> None:
    """A 16 × 24 (H × W) input gives (B, 16, 24) maps, as pytorch-grad-cam's (width, height)."""
    model = two_stage_cnn()
    images = torch.rand(2, 3, 16, 24)
    with dropin.GradCAM(model=model, target_layers=[model[3]]) as cam:
        maps = cam(input_tensor=images, targets=[ClassifierOutputTarget(1)] * 2)
    assert maps.shape == (2, 16, 24)


def test_scale_cam_image_target_size_is_width_then_height() -> None:
    """cv2's convention: target_size = (width, height); a constant-gradient ramp stays a ramp."""
    ramp = np.tile(np.arange(4, dtype=np.float32), (2, 1))[None]  # (1, 2, 4): rises along W
    scaled = scale_cam_image(ramp, target_size=(8, 2))
    assert scaled.shape == (1, 2, 8)
    assert np.all(np.diff(scaled[0], axis=1) >= 0) and np.all(np.diff(scaled[0], axis=0) == 0)

"""The drop-in CAM classes: pytorch-grad-cam 1.5.7's interface on faithcam's capture engine.

``GradCAM(model=..., target_layers=[...])(input_tensor=..., targets=[...])`` returns what the
peer returns, a (B, H, W) float32 NumPy array, scaled as the peer scales it: per layer the map
is ReLU'd, min-max scaled with ε = 1e-7 and resized to the input; several layers are then
averaged (after a ReLU) and min-max scaled again. What runs underneath is faithcam: one
forward without autograd up to the layer and a gradient of the head only, so the same code is
faster and lighter (see ``benchmarks/bench_compat.py``).

Differences from the peer, on purpose:
- The model's train/eval mode: the peer calls ``model.eval()`` in its constructor and leaves
  it so; the drop-in switches every module to eval for the call and restores each one's mode
  and every buffer (:func:`faithcam.engine.model_state.model_guard`).
- No hooks stay attached between calls, so ``release()`` / the context manager have nothing
  to free (both are kept for compatibility).
- Fewer targets than images raise an error (the peer silently returns all-zero maps for the
  images without a target).
- ``aug_smooth`` and ``eigen_smooth`` are not implemented: ``True`` raises an error naming the
  flag. ``reshape_transform`` (ViT tokens -> feature maps) works with the gradient methods,
  applied to activations and gradients as the peer does; Score-/Ablation-CAM refuse it.
- Ablation-CAM zeroes the ablated channel (the paper); the peer does so only when the layer's
  minimum is exactly 0, as after a ReLU (see :mod:`faithcam.cams.gradient_free`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.api import explain
from faithcam.cams.weightings import get_weighting
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.engine.capture import capture_batches
from faithcam.engine.layers import ResolvedLayer, resolve_layer
from faithcam.engine.model_state import model_guard
from faithcam.engine.request import Request
from faithcam.engine.targets import CallableTarget, ClassLogit, Target
from faithcam.engine.validation import check_images, check_model, model_device
from faithcam.errors import FaithcamNotImplementedError, FaithcamTypeError, FaithcamValueError

PeerTarget = Callable[[torch.Tensor], torch.Tensor]
PEER_PLUSPLUS_EPS = 1e-6  # pytorch-grad-cam's ε in Grad-CAM++'s α denominator


def peer_gradcam_plus_plus(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ as pytorch-grad-cam computes it: α = G² / (2 G² + Σ_ab A · G³ + ε), ε = 1e-6
    (0 where G = 0), w_k = Σ_ij α ReLU(G), map = Σ_k w_k A^k. faithcam's own ``"gradcam++"``
    is the paper's formula without ε; the drop-in keeps the peer's so its arrays match."""
    squared = gradients.pow(2)
    sums = activations.sum(dim=(2, 3), keepdim=True)
    alpha = squared / (2 * squared + sums * squared * gradients + PEER_PLUSPLUS_EPS)
    alpha = torch.where(gradients != 0, alpha, 0.0)
    weights = (alpha * gradients.clamp(min=0)).sum(dim=(2, 3))
    return torch.einsum("bk,bkhw->bhw", weights, activations)


class BaseCAM:
    """pytorch-grad-cam's BaseCAM interface; subclasses name a faithcam method."""

    method = "gradcam"
    uses_gradients = True

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model = check_model(model)
        if isinstance(target_layers, nn.Module) or not isinstance(target_layers, Sequence):
            raise FaithcamTypeError(
                "target_layers: expected a list of modules, e.g. [model.layer4[-1]], got "
                f"{type(target_layers).__name__}"
            )
        if not target_layers or not all(isinstance(m, nn.Module) for m in target_layers):
            raise FaithcamValueError(
                "target_layers: expected a non-empty list of modules of the model"
            )
        if reshape_transform is not None and not callable(reshape_transform):
            raise FaithcamTypeError(
                "reshape_transform: expected a callable (layer output -> (B, C, h, w)) or None"
            )
        if reshape_transform is not None and not self.uses_gradients:
            raise FaithcamNotImplementedError(
                f"reshape_transform: not supported by the drop-in's {type(self).__name__}; "
                "use a gradient method (GradCAM, HiResCAM...) or reshape_transform=None"
            )
        self.target_layers = list(target_layers)
        self.reshape_transform = reshape_transform
        self.outputs: torch.Tensor | None = None
        self.batch_size = 16

    def __call__(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """(B, H, W) float32 maps in [0, 1], scaled and combined as pytorch-grad-cam does."""
        for flag, value in (("aug_smooth", aug_smooth), ("eigen_smooth", eigen_smooth)):
            if value:
                raise FaithcamNotImplementedError(
                    f"{flag}: not implemented by faithcam's pytorch-grad-cam drop-in; "
                    f"call with {flag}=False"
                )
        images = check_images(input_tensor)
        images = images.to(model_device(self.model, images.device))
        target = self._target(targets, len(images))
        size = (images.shape[-1], images.shape[-2])  # (width, height), as the peer
        with model_guard(self.model):  # eval mode; each module's mode and buffers restored
            layers = [
                resolve_layer(self.model, m, images, reshape_transform=self.reshape_transform)
                for m in self.target_layers
            ]
            per_layer = [
                scale_cam_image(np.maximum(self._raw_map(images, layer, target), 0), size)
                for layer in layers
            ]
        combined = np.maximum(np.stack(per_layer, axis=1), 0).mean(axis=1)
        return scale_cam_image(combined)

    def forward(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """The peer's ``forward``: the call without augmentation smoothing."""
        return self(input_tensor, targets, eigen_smooth=eigen_smooth)

    @staticmethod
    def _target(targets: Sequence[PeerTarget] | None, n_images: int) -> Target:
        if targets is None:
            return ClassLogit(None)
        targets = list(targets)
        if len(targets) != n_images:
            raise FaithcamValueError(
                f"targets: got {len(targets)} targets for {n_images} images; give one per image "
                "(pytorch-grad-cam returns all-zero maps for images without a target)"
            )
        if not all(callable(t) for t in targets):
            raise FaithcamTypeError("targets: expected callables such as ClassifierOutputTarget")
        return CallableTarget(list(targets))  # each called with its own image's output

    def _raw_map(self, images: torch.Tensor, layer: ResolvedLayer, target: Target) -> np.ndarray:
        """The signed (B, h, w) map at the layer's resolution."""
        bound = target.bind(len(images), images.device)
        # one chunk of every image, as the peer's one batch; the layer carries the user's
        # reshape_transform: as the peer, the capture applies it to activations and gradients
        request = Request(self.model, images, target, bound, len(images), layer=layer)
        ((_, captured),) = capture_batches(request)
        if self.outputs is None or layer.module is self.target_layers[0]:
            self.outputs = captured.outputs
        activations, gradients = captured.activations, captured.gradients
        raw = self.weighting(activations, gradients)
        return raw.detach().float().cpu().numpy()

    def weighting(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return get_weighting(self.method)(activations, gradients)

    def release(self) -> None:
        """Nothing to release: faithcam removes its hooks after every call."""

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class _GradientFreeCAM(BaseCAM):
    """Score-CAM / Ablation-CAM through :func:`faithcam.explain`."""

    uses_gradients = False
    options: dict[str, Any] = {}  # noqa: RUF012 - read-only class default

    def _raw_map(self, images: torch.Tensor, layer: ResolvedLayer, target: Target) -> np.ndarray:
        result = explain(
            self.model,
            images,
            self.method,
            target,
            layer.module,
            batch_size=self.batch_size,
            **self.options,
        )
        if layer.module is self.target_layers[0]:
            with torch.no_grad():
                self.outputs = self.model(images)
        return result.raw_maps.float().cpu().numpy()


class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al., ICCV 2017): w_k = mean_ij G^k_ij."""

    method = "gradcam"


class HiResCAM(BaseCAM):
    """HiResCAM (Draelos & Carin, 2020): map = Σ_k G^k ⊙ A^k."""

    method = "hirescam"


class XGradCAM(BaseCAM):
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij (A^k_ij / Σ A^k) G^k_ij."""

    method = "xgradcam"


class LayerCAM(BaseCAM):
    """LayerCAM (Jiang et al., IEEE TIP 2021): map = Σ_k ReLU(G^k) ⊙ A^k."""

    method = "layercam"


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhyay et al., WACV 2018) with the peer's ε (see
    :func:`peer_gradcam_plus_plus`)."""

    method = "gradcam++"

    def weighting(self, activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
        return peer_gradcam_plus_plus(activations, gradients)


class ScoreCAM(_GradientFreeCAM):
    """Score-CAM (Wang et al., CVPR-W 2020) with the peer's ``align_corners=True`` masks."""

    method = "scorecam"
    options = {"align_corners": True}  # noqa: RUF012


class AblationCAM(_GradientFreeCAM):
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020): w_k = (y − y_k) / y."""

    method = "ablationcam"

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
        ablation_layer: Any = None,
        batch_size: int = 32,
        ratio_channels_to_ablate: float = 1.0,
    ) -> None:
        super().__init__(model, target_layers, reshape_transform)
        if ablation_layer is not None:
            raise FaithcamNotImplementedError(
                "ablation_layer: faithcam ablates by zeroing the channel; leave it None"
            )
        if ratio_channels_to_ablate != 1.0:
            raise FaithcamNotImplementedError(
                "ratio_channels_to_ablate: faithcam ablates every channel; leave it 1.0"
            )
        self.batch_size = batch_size

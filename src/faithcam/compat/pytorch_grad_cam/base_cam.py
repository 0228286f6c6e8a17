"""The drop-in CAM classes: pytorch-grad-cam 1.5.7's interface on faithcam's capture engine.

``GradCAM(model=..., target_layers=[...])(input_tensor=..., targets=[...])`` returns what the
peer returns, a (B, H, W) float32 NumPy array, scaled as the peer scales it: per layer the map
is ReLU'd, min-max scaled with ε = 1e-7 and resized to the input; several layers are then
averaged (after a ReLU) and min-max scaled again. What runs underneath is faithcam: one
forward without autograd up to the layer and a gradient of the head only, so the same code is
faster and lighter (see ``benchmarks/bench_compat.py``).

``eigen_smooth=True`` projects each layer's per-channel terms on their first principal
component, signed as the peer signs it (:mod:`faithcam.cams.eigen`, rule
``"pytorch-grad-cam"``). ``aug_smooth=True`` averages the scaled maps of the 6 copies the peer
makes (horizontal flip × intensity 0.9, 1, 1.1; each map flipped back), not rescaled, as the
peer.

Differences from the peer, on purpose:
- The model's train/eval mode: the peer calls ``model.eval()`` in its constructor and leaves
  it so; the drop-in switches every module to eval for the call and restores each one's mode
  and every buffer (:func:`faithcam.engine.model_state.model_guard`).
- No hooks stay attached between calls, so ``release()`` / the context manager have nothing
  to free (both are kept for compatibility).
- Fewer targets than images raise an error (the peer silently returns all-zero maps for the
  images without a target).
- ``reshape_transform`` (ViT tokens -> feature maps) is applied to activations and gradients
  as the peer does; Score-/Ablation-CAM refuse it.
- Ablation-CAM zeroes the ablated channel (the paper); the peer does so only when the layer's
  minimum is exactly 0, as after a ReLU (see :mod:`faithcam.cams.gradient_free`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from faithcam.cams.compose import AUGMENTATIONS
from faithcam.cams.eigen import first_component, sign_rule
from faithcam.cams.registry import method_spec
from faithcam.cams.weightings import (
    get_weighting,
    gradcam_weights,
    per_channel,
    xgradcam_weights,
)
from faithcam.compat.pytorch_grad_cam.ablation_layer import AblationLayer
from faithcam.compat.pytorch_grad_cam.utils.image import scale_cam_image
from faithcam.engine.capture import capture_batches
from faithcam.engine.layers import ResolvedLayer, resolve_layer
from faithcam.engine.model_state import model_guard
from faithcam.engine.request import Request
from faithcam.engine.targets import CallableTarget, ClassLogit, Target
from faithcam.engine.validation import (
    check_flag,
    check_images,
    check_model,
    make_generator,
    model_device,
)
from faithcam.errors import FaithcamNotImplementedError, FaithcamTypeError, FaithcamValueError

PeerTarget = Callable[[torch.Tensor], torch.Tensor]
PEER_PLUSPLUS_EPS = 1e-6  # pytorch-grad-cam's ε in Grad-CAM++'s α denominator


def peer_plusplus_weights(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++'s (B, K) weights as pytorch-grad-cam computes them: α = G² / (2 G² +
    Σ_ab A · G³ + ε), ε = 1e-6 (0 where G = 0), w_k = Σ_ij α ReLU(G) (the sums over every
    dimension after the channels). faithcam's own ``"gradcam++"`` is the paper's formula
    without ε; the drop-in keeps the peer's so its arrays match."""
    squared = gradients.pow(2)
    sums = activations.sum(dim=tuple(range(2, activations.dim())), keepdim=True)
    alpha = squared / (2 * squared + sums * squared * gradients + PEER_PLUSPLUS_EPS)
    alpha = torch.where(gradients != 0, alpha, 0.0)
    return (alpha * gradients.clamp(min=0)).flatten(2).sum(2)


def peer_gradcam_plus_plus(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """The peer's Grad-CAM++ map Σ_k w_k A^k (:func:`peer_plusplus_weights`)."""
    weights = peer_plusplus_weights(activations, gradients)
    return torch.einsum("bk,bk...->b...", weights, activations)


def check_inputs(input_tensor: Any) -> torch.Tensor:
    """The peer's ``input_tensor``: (B, C, H, W) images, or (B, C, T, H, W) volumes for a 3-D
    (video) convolution, checked as :func:`faithcam.engine.validation.check_images` checks
    images."""
    if isinstance(input_tensor, torch.Tensor) and input_tensor.dim() == 5:
        check_images(input_tensor.flatten(2, 3))  # every check but the number of dimensions
        return input_tensor
    return check_images(input_tensor)


def channel_weights(
    weights: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], activations: Any, grads: Any
) -> np.ndarray:
    """The peer's ``get_cam_weights``: (B, K) NumPy weights of (B, K, ...) activations and
    gradients (NumPy arrays or tensors, 2-D or 3-D maps)."""
    as_tensor = [torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x
                 for x in (activations, grads)]  # fmt: skip
    return weights(*as_tensor).detach().cpu().numpy()


class BaseCAM:
    """pytorch-grad-cam's BaseCAM interface; subclasses name a faithcam method."""

    method = "gradcam"
    reshape_supported = True
    volumes = True  # (B, C, T, H, W) inputs at a 3-D convolution

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> None:
        self.model = check_model(model)
        self.target_layers = check_target_layers(target_layers)
        if reshape_transform is not None and not callable(reshape_transform):
            raise FaithcamTypeError(
                "reshape_transform: expected a callable (layer output -> (B, C, h, w)) or None"
            )
        if reshape_transform is not None and not self.reshape_supported:
            raise FaithcamNotImplementedError(
                f"reshape_transform: not supported by the drop-in's {type(self).__name__}; "
                "use a gradient method (GradCAM, HiResCAM...) or reshape_transform=None"
            )
        self.reshape_transform = reshape_transform
        self.outputs = None
        self.batch_size = 16

    @property
    def outputs(self) -> Any:
        """The model's outputs on the last call's images (the peer's ``cam.outputs``); computed
        on first access where the method did not need them."""
        if self._outputs is None and self._last_images is not None:
            with torch.no_grad(), model_guard(self.model):
                self._outputs = self.model(self._last_images)
        return self._outputs

    @outputs.setter
    def outputs(self, value: Any) -> None:
        self._outputs, self._last_images = value, None

    def defer_outputs(self, images: torch.Tensor) -> None:
        """``outputs`` will be the model's outputs on ``images``, computed when read."""
        self._outputs, self._last_images = None, images

    def __call__(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        aug_smooth: bool = False,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """(B, H, W) float32 maps in [0, 1], scaled and combined as pytorch-grad-cam does."""
        check_flag("aug_smooth", aug_smooth)
        check_flag("eigen_smooth", eigen_smooth)
        images = check_inputs(input_tensor)
        images = images.to(model_device(self.model, images.device))
        target = peer_target(targets, len(images))
        if images.dim() == 5 and not self.volumes:
            raise FaithcamNotImplementedError(
                f"input_tensor: {type(self).__name__} takes (B, C, H, W) images only (its masks "
                "are 2-D, as the peer's); for (B, C, T, H, W) volumes use a gradient class "
                "(GradCAM, HiResCAM...) or EigenCAM, KPCA_CAM, FEM, ShapleyCAM, RandomCAM"
            )
        if aug_smooth and images.dim() == 5:
            raise FaithcamNotImplementedError(
                "aug_smooth: not supported for (B, C, T, H, W) volumes (the peer's horizontal "
                "flip then flips their height); call without aug_smooth"
            )
        if not aug_smooth:
            return self._forward(images, target, eigen_smooth)
        maps = []
        for flip, factor in AUGMENTATIONS:
            augmented = images * factor
            cam = self._forward(augmented.flip(-1) if flip else augmented, target, eigen_smooth)
            maps.append(cam[..., ::-1] if flip else cam)
        return np.mean(np.stack(maps), axis=0).astype(np.float32)

    def forward(
        self,
        input_tensor: torch.Tensor,
        targets: Sequence[PeerTarget] | None = None,
        eigen_smooth: bool = False,
    ) -> np.ndarray:
        """The peer's ``forward``: the call without augmentation smoothing."""
        return self(input_tensor, targets, eigen_smooth=eigen_smooth)

    def _forward(self, images: torch.Tensor, target: Target, eigen_smooth: bool) -> np.ndarray:
        size = tuple(images.shape[:1:-1])  # (width, height) or (w, h, T), as the peer reads it
        with model_guard(self.model), sign_rule("pytorch-grad-cam"):  # eval mode, restored
            layers = [
                resolve_layer(self.model, m, images, reshape_transform=self.reshape_transform)
                for m in self.target_layers
            ]
            per_layer = [
                scale_cam_image(np.maximum(self._raw_map(images, one, target, eigen_smooth), 0),
                                size)
                for one in layers
            ]  # fmt: skip
        combined = np.maximum(np.stack(per_layer, axis=1), 0).mean(axis=1)
        return scale_cam_image(combined)

    def _raw_map(
        self, images: torch.Tensor, layer: ResolvedLayer, target: Target, eigen_smooth: bool
    ) -> np.ndarray:
        """The signed (B, h, w) map at the layer's resolution."""
        bound = target.bind(len(images), images.device)
        # one chunk of every image, as the peer's one batch; the layer carries the user's
        # reshape_transform: as the peer, the capture applies it to activations and gradients
        request = Request(self.model, images, target, bound, len(images), layer=layer)
        ((_, captured),) = capture_batches(request)
        if layer.module is self.target_layers[0]:
            self.outputs = captured.outputs
        activations, gradients = captured.activations, captured.gradients
        raw = self.weighting(activations, gradients, eigen_smooth)
        return raw.detach().float().cpu().numpy()

    def weighting(
        self, activations: torch.Tensor, gradients: torch.Tensor, eigen_smooth: bool = False
    ) -> torch.Tensor:
        return get_weighting(self.method, eigen_smooth)(activations, gradients)

    def release(self) -> None:
        """Nothing to release: faithcam removes its hooks after every call."""

    def __enter__(self) -> BaseCAM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def check_target_layers(target_layers: Sequence[nn.Module]) -> list[nn.Module]:
    """The peer's ``target_layers``: a non-empty list of modules."""
    if isinstance(target_layers, nn.Module) or not isinstance(target_layers, Sequence):
        raise FaithcamTypeError(
            "target_layers: expected a list of modules, e.g. [model.layer4[-1]], got "
            f"{type(target_layers).__name__}"
        )
    if not target_layers or not all(isinstance(m, nn.Module) for m in target_layers):
        raise FaithcamValueError("target_layers: expected a non-empty list of modules of the model")
    return list(target_layers)


def peer_target(targets: Sequence[PeerTarget] | None, n_images: int) -> Target:
    """faithcam's target for the peer's ``targets`` (None: each image's predicted class)."""
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


class ExplainedCAM(BaseCAM):
    """A drop-in class whose per-layer map is the faithcam method ``method``'s raw map (what
    :func:`faithcam.explain` returns as ``raw_maps``) with ``options`` (``eigen_smooth`` passed
    on where ``smooths``). The method runs on its request directly: the images, the model and
    the layer are already checked and resolved, and the maps are scaled as the peer scales
    them, so explain's checks and post-processing would be done twice. (B, C, T, H, W) volumes
    at a 3-D convolution give (B, T, h, w) maps; the methods whose masks are 2-D refuse them
    (``volumes = False``)."""

    options: dict[str, Any] = {}  # noqa: RUF012 - read-only class default
    smooths = True

    def _raw_map(
        self, images: torch.Tensor, layer: ResolvedLayer, target: Target, eigen_smooth: bool
    ) -> np.ndarray:
        options = dict(self.options)
        seed = options.pop("seed", None)
        name, spec = method_spec(self.method)
        chosen = spec.method.create(spec, None, options)
        target = chosen.target(target)
        generator = None if seed is None else make_generator(seed, None, images.device)
        with torch.inference_mode(False):  # autograd even under a caller's inference_mode
            request = Request(
                self.model, images, target, target.bind(len(images), images.device),
                self.batch_size, layer_spec=layer.module, layer=layer,
                reshape_transform=self.reshape_transform, generator=generator, relu=False,
                eigen_smooth=eigen_smooth and self.smooths, method=name,
            )  # fmt: skip
            chosen.check(request)
            raw = chosen.run(request)
        if layer.module is self.target_layers[0]:
            self.defer_outputs(images)
        return raw.maps.detach().float().cpu().numpy()


class GradCAM(BaseCAM):
    """Grad-CAM (Selvaraju et al., ICCV 2017): w_k = mean_ij G^k_ij."""

    method = "gradcam"

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        """The peer's (B, K) channel weights of NumPy activations and gradients."""
        return channel_weights(lambda _, g: gradcam_weights(g), activations, grads)


class HiResCAM(BaseCAM):
    """HiResCAM (Draelos & Carin, 2020): map = Σ_k G^k ⊙ A^k."""

    method = "hirescam"


class XGradCAM(BaseCAM):
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij (A^k_ij / Σ A^k) G^k_ij."""

    method = "xgradcam"

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        """The peer's (B, K) channel weights of NumPy activations and gradients."""
        return channel_weights(xgradcam_weights, activations, grads)


class LayerCAM(BaseCAM):
    """LayerCAM (Jiang et al., IEEE TIP 2021): map = Σ_k ReLU(G^k) ⊙ A^k."""

    method = "layercam"


class GradCAMPlusPlus(BaseCAM):
    """Grad-CAM++ (Chattopadhyay et al., WACV 2018) with the peer's ε (see
    :func:`peer_gradcam_plus_plus`)."""

    method = "gradcam++"

    def get_cam_weights(self, input_tensor, target_layer, targets, activations, grads):
        """The peer's (B, K) channel weights of NumPy activations and gradients."""
        return channel_weights(peer_plusplus_weights, activations, grads)

    def weighting(
        self, activations: torch.Tensor, gradients: torch.Tensor, eigen_smooth: bool = False
    ) -> torch.Tensor:
        if not eigen_smooth:
            return peer_gradcam_plus_plus(activations, gradients)
        weights = peer_plusplus_weights(activations, gradients)
        return first_component(per_channel(weights, activations))


class ScoreCAM(ExplainedCAM):
    """Score-CAM (Wang et al., CVPR-W 2020) with the peer's ``align_corners=True`` masks."""

    method = "scorecam"
    reshape_supported = False
    volumes = False
    options = {"align_corners": True}  # noqa: RUF012


class AblationCAM(ExplainedCAM):
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020): w_k = (y − y_k) / y."""

    method = "ablationcam"
    reshape_supported = False
    volumes = False

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
        if ablation_layer is not None and type(ablation_layer) is not AblationLayer:
            raise FaithcamNotImplementedError(
                "ablation_layer: faithcam ablates by zeroing the channel; leave it None or "
                f"AblationLayer(), got {type(ablation_layer).__name__}"
            )
        if ratio_channels_to_ablate != 1.0:
            raise FaithcamNotImplementedError(
                "ratio_channels_to_ablate: faithcam ablates every channel; leave it 1.0"
            )
        self.batch_size = batch_size


class GradCAMElementWise(BaseCAM):
    """Grad-CAM element-wise (pytorch-grad-cam): map = Σ_k ReLU(G^k ⊙ A^k)."""

    method = "gradcam-elementwise"


class EigenGradCAM(BaseCAM):
    """EigenGradCAM (pytorch-grad-cam): the first principal component of G ⊙ A, the peer's sign
    (``eigen_smooth`` changes nothing)."""

    method = "eigengradcam"


class SegEigenCAM(BaseCAM):
    """Seg-Eigen-CAM (Chung & Ying, Appl. Sci. 2025): the first principal component of
    |G| ⊙ A, negated when |min| > |max| (``eigen_smooth`` changes nothing)."""

    method = "segeigencam"

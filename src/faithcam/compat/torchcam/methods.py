"""torchcam 0.5's extractors (``torchcam.methods``) on faithcam's weightings and targets.

torchcam's call convention: the extractor hooks the target layers, the user runs the model,
then asks for maps::

    with GradCAM(model, "layer4") as cam_extractor:
        scores = model(input_tensor)
        maps = cam_extractor(class_idx, scores)  # one (N, h, w) tensor per target layer

The gradient extractors differentiate the user's own ``scores`` (no second forward): the
target's score (class ``class_idx``'s logit, or ``targets``: a callable or one per image, each
given one image's output) is summed over the batch and differentiated at the hooked layer
outputs. The map is faithcam's weighting of (A, G) (:mod:`faithcam.cams.weightings`), ReLU'd
(not CAM's) and min-max scaled per map, ``(m − min) / (max − min + 1e-8)``, as torchcam.

Differences from torchcam, on purpose:
- ``GradCAMpp`` is the paper's Grad-CAM++ (faithcam's ``"gradcam++"``). torchcam 0.5 divides
  a copy of its α (``alpha[mask].div_(...)`` on a boolean-indexed copy), so its weights are
  Σ_ij G² ReLU(G): not the paper's, and they differ (pinned by a test).
- Automatic layer selection (``target_layer=None``) is faithcam's
  (:func:`faithcam.engine.layers.resolve_layer`), from a zero input of ``input_shape``.
- ``CAM`` takes the last ``nn.Linear`` whose inputs match the layer's channels when
  ``fc_layer`` is None (torchcam refuses a model with several linear layers).
- Not provided: ``SmoothGradCAMpp`` and ``SSCAM`` (their noise comes from torch's global
  random state; faithcam's draw from a seeded generator: a clear error names the faithcam
  method to use instead), ``FinerCAM``, ``RefineCAM`` and ``LeGrad``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faithcam.api import explain
from faithcam.cams.cam import cam_maps, classifier_weights
from faithcam.cams.weightings import get_weighting
from faithcam.engine.layers import resolve_layer
from faithcam.engine.model_state import model_guard
from faithcam.engine.targets import CallableTarget, ClassLogit, Target
from faithcam.engine.validation import check_model
from faithcam.errors import FaithcamNotImplementedError, FaithcamTypeError, FaithcamValueError

OutputTarget = Callable[[Any], Tensor]
LayerArg = nn.Module | str | Sequence[nn.Module | str] | None
NORMALIZE_EPS = 1e-8  # torchcam's ε in (m − min) / (max − min + ε)

__all__ = [
    "CAM", "ISCAM", "SSCAM", "GradCAM", "GradCAMpp", "LayerCAM", "OutputTarget", "ScoreCAM",
    "SmoothGradCAMpp", "XGradCAM",
]  # fmt: skip


def normalize_maps(maps: Tensor, eps: float = NORMALIZE_EPS) -> Tensor:
    """Each map (N, *spatial) min-max scaled: ``(m − min) / (max − min + ε)``."""
    dims = tuple(range(1, maps.ndim))
    shifted = maps - maps.amin(dim=dims, keepdim=True)
    return shifted / (shifted.amax(dim=dims, keepdim=True) + eps)


def layer_names(model: nn.Module, target_layer: LayerArg, input_shape: tuple[int, ...]):
    """Dotted names of ``target_layer`` (a name, a module, a list of those; None: faithcam's
    automatic choice on a zero input of ``input_shape``)."""
    if target_layer is None:
        example = torch.zeros(1, *input_shape, device=next(model.parameters()).device)
        with model_guard(model):
            return [resolve_layer(model, None, example).name]
    layers = [target_layer] if isinstance(target_layer, str | nn.Module) else target_layer
    if not isinstance(layers, Sequence) or not layers:
        raise FaithcamTypeError(
            "target_layer: expected a layer name, a module, a non-empty list of those or None, "
            f"got {type(target_layer).__name__}"
        )
    example = torch.zeros(0)  # unused: a named or given layer needs no probe
    return [resolve_layer(model, layer, example).name for layer in layers]


def batch_target(
    class_idx: int | Sequence[int] | None, targets: OutputTarget | Sequence | None, n: int
) -> Target:
    """torchcam's ``class_idx`` (an int or one per image) or ``targets`` (a callable for every
    image, or one per image, each given one image's output) as a faithcam target."""
    if (class_idx is None) == (targets is None):
        raise FaithcamValueError("class_idx, targets: give exactly one of them")
    if targets is None:
        ids = [class_idx] if isinstance(class_idx, int) else list(class_idx)
        if isinstance(class_idx, bool) or any(not isinstance(i, int) or i < 0 for i in ids):
            raise FaithcamValueError(f"class_idx: expected class ids >= 0, got {class_idx!r}")
        if len(ids) not in (1, n):
            raise FaithcamValueError(f"class_idx: got {len(ids)} class ids for {n} images")
        return ClassLogit(ids * n if len(ids) == 1 else ids)
    fns = [targets] * n if callable(targets) else list(targets)
    if len(fns) != n or not all(callable(f) for f in fns):
        raise FaithcamTypeError(f"targets: expected a callable or {n} callables, one per image")
    return CallableTarget(fns)


class _Extractor:
    """The hooks and call convention shared by the extractors."""

    relu = True
    uses_scores = True

    def __init__(
        self,
        model: nn.Module,
        target_layer: LayerArg = None,
        input_shape: tuple[int, ...] = (3, 224, 224),
        enable_hooks: bool = True,
        reshape_transform: Callable[[Tensor], Tensor] | None = None,
    ) -> None:
        self.model = check_model(model)
        if reshape_transform is not None and not callable(reshape_transform):
            raise FaithcamTypeError("reshape_transform: expected a callable or None")
        self.target_names = layer_names(model, target_layer, tuple(input_shape))
        modules = dict(model.named_modules())
        self._reshape = reshape_transform
        self._enabled = bool(enable_hooks)
        self.reset_hooks()
        self.hook_handles = [
            modules[name].register_forward_hook(partial(self._store_output, index=i))
            for i, name in enumerate(self.target_names)
        ]
        self.hook_handles.append(model.register_forward_pre_hook(self._store_input))

    def _store_output(self, _module: nn.Module, _inputs: Any, output: Tensor, index: int):
        if self._enabled:
            self.outputs[index] = output

    def _store_input(self, _module: nn.Module, inputs: tuple[Any, ...]) -> None:
        if self._enabled and inputs and isinstance(inputs[0], Tensor):
            self.input = inputs[0].detach()

    def enable_hooks(self) -> None:
        self._enabled = True

    @contextmanager
    def paused_hooks(self) -> Iterator[None]:
        """The hooks store nothing inside the block (the extractor's own forwards)."""
        previous, self._enabled = self._enabled, False
        try:
            yield
        finally:
            self._enabled = previous

    def disable_hooks(self) -> None:
        self._enabled = False

    def reset_hooks(self) -> None:
        """Forget the stored layer outputs and input."""
        self.outputs: list[Tensor | None] = [None] * len(self.target_names)
        self.input: Tensor | None = None

    def remove_hooks(self) -> None:
        """Detach the hooks from the model (also done on leaving a ``with`` block)."""
        for handle in self.hook_handles:
            handle.remove()
        self.hook_handles.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove_hooks()
        self.reset_hooks()

    def __call__(
        self,
        class_idx: int | Sequence[int] | None = None,
        scores: Any = None,
        normalized: bool = True,
        *,
        targets: OutputTarget | Sequence[OutputTarget] | None = None,
        retain_graph: bool = False,
    ) -> list[Tensor]:
        """One (N, h, w) map per target layer for ``class_idx`` (or ``targets``)."""
        if any(out is None for out in self.outputs):
            raise FaithcamValueError(
                "scores: run the model on the input first, so the target layers are hooked"
            )
        if self.uses_scores and scores is None:
            raise FaithcamValueError(f"scores: {type(self).__name__} needs the model's output")
        target = batch_target(class_idx, targets, len(self.outputs[0]))
        raw = self._raw_maps(target, scores, retain_graph)
        with torch.no_grad():
            maps = [F.relu(m) if self.relu else m for m in raw]
            return [normalize_maps(m) if normalized else m for m in maps]

    def _raw_maps(self, target: Target, scores: Any, retain_graph: bool) -> list[Tensor]:
        raise NotImplementedError

    def activations(self) -> list[Tensor]:
        """The hooked layer outputs, detached (through ``reshape_transform`` if given)."""
        acts = [out.detach() for out in self.outputs]
        return [self._reshape(a) for a in acts] if self._reshape is not None else acts

    @classmethod
    def fuse_cams(cls, cams: list[Tensor], target_shape: tuple[int, int] | None = None):
        """One map from several layers' maps: each resized (bilinear) to ``target_shape``
        (default: the largest of each side) and scaled (LayerCAM: tanh(2m)); their maximum."""
        if not isinstance(cams, list) or not all(isinstance(c, Tensor) for c in cams):
            raise FaithcamTypeError("cams: expected a list of (N, h, w) tensors")
        if not cams:
            raise FaithcamValueError("cams: expected at least one map")
        if len(cams) == 1:
            return cams[0]
        shape = target_shape or tuple(max(c.shape[d] for c in cams) for d in (1, 2))
        resized = [
            F.interpolate(cls.scale_cam(c)[:, None], shape, mode="bilinear", align_corners=False)
            for c in cams
        ]
        return torch.stack(resized).amax(dim=0)[:, 0]

    @staticmethod
    def scale_cam(cam: Tensor) -> Tensor:
        return cam

    def __repr__(self) -> str:
        return f"{type(self).__name__}(target_layer={self.target_names})"


class _GradientExtractor(_Extractor):
    """Grad-CAM-style extractors: faithcam's weighting ``method`` of (A, G)."""

    method = "gradcam"

    def _raw_maps(self, target: Target, scores: Any, retain_graph: bool) -> list[Tensor]:
        if not all(out.requires_grad for out in self.outputs):
            raise FaithcamValueError(
                f"scores: {type(self).__name__} differentiates the model's output; run the "
                "model with gradients enabled (not under torch.no_grad / inference_mode)"
            )
        n = len(self.outputs[0])
        index = torch.arange(n, device=self.outputs[0].device)
        bound = target.bind(n, index.device)
        loss = bound.scores(scores, index, torch.zeros_like(index, dtype=torch.bool)).sum()
        gradients = torch.autograd.grad(loss, self.outputs, retain_graph=retain_graph)
        if self._reshape is not None:
            gradients = [self._reshape(g) for g in gradients]
        weighting = get_weighting(self.method)
        return [weighting(a, g) for a, g in zip(self.activations(), gradients, strict=True)]


class GradCAM(_GradientExtractor):
    """Grad-CAM (Selvaraju et al., ICCV 2017): ReLU(Σ_k w_k A^k), w_k = mean_ij ∂y^c/∂A^k_ij."""

    method = "gradcam"


class GradCAMpp(_GradientExtractor):
    """Grad-CAM++ (Chattopadhyay et al., WACV 2018): w_k = Σ_ij α^k_ij ReLU(G^k_ij),
    α = G² / (2G² + Σ_ab A_ab G³), the paper's α (see the module notes: torchcam's differs)."""

    method = "gradcam++"


class XGradCAM(_GradientExtractor):
    """XGrad-CAM (Fu et al., BMVC 2020): w_k = Σ_ij (A^k_ij / Σ_ab A^k_ab) G^k_ij."""

    method = "xgradcam"


class LayerCAM(_GradientExtractor):
    """LayerCAM (Jiang et al., IEEE TIP 2021): ReLU(Σ_k ReLU(G^k) ⊙ A^k); ``fuse_cams`` scales
    each layer's map by tanh(2m) (the paper's eq. 9) before taking the maximum."""

    method = "layercam"

    @staticmethod
    def scale_cam(cam: Tensor) -> Tensor:
        return torch.tanh(2.0 * cam)


class CAM(_Extractor):
    """CAM (Zhou et al., CVPR 2016): Σ_k W_ck A^k with W the linear classifier after global
    average pooling (``fc_layer``: its name or module; None: the last fitting ``nn.Linear``).
    No ReLU before the scaling, as torchcam; no gradient, so ``scores`` is not needed."""

    relu = False
    uses_scores = False

    def __init__(
        self,
        model: nn.Module,
        target_layer: LayerArg = None,
        fc_layer: nn.Module | str | None = None,
        input_shape: tuple[int, ...] = (3, 224, 224),
        **kwargs: Any,
    ) -> None:
        if isinstance(target_layer, list | tuple) and len(target_layer) > 1:
            raise FaithcamValueError("target_layer: CAM takes one layer")
        super().__init__(model, target_layer, input_shape, **kwargs)
        if isinstance(fc_layer, nn.Module):
            fc_layer = next((n for n, m in model.named_modules() if m is fc_layer), None)
            if fc_layer is None:
                raise FaithcamValueError("fc_layer: the module is not part of the model")
        self.fc_layer = fc_layer

    def _raw_maps(self, target: Target, scores: Any, retain_graph: bool) -> list[Tensor]:
        if not isinstance(target, ClassLogit):
            raise FaithcamNotImplementedError("targets: CAM explains class ids; pass class_idx")
        (activations,) = self.activations()
        weights = classifier_weights(self.model, activations.shape[1], self.fc_layer)
        return [cam_maps(activations, weights, target.bind(len(activations), weights.device))]


class ScoreCAM(_Extractor):
    """Score-CAM (Wang et al., CVPR-W 2020) on the stored input: α = softmax_k(y^c(X ∘ H_k)),
    H_k the upsampled, min-max scaled channel k (faithcam's ``"scorecam"``); ReLU(Σ α_k A^k)."""

    uses_scores = False

    def __init__(
        self,
        model: nn.Module,
        target_layer: LayerArg = None,
        batch_size: int = 32,
        input_shape: tuple[int, ...] = (3, 224, 224),
        **kwargs: Any,
    ) -> None:
        super().__init__(model, target_layer, input_shape, **kwargs)
        self.bs = batch_size

    method = "scorecam"

    def _raw_maps(self, target: Target, scores: Any, retain_graph: bool) -> list[Tensor]:
        if self._reshape is not None:
            raise FaithcamNotImplementedError(
                f"reshape_transform: not supported by {type(self).__name__}"
            )
        options = {"batch_size": self.bs, **self.options()}
        with self.paused_hooks():  # explain's masked forwards must not replace the input
            return [
                explain(self.model, self.input, self.method, target, name, **options).raw_maps
                for name in self.target_names
            ]

    def options(self) -> dict[str, Any]:
        return {}


class ISCAM(ScoreCAM):
    """IS-CAM (Naidu et al., 2020): Score-CAM's weights averaged over ``num_samples`` mask
    scalings c_i = Σ_{j≤i} j/N (faithcam's ``"iscam"`` with ``steps=num_samples``)."""

    method = "iscam"

    def __init__(
        self,
        model: nn.Module,
        target_layer: LayerArg = None,
        batch_size: int = 32,
        num_samples: int = 10,
        input_shape: tuple[int, ...] = (3, 224, 224),
        **kwargs: Any,
    ) -> None:
        super().__init__(model, target_layer, batch_size, input_shape, **kwargs)
        self.num_samples = num_samples

    def options(self) -> dict[str, Any]:
        return {"steps": self.num_samples}


def _not_provided(name: str, instead: str) -> type:
    def refuse(*_args: Any, **_kwargs: Any) -> None:
        raise FaithcamNotImplementedError(
            f"{name}: not part of faithcam's torchcam drop-in; use faithcam.explain(model, "
            f"images, {instead!r}, ...)"
        )

    return type(name, (), {"__init__": refuse, "__doc__": f"Not provided: see {instead!r}."})


SmoothGradCAMpp = _not_provided("SmoothGradCAMpp", "smoothgradcam++")
SSCAM = _not_provided("SSCAM", "sscam")

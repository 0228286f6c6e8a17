"""Perturbation CAMs: they weight channels by re-running the model on perturbed copies.

- Score-CAM (Wang et al., "Score-CAM: Score-Weighted Visual Explanations for Convolutional
  Neural Networks", CVPR-W 2020): each channel becomes a mask H_k = s(Up(A^k)) (bilinear
  upsampling to the input size, then min-max scaling s to [0, 1]; a constant channel gives the
  all-zero mask); its channel-wise increase of confidence is
  C_k = f^c(X ∘ H_k) − f^c(X_b), X_b the black (all-zero) baseline = X ∘ 0. The weights are
  α^c = softmax_k(C) (Algorithm 1, ``weights="softmax"``, the default) or the raw increase
  α^c_k = C_k (the CIC definition, ``weights="cic"``); map = ReLU(Σ_k α^c_k A^k).
  A softmax is shift-invariant, so f^c(X_b) cancels in the default, which is therefore
  mathematically pytorch-grad-cam's softmax of the raw masked scores. What differs from
  pytorch-grad-cam is the upsampling: it uses ``UpsamplingBilinear2d``
  (``align_corners=True``); faithcam defaults to
  ``align_corners=False`` (``F.interpolate``'s default, as the authors' released code and
  faithcam's own post-processing), and ``align_corners=True`` reproduces the peer. The peer
  also adds 1e-8 to the min-max denominator (negligible). Each distinct mask is forwarded once:
  bit-identical channels share one forward, and so do all constant channels (their zero mask
  gives X ∘ 0 = X_b, so with ``"cic"`` they share it with the baseline). The cost is one
  capture forward plus one forward per distinct mask (+1 for the baseline with ``"cic"``).
- Ablation-CAM (Desai & Ramaswamy, "Ablation-CAM: Visual Explanations for Deep Convolutional
  Network via Gradient-free Localization", WACV 2020): w_k = (y^c − y^c_k) / y^c, y^c_k the score
  with channel k of the layer set to zero; map = ReLU(Σ_k w_k A^k). (If y^c = 0 exactly the
  unnormalised drop y^c − y^c_k is used.) pytorch-grad-cam 1.5.7 uses the same formula, but
  ablates with ``min(A) − 1e7`` instead of 0 whenever the minimum of the layer's output is not
  exactly 0 (and lowers that value further for every row of a batch): there it is not the
  paper's method. faithcam always zeroes the channel.
  Cost: the layer's activations are captured once per image; the ablated copies then enter
  the network *at the layer*: a forward hook substitutes the layer's output with a chunk of
  ``batch_size`` copies while the input is an empty batch, so the modules before the layer run
  on zero rows (no arithmetic). This needs the part after the layer to depend on the layer's
  output alone; it is verified on the first chunk (an un-ablated copy must reproduce y^c) and
  otherwise (e.g. a layer inside a residual block, whose skip branch needs the input) every
  chunk replays the full forward of its images, as pytorch-grad-cam always does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from faithcam.cams.eigen import first_component
from faithcam.cams.method import Method, Raw
from faithcam.engine.capture import Capture, capture_inputs, register_site_hook
from faithcam.engine.layers import ResolvedLayer, runs_twice_error
from faithcam.engine.layouts import Layout
from faithcam.engine.progress import track
from faithcam.engine.request import Request
from faithcam.engine.targets import BoundTarget, OutputSelector, select_output
from faithcam.errors import FaithcamTypeError, FaithcamValueError, LayerError, TargetError

Progress = Callable[[int], None] | None


SCORE_WEIGHTS = ("softmax", "cic")


@dataclass(frozen=True)
class ScoreOptions:
    """Score-CAM's channel weights (``"softmax"``: Algorithm 1; ``"cic"``: the raw increase of
    confidence) and the masks' upsampling (``align_corners=True`` reproduces pytorch-grad-cam)."""

    weights: str = "softmax"
    align_corners: bool = False

    def __post_init__(self) -> None:
        if self.weights not in SCORE_WEIGHTS:
            raise FaithcamValueError(
                f"weights: expected one of {', '.join(SCORE_WEIGHTS)}, got {self.weights!r}"
            )
        if not isinstance(self.align_corners, bool):
            raise FaithcamTypeError(f"align_corners: expected a bool, got {self.align_corners!r}")


class _Perturbation(Method):
    """A perturbation CAM: the layer's activations, then one forward per perturbed copy."""

    def run(self, request: Request) -> Raw:
        captured = capture_inputs(request)
        images = request.images
        # one bar row per image (the capture) and per channel (its masked or ablated forward)
        rows = len(images) * (1 + captured.activations.shape[1])
        with track(rows, request.method, "sample", enabled=request.progress) as advance:
            if advance is not None:
                advance(len(images))
            raw, settings = self.perturb(request, captured, advance)
        settings = {**settings, "eigen_smooth": request.eigen_smooth}
        return Raw(raw, captured.scores, request.layer.name, settings, request.target)

    def perturb(
        self, request: Request, captured: Capture, progress: Progress
    ) -> tuple[torch.Tensor, dict[str, Any]]:
        raise NotImplementedError


class ScoreCAM(_Perturbation):
    """Score-CAM (options ``weights``, ``align_corners``)."""

    Options = ScoreOptions

    def perturb(self, request, captured, progress):
        options = self.options
        return score_cam(request, captured, progress, options.weights, options.align_corners)


class AblationCAM(_Perturbation):
    """Ablation-CAM (no options)."""

    def perturb(self, request, captured, progress):
        return ablation_cam(request, captured, progress)


def combine(weights: torch.Tensor, activations: torch.Tensor, eigen_smooth: bool) -> torch.Tensor:
    """Σ_k w_k A^k for (B, K) weights, or the first principal component of the terms w_k A^k
    with ``eigen_smooth`` (pytorch-grad-cam's option)."""
    if eigen_smooth:
        return first_component(weights[:, :, None, None] * activations)
    return torch.einsum("bk,bkhw->bhw", weights, activations)


def distinct_masks(
    activations: torch.Tensor, baseline: bool
) -> tuple[torch.Tensor, torch.Tensor, int | None]:
    """The distinct masks of one image's (K, h, w) activations, as low-resolution maps.

    Returns (U, h, w) representatives and the (K,) index of each channel's representative.
    Constant channels all share the all-zero representative (s(constant) = 0), whose masked
    input X ∘ 0 is the black baseline X_b; with ``baseline`` it is always present and its index
    is returned third (else None).
    """
    flat = activations.flatten(1)
    low, high = torch.aminmax(flat, dim=1)
    flat = torch.where((low == high)[:, None], torch.zeros_like(flat), flat)
    keys = torch.cat([torch.zeros_like(flat[:1]), flat]) if baseline else flat
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    unique = unique.view(-1, *activations.shape[1:])
    return (unique, inverse[1:], int(inverse[0])) if baseline else (unique, inverse, None)


def score_masks(maps: torch.Tensor, size: tuple[int, int], align_corners: bool) -> torch.Tensor:
    """H = s(Up(maps)): (n, h, w) -> (n, 1, H, W) bilinear upsampling, min-max scaled to [0, 1]."""
    up = F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=align_corners)
    low, high = (v.view(-1, 1, 1, 1) for v in torch.aminmax(up.flatten(1), dim=1))
    span = high - low
    return torch.where(span > 0, (up - low) / span.clamp(min=torch.finfo(up.dtype).tiny), 0.0)


def score_cam(
    request: Request,
    captured: Capture,
    progress: Progress,
    weights: str,
    align_corners: bool,
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Score-CAM (Wang et al., CVPR-W 2020) maps (B, h, w) from the captured activations.

    α^c = softmax_k(f^c(X ∘ H_k) − f^c(X_b)) (``weights="softmax"``) or the raw increase of
    confidence (``"cic"``), H_k = s(Up(A^k)); map = Σ_k α^c_k A^k (ReLU in post-processing).
    Every distinct mask of an image is forwarded once, in chunks of ``batch_size`` masked
    images, under ``torch.inference_mode``; the softmax is shift-invariant, so f^c(X_b) is only
    forwarded for ``"cic"``. Returns the maps and the settings.
    """
    model, images, target = request.model, request.images, request.target
    batch_size, output_selector = request.batch_size, request.output_selector
    activations = captured.activations
    size = (images.shape[-2], images.shape[-1])
    per_image = [distinct_masks(a, baseline=weights == "cic") for a in activations]
    maps = torch.cat([masks for masks, _, _ in per_image])
    row_image = torch.cat(
        [torch.full((len(m),), b, dtype=torch.long) for b, (m, _, _) in enumerate(per_image)]
    ).to(images.device)
    offsets = [0]
    for masks, _, _ in per_image:
        offsets.append(offsets[-1] + len(masks))
    # channels each row stands for (the progress bar counts channels, not forwards)
    covered = torch.cat([torch.bincount(inv, minlength=len(m)) for m, inv, _ in per_image])
    row_scores = torch.empty(len(maps), dtype=captured.scores.dtype, device=images.device)
    with torch.inference_mode():
        for start in range(0, len(maps), batch_size):
            rows = slice(start, start + batch_size)
            index = row_image[rows]
            inputs = images[index] * score_masks(maps[rows], size, align_corners).to(images.dtype)
            outputs = select_output(model(inputs), output_selector)
            not_input = torch.zeros(len(index), dtype=torch.bool, device=images.device)
            row_scores[rows] = target.scores(outputs, index, not_input)
            if progress is not None:
                progress(int(covered[rows].sum()))
    scores = torch.stack(
        [
            row_scores[offset + inverse] - (0 if zero is None else row_scores[offset + zero])
            for offset, (_, inverse, zero) in zip(offsets[:-1], per_image, strict=True)
        ]
    )  # the increase of confidence C_k (softmax: up to a constant per image, which cancels)
    alpha = torch.softmax(scores, dim=1) if weights == "softmax" else scores
    raw = combine(alpha.to(activations.dtype), activations, request.eigen_smooth)
    settings = {
        "weights": weights,
        "align_corners": align_corners,
        "baseline": "black",
        "forwards": len(maps),
    }
    return raw, settings


class _SubstituteHook:
    """Replaces the layer's tensor by ``substitute``, given as (N, K, h, w) and put back into
    the layer's layout (extra tokens are kept from the layer's own tensor); one call only."""

    def __init__(self, layer: ResolvedLayer, substitute: torch.Tensor, layout: Layout) -> None:
        self.layer = layer
        self.substitute = substitute
        self.layout = layout
        self.calls = 0

    def __call__(self, value: object) -> torch.Tensor:
        self.calls += 1
        if self.calls > 1:
            raise runs_twice_error(self.layer.name)
        if not isinstance(value, torch.Tensor):
            raise LayerError(f"layer: {self.layer.name!r} output changed type between passes")
        if self.layout.kind == "tokens" and len(value) != len(self.substitute):
            raise LayerError(f"layer: {self.layer.name!r} extra tokens need the full forward")
        replacement = self.layout.from_nchw(self.substitute, value)
        if replacement.shape[1:] != value.shape[1:]:
            raise LayerError(f"layer: {self.layer.name!r} output changed shape between passes")
        return replacement.to(value.dtype)


def _substituted_scores(
    model: nn.Module,
    layer: ResolvedLayer,
    inputs: torch.Tensor,
    substitute: torch.Tensor,
    target: BoundTarget,
    image_index: torch.Tensor,
    output_selector: OutputSelector,
    layout: Layout,
) -> torch.Tensor:
    """Target scores of the network run on ``inputs`` with the layer's output replaced."""
    hook = _SubstituteHook(layer, substitute, layout)
    handle = register_site_hook(layer, hook)
    try:
        with torch.inference_mode():
            outputs = select_output(model(inputs), output_selector)
    finally:
        handle.remove()
    if len(outputs) != len(substitute):
        raise LayerError(
            f"layer: substituting {len(substitute)} rows at {layer.name!r} gave {len(outputs)} "
            "output rows"
        )
    not_input = torch.zeros(len(image_index), dtype=torch.bool, device=image_index.device)
    return target.scores(outputs, image_index, not_input)


def ablation_cam(
    request: Request, captured: Capture, progress: Progress
) -> tuple[torch.Tensor, dict[str, Any]]:
    """Ablation-CAM (Desai & Ramaswamy, WACV 2020) maps (B, h, w) from the captured activations.

    w_k = (y^c − y^c_k) / y^c with y^c_k the score when channel k is zeroed at the layer;
    map = Σ_k w_k A^k (ReLU in post-processing). The B·K ablated copies are run from the layer
    onwards in chunks of ``batch_size`` (see the module docstring). Returns maps and settings.
    """
    model, layer, images, target = request.model, request.layer, request.images, request.target
    batch_size, output_selector = request.batch_size, request.output_selector
    activations, scores = captured.activations, captured.scores.float()
    n_images, channels = activations.shape[:2]
    device = activations.device
    row_image = torch.arange(n_images, device=device).repeat_interleave(channels)
    row_channel = torch.arange(channels, device=device).repeat(n_images)
    # score drops in float32 even for half / bfloat16 models (bfloat16 has 8 mantissa bits)
    ablated = torch.empty(n_images * channels, dtype=torch.float32, device=device)
    after_layer: bool | None = None  # None: not tried yet
    for start in range(0, len(row_image), batch_size):
        rows = slice(start, start + batch_size)
        index, channel = row_image[rows], row_channel[rows]
        copies = activations[index]  # advanced indexing: a copy
        copies[torch.arange(len(index), device=device), channel] = 0
        chunk = None
        if after_layer is None:
            chunk = _try_after_layer(
                model, layer, images, target, captured, copies, index, output_selector
            )
            after_layer = chunk is not None
        if chunk is None:
            inputs = images[:0] if after_layer else images[index]
            chunk = _substituted_scores(
                model, layer, inputs, copies, target, index, output_selector, captured.layout
            )
        ablated[rows] = chunk
        if progress is not None:
            progress(len(index))
    drop = scores[:, None] - ablated.view(n_images, channels)
    safe = torch.where(scores == 0, torch.ones_like(scores), scores)
    weights = torch.where(scores[:, None] == 0, drop, drop / safe[:, None])
    raw = combine(weights, activations.float(), request.eigen_smooth)  # float32 score drops
    return raw, {"ablation": "zero", "forward": "after-layer" if after_layer else "full"}


def _try_after_layer(
    model: nn.Module,
    layer: ResolvedLayer,
    images: torch.Tensor,
    target: BoundTarget,
    captured: Capture,
    copies: torch.Tensor,
    index: torch.Tensor,
    output_selector: OutputSelector,
) -> torch.Tensor | None:
    """Scores of the first chunk run from the layer onwards (empty input batch), or None when
    the network after the layer needs more than the layer's output: the run fails, or an extra
    un-ablated copy does not reproduce the captured score y^c."""
    check = captured.activations[index[:1]]
    try:
        scores = _substituted_scores(
            model,
            layer,
            images[:0],
            torch.cat([copies, check]),
            target,
            torch.cat([index, index[:1]]),
            output_selector,
            captured.layout,
        )
    except TargetError:
        raise
    except Exception:  # the part after the layer needs the input (skip connections, asserts)
        return None
    expected = captured.scores[index[:1]]
    if not torch.allclose(scores[-1:].float(), expected.float(), rtol=1e-4, atol=1e-5):
        return None
    return scores[:-1]

"""FullGrad (Srinivas & Fleuret, "Full-Gradient Representation for Neural Network
Visualization", NeurIPS 2019).

The full-gradient decomposition f(x) = ∇ₓf · x + Σ_l Σ_k (∇_{z_l} f ⊙ b_l)_k (exact for ReLU
networks with biases) gives the saliency map

    S(x) = ψ(|∇ₓf ⊙ x|) + Σ_l Σ_k ψ(|∇_{z_l} f ⊙ b_l|_k),

z_l the output of every layer l with a bias b_l (Conv2d with a bias, and BatchNorm2d, whose
effective bias in eval is β − μ γ / √(σ² + ε) with the running statistics), ψ(·) the
per-channel post-processing: min-max scaling of each (image, channel) map, (t − min) /
(max − min + ε_ψ) with ε_ψ = 1e-7 (pytorch-grad-cam 1.5.7's; the authors' code uses 1e-6),
then bilinear upsampling to the input size. The input term is post-processed per colour
channel too, as the peer does. One forward and one backward to the input (no ``layer``; the
gradients are taken with ``torch.autograd.grad`` at every bias layer's output, through a clone
so that in-place ops after a layer leave its gradient intact).

``eigen_smooth=True`` follows the peer: the 3 + L post-processed terms are downsampled to 1/8
of the input size (after ψ-scaling each again), projected on their first principal component and
upsampled back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from faithcam.cams.eigen import first_component
from faithcam.cams.method import Method, Raw
from faithcam.engine.capture import Rows, capture_batches
from faithcam.engine.request import Request
from faithcam.engine.targets import select_output
from faithcam.errors import FaithcamTypeError, FaithcamValueError, LayerError

PSI_EPS = 1e-7


def bias_layers(model: nn.Module) -> list[tuple[nn.Module, torch.Tensor]]:
    """Every Conv2d / BatchNorm2d (exact types, as the peer) with a bias, and that bias."""
    layers = []
    for module in model.modules():
        if type(module) not in (nn.Conv2d, nn.BatchNorm2d) or module.bias is None:
            continue
        bias = module.bias.detach()
        if isinstance(module, nn.BatchNorm2d):
            if module.running_mean is None or module.running_var is None:
                continue
            scale = module.weight.detach() / torch.sqrt(module.running_var + module.eps)
            bias = bias - module.running_mean * scale
        layers.append((module, bias))
    return layers


def psi(terms: torch.Tensor, eps: float = PSI_EPS) -> torch.Tensor:
    """Per-(image, channel) min-max scaling (t − min) / (max − min + ε) of (B, C, h, w)."""
    flat = terms.flatten(2)
    low = flat.amin(2)[:, :, None, None]
    high = flat.amax(2)[:, :, None, None]
    return (terms - low) / (high - low + eps)


def _upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    return F.interpolate(maps, size=size, mode="bilinear", align_corners=False)


def _gradients(
    request: Request, rows: Rows, layers: list[tuple[nn.Module, torch.Tensor]]
) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
    """(∇ₓf, [∇_{z_l} f], scores) for one chunk, one forward and one backward; z_l is the
    output of ``layers[l]``, whatever order the forward runs the layers in."""
    outputs_z: list[list[torch.Tensor]] = [[] for _ in layers]  # per layer, each call

    def hook_of(position: int):
        def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> torch.Tensor:
            outputs_z[position].append(output)
            return output.clone()  # in-place ops downstream must not rewrite z_l's history

        return hook

    handles = [module.register_forward_hook(hook_of(i)) for i, (module, _) in enumerate(layers)]
    inputs = rows.inputs
    try:
        with torch.enable_grad():
            leaf = inputs.detach().requires_grad_(True)
            outputs = select_output(request.model(leaf), request.output_selector)
            scores = request.target.scores(outputs, rows.image_index, rows.is_input)
            calls = [len(found) for found in outputs_z]
            if any(count != 1 for count in calls):
                raise LayerError(
                    f"method 'fullgrad': {len(layers)} bias layers but {sum(calls)} outputs "
                    "in one forward (a layer runs more than once or not at all)"
                )
            ordered = [found[0] for found in outputs_z]
            grads = torch.autograd.grad(scores.sum(), [leaf, *ordered], allow_unused=True)
    finally:
        for handle in handles:
            handle.remove()
    pairs = zip(grads[1:], ordered, strict=True)
    zero = [torch.zeros_like(z) if g is None else g for g, z in pairs]
    input_grad = torch.zeros_like(inputs) if grads[0] is None else grads[0]
    return input_grad, zero, scores.detach()


@dataclass(frozen=True)
class PsiOptions:
    """ψ's ε in the per-channel min-max scaling (t − min) / (max − min + ε)."""

    eps: float = PSI_EPS

    def __post_init__(self) -> None:
        if isinstance(self.eps, bool) or not isinstance(self.eps, int | float):
            raise FaithcamTypeError(f"eps: expected a number, got {self.eps!r}")


class FullGrad(Method):
    """FullGrad maps at the input resolution (option ``eps``: ψ's ε, default 1e-7)."""

    Options = PsiOptions
    uses_layer = False
    kind = "computed from its own input and bias gradients"

    def check(self, request: Request) -> None:
        if request.layer_spec is not None:
            raise FaithcamValueError(
                "layer: FullGrad uses the biases of every Conv2d / BatchNorm2d; leave layer=None"
            )

    def run(self, request: Request) -> Raw:
        layers = bias_layers(request.model)
        size, eps = tuple(request.images.shape[-2:]), self.options.eps
        maps, scores = [], []
        for rows, (input_grad, grads, chunk_scores) in capture_batches(
            request, run=lambda rows: _gradients(request, rows, layers)
        ):
            terms = [psi((input_grad * rows.inputs).abs(), eps)]
            for (_, bias), grad in zip(layers, grads, strict=True):
                scaled = psi((grad * bias.to(grad.dtype)[None, :, None, None]).abs(), eps)
                terms.append(_upsample(scaled.sum(dim=1, keepdim=True), size))
            if request.eigen_smooth:
                stacked = torch.cat(terms, dim=1)
                small = (max(size[0] // 8, 1), max(size[1] // 8, 1))
                projected = first_component(_upsample(psi(stacked, eps), small))
                maps.append(_upsample(psi(projected[:, None], eps), size)[:, 0])
            else:
                maps.append(sum(t.sum(dim=1) for t in terms))
            scores.append(chunk_scores)
        settings = {"bias_layers": len(layers), "eps": eps}
        raw = torch.cat(maps)
        return Raw(raw, torch.cat(scores), "(all bias layers)", settings, request.target)

"""Independent references for the tests: plain autograd and naive loops, no faithcam code.

Written from the papers' formulas, element by element, so that a test comparing faithcam with
them is not circular.
"""

from __future__ import annotations

import torch
from torch import nn


def reference_gradients(
    model: nn.Module, layer: nn.Module, images: torch.Tensor, classes: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Plain autograd over the whole network: activations A, dy_c/dA, and the model outputs."""
    store: dict[str, torch.Tensor] = {}

    def hook(_module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        output.retain_grad()
        store["a"] = output

    handle = layer.register_forward_hook(hook)
    try:
        with torch.enable_grad():
            outputs = model(images.clone().requires_grad_())
            outputs[torch.arange(len(images)), classes].sum().backward()
    finally:
        handle.remove()
    model.zero_grad(set_to_none=True)
    return store["a"].detach().clone(), store["a"].grad.detach(), outputs.detach()


def naive_map(rule: str, a: torch.Tensor, g: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """One image's (h, w) map before ReLU for a weighting rule, from (K, h, w) A and G, by loops.

    gradcam:   w_k = (1/Z) Σ_ij G_kij
    gradcam++: w_k = Σ_ij α_kij ReLU(G_kij), α = G² / (2G² + Σ_ab A_kab G³ + eps)  (0 where
               G = 0; the paper has eps = 0, pytorch-grad-cam 1e-6)
    xgradcam:  w_k = Σ_ij A_kij G_kij / Σ_ab A_kab
    hirescam:  map_ij = Σ_k G_kij A_kij
    layercam:  map_ij = Σ_k ReLU(G_kij) A_kij
    """
    a = a.double()
    g = g.double()
    k_count, h, w = a.shape
    out = torch.zeros(h, w, dtype=torch.float64)
    for k in range(k_count):
        total = float(a[k].sum())
        if rule in ("hirescam", "layercam"):
            for i in range(h):
                for j in range(w):
                    grad = float(g[k, i, j])
                    if rule == "layercam":
                        grad = max(grad, 0.0)
                    out[i, j] += grad * float(a[k, i, j])
            continue
        weight = 0.0
        for i in range(h):
            for j in range(w):
                grad = float(g[k, i, j])
                if rule == "gradcam":
                    weight += grad / (h * w)
                elif rule == "xgradcam":
                    weight += float(a[k, i, j]) * grad / total if total != 0 else 0.0
                elif rule == "gradcam++":
                    denominator = 2 * grad**2 + total * grad**3 + eps
                    if grad != 0 and denominator != 0:
                        weight += grad**2 / denominator * max(grad, 0.0)
                else:
                    raise ValueError(rule)
        out += weight * a[k]
    return out


def layer_output(model: nn.Module, module: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The output of ``module`` during a plain no-grad forward of ``model`` (a hook of the
    test's own, removed after)."""
    out = []
    handle = module.register_forward_hook(lambda _m, _i, o: out.append(o.detach().clone()))
    try:
        with torch.no_grad():
            model(images)
    finally:
        handle.remove()
    return out[0]

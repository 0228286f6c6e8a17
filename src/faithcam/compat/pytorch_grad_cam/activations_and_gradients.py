"""pytorch-grad-cam's ``ActivationsAndGradients``: hooks that record a list of layers' outputs
and their gradients while the model runs.

Unlike faithcam's own calls, this object keeps its hooks on the model between calls, as the
peer's does: ``release()``, the context manager or garbage collection removes them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn


class ActivationsAndGradients:
    """``obj(x)`` runs ``model(x)``; ``obj.activations`` then holds each target layer's output
    (in forward order) and, after a backward pass, ``obj.gradients`` the gradients of those
    outputs (in the same order). With ``detach`` (default) both are detached CPU copies, passed
    through ``reshape_transform`` when given; without it, the graph tensors themselves."""

    def __init__(
        self,
        model: nn.Module,
        target_layers: Sequence[nn.Module],
        reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None,
        detach: bool = True,
    ) -> None:
        self.model = model
        self.reshape_transform = reshape_transform
        self.detach = detach
        self.activations: list[torch.Tensor] = []
        self.gradients: list[torch.Tensor] = []
        self.handles = [layer.register_forward_hook(self.save) for layer in target_layers]

    def keep(self, tensor: torch.Tensor) -> torch.Tensor:
        if not self.detach:
            return tensor
        if self.reshape_transform is not None:
            tensor = self.reshape_transform(tensor)
        return tensor.detach().cpu()

    def save(self, _module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        self.activations.append(self.keep(output))
        if isinstance(output, torch.Tensor) and output.requires_grad:
            # backward reaches the last layer first: prepend to keep the forward order
            output.register_hook(lambda grad: self.gradients.insert(0, self.keep(grad)))

    def __call__(self, x: torch.Tensor) -> Any:
        self.activations, self.gradients = [], []
        return self.model(x)

    def clear(self) -> None:
        self.activations, self.gradients = [], []

    def release(self) -> None:
        """Forget what was recorded and remove the hooks."""
        self.clear()
        for handle in self.handles:
            handle.remove()
        self.handles = []

    def __enter__(self) -> ActivationsAndGradients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        for handle in getattr(self, "handles", []):
            handle.remove()

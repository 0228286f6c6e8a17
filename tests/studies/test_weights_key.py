"""The weights hash that keys a study's rows names each tensor (issue 25's named survivor)."""

from __future__ import annotations

import torch
from torch import nn

from faithcam.studies.settings import weights_sha256


class Named(nn.Module):
    """Two bias-free 2 × 2 layers under the names ``a`` and ``b`` (state dict ``a.weight``,
    ``b.weight``: sorted in the same order as ``0.weight``, ``1.weight``)."""

    def __init__(self, first: torch.Tensor, second: torch.Tensor) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
        with torch.no_grad():
            self.a.weight.copy_(first)
            self.b.weight.copy_(second)


def sequential(first: torch.Tensor, second: torch.Tensor) -> nn.Sequential:
    model = nn.Sequential(nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[0].weight.copy_(first)
        model[1].weight.copy_(second)
    return model


def test_weights_hash_includes_tensor_names() -> None:
    """Same bytes in the same order under other names: another model, another key."""
    first, second = torch.arange(4.0).view(2, 2), torch.arange(4.0, 8.0).view(2, 2)
    assert weights_sha256(Named(first, second)) != weights_sha256(sequential(first, second))
    assert weights_sha256(Named(first, second)) == weights_sha256(Named(first, second))


def test_weights_hash_changes_when_same_shape_weights_swap() -> None:
    first, second = torch.arange(4.0).view(2, 2), torch.arange(4.0, 8.0).view(2, 2)
    assert weights_sha256(Named(first, second)) != weights_sha256(Named(second, first))

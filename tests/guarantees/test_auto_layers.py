"""The automatic layer on every torchvision classifier family, segmentation-models-pytorch's
Unet (rebuilt: tests/layer_cases.py says why), DeepLabV3, LR-ASPP and Mask R-CNN: it is the
layer the community explains, or returns the very same tensor; window and grid attention
partitions are never maps; a pick that is the model's output warns.

The representative subset runs in the quick suite; the rest is marked slow
(``scripts/auto_layers.py`` prints the whole table)."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

import faithcam
from faithcam.engine.layers import resolve_layer
from faithcam.errors import FaithcamWarning, LayerError
from tests.layer_cases import CASES, plain_fcn, same_map


@pytest.mark.parametrize(
    "case",
    [c if c.fast else pytest.param(c, marks=pytest.mark.slow) for c in CASES if c.community],
    ids=lambda c: c.name,
)
def test_automatic_layer_is_the_communitys(case) -> None:
    model = case.build()
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaithcamWarning)  # no warning for a sensible pick
        picked = resolve_layer(model, None, torch.rand(1, 3, case.size, case.size)).name
    assert same_map(model, picked, case.community, case.size), (picked, case.community)


def test_maxvit_window_and_grid_attention_are_never_maps() -> None:
    case = next(c for c in CASES if c.name == "maxvit_t")
    model = case.build()
    result = faithcam.explain(model, torch.rand(1, 3, 224, 224), "gradcam", 3)
    assert result.layer == "blocks.3" and result.raw_maps.shape == (1, 7, 7)


def test_a_pick_that_is_the_models_output_warns_naming_it() -> None:
    model = plain_fcn()
    with pytest.warns(FaithcamWarning, match=r"automatic layer 'body' returns the model's output"):
        resolve_layer(model, None, torch.rand(1, 3, 32, 32))
    with pytest.warns(FaithcamWarning, match="the model's output itself") as said:  # cached
        resolve_layer(model, None, torch.rand(2, 3, 32, 32))
    assert str(said[0].message).endswith(
        "not the features behind it; pass layer= (a feature map before the output)"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaithcamWarning)
        resolve_layer(model, "body.1", torch.rand(1, 3, 32, 32))  # named by the user: silent


class _WindowsOnly(nn.Module):
    """Attention over (B, windows, tokens, C) partitions and a linear head: no feature map."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 8)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        windows = x.reshape(len(x), 3, 4, 64).permute(0, 2, 3, 1)  # (B, 4 windows, 64, 3)
        return self.fc(self.norm(self.embed(windows)).mean((1, 2)))


def test_a_model_with_only_window_partitions_is_refused() -> None:
    with pytest.raises(LayerError, match="aspect ratio"):
        resolve_layer(_WindowsOnly().eval(), None, torch.rand(1, 3, 16, 16))

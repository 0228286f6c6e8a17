"""A model whose explanations are known by construction, for the evaluate-protocol tests
(``--model tests.cli.protocol_models:colour_model``).

``features`` is an identity 1x1 convolution and a ReLU; the head is global average pooling
and an identity linear layer (a GAP + linear head, as CAM needs), so logit k is the mean of
channel k and Grad-CAM for class k is channel k of the input (after the ReLU): its peak is the
brightest pixel of that colour.
"""

from __future__ import annotations

import torch
from torch import nn

CLASSES = ["red", "green", "blue"]


class ColourModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 3, 1, bias=False), nn.ReLU())
        self.fc = nn.Linear(3, 3)
        with torch.no_grad():
            self.features[0].weight.copy_(torch.eye(3)[:, :, None, None])
            self.fc.weight.copy_(torch.eye(3))
            self.fc.bias.zero_()
        self.class_names = list(CLASSES)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


def colour_model() -> nn.Module:
    return ColourModel().eval()

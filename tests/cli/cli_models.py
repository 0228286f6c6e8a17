"""Model factories for the command-line tests (``--model tests.cli.cli_models:NAME``)."""

from __future__ import annotations

import torch
from torch import nn


def _convs(in_channels: int, out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, out, 3, padding=1)
    )


class Classifier(nn.Module):
    def __init__(self, in_channels: int, classes: int, as_tuple: bool = False) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = _convs(in_channels, 8)
        self.fc = nn.Linear(8, classes)
        self.as_tuple = as_tuple

    def forward(self, x):
        logits = self.fc(self.features(x).mean((2, 3)))
        return (x.mean(), logits) if self.as_tuple else logits


class Segmenter(nn.Module):
    """A tiny FCN: torchvision's {"out": (B, classes, H, W)} convention."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.backbone = _convs(3, 8)
        self.classifier = nn.Conv2d(8, 3, 1)

    def forward(self, x):
        return {"out": self.classifier(torch.relu(self.backbone(x)))}


def grey_binary() -> nn.Module:
    return Classifier(1, 1).eval()


def rgba_tuple() -> nn.Module:
    return Classifier(4, 3, as_tuple=True).eval()


def segmenter() -> nn.Module:
    return Segmenter().eval()


def detector() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, min_size=64, max_size=64,
        box_score_thresh=0.0,
    ).eval()  # fmt: skip

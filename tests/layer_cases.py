"""Model set-ups and the layer the community explains in each, for the automatic-layer checks
(tests/guarantees/test_auto_layers.py) and their table (scripts/auto_layers.py).

Every model is built with random weights from a fixed seed (``weights=None``, and
``weights_backbone=None`` for dense models: nothing is downloaded). ``community`` names the
layers whose output the literature and pytorch-grad-cam's README explain; a pick is right when
its output *is* one of theirs (``VGG``'s ``features`` container returns ``features[-1]``'s
tensor). ``None`` means no layer makes sense and a refusal is expected.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LayerCase:
    name: str
    build: Callable[[], nn.Module]
    size: int  # input side in pixels
    community: tuple[str, ...]  # accepted layers (any of them), or () for a refusal
    source: str  # where the community layer comes from
    fast: bool = False  # in the quick representative subset


def _classifier(name: str) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        torch.manual_seed(0)
        return getattr(torchvision.models, name)(weights=None).eval()

    return build


def _dense(kind: str, name: str, **options) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        import torchvision

        torch.manual_seed(0)
        factory = getattr(getattr(torchvision.models, kind), name)
        return factory(weights=None, weights_backbone=None, **options).eval()

    return build


class ResNetEncoder(nn.Module):
    """segmentation-models-pytorch's ``ResNetEncoder`` (resnet18) rebuilt: torchvision's ResNet
    stages under ``encoder``, a forward that returns every stage's features."""

    def __init__(self) -> None:
        super().__init__()
        import torchvision

        resnet = torchvision.models.resnet18(weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = (
            resnet.conv1, resnet.bn1, resnet.relu, resnet.maxpool,
        )  # fmt: skip
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            resnet.layer1, resnet.layer2, resnet.layer3, resnet.layer4,
        )  # fmt: skip

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        x = self.relu(self.bn1(self.conv1(x)))
        features.append(x)
        x = self.layer1(self.maxpool(x))
        features.append(x)
        for stage in (self.layer2, self.layer3, self.layer4):
            x = stage(x)
            features.append(x)
        return features


class DecoderBlock(nn.Module):
    def __init__(self, channels: int, skip: int, out: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(channels + skip, out, 3, padding=1, bias=False), nn.BatchNorm2d(out),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.conv2 = nn.Sequential(
            nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(True)
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None) -> torch.Tensor:
        x = nn.functional.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        return self.conv2(self.conv1(x))


class UnetLike(nn.Module):
    """segmentation-models-pytorch's ``Unet(encoder_name="resnet18")`` rebuilt module for module
    (``encoder``, ``decoder.blocks``, ``segmentation_head``): the shared venv cannot take smp
    0.6.0, whose dependency timm changes what faithcam's CLI does with bare model names."""

    def __init__(self, classes: int = 2) -> None:
        super().__init__()
        self.encoder = ResNetEncoder()
        widths, skips = (256, 128, 64, 32, 16), (256, 128, 64, 64, 0)
        inputs = (512, *widths[:-1])
        self.decoder = nn.Module()
        self.decoder.blocks = nn.ModuleList(
            DecoderBlock(i, s, o) for i, s, o in zip(inputs, skips, widths, strict=True)
        )
        self.segmentation_head = nn.Sequential(
            nn.Conv2d(16, classes, 3, padding=1), nn.Identity(), nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.encoder(x)[1:][::-1]  # deepest first
        x, skips = features[0], [*features[1:], None]
        for block, skip in zip(self.decoder.blocks, skips, strict=True):
            x = block(x, skip)
        return self.segmentation_head(x)


def unet_like() -> nn.Module:
    torch.manual_seed(0)
    return UnetLike().eval()


class PlainFCN(nn.Module):
    """A fully convolutional segmenter without a backbone or encoder child: its last feature
    map is its output (the automatic layer must say so)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 3, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def plain_fcn() -> nn.Module:
    torch.manual_seed(0)
    return PlainFCN().eval()


PGC = "pytorch-grad-cam README"
CLASSIFIERS = [
    ("alexnet", 224, ("features.12",), PGC + " (VGG: features[-1])"),
    ("convnext_tiny", 64, ("features.7",), "timm / pytorch-grad-cam: stages[-1]"),
    ("densenet121", 64, ("features.norm5",), PGC + " (features[-1])"),
    ("efficientnet_b0", 64, ("features.8",), "features[-1] (pytorch-grad-cam tutorials)"),
    ("efficientnet_v2_s", 64, ("features.7",), "features[-1]"),
    ("googlenet", 64, ("inception5b",), "last Inception block before pooling"),
    ("inception_v3", 160, ("Mixed_7c",), "last Inception block before pooling"),
    ("maxvit_t", 224, ("blocks.3",), "last stage's (B, C, h, w) output"),
    ("mnasnet0_5", 64, ("layers.16",), PGC + " (layers[-1])"),
    ("mobilenet_v2", 64, ("features.18",), "features[-1]"),
    ("mobilenet_v3_small", 64, ("features.12",), "features[-1]"),
    ("regnet_x_400mf", 64, ("trunk_output",), "trunk_output"),
    ("regnet_y_400mf", 64, ("trunk_output",), "trunk_output"),
    ("resnet18", 64, ("layer4", "layer4.1"), PGC + " (layer4[-1])"),
    ("resnext50_32x4d", 64, ("layer4", "layer4.2"), PGC + " (layer4[-1])"),
    ("shufflenet_v2_x0_5", 64, ("conv5",), "last convolution before pooling"),
    ("squeezenet1_1", 64, ("features.12",), "features[-1] (before the class convolution)"),
    ("swin_t", 64, ("features.7.1.norm1",), PGC + " (layers[-1].blocks[-1].norm1)"),
    ("swin_v2_t", 64, ("features.7.1.norm1",), PGC + " (layers[-1].blocks[-1].norm1)"),
    ("vgg11_bn", 64, ("features.28",), PGC + " (features[-1])"),
    ("vit_b_16", 224, ("encoder.layers.encoder_layer_11.ln_1",), PGC + " (blocks[-1].norm1)"),
    ("wide_resnet50_2", 64, ("layer4", "layer4.2"), PGC + " (layer4[-1])"),
]
FAST = {"resnet18", "mobilenet_v3_small", "maxvit_t", "squeezenet1_1", "swin_t", "densenet121"}

CASES: list[LayerCase] = [
    LayerCase(name, _classifier(name), size, community, source, name in FAST)
    for name, size, community, source in CLASSIFIERS
]
CASES += [
    LayerCase(
        "smp Unet (resnet18), rebuilt", unet_like, 64, ("encoder.layer4",),
        "encoder's last stage", fast=True,
    ),
    LayerCase(
        "deeplabv3_resnet50", _dense("segmentation", "deeplabv3_resnet50", num_classes=3), 64,
        ("backbone.layer4",), "pytorch-grad-cam segmentation tutorial (backbone.layer4)",
    ),
    LayerCase(
        "deeplabv3_mobilenet_v3_large",
        _dense("segmentation", "deeplabv3_mobilenet_v3_large", num_classes=3), 64,
        ("backbone.16",), "the backbone's last stage",
    ),
    LayerCase(
        "lraspp_mobilenet_v3_large",
        _dense("segmentation", "lraspp_mobilenet_v3_large", num_classes=3), 64,
        ("backbone.16",), "the backbone's last stage",
    ),
    LayerCase(
        "maskrcnn_resnet50_fpn",
        _dense("detection", "maskrcnn_resnet50_fpn", num_classes=3, min_size=64, max_size=64),
        64, ("backbone.body.layer4",), "the backbone's last stage (outside the FPN)",
    ),
    LayerCase(
        "plain fully convolutional segmenter", plain_fcn, 32, (),
        "its last map is its output: a warning", fast=True,
    ),
]  # fmt: skip


def outputs_of(model: nn.Module, names: list[str], size: int) -> dict[str, torch.Tensor]:
    """The (first tensor) output of each named module for one seeded image."""
    modules = dict(model.named_modules())
    found: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable:
        def hook(_module: nn.Module, _inputs: object, output: object) -> None:
            if isinstance(output, torch.Tensor) and name not in found:
                found[name] = output.detach().clone()

        return hook

    handles = [modules[n].register_forward_hook(keep(n)) for n in names if n in modules]
    try:
        with torch.no_grad():
            model(torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0)))
    finally:
        for handle in handles:
            handle.remove()
    return found


def same_map(model: nn.Module, picked: str, community: tuple[str, ...], size: int) -> bool:
    """Whether ``picked`` is one of ``community`` or returns the very same tensor as one."""
    if picked in community:
        return True
    found = outputs_of(model, [picked, *community], size)
    mine = found.get(picked)
    return mine is not None and any(
        name in found and found[name].shape == mine.shape and torch.equal(found[name], mine)
        for name in community
    )

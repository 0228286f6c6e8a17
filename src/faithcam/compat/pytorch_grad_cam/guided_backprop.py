"""pytorch-grad-cam's ``GuidedBackpropReLUModel`` on :func:`faithcam.cams.guided.guided_backprop`
(temporary hooks on the ``nn.ReLU`` modules; the model is never edited)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from faithcam.cams.guided import guided_backprop
from faithcam.engine.validation import check_images, check_model


class GuidedBackpropReLUModel:
    """``obj(input_img, target_category=None)``: the guided-backpropagation gradient of the
    first image's score for ``target_category`` (None: its top class), (H, W, C) float32."""

    def __init__(self, model: nn.Module, device: str | torch.device | None = None) -> None:
        self.model = check_model(model)
        self.device = torch.device(device) if device is not None else None
        if self.device is not None:
            self.model = self.model.to(self.device)

    def forward(self, input_img: torch.Tensor) -> torch.Tensor:
        return self.model(input_img)

    def __call__(self, input_img: torch.Tensor, target_category: int | None = None) -> np.ndarray:
        images = check_images(input_img)[:1]
        if self.device is not None:
            images = images.to(self.device)
        targets = None if target_category is None else [int(target_category)]
        gradient = guided_backprop(self.model, images, targets)
        return gradient[0].permute(1, 2, 0).detach().float().cpu().numpy()

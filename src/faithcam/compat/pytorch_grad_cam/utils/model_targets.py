"""pytorch-grad-cam's model targets, as tiny faithcam classes with the same names and behaviour.

A target is a callable ``model_output -> score``. The drop-in CAMs call it on the output of one
image at a time (a 1-D logit vector for a classifier), exactly as pytorch-grad-cam does, and
the classes also accept a batch (N, C) of rows.
"""

from __future__ import annotations

import numpy as np
import torch


def _pick(values: torch.Tensor, category: int) -> torch.Tensor:
    return values[category] if values.dim() == 1 else values[:, category]


class ClassifierOutputTarget:
    """Score = the logit of ``category``."""

    def __init__(self, category: int) -> None:
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return _pick(model_output, self.category)


class ClassifierOutputSoftmaxTarget(ClassifierOutputTarget):
    """Score = the softmax probability of ``category`` (over the last dimension)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return _pick(torch.softmax(model_output, dim=-1), self.category)


class ClassifierOutputReST(ClassifierOutputTarget):
    """Score = logit − cross-entropy of ``category`` (Zhang et al., 2025: pre + post softmax)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        rows = model_output if model_output.dim() == 2 else model_output[None]
        labels = torch.full((len(rows),), self.category, device=rows.device)
        loss = torch.nn.functional.cross_entropy(rows, labels, reduction="none")
        score = rows[:, self.category] - loss
        return score if model_output.dim() == 2 else score[0]


class BinaryClassifierOutputTarget:
    """Score = the single output of a binary classifier, negated for ``category`` 0."""

    def __init__(self, category: int) -> None:
        self.category = category

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output if self.category == 1 else -model_output


class SoftmaxOutputTarget:
    """Score = the softmax of the output (for models with one output)."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return torch.softmax(model_output, dim=-1)


class RawScoresOutputTarget:
    """Score = the raw output."""

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        return model_output


class SemanticSegmentationTarget:
    """Score = Σ over the pixels of ``mask`` of the (C, H, W) output of ``category``."""

    def __init__(self, category: int, mask: np.ndarray | torch.Tensor) -> None:
        self.category = category
        self.mask = torch.as_tensor(np.asarray(mask))

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        mask = self.mask.to(model_output.device)
        return (model_output[self.category, :, :] * mask).sum()


class FasterRCNNBoxScoreTarget:
    """Score of a torchvision detector's output dict: for each reference box and label, the
    best-overlapping detection adds IoU + its score when IoU > ``iou_threshold`` and its label
    matches; 0 when nothing matches (pytorch-grad-cam's detection target)."""

    def __init__(self, labels, bounding_boxes, iou_threshold: float = 0.5) -> None:
        self.labels = labels
        self.bounding_boxes = bounding_boxes
        self.iou_threshold = iou_threshold

    def __call__(self, model_outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        boxes = model_outputs["boxes"]
        total = torch.zeros(1, device=boxes.device, dtype=boxes.dtype)
        if len(boxes) == 0:
            return total
        for reference, label in zip(self.bounding_boxes, self.labels, strict=False):
            reference = torch.as_tensor(reference, device=boxes.device, dtype=boxes.dtype)
            ious = box_iou(reference.reshape(1, 4), boxes)[0]
            best = ious.argmax()
            if ious[best] > self.iou_threshold and model_outputs["labels"][best] == label:
                total = total + ious[best] + model_outputs["scores"][best]
        return total


def box_iou(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """(N, M) intersection over union of (x1, y1, x2, y2) boxes."""
    top_left = torch.maximum(first[:, None, :2], second[None, :, :2])
    bottom_right = torch.minimum(first[:, None, 2:], second[None, :, 2:])
    intersection = (bottom_right - top_left).clamp(min=0).prod(-1)
    area = (first[:, 2:] - first[:, :2]).prod(-1)[:, None] + (second[:, 2:] - second[:, :2]).prod(
        -1
    )
    return intersection / (area - intersection)


class FinerWeightedTarget:
    """Finer-CAM's score (Zhang et al., CVPR 2025): Σ_j p_j (y_c − α y_j) / (Σ_j p_j + 1e-9)
    over the ``comparison_categories`` j, p the softmax of the output, c ``main_category``."""

    def __init__(self, main_category: int, comparison_categories, alpha: float) -> None:
        self.main_category = main_category
        self.comparison_categories = list(comparison_categories)
        self.alpha = alpha

    def __call__(self, model_output: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(model_output, dim=-1)
        main = model_output[..., self.main_category]
        numerator = sum(
            probabilities[..., j] * (main - self.alpha * model_output[..., j])
            for j in self.comparison_categories
        )
        denominator = sum(probabilities[..., j] for j in self.comparison_categories)
        return numerator / (denominator + 1e-9)

"""Token grids on non-square inputs, buffers that the forward replaces, and detection targets,
each against a value worked out by hand (issue 25's named survivors)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from faithcam.engine.layouts import LayoutHints, infer_layout
from faithcam.engine.model_state import model_guard
from faithcam.engine.targets import DetectionTarget, box_iou


def test_patch_grid_is_height_by_width_on_non_square_inputs() -> None:
    """An 8 × 16 (H × W) image in 4 × 4 patches is a 2 × 4 grid: token j (after the class
    token) sits at row j // 4, column j % 4."""
    tokens = torch.zeros(1, 1 + 8, 3)
    tokens[0, 1:, 0] = torch.arange(8.0)
    hints = LayoutHints(patch=(4, 4), prefix=1)
    layout = infer_layout(tokens, nn.LayerNorm(3), (8, 16), lambda: hints, "blocks")
    assert layout.grid == (2, 4) and layout.prefix == 1
    grid = layout.to_nchw(tokens)
    assert grid.shape == (1, 3, 2, 4)
    assert grid[0, 0].tolist() == [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]


def test_patch_grid_of_non_square_patches() -> None:
    """An 8 × 12 image in 2 × 4 (h × w) patches: 4 rows of 3 patches."""
    tokens = torch.zeros(1, 12, 3)
    hints = LayoutHints((2, 4), 0)
    layout = infer_layout(tokens, nn.LayerNorm(3), (8, 12), lambda: hints, "blocks")
    assert layout.grid == (4, 3)


def test_patch_grid_takes_up_to_eight_extra_tokens() -> None:
    """A 16 x 16 image in 4 x 4 patches with 8 extra tokens (class, distillation and six
    registers; the model does not say how many): 24 tokens, the last 16 a 4 x 4 grid."""
    tokens = torch.zeros(1, 8 + 16, 3)
    tokens[0, 8:, 0] = torch.arange(16.0)
    hints = LayoutHints(patch=(4, 4), prefix=None)
    layout = infer_layout(tokens, nn.LayerNorm(3), (16, 16), lambda: hints, "blocks")
    assert layout.grid == (4, 4) and layout.prefix == 8
    assert layout.to_nchw(tokens)[0, 0].flatten().tolist() == list(range(16))


class ReplacesItsBuffer(nn.Module):
    """A forward that *replaces* its buffer (``self.seen = self.seen + 1``), not in place."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
        self.register_buffer("seen", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen = self.seen + len(x)
        return self.head(self.features(x))


def test_buffer_replaced_by_the_forward_is_restored() -> None:
    model = ReplacesItsBuffer().eval()
    before = model.seen
    faithcam.explain(model, torch.rand(2, 3, 8, 8), "gradcam", targets=0, layer="features")
    assert model.seen is before and model.seen.item() == 0.0
    with model_guard(model):
        model(torch.rand(3, 3, 8, 8))
        assert model.seen.item() == 3.0  # replaced inside the guard...
    assert model.seen is before and model.seen.item() == 0.0  # ...and re-attached after


def test_box_iou_counts_the_intersection_once() -> None:
    """IoU = |A ∩ B| / (|A| + |B| − |A ∩ B|), by hand: 1 / (4 + 4 − 1), 4 / (4 + 12 − 4),
    4 / (16 + 4 − 4), 12 / (16 + 12 − 12); disjoint boxes 0; a box with itself 1."""
    a = torch.tensor([[0.0, 0, 2, 2], [0, 0, 4, 4]])
    b = torch.tensor([[1.0, 1, 3, 3], [0, 0, 4, 3], [5, 5, 6, 6]])
    expected = torch.tensor([[1 / 7, 4 / 12, 0.0], [4 / 16, 12 / 16, 0.0]])
    torch.testing.assert_close(box_iou(a, b), expected)
    torch.testing.assert_close(box_iou(a, a).diagonal(), torch.ones(2))


def detections(boxes, labels, scores) -> list[dict[str, torch.Tensor]]:
    return [{"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
             "scores": torch.tensor(scores)}]  # fmt: skip


def score(target: DetectionTarget, outputs) -> float:
    bound = target.bind(1, torch.device("cpu"))
    return float(bound.scores(outputs, torch.zeros(1, dtype=torch.long), torch.ones(1).bool()))


def test_detection_target_ignores_detections_of_other_labels() -> None:
    """Box (0, 0, 4, 4) of label 1. A label-2 detection on the very box counts for nothing;
    the label-1 detection (0, 0, 4, 3) has IoU 12/16 = 0.75 and score 0.5: 0.75 + 0.5."""
    target = DetectionTarget([[0.0, 0, 4, 4]], [1])
    assert score(target, detections([[0, 0, 4, 4]], [2], [0.9])) == 0.0
    both = detections([[0, 0, 4, 4], [0, 0, 4, 3]], [2, 1], [0.9, 0.5])
    assert score(target, both) == pytest.approx(0.75 + 0.5)
    assert score(DetectionTarget([[0.0, 0, 4, 4]], [1], with_iou=False), both) == pytest.approx(0.5)


def test_detection_target_threshold_uses_the_true_iou() -> None:
    """IoU 12/16 = 0.75 passes a 0.7 threshold (a union that counts the intersection twice
    would give 12/28 ≈ 0.43); IoU 1/7 does not pass 0.5."""
    target = DetectionTarget([[0.0, 0, 4, 4]], [1], iou_threshold=0.7)
    assert score(target, detections([[0, 0, 4, 3]], [1], [0.5])) == pytest.approx(1.25)
    target = DetectionTarget([[0.0, 0, 2, 2]], [1])
    assert score(target, detections([[1, 1, 3, 3]], [1], [0.5])) == 0.0


class OneBoxDetector(nn.Module):
    """Detects one box (0, 0, 4, 4) of label 1 per image, scored by its features' mean."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> list[dict[str, torch.Tensor]]:
        energy = self.features(x).mean(dim=(1, 2, 3))
        box = torch.tensor([[0.0, 0.0, 4.0, 4.0]])
        return [{"boxes": box, "labels": torch.tensor([1]), "scores": energy[i : i + 1]}
                for i in range(len(x))]  # fmt: skip


def test_a_detection_target_that_matches_nothing_says_what_the_model_found() -> None:
    """A target of label 2 where the detector finds only label 1: no score depends on the
    model, so the call is refused, naming the image, the target's label and what was found."""
    target = DetectionTarget([[0.0, 0, 4, 4]], [2])
    with pytest.raises(faithcam.errors.TargetError) as refused:
        faithcam.explain(OneBoxDetector().eval(), torch.rand(1, 3, 8, 8), "gradcam", target,
                         layer="features")  # fmt: skip
    message = str(refused.value)
    assert message.startswith("targets: nothing to explain: image 0: ")
    assert "label [2]" in message and "labels 1" in message

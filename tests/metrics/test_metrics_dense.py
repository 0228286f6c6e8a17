"""Dense targets in the metrics: deletion, insertion, Average Drop, Increase in Confidence, ROAD
and completeness score a ``SegmentationTarget`` (the class logit summed over a mask) on a
torchvision FCN and a ``DetectionTarget`` (matched box score + IoU) on a Faster R-CNN, both with
seeded random weights. Each is checked against a naive loop: one perturbed image at a time,
built from an explicit sort of the map and scored by hand (torchvision's ``box_iou`` for the
matching). pytorch-grad-cam's target objects (the drop-in's, and the peer's when installed)
score the same."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.compat.pytorch_grad_cam.utils.model_targets import SemanticSegmentationTarget
from faithcam.errors import TargetError
from faithcam.metrics import (
    METRICS,
    average_drop,
    completeness,
    deletion,
    increase_in_confidence,
    insertion,
    max_sensitivity,
    road,
)
from faithcam.metrics.road import noisy_linear_imputation
from tests.metrics.metric_models import seeded
from tests.metrics.test_metrics_targets import MODEL_METRICS, call

SEG_SIZE, DET_SIZE = 32, 64


@cache
def fcn() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=3
    ).eval()


@cache
def detector() -> nn.Module:
    import torchvision

    torch.manual_seed(0)
    return torchvision.models.detection.fasterrcnn_resnet50_fpn(
        weights=None, weights_backbone=None, num_classes=3, min_size=DET_SIZE,
        max_size=DET_SIZE, box_score_thresh=0.0,
    ).eval()  # fmt: skip


def seg_case() -> tuple[torch.Tensor, torch.Tensor, list[int], torch.Tensor]:
    """Two images, their maps, one class each and a (2, H, W) boolean mask per image."""
    images = seeded(2, 3, SEG_SIZE, SEG_SIZE, seed=1) * 2 - 1
    maps = seeded(2, SEG_SIZE, SEG_SIZE, seed=2)
    masks = seeded(2, SEG_SIZE, SEG_SIZE, seed=3) > 0.6
    return images, maps, [1, 2], masks


def seg_score(x: torch.Tensor, class_id: int, mask: torch.Tensor) -> float:
    """Σ over the mask of the class's logit map, of one image (C, H, W)."""
    with torch.no_grad():
        out = fcn()(x[None])["out"][0, class_id]
    return float(out[mask].double().sum())


def det_case() -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
    """Two images, their maps, and per image the boxes and labels of its two top detections."""
    images = seeded(2, 3, DET_SIZE, DET_SIZE, seed=4)
    maps = seeded(2, DET_SIZE, DET_SIZE, seed=5)
    with torch.no_grad():
        found = detector()(images)
    return images, maps, [d["boxes"][:2] for d in found], [d["labels"][:2] for d in found]


def det_score(x: torch.Tensor, boxes: torch.Tensor, labels: torch.Tensor) -> float:
    """For each (box, label): the detection of that label with the largest IoU, if IoU > 0.5,
    adds its score + IoU (pytorch-grad-cam's FasterRCNNBoxScoreTarget)."""
    from torchvision.ops import box_iou

    with torch.no_grad():
        out = detector()(x[None])[0]
    total = 0.0
    for box, label in zip(boxes, labels, strict=True):
        same = out["labels"] == label
        if not same.any():
            continue
        iou = box_iou(box[None], out["boxes"][same])[0]
        if iou.max() > 0.5:
            total += float(out["scores"][same][iou.argmax()]) + float(iou.max())
    return total


def naive_curve(score, image: torch.Tensor, start, end, saliency: torch.Tensor, steps: int):
    """Scores of ``start`` with its k most salient pixels taken from ``end``, one image at a time
    (k = 0, p, 2p, ..., H·W with p = ceil(H·W / steps)), and their trapezoidal area."""
    c, h, w = image.shape
    order = torch.argsort(saliency.flatten(), descending=True)
    per_step = -(-h * w // steps)
    counts = [min(k * per_step, h * w) for k in range(steps + 1)]
    curve = []
    for k in counts:
        x = start.clone().view(c, -1)
        x[:, order[:k]] = end.reshape(c, -1)[:, order[:k]]
        curve.append(score(x.view(c, h, w)))
    return np.array(curve), np.trapezoid(curve, np.array(counts) / (h * w))


@pytest.mark.parametrize("name", ["deletion", "insertion"])
def test_segmentation_deletion_and_insertion_match_a_naive_loop(name: str) -> None:
    images, maps, classes, masks = seg_case()
    substrate = seeded(2, 3, SEG_SIZE, SEG_SIZE, seed=6)  # a tensor substrate, per image
    metric = {"deletion": deletion, "insertion": insertion}[name]
    target = faithcam.SegmentationTarget(classes, masks)
    result = metric(fcn(), images, maps, target, curve_steps=4, substrate=substrate)
    for i in range(2):
        start, end = (images[i], substrate[i]) if name == "deletion" else (substrate[i], images[i])
        curve, auc = naive_curve(
            lambda x, i=i: seg_score(x, classes[i], masks[i]), images[i], start, end, maps[i], 4
        )
        np.testing.assert_allclose(result.details["curves"][i].numpy(), curve, rtol=1e-4)
        np.testing.assert_allclose(float(result.values[i]), auc, rtol=1e-4)
    assert result.bounds is None and result.details["targets"] is None  # logits: unbounded


def test_detection_deletion_matches_a_naive_loop() -> None:
    """(Insertion runs the same curve with start and end swapped: tested on the FCN.)"""
    images, maps, boxes, labels = det_case()
    target = faithcam.DetectionTarget(boxes, labels)
    result = deletion(detector(), images, maps, target, curve_steps=3)
    black = torch.zeros_like(images[0])
    for i in range(2):
        curve, auc = naive_curve(
            lambda x, i=i: det_score(x, boxes[i], labels[i]), images[i], images[i], black,
            maps[i], 3,
        )  # fmt: skip
        np.testing.assert_allclose(result.details["curves"][i].numpy(), curve, rtol=1e-4)
        np.testing.assert_allclose(float(result.values[i]), auc, rtol=1e-4)
        assert curve[0] > 2  # the clean image: both boxes found with IoU 1


def masked_scores(score, images: torch.Tensor, maps: torch.Tensor) -> tuple[list, list]:
    """Y (the image's score) and O (the score of x ⊙ M, M the map min-max scaled), per image."""
    full, masked = [], []
    for i, (x, m) in enumerate(zip(images, maps, strict=True)):
        scaled = (m - m.min()) / (m.max() - m.min())
        full.append(score(i, x))
        masked.append(score(i, x * scaled))
    return full, masked


def check_confidence_metrics(model, images, maps, target, score) -> None:
    """Average Drop 100 · max(0, Y − O) / Y and Increase in Confidence 100 · [O > Y] from Y, O
    computed by hand (``score(i, x)``: image i's target score of x)."""
    full, masked = masked_scores(score, images, maps)
    y, o = np.array(full), np.array(masked)
    dropped = average_drop(model, images, maps, target)
    np.testing.assert_allclose(dropped.details["full"].numpy(), y, rtol=1e-4)
    np.testing.assert_allclose(dropped.details["masked"].numpy(), o, rtol=1e-4)
    drop = 100 * np.maximum(y - o, 0) / y
    np.testing.assert_allclose(dropped.values.numpy(), drop, rtol=1e-4, atol=1e-6)
    raised = increase_in_confidence(model, images, maps, target)
    np.testing.assert_array_equal(raised.values.numpy(), 100.0 * (o > y))


def test_segmentation_confidence_metrics_match_y_and_o_by_hand() -> None:
    images, maps, classes, masks = seg_case()
    target = faithcam.SegmentationTarget(classes, masks)
    score = lambda i, x: seg_score(x, classes[i], masks[i])  # noqa: E731
    check_confidence_metrics(fcn(), images, maps, target, score)


def test_detection_confidence_metrics_match_y_and_o_by_hand() -> None:
    images, maps, boxes, labels = det_case()
    target = faithcam.DetectionTarget(boxes, labels)
    score = lambda i, x: det_score(x, boxes[i], labels[i])  # noqa: E731
    check_confidence_metrics(detector(), images, maps, target, score)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_segmentation_road_scores_each_imputed_image_as_by_hand(order: str) -> None:
    images, maps, classes, masks = seg_case()
    target = faithcam.SegmentationTarget(classes, masks)
    percentages = [25, 75]
    result = road(fcn(), images, maps, target, order=order, percentages=percentages,
                  generator=torch.Generator().manual_seed(7))  # fmt: skip
    generator = torch.Generator().manual_seed(7)  # the same draws, in the same order
    h, w = images.shape[-2:]
    for i in range(2):
        saliency = maps[i].flatten() * (1 if order == "morf" else -1)
        order_i = torch.argsort(saliency, descending=True)
        curve = []
        for p in percentages:
            removed = torch.zeros(h * w, dtype=torch.bool)
            removed[order_i[: int(h * w * p / 100)]] = True
            imputed = noisy_linear_imputation(
                images[i], removed.view(h, w), noise=0.01, generator=generator
            )
            curve.append(seg_score(imputed, classes[i], masks[i]))
        np.testing.assert_allclose(result.details["curves"][i].numpy(), curve, rtol=1e-4)
        np.testing.assert_allclose(float(result.values[i]), np.mean(curve), rtol=1e-4)


def test_completeness_of_a_segmentation_target_compares_with_black() -> None:
    images, _, classes, masks = seg_case()
    raw_maps = seeded(2, 4, 4, seed=8)
    result = completeness(fcn(), images, raw_maps, faithcam.SegmentationTarget(classes, masks))
    black = torch.zeros_like(images[0])
    full = [seg_score(images[i], classes[i], masks[i]) for i in range(2)]
    base = [seg_score(black, classes[i], masks[i]) for i in range(2)]
    difference = np.array(full) - np.array(base)
    sums = raw_maps.double().sum(dim=(1, 2)).numpy()
    np.testing.assert_allclose(result.details["score"].numpy(), full, rtol=1e-4)
    np.testing.assert_allclose(result.details["baseline_score"].numpy(), base, rtol=1e-4)
    np.testing.assert_allclose(
        result.values.numpy(), np.abs(sums - difference) / np.abs(difference), rtol=1e-4
    )


def test_the_drop_in_segmentation_targets_score_as_the_native_target() -> None:
    images, maps, classes, masks = seg_case()
    native = deletion(fcn(), images, maps, faithcam.SegmentationTarget(classes, masks),
                      curve_steps=2)  # fmt: skip
    pairs = zip(classes, masks, strict=True)
    targets = [SemanticSegmentationTarget(c, m.numpy()) for c, m in pairs]
    as_drop_in = deletion(fcn(), images, maps, targets, curve_steps=2)
    torch.testing.assert_close(as_drop_in.details["curves"], native.details["curves"])


def test_the_peers_target_objects_score_as_the_native_targets() -> None:
    peer = pytest.importorskip("pytorch_grad_cam.utils.model_targets")
    images, maps, classes, masks = seg_case()
    native = average_drop(fcn(), images, maps, faithcam.SegmentationTarget(classes, masks))
    pairs = zip(classes, masks, strict=True)
    targets = [peer.SemanticSegmentationTarget(c, m.numpy()) for c, m in pairs]
    as_peer = average_drop(fcn(), images, maps, targets)
    torch.testing.assert_close(as_peer.details["masked"], native.details["masked"])
    images, maps, boxes, labels = det_case()
    native = average_drop(detector(), images, maps, faithcam.DetectionTarget(boxes, labels))
    targets = [
        peer.FasterRCNNBoxScoreTarget(labels=label, bounding_boxes=box)
        for box, label in zip(boxes, labels, strict=True)
    ]
    as_peer = average_drop(detector(), images, maps, targets)
    torch.testing.assert_close(as_peer.details["full"], native.details["full"])
    torch.testing.assert_close(as_peer.details["masked"], native.details["masked"])


def test_one_drop_in_target_object_scores_every_image() -> None:
    """A single pytorch-grad-cam-style target (not in a list) is called per image, as the
    peer's own objects: never on the whole (N, classes, H, W) batch."""
    model, images = TinySegmenter().eval(), seeded(3, 3, 8, 8, seed=1)
    maps, mask = seeded(3, 8, 8, seed=2), seeded(8, 8, seed=3) > 0.5
    native = deletion(model, images, maps, faithcam.SegmentationTarget(2, mask), curve_steps=2)
    one = deletion(model, images, maps, SemanticSegmentationTarget(2, mask), curve_steps=2)
    torch.testing.assert_close(one.details["curves"], native.details["curves"])


class TinySegmenter(nn.Module):
    """conv 3 -> 3 classes, returning ``{"out": (N, 3, H, W)}`` as torchvision's segmenters."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.conv(x)}


def test_explain_functions_get_the_dense_target_of_their_rows() -> None:
    model, images = TinySegmenter().eval(), seeded(3, 3, 8, 8, seed=1)
    masks = seeded(3, 8, 8, seed=2) > 0.5
    seen = []

    def explain_fn(batch: torch.Tensor, targets) -> torch.Tensor:
        seen.append(targets)
        return batch.mean(1)

    classes = [0, 2, 1]  # distinct: a class id names its image
    target = faithcam.SegmentationTarget(classes, masks)
    max_sensitivity(model, images, None, target, explain_fn, samples=2, seed=0, batch_size=2)
    assert all(isinstance(t, faithcam.SegmentationTarget) for t in seen)
    assert max(len(t.class_ids) for t in seen) == 2  # split into chunks of batch_size
    rows = [[classes.index(c) for c in t.class_ids.tolist()] for t in seen]
    assert sorted(r for row in rows for r in row) == [0, 0, 0, 1, 1, 1, 2, 2, 2]  # 1 + 2 each
    for t, row in zip(seen, rows, strict=True):
        torch.testing.assert_close(t.mask, masks[row])


def test_explain_functions_get_the_detection_target_of_their_rows() -> None:
    model, images = TinySegmenter().eval(), seeded(3, 3, 8, 8, seed=1)
    boxes = [torch.tensor([[i, 0.0, 4 + i, 4]]) for i in range(3)]  # x1 = the image's index
    labels = [[1], [2], [1]]
    seen = []

    def explain_fn(batch: torch.Tensor, targets) -> torch.Tensor:
        seen.append(targets)
        return batch.mean(1)

    target = faithcam.DetectionTarget(boxes, labels, iou_threshold=0.3, with_iou=False)
    max_sensitivity(model, images, None, target, explain_fn, samples=1, seed=0, batch_size=2)
    assert all(isinstance(t, faithcam.DetectionTarget) for t in seen)
    assert all(t.iou_threshold == 0.3 and t.with_iou is False for t in seen)
    for t in seen:
        rows = [int(box[0, 0]) for box in t.boxes]
        assert [label.tolist() for label in t.labels] == [labels[r] for r in rows]
    assert sorted(int(box[0, 0]) for t in seen for box in t.boxes) == [0, 0, 1, 1, 2, 2]


def test_a_segmentation_target_without_a_class_is_refused() -> None:
    model, images = TinySegmenter().eval(), seeded(2, 3, 8, 8, seed=1)
    with pytest.raises(TargetError, match=r"^targets: SegmentationTarget needs class ids"):
        deletion(model, images, seeded(2, 8, 8, seed=2), faithcam.SegmentationTarget(None))
    with pytest.raises(TargetError, match=r"^mask: shape \(4, 4\) differs"):
        deletion(model, images, seeded(2, 8, 8, seed=2),
                 faithcam.SegmentationTarget(1, torch.ones(4, 4)))  # fmt: skip


WITHOUT_EXPLAIN_MODEL = [m for m in MODEL_METRICS if METRICS[m].explains != "model"]


@pytest.mark.parametrize("name", WITHOUT_EXPLAIN_MODEL)  # explain_model needs a Sequential
def test_every_metric_scores_a_segmentation_target_as_the_same_callable(name: str) -> None:
    """The masked class-logit sum written out as a callable on the (N, classes, H, W) maps
    gives every metric the same values as the SegmentationTarget."""
    model, images = TinySegmenter().eval(), seeded(3, 3, 8, 8, seed=1)
    maps, mask = seeded(3, 8, 8, seed=2), seeded(8, 8, seed=3) > 0.5
    dense = call(name, model, images, maps, faithcam.SegmentationTarget(1, mask))
    by_hand = faithcam.CallableTarget(lambda out: (out[:, 1] * mask).sum(dim=(1, 2)))
    written = call(name, model, images, maps, by_hand)
    torch.testing.assert_close(dense.values, written.values, equal_nan=True)
    assert dense.bounds == written.bounds

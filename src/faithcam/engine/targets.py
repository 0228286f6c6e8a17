"""What score is explained: class logits or probabilities (softmax, sigmoid), several classes
per image, a class over a segmentation mask, matched detections, or any callable.

A target turns the model outputs of a chunk of sample rows into one score per row. Estimators
expand each image into several sample rows (path points, noisy copies), so every row carries the
index of the image it belongs to; a class target looks up that image's class.

``None`` as a class means *the predicted class*: the arg-max of the model output on the image
itself, resolved from the first row that is the unmodified input
(see :mod:`faithcam.engine.capture`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError, TargetError

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
OutputSelector = Callable[[Any], torch.Tensor] | str | int | None
PENDING = -1  # class id of an image whose predicted class is not known yet


class Target:
    """Base class: scores of the sample rows of one chunk."""

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        """Attach the target to a batch of ``n_images`` images."""
        raise NotImplementedError


SCORES = ("logit", "probability", "sigmoid")


def class_scores(outputs: torch.Tensor, classes: torch.Tensor, score: str) -> torch.Tensor:
    """Score of class ``classes[i]`` in row i of (N, K) ``outputs``.

    ``score``: the logit; the softmax probability (``"probability"``); or the sigmoid of the
    logit (``"sigmoid"``, multi-label models). A single-output model (K = 1) has no softmax: its
    probability is σ(z) (a softmax of one value would be constant 1).
    """
    if score == "sigmoid" or (score == "probability" and outputs.shape[-1] == 1):
        outputs = torch.sigmoid(outputs)
    elif score == "probability":
        outputs = torch.softmax(outputs, dim=-1)
    return outputs.gather(1, classes[:, None]).squeeze(1)


def _class_range_error(classes: torch.Tensor, n_outputs: int) -> TargetError:
    """The error for class ids that do not index the model's outputs (some ``classes`` are
    ``>= n_outputs``: the caller checks, which is cheap)."""
    bad = int(classes[classes >= n_outputs][0])
    return TargetError(
        f"targets: class id {bad} is out of range for a model with {n_outputs} outputs "
        f"(valid: 0..{n_outputs - 1})"
    )


class ClassLogit(Target):
    """Score = the pre-softmax output (logit) of a class; ``None`` = predicted class.

    ``class_ids`` is one int for every image, or one int per image.
    """

    score = "logit"

    def __init__(self, class_ids: int | Sequence[int] | torch.Tensor | None = None) -> None:
        self.class_ids = class_ids

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        return BoundClassTarget(_class_tensor(self.class_ids, n_images, device), self.score)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_ids!r})"


class ClassProbability(ClassLogit):
    """Score = softmax probability of a class (over the last output dimension); on a
    single-output model the sigmoid σ(z)."""

    score = "probability"


class SigmoidProbability(ClassLogit):
    """Score = σ(z_c), the sigmoid of a class logit: multi-label and single-logit models."""

    score = "sigmoid"


class MultiLabel(Target):
    """Score = Σ_{c ∈ C_i} s(z)_c: several classes per image, summed.

    ``classes`` is one list of class ids for every image, or one list per image; ``score`` is
    ``"logit"``, ``"sigmoid"`` (multi-label models) or ``"probability"`` (softmax).
    """

    def __init__(self, classes: Sequence[int] | Sequence[Sequence[int]], score: str = "logit"):
        if score not in SCORES:
            raise FaithcamValueError(f"score: expected one of {', '.join(SCORES)}, got {score!r}")
        self.classes = classes
        self.score = score

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        items = list(_as_list(self.classes, "targets"))
        per_image = items and all(_is_sequence(item) for item in items)
        lists = [list(item) for item in items] if per_image else [items] * n_images
        if len(lists) != n_images:
            raise TargetError(f"targets: got {len(lists)} class lists for {n_images} images")
        rows = [_class_tensor(ids, len(ids), device) if ids else None for ids in lists]
        if any(row is None for row in rows):
            raise TargetError("targets: every image needs at least one class id")
        return BoundMultiLabel(rows, self.score)

    def __repr__(self) -> str:
        return f"MultiLabel({self.classes!r}, score={self.score!r})"


class SegmentationTarget(Target):
    """Score = Σ_{(i, j) ∈ mask} z_c(i, j): the class logit summed over a pixel mask, for
    (N, classes, H, W) semantic-segmentation outputs (pytorch-grad-cam's
    SemanticSegmentationTarget).

    ``class_ids``: one int, or one per image. ``mask``: (H, W) for every image or (B, H, W),
    boolean or weights, a tensor or NumPy array; None = every pixel.
    """

    def __init__(self, class_ids: int | Sequence[int] | torch.Tensor, mask: Any = None) -> None:
        self.class_ids = class_ids
        self.mask = mask

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        if self.class_ids is None:  # no "predicted class" of a whole map: refuse, never guess
            raise TargetError(
                "targets: SegmentationTarget needs class ids (an int or one per image), got None"
            )
        classes = _class_tensor(self.class_ids, n_images, device)
        mask = None
        if self.mask is not None:
            mask = _as_tensor(self.mask)
            if mask.dim() == 2:
                mask = mask.expand(n_images, *mask.shape)
            if mask.dim() != 3 or len(mask) != n_images:
                raise TargetError(
                    f"mask: expected (H, W) or ({n_images}, H, W), got {tuple(mask.shape)}"
                )
            mask = mask.to(device)
        return BoundSegmentationTarget(classes, mask)

    def __repr__(self) -> str:
        return f"SegmentationTarget({self.class_ids!r}, mask={self.mask is not None})"


class DetectionTarget(Target):
    """Score of detections that match given boxes: for each (box b, label l), the detection of
    label l with the highest IoU with b, if IoU > ``iou_threshold``, adds IoU + its score (as
    pytorch-grad-cam's FasterRCNNBoxScoreTarget; ``with_iou=False``: its score only).

    The model output is a list of per-image dicts with ``boxes`` (x1, y1, x2, y2), ``labels``
    and ``scores`` (torchvision detectors). ``boxes``/``labels`` are shared by every image or
    given one set per image (a list of (k, 4) boxes and a list of k labels).
    """

    def __init__(
        self,
        boxes: Any,
        labels: Any,
        iou_threshold: float = 0.5,
        with_iou: bool = True,
    ) -> None:
        self.boxes = boxes
        self.labels = labels
        self.iou_threshold = float(iou_threshold)
        self.with_iou = bool(with_iou)

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        if _numeric_ndim(self.boxes) == 2:  # one set of boxes for every image
            boxes, labels = [self.boxes] * n_images, [self.labels] * n_images
        else:
            boxes, labels = _as_list(self.boxes, "boxes"), _as_list(self.labels, "labels")
        if len(boxes) != n_images or len(labels) != n_images:
            raise TargetError(
                f"targets: got {len(boxes)} box sets and {len(labels)} label sets for "
                f"{n_images} images"
            )
        pairs = []
        for box_set, label_set in zip(boxes, labels, strict=True):
            box = _as_tensor(box_set).float().reshape(-1, 4)
            label = _as_tensor(label_set).reshape(-1).long()
            if len(box) != len(label):
                raise TargetError(f"targets: {len(box)} boxes but {len(label)} labels")
            pairs.append((box.to(device), label.to(device)))
        return BoundDetectionTarget(pairs, self.iou_threshold, self.with_iou)


# pytorch-grad-cam's target objects, and the drop-in's, score one image's output per call
PER_IMAGE_TARGET_MODULES = ("pytorch_grad_cam", "faithcam.compat.pytorch_grad_cam")


class CallableTarget(Target):
    """Score = ``fn(outputs)``, a (N,) tensor for the N rows of a chunk.

    With a list of callables, callable i scores image i and is called with *one* row's output
    at a time (an (K,) logit vector, a (K, H, W) segmentation map or a detection dict), and
    returns one score: pytorch-grad-cam's target objects work unchanged. One such object
    alone (the peer's or the drop-in's, :data:`PER_IMAGE_TARGET_MODULES`) is also called once
    per image.
    """

    def __init__(self, fn: ScoreFn | Sequence[ScoreFn]) -> None:
        self.fns = fn

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        if callable(self.fns):
            per_row = type(self.fns).__module__.startswith(PER_IMAGE_TARGET_MODULES)
            return BoundCallableTarget([self.fns] * n_images, shared=not per_row)
        fns = list(self.fns)
        if len(fns) != n_images:
            raise TargetError(f"targets: got {len(fns)} callables for {n_images} images")
        return BoundCallableTarget(fns, shared=False)


class BoundTarget:
    """A target bound to one batch of images."""

    class_ids: torch.Tensor | None = None
    scored = True  # False: the scores are NaN placeholders (a class-agnostic method's)

    def scores(self, outputs: Any, image_index: torch.Tensor, is_input: torch.Tensor) -> Any:
        raise NotImplementedError

    @property
    def needs_prediction(self) -> bool:
        return False

    def constant_reason(self, image: int) -> str | None:
        """Why image ``image``'s score cannot depend on the model (an empty mask, no matching
        detection), once its rows were scored; None when the target knows no reason."""
        return None


class BoundNoScore(BoundTarget):
    """The predicted-class target of a class-agnostic method (EigenCAM, KPCA-CAM, RandomCAM),
    which needs no score: (N, classes) outputs are scored as usual; any other output (a
    segmentation map, detections) gives no class and NaN scores instead of an error."""

    def __init__(self, inner: BoundClassTarget) -> None:
        self.inner = inner
        self.class_ids = inner.class_ids

    def scores(self, outputs: Any, image_index: torch.Tensor, is_input: torch.Tensor) -> Any:
        if isinstance(outputs, torch.Tensor) and outputs.dim() == 2:
            return self.inner.scores(outputs, image_index, is_input)
        self.class_ids, self.scored = None, False
        return torch.full((len(image_index),), math.nan, device=image_index.device)


def class_agnostic(target: BoundTarget) -> BoundTarget:
    """``target`` for a method that does not use it: the predicted class (``targets=None``)
    becomes :class:`BoundNoScore`; a target the user gave is kept (and checked)."""
    if isinstance(target, BoundClassTarget) and bool((target.class_ids == PENDING).all()):
        return BoundNoScore(target)
    return target


def _not_dense(outputs: Any, what: str) -> TargetError:
    """The error for model outputs that are not a tensor of the dimensions a target needs."""
    got = tuple(outputs.shape) if isinstance(outputs, torch.Tensor) else type(outputs).__name__
    return TargetError(f"targets: {what}, got {got}; pass an output_selector or a callable")


class BoundClassTarget(BoundTarget):
    def __init__(self, class_ids: torch.Tensor, score: str) -> None:
        self.class_ids = class_ids
        self.score = score

    @property
    def needs_prediction(self) -> bool:
        return bool((self.class_ids == PENDING).any())

    def resolve_predictions(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> None:
        """Set the class of pending images from rows that are the unmodified input."""
        rows = is_input & (self.class_ids[image_index] == PENDING)
        if rows.any():
            self.class_ids[image_index[rows]] = outputs[rows].argmax(dim=-1)

    def scores(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> torch.Tensor:
        if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
            raise _not_dense(outputs, "class targets need (N, classes) model outputs")
        self.resolve_predictions(outputs.detach(), image_index, is_input)
        classes = self.class_ids[image_index]
        if (classes == PENDING).any():
            raise TargetError("targets: predicted class requested before the image was scored")
        if (classes >= outputs.shape[-1]).any():
            raise _class_range_error(classes, outputs.shape[-1])
        return class_scores(outputs, classes, self.score)


class BoundMultiLabel(BoundTarget):
    def __init__(self, classes: list[torch.Tensor], score: str) -> None:
        self.classes = classes
        self.score = score

    def scores(self, outputs, image_index, is_input):
        if not isinstance(outputs, torch.Tensor) or outputs.dim() != 2:
            raise _not_dense(outputs, "multi-label targets need (N, classes) model outputs")
        counts = torch.tensor([len(c) for c in self.classes], device=image_index.device)
        row_ids = torch.arange(len(image_index), device=image_index.device)
        rows = torch.repeat_interleave(row_ids, counts[image_index])
        classes = torch.cat([self.classes[i] for i in image_index.tolist()])
        if (classes >= outputs.shape[-1]).any():
            raise _class_range_error(classes, outputs.shape[-1])
        values = class_scores(outputs[rows], classes, self.score)
        return values.new_zeros(len(image_index)).index_add(0, rows, values)


class BoundSegmentationTarget(BoundTarget):
    def __init__(self, class_ids: torch.Tensor, mask: torch.Tensor | None) -> None:
        self.class_ids = class_ids
        self.mask = mask

    def scores(self, outputs, image_index, is_input):
        if not isinstance(outputs, torch.Tensor) or outputs.dim() != 4:
            raise _not_dense(outputs, "segmentation targets need (N, classes, H, W) outputs")
        classes = self.class_ids[image_index]
        if (classes >= outputs.shape[1]).any():
            raise _class_range_error(classes, outputs.shape[1])
        maps = outputs[torch.arange(len(outputs), device=outputs.device), classes]
        if self.mask is None:
            return maps.flatten(1).sum(1)
        mask = self.mask[image_index]
        if mask.shape[-2:] != maps.shape[-2:]:
            raise TargetError(
                f"mask: shape {tuple(mask.shape[-2:])} differs from the model's output "
                f"{tuple(maps.shape[-2:])}"
            )
        return (maps * mask.to(maps.dtype)).flatten(1).sum(1)

    def constant_reason(self, image: int) -> str | None:
        if self.mask is not None and not bool(self.mask[image].any()):
            return "its segmentation mask is empty"
        return None


class BoundDetectionTarget(BoundTarget):
    def __init__(self, pairs, iou_threshold: float, with_iou: bool) -> None:
        self.pairs = pairs
        self.iou_threshold = iou_threshold
        self.with_iou = with_iou
        self.unmatched: dict[int, str] = {}  # image -> what its unmodified input's row found

    def scores(self, outputs, image_index, is_input):
        if not isinstance(outputs, Sequence) or not all(isinstance(o, Mapping) for o in outputs):
            raise TargetError(
                "targets: detection targets need a list of per-image dicts with boxes, labels "
                f"and scores (torchvision detectors), got {type(outputs).__name__}"
            )
        scores = []
        for row, (image, plain) in enumerate(
            zip(image_index.tolist(), is_input.tolist(), strict=True)
        ):
            score, matched = self._score(outputs[row], *self.pairs[image])
            if plain and not matched:
                self.unmatched[image] = _found(outputs[row])
            scores.append(score)
        return torch.stack(scores)

    def _score(self, detections: Mapping, boxes: torch.Tensor, labels: torch.Tensor):
        """(score, whether any given box matched a detection)."""
        found, found_labels = detections["boxes"], detections["labels"]
        total = detections["scores"].new_zeros(())
        if len(found) == 0:
            return total, False
        iou = box_iou(boxes.to(found), found)  # (targets, detections)
        iou = torch.where(labels[:, None] == found_labels[None], iou, torch.zeros_like(iou))
        best, index = iou.max(dim=1)
        matched = torch.nonzero(best > self.iou_threshold).flatten().tolist()
        for k in matched:
            score = detections["scores"][index[k]]
            total = total + (score + best[k] if self.with_iou else score)
        return total, bool(matched)

    def constant_reason(self, image: int) -> str | None:
        found = self.unmatched.get(image)
        if found is None:
            return None
        labels = self.pairs[image][1].tolist()
        return (
            f"DetectionTarget matched no detection: none of label {labels} has IoU > "
            f"{self.iou_threshold} with its boxes ({found})"
        )


def _found(detections: Mapping) -> str:
    labels = detections["labels"].tolist()
    if not labels:
        return "the model detected nothing"
    shown = ", ".join(map(str, labels[:8])) + (", ..." if len(labels) > 8 else "")
    return f"the model found {len(labels)} detections, labels {shown}"


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of (n, 4) and (m, 4) boxes (x1, y1, x2, y2): (n, m)."""
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]).clamp(min=0) * (b[:, 3] - b[:, 1]).clamp(min=0)
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (bottom_right - top_left).clamp(min=0).prod(-1)
    union = area_a[:, None] + area_b[None] - inter
    return inter / union.clamp(min=torch.finfo(inter.dtype).tiny)


class BoundCallableTarget(BoundTarget):
    def __init__(self, fns: list[ScoreFn], shared: bool) -> None:
        self.fns = fns
        self.shared = shared

    def scores(self, outputs: Any, image_index: torch.Tensor, is_input: torch.Tensor):
        if self.shared:
            return _checked(self.fns[0](outputs), len(image_index))
        # one call per row with that row's output, as pytorch-grad-cam's targets expect
        return torch.stack(
            [_one_score(self.fns[i](outputs[r])) for r, i in enumerate(image_index.tolist())]
        )


def _one_score(score: Any) -> torch.Tensor:
    if not isinstance(score, torch.Tensor) or score.numel() != 1:
        what = tuple(score.shape) if isinstance(score, torch.Tensor) else type(score).__name__
        raise TargetError(
            "targets: a per-image callable takes one image's output and must return one score "
            f"(a tensor with one element), got {what}"
        )
    return score.reshape(())


def _is_sequence(value: Any) -> bool:
    return isinstance(value, Sequence | np.ndarray | torch.Tensor) and not isinstance(value, str)


def _as_list(value: Any, name: str) -> list:
    if _is_sequence(value):
        return _listed(value)
    raise FaithcamTypeError(f"{name}: expected a list, got {type(value).__name__}")


def _listed(sequence: Any) -> list:
    """A sequence, NumPy array or tensor (checked by ``_is_sequence``) as a list."""
    return sequence.tolist() if isinstance(sequence, np.ndarray | torch.Tensor) else list(sequence)


def _as_tensor(value: Any) -> torch.Tensor:
    """A tensor from a tensor, NumPy array or nested list (a copy: an inference-mode tensor
    cannot enter autograd)."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    return torch.as_tensor(np.asarray(value))


def _numeric_ndim(value: Any) -> int:
    """The number of dimensions of ``value`` as a numeric array (-1 if ragged or not numeric)."""
    if isinstance(value, torch.Tensor):
        return value.dim()
    try:
        return np.asarray(value, dtype=np.float64).ndim
    except (TypeError, ValueError):
        return -1


def _checked(scores: Any, n_rows: int) -> torch.Tensor:
    if not isinstance(scores, torch.Tensor):
        raise TargetError(f"targets: a callable target must return a tensor, got {type(scores)}")
    if scores.dim() == 2 and scores.shape[1] == 1:
        scores = scores[:, 0]
    if scores.shape != (n_rows,):
        raise TargetError(
            f"targets: a callable target must return one score per row, shape ({n_rows},); "
            f"got {tuple(scores.shape)}"
        )
    return scores


def _class_tensor(
    class_ids: int | Sequence[int] | torch.Tensor | None, n_images: int, device: torch.device
) -> torch.Tensor:
    if class_ids is None:
        return torch.full((n_images,), PENDING, dtype=torch.long, device=device)
    if isinstance(class_ids, bool):
        raise FaithcamTypeError("targets: expected a class id (int), got a bool")
    if isinstance(class_ids, int):
        ids = torch.full((n_images,), class_ids, dtype=torch.long)
    else:
        try:
            ids = torch.as_tensor(class_ids)
        except (TypeError, ValueError) as error:
            raise FaithcamTypeError(
                f"targets: expected ints, a sequence of ints or a tensor, got {class_ids!r}"
            ) from error
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise FaithcamTypeError(f"targets: class ids must be integers, got dtype {ids.dtype}")
        scalar = ids.dim() == 0
        ids = ids.reshape(-1).long()
        if scalar:  # a 0-d tensor is one class for every image, as an int
            ids = ids.expand(n_images).clone()
        if ids.numel() != n_images:
            raise TargetError(
                f"targets: got {ids.numel()} class ids for {n_images} images; give one per "
                "image, or an int for the same class in every image"
            )
    if (ids < 0).any():
        raise TargetError(f"targets: class ids must be >= 0, got {int(ids.min())}")
    return ids.to(device)


def as_target(targets: Any, score: str = "logit") -> Target:
    """Normalise the ``targets`` argument of :func:`faithcam.explain` and of the metrics to a
    :class:`Target`.

    Accepts None (predicted class), an int, a sequence, tensor or NumPy array of ints (one per
    image), a list of lists of ints (several classes per image, summed), a :class:`Target`, a
    callable ``outputs -> (N,) scores``, or a list of callables (one per image, each given that
    image's output: pytorch-grad-cam's targets). Class ids are scored by ``score`` (one of
    :data:`SCORES`; ``explain`` explains the logit, the metrics pass their own default); a
    :class:`Target` keeps its own score.
    """
    if isinstance(targets, Target):
        return targets
    if score not in SCORES:
        raise FaithcamValueError(f"score: expected one of {', '.join(SCORES)}, got {score!r}")
    class_target = {"logit": ClassLogit, "probability": ClassProbability}.get(
        score, SigmoidProbability
    )
    if isinstance(targets, np.generic | np.ndarray):
        if not np.issubdtype(np.asarray(targets).dtype, np.integer):
            raise FaithcamTypeError(f"targets: class ids must be integers, got {targets!r:.80}")
        targets = torch.as_tensor(np.asarray(targets))
    if targets is None or isinstance(targets, int | torch.Tensor):
        return class_target(targets)
    if callable(targets):
        return CallableTarget(targets)
    if isinstance(targets, Sequence) and not isinstance(targets, str):
        items = list(targets)
        if items and all(callable(item) for item in items):
            return CallableTarget(items)
        if all(_is_class_id(item) for item in items):
            return class_target([int(item) for item in items])
        if items and all(
            _is_sequence(item) and all(_is_class_id(c) for c in _listed(item)) for item in items
        ):
            lists = [[int(c) for c in _listed(item)] for item in items]
            return MultiLabel(lists, score=score)
    raise FaithcamTypeError(
        "targets: expected None (predicted class), an int, a list/tensor of ints (one per "
        "image), a list of lists of ints (several classes per image), a Target, or a callable "
        f"outputs -> scores; got {targets!r:.80}"
    )


def _is_class_id(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def select_output(outputs: Any, selector: OutputSelector = None) -> torch.Tensor:
    """Pick the tensor to score from a model's output (tensor, tuple, dict, object)."""
    if callable(selector):
        selected = selector(outputs)
    elif selector is not None:
        try:
            selected = outputs[selector]
        except (KeyError, IndexError, TypeError) as error:
            raise FaithcamTypeError(
                f"output_selector: cannot index the model output ({type(outputs).__name__}) "
                f"with {selector!r}"
            ) from error
    elif isinstance(outputs, torch.Tensor):
        selected = outputs
    elif isinstance(outputs, Mapping) and "logits" in outputs:
        selected = outputs["logits"]
    elif isinstance(outputs, Mapping) and "out" in outputs:  # torchvision segmentation
        selected = outputs["out"]
    elif _is_detections(outputs):
        return list(outputs)
    elif hasattr(outputs, "logits"):
        selected = outputs.logits
    else:
        detail = f"keys {list(outputs)}" if isinstance(outputs, Mapping) else type(outputs).__name__
        raise FaithcamTypeError(
            f"output_selector: the model returned {detail}, not a tensor; pass output_selector="
            "(an index, a key, or a callable that returns the logits tensor)"
        )
    if not isinstance(selected, torch.Tensor) and not _is_detections(selected):
        raise FaithcamTypeError(
            f"output_selector: selected a {type(selected).__name__}, expected a tensor"
        )
    return selected


def _is_detections(outputs: Any) -> bool:
    """A list of per-image detection dicts (``boxes``, ``labels``, ``scores``)."""
    return (
        isinstance(outputs, list | tuple)
        and len(outputs) > 0
        and all(isinstance(o, Mapping) and "boxes" in o and "scores" in o for o in outputs)
    )

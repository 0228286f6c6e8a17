"""What a metric scores, and the model calls that score it.

The metrics take ``targets`` in the vocabulary of :func:`faithcam.explain`
(:func:`faithcam.engine.targets.as_target`): None (the predicted class), an int, one class id
per image, a list of class lists (several classes per image, summed), a
:class:`~faithcam.engine.targets.Target` (``ClassLogit``, ``ClassProbability``,
``SigmoidProbability``, ``MultiLabel``, ``CallableTarget``), a callable or a list of callables.

Plain class ids are scored with the metric's ``score`` (its default is the one its paper uses,
stated in each metric's docstring). A Target that names its score (``ClassLogit(3)``: the
logit; ``ClassProbability(3)``: the softmax probability) is scored that way, and a ``score=``
that contradicts it is an error, so ``score`` means one thing. Dense targets score what they
say on the model's own output: ``SegmentationTarget`` the class logit summed over its mask on
(N, classes, H, W) maps (a torchvision segmentation model's ``{"out": ...}`` is read as its
``"out"``), ``DetectionTarget`` the matched detections' box scores (+ IoU) on a detector's list
of per-image dicts; pytorch-grad-cam's per-image target objects
(``SemanticSegmentationTarget``, ``FasterRCNNBoxScoreTarget``) are scored on one image's output
each, as that library calls them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from faithcam.engine.model_state import model_guard
from faithcam.engine.targets import (
    SCORES,
    BoundCallableTarget,
    BoundTarget,
    CallableTarget,
    ClassLogit,
    DetectionTarget,
    MultiLabel,
    SegmentationTarget,
    Target,
    as_target,
    class_scores,
    select_output,
)
from faithcam.engine.validation import naming_channel_mismatch
from faithcam.errors import FaithcamValueError
from faithcam.metrics._common import Bounds, check_choice, chunks

Targets = Any  # everything faithcam.explain accepts as targets
Score = Literal["probability", "logit", "sigmoid"]


def class_outputs(out: Any) -> Tensor:
    """The (N, classes) score tensor of a model output (a tensor, or an object with
    ``.logits`` such as Hugging Face outputs)."""
    if hasattr(out, "logits"):
        out = out.logits
    if not isinstance(out, Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise FaithcamValueError(
            f"model must return class scores of shape (N, classes), got {shape}"
        )
    return out


def forward(model: Callable[[Tensor], Tensor], inputs: Tensor, batch_size: int) -> Tensor:
    """Model outputs (N, classes) for ``inputs``, in chunks, under ``torch.inference_mode``
    (eval mode, the model's modes and buffers restored afterwards)."""
    with torch.inference_mode(), model_guard(model), naming_channel_mismatch(inputs):
        outs = [class_outputs(model(inputs[s])) for s in chunks(inputs.shape[0], batch_size)]
    return torch.cat(outs)


def target_scores(logits: Tensor, targets: Tensor, score: str) -> Tensor:
    """Score of each row's target class: softmax probability, sigmoid or raw logit. A
    single-output model's probability is the sigmoid σ(z), never a softmax of one value."""
    n_classes = logits.shape[1]
    if targets.numel() and (targets.min() < 0 or targets.max() >= n_classes):
        raise FaithcamValueError(
            f"targets must be class ids in [0, {n_classes - 1}], got "
            f"min {int(targets.min())}, max {int(targets.max())}"
        )
    return class_scores(logits, targets, score)


@dataclass(frozen=True, eq=False)
class MetricTarget:
    """A metric's target bound to its B images, predicted classes resolved.

    ``score`` is what is scored (``"logit"``, ``"probability"``, ``"sigmoid"``; None: a
    callable's own score); ``class_ids`` (B,) when there is one class per image.
    """

    spec: Target
    bound: BoundTarget
    score: str | None
    class_ids: Tensor | None
    n_images: int
    given: bool  # the caller passed a Target object (kept as such for explain functions)

    def scores(self, outputs: Any, image_index: Tensor) -> Tensor:
        """Scores (N,) of the N rows of a model output, row r of image ``image_index[r]``: class
        scores (N, classes), or what a dense target reads (segmentation maps, detections)."""
        if self.class_ids is not None and self.score in SCORES:
            return target_scores(class_outputs(outputs), self.class_ids[image_index], self.score)
        no_input = torch.zeros_like(image_index, dtype=torch.bool)
        return self.bound.scores(select_output(outputs), image_index, no_input)

    def explained(self, image_index: Tensor | None = None) -> Any:
        """What an explain function receives for the images ``image_index`` (default: all):
        class ids for plain class targets, else a Target of the kind the caller gave."""
        if image_index is None:
            image_index = torch.arange(self.n_images)
        if self.class_ids is not None:
            ids = self.class_ids[image_index.to(self.class_ids.device)]
            return type(self.spec)(ids) if self.given else ids
        rows = image_index.tolist()
        if isinstance(self.spec, MultiLabel):
            return MultiLabel([self.bound.classes[i].tolist() for i in rows], self.spec.score)
        if isinstance(self.spec, SegmentationTarget | DetectionTarget):
            return dense_subset(self.spec, self.bound, rows)
        if isinstance(self.bound, BoundCallableTarget) and not self.bound.shared:
            return CallableTarget([self.bound.fns[i] for i in rows])  # one callable per image
        return self.spec

    @property
    def bounds(self) -> Bounds:
        """The range of the scored values: [0, 1] for one class's probability or sigmoid; for
        several classes, summed, [0, the largest number of classes of an image] (softmax of
        distinct classes: [0, 1]); None for logits and callables."""
        if self.score not in ("probability", "sigmoid"):
            return None
        if self.class_ids is not None:
            return (0.0, 1.0)
        if not isinstance(self.spec, MultiLabel):
            return None
        counts = [len(c) for c in self.bound.classes]
        distinct = all(len(set(c.tolist())) == len(c) for c in self.bound.classes)
        if self.score == "probability" and distinct:
            return (0.0, 1.0)
        return (0.0, float(max(counts)))


def dense_subset(spec: Target, bound: BoundTarget, rows: list[int]) -> Target:
    """The dense target ``spec`` (bound as ``bound``) of the images ``rows`` only."""
    if isinstance(spec, SegmentationTarget):
        mask = bound.mask
        return SegmentationTarget(bound.class_ids[rows], None if mask is None else mask[rows])
    boxes, labels = zip(*(bound.pairs[i] for i in rows), strict=True)
    return DetectionTarget(list(boxes), list(labels), spec.iou_threshold, spec.with_iou)


def _is_class_ids(targets: Any) -> bool:
    """None, an int, or a flat sequence / tensor / array of class ids (not lists, callables)."""
    if targets is None or isinstance(targets, (int, np.integer, Tensor, np.ndarray)):
        return True
    return (
        isinstance(targets, Sequence)
        and not isinstance(targets, str)
        and not any(callable(t) or isinstance(t, (Sequence, Tensor, np.ndarray)) for t in targets)
    )


def _class_ids(targets: Any, b: int) -> int | Tensor | None:
    """Checked class ids: None (the predicted class), an int, or a tensor of shape (B,).

    The target built from them converts the ids to int64 on the images' device.
    """
    if targets is None:
        return None
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        return int(targets)
    t = torch.as_tensor(np.asarray(targets) if not isinstance(targets, Tensor) else targets)
    if t.is_floating_point() or t.dtype == torch.bool or t.ndim != 1 or t.shape[0] != b:
        raise FaithcamValueError(
            f"targets must be None, an int, or {b} integer class ids of shape (B,), "
            f"got {tuple(t.shape)} {t.dtype}"
        )
    return t


def _given_score(spec: Target, score: str | None, metric: str) -> str | None:
    """The score of a Target object the caller gave: its own (a callable's: None); a ``score=``
    that contradicts it is an error (``"accuracy"`` reads the class, not a score: allowed)."""
    own = getattr(spec, "score", None)
    if score is None or score not in SCORES:
        return score or own
    if own != score:
        what = f"scores the {own}" if own else "computes its own score"
        raise FaithcamValueError(
            f"score: {metric} got score={score!r} but targets={spec!r} {what}; leave score "
            "unset or pass a target of that score"
        )
    return own


def metric_target(
    targets: Targets,
    images: Tensor,
    predict: Callable[[], Tensor],
    *,
    score: str | None,
    default: str,
    metric: str,
    scores: Sequence[str] = SCORES,
) -> MetricTarget:
    """Bind ``targets`` (the vocabulary of :func:`faithcam.explain`) to ``images``.

    ``predict()`` returns the (B, classes) outputs on the clean images; it is called only when
    the predicted class is asked for. ``score`` (None: ``default``, or a Target's own score)
    must be one of ``scores``.
    """
    if score is not None:
        check_choice(score, "score", scores)
    b, device = images.shape[0], images.device
    given = isinstance(targets, Target)
    if given:
        spec = targets
    else:
        plain = score or default
        if _is_class_ids(targets):
            targets = _class_ids(targets, b)
        spec = as_target(targets, score=plain if plain in SCORES else "logit")
    if given or isinstance(spec, CallableTarget):
        score = _given_score(spec, score, metric)
    else:
        score = score or default
    bound = spec.bind(b, device)
    if bound.needs_prediction:
        outputs = predict()
        everything = torch.ones(b, dtype=torch.bool, device=outputs.device)
        bound.resolve_predictions(outputs, torch.arange(b, device=outputs.device), everything)
    class_ids = bound.class_ids if isinstance(spec, ClassLogit) else None
    return MetricTarget(spec, bound, score, class_ids, b, given)


def scores_of(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    target: MetricTarget,
    image_index: Tensor,
    batch_size: int,
) -> Tensor:
    """Target scores (N,) of ``inputs`` (row r of image ``image_index[r]``) under
    ``inference_mode``, in chunks."""
    with torch.inference_mode(), model_guard(model), naming_channel_mismatch(inputs):
        out = [
            target.scores(model(inputs[s]), image_index[s])
            for s in chunks(inputs.shape[0], batch_size)
        ]
    return torch.cat(out)

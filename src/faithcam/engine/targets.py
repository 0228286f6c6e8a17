"""What score is explained: class logits, class probabilities, or any callable.

A target turns the model outputs of a chunk of sample rows into one score per row. Estimators
expand each image into several sample rows (path points, noisy copies), so every row carries the
index of the image it belongs to; a class target looks up that image's class.

``None`` as a class means *the predicted class*: the arg-max of the model output on the image
itself, resolved from the first row that is the unmodified input
(see :mod:`faithcam.engine.capture`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from faithcam.errors import FaithcamTypeError, TargetError

ScoreFn = Callable[[torch.Tensor], torch.Tensor]
OutputSelector = Callable[[Any], torch.Tensor] | str | int | None
PENDING = -1  # class id of an image whose predicted class is not known yet


class Target:
    """Base class: scores of the sample rows of one chunk."""

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        """Attach the target to a batch of ``n_images`` images."""
        raise NotImplementedError


class ClassLogit(Target):
    """Score = the pre-softmax output (logit) of a class; ``None`` = predicted class.

    ``class_ids`` is one int for every image, or one int per image.
    """

    transform_name = "logit"

    def __init__(self, class_ids: int | Sequence[int] | torch.Tensor | None = None) -> None:
        self.class_ids = class_ids

    def transform(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        return BoundClassTarget(_class_tensor(self.class_ids, n_images, device), self.transform)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.class_ids!r})"


class ClassProbability(ClassLogit):
    """Score = softmax probability of a class (over the last output dimension)."""

    transform_name = "probability"

    def transform(self, outputs: torch.Tensor) -> torch.Tensor:
        return torch.softmax(outputs, dim=-1)


class CallableTarget(Target):
    """Score = ``fn(outputs)``, a (N,) tensor for the N rows of a chunk.

    With a list of callables, callable i scores the rows of image i (as pytorch-grad-cam's
    target lists do).
    """

    def __init__(self, fn: ScoreFn | Sequence[ScoreFn]) -> None:
        self.fns = fn

    def bind(self, n_images: int, device: torch.device) -> BoundTarget:
        if callable(self.fns):
            return BoundCallableTarget([self.fns] * n_images, shared=True)
        fns = list(self.fns)
        if len(fns) != n_images:
            raise TargetError(f"targets: got {len(fns)} callables for {n_images} images")
        return BoundCallableTarget(fns, shared=False)


class BoundTarget:
    """A target bound to one batch of images."""

    class_ids: torch.Tensor | None = None

    def scores(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> torch.Tensor:
        raise NotImplementedError

    @property
    def needs_prediction(self) -> bool:
        return False


class BoundClassTarget(BoundTarget):
    def __init__(
        self, class_ids: torch.Tensor, transform: Callable[[torch.Tensor], torch.Tensor]
    ) -> None:
        self.class_ids = class_ids
        self.transform = transform

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
        if outputs.dim() != 2:
            raise TargetError(
                f"targets: class targets need (N, classes) model outputs, got shape "
                f"{tuple(outputs.shape)}; pass a callable target or an output_selector"
            )
        self.resolve_predictions(outputs.detach(), image_index, is_input)
        classes = self.class_ids[image_index]
        if (classes == PENDING).any():
            raise TargetError("targets: predicted class requested before the image was scored")
        n_classes = outputs.shape[-1]
        if (classes >= n_classes).any():
            bad = int(classes[classes >= n_classes][0])
            raise TargetError(
                f"targets: class id {bad} is out of range for a model with {n_classes} outputs "
                f"(valid: 0..{n_classes - 1})"
            )
        return self.transform(outputs).gather(1, classes[:, None]).squeeze(1)


class BoundCallableTarget(BoundTarget):
    def __init__(self, fns: list[ScoreFn], shared: bool) -> None:
        self.fns = fns
        self.shared = shared

    def scores(
        self, outputs: torch.Tensor, image_index: torch.Tensor, is_input: torch.Tensor
    ) -> torch.Tensor:
        if self.shared:
            return _checked(self.fns[0](outputs), len(image_index))
        result = torch.empty(len(image_index), device=outputs.device, dtype=outputs.dtype)
        for image in image_index.unique().tolist():
            rows = image_index == image
            result = result.index_put(
                (rows,), _checked(self.fns[image](outputs[rows]), int(rows.sum()))
            )
        return result


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
        ids = ids.reshape(-1).long()
        if ids.numel() == 1:
            ids = ids.expand(n_images).clone()
        if ids.numel() != n_images:
            raise TargetError(f"targets: got {ids.numel()} class ids for {n_images} images")
    if (ids < 0).any():
        raise TargetError(f"targets: class ids must be >= 0, got {int(ids.min())}")
    return ids.to(device)


def as_target(targets: Any) -> Target:
    """Normalise the ``targets`` argument of :func:`faithcam.explain` to a :class:`Target`.

    Accepts None (predicted class), an int, a sequence or tensor of ints (one per image), a
    :class:`Target`, a callable ``outputs -> (N,) scores``, or a list of callables (one per
    image).
    """
    if isinstance(targets, Target):
        return targets
    if targets is None or isinstance(targets, int | torch.Tensor):
        return ClassLogit(targets)
    if callable(targets):
        return CallableTarget(targets)
    if isinstance(targets, Sequence) and not isinstance(targets, str):
        items = list(targets)
        if items and all(callable(item) for item in items):
            return CallableTarget(items)
        if all(isinstance(item, int) and not isinstance(item, bool) for item in items):
            return ClassLogit(items)
    raise FaithcamTypeError(
        "targets: expected None (predicted class), an int, a list/tensor of ints (one per "
        f"image), a Target, or a callable outputs -> scores; got {targets!r:.80}"
    )


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
    elif hasattr(outputs, "logits"):
        selected = outputs.logits
    else:
        detail = f"keys {list(outputs)}" if isinstance(outputs, Mapping) else type(outputs).__name__
        raise FaithcamTypeError(
            f"output_selector: the model returned {detail}, not a tensor; pass output_selector="
            "(an index, a key, or a callable that returns the logits tensor)"
        )
    if not isinstance(selected, torch.Tensor):
        raise FaithcamTypeError(
            f"output_selector: selected a {type(selected).__name__}, expected a tensor"
        )
    return selected

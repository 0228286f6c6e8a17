"""torchcam 0.5's ``torchcam.metrics`` on faithcam's metrics and scoring.

Both classes take an extractor (the drop-in's or torchcam's) and an optional ``logits_fn``
applied to the model's output (e.g. ``partial(torch.softmax, dim=-1)``); ``update(x,
class_idx=None, *, targets=None)`` explains the batch (class None: the top prediction), fuses
the layers' maps (``fuse_cams``), resizes them to the input (bilinear), leaves out images whose
map holds a NaN (counted in ``nan_count``) and accumulates; ``summary()`` averages.

- :class:`ClassificationMetric`: Average Drop max(0, Y − O) / (Y + 1e-7) and Increase in
  Confidence [O > Y] (Chattopadhyay et al., Grad-CAM++, WACV 2018), Y the score of x and O of
  M ⊙ x, M the resized map as the extractor returned it (as torchcam: not rescaled, fractions
  not percentages; faithcam's :func:`faithcam.metrics.average_drop` rescales M and reports %).
- :class:`DeletionInsertionMetric`: RISE's deletion and insertion AUCs (Petsiuk et al., BMVC
  2018) by :func:`faithcam.metrics.deletion` / :func:`~faithcam.metrics.insertion`: ``steps``
  intervals of ceil(H·W / steps) pixels, the ``baseline`` (zeros by default) as substrate.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from faithcam.engine.model_state import model_guard
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import deletion, insertion
from faithcam.metrics.scoring import metric_target, scores_of

OutputTarget = Callable[[Any], Tensor]


class ScoredModel(nn.Module):
    """The model followed by ``logits_fn`` (identity when None): what the metrics score."""

    def __init__(self, model: nn.Module, logits_fn: Callable[[Any], Any] | None) -> None:
        super().__init__()
        self.model = model
        self.logits_fn = logits_fn

    def forward(self, x: Tensor) -> Any:
        out = self.model(x)
        return out if self.logits_fn is None else self.logits_fn(out)


class _ExtractorMetric:
    def __init__(self, cam_extractor: Any, logits_fn: Callable[[Any], Any] | None = None):
        if not callable(cam_extractor) or not isinstance(
            getattr(cam_extractor, "model", None), nn.Module
        ):
            raise FaithcamTypeError("cam_extractor: expected a CAM extractor (GradCAM(model, ...))")
        self.cam_extractor = cam_extractor
        self.scored = ScoredModel(cam_extractor.model, logits_fn)
        self.reset()

    def explained(
        self, input_tensor: Tensor, class_idx: int | Sequence[int] | None, targets: Any
    ) -> tuple[Tensor, Tensor, Any]:
        """The kept images, their maps resized to the input, and their targets (class ids, or
        per-image callables); NaN maps are counted and left out."""
        if targets is not None and class_idx is not None:
            raise FaithcamValueError("class_idx, targets: give one of them, not both")
        n = len(input_tensor)
        with model_guard(self.scored):
            scores = self.scored(input_tensor)  # hooked: the extractor sees this forward
            if targets is None:
                if class_idx is None:
                    class_idx = scores.argmax(dim=-1).tolist()
                ids = [class_idx] * n if isinstance(class_idx, int) else list(class_idx)
                cams = self.cam_extractor(ids, scores)
                chosen: Any = torch.as_tensor(ids, device=input_tensor.device)
            else:
                chosen = [targets] * n if callable(targets) else list(targets)
                cams = self.cam_extractor(scores=scores, targets=chosen)
        cam = self.cam_extractor.fuse_cams(cams).detach()
        keep = ~torch.isnan(cam).flatten(1).any(dim=1)
        self.nan_count += int((~keep).sum())
        size = input_tensor.shape[2:]
        cam = F.interpolate(cam[keep][:, None], size, mode="bilinear", align_corners=False)[:, 0]
        if isinstance(chosen, Tensor):
            return input_tensor[keep], cam, chosen[keep]
        return input_tensor[keep], cam, [t for t, k in zip(chosen, keep.tolist(), strict=True) if k]

    def update(
        self,
        input_tensor: Tensor,
        class_idx: int | Sequence[int] | None = None,
        *,
        targets: OutputTarget | Sequence[OutputTarget] | None = None,
    ) -> None:
        """Explain ``input_tensor`` for ``class_idx`` (None: the top class) or ``targets`` and
        add its images' values."""
        images, cam, chosen = self.explained(input_tensor, class_idx, targets)
        if len(images):
            self.cam_extractor.disable_hooks()  # the perturbed forwards are not explained
            try:
                self.accumulate(images, cam, chosen)
            finally:
                self.cam_extractor.enable_hooks()
            self.total += len(images)

    def accumulate(self, images: Tensor, cam: Tensor, chosen: Any) -> None:
        raise NotImplementedError


class ClassificationMetric(_ExtractorMetric):
    """Average Drop and Increase in Confidence over the updates (see the module notes)."""

    def accumulate(self, images: Tensor, cam: Tensor, chosen: Any) -> None:
        target = metric_target(chosen, images, lambda: None, score=None, default="logit",
                               metric="ClassificationMetric")  # fmt: skip
        rows = torch.arange(len(images), device=images.device)
        full = scores_of(self.scored, images, target, rows, len(images)).double()
        masked = scores_of(self.scored, cam[:, None] * images, target, rows, len(images))
        self.drop += float(((full - masked).clamp(min=0) / (full + 1e-7)).sum())
        self.increase += float((masked > full).sum())

    def summary(self) -> dict[str, float]:
        if self.total == 0:
            raise FaithcamValueError("summary: call update() with at least one image first")
        return {"avg_drop": self.drop / self.total, "conf_increase": self.increase / self.total}

    def reset(self) -> None:
        self.drop = self.increase = 0.0
        self.total = self.nan_count = 0


class DeletionInsertionMetric(_ExtractorMetric):
    """Deletion and insertion AUCs over the updates (see the module notes)."""

    def __init__(
        self,
        cam_extractor: Any,
        logits_fn: Callable[[Any], Any] | None = None,
        *,
        steps: int = 20,
        baseline: Tensor | Callable[[Tensor], Tensor] | None = None,
        batch_size: int = 32,
    ) -> None:
        if baseline is not None and not isinstance(baseline, Tensor) and not callable(baseline):
            raise FaithcamTypeError("baseline: expected a tensor, a callable or None")
        super().__init__(cam_extractor, logits_fn)
        self.steps, self.baseline, self.batch_size = steps, baseline, batch_size

    def accumulate(self, images: Tensor, cam: Tensor, chosen: Any) -> None:
        base = self.baseline(images) if callable(self.baseline) else self.baseline
        options = {
            "curve_steps": self.steps, "batch_size": self.batch_size,
            "substrate": "black" if base is None else base,
            "score": "logit" if isinstance(chosen, Tensor) else None,  # the scored output as is
        }  # fmt: skip
        self.deletion += float(deletion(self.scored, images, cam, chosen, **options).values.sum())
        self.insertion += float(insertion(self.scored, images, cam, chosen, **options).values.sum())

    def summary(self) -> dict[str, float]:
        if self.total == 0:
            raise FaithcamValueError("summary: call update() with at least one image first")
        return {
            "deletion_auc": self.deletion / self.total,
            "insertion_auc": self.insertion / self.total,
        }

    def reset(self) -> None:
        self.deletion = self.insertion = 0.0
        self.total = self.nan_count = 0

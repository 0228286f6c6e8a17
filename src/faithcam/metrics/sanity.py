"""Sanity check by cascading model randomization (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018)."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.deprecation import renamed_function
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import ArrayLike, MetricResult, check_images, check_maps, spearman
from faithcam.metrics.scoring import Targets, forward, metric_target

__all__ = [
    "model_randomisation",
    "model_randomization",
    "randomisable_layers",
    "randomizable_layers",
]

ModelExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


def reinit_seed(seed: int) -> int:
    """The RNG seed of the re-initialization: a 62-bit BLAKE2b hash of ``seed``, not ``seed``
    itself, so that ``seed=0`` does not redraw the very weights a model got when it was built
    right after ``torch.manual_seed(0)`` (its layers would then not change at all)."""
    digest = hashlib.blake2b(f"model_randomization:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2


def randomizable_layers(model: nn.Module) -> list[str]:
    """Names of the modules that own parameters directly, from the output back to the input.

    The order is the reverse of registration order, which for sequential-style definitions
    (torchvision models included) runs from the classifier head down to the first layer.
    """
    names = [
        name
        for name, module in model.named_modules()
        if name and any(True for _ in module.parameters(recurse=False))
    ]
    return names[::-1]


def _reinitialize(module: nn.Module) -> None:
    """Fresh random parameters: the module's own ``reset_parameters`` or N(0, 0.01²)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, 0.01)


def model_randomization(
    model: nn.Module,
    images: Tensor,
    maps: ArrayLike | None,
    targets: Targets,
    explain_fn: ModelExplainFn,
    *,
    layers: Sequence[str] | None = None,
    absolute: bool = False,
    include_original: bool = True,
    seed: int = 0,
    batch_size: int = BATCH_SIZE,
) -> MetricResult:
    """Cascading model-randomization sanity check (Adebayo et al., NeurIPS 2018).

    On a deep copy of ``model`` (the model itself is never modified), the parameters of
    ``layers`` (default :func:`randomizable_layers`, top to bottom) are re-initialized one after
    the other, cumulatively; after each, the images are re-explained with
    ``explain_fn(randomized_model, images, targets)`` and compared with the original maps by the
    Spearman rank correlation over pixels (ties get average ranks; ``absolute=True`` takes
    ``|ρ|`` as in the paper's figures). A map that keeps correlating with the original once the
    weights are random does not depend on what the model learnt: it fails the check.

    The per-image value is the mean correlation over the randomized layers (lower = passes).
    ``details``: ``layers`` (names, with ``"original"`` first when ``include_original``: the
    unrandomized copy re-explained, which must correlate 1 for a deterministic method) and
    ``correlations`` (L, B). Re-initialization is seeded from ``seed`` (:func:`reinit_seed`;
    torch's RNG is restored).
    ``maps=None`` explains the images with ``explain_fn(model, images, targets)`` first.
    """
    if not isinstance(model, nn.Module):
        raise FaithcamTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(explain_fn):
        raise FaithcamTypeError("explain_fn must be a callable (model, images, targets) -> maps")
    images = check_images(images)
    targets_t = metric_target(
        targets, images, lambda: forward(model, images, batch_size),
        score=None, default="logit", metric="model_randomization",
    ).explained()  # fmt: skip
    if maps is None:
        maps = explain_fn(model, images, targets_t)
    maps = check_maps(maps, images)
    available = randomizable_layers(model)
    chosen = available if layers is None else list(layers)
    unknown = [name for name in chosen if name not in available]
    if unknown or not chosen:
        raise FaithcamValueError(
            f"layers must be a non-empty list of modules with parameters; unknown {unknown}, "
            f"valid names (top to bottom): {available}"
        )
    copied = copy.deepcopy(model)
    modules = dict(copied.named_modules())
    original = maps.reshape(maps.shape[0], -1)

    def correlate() -> Tensor:
        new = check_maps(explain_fn(copied, images, targets_t), images, name="explain_fn output")
        rho = spearman(original, new.reshape(original.shape)).cpu()
        return rho.abs() if absolute else rho

    names, rows = [], []
    if include_original:
        names.append("original")
        rows.append(correlate())
    with torch.random.fork_rng():
        torch.manual_seed(reinit_seed(seed))
        for name in chosen:
            _reinitialize(modules[name])
            names.append(name)
            rows.append(correlate())
    correlations = torch.stack(rows)
    randomized = correlations[1:] if include_original else correlations
    return MetricResult(
        "model_randomization",
        randomized.nanmean(dim=0),
        {"layers": names, "correlations": correlations},
        bounds=(0.0, 1.0) if absolute else (-1.0, 1.0),
    )


model_randomisation = renamed_function(model_randomization, "model_randomisation")
randomisable_layers = renamed_function(randomizable_layers, "randomisable_layers")

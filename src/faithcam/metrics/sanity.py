"""Sanity check by cascading model randomisation (Adebayo et al., "Sanity Checks for Saliency
Maps", NeurIPS 2018)."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    Targets,
    check_images,
    check_maps,
    resolve_targets,
    spearman,
)

__all__ = ["model_randomisation", "randomisable_layers"]

ModelExplainFn = Callable[[nn.Module, Tensor, Tensor], Tensor]


def randomisable_layers(model: nn.Module) -> list[str]:
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


def _reinitialise(module: nn.Module) -> None:
    """Fresh random parameters: the module's own ``reset_parameters`` or N(0, 0.01²)."""
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()
        return
    with torch.no_grad():
        for p in module.parameters(recurse=False):
            p.normal_(0.0, 0.01)


def model_randomisation(
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
    batch_size: int = 64,
) -> MetricResult:
    """Cascading model-randomisation sanity check (Adebayo et al., NeurIPS 2018).

    On a deep copy of ``model`` (the model itself is never modified), the parameters of
    ``layers`` (default :func:`randomisable_layers`, top to bottom) are re-initialised one after
    the other, cumulatively; after each, the images are re-explained with
    ``explain_fn(randomised_model, images, targets)`` and compared with the original maps by the
    Spearman rank correlation over pixels (ties get average ranks; ``absolute=True`` takes
    ``|ρ|`` as in the paper's figures). A map that keeps correlating with the original once the
    weights are random does not depend on what the model learnt: it fails the check.

    The per-image value is the mean correlation over the randomised layers (lower = passes).
    ``details``: ``layers`` (names, with ``"original"`` first when ``include_original``: the
    unrandomised copy re-explained, which must correlate 1 for a deterministic method) and
    ``correlations`` (L, B). Re-initialisation is seeded by ``seed`` (torch's RNG is restored).
    ``maps=None`` explains the images with ``explain_fn(model, images, targets)`` first.
    """
    if not isinstance(model, nn.Module):
        raise FaithcamTypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(explain_fn):
        raise FaithcamTypeError("explain_fn must be a callable (model, images, targets) -> maps")
    images = check_images(images)
    targets_t = resolve_targets(model, images, targets, batch_size)
    if maps is None:
        maps = explain_fn(model, images, targets_t)
    maps = check_maps(maps, images)
    available = randomisable_layers(model)
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
        torch.manual_seed(seed)
        for name in chosen:
            _reinitialise(modules[name])
            names.append(name)
            rows.append(correlate())
    correlations = torch.stack(rows)
    randomised = correlations[1:] if include_original else correlations
    return MetricResult(
        "model_randomisation",
        randomised.nanmean(dim=0),
        {"layers": names, "correlations": correlations},
    )

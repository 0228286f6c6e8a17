"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from faithcam.errors import FaithcamValueError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    Targets,
    as_generator,
    check_choice,
    check_images,
    check_maps,
    check_model,
    check_positive_int,
    chunks,
    descending_ranks,
    forward,
    resolve_targets,
    target_scores,
)

__all__ = ["noisy_linear_imputation", "road"]

# Neighbour offsets (dy, dx) and weights of the ROAD imputation: 1/6 direct, 1/12 diagonal.
_NEIGHBOURS = (
    ((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
    ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12),
)  # fmt: skip


def noisy_linear_imputation(
    image: Tensor,
    removed: Tensor,
    *,
    noise: float = 0.01,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Impute the ``removed`` pixels (H, W bool) of ``image`` (C, H, W) as in ROAD.

    Each removed pixel p takes the weighted mean of its 8 neighbours N(p) inside the image
    (weight 1/6 for the 4 direct, 1/12 for the diagonal ones):
    ``Σ_{q ∈ N(p)} w_q (x_p − x_q) = 0``. Removed neighbours are unknowns too, so all removed
    pixels are found at once from one sparse linear system (``scipy.sparse.linalg.spsolve``),
    shared by the channels. Then Gaussian noise ``noise · N(0, 1)`` is added to the imputed
    values so that the removal pattern cannot be read from smooth patches.
    """
    from scipy.sparse import csc_matrix
    from scipy.sparse.linalg import spsolve

    c, h, w = image.shape
    flat = image.reshape(c, -1).double().cpu().numpy()
    mask = removed.reshape(-1).cpu().numpy()
    unknown = np.flatnonzero(mask)
    out = flat.copy()
    if unknown.size == 0:
        return image.clone()
    var_of = np.full(h * w, -1)
    var_of[unknown] = np.arange(unknown.size)
    ys, xs = unknown // w, unknown % w
    rows, cols, vals = [], [], []
    diag = np.zeros(unknown.size)
    rhs = np.zeros((unknown.size, c))
    for (dy, dx), weight in _NEIGHBOURS:
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
        ids = np.flatnonzero(inside)
        neighbour = ny[ids] * w + nx[ids]
        diag[ids] += weight
        is_var = mask[neighbour]
        rows.append(ids[is_var])
        cols.append(var_of[neighbour[is_var]])
        vals.append(np.full(int(is_var.sum()), -weight))
        rhs[ids[~is_var]] += weight * flat[:, neighbour[~is_var]].T
    rows.append(np.arange(unknown.size))
    cols.append(np.arange(unknown.size))
    vals.append(diag)
    n = unknown.size
    system = csc_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(n, n)
    )
    solved = spsolve(system, rhs).reshape(n, c)
    if noise > 0:
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        solved = solved + noise * torch.randn((n, c), generator=gen, dtype=torch.float64).numpy()
    out[:, unknown] = solved.T
    return torch.from_numpy(out).view(c, h, w).to(image)


def road(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    order: Literal["morf", "lerf"] = "morf",
    percentages: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90),
    noise: float = 0.01,
    score: Literal["accuracy", "probability", "logit"] = "accuracy",
    generator: torch.Generator | int | None = None,
    batch_size: int = 64,
) -> MetricResult:
    """ROAD (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
    Methods", ICML 2022).

    For each percentage p, the ``floor(H·W·p/100)`` pixels ranked first by the map
    (``order="morf"``: most relevant first; ``"lerf"``: least relevant first) are removed and
    re-imputed with :func:`noisy_linear_imputation`, then the model is evaluated. The curve is the
    score per percentage: ``"accuracy"`` (default, as the paper and Quantus: 1 when the
    prediction still equals the target), or the target's ``"probability"`` / ``"logit"``. The
    per-image value is the mean of the curve over the percentages (area under it): lower is
    better for MoRF, higher for LeRF. ``details``: ``curves`` (B, P), ``percentages``.
    """
    check_model(model)
    images = check_images(images)
    maps = check_maps(maps, images)
    check_choice(order, "order", ("morf", "lerf"))
    check_choice(score, "score", ("accuracy", "probability", "logit"))
    batch_size = check_positive_int(batch_size, "batch_size")
    pcts = [float(p) for p in percentages]
    if not pcts or not all(0 <= p <= 100 for p in pcts):
        raise FaithcamValueError(f"percentages must be a non-empty list in [0, 100], got {pcts}")
    targets_t = resolve_targets(model, images, targets, batch_size)
    gen = as_generator(generator, torch.device("cpu"))
    b, _, h, w = images.shape
    ranks = descending_ranks(maps if order == "morf" else -maps).view(b, h, w)
    imputed = torch.stack(
        [
            noisy_linear_imputation(
                images[i], ranks[i] < int(h * w * p / 100), noise=noise, generator=gen
            )
            for i in range(b)
            for p in pcts
        ]
    )
    repeated = targets_t.repeat_interleave(len(pcts))
    curves = torch.empty(b * len(pcts), dtype=torch.float64)
    for sl in chunks(imputed.shape[0], batch_size):
        logits = forward(model, imputed[sl], batch_size)
        if score == "accuracy":
            curves[sl] = (logits.argmax(dim=1) == repeated[sl]).double().cpu()
        else:
            curves[sl] = target_scores(logits, repeated[sl], score).double().cpu()
    curves = curves.view(b, len(pcts))
    return MetricResult(
        f"road_{order}", curves.mean(dim=1), {"curves": curves, "percentages": pcts}
    )

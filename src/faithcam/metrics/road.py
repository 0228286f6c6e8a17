"""ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci, Kasneci, ICML 2022)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from faithcam.engine.defaults import BATCH_SIZE
from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.engine.targets import SCORES
from faithcam.errors import FaithcamValueError, TargetError
from faithcam.metrics._common import (
    ArrayLike,
    MetricResult,
    check_choice,
    check_images,
    check_maps,
    check_model,
    check_positive_int,
    chunks,
    descending_ranks,
    random_generator,
)
from faithcam.metrics.scoring import (
    MetricTarget,
    Targets,
    class_outputs,
    forward,
    metric_target,
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
    noise: float | Sequence[float] | Tensor = 0.01,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Impute the ``removed`` pixels (H, W bool) of ``image`` (C, H, W) as in ROAD.

    Each removed pixel p takes the weighted mean of its 8 neighbours N(p) inside the image
    (weight 1/6 for the 4 direct, 1/12 for the diagonal ones):
    ``Σ_{q ∈ N(p)} w_q (x_p − x_q) = 0``. Removed neighbours are unknowns too, so all removed
    pixels are found at once from one sparse linear system (``scipy.sparse.linalg.spsolve``),
    shared by the channels. Then Gaussian noise ``noise · N(0, 1)`` (one σ, or one per channel)
    is added to the imputed values so that the removal pattern cannot be read from smooth
    patches; without a ``generator`` the noise is seeded with 0.
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
    sigma = np.broadcast_to(np.asarray(noise, dtype=np.float64), (c,))
    if (sigma > 0).any():
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        solved = solved + sigma * torch.randn((n, c), generator=gen, dtype=torch.float64).numpy()
    out[:, unknown] = solved.T
    return torch.from_numpy(out).view(c, h, w).to(image)


ROAD_SCORES = ("accuracy", *SCORES)


def _noise_per_channel(noise: float, images: Tensor, normalization: NormalizationSpec) -> Tensor:
    """ROAD's noise σ in model space, per channel: ``noise`` as given, or, when the input
    ``normalization`` is known, ``noise`` in pixel units ([0, 1] intensities, as the paper
    imputes before normalizing) divided by each channel's std."""
    norm = as_normalization(normalization)
    sigma = torch.full((images.shape[1],), float(noise), dtype=torch.float64)
    if norm is None:
        return sigma
    norm.check(images)
    return sigma / torch.as_tensor(norm.std, dtype=torch.float64).reshape(-1)


def _curve(
    model: Callable[[Tensor], Tensor],
    imputed: Tensor,
    target: MetricTarget,
    percentages: int,
    batch_size: int,
) -> Tensor:
    """ROAD's curve (B, P): the score of each image's P imputed copies."""
    b = imputed.shape[0] // percentages
    image_index = torch.arange(b, device=imputed.device).repeat_interleave(percentages)
    curves = torch.empty(imputed.shape[0], dtype=torch.float64)
    with torch.inference_mode(), model_guard(model):
        for sl in chunks(imputed.shape[0], batch_size):
            outputs = model(imputed[sl])
            if target.score == "accuracy":
                classes = target.class_ids[image_index[sl]]
                curves[sl] = (class_outputs(outputs).argmax(dim=1) == classes).double().cpu()
            else:
                curves[sl] = target.scores(outputs, image_index[sl]).double().cpu()
    return curves.view(b, percentages)


def road(
    model: Callable[[Tensor], Tensor],
    images: Tensor,
    maps: ArrayLike,
    targets: Targets = None,
    *,
    order: Literal["morf", "lerf"] = "morf",
    percentages: Sequence[float] = (10, 20, 30, 40, 50, 60, 70, 80, 90),
    noise: float = 0.01,
    score: Literal["accuracy", "probability", "logit", "sigmoid"] | None = None,
    seed: int | None = None,
    generator: torch.Generator | None = None,
    batch_size: int = BATCH_SIZE,
    normalization: NormalizationSpec = None,
) -> MetricResult:
    """ROAD (Rong et al., "A Consistent and Efficient Evaluation Strategy for Attribution
    Methods", ICML 2022).

    For each percentage p, the ``floor(H·W·p/100)`` pixels ranked first by the map
    (``order="morf"``: most relevant first; ``"lerf"``: least relevant first) are removed and
    re-imputed with :func:`noisy_linear_imputation`, then the model is evaluated. The curve is the
    score per percentage: by default ``"accuracy"``, as the paper and Quantus (1 when the
    prediction still equals the target class), or the target's ``"probability"`` / ``"logit"``
    (a Target object that names its score is scored that way). The per-image value is the mean
    of the curve over the percentages (area under it): lower is better for MoRF, higher for
    LeRF. ``noise`` is the imputation noise's σ in model space, or in pixel units when
    ``normalization=(mean, std)`` is given (the paper imputes [0, 1] images, then normalizes).
    Random draws: ``generator``, else ``seed``. ``details``: ``curves`` (B, P), ``percentages``.
    """
    check_model(model)
    images = check_images(images)
    maps = check_maps(maps, images)
    check_choice(order, "order", ("morf", "lerf"))
    batch_size = check_positive_int(batch_size, "batch_size")
    pcts = [float(p) for p in percentages]
    if not pcts or not all(0 <= p <= 100 for p in pcts):
        raise FaithcamValueError(f"percentages must be a non-empty list in [0, 100], got {pcts}")
    sigma = _noise_per_channel(noise, images, normalization)
    target = metric_target(
        targets, images, lambda: forward(model, images, batch_size),
        score=score, default="accuracy", metric="road", scores=ROAD_SCORES,
    )  # fmt: skip
    if target.score == "accuracy" and target.class_ids is None:
        raise TargetError(
            f"targets: road's accuracy compares the prediction with one class per image; "
            f"{type(target.spec).__name__} has none: pass class ids or a score"
        )
    gen = random_generator(seed, generator, torch.device("cpu"), "road")
    b, _, h, w = images.shape
    ranks = descending_ranks(maps if order == "morf" else -maps).view(b, h, w)
    imputed = torch.stack(
        [
            noisy_linear_imputation(
                images[i], ranks[i] < int(h * w * p / 100), noise=sigma, generator=gen
            )
            for i in range(b)
            for p in pcts
        ]
    )
    curves = _curve(model, imputed, target, len(pcts), batch_size)
    bounds = (0.0, 1.0) if target.score == "accuracy" else target.bounds
    return MetricResult(
        f"road_{order}", curves.mean(dim=1), {"curves": curves, "percentages": pcts}, bounds
    )

"""Shared helpers of the metrics: the result object and its intervals, input checks,
perturbation tools.

Every metric builds on these (and on :mod:`faithcam.metrics.scoring` for targets and model calls)
so that validation, batching and summaries are written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor, nn

from faithcam.cams.baselines import gaussian_blur
from faithcam.engine.deprecation import warn_renamed
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ArrayLike = Tensor | np.ndarray

Z975 = float(stats.norm.ppf(0.975))  # 97.5 % quantile of the standard normal
BOOTSTRAP_RESAMPLES = 2000
Bounds = tuple[float, float] | None


def t_quantile_975(df: int) -> float:
    """97.5 % quantile of Student's t with ``df`` degrees of freedom (NaN below one)."""
    return float(stats.t.ppf(0.975, df)) if df >= 1 else math.nan


def wilson_interval(successes: int, n: int, z: float = Z975) -> tuple[float, float]:
    """Wilson score interval of a rate successes / n (Wilson, JASA 1927), always inside [0, 1]
    (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``; z sets the level)."""
    level = 2 * float(stats.norm.cdf(z)) - 1
    found = stats.binomtest(int(successes), int(n)).proportion_ci(level, method="wilson")
    return (float(found.low), float(found.high))


def bootstrap_interval(
    values: Tensor, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean (``scipy.stats.bootstrap``, seeded so that
    summaries are reproducible); it lies within [min(values), max(values)]."""
    sample = values.detach().cpu().double().numpy()
    found = stats.bootstrap(
        (sample,),
        np.mean,
        n_resamples=resamples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return (float(found.low), float(found.high))


def mean_interval(values: Tensor, bounds: Bounds = None) -> tuple[float, float]:
    """Two-sided 95 % interval of the mean of ``values`` (no NaN), inside ``bounds``.

    Unbounded metrics (``bounds=None``): Student's t, ``mean ± t_{0.975, n-1} · s / sqrt(n)``.
    A metric bounded to (lo, hi) (hi may be ``inf``) gets an interval that cannot leave its
    range: the Wilson score interval when every value is lo or hi (a hit rate such as the
    pointing game or Increase in Confidence, scaled to [lo, hi]), otherwise the seeded
    percentile bootstrap (2.5 % and 97.5 % quantiles of the means of 2000 resamples; Efron,
    1979). Why the bootstrap and not a clipped t interval: its quantiles are means of the values,
    so it lies within [min, max] of the values, inside any range, and it follows the skew of
    values piled up at a bound (deletion AUCs near 0, infidelity's heavy right tail), where a
    symmetric t interval crosses the bound and clipping it would report a one-sided interval as
    if the bound were measured. It agrees with t on large samples. Fewer than two values: NaN.
    """
    n = values.numel()
    if n < 2 or bounds is None:
        mean = float(values.mean()) if n else math.nan
        std = float(values.std()) if n > 1 else math.nan
        half = t_quantile_975(n - 1) * std / math.sqrt(max(n, 1))
        return (mean - half, mean + half)
    values = values.double()
    low, high = bounds
    if math.isfinite(high) and bool(((values == low) | (values == high)).all()):
        rate_low, rate_high = wilson_interval(int((values == high).sum()), n)
        return (low + (high - low) * rate_low, low + (high - low) * rate_high)
    found_low, found_high = bootstrap_interval(values)
    return (min(max(found_low, low), high), max(min(found_high, high), low))


@dataclass(frozen=True, eq=False)
class MetricResult:
    """Per-image values of one metric and their summary.

    ``values`` is a float64 CPU tensor of shape (B,); NaN marks an image the metric is undefined
    for (for example an empty ground-truth mask) and is left out of the summary. The summary is
    the mean with a two-sided 95 % confidence interval (:func:`mean_interval`), inside
    ``bounds`` = (lo, hi), the range of the metric's per-image values (None: unbounded).
    ``details`` holds metric-specific extras (curves, per-layer correlations...).
    """

    name: str
    values: Tensor
    details: dict[str, Any] = field(default_factory=dict)
    bounds: tuple[float, float] | None = None

    @property
    def n(self) -> int:
        return int((~torch.isnan(self.values)).sum())

    @property
    def mean(self) -> float:
        valid = self.values[~torch.isnan(self.values)]
        return float(valid.mean()) if valid.numel() else math.nan

    @property
    def std(self) -> float:
        valid = self.values[~torch.isnan(self.values)]
        return float(valid.std()) if valid.numel() > 1 else math.nan

    @property
    def ci(self) -> tuple[float, float]:
        return mean_interval(self.values[~torch.isnan(self.values)], self.bounds)

    @property
    def ci_low(self) -> float:
        return self.ci[0]

    @property
    def ci_high(self) -> float:
        return self.ci[1]

    def numpy(self) -> np.ndarray:
        return self.values.numpy()

    def summary(self) -> dict[str, float | int | str]:
        low, high = self.ci
        return {"metric": self.name, "mean": self.mean, "ci_low": low, "ci_high": high, "n": self.n}

    def __repr__(self) -> str:
        low, high = self.ci
        return (
            f"MetricResult({self.name}: mean={self.mean:.4g}, "
            f"95% CI=[{low:.4g}, {high:.4g}], n={self.n})"
        )


# ----------------------------------------------------------------------------- input checks
def check_model(model: Any) -> nn.Module | Callable[[Tensor], Tensor]:
    if not callable(model):
        raise FaithcamTypeError(f"model must be a torch.nn.Module or callable, got {type(model)}")
    return model


def check_images(images: Any) -> Tensor:
    """``images`` must be a floating tensor of shape (B, C, H, W) with B >= 1."""
    if not isinstance(images, Tensor):
        raise FaithcamTypeError(
            f"images must be a torch.Tensor of shape (B, C, H, W), got {type(images).__name__}"
        )
    if images.ndim != 4 or images.shape[0] == 0:
        raise FaithcamValueError(
            f"images must have shape (B, C, H, W) with B >= 1, got {tuple(images.shape)}"
        )
    if not images.is_floating_point():
        raise FaithcamTypeError(f"images must be a floating tensor, got dtype {images.dtype}")
    return images


def check_maps(maps: Any, images: Tensor, name: str = "maps") -> Tensor:
    """Return ``maps`` as a float tensor (B, H, W) on the images' device, checking its shape.

    Accepts a tensor or NumPy array of shape (B, H, W) or (B, 1, H, W).
    """
    if isinstance(maps, np.ndarray):
        maps = torch.from_numpy(np.ascontiguousarray(maps))
    elif hasattr(maps, "maps") and isinstance(maps.maps, Tensor):  # a CamResult-like object
        maps = maps.maps
    if not isinstance(maps, Tensor):
        raise FaithcamTypeError(
            f"{name} must be a torch.Tensor or numpy array of shape (B, H, W), "
            f"got {type(maps).__name__}"
        )
    if maps.ndim == 4 and maps.shape[1] == 1:
        maps = maps[:, 0]
    b, _, h, w = images.shape
    if tuple(maps.shape) != (b, h, w):
        raise FaithcamValueError(
            f"{name} must have shape (B, H, W) = {(b, h, w)} to match images "
            f"{tuple(images.shape)}, got {tuple(maps.shape)}"
        )
    maps = maps.detach().to(device=images.device, dtype=images.dtype)
    if not torch.isfinite(maps).all():
        raise FaithcamValueError(f"{name} contains NaN or infinite values")
    return maps


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise FaithcamTypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < minimum:
        raise FaithcamValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


def check_choice(value: Any, name: str, choices: Sequence[str]) -> str:
    if value not in choices:
        raise FaithcamValueError(f"{name} must be one of {list(choices)}, got {value!r}")
    return value


# ----------------------------------------------------------------------------- batching
def chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Slices that cover ``range(n)`` in pieces of at most ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


# ----------------------------------------------------------------------------- perturbation tools
def descending_ranks(maps: Tensor) -> Tensor:
    """Rank (B, H·W) of every pixel in its map, 0 = most important (stable for ties)."""
    flat = maps.reshape(maps.shape[0], -1)
    order = torch.argsort(flat, dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(flat.shape[1], device=flat.device).expand_as(order))
    return ranks


SUBSTRATES = ("black", "blur", "mean")


def substrate(
    images: Tensor, kind: str | Tensor, normalization: NormalizationSpec = None
) -> Tensor:
    """The image that removed pixels are replaced with.

    ``"black"``: pixel black (−mean/std when the input ``normalization`` is given, else
    zeros); ``"blur"``: Gaussian blur (kernel 11, σ = 5, as RISE); ``"mean"``: each
    image's per-channel mean; or a tensor broadcastable to ``images``.
    """
    if isinstance(kind, Tensor):
        try:
            return torch.broadcast_to(kind.to(images), images.shape)
        except RuntimeError as err:
            raise FaithcamValueError(
                f"substrate tensor of shape {tuple(kind.shape)} does not broadcast to images "
                f"{tuple(images.shape)}"
            ) from err
    check_choice(kind, "substrate", SUBSTRATES)
    if kind == "black":
        return black_like(images, normalization)
    if kind == "mean":
        return images.mean(dim=(2, 3), keepdim=True).expand_as(images)
    return gaussian_blur(images, sigma=5.0, radius=5)  # RISE's insertion substrate: 11 x 11


def black_like(images: Tensor, normalization: NormalizationSpec = None) -> Tensor:
    """Pixel-black images like ``images``: −mean/std per channel, or zeros without a
    normalization."""
    norm = as_normalization(normalization)
    if norm is None:
        return torch.zeros_like(images)
    norm.check(images)
    return norm.black(images).expand_as(images).clone()


def minmax_normalize(maps: Tensor) -> Tensor:
    """Per-image min-max scaling to [0, 1]; a constant map becomes all zeros."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).view_as(maps)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise Spearman rank correlation of (N, D) tensors: the Pearson correlation of the
    rows' ranks (``scipy.stats.rankdata``, ties get their average rank).

    NaN where a row is constant (its ranks have no variance).
    """
    ra = torch.from_numpy(stats.rankdata(a.detach().double().cpu().numpy(), axis=1))
    rb = torch.from_numpy(stats.rankdata(b.detach().double().cpu().numpy(), axis=1))
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    denom = ra.norm(dim=1) * rb.norm(dim=1)
    num = (ra * rb).sum(dim=1)
    return torch.where(denom > 0, num / denom.clamp_min(1e-300), torch.full_like(num, math.nan))


def random_generator(
    seed: int | None, generator: torch.Generator | int | None, device: torch.device, where: str
) -> torch.Generator:
    """The random stream of a stochastic metric, as :func:`faithcam.explain` takes it:
    ``generator`` (a torch.Generator, used as given), else a new one seeded with ``seed``, else
    one seeded from torch's global RNG. An int passed as ``generator`` is the old spelling of
    ``seed`` (deprecated)."""
    if isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        if seed is not None:
            raise FaithcamTypeError(f"{where}: got both seed and an int generator; pass seed only")
        warn_renamed("generator=<int>", "seed=<int>", where)
        seed, generator = int(generator), None
    if generator is not None:
        if not isinstance(generator, torch.Generator):
            raise FaithcamTypeError(
                f"generator must be a torch.Generator or None, got {type(generator).__name__}"
            )
        if seed is not None:
            raise FaithcamTypeError(f"{where}: got both seed and generator; pass one")
        return generator
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise FaithcamTypeError(f"seed must be an int or None, got {type(seed).__name__}")
    g = torch.Generator(device=device)
    g.manual_seed(int(torch.randint(0, 2**62, (1,)).item()) if seed is None else int(seed))
    return g


def trapezoid_auc(curves: Tensor, x: Tensor) -> Tensor:
    """Area under each row of ``curves`` (N, T) over the common abscissa ``x`` (T,)."""
    dx = x[1:] - x[:-1]
    return ((curves[:, 1:] + curves[:, :-1]) * dx / 2).sum(dim=1)

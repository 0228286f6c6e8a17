"""Shared helpers of the metrics: input checks, the result object, scoring, perturbation tools.

Every metric builds on these so that validation, target resolution, batching and summaries are
written once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn

from faithcam.cams.baselines import gaussian_blur
from faithcam.engine.model_state import model_guard
from faithcam.engine.normalization import NormalizationSpec, as_normalization
from faithcam.engine.targets import class_scores
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ArrayLike = Tensor | np.ndarray
Targets = None | int | Sequence[int] | Tensor | np.ndarray
Score = Literal["probability", "logit"]

Z975 = 1.959963984540054  # 97.5 % quantile of the standard normal

# 97.5 % quantiles of Student's t for 1..30 degrees of freedom (two-sided 95 % interval).
_T975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """97.5 % quantile of Student's t with ``df`` degrees of freedom (table, then expansion)."""
    if df < 1:
        return math.nan
    if df <= len(_T975):
        return _T975[df - 1]
    z = Z975  # Cornish-Fisher expansion around the normal quantile
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


BOOTSTRAP_RESAMPLES = 2000


def wilson_interval(successes: int, n: int, z: float = Z975) -> tuple[float, float]:
    """Wilson score interval of a rate (Wilson, JASA 1927), always inside [0, 1]:
    (p + z²/2n ± z · sqrt(p(1 − p)/n + z²/4n²)) / (1 + z²/n), p = successes / n."""
    p = successes / n
    centre = p + z * z / (2 * n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    denominator = 1 + z * z / n
    return (max(0.0, (centre - half) / denominator), min(1.0, (centre + half) / denominator))


def bootstrap_interval(
    values: Tensor, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> tuple[float, float]:
    """95 % percentile-bootstrap interval of the mean (seeded, so summaries are reproducible);
    it lies within [min(values), max(values)]."""
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(len(values), (resamples, len(values)), generator=generator)
    means = values.cpu().double()[picks].mean(dim=1)
    low, high = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64))
    return (float(low), float(high))


@dataclass(frozen=True, eq=False)
class MetricResult:
    """Per-image values of one metric and their summary.

    ``values`` is a float64 CPU tensor of shape (B,); NaN marks an image the metric is undefined
    for (for example an empty ground-truth mask) and is left out of the summary. The summary is
    the mean with a two-sided 95 % confidence interval, NaN when fewer than two values are
    defined. Unbounded metrics use Student's t, ``mean ± t_{0.975, n-1} · s / sqrt(n)``
    (s = sample standard deviation). A metric bounded to ``bounds`` = (lo, hi) (deletion and
    insertion of probabilities, pointing games: [0, 1]) gets an interval that cannot leave them:
    the Wilson score interval when every value is lo or hi (a hit rate; Wilson, JASA 1927),
    otherwise the seeded percentile bootstrap (2.5 % and 97.5 % quantiles of the means of
    2000 resamples; Efron, 1979), which lies within the values' range. ``details`` holds
    metric-specific extras (curves, per-layer correlations...).
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
        if self.bounds is None or self.n < 2:
            half = t_quantile_975(self.n - 1) * self.std / math.sqrt(max(self.n, 1))
            return (self.mean - half, self.mean + half)
        valid = self.values[~torch.isnan(self.values)].double()
        low, high = self.bounds
        if bool(((valid == low) | (valid == high)).all()):
            rate_low, rate_high = wilson_interval(int((valid == high).sum()), len(valid))
            return (low + (high - low) * rate_low, low + (high - low) * rate_high)
        return bootstrap_interval(valid)

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


# ----------------------------------------------------------------------------- model calls
def chunks(n: int, batch_size: int) -> Iterator[slice]:
    """Slices that cover ``range(n)`` in pieces of at most ``batch_size``."""
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


def forward(model: Callable[[Tensor], Tensor], inputs: Tensor, batch_size: int) -> Tensor:
    """Model outputs (N, classes) for ``inputs``, in chunks, under ``torch.inference_mode``
    (eval mode, the model's modes and buffers restored afterwards)."""
    with torch.inference_mode(), model_guard(model):
        outs = [_as_logits(model(inputs[s])) for s in chunks(inputs.shape[0], batch_size)]
    return torch.cat(outs)


def _as_logits(out: Any) -> Tensor:
    if hasattr(out, "logits"):  # e.g. Hugging Face outputs
        out = out.logits
    if not isinstance(out, Tensor) or out.ndim != 2:
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise FaithcamValueError(
            f"model must return class scores of shape (N, classes), got {shape}"
        )
    return out


def resolve_targets(
    model: Callable[[Tensor], Tensor], images: Tensor, targets: Targets, batch_size: int
) -> Tensor:
    """Class ids (B,) long: ``None`` means the model's predicted class on ``images``."""
    b = images.shape[0]
    if targets is None:
        return forward(model, images, batch_size).argmax(dim=1)
    if isinstance(targets, (int, np.integer)) and not isinstance(targets, bool):
        return torch.full((b,), int(targets), dtype=torch.long, device=images.device)
    t = torch.as_tensor(np.asarray(targets) if not isinstance(targets, Tensor) else targets)
    if t.is_floating_point() or t.dtype == torch.bool or t.ndim != 1 or t.shape[0] != b:
        raise FaithcamValueError(
            f"targets must be None, an int, or {b} integer class ids of shape (B,), "
            f"got {tuple(t.shape)} {t.dtype}"
        )
    return t.to(device=images.device, dtype=torch.long)


def target_scores(logits: Tensor, targets: Tensor, score: Score) -> Tensor:
    """Score of each row's target class: softmax probability or raw logit. A single-output
    model's probability is the sigmoid σ(z), never a softmax of one value (constant 1).
    """
    n_classes = logits.shape[1]
    if targets.numel() and (targets.min() < 0 or targets.max() >= n_classes):
        raise FaithcamValueError(
            f"targets must be class ids in [0, {n_classes - 1}], got "
            f"min {int(targets.min())}, max {int(targets.max())}"
        )
    return class_scores(logits, targets, score)


def scores_of(
    model: Callable[[Tensor], Tensor],
    inputs: Tensor,
    targets: Tensor,
    score: Score,
    batch_size: int,
) -> Tensor:
    """Target-class scores (N,) of ``inputs`` under ``inference_mode``, in chunks."""
    check_choice(score, "score", ("probability", "logit"))
    with torch.inference_mode(), model_guard(model):
        out = [
            target_scores(_as_logits(model(inputs[s])), targets[s], score)
            for s in chunks(inputs.shape[0], batch_size)
        ]
    return torch.cat(out)


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
    normalisation."""
    norm = as_normalization(normalization)
    if norm is None:
        return torch.zeros_like(images)
    norm.check(images)
    return norm.black(images).expand_as(images).clone()


def minmax_normalise(maps: Tensor) -> Tensor:
    """Per-image min-max scaling to [0, 1]; a constant map becomes all zeros."""
    flat = maps.reshape(maps.shape[0], -1)
    low = flat.min(dim=1, keepdim=True).values
    span = flat.max(dim=1, keepdim=True).values - low
    return ((flat - low) / torch.where(span > 0, span, torch.ones_like(span))).view_as(maps)


def spearman(a: Tensor, b: Tensor) -> Tensor:
    """Row-wise Spearman rank correlation of (N, D) tensors, average ranks for ties.

    NaN where a row is constant (its ranks have no variance).
    """
    ra, rb = average_ranks(a.double()), average_ranks(b.double())
    ra = ra - ra.mean(dim=1, keepdim=True)
    rb = rb - rb.mean(dim=1, keepdim=True)
    denom = ra.norm(dim=1) * rb.norm(dim=1)
    num = (ra * rb).sum(dim=1)
    return torch.where(denom > 0, num / denom.clamp_min(1e-300), torch.full_like(num, math.nan))


def average_ranks(x: Tensor) -> Tensor:
    """Row-wise ranks (1-based) of an (N, D) tensor, ties get their average rank."""
    n = x.shape[0]
    sorted_x, order = torch.sort(x, dim=1, stable=True)
    ranks = torch.empty_like(x)
    for i in range(n):
        _, inverse, counts = torch.unique_consecutive(
            sorted_x[i], return_inverse=True, return_counts=True
        )
        ends = torch.cumsum(counts, 0).to(x.dtype)
        mean_rank = ends - (counts.to(x.dtype) - 1) / 2
        ranks[i, order[i]] = mean_rank[inverse]
    return ranks


def as_generator(generator: torch.Generator | int | None, device: torch.device) -> torch.Generator:
    """A torch.Generator: given, seeded from an int, or a fresh one seeded from torch's RNG."""
    if isinstance(generator, torch.Generator):
        return generator
    g = torch.Generator(device=device)
    if generator is None:
        g.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
    elif isinstance(generator, (int, np.integer)) and not isinstance(generator, bool):
        g.manual_seed(int(generator))
    else:
        raise FaithcamTypeError(
            f"generator must be a torch.Generator, an int seed or None, got {type(generator)}"
        )
    return g


def trapezoid_auc(curves: Tensor, x: Tensor) -> Tensor:
    """Area under each row of ``curves`` (N, T) over the common abscissa ``x`` (T,)."""
    dx = x[1:] - x[:-1]
    return ((curves[:, 1:] + curves[:, :-1]) * dx / 2).sum(dim=1)

"""Samplers of the Monte-Carlo estimators (``sampler=`` on Expected and Smooth): how the random
parts of the sample rows x̃_r = x'_r + α_r (x − x'_r) + ε_r are drawn.

Every draw of row r of an image comes from that image's own streams
(:mod:`faithcam.cams.estimators.streams`): the same image gives the same map in any batch.
Per-pixel noise is a transform of uniform draws u ∈ (0, 1): uniform-noise baselines
min + (max − min) u, Gaussian ones and the kernel noise ε through the inverse normal CDF Φ⁻¹(u).

- ``"random"``: i.i.d. draws (Smooth's default).
- ``"sobol"``: **low-discrepancy** where the dimension is small: row r's
  path position α_r and, with a reference set D (``ReferenceSet``/``"others"``), its
  reference are the r-th point (α, u) of a 2-D scrambled Sobol' sequence (Owen scrambling,
  ``SobolEngine(scramble=True)``, one scrambling per image; 1-D without D): the reference is
  the ⌊u R'⌋-th of the R' images of D other than the image itself. Any prefix of n points is
  uniform and stratified jointly in (α, reference). (Cycling a permutation of D instead, as
  before, gave each reference the α of a fixed quarter of [0, 1) when R = 4: Sobol' points
  r ≡ c mod 4 share their first two binary digits, and the error stopped falling with n.)
  Per-pixel noise stays i.i.d.
- ``"qmc"`` (Expected's default): ``"sobol"`` for α and the references, and a **Latin
  hypercube** over the n rows for every per-pixel draw (noise baselines and ε): pixel j of row
  r takes u = (π_j(r − 1) + v) / n, π_j(i) = (a_j i + c_j) mod n a random permutation of the n
  strata per pixel (a_j a random unit mod n, c_j uniform), v ~ U(0, 1). Each pixel's n draws
  cover the n strata of [0, 1) once; n = ``samples`` (under ``tolerance=``: each replicate's
  rows in consecutive hypercubes of ``HYPERCUBE_BLOCK`` rows).
  Without per-pixel draws (a black, blurred or data baseline with σ = 0) it draws exactly what
  ``"sobol"`` draws.
- ``"antithetic"``: α_r i.i.d., and the per-pixel draws come in antithetic pairs: rows (1, 2),
  (3, 4), … take u and 1 − u (ε and −ε; uniform noise U and 1 − U about the image's range).
- ``"sobol-antithetic"``: both.

Every row keeps the marginal distribution of ``"random"`` (scrambled Sobol' points are
uniform, a random permutation makes each stratum uniform, 1 − u ~ u), so every
sampler is unbiased; only the correlations between an image's rows change.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
from torch.quasirandom import SobolEngine

from faithcam.cams.baselines import Baseline, GaussianNoise, ReferenceSet, UniformNoise
from faithcam.errors import FaithcamValueError

if TYPE_CHECKING:
    from faithcam.cams.estimators.rows import RowPlan
    from faithcam.cams.estimators.streams import Streams

# Under tolerance= each replicate's rows form Latin hypercubes of this many rows in turn, so a
# replicate stopped early holds whole hypercubes, not the start of one sized for the cap.
HYPERCUBE_BLOCK = 8
SAMPLERS = ("random", "antithetic", "sobol", "sobol-antithetic", "qmc")
QUASI_RANDOM = ("sobol", "sobol-antithetic", "qmc")


def check_sampler(sampler: str, valid: tuple[str, ...] = SAMPLERS) -> str:
    """``sampler`` if it is one of ``valid``, else a one-line FaithcamValueError."""
    if not isinstance(sampler, str) or sampler not in valid:
        raise FaithcamValueError(
            f"sampler: unknown {sampler!r}; valid: {', '.join(repr(v) for v in valid)}"
        )
    return sampler


def replicate_of(
    position: torch.Tensor, replicates: int, unit: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """(replicate, index in it) of the rows at ``position`` ≥ 1 when the rows of an image are
    ``replicates`` interleaved independent randomisations, dealt in blocks of ``unit`` rows (an
    antithetic pair stays in one replicate): block q = (position − 1) // unit goes to replicate
    q mod R, as its (q // R)-th block."""
    row = (position - 1).clamp(min=0)
    block, offset = row // unit, row % unit
    return block % replicates, (block // replicates) * unit + offset


class Draws:
    """The random parts of one call's rows under ``sampler``: per image, its scrambled Sobol'
    sequence (extended lazily) and its Latin-hypercube permutations, all from the image's own
    ``streams``; ``samples`` = n.

    ``replicates`` = R > 1 (``tolerance=`` with a quasi-random sampler): the rows of an image
    are R independent randomisations (own scrambling and hypercube), interleaved
    (:func:`replicate_of`), so the spread of their means estimates the error (RQMC)."""

    def __init__(
        self,
        sampler: str,
        streams: Streams,
        samples: int,
        n_references: int | None = None,
        replicates: int = 1,
    ) -> None:
        self.streams = streams
        self.sobol = sampler in QUASI_RANDOM
        self.antithetic = sampler.endswith("antithetic")
        self.latin = sampler == "qmc"
        self.replicates = replicates
        self.unit = 2 if self.antithetic else 1
        # the Latin hypercube's n: all the rows, or, between replicates (tolerance=, which may
        # stop at any count), consecutive blocks of HYPERCUBE_BLOCK rows of each replicate
        per_replicate = -(-samples // replicates)
        self.samples = per_replicate if replicates == 1 else min(per_replicate, HYPERCUBE_BLOCK)
        self.n_references = n_references if self.sobol else None
        self._sequences: dict[tuple, tuple[SobolEngine, torch.Tensor]] = {}

    def alpha(self, image_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """α of the rows: coordinate 0 of their replicate's scrambled Sobol' points, or i.i.d."""
        if not self.sobol:
            return self.streams.uniform(image_index.cpu(), position, "alpha").float().cpu()
        return self._sobol(image_index, position, 0).float()

    def reference_uniforms(self, image_index: torch.Tensor, position: torch.Tensor):
        """u ∈ [0, 1) choosing each row's reference: coordinate 1 of the same Sobol' points, so
        that (α, reference) is stratified jointly."""
        return self._sobol(image_index, position, 1)

    def _sobol(self, image_index, position, coordinate: int) -> torch.Tensor:
        """Coordinate ``coordinate`` of each row's point: the (index)-th point of the 1-D (2-D
        with a reference set) scrambled Sobol' sequence of its image and replicate."""
        image_index = image_index.cpu()
        replicate, index = replicate_of(position, self.replicates, self.unit)
        out = torch.empty(len(position), dtype=torch.float64)
        for b, r in torch.stack([image_index, replicate], 1).unique(dim=0).tolist():
            rows = (image_index == b) & (replicate == r)
            out[rows] = self._points((b, r), index[rows])[:, coordinate]
        return out

    def _points(self, key: tuple[int, int], index: torch.Tensor) -> torch.Tensor:
        dimension = 1 if self.n_references is None else 2
        empty = torch.empty(0, dimension, dtype=torch.float64)
        engine, drawn = self._sequences.get(key, (None, empty))
        if engine is None:
            seed = self.streams.seed(key[0], f"alpha-{key[1]}" if key[1] else "alpha")
            engine = SobolEngine(dimension, scramble=True, seed=seed)
        needed = int(index.max()) + 1
        if needed > len(drawn):
            drawn = torch.cat([drawn, engine.draw(needed - len(drawn), dtype=torch.float64)])
        self._sequences[key] = (engine, drawn)
        return drawn[index]

    @property
    def stratified(self) -> bool:
        return self.n_references is not None

    def uniform(self, plan: RowPlan, stream: str, shape: tuple) -> torch.Tensor:
        """(N, *shape) float64 draws u ~ U(0, 1) of ``stream`` (1 − u on antithetic rows)."""
        u, flip = self._uniforms(plan, stream, shape)
        return torch.where(flip.view(-1, *([1] * len(shape))), 1 - u, u)

    def normal(self, plan: RowPlan, stream: str, shape: tuple) -> torch.Tensor:
        """(N, *shape) float64 draws z = Φ⁻¹(u) ~ N(0, 1) (−z on antithetic rows)."""
        u, flip = self._uniforms(plan, stream, shape)
        z = torch.special.ndtri(u)
        return torch.where(flip.view(-1, *([1] * len(shape))), -z, z)

    def _uniforms(self, plan: RowPlan, stream: str, shape: tuple):
        """u of each row (an antithetic pair's second row: the first row's) and which flip."""
        index, position = plan.image_index.cpu(), plan.position
        flip = torch.zeros(len(position), dtype=torch.bool)
        if self.antithetic:
            flip = (position > 0) & (position % 2 == 0)
            position = position - flip.long()
        u = self.streams.uniform(index, position, stream, shape)
        if self.latin:
            u = self._latin(index, position, stream, u)
        return u, flip.to(u.device)

    def _latin(self, index, position, stream: str, jitter: torch.Tensor) -> torch.Tensor:
        """(π_j(i) + v) / n per pixel j, i the row's index in its block of n rows of its
        replicate: a Latin hypercube over each block (one block without replicates)."""
        n = self.samples
        units = torch.tensor([a for a in range(1, n + 1) if math.gcd(a, n) == 1])
        size = jitter[0].numel() if len(jitter) else 0
        replicate, within = replicate_of(position, self.replicates, self.unit)
        block, within = within // n, within % n
        out = torch.empty_like(jitter)
        groups = torch.stack([index, replicate, block], 1).unique(dim=0).tolist()
        for b, r, q in groups:
            rows = ((index == b) & (replicate == r) & (block == q)).nonzero().flatten()
            name = f"{stream}-{r}" if r else stream
            name = f"{name}-block{q}" if q else name
            pick = self.streams.integers(b, f"latin-slope-{name}", len(units), size)
            slope = units.to(pick.device)[pick]
            shift = self.streams.integers(b, f"latin-shift-{name}", n, size)
            step = within[rows].to(slope.device).view(-1, 1)
            strata = (slope * step + shift) % n
            rows = rows.to(jitter.device)
            v = jitter.index_select(0, rows)
            out[rows] = (strata.view_as(v).to(v.dtype) + v) / n
        return out


def sample_baselines(
    baseline: Baseline, x: torch.Tensor, plan: RowPlan, draws: Draws
) -> torch.Tensor:
    """The baseline x'_r of each row: a stratified reference, a noise baseline from the
    sampler's uniform/normal draws, or (any other baseline) its own call with the row's
    generator."""
    if draws.stratified and isinstance(baseline, ReferenceSet):
        return stratified_references(baseline, x, plan, draws)
    shape = tuple(x.shape[1:])
    if isinstance(baseline, UniformNoise):
        return baseline.from_uniform(x, draws.uniform(plan, "baseline", shape).to(x))
    if isinstance(baseline, GaussianNoise):
        return baseline.from_normal(x, draws.normal(plan, "baseline", shape).to(x))
    if not baseline.stochastic:
        return baseline(x, plan.image_index, None)
    rows = []
    for i, (b, p) in enumerate(zip(plan.image_index.tolist(), plan.position.tolist(), strict=True)):
        generator = draws.streams.generator(b, "baseline", p)
        rows.append(baseline(x[i : i + 1], plan.image_index[i : i + 1], generator))
    return torch.cat(rows)


def stratified_references(
    baseline: ReferenceSet, x: torch.Tensor, plan: RowPlan, draws: Draws
) -> torch.Tensor:
    """Reference of each row from the second coordinate u of its Sobol' point: the ⌊u R'⌋-th
    of the R' images of the set other than the row's own image (R' = R − 1 when the image is
    in the set), so each pick is uniform over the others and (α, pick) is stratified."""
    images = baseline.images
    index = plan.image_index.cpu()
    u = draws.reference_uniforms(index, plan.position)
    own = torch.full((len(index),), len(images), dtype=torch.long)  # R: not in the set
    if len(images) > 1:
        for b in index.unique().tolist():
            row = int((index == b).nonzero()[0])
            same = (images == x[row].to(images)).flatten(1).all(1).nonzero().flatten()
            if len(same):
                own[index == b] = int(same[0].cpu())
    count = len(images) - (own < len(images)).long()
    k = (u * count).floor().long().clamp(max=len(images) - 1)
    picks = k + (k >= own).long()
    return images[picks.to(images.device)].to(device=x.device, dtype=x.dtype)

"""Samplers of the Monte-Carlo estimators (``sampler=`` on Expected and Smooth): how the random
parts of the sample rows x̃_r = x'_r + α_r (x − x'_r) + ε_r are drawn.

Every draw of row r of an image comes from that image's own streams
(:mod:`faithcam.cams.estimators.streams`): the same image gives the same map in any batch.
Per-pixel noise is a transform of uniform draws u ∈ (0, 1): uniform-noise baselines
min + (max − min) u, Gaussian ones and the kernel noise ε through the inverse normal CDF Φ⁻¹(u).

- ``"random"``: i.i.d. draws (Smooth's default).
- ``"sobol"`` (Expected's default): **low-discrepancy** where the dimension is small: the path
  position α_r is the r-th point of a 1-D scrambled Sobol' sequence (Owen scrambling,
  ``SobolEngine(scramble=True)``, one scrambling per image), so any prefix of n points is
  uniform on [0, 1) and stratified; with a reference set D (``ReferenceSet``/``"others"``) the
  reference of row r is the ((r − 1) mod R)-th image of a random permutation of D (per image;
  every reference is used ⌊n/R⌋ or ⌈n/R⌉ times). Per-pixel noise stays i.i.d.
- ``"qmc"``: ``"sobol"`` for α and the references, and a **Latin hypercube** over the n rows
  for every per-pixel draw (noise baselines and ε): pixel j of row r takes
  u = (π_j(r − 1) + v) / n, π_j(i) = (a_j i + c_j) mod n a random permutation of the n strata
  per pixel (a_j a random unit mod n, c_j uniform), v ~ U(0, 1). Each pixel's n draws cover
  the n strata of [0, 1) once; n = ``samples``.
- ``"antithetic"``: α_r i.i.d., and the per-pixel draws come in antithetic pairs: rows (1, 2),
  (3, 4), … take u and 1 − u (ε and −ε; uniform noise U and 1 − U about the image's range).
- ``"sobol-antithetic"``: both.

Every row keeps the marginal distribution of ``"random"`` (scrambled Sobol' points are
uniform, a random permutation makes each pick and each stratum uniform, 1 − u ~ u), so every
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

SAMPLERS = ("random", "antithetic", "sobol", "sobol-antithetic", "qmc")


def check_sampler(sampler: str, valid: tuple[str, ...] = SAMPLERS) -> str:
    """``sampler`` if it is one of ``valid``, else a one-line FaithcamValueError."""
    if not isinstance(sampler, str) or sampler not in valid:
        raise FaithcamValueError(
            f"sampler: unknown {sampler!r}; valid: {', '.join(repr(v) for v in valid)}"
        )
    return sampler


class Draws:
    """The random parts of one call's rows under ``sampler``: per image, its scrambled Sobol'
    sequence (extended lazily), its permutation of the reference set and its Latin-hypercube
    permutations, all from the image's own ``streams``; ``samples`` = n."""

    def __init__(
        self, sampler: str, streams: Streams, samples: int, n_references: int | None = None
    ) -> None:
        self.streams = streams
        self.samples = samples
        self.sobol = sampler in ("sobol", "sobol-antithetic", "qmc")
        self.antithetic = sampler.endswith("antithetic")
        self.latin = sampler == "qmc"
        self.n_references = n_references if self.sobol else None
        self._sequences: dict[int, tuple[SobolEngine, torch.Tensor]] = {}
        self._permutations: dict[int, torch.Tensor] = {}

    def alpha(self, image_index: torch.Tensor, position: torch.Tensor) -> torch.Tensor:
        """α of the rows: the image's (position − 1)-th scrambled Sobol' point, or i.i.d."""
        image_index = image_index.cpu()
        if not self.sobol:
            return self.streams.uniform(image_index, position, "alpha").float().cpu()
        out = torch.empty(len(position), dtype=torch.float64)
        for b in image_index.unique().tolist():
            rows = image_index == b
            out[rows] = self._sobol(b, (position[rows] - 1).clamp(min=0))
        return out.float()

    def _sobol(self, image: int, index: torch.Tensor) -> torch.Tensor:
        engine, drawn = self._sequences.get(image, (None, torch.empty(0, dtype=torch.float64)))
        if engine is None:
            engine = SobolEngine(1, scramble=True, seed=self.streams.seed(image, "alpha"))
        needed = int(index.max()) + 1
        if needed > len(drawn):
            more = engine.draw(needed - len(drawn), dtype=torch.float64).flatten()
            drawn = torch.cat([drawn, more])
        self._sequences[image] = (engine, drawn)
        return drawn[index]

    @property
    def stratified(self) -> bool:
        return self.n_references is not None

    def picks(
        self, image_index: torch.Tensor, position: torch.Tensor, shift: int = 0
    ) -> torch.Tensor:
        """Reference of each row: its image's permutation, cycled (``shift`` = the next)."""
        out = torch.empty(len(position), dtype=torch.long)
        for i, (b, p) in enumerate(zip(image_index.tolist(), position.tolist(), strict=True)):
            if b not in self._permutations:
                g = self.streams.generator(b, "references")
                perm = torch.randperm(self.n_references, generator=g, device=g.device)
                self._permutations[b] = perm.cpu()
            perm = self._permutations[b]
            out[i] = perm[max(p - 1 + shift, 0) % len(perm)]
        return out

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
        """(π_j(r − 1) + v) / n per pixel j: a Latin hypercube over the image's n rows."""
        n = self.samples
        units = torch.tensor([a for a in range(1, n + 1) if math.gcd(a, n) == 1])
        size = jitter[0].numel() if len(jitter) else 0
        out = torch.empty_like(jitter)
        for b in index.unique().tolist():
            rows = (index == b).nonzero().flatten()
            pick = self.streams.integers(b, f"latin-slope-{stream}", len(units), size)
            slope = units.to(pick.device)[pick]
            shift = self.streams.integers(b, f"latin-shift-{stream}", n, size)
            step = (position[rows] - 1).clamp(min=0).to(slope.device).view(-1, 1)
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
    """Reference of each row from its image's cycled random permutation of the reference set;
    a pick identical to the row's own image takes the next one of the cycle (uniform over the
    others)."""
    images = baseline.images
    index = plan.image_index.cpu()
    picks = draws.picks(index, plan.position).to(images.device)
    chosen = images[picks].to(device=x.device, dtype=x.dtype)
    if len(images) > 1:
        itself = (chosen == x).flatten(1).all(1).to(images.device)
        if bool(itself.any()):
            following = draws.picks(index, plan.position, 1).to(images.device)
            picks = torch.where(itself, following, picks)
            chosen = images[picks].to(device=x.device, dtype=x.dtype)
    return chosen

"""Samplers of the Monte-Carlo estimators (``sampler=`` on Expected and Smooth): how the random
parts of the sample rows x̃_r = x'_r + α_r (x − x'_r) + ε_r are drawn.

- ``"random"``: i.i.d. draws from the call's generator (Smooth's default).
- ``"sobol"`` (Expected's default) — **low-discrepancy** where the dimension is small: the
  path position α_r is the r-th point of a 1-D scrambled Sobol' sequence (Owen scrambling,
  ``SobolEngine(scramble=True)`` seeded from the generator), so any prefix of n points is
  uniform on [0, 1) and stratified;
  with a reference set D (``ReferenceSet``/``"others"``) the reference of row r is the
  ((r − 1) mod R)-th image of a random permutation of D (stratified: every reference is used
  ⌊n/R⌋ or ⌈n/R⌉ times). Each image uses the positions 1…n of the same sequence.
- ``"antithetic"``: α_r i.i.d., and the **per-pixel** draws come in antithetic pairs: rows
  (1, 2), (3, 4), … share |ε| with opposite signs (ε, −ε), and noise baselines are reflected
  about their centre (uniform noise U → 1 − U, Gaussian x + e → x − e). Per-pixel draws have
  thousands of dimensions, where Sobol' points would be no better than random ones.
- ``"sobol-antithetic"``: both.

Every row keeps the marginal distribution of ``"random"`` (scrambled Sobol' points are
uniform, a random permutation makes each pick uniform, −ε ~ ε), so every sampler is unbiased;
only the correlations between an image's rows change, which lowers the variance of their mean.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch.quasirandom import SobolEngine

from faithcam.cams.baselines import Baseline, GaussianNoise, ReferenceSet, UniformNoise
from faithcam.errors import FaithcamValueError

if TYPE_CHECKING:
    from faithcam.cams.estimators.rows import RowPlan

SAMPLERS = ("random", "antithetic", "sobol", "sobol-antithetic")
Reflect = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def check_sampler(sampler: str, valid: tuple[str, ...] = SAMPLERS) -> str:
    """``sampler`` if it is one of ``valid``, else a one-line FaithcamValueError."""
    if not isinstance(sampler, str) or sampler not in valid:
        raise FaithcamValueError(
            f"sampler: unknown {sampler!r}; valid: {', '.join(repr(v) for v in valid)}"
        )
    return sampler


class Draws:
    """The per-call state of a non-random sampler: the scrambled Sobol' sequence (extended
    lazily, one float per position used), the permutation of the reference set, and the first
    rows of antithetic pairs whose partner falls in a later chunk (at most one per image)."""

    def __init__(
        self, sampler: str, generator: torch.Generator | None, n_references: int | None = None
    ) -> None:
        self.sobol = sampler.startswith("sobol")
        self.antithetic = sampler.endswith("antithetic")
        device = generator.device if generator is not None else None
        self._engine: SobolEngine | None = None
        self._alpha = torch.empty(0)
        self._permutation: torch.Tensor | None = None
        if self.sobol:
            seed = int(torch.randint(2**62, (1,), generator=generator, device=device))
            self._engine = SobolEngine(1, scramble=True, seed=seed)
            if n_references:
                perm = torch.randperm(n_references, generator=generator, device=device)
                self._permutation = perm.cpu()
        self._pending: dict[str, dict[int, torch.Tensor]] = {}

    def alpha(self, position: torch.Tensor) -> torch.Tensor:
        """α of the rows at ``position`` ≥ 1: the (position − 1)-th scrambled Sobol' point."""
        index = (position - 1).clamp(min=0)
        needed = int(index.max()) + 1 if len(index) else 0
        if needed > len(self._alpha):
            more = self._engine.draw(needed - len(self._alpha), dtype=torch.float64).flatten()
            self._alpha = torch.cat([self._alpha.double(), more])
        return self._alpha[index].float()

    @property
    def stratified(self) -> bool:
        return self._permutation is not None

    def picks(self, position: torch.Tensor, shift: int = 0) -> torch.Tensor:
        """Reference of the rows at ``position``: the permutation, cycled (``shift`` = the next)."""
        perm = self._permutation
        return perm[(position - 1 + shift).clamp(min=0) % len(perm)]

    def pair(
        self,
        key: str,
        image_index: torch.Tensor,
        position: torch.Tensor,
        fresh: torch.Tensor,
        reflect: Reflect,
    ) -> torch.Tensor:
        """Antithetic pairs of per-row draws: rows at even positions p ≥ 2 take
        ``reflect(draw of row p − 1, rows)``, the others keep their ``fresh`` draw.

        ``image_index``/``position`` are the chunk's (CPU) plan; ``rows`` given to ``reflect``
        are the positions in the chunk of the rows being reflected."""
        pending = self._pending.setdefault(key, {})
        n = len(position)
        second = (position > 0) & (position % 2 == 0)
        first = position % 2 == 1
        follows = torch.zeros(n, dtype=torch.bool)
        if n > 1:
            same_image = image_index[1:] == image_index[:-1]
            follows[1:] = same_image & (position[1:] == position[:-1] + 1)
        out = fresh.clone()
        inside = (second & follows).nonzero().flatten()
        if len(inside):
            rows = inside.to(fresh.device)
            out[rows] = reflect(fresh.index_select(0, rows - 1), rows)
        for row in (second & ~follows).nonzero().flatten().tolist():
            partner = pending.pop(int(image_index[row]))
            out[row] = reflect(partner.unsqueeze(0), torch.tensor([row], device=fresh.device))[0]
        precedes = torch.zeros(n, dtype=torch.bool)
        precedes[:-1] = follows[1:]
        for row in (first & ~precedes).nonzero().flatten().tolist():
            pending[int(image_index[row])] = fresh[row].clone()
        return out


def stratified_references(
    baseline: ReferenceSet, x: torch.Tensor, position: torch.Tensor, draws: Draws
) -> torch.Tensor:
    """Reference of each row from the cycled random permutation of the reference set; a pick
    identical to the row's own image takes the next one of the cycle (uniform over the others)."""
    images = baseline.images
    picks = draws.picks(position).to(images.device)
    chosen = images[picks].to(device=x.device, dtype=x.dtype)
    if len(images) > 1:
        itself = (chosen == x).flatten(1).all(1).to(images.device)
        if bool(itself.any()):
            picks = torch.where(itself, draws.picks(position, 1).to(images.device), picks)
            chosen = images[picks].to(device=x.device, dtype=x.dtype)
    return chosen


def antithetic_baselines(
    baseline: Baseline, x: torch.Tensor, plan: RowPlan, references: torch.Tensor, draws: Draws
) -> torch.Tensor:
    """Noise baselines in antithetic pairs: uniform noise reflected about the middle of the
    image's range (U → 1 − U), Gaussian noise about the image (x + e → x − e)."""
    if isinstance(baseline, UniformNoise):
        flat = x.flatten(1)
        centre2 = (flat.amin(1) + flat.amax(1)).view(-1, 1, 1, 1)
    elif isinstance(baseline, GaussianNoise):
        centre2 = 2 * x
    else:
        return references

    def reflect(partner, rows):
        return centre2.index_select(0, rows) - partner

    return draws.pair("baseline", plan.image_index.cpu(), plan.position, references, reflect)

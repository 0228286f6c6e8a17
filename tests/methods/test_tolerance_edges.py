"""Sampling to a tolerance at its edges: who is served, whole antithetic pairs, images that stop
at different counts, maps that are zero (issue 25: the edge cases behind the hand-written
mutants of cams/estimators/runner.py and reduce.py). Expected values are worked out by hand."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

import faithcam
from faithcam.cams.estimators.reduce import Welford
from faithcam.cams.estimators.runner import Tolerance


class StopRuleEstimator:
    """The part of an estimator that the stop rule reads; a plan is (image index, position)."""

    def __init__(self, samples: int, tolerance: float) -> None:
        self.samples, self.tolerance = samples, tolerance

    def plan(self, index, position, draws):
        return index, position


class AntitheticDraws:
    """What the stop rule reads of antithetic draws: checks fall on whole pairs (unit 2) of
    one i.i.d. stream (no randomised replicates)."""

    antithetic = True
    unit = 2
    replicates = 1


def run_plans(n_images, samples, tolerance, batch_size, maps, draws=None):
    """The chunks' (image index, position) lists, feeding sample r of image b the map
    maps[b][r - 1] (position 0 is the input row)."""
    moments = Welford(n_images)
    rule = Tolerance(StopRuleEstimator(samples, tolerance), moments, draws)
    chunks = []
    for index, position in rule.plans(n_images, batch_size):
        chunks.append(list(zip(index.tolist(), position.tolist(), strict=True)))
        rows = [(b, p) for b, p in chunks[-1] if p > 0]
        if rows:
            values = torch.stack([maps[b][p - 1] for b, p in rows])
            moments.add(torch.tensor([b for b, _ in rows]), values)
    return chunks


def test_tolerance_serves_every_image_before_any_twice() -> None:
    """3 images, 2 rows per chunk: the second chunk serves the image the first one left out."""
    maps = torch.randn(3, 40, 2, 2, generator=torch.Generator().manual_seed(0))
    chunks = run_plans(3, 32, 1e-9, 2, maps)
    assert {b for b, _ in chunks[0]} == {0, 1} and 2 in {b for b, _ in chunks[1]}


def test_antithetic_blocks_end_on_whole_pairs() -> None:
    """Pairs are positions (1, 2), (3, 4), ...: every chunk ends on an even position."""
    maps = torch.randn(1, 40, 2, 2, generator=torch.Generator().manual_seed(0))
    chunks = run_plans(1, 32, 1e-9, 4, maps, AntitheticDraws())
    assert all(chunk[-1][1] % 2 == 0 for chunk in chunks), chunks
    assert chunks[-1][-1][1] == 32


def _maps_whose_error_first_drops_at_an_odd_count():
    """Seeded maps of one image, their hand-computed relative standard errors RSE(k) for
    k = 16..32, and the odd counts k ≥ 17 whose RSE is below every earlier one (not empty)."""
    maps = 1.0 + 0.5 * torch.randn(1, 40, 2, 2, generator=torch.Generator().manual_seed(3),
                                   dtype=torch.float64)  # fmt: skip
    values = maps[0].numpy()
    rse = {k: np.sqrt(values[:k].var(0, ddof=1).sum() / k) / np.linalg.norm(values[:k].mean(0))
           for k in range(16, 33)}  # fmt: skip
    odd = [k for k in range(17, 33, 2) if rse[k] < min(rse[j] for j in range(16, k))]
    assert odd, rse
    return maps, rse, odd


def test_antithetic_sampling_stops_only_after_whole_pairs() -> None:
    """One row per chunk; the tolerance is 2 · RSE at the first odd count k* (≥ 16) where the
    hand-computed RSE drops below every earlier one, so the rule may stop there only if it
    ignored pairs: it stops at an even count after k*."""
    maps, rse, odd = _maps_whose_error_first_drops_at_an_odd_count()
    chunks = run_plans(1, 32, 2 * rse[odd[0]] * (1 + 1e-9), 1, maps, AntitheticDraws())
    used = sum(p > 0 for chunk in chunks for _, p in chunk)
    assert used % 2 == 0 and used > odd[0]


class ReluSum(nn.Module):
    """A = x (layer ``features``), score = Σ ReLU(A): G = 1[A > 0], so Grad-CAM's map is
    A · mean(1[A > 0]) per pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.features.weight.fill_(1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.features(x)).flatten(1).sum(1, keepdim=True)


def test_images_that_stop_early_average_their_own_samples() -> None:
    """A constant image has value range 0, hence no noise: its per-sample maps never vary and
    it stops at 16 samples. At 5: G = 1 everywhere, map 5 · 1 = 5. At −5: G = 0, a zero map
    with no spread (error 0, not 0/0). A random image never meets 1e-6: 32 samples."""
    images = torch.stack([torch.full((1, 4, 4), 5.0), torch.full((1, 4, 4), -5.0),
                          torch.rand(1, 4, 4) * 2 - 1])  # fmt: skip
    result = faithcam.explain(ReluSum(), images, "gradcam", targets=0, layer="features",
                              estimator="smooth", samples=32, sigma=0.5, tolerance=1e-6,
                              batch_size=51, seed=0)  # fmt: skip
    assert result.settings["samples_used"] == [16, 16, 32]
    torch.testing.assert_close(result.raw_maps[0], torch.full((4, 4), 5.0))
    torch.testing.assert_close(result.raw_maps[1], torch.zeros(4, 4))


def test_an_unmet_tolerance_uses_every_sample_whatever_the_chunks() -> None:
    """The cap is ``samples`` rows after the input row (positions 1..n), including a block
    that ends at position n − 1 (batch 16: positions 0..15, then 16)."""
    maps = torch.randn(1, 40, 2, 2, generator=torch.Generator().manual_seed(0))
    for batch_size in (4, 5, 16, 17, 40):
        chunks = run_plans(1, 16, 1e-9, batch_size, maps)
        positions = [p for chunk in chunks for _, p in chunk]
        assert positions == list(range(17)), (batch_size, positions)


def test_iid_sampling_may_stop_at_an_odd_count() -> None:
    """Without antithetic pairs or replicates (no draws), the rule checks after every row: with
    the tolerance at 2 · RSE of the first odd count k* (≥ 17) whose hand-computed RSE is below
    every earlier one, it stops exactly at k*, one row per chunk."""
    maps, rse, odd = _maps_whose_error_first_drops_at_an_odd_count()
    chunks = run_plans(1, 32, 2 * rse[odd[0]] * (1 + 1e-9), 1, maps)
    assert sum(p > 0 for chunk in chunks for _, p in chunk) == odd[0]

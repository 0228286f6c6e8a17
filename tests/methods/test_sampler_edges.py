"""Edge cases of the samplers, per-image streams and quasi-random tolerance (issue 28), each
against a value derived by hand or an exact property of the draws (a permutation, a mirror, a
stratum per row), never against the code's own output: replicate dealing by hand, antithetic
pairs of every antithetic sampler, one scrambling per replicate, Latin hypercubes per replicate,
stratified references that never pick the image itself and pick every other one equally, stream
seeds keyed by content, stream and generator, replicate sums per image, and tolerance checks on
equal counts per replicate."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import faithcam
from faithcam.cams.baselines import ReferenceSet
from faithcam.cams.estimators.reduce import Replicates
from faithcam.cams.estimators.samplers import Draws, replicate_of, stratified_references
from faithcam.cams.estimators.streams import Streams
from tests.methods.test_seed_methods import TanhHeadNet


def streams_of(n_images: int = 1, seed: int = 0) -> Streams:
    images = torch.rand(n_images, 3, 4, 4, generator=torch.Generator().manual_seed(seed + 100))
    return Streams.of(images, torch.Generator().manual_seed(seed))


def plan(positions, image: int = 0) -> SimpleNamespace:
    position = torch.as_tensor(positions)
    return SimpleNamespace(image_index=torch.full_like(position, image), position=position)


def test_replicate_dealing_by_hand_with_antithetic_pairs():
    # positions 1..8, R = 2, pairs: blocks (1,2) (3,4) (5,6) (7,8) -> replicates 0 1 0 1
    replicate, index = replicate_of(torch.arange(1, 9), 2, unit=2)
    assert replicate.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert index.tolist() == [0, 1, 0, 1, 2, 3, 2, 3]
    replicate, index = replicate_of(torch.arange(1, 7), 3)
    assert replicate.tolist() == [0, 1, 2, 0, 1, 2] and index.tolist() == [0, 0, 0, 1, 1, 1]


@pytest.mark.parametrize("sampler", ["antithetic", "sobol-antithetic"])
def test_every_antithetic_sampler_mirrors_rows_one_and_two(sampler):
    draws = Draws(sampler, streams_of(), samples=6)
    u = draws.uniform(plan([1, 2, 3, 4]), "baseline", (5,))
    z = draws.normal(plan([1, 2, 3, 4]), "noise", (5,))
    for first in (0, 2):
        torch.testing.assert_close(u[first] + u[first + 1], torch.ones(5, dtype=torch.float64))
        torch.testing.assert_close(z[first] + z[first + 1], torch.zeros(5, dtype=torch.float64))
    assert not torch.allclose(u[0], u[2])  # pairs differ from each other


def test_each_replicate_has_its_own_scrambling():
    draws = Draws("sobol", streams_of(), samples=16, replicates=8)
    alpha = draws.alpha(torch.zeros(16, dtype=torch.long), torch.arange(1, 17))
    first_points = alpha[:8]  # positions 1..8: the first point of replicates 0..7
    assert len(set(first_points.tolist())) == 8
    # each replicate's two points are a scrambled Sobol' prefix: one in each half of [0, 1)
    for r in range(8):
        assert sorted(int(a * 2) for a in (alpha[r], alpha[r + 8])) == [0, 1]


@pytest.mark.parametrize("samples", [12, 16])
def test_latin_hypercube_per_replicate_covers_its_strata(samples):
    """qmc with R = 8 replicates: replicate r's rows (positions r+1, r+9, ...) of each pixel
    fall in different strata of [0, 1) (n = ceil(samples / 8) strata)."""
    n = -(-samples // 8)
    draws = Draws("qmc", streams_of(), samples=samples, replicates=8)
    u = draws.uniform(plan(list(range(1, samples + 1))), "baseline", (40,))
    for r in range(8):
        rows = u[r::8]
        if len(rows) == n:
            strata = (rows * n).floor().long()
            assert (strata.sort(0).values == torch.arange(n).view(-1, 1)).all()


def test_latin_hypercube_draws_are_jittered_inside_their_strata():
    n = 6
    u = Draws("qmc", streams_of(), samples=n).uniform(plan(list(range(1, n + 1))), "b", (50,))
    strata = (u * n).floor()
    assert (strata.sort(0).values == torch.arange(n).view(-1, 1)).all()
    within = u * n - strata  # uniform on [0, 1) inside each stratum, not the midpoint
    assert within.min() < 0.2 and within.max() > 0.8


def reference_counts(image: torch.Tensor, references: torch.Tensor, n: int) -> list[int]:
    """How often each reference is the stratified pick of rows 1..n of ``image``."""
    draws = Draws("sobol", Streams.of(image, torch.Generator().manual_seed(0)), n, 4)
    picked = stratified_references(ReferenceSet(references), image.expand(n, -1, -1, -1),
                                   plan(list(range(1, n + 1))), draws)  # fmt: skip
    which = [int((references == p).flatten(1).all(1).nonzero()[0]) for p in picked]
    return np.bincount(which, minlength=4).tolist()


def test_a_stratified_reference_is_never_the_image_and_the_others_are_equally_used():
    references = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    counts = reference_counts(references[2:3].clone(), references, 48)
    # rows 1-32 and 33-48 are blocks of 2^m scrambled Sobol' points: one u in each interval
    # [j/2^m, (j+1)/2^m), so a third of [0, 1) holds 10-11 of the first and 5-6 of the second
    assert counts[2] == 0 and all(15 <= c <= 17 for c in counts[:2] + counts[3:]), counts


def test_an_image_outside_the_reference_set_may_take_every_reference():
    references = torch.rand(4, 3, 4, 4, generator=torch.Generator().manual_seed(1))
    # 64 points, one in each [j/64, (j+1)/64): exactly 16 in each quarter of [0, 1)
    assert reference_counts(torch.full((1, 3, 4, 4), 0.5), references, 64) == [16] * 4


def test_stream_seeds_follow_the_image_content_the_stream_and_the_generator():
    a, b = torch.rand(2, 1, 3, 4, 4, generator=torch.Generator().manual_seed(3))
    streams = Streams.of(torch.cat([a, b, a]), torch.Generator().manual_seed(5))
    assert streams.seed(0, "alpha", 1) == streams.seed(2, "alpha", 1)  # same image, same seed
    assert streams.seed(0, "alpha", 1) != streams.seed(1, "alpha", 1)
    assert streams.seed(0, "alpha", 1) != streams.seed(0, "noise", 1)
    assert streams.seed(0, "alpha", 1) != streams.seed(0, "alpha", 2)
    again = Streams.of(a, torch.Generator().manual_seed(5))
    other = Streams.of(a, torch.Generator().manual_seed(6))
    assert again.base_seed == streams.base_seed != other.base_seed


def test_replicate_sums_stay_with_their_image():
    moments = Replicates(2, replicates=2)
    values = {0: [1.0, 2.0, 3.0, 4.0], 1: [10.0, 20.0, 30.0, 40.0]}
    for image in (0, 1):
        moments.add(torch.full((4,), image), torch.tensor(values[image]).view(4, 1),
                    torch.arange(1, 5))  # fmt: skip
    assert moments.mean.flatten().tolist() == [2.5, 25.0]
    # replicate means (1 + 3)/2 = 2, (2 + 4)/2 = 3: s² = 0.5, error √(0.5 / 2) / 2.5
    assert moments.relative_standard_error()[0] == pytest.approx(0.5 / 2.5)


def test_replicate_error_is_infinite_until_every_replicate_has_a_sample():
    moments = Replicates(1, replicates=2)
    moments.add(torch.zeros(1, dtype=torch.long), torch.ones(1, 1), torch.tensor([1]))
    assert moments.relative_standard_error() == [float("inf")]


@pytest.mark.parametrize("sampler, step", [("sobol", 8), ("sobol-antithetic", 16)])
def test_quasi_random_tolerance_stops_on_equal_counts_per_replicate(sampler, step):
    """A loose tolerance met at the first check: the count stops on a whole round of the 8
    replicates (of antithetic pairs), even when the chunks (batch_size 5) end elsewhere."""
    model = TanhHeadNet().eval()
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    result = faithcam.explain(model, images, "expected-gradcam", targets=0, samples=64,
                              sampler=sampler, tolerance=0.9, batch_size=5, seed=0)  # fmt: skip
    used = result.settings["samples_used"]
    assert all(u % step == 0 and 16 <= u < 64 for u in used), used


def test_fixed_count_qmc_is_one_latin_hypercube_over_all_samples():
    """Without tolerance there are no replicates: the n = 8 uniform-noise baselines of each pixel
    (an image spanning [0, 1]: x' = u) take the 8 strata once."""
    from faithcam.cams.estimators import ROLE_SAMPLE, Expected

    image = torch.rand(1, 3, 4, 4)
    image.view(-1)[:2] = torch.tensor([0.0, 1.0])
    estimator = Expected(samples=8, sampler="qmc", sigma=0.0, baseline="uniform")
    chunks = estimator.chunks(image, batch_size=20, generator=torch.Generator().manual_seed(0))
    baselines = torch.cat([c.references[c.plan.role == ROLE_SAMPLE] for c in chunks])
    strata = (baselines * 8).floor().long().flatten(1)
    assert (strata.sort(0).values == torch.arange(8).view(-1, 1)).all()

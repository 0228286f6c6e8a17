"""ReferenceSet's own-image check, the noise scale, the running variance and the tolerance stop
rule, each against an independent value (issue 25's named survivors).

References: a definition read off the docstring (an image is no reference for itself), numpy's
variance of every value at once, the hand-computed relative standard error of a set of maps,
and the naive Monte-Carlo loop of tests/methods/test_seed_methods.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import faithcam
from faithcam.cams.baselines import GaussianNoise, value_range
from faithcam.cams.estimators.reduce import Welford
from faithcam.cams.estimators.runner import Tolerance
from faithcam.cams.estimators.streams import Streams
from tests.methods.test_estimators import TanhHeadNet
from tests.methods.test_seed_methods import naive_activations_and_gradient, naive_gradcam_term
from tests.methods.test_tolerance_edges import StopRuleEstimator


def test_reference_set_redraws_only_an_exact_copy_of_the_image() -> None:
    """A reference that shares some pixels with the image is still a reference: with the set
    {image, other}, where other equals the image on half its pixels, every draw is other."""
    image = torch.rand(1, 3, 4, 4)
    other = image.clone()
    other[..., :2, :] += 1.0  # the bottom half stays equal to the image
    references = faithcam.ReferenceSet(torch.cat([image, other]))
    rows = image.expand(64, -1, -1, -1)
    generator = torch.Generator().manual_seed(0)
    chosen = references(rows, torch.zeros(64, dtype=torch.long), generator)
    assert torch.equal(chosen, other.expand(64, -1, -1, -1))


def test_noise_scale_is_the_value_range_of_normalised_images() -> None:
    """σ is a fraction of max − min: an image in [−2, 3] has range 5 (its max is 3)."""
    image = torch.linspace(-2.0, 3.0, 3 * 64 * 64).view(1, 3, 64, 64)
    assert value_range(image).flatten().tolist() == [5.0]
    noisy = GaussianNoise(std=0.2)(image, torch.zeros(1, dtype=torch.long),
                                   torch.Generator().manual_seed(0))  # fmt: skip
    spread = (noisy - image).std().item()
    # 0.2 × 5 = 1.0; 12,288 draws put the sample std within ±2 % (max alone would give 0.6)
    assert spread == pytest.approx(1.0, rel=0.03)


def test_expected_noise_on_shifted_images_equals_the_naive_loop() -> None:
    """The naive Monte-Carlo loop (test_seed_methods) on images whose minimum is far from 0,
    so that σ · (max − min) differs from σ · max."""
    model = TanhHeadNet().eval()
    torch.manual_seed(3)
    image = torch.rand(1, 3, 8, 8) * 2 + 1  # in [1, 3]: range 2, max 3
    references = torch.rand(3, 3, 8, 8) * 2 + 1
    n, sigma, seed = 6, 0.3, 11
    result = faithcam.explain(
        model, image, "expected-gradcam", targets=1, samples=n, sigma=sigma, seed=seed,
        baseline=faithcam.ReferenceSet(references), batch_size=64, sampler="random",
    )  # fmt: skip
    torch.testing.assert_close(
        result.raw_maps[0], naive_expected(model, image, references, n, sigma, seed),
        rtol=1e-5, atol=1e-6,
    )  # fmt: skip


def naive_expected(model, image, references, n, sigma, seed, relu=True) -> torch.Tensor:
    """(1/n) Σ_r ReLU(Σ_k (A^k(x̃_r) − A^k(x'_r)) GAP(G^k(x̃_r))) with each row's draws from the
    image's own stream (test_seed_methods): α (rand), the reference's pick (randint), the noise
    (Φ⁻¹ of rand), σ scaled by max − min; target class 1 (``relu=False``: without the
    per-sample ReLU, to show that a test can tell)."""
    streams = Streams.of(image, torch.Generator().manual_seed(seed))

    def uniform(stream, r, shape=()):
        u = torch.rand(shape, generator=streams.generator(0, stream, r), dtype=torch.float64)
        return u * (1 - 2.0**-52) + 2.0**-53

    spread = float(image.max() - image.min())
    total = torch.zeros(())
    for r in range(1, n + 1):
        alpha = float(uniform("alpha", r))
        picker = streams.generator(0, "baseline", r)
        pick = int(torch.randint(len(references), (1,), generator=picker))
        noise = torch.special.ndtri(uniform("noise", r, tuple(image.shape[1:]))).float()
        base = references[pick][None]
        x_r = base + alpha * (image - base) + noise * sigma * spread
        a_r, g_r = naive_activations_and_gradient(model, x_r, 1)
        a_base, _ = naive_activations_and_gradient(model, base, 1)
        term = naive_gradcam_term(a_r - a_base, g_r)
        total = total + (torch.relu(term) if relu else term) / n
    return total


def test_tolerance_path_takes_relu_of_each_sample_map() -> None:
    """Sampling to a tolerance that is never met uses every sample, in one chunk: the map is
    the naive loop's mean of ReLU'd per-sample maps (some per-sample maps are negative)."""
    model = TanhHeadNet().eval()
    torch.manual_seed(4)
    image = torch.rand(1, 3, 8, 8) * 2 - 1
    references = torch.rand(3, 3, 8, 8) * 2 - 1
    n, sigma, seed = 6, 0.5, 2
    result = faithcam.explain(
        model, image, "expected-gradcam", targets=1, samples=n, sigma=sigma, seed=seed,
        baseline=faithcam.ReferenceSet(references), batch_size=64, sampler="random",
        tolerance=1e-9,
    )  # fmt: skip
    assert result.settings["samples_used"] == [n]
    expected = naive_expected(model, image, references, n, sigma, seed)
    without_relu = naive_expected(model, image, references, n, sigma, seed, relu=False)
    assert (expected - without_relu).abs().max() > 1e-3  # the ReLU matters on this input
    torch.testing.assert_close(result.raw_maps[0], expected, rtol=1e-5, atol=1e-6)


def test_welford_chunks_merge_to_the_variance_of_all_values() -> None:
    """Chunks of different means (the between-chunk term of Chan et al.'s merge matters):
    the merged mean and sum of squared deviations equal numpy's over every value at once."""
    generator = torch.Generator().manual_seed(0)
    values = {0: [], 1: []}
    moments = Welford(2)
    for chunk, shift in enumerate((0.0, 5.0, -3.0, 1.0)):
        image = torch.tensor([0, 1, 0, 1, 0] if chunk % 2 else [1, 0, 0])
        maps = torch.randn(len(image), 2, 3, generator=generator, dtype=torch.float64) + shift
        moments.add(image, maps)
        for b, m in zip(image.tolist(), maps, strict=True):
            values[b].append(m.numpy())
    for b in (0, 1):
        stack = np.stack(values[b])
        assert int(moments.count[b]) == len(stack)
        np.testing.assert_allclose(moments.mean[b].numpy(), stack.mean(0), rtol=1e-12)
        m2 = ((stack - stack.mean(0)) ** 2).sum(0)
        np.testing.assert_allclose(moments.m2[b].numpy(), m2, rtol=1e-12)
        k = len(stack)
        rse = np.sqrt(stack.var(0, ddof=1).sum() / k) / np.linalg.norm(stack.mean(0))
        assert moments.relative_standard_error()[b] == pytest.approx(rse, rel=1e-12)


def _stop_after(tolerance: float, maps: torch.Tensor) -> int:
    """How many of the per-sample ``maps`` (one image, chunks of 17 rows: the input row and 16
    samples, then 16 samples) the stop rule uses."""
    moments = Welford(1)
    rule = Tolerance(StopRuleEstimator(len(maps) - 1, tolerance), moments, None)
    used = 0
    for _index, position in rule.plans(1, batch_size=17):
        samples = position[position > 0] - 1  # position 0 is the input row (weight 0)
        moments.add(torch.zeros(len(samples), dtype=torch.long), maps[samples])
        used += len(samples)
    return used


def test_tolerance_stops_at_two_standard_errors() -> None:
    """16 per-sample maps (the minimum count), then 16 more (the cap of 32): with RSE after 16
    computed by hand, a tolerance of 2.5 · RSE stops there and 1.5 · RSE (2 · RSE > tolerance)
    keeps sampling."""
    generator = torch.Generator().manual_seed(1)
    maps = 1.0 + 0.5 * torch.randn(33, 2, 2, generator=generator, dtype=torch.float64)
    first = maps[:16].numpy()
    rse = np.sqrt(first.var(0, ddof=1).sum() / 16) / np.linalg.norm(first.mean(0))
    assert _stop_after(2.5 * rse, maps) == 16
    assert _stop_after(1.5 * rse, maps) == 32

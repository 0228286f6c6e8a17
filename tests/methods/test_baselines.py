"""Baselines by their outputs: Blur against scipy, the noise baselines by their statistics,
ReferenceSet by what it draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faithcam.cams.baselines import Blur, GaussianNoise, ReferenceSet, UniformNoise


def _index(n: int) -> torch.Tensor:
    return torch.arange(n)


@pytest.mark.parametrize("sigma", [1.0, 2.5])
def test_blur_equals_scipy_gaussian_filter(sigma: float) -> None:
    """σ in pixels, kernel radius ⌈3σ⌉, mirrored borders: scipy's gaussian_filter with
    truncate = ⌈3σ⌉ / σ and mode "mirror"."""
    from scipy.ndimage import gaussian_filter

    images = torch.rand(2, 3, 24, 20, generator=torch.Generator().manual_seed(0))
    radius = int(np.ceil(3 * sigma))
    expected = gaussian_filter(
        images.double().numpy(), sigma=(0, 0, sigma, sigma), truncate=radius / sigma,
        mode="mirror",
    )  # fmt: skip
    blurred = Blur(sigma)(images, _index(2), None)
    np.testing.assert_allclose(blurred.numpy(), expected, atol=1e-5)
    assert (blurred - images).abs().max() > 0.1


def test_gaussian_noise_statistics_and_seed() -> None:
    """x + N(0, (std · range(x))²): per image, the noise has mean 0 and the right spread."""
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    images[1] *= 4.0  # a 4x wider value range: 4x the noise
    noisy = GaussianNoise(0.2)(images, _index(2), torch.Generator().manual_seed(2))
    noise = (noisy - images).flatten(1)
    ranges = images.flatten(1).amax(1) - images.flatten(1).amin(1)
    torch.testing.assert_close(noise.std(1), 0.2 * ranges, rtol=0.03, atol=0)
    assert noise.mean(1).abs().max() < 0.01 * float(ranges.max())
    again = GaussianNoise(0.2)(images, _index(2), torch.Generator().manual_seed(2))
    torch.testing.assert_close(again, noisy)
    assert torch.equal(GaussianNoise(0.0)(images, _index(2), None), images)


def test_uniform_noise_spans_each_image_range() -> None:
    images = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3))
    images[1] = images[1] * 2 - 5
    draws = UniformNoise()(images, _index(2), torch.Generator().manual_seed(4)).flatten(1)
    low, high = images.flatten(1).amin(1), images.flatten(1).amax(1)
    assert ((draws >= low[:, None]) & (draws <= high[:, None])).all()
    torch.testing.assert_close(draws.mean(1), (low + high) / 2, rtol=0, atol=0.02 * 2)


def test_reference_set_draws_its_images_uniformly() -> None:
    references = torch.arange(3, dtype=torch.float32).view(3, 1, 1, 1).expand(3, 3, 4, 4) + 10
    images = torch.zeros(3000, 3, 4, 4)
    draws = ReferenceSet(references)(images, _index(3000), torch.Generator().manual_seed(5))
    picked = draws[:, 0, 0, 0] - 10
    assert set(picked.unique().tolist()) == {0.0, 1.0, 2.0}
    assert torch.equal(draws, references[picked.long()])
    shares = torch.bincount(picked.long(), minlength=3).double() / 3000
    torch.testing.assert_close(shares, torch.full((3,), 1 / 3, dtype=torch.float64), atol=0.03,
                               rtol=0)  # fmt: skip
    point = ReferenceSet(references[1:2])(images[:5], _index(5), None)
    assert torch.equal(point, references[1:2].expand(5, 3, 4, 4))


def test_reference_images_of_another_dtype_are_drawn_in_the_images_dtype() -> None:
    """Seed 20261225 (``ReferenceSet.__call__`` 21): float64 references for float32 images
    come back as float32 baselines of the same values (a float64 baseline would reach a
    float32 model)."""
    references = torch.tensor([0.25, 0.5], dtype=torch.float64).view(2, 1, 1, 1).expand(2, 3, 4, 4)
    images = torch.zeros(4, 3, 4, 4)
    draws = ReferenceSet(references)(images, _index(4), torch.Generator().manual_seed(0))
    assert draws.dtype == torch.float32
    assert set(draws[:, 0, 0, 0].tolist()) <= {0.25, 0.5}
    assert torch.equal(draws, draws[:, :1, :1, :1].expand(4, 3, 4, 4))

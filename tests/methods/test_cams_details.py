"""Details of the CAM tier that the broader tests leave open: class wrappers, options, messages,
the bounds of the random weights and of the sequential sampler's batches."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import faithcam
from faithcam.cams.activation_cams import random_weights
from faithcam.cams.baselines import ReferenceSet
from faithcam.cams.estimators import Expected, Integrated
from faithcam.cams.registry import METHODS, method_spec
from faithcam.engine.layers import resolve_layer
from faithcam.engine.request import Request
from faithcam.engine.targets import ClassLogit
from faithcam.errors import FaithcamValueError, TargetError
from tests.helpers import GapLinearNet, seeded_images


def _model(classes: int = 5) -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet(classes=classes).eval()


# -- the method classes ---------------------------------------------------------------------

def _public_classes() -> list[type]:
    return [getattr(faithcam, spec.class_name) for spec in METHODS.values()]


def test_every_method_class_computes_its_own_method():
    classes = _public_classes()
    assert {cls.method for cls in classes} == set(METHODS)  # one class per method
    assert all(issubclass(cls, faithcam.CamMethod) for cls in classes)
    model, images = _model(), seeded_images(1, 8)
    for cls in classes:
        method = method_spec(cls.method)[0]
        # cheap options: the test is about which method runs, not about convergence
        options = {**METHODS[method].test_options, "seed": 3}
        via_class = cls(model, **options)(images)
        via_explain = faithcam.explain(model, images, method, **options)
        assert via_class.method == via_explain.method == method, cls.__name__
        torch.testing.assert_close(via_class.raw_maps, via_explain.raw_maps, msg=cls.__name__)
        assert cls.__name__ in cls.__doc__


def test_method_classes_are_named_after_their_attribute():
    assert faithcam.HiResCAM.__name__ == "HiResCAM"
    assert repr(faithcam.ScoreCAM(_model())).startswith("ScoreCAM(")


# -- RandomCAM's weights --------------------------------------------------------------------


def test_random_weights_are_uniform_on_minus_one_one():
    generator = torch.Generator().manual_seed(0)
    like = torch.zeros(1, dtype=torch.float32)
    weights = random_weights((400, 50), generator, like)
    assert weights.shape == (400, 50) and weights.dtype == torch.float32
    assert weights.min() >= -1 and weights.max() <= 1
    # U(-1, 1): mean 0, variance 1/3, both ends reached
    assert abs(float(weights.mean())) < 0.02
    assert abs(float(weights.var()) - 1 / 3) < 0.02
    assert weights.min() < -0.99 and weights.max() > 0.99


def test_randomcam_map_is_a_combination_with_weights_in_minus_one_one():
    model, images = _model(), seeded_images(4, 16)
    result = faithcam.explain(model, images, "randomcam", seed=0)
    store = {}
    handle = model.features.register_forward_hook(lambda m, i, o: store.update(a=o.detach()))
    with torch.no_grad():
        model(images)
    handle.remove()
    a = store["a"].double()  # (B, K, 8, 8): more pixels than channels, so w is identifiable
    for b in range(len(images)):
        design = a[b].flatten(1).T  # (pixels, K)
        w = torch.linalg.lstsq(design, result.raw_maps[b].double().flatten()[:, None]).solution
        torch.testing.assert_close(design @ w, result.raw_maps[b].double().flatten()[:, None])
        assert w.abs().max() <= 1 + 1e-6


# -- CAM's classifier option ----------------------------------------------------------------


class _TwoHeads(GapLinearNet):
    """GAP + linear whose scoring head ``fc`` is not the last nn.Linear of the model."""

    def __init__(self) -> None:
        super().__init__()
        self.aux = nn.Linear(8, 5)  # registered last, never used in forward


def test_cam_with_a_named_classifier_uses_its_weights():
    torch.manual_seed(0)
    model, images = _TwoHeads().eval(), seeded_images(2, 16)
    result = faithcam.explain(model, images, "cam", targets=[1, 3], classifier="fc")
    with torch.no_grad():
        a = model.features(images)
    expected = torch.einsum("bk,bkhw->bhw", model.fc.weight[[1, 3]], a)
    torch.testing.assert_close(result.raw_maps, expected)
    # the default (the last nn.Linear with K inputs) picks the unused head instead
    default = faithcam.explain(model, images, "cam", targets=[1, 3])
    torch.testing.assert_close(
        default.raw_maps, torch.einsum("bk,bkhw->bhw", model.aux.weight[[1, 3]], a)
    )


# -- multi-layer fusion ---------------------------------------------------------------------


def _minmax(x: torch.Tensor) -> torch.Tensor:
    flat = x.flatten(1)
    low, high = flat.min(1).values, flat.max(1).values
    return (x - low[:, None, None]) / (high - low)[:, None, None]


def test_mean_fusion_without_relu_keeps_the_negative_parts():
    model, images = _model(), seeded_images(2, 16)
    layers = ["features.1", "features.3"]
    fused = faithcam.explain(model, images, "hirescam", targets=2, layer=layers, relu=False)
    maps = []
    for layer in layers:
        raw = faithcam.explain(model, images, "hirescam", targets=2, layer=layer, relu=False)
        maps.append(raw.raw_maps.float())
    assert all((m < 0).any() for m in maps)  # signed maps: the case under test
    scaled = [
        F.interpolate(_minmax(m)[:, None], size=(16, 16), mode="bilinear", align_corners=False)[
            :, 0
        ]
        for m in maps
    ]
    expected = _minmax(torch.stack(scaled).mean(0))
    torch.testing.assert_close(fused.raw_maps, expected, atol=1e-5, rtol=1e-5)


class _TupleOut(GapLinearNet):
    def forward(self, x):
        logits = super().forward(x)
        return logits.sum(1), logits  # the logits are the second output


def _tuple_and_plain():
    """A model returning (aux, logits) and the same weights returning logits, with images."""
    torch.manual_seed(0)
    tupled = _TupleOut().eval()
    plain = GapLinearNet()
    plain.load_state_dict(tupled.state_dict())
    return tupled, plain.eval(), seeded_images(2, 16)


def test_layer_list_honours_the_output_selector():
    tupled, plain, images = _tuple_and_plain()
    layers = ["features.1", "features.3"]
    got = faithcam.explain(tupled, images, "gradcam", layer=layers, output_selector=1)
    want = faithcam.explain(plain, images, "gradcam", layer=layers)
    torch.testing.assert_close(got.raw_maps, want.raw_maps)
    torch.testing.assert_close(got.scores, want.scores)


# -- sequential sampling (tolerance) --------------------------------------------------------


def test_tolerance_sampling_never_runs_more_rows_than_batch_size():
    model, images = _model(), seeded_images(3, 16)
    sizes = []
    handle = model.register_forward_hook(lambda m, i, o: sizes.append(len(i[0])))
    try:
        result = faithcam.explain(
            model, images, "smoothgradcam++", 1, samples=4, tolerance=0.5, batch_size=2, seed=0
        )
    finally:
        handle.remove()
    assert max(sizes) <= 2
    # every image gets its input row and its 4 samples (fewer than the minimum before a stop)
    assert sum(sizes) >= 3 * (4 + 1)
    assert result.settings["samples_used"] == [4, 4, 4]


def test_per_sample_map_estimate_has_no_gradient_with_or_without_tolerance():
    model, images = _model(), seeded_images(2, 16)
    layer = resolve_layer(model, "features", images)
    for tolerance in (None, 0.5):
        estimator = Expected(samples=3, tolerance=tolerance)
        target = ClassLogit(1)
        request = Request(
            model, images, target, target.bind(len(images), images.device), batch_size=4,
            layer=layer, generator=torch.Generator().manual_seed(0),
        )  # fmt: skip
        estimate = estimator.estimate(
            request, lambda a, g: (a * g.mean((2, 3), keepdim=True)).sum(1)
        )
        assert estimate.gradients is None
        assert estimate.maps is not None and estimate.maps.shape == (2, 8, 8)


# -- settings and messages ------------------------------------------------------------------


def test_smooth_settings_record_the_samples():
    model, images = _model(), seeded_images(1, 16)
    result = faithcam.explain(model, images, "smoothgradcam++", samples=3, seed=0)
    assert result.settings["samples"] == 3
    assert result.settings["estimator"] == "smooth"


def test_unknown_integration_rule_lists_the_valid_ones():
    with pytest.raises(FaithcamValueError) as error:
        Integrated(rule="simpson")
    message = str(error.value)
    assert "'simpson'" in message
    for rule in Integrated.RULES:
        assert repr(rule) in message


def test_reference_set_of_the_wrong_rank_names_the_shape():
    with pytest.raises(FaithcamValueError, match=r"\(R, C, H, W\).*\(3, 16, 16\)"):
        ReferenceSet(torch.zeros(3, 16, 16))
    with pytest.raises(FaithcamValueError, match="list"):
        ReferenceSet([torch.zeros(3, 16, 16)])


def test_finer_ranks_beyond_the_classes_are_refused_with_a_message():
    model, images = _model(classes=4), seeded_images(1, 16)
    with pytest.raises(TargetError, match=r"ranks \[4, 6\] exceed the model's 4 classes"):
        faithcam.explain(model, images, "finercam", comparisons=[4, 6])


@pytest.mark.parametrize("method", ["scorecam", "ablationcam"])
def test_perturbation_methods_honour_the_output_selector(method):
    tupled, plain, images = _tuple_and_plain()
    got = faithcam.explain(tupled, images, method, targets=[1, 2], output_selector=1)
    want = faithcam.explain(plain, images, method, targets=[1, 2])
    torch.testing.assert_close(got.raw_maps, want.raw_maps)


def test_fullgrad_batch_norm_bias_is_its_output_for_a_zero_input():
    """FullGrad's implicit bias of an eval BatchNorm is BN(0) = β − μ γ / √(σ² + ε): checked
    by running the module on zeros, with non-zero running statistics."""
    from faithcam.cams.fullgrad import bias_layers

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)).eval()
    bn = model[1]
    bn.running_mean.uniform_(-2, 2)
    bn.running_var.uniform_(0.5, 2)
    bn.weight.data.uniform_(0.5, 1.5)
    bn.bias.data.uniform_(-1, 1)
    biases = dict(bias_layers(model))
    with torch.no_grad():
        expected = bn(torch.zeros(1, 4, 1, 1)).flatten()
    torch.testing.assert_close(biases[bn], expected)
    torch.testing.assert_close(biases[model[0]], model[0].bias.detach())


@pytest.mark.parametrize("eigen_smooth", [False, True])
def test_randomcam_records_whether_it_was_eigen_smoothed(eigen_smooth):
    """Seed 20261216: the result's settings say what ran."""
    model = GapLinearNet().eval()
    result = faithcam.explain(model, torch.rand(2, 3, 8, 8), "randomcam", 0, layer="features",
                              seed=0, eigen_smooth=eigen_smooth, relu=False)  # fmt: skip
    assert result.settings == {"eigen_smooth": eigen_smooth, "relu": False}


def test_fullgrad_psi_is_min_max_scaling_with_epsilon_added_to_the_range():
    """Seed 20261216: ψ(t) = (t − min) / (max − min + ε) per (image, channel). A channel of
    range ε (1e-7) peaks at ε / 2ε = 1/2, a constant one is 0, a range of 2 peaks just below 1."""
    from faithcam.cams.fullgrad import PSI_EPS, psi

    terms = torch.tensor([[[[0.0, PSI_EPS]], [[3.0, 3.0]], [[-1.0, 1.0]]]], dtype=torch.float64)
    scaled = psi(terms)
    torch.testing.assert_close(scaled[0, 0, 0], torch.tensor([0.0, 0.5], dtype=torch.float64))
    assert scaled[0, 1].abs().max() == 0
    torch.testing.assert_close(
        scaled[0, 2, 0], torch.tensor([0.0, 2 / (2 + PSI_EPS)], dtype=torch.float64)
    )


@pytest.mark.parametrize(("method", "layer"), [("sess", "features"), ("fullgrad", None)])
def test_sess_and_fullgrad_report_their_layer_and_targets(method, layer):
    """Seed 20261217: SESS names the layer its base method ran at, FullGrad its bias layers,
    and both return the class ids they explained, as every method does."""
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    result = faithcam.explain(GapLinearNet().eval(), images, method, [2, 1], layer=layer)
    assert result.layer == (layer or "(all bias layers)")
    assert result.targets.tolist() == [2, 1]


def test_iscams_cost_refusal_names_its_steps_option():
    """Seed 20261217: Integrated Score-CAM's cost is set by ``steps`` (SS-CAM's by
    ``samples``), and the refusal names that option."""
    with pytest.raises(faithcam.FaithcamValueError) as refused:
        faithcam.explain(GapLinearNet().eval(), torch.rand(2, 3, 8, 8), "iscam", 0,
                         layer="features", steps=10**8)  # fmt: skip
    assert str(refused.value).startswith(
        "steps=100000000: 2 images x 100,000,000 rows = 200,000,000 forward rows through the model"
    )

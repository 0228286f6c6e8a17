"""Every refusal of the cams tier says what was wrong in full (mutation testing: messages that no
test read survived as mutants; docs/mutation.md)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

import faithcam
from faithcam.cams import registry
from faithcam.cams.activation_cams import ThresholdOptions
from faithcam.cams.baselines import (
    Black,
    Blur,
    FixedBaseline,
    GaussianNoise,
    OtherImages,
    as_baseline,
)
from faithcam.cams.cam import classifier_weights
from faithcam.cams.compose import check_fusion
from faithcam.cams.eigen import check_kernel, check_sign_rule
from faithcam.cams.estimators import make_estimator
from faithcam.cams.estimators.base import Vanilla, check_sigma
from faithcam.cams.estimators.integrated import Integrated
from faithcam.cams.estimators.sampling import Expected
from faithcam.cams.finer import BoundFinerTarget, FinerTarget, finer_target
from faithcam.cams.fullgrad import PsiOptions
from faithcam.cams.gradient import _estimator_options
from faithcam.cams.gradient_free import _substituted_scores, _SubstituteHook
from faithcam.cams.method import rename_deprecated
from faithcam.cams.sess import SessOptions, scale_list
from faithcam.cams.smoothed_score import NoisyMaskOptions
from faithcam.cams.weightings import get_weighting
from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.layouts import Layout
from faithcam.errors import FaithcamTypeError, FaithcamValueError, LayerError, TargetError
from tests.helpers import GapLinearNet, refusal_message

CAM_HEAD = (
    "method 'cam': needs a linear classifier with 3 inputs after global average pooling of the "
    "target layer (a GAP + linear head); none found. Use a gradient method (hirescam equals CAM "
    "on such heads) or pass classifier="
)

REFUSALS = [
    (lambda: ThresholdOptions(k="2"), FaithcamTypeError, "k: expected a number, got '2'"),
    (lambda: PsiOptions(eps=True), FaithcamTypeError, "eps: expected a number, got True"),
    (
        lambda: NoisyMaskOptions(sigma="1"),
        FaithcamTypeError,
        "sigma: expected a number >= 0, got '1'",
    ),
    (lambda: NoisyMaskOptions(sigma=-1.0), FaithcamValueError, "sigma: must be >= 0, got -1.0"),
    (
        lambda: Blur(sigma=0),
        FaithcamValueError,
        "sigma: Blur needs sigma > 0 pixels, got 0",
    ),
    (
        lambda: GaussianNoise(std=-0.5),
        FaithcamValueError,
        "std: GaussianNoise needs std >= 0, got -0.5",
    ),
    (
        lambda: FixedBaseline(torch.zeros(3, 4)),
        FaithcamValueError,
        "baseline: expected a (C, H, W) or (B, C, H, W) tensor, got (3, 4)",
    ),
    (
        lambda: FixedBaseline(torch.zeros(3, 4, 4, dtype=torch.int64)),
        FaithcamValueError,
        "baseline: expected a floating-point tensor, got torch.int64",
    ),
    (
        lambda: FixedBaseline(torch.zeros(2, 3, 4, 4)).validate(torch.zeros(3, 3, 4, 4)),
        FaithcamValueError,
        "baseline: got 2 baseline images for 3 images",
    ),
    (
        lambda: Black([0.0, 0.0]).validate(torch.zeros(1, 3, 4, 4)),
        FaithcamValueError,
        "baseline: Black has 2 channel values, images have 3 channels",
    ),
    (
        lambda: OtherImages()(torch.zeros(2, 3, 4, 4), 0, None),
        FaithcamValueError,
        "baseline: OtherImages must be bound to a call's images",
    ),
    (
        lambda: as_baseline("white", Black()),
        FaithcamValueError,
        "baseline: unknown name 'white'; valid: black, others, blur, uniform, gaussian",
    ),
    (
        lambda: as_baseline(0.5, Black()),
        FaithcamTypeError,
        "baseline: expected a Baseline, a name, a tensor or None, got float",
    ),
    (
        lambda: Integrated(baseline="gaussian"),
        FaithcamValueError,
        "baseline: integrated needs a deterministic baseline, got GaussianNoise(std=0.2); "
        "use estimator='expected' for baseline distributions",
    ),
    (
        lambda: Expected().pattern(torch.zeros(1, dtype=torch.long), torch.zeros(1)),
        FaithcamValueError,
        "Expected.pattern: the call's draws are needed (draws=)",
    ),
    (
        lambda: check_fusion("max"),
        FaithcamValueError,
        "fusion: expected one of mean, layercam, product, got 'max'",
    ),
    (
        lambda: check_sign_rule("none"),
        FaithcamValueError,
        "sign: expected one of faithcam, pytorch-grad-cam, peak, got 'none'",
    ),
    (lambda: check_kernel("rbf", 0), FaithcamValueError, "gamma: must be > 0, got 0"),
    (
        lambda: check_sigma("noise", "a"),
        FaithcamTypeError,
        "noise: expected a finite number >= 0, got 'a'",
    ),
    (
        lambda: make_estimator(Vanilla(), steps=4),
        FaithcamValueError,
        "options ['steps'] given with an Estimator object; set them on it",
    ),
    (
        lambda: make_estimator("montecarlo"),
        FaithcamValueError,
        "estimator: unknown 'montecarlo'; valid: vanilla, integrated, expected, smooth",
    ),
    (
        lambda: _estimator_options("montecarlo"),
        FaithcamValueError,
        "estimator: unknown 'montecarlo'; valid: vanilla, integrated, expected, smooth",
    ),
    (
        lambda: get_weighting("gradcam3"),
        FaithcamValueError,
        "weighting: unknown rule 'gradcam3'; valid: gradcam, gradcam++, xgradcam, hirescam, "
        "layercam, gradcam-elementwise, eigengradcam, segeigencam",
    ),
    (
        lambda: FinerTarget([0], alpha="1"),
        FaithcamTypeError,
        "alpha: expected a number, got '1'",
    ),
    (
        lambda: FinerTarget([0], comparisons=[]),
        FaithcamTypeError,
        "comparisons: expected a non-empty list of ranks (ints), got []",
    ),
    (
        lambda: FinerTarget([0], comparisons=[0, 2]),
        FaithcamValueError,
        "comparisons: ranks must be >= 1, got [0, 2]",
    ),
    (
        lambda: classifier_weights(GapLinearNet(), 8, classifier="features"),
        LayerError,
        "classifier: 'features' is not an nn.Linear of the model",
    ),
    (lambda: classifier_weights(GapLinearNet(), 3), LayerError, CAM_HEAD),
    (
        lambda: scale_list(8, [4, 8], 2, 0.25),
        FaithcamValueError,
        "scales: each must be at least the window 8, got [4, 8]",
    ),
    (
        lambda: SessOptions(base="SESS"),
        FaithcamValueError,
        "base: expected another method's name, got 'SESS'",
    ),
    (
        lambda: SessOptions(base_options=[("steps", 4)]),
        FaithcamTypeError,
        "base_options: expected a dict, got [('steps', 4)]",
    ),
    (
        lambda: SessOptions(pool="sum"),
        FaithcamValueError,
        "pool: expected 'mean' or 'max', got 'sum'",
    ),
    (
        lambda: SessOptions(pre_filter_ratio=1.0),
        FaithcamValueError,
        "pre_filter_ratio: expected [0, 1), got 1.0",
    ),
    (
        lambda: SessOptions(window_size=0),
        FaithcamValueError,
        "window_size: expected an integer >= 1, got 0",
    ),
    (
        lambda: registry.method_spec(3),
        FaithcamValueError,
        "method: expected a method name, got 3",
    ),
    (
        lambda: registry.register_method("MyCam", registry.CAM),
        FaithcamValueError,
        "name: expected a lower-case method name, got 'MyCam'",
    ),
    (
        lambda: registry.register_method("my-cam", nn.Linear),
        FaithcamTypeError,
        "method: expected a faithcam Method subclass, got <class 'torch.nn.modules.linear.Linear'>",
    ),
    (
        lambda: registry.register_method("my-cam", registry.CAM, aliases=("gradcam",)),
        FaithcamValueError,
        "name: 'gradcam' is already a method name or alias",
    ),
    (
        lambda: registry.register_method("my-cam", registry.CAM, class_name="My-Cam"),
        FaithcamValueError,
        "class_name: expected an identifier, got 'My-Cam'",
    ),
    (
        lambda: registry.register_method("my-cam", registry.CAM, class_name="GradCAM"),
        FaithcamValueError,
        "class_name: 'GradCAM' is already a method's class",
    ),
    (
        lambda: registry.register_weighting("gradsq", "A * G"),
        FaithcamTypeError,
        "channel_terms: expected a callable (A, G) -> (B, K, h, w), got 'A * G'",
    ),
    (
        lambda: registry.register_weighting("gradcam", lambda a, g: a * g),
        FaithcamValueError,
        "name: 'gradcam' is already a weighting",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), REFUSALS)
def test_option_and_registration_refusals_state_the_full_message(call, error, message):
    assert refusal_message(call, error) == message
    assert registry.METHODS.keys().isdisjoint({"my-cam", "gradsq"})


RENAMED = {"ratio": "pre_filter_ratio"}


def test_a_deprecated_option_next_to_its_new_name_is_refused_by_both_names():
    with pytest.warns(DeprecationWarning), pytest.raises(FaithcamValueError) as caught:
        rename_deprecated("sess", {"ratio": 1, "pre_filter_ratio": 2}, RENAMED)
    assert str(caught.value) == "pre_filter_ratio, ratio: pass one of them, not both"


def first_logit(outputs: torch.Tensor) -> torch.Tensor:
    return outputs[:, 0]


class SharedConvNet(nn.Module):
    """One convolution run twice per forward: FullGrad cannot tell its two bias terms apart."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.fc = nn.Linear(3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(self.conv(x)).mean((2, 3)))


class UnusedLayerNet(GapLinearNet):
    """GapLinearNet with a convolution that its forward never calls."""

    def __init__(self) -> None:
        super().__init__()
        self.extra = nn.Conv2d(8, 8, 1)


EXPLAIN_REFUSALS = [
    (
        GapLinearNet,
        {"method": "cam", "targets": first_logit},
        TargetError,
        "targets: CAM explains class ids; callable targets need a gradient method",
    ),
    (
        GapLinearNet,
        {"method": "sess", "targets": first_logit},
        TargetError,
        "targets: SESS explains class ids (or None, the predicted class)",
    ),
    (
        GapLinearNet,
        {"method": "finercam", "comparisons": [7]},
        TargetError,
        "comparisons: ranks [7] exceed the model's 5 classes",
    ),
    (
        GapLinearNet,
        {"method": "fullgrad", "layer": "features"},
        FaithcamValueError,
        "layer: FullGrad uses the biases of every Conv2d / BatchNorm2d; leave layer=None",
    ),
    (
        SharedConvNet,
        {"method": "fullgrad"},
        LayerError,
        "method 'fullgrad': 1 bias layers but 2 outputs in one forward (a layer runs more than "
        "once or not at all)",
    ),
    (
        GapLinearNet,
        {"method": "scorecam", "estimator": "vanilla"},
        FaithcamValueError,
        "estimator: method 'scorecam' is gradient-free: it takes no estimator, got 'vanilla'",
    ),
    (
        GapLinearNet,
        {"method": "gradcam", "layer": ["features", "fc"]},
        LayerError,
        "layer: 'fc' does not return a 4-D (N, C, h, w) tensor",
    ),
    (
        UnusedLayerNet,
        {"method": "gradcam", "layer": ["features", "extra"]},
        LayerError,
        "layer: 'extra' was never called during the forward pass",
    ),
]


@pytest.mark.parametrize(("model", "arguments", "error", "message"), EXPLAIN_REFUSALS)
def test_explain_refusals_state_the_full_message(model, arguments, error, message):
    images = torch.randn(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(error) as caught:
        faithcam.explain(model().eval(), images, **arguments)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "call",
    [
        lambda: faithcam.explain(GapLinearNet().eval(), torch.zeros(1, 3, 8, 8), "finercam",
                                 targets=first_logit),
        lambda: finer_target(first_logit),
    ],
)  # fmt: skip
def test_finer_cam_refuses_a_callable_target_by_name(call):
    with pytest.raises(TargetError) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(
        "targets: Finer-CAM explains class ids (None, an int or one per image), got <"
    )
    assert message.endswith(">")


def substitute_hook(layout: Layout, rows: int) -> _SubstituteHook:
    """Gradient-free methods' hook that puts (rows, 4, 2, 2) maps in place of 'features'."""
    return _SubstituteHook(SimpleNamespace(name="features"), torch.zeros(rows, 4, 2, 2), layout)


def substitute_into_fewer_rows() -> None:
    model = GapLinearNet().eval()
    layer = ResolvedLayer("features", model.features)
    images, substitute = torch.zeros(2, 3, 8, 8), torch.zeros(2, 8, 4, 4)
    _substituted_scores(
        model, layer, images, substitute, None, torch.arange(2), lambda out: out[:1], Layout()
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: substitute_hook(Layout(), 1)((torch.zeros(1),)),
            "layer: 'features' output changed type between passes",
        ),
        (
            lambda: substitute_hook(Layout("tokens", (2, 2), 1), 2)(torch.zeros(1, 5, 4)),
            "layer: 'features' extra tokens need the full forward",
        ),
        (
            lambda: substitute_hook(Layout(), 1)(torch.zeros(1, 4, 3, 3)),
            "layer: 'features' output changed shape between passes",
        ),
        (substitute_into_fewer_rows, "layer: substituting 2 rows at 'features' gave 1 output rows"),
    ],
)
def test_a_layer_that_changes_between_substituted_passes_is_refused(call, message):
    with pytest.raises(LayerError) as caught:
        call()
    assert str(caught.value) == message


def test_finer_cam_refuses_scores_of_rows_whose_comparison_classes_are_unknown():
    target = BoundFinerTarget(torch.tensor([0]), 1.0, [1])
    with pytest.raises(TargetError) as caught:
        target.scores(torch.randn(1, 5), torch.tensor([0]), torch.tensor([False]))
    assert str(caught.value) == "targets: Finer-CAM's comparison classes requested before scoring"

"""Maps that show nothing warn (naming the image and the reason), non-finite captures and
careless arguments are refused, and what was right before stays right: a normal map is silent,
a 0-d class tensor still means every image, EigenCAM on a classifier keeps its class."""

from __future__ import annotations

import warnings

import pytest
import torch

import faithcam
from faithcam.engine import validation
from faithcam.engine.result import warn_meaningless_maps
from faithcam.engine.targets import ClassLogit
from faithcam.errors import FaithcamWarning
from tests.conftest import GapLinearNet


def _said(raw, scores, method="hirescam", settings=None, relu=True, target=None) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warn_meaningless_maps(raw, torch.tensor(scores), target, method, settings or {}, relu)
    assert all(issubclass(w.category, FaithcamWarning) for w in caught)
    return [str(w.message) for w in caught]


def test_a_normal_map_is_silent() -> None:
    raw = torch.tensor([[[0.5, -0.1], [0.2, 0.0]]])
    assert _said(raw, [1.0]) == []


def test_all_zero_maps_name_the_images_and_whether_the_score_is_zero() -> None:
    raw = torch.zeros(3, 2, 2)
    raw[1, 0, 0] = 0.3
    said = _said(raw, [0.0, 2.0, 1.5])
    assert len(said) == 2
    assert said[0].startswith("image 0: the map is all zero and the target score is 0")
    assert said[1].startswith("image 2: the map is all zero: the layer's activations")


def test_a_path_methods_zero_map_blames_the_baselines() -> None:
    (said,) = _said(torch.zeros(1, 2, 2), [0.7], settings={"estimator": "expected"})
    assert "the baselines score higher than the image" in said


def test_a_path_methods_zero_map_with_a_zero_score_blames_the_score() -> None:
    """Scores 0 and 1 with all-zero maps of a path method: the zero score is the reason for
    image 0 (as for any method); image 1's score is no reason, so its baselines are blamed."""
    said = _said(torch.zeros(2, 2, 2), [0.0, 1.0], settings={"estimator": "integrated"})
    assert said[0] == (
        "image 0: the map is all zero and the target score is 0 (an empty segmentation mask, or "
        "an untrained zero-initialised head, as torchvision's ViT heads.head?)"
    )  # whole (seed 20261224)
    assert said[1].startswith("image 1: the map is all zero: every path step's map is negative")


def test_negative_everywhere_warns_only_with_the_relu() -> None:
    raw = -torch.rand(2, 3, 3) - 0.1
    (said,) = _said(raw, [1.0, 1.0], settings={"estimator": "integrated"})
    assert said.startswith("images 0, 1 (2 of 2): the map is negative everywhere")
    assert said.endswith("the baselines score higher than the image")
    assert _said(raw, [1.0, 1.0], relu=False) == []


def test_below_one_rounding_step_of_the_score_is_noise_for_attribution_methods_only() -> None:
    eps = torch.finfo(torch.float32).eps
    raw = torch.full((2, 2, 2), 0.5 * eps * 3.0)
    raw[1] = 2 * eps * 3.0  # image 1 reaches two rounding steps: a (tiny) map
    (said,) = _said(raw, [-3.0, 3.0])
    assert said.startswith("image 0: no location of the map reaches one rounding step")
    assert _said(raw, [-3.0, 3.0], method="eigencam") == []


def test_a_float64_map_is_judged_at_float32_precision() -> None:
    raw = torch.full((1, 2, 2), 1e-9, dtype=torch.float64)
    assert len(_said(raw, [1.0])) == 1


def test_an_empty_mask_is_named_as_the_reason() -> None:
    target = faithcam.SegmentationTarget(1, torch.zeros(2, 4, 4)).bind(2, torch.device("cpu"))
    (said,) = _said(torch.zeros(2, 2, 2), [0.0, 0.0], target=target)
    assert said == "images 0, 1 (2 of 2): the map is all zero: its segmentation mask is empty"


def test_the_hirescam_layernorm_case_end_to_end_and_gradcam_there_is_silent() -> None:
    from tests.guarantees.attempts_explain import _NormedNet

    model, images = _NormedNet().eval(), torch.rand(2, 3, 16, 16)
    with pytest.warns(FaithcamWarning, match=r"^images 0, 1 \(2 of 2\): no location"):
        faithcam.explain(model, images, "hirescam", 1, "features")
    with warnings.catch_warnings():
        warnings.simplefilter("error", FaithcamWarning)
        faithcam.explain(model, images, "gradcam", 1, "features")


def _gap() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


@pytest.mark.parametrize(
    ("where", "named"),
    [
        ("features.0.weight", "the activations at layer 'features'"),
        ("fc.bias", "the target scores"),
    ],
)
def test_non_finite_captures_name_what_and_the_image(where: str, named: str) -> None:
    model = _gap()
    with torch.no_grad():
        model.get_parameter(where).view(-1)[0] = float("inf")
    for method in ("gradcam", "eigencam", "scorecam"):
        with pytest.raises(faithcam.FaithcamValueError, match=rf"^{named} of image 0 are NaN"):
            faithcam.explain(model, torch.rand(2, 3, 16, 16), method, 0)


def test_one_class_for_every_image_is_an_int_or_a_0d_tensor() -> None:
    images = torch.rand(3, 3, 16, 16)
    by_int = faithcam.explain(_gap(), images, "gradcam", 2)
    by_scalar = faithcam.explain(_gap(), images, "gradcam", torch.tensor(2))
    assert by_scalar.targets.tolist() == [2, 2, 2]
    torch.testing.assert_close(by_scalar.maps, by_int.maps)
    with pytest.raises(faithcam.TargetError, match="got 1 class ids for 3 images; give one per"):
        ClassLogit([2]).bind(3, torch.device("cpu"))
    assert ClassLogit([2]).bind(1, torch.device("cpu")).class_ids.tolist() == [2]


def test_eigencam_on_a_classifier_still_reports_the_predicted_class() -> None:
    model, images = _gap(), torch.rand(2, 3, 16, 16)
    result = faithcam.explain(model, images, "eigencam")
    with torch.no_grad():
        logits = model(images)
    assert result.targets.tolist() == logits.argmax(1).tolist()
    torch.testing.assert_close(result.scores, logits.max(1).values)


def test_cost_warns_with_the_estimate_and_refuses_above_the_cap(monkeypatch) -> None:
    monkeypatch.setattr(validation, "WARN_ROWS", 10)
    monkeypatch.setattr(validation, "MAX_ROWS", 100)
    images = torch.rand(2, 3, 16, 16)
    with pytest.warns(FaithcamWarning, match=r"^steps=7: 2 images x 8 rows = 16 forward rows"):
        faithcam.explain(_gap(), images, "integrated-gradcam", 1, steps=7, batch_size=4)
    with pytest.raises(faithcam.FaithcamValueError, match=r"^samples=60: .*at most 100 rows"):
        faithcam.explain(_gap(), images, "expected-gradcam", 1, samples=60)


class _Caching(GapLinearNet):
    """A model whose forward keeps its last input and whose eval() swaps its classifier."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.last_input = x
        return super().forward(x)

    def train(self, mode: bool = True):
        super().train(mode)
        if not mode:
            self.fc = torch.nn.Linear(self.fc.in_features, self.fc.out_features)
        return self


def test_attributes_and_children_a_model_sets_itself_are_restored() -> None:
    torch.manual_seed(0)
    model = _Caching().train()
    fc, state = model.fc, {k: v.clone() for k, v in model.state_dict().items()}
    faithcam.explain(model, torch.rand(2, 3, 16, 16), "gradcam", 1)
    assert model.fc is fc and "last_input" not in vars(model) and model.training
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in state.items())

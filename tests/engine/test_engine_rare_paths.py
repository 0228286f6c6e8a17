"""Tests for rarely reached paths of faithcam.engine, found by line coverage.

Each test drives one statement that the rest of the suite never executed (an early return, a
fallback, a message for an unusual input) through the public API where one reaches it, and
checks what comes out against a value worked out by hand or by plain autograd
(:mod:`tests.references`), never against faithcam's own output.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.compat.pytorch_grad_cam import GradCAM
from faithcam.engine.capture import capture
from faithcam.engine.inputs import warn_unnormalised
from faithcam.engine.layers import ResolvedLayer
from faithcam.engine.result import warn_meaningless_maps
from faithcam.engine.targets import DetectionTarget, MultiLabel, SegmentationTarget, as_target
from faithcam.errors import FaithcamValueError, FaithcamWarning, TargetError
from tests.helpers import FlattenLinearNet, GapLinearNet
from tests.references import naive_map, reference_gradients

# --- small models -------------------------------------------------------------------------


class ScriptedDetector(nn.Module):
    """A torchvision-style detector: image i yields the boxes ``boxes[i]`` (label 1 each),
    every one scored ``gain`` x the mean of its ``features`` (the explained layer)."""

    def __init__(self, boxes: list[list[list[float]]], gain: float = 1.0, extra=None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Conv2d(3, 4, 3, padding=1)
        self.boxes, self.gain, self.extra = boxes, gain, extra

    def forward(self, x: torch.Tensor) -> list[dict]:
        energy = self.features(x).mean(dim=(1, 2, 3)) * self.gain
        out = []
        for i in range(len(x)):
            found = torch.tensor(self.boxes[i], dtype=torch.float32).reshape(-1, 4)
            one = {
                "boxes": found,
                "labels": torch.ones(len(found), dtype=torch.long),
                "scores": energy[i].repeat(len(found)),
            }
            if self.extra is not None:
                one.update(self.extra)
            out.append(one)
        return out

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """Each image's detection score, by a plain forward of the convolution."""
        with torch.no_grad():
            return self.features(x).mean(dim=(1, 2, 3)) * self.gain


class Segmenter(nn.Module):
    """(B, 2, H, W) logits: a 1x1 class convolution over a 3x3 feature convolution."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.classifier = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class ToChannelsLast(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 2, 3, 1)


class ChannelsLastLinearNet(nn.Module):
    """conv -> (B, h, w, C) -> Linear ``proj`` over the last dimension -> mean -> Linear.
    On an 8 x 8 image ``proj`` returns (B, 8, 8, 8): both readings have an 8 x 8 grid."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.to_last = ToChannelsLast()
        self.proj = nn.Linear(4, 8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.proj(self.to_last(self.conv(x))).mean(dim=(1, 2)))


class UpsampledNet(nn.Module):
    """conv -> 2x nearest upsampling ``up`` (a grid finer than the image) -> GAP -> linear."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.up = nn.Upsample(scale_factor=2)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.up(self.conv(x)).mean(dim=(2, 3)))


class FailingModel(GapLinearNet):
    """A model whose forward raises its own RuntimeError (not a channel mismatch)."""

    def __init__(self) -> None:
        super().__init__(classes=3, channels=4)
        self.error = RuntimeError("the model's own failure: cuDNN exploded")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


class CountsUnderInferenceMode(nn.Module):
    """A model with a buffer made under ``torch.inference_mode`` that its forward increments
    (inside inference_mode, the only place an inference tensor may change)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(4, 3)
        with torch.inference_mode():
            self.register_buffer("calls", torch.zeros(()))
        self.seen: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            self.calls.add_(1)
            self.seen.append(float(self.calls))
        return self.fc(self.features(x).mean(dim=(2, 3)))


def _gradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """(B, h, w) Grad-CAM maps before ReLU from (B, K, h, w) A and G, by the naive loops."""
    return torch.stack([naive_map("gradcam", a[i], g[i]) for i in range(len(a))])


def _minmax(maps: np.ndarray) -> np.ndarray:
    """pytorch-grad-cam's per-map scaling, (m - min) / (1e-7 + max(m - min))."""
    shifted = maps - maps.min(axis=(1, 2), keepdims=True)
    return shifted / (1e-7 + shifted.max(axis=(1, 2), keepdims=True))


# --- capture.py -------------------------------------------------------------------------------


def test_capture_keeps_non_tensor_values_of_detection_outputs_as_they_are() -> None:
    """A detection dict may carry non-tensor entries (an id, a name): the captured outputs
    keep those very objects and detach the tensors beside them."""
    tag, image_id = "toy-detector", 7
    model = ScriptedDetector([[[0.0, 0, 4, 4]]], extra={"source": tag, "image_id": image_id})
    images = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    target = DetectionTarget([[0.0, 0, 4, 4]], [1]).bind(1, images.device)
    captured = capture(
        model,
        ResolvedLayer("features", model.features),
        images,
        target,
        torch.zeros(1, dtype=torch.long),
        torch.ones(1, dtype=torch.bool),
    )
    (detections,) = captured.outputs
    assert detections["source"] is tag and detections["image_id"] is image_id
    assert not detections["scores"].requires_grad and not detections["boxes"].requires_grad
    energy = model.energy(images)
    torch.testing.assert_close(detections["scores"], energy)
    torch.testing.assert_close(captured.scores, 1.0 + energy)  # IoU 1 + the detection score


def test_dropin_gradcam_explains_images_made_under_inference_mode() -> None:
    """The drop-in hands capture the caller's tensor as it is; one made under inference_mode
    cannot enter autograd, so capture clones it: the maps are pytorch-grad-cam's scaled
    Grad-CAM of the predicted class, computed here by plain autograd."""
    torch.manual_seed(0)
    model = FlattenLinearNet(classes=4, channels=6, size=8).eval()
    with torch.inference_mode():
        images = torch.randn(2, 3, 8, 8)
    assert images.is_inference()
    cam = GradCAM(model, target_layers=[model.features])
    maps = cam(images)

    plain = images.clone()  # outside inference_mode: an ordinary tensor
    with torch.no_grad():
        classes = model(plain).argmax(dim=1)
    a, g, _ = reference_gradients(model, model.features, plain, classes)
    raw = _gradcam(a, g).numpy()
    expected = _minmax(_minmax(np.maximum(raw, 0)))  # per layer, then the layers' mean
    np.testing.assert_allclose(maps, expected, rtol=0, atol=1e-5)


def test_shapleycam_of_a_frozen_linear_head_equals_gradcam() -> None:
    """GAP + linear after the layer, parameters frozen: the gradient G = W / (h w) does not
    depend on A (it does not even require grad), so H·A = 0 and ShapleyCAM's weights
    (1/Z) Σ (G − ½ H·A) are Grad-CAM's."""
    torch.manual_seed(0)
    model = GapLinearNet(classes=3, channels=4).eval().requires_grad_(False)
    images = torch.randn(2, 3, 8, 8)
    result = faithcam.explain(model, images, "shapleycam", [0, 2], layer="features")
    model.requires_grad_(True)  # the reference backpropagates to the layer
    a, g, _ = reference_gradients(model, model.features, images, torch.tensor([0, 2]))
    torch.testing.assert_close(result.raw_maps.double(), _gradcam(a, g), rtol=1e-5, atol=1e-6)
    assert all(not p.requires_grad for p in model.requires_grad_(False).parameters())


# --- inputs.py --------------------------------------------------------------------------------


def test_images_in_unit_range_without_normalization_do_not_warn() -> None:
    """check_images only asks when values exceed 25 or a normalization is given, so this early
    return is reached by a direct call: values in [0, 1] and no normalization say nothing,
    whereas the same values with a positive-mean normalization look like raw pixels."""
    images = torch.rand(1, 3, 4, 4, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_unnormalised(images, None) is None
    with pytest.warns(UserWarning, match="look like pixels that were never normalised"):
        warn_unnormalised(images, ((0.5, 0.5, 0.5), (0.2, 0.2, 0.2)))


def test_two_channel_images_for_an_rgb_model_get_the_plain_channel_message() -> None:
    torch.manual_seed(0)
    model = GapLinearNet(classes=3, channels=4).eval()
    with pytest.raises(FaithcamValueError) as refused:
        faithcam.explain(model, torch.randn(1, 2, 8, 8), "gradcam", 0, layer="features")
    assert str(refused.value) == (
        "images: 2 channels but the model's first convolution (features.0) takes 3 channels"
    )
    assert (refused.value.given, refused.value.expected) == (2, 3)


# --- layouts.py -------------------------------------------------------------------------------


def test_a_linear_layer_output_is_read_channels_last() -> None:
    """``proj`` returns (B, 8, 8, 8) on 8 x 8 images: either reading has an 8 x 8 grid, and
    the Linear acting on the last dimension decides it is (B, h, w, C)."""
    model = ChannelsLastLinearNet().eval()
    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    result = faithcam.explain(model, images, "gradcam", [0, 2], layer="proj")
    a, g, _ = reference_gradients(model, model.proj, images, torch.tensor([0, 2]))
    expected = _gradcam(a.permute(0, 3, 1, 2), g.permute(0, 3, 1, 2))
    torch.testing.assert_close(result.raw_maps.double(), expected, rtol=1e-5, atol=1e-6)
    channels_first = _gradcam(a, g)  # the other reading: a different map, so the test decides
    assert not torch.allclose(channels_first, expected, atol=1e-3)


def test_a_feature_grid_finer_than_the_image_is_read_channels_first() -> None:
    """(B, 4, 16, 16) after upsampling an 8 x 8 image: a channels-last reading would be a
    4 x 16 grid, wider than the image, so it is not plausible; the map is 16 x 16."""
    model = UpsampledNet().eval()
    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    result = faithcam.explain(model, images, "gradcam", 1, layer="up")
    a, g, _ = reference_gradients(model, model.up, images, torch.tensor([1, 1]))
    assert result.raw_maps.shape == (2, 16, 16) and result.maps.shape == (2, 8, 8)
    torch.testing.assert_close(result.raw_maps.double(), _gradcam(a, g), rtol=1e-5, atol=1e-6)


# --- result.py --------------------------------------------------------------------------------


def test_zero_maps_are_not_judged_when_the_scores_do_not_match_the_maps() -> None:
    """Two all-zero maps warn with their scores; with three scores (no score per map) the
    check cannot pair them and says nothing."""
    zero = torch.zeros(2, 3, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert warn_meaningless_maps(zero, torch.ones(3), None, "gradcam", {}, True) is None
    with pytest.warns(FaithcamWarning, match=r"^images 0, 1 \(2 of 2\): the map is all zero"):
        warn_meaningless_maps(zero, torch.ones(2), None, "gradcam", {}, True)


# --- validation.py ----------------------------------------------------------------------------


def test_explain_reraises_a_model_error_that_is_not_a_channel_mismatch() -> None:
    model = FailingModel().eval()
    with pytest.raises(RuntimeError) as raised:
        faithcam.explain(model, torch.randn(1, 3, 8, 8), "gradcam", 0, layer="features")
    assert raised.value is model.error
    assert str(raised.value) == "the model's own failure: cuDNN exploded"


def test_a_metric_reraises_a_model_error_that_is_not_a_channel_mismatch() -> None:
    model = FailingModel().eval()
    images = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(3))
    with pytest.raises(RuntimeError) as raised:
        faithcam.metrics.average_drop(model, images, torch.rand(2, 8, 8), targets=0)
    assert raised.value is model.error and raised.value.__cause__ is None


# --- targets.py -------------------------------------------------------------------------------


def test_multilabel_repr_shows_its_classes_and_score() -> None:
    assert repr(MultiLabel([[0, 1], [2]], score="sigmoid")) == (
        "MultiLabel([[0, 1], [2]], score='sigmoid')"
    )
    assert repr(as_target([[3], [1, 4]])) == "MultiLabel([[3], [1, 4]], score='logit')"


def test_a_detection_target_with_more_boxes_than_labels_is_refused() -> None:
    model = ScriptedDetector([[[0.0, 0, 4, 4]]])
    target = DetectionTarget([[0.0, 0, 4, 4], [1, 1, 5, 5]], [1])
    with pytest.raises(TargetError) as refused:
        faithcam.explain(model, torch.rand(1, 3, 8, 8), "gradcam", target, layer="features")
    assert str(refused.value) == "targets: 2 boxes but 1 labels"


def test_an_empty_segmentation_mask_is_named_as_the_reason_for_a_zero_map() -> None:
    """Image 1's mask selects no pixel: its score is 0 and its map all zero, and the warning
    says why; image 0's mask (the top-left 2 x 2 pixels) gives the class logits' sum."""
    model = Segmenter().eval()
    images = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(4))
    mask = torch.zeros(2, 6, 6, dtype=torch.bool)
    mask[0, :2, :2] = True
    message = r"^image 1: the map is all zero: its segmentation mask is empty$"
    with pytest.warns(FaithcamWarning, match=message):
        result = faithcam.explain(
            model, images, "gradcam", SegmentationTarget(1, mask), layer="features"
        )
    with torch.no_grad():
        logits = model(images)[:, 1]
    expected = torch.stack([logits[0, :2, :2].sum(), torch.zeros(())])
    torch.testing.assert_close(result.scores, expected)
    assert bool((result.raw_maps[1] == 0).all()) and bool((result.raw_maps[0] != 0).any())


def test_a_nonempty_segmentation_mask_gives_no_mask_reason_for_a_zero_map() -> None:
    """Class 1's logit ignores the features (zero class weights): it is its bias at every
    pixel, so the score over a 3-pixel mask is 3 x bias and the map all zero; the mask is not
    empty, so the generic reason is given."""
    model = Segmenter().eval()
    with torch.no_grad():
        model.classifier.weight[1] = 0.0
    mask = torch.zeros(6, 6, dtype=torch.bool)
    mask[0, :3] = True
    message = (
        r"^image 0: the map is all zero: the layer's activations, or the target score's "
        r"gradients with respect to them, are zero here"
    )
    with pytest.warns(FaithcamWarning, match=message) as caught:
        result = faithcam.explain(
            model, torch.randn(1, 3, 6, 6), "gradcam", SegmentationTarget(1, mask), layer="features"
        )
    assert not any("segmentation mask is empty" in str(w.message) for w in caught)
    torch.testing.assert_close(result.scores, 3 * model.classifier.bias[1:].detach())


def test_a_detector_that_finds_nothing_is_refused_with_what_it_found() -> None:
    """No detection at all: the score is a constant 0 with no gradient path."""
    model = ScriptedDetector([[]])
    target = DetectionTarget([[0.0, 0, 4, 4]], [1])
    with pytest.raises(TargetError) as refused:
        faithcam.explain(model, torch.rand(1, 3, 8, 8), "gradcam", target, layer="features")
    assert str(refused.value) == (
        "targets: nothing to explain: image 0: DetectionTarget matched no detection: none of "
        "label [1] has IoU > 0.5 with its boxes (the model detected nothing)"
    )


def test_an_image_with_no_detection_scores_zero_beside_one_that_matches() -> None:
    """Image 0 detects the target box (IoU 1): score 1 + its detection score. Image 1 detects
    nothing: score 0, an all-zero map, and a warning naming why."""
    model = ScriptedDetector([[[0.0, 0, 4, 4]], []])
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    target = DetectionTarget([[0.0, 0, 4, 4]], [1])
    message = (
        r"^image 1: the map is all zero: DetectionTarget matched no detection: none of label "
        r"\[1\] has IoU > 0\.5 with its boxes \(the model detected nothing\)$"
    )
    with pytest.warns(FaithcamWarning, match=message):
        result = faithcam.explain(model, images, "gradcam", target, layer="features")
    energy = model.energy(images)
    torch.testing.assert_close(result.scores, torch.stack([1.0 + energy[0], energy.new_zeros(())]))
    assert bool((result.raw_maps[1] == 0).all()) and bool((result.raw_maps[0] != 0).any())


def test_a_matched_detection_with_a_zero_map_gets_the_generic_reason() -> None:
    """The box matches (score = IoU 1 + 0), but the detection score ignores the layer
    (gain 0): the map is all zero, and as the target matched, no detection reason is given."""
    model = ScriptedDetector([[[0.0, 0, 4, 4]]], gain=0.0)
    target = DetectionTarget([[0.0, 0, 4, 4]], [1])
    message = (
        r"^image 0: the map is all zero: the layer's activations, or the target score's "
        r"gradients with respect to them, are zero here"
    )
    with pytest.warns(FaithcamWarning, match=message) as caught:
        result = faithcam.explain(
            model, torch.rand(1, 3, 8, 8), "gradcam", target, layer="features"
        )
    assert not any("DetectionTarget" in str(w.message) for w in caught)
    torch.testing.assert_close(result.scores, torch.tensor([1.0]))


def test_detection_boxes_given_per_image_in_ragged_sets_score_each_image() -> None:
    """Image 0 has one target box, image 1 two: not one numeric array (ragged), so the sets
    are read per image. Image 0's box matches (IoU 1); image 1's first box matches the
    detection (0, 0, 4, 4) with IoU 1, its second (4, 4, 8, 8) overlaps it in no pixel."""
    model = ScriptedDetector([[[0.0, 0, 4, 4]], [[0.0, 0, 4, 4]]])
    images = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    boxes = [[[0.0, 0, 4, 4]], [[0.0, 0, 4, 4], [4.0, 4, 8, 8]]]
    target = DetectionTarget(boxes, [[1], [1, 1]])
    result = faithcam.explain(model, images, "gradcam", target, layer="features")
    torch.testing.assert_close(result.scores, 1.0 + model.energy(images))


# --- model_state.py ---------------------------------------------------------------------------


def test_a_buffer_made_under_inference_mode_is_restored_after_explain() -> None:
    """The forward increments an inference-mode buffer; afterwards it holds 0 again, the same
    tensor object, and BatchNorm statistics made under inference_mode keep their bits."""
    model = CountsUnderInferenceMode().eval()
    before = model.calls
    faithcam.explain(model, torch.randn(2, 3, 8, 8), "gradcam", 1, layer="features")
    assert model.seen and model.seen[-1] >= 1.0  # the forward did change it
    assert model.calls is before and model.calls.is_inference()
    assert float(model.calls) == 0.0


def test_batchnorm_statistics_made_under_inference_mode_keep_their_bits() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
    model.append(nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))).eval()
    bn = model[1]
    with torch.inference_mode():
        bn.running_mean = torch.linspace(-1.0, 1.0, 4)
        bn.running_var = torch.linspace(0.5, 2.0, 4)
    assert bn.running_mean.is_inference() and bn.running_var.is_inference()
    mean, var = bn.running_mean, bn.running_var
    faithcam.explain(model, torch.randn(2, 3, 8, 8), "gradcam", 0, layer="2")
    assert bn.running_mean is mean and bn.running_var is var
    assert bn.running_mean.tolist() == torch.linspace(-1.0, 1.0, 4).tolist()
    assert bn.running_var.tolist() == torch.linspace(0.5, 2.0, 4).tolist()


def test_a_pixel_warning_of_explain_is_shown_at_the_line_that_called_explain() -> None:
    """Seed 20261224 (``caller_stacklevel`` 12: two frames too deep): explain's warning about
    0-255 pixels is attributed to the line of this file that called explain, not to a line of
    faithcam. (explain lives in ``faithcam.api``, outside mutmut's tiers, so no trampoline
    frame sits between this test and it.)"""
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    pixels = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 255
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faithcam.explain(model, pixels, "gradcam", 0)  # the line the warning must name
    (warning,) = [w for w in caught if "0-255 pixels" in str(w.message)]
    assert (warning.filename, warning.lineno) == (__file__, _line_of("the line the warning"))


def _line_of(text: str) -> int:
    """The line number of this file's first line that holds ``text`` after a ``#``."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if "# " + text in line:
                return number
    raise AssertionError(text)


class _ReturnsNothing(nn.Module):
    """Runs a convolution and returns an empty tuple."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> tuple:
        self.conv(x)
        return ()


def test_a_model_with_an_empty_output_is_refused_by_the_output_selector_message() -> None:
    """Seed 20261225 (``_first_tensor`` 8): the automatic layer's probe reads an empty tuple
    output as "no output tensor" (not an IndexError from inside faithcam), and the call then
    refuses the output with the output_selector advice."""
    with pytest.raises(faithcam.FaithcamTypeError) as caught:
        faithcam.explain(_ReturnsNothing().eval(), torch.rand(1, 3, 8, 8), "gradcam", 0)
    assert str(caught.value) == (
        "output_selector: the model returned tuple, not a tensor; pass output_selector=(an "
        "index, a key, or a callable that returns the logits tensor)"
    )

"""Targets: predicted class, ids, probabilities, callables, and tuple/dict model outputs."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import faithcam
from tests.helpers import GapLinearNet


def test_default_target_is_the_predicted_class(gap_model, small_images) -> None:
    result = faithcam.explain(gap_model, small_images)
    with torch.no_grad():
        logits = gap_model(small_images)
    torch.testing.assert_close(result.targets, logits.argmax(1))
    torch.testing.assert_close(result.scores, logits.max(1).values)
    explicit = faithcam.explain(gap_model, small_images, targets=logits.argmax(1))
    torch.testing.assert_close(result.maps, explicit.maps)


@pytest.mark.parametrize("method", ["integrated-gradcam", "expected-gradcam"])
def test_predicted_class_resolved_for_path_methods(gap_model, small_images, method) -> None:
    result = (
        faithcam.explain(gap_model, small_images, method, steps=3)
        if "int" in method
        else faithcam.explain(gap_model, small_images, method, samples=3, seed=0)
    )
    with torch.no_grad():
        torch.testing.assert_close(result.targets, gap_model(small_images).argmax(1))


def test_probability_target_scores_softmax(gap_model, small_images) -> None:
    result = faithcam.explain(gap_model, small_images, targets=faithcam.ClassProbability(1))
    with torch.no_grad():
        torch.testing.assert_close(result.scores, gap_model(small_images).softmax(1)[:, 1])


def test_callable_and_per_image_callables(gap_model, small_images) -> None:
    by_id = faithcam.explain(gap_model, small_images, targets=[0, 2, 4])
    fns = [lambda out, c=c: out[c] for c in (0, 2, 4)]  # one image's output each
    by_callables = faithcam.explain(gap_model, small_images, targets=fns)
    torch.testing.assert_close(by_id.maps, by_callables.maps)
    assert by_callables.targets is None
    shared = faithcam.explain(gap_model, small_images, targets=lambda out: out[:, 2])
    torch.testing.assert_close(shared.maps[1], by_id.maps[1])


class TupleOutput(nn.Module):
    def __init__(self, kind: str) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = GapLinearNet()
        self.kind = kind

    def forward(self, x):
        logits = self.net(x)
        return (logits, x.mean()) if self.kind == "tuple" else {"logits": logits, "aux": x}


def test_tuple_and_dict_outputs(gap_model, small_images) -> None:
    reference = faithcam.explain(gap_model, small_images, targets=1).maps
    as_tuple = TupleOutput("tuple").eval()
    as_dict = TupleOutput("dict").eval()
    with pytest.raises(TypeError, match="output_selector"):
        faithcam.explain(as_tuple, small_images, targets=1)
    torch.testing.assert_close(
        faithcam.explain(as_tuple, small_images, targets=1, output_selector=0).maps, reference
    )
    torch.testing.assert_close(faithcam.explain(as_dict, small_images, targets=1).maps, reference)


def test_all_zero_map_stays_zero(gap_model) -> None:
    images = torch.zeros(1, 3, 16, 16)
    with torch.no_grad():
        gap_model.features[2].bias.fill_(-10.0)  # every activation of the layer is 0
    result = faithcam.explain(gap_model, images, "gradcam", targets=0)
    assert torch.isfinite(result.maps).all() and result.maps.abs().max() == 0


def test_method_classes(gap_model, small_images) -> None:
    by_class = faithcam.HiResCAM(gap_model, layer="features")(small_images, targets=1)
    by_function = faithcam.explain(gap_model, small_images, "hirescam", targets=1)
    torch.testing.assert_close(by_class.maps, by_function.maps)
    assert by_class.maps.shape == (3, 16, 16) and by_class.raw_maps.shape == (3, 8, 8)
    assert by_class.numpy().dtype.name == "float32"


def test_a_predicted_class_is_never_read_from_rows_that_are_not_the_input():
    """An image whose predicted class is pending gets it from its unmodified-input row only:
    rows of perturbed images alone are refused (never their argmax), and the input row sets it."""
    from faithcam.engine.targets import PENDING, BoundClassTarget
    from faithcam.errors import TargetError

    target = BoundClassTarget(torch.tensor([PENDING]), "logit")
    perturbed = torch.tensor([[0.0, 5.0, 1.0]])
    with pytest.raises(TargetError) as refused:
        target.scores(perturbed, torch.tensor([0]), torch.tensor([False]))
    assert str(refused.value) == "targets: predicted class requested before the image was scored"
    scores = target.scores(torch.tensor([[3.0, 1.0, 2.0]]), torch.tensor([0]), torch.tensor([True]))
    assert target.class_ids.tolist() == [0] and scores.tolist() == [3.0]

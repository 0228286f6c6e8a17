"""One target vocabulary: every target faithcam.explain takes works in every metric, and
``score`` keeps one meaning (a Target that names its score is scored that way)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import faithcam
from faithcam.errors import FaithcamValueError, TargetError
from faithcam.metrics import (
    METRICS,
    average_drop,
    conservation_violation,
    deletion,
    evaluate,
    max_sensitivity,
    road,
)
from tests.metrics.metric_models import seeded, tiny_classifier

MODEL_METRICS = sorted(m for m in METRICS if not METRICS[m].needs_boxes)
QUICK = {
    "deletion": {"curve_steps": 3},
    "insertion": {"curve_steps": 3},
    "road_morf": {"percentages": [50], "seed": 0},
    "road_lerf": {"percentages": [50], "seed": 0},
    "infidelity": {"samples": 3, "seed": 0},
    "max_sensitivity": {"samples": 2, "seed": 0},
    "model_randomization": {"layers": ["4"]},
}
IDS = [2, 0, 1]


def model_images_maps() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    return tiny_classifier(), seeded(3, 3, 8, 8, seed=1), seeded(3, 8, 8, seed=2)


def explain_images(images: torch.Tensor, targets) -> torch.Tensor:
    return images.mean(1)


def explain_model(model: nn.Module, images: torch.Tensor, targets) -> torch.Tensor:
    return model[0](images).mean(1)


def call(name: str, model, images, maps, targets, **options):
    spec = METRICS[name]
    extra = {"images": (explain_images,), "model": (explain_model,)}.get(spec.explains or "", ())
    return spec.fn(model, images, maps, targets, *extra, **{**QUICK.get(name, {}), **options})


class SecondLogit:
    """A pytorch-grad-cam style per-image target: one image's (K,) output -> one score."""

    def __call__(self, output: torch.Tensor) -> torch.Tensor:
        return output[1]


VOCABULARY = {
    "None": lambda: None,
    "int": lambda: 1,
    "list": lambda: IDS,
    "tensor": lambda: torch.tensor(IDS),
    "numpy": lambda: np.array(IDS),
    "ClassLogit": lambda: faithcam.ClassLogit(IDS),
    "ClassProbability": lambda: faithcam.ClassProbability(IDS),
    "ClassProbability(None)": lambda: faithcam.ClassProbability(),
    "SigmoidProbability": lambda: faithcam.SigmoidProbability(1),
    "MultiLabel": lambda: faithcam.MultiLabel([[0, 1], [2], [1, 2]], score="probability"),
    "CallableTarget": lambda: faithcam.CallableTarget(lambda out: out[:, 0] - out[:, 1]),
    "per-image callables": lambda: [SecondLogit(), SecondLogit(), SecondLogit()],
}


@pytest.mark.parametrize("form", sorted(VOCABULARY))
@pytest.mark.parametrize("name", MODEL_METRICS)
def test_every_target_form_works_in_every_metric(name: str, form: str) -> None:
    model, images, maps = model_images_maps()
    result = call(name, model, images, maps, VOCABULARY[form]())
    assert result.values.shape == (3,)
    low, high = result.bounds or (-np.inf, np.inf)
    defined = result.values[~torch.isnan(result.values)]
    assert ((low <= defined) & (defined <= high)).all(), (result.bounds, defined)


def test_a_class_probability_target_equals_the_default_probability_score() -> None:
    """The issue's trap: deletion(model, x, maps, faithcam.ClassProbability(3)) died in NumPy."""
    model, images, maps = model_images_maps()
    plain = deletion(model, images, maps, 2, curve_steps=4)
    target = deletion(model, images, maps, faithcam.ClassProbability(2), curve_steps=4)
    torch.testing.assert_close(target.values, plain.values, rtol=0, atol=0)
    assert target.bounds == (0.0, 1.0) and target.details["targets"].tolist() == [2, 2, 2]


def test_a_class_logit_target_equals_score_logit() -> None:
    model, images, maps = model_images_maps()
    logit = deletion(model, images, maps, IDS, curve_steps=4, score="logit")
    target = deletion(model, images, maps, faithcam.ClassLogit(IDS), curve_steps=4)
    torch.testing.assert_close(target.values, logit.values, rtol=0, atol=0)
    assert target.bounds is None  # logits are not bounded


def test_the_predicted_class_of_a_target_object_is_the_arg_max() -> None:
    model, images, maps = model_images_maps()
    predicted = model(images).argmax(1)
    target = average_drop(model, images, maps, faithcam.ClassProbability())
    explicit = average_drop(model, images, maps, predicted)
    torch.testing.assert_close(target.values, explicit.values, rtol=0, atol=0)


def test_multilabel_and_callables_score_what_they_say() -> None:
    """The curve starts at the clean image's score: a MultiLabel target's sum of its classes'
    logits, a callable's own value; both unbounded."""
    model, images, maps = model_images_maps()
    classes = [[0, 1], [2], [1, 2]]
    with torch.no_grad():
        logits = model(images).double()
    summed = deletion(model, images, maps, faithcam.MultiLabel(classes), curve_steps=3)
    expected = torch.stack([logits[i, c].sum() for i, c in enumerate(classes)])
    torch.testing.assert_close(summed.details["curves"][:, 0], expected)
    difference = faithcam.CallableTarget(lambda out: out[:, 0] - out[:, 1])
    own = deletion(model, images, maps, difference, curve_steps=3)
    torch.testing.assert_close(own.details["curves"][:, 0], logits[:, 0] - logits[:, 1])
    assert summed.bounds is None and own.bounds is None and own.details["targets"] is None
    probability = deletion(
        model, images, maps, faithcam.MultiLabel(classes, score="probability"), curve_steps=3
    )
    torch.testing.assert_close(
        probability.details["curves"][:, 0],
        torch.stack([logits[i].softmax(0)[c].sum() for i, c in enumerate(classes)]),
    )
    assert probability.bounds == (0.0, 1.0)  # distinct classes: their probabilities sum to <= 1


def test_a_score_that_contradicts_the_target_is_refused() -> None:
    model, images, maps = model_images_maps()
    with pytest.raises(FaithcamValueError, match=r"^score: deletion got score='logit' but"):
        deletion(model, images, maps, faithcam.ClassProbability(1), score="logit")
    with pytest.raises(FaithcamValueError, match="computes its own score"):
        deletion(model, images, maps, lambda out: out[:, 0], score="probability")
    same = deletion(model, images, maps, faithcam.ClassLogit(1), score="logit", curve_steps=3)
    assert same.bounds is None


@pytest.mark.parametrize(
    "target",
    [faithcam.SegmentationTarget(1), faithcam.DetectionTarget([[0, 0, 4, 4]], [1])],
    ids=["segmentation", "detection"],
)
@pytest.mark.parametrize("name", MODEL_METRICS)
def test_dense_targets_are_refused_in_one_line_naming_the_argument(name, target) -> None:
    model, images, maps = model_images_maps()
    with pytest.raises(TargetError, match=r"^targets: .* is not supported by the metrics yet"):
        call(name, model, images, maps, target)
    try:
        call(name, model, images, maps, target)
    except TargetError as error:
        assert "\n" not in str(error)


def test_road_accuracy_needs_one_class_per_image() -> None:
    model, images, maps = model_images_maps()
    with pytest.raises(TargetError, match="road's accuracy compares the prediction"):
        road(model, images, maps, [[0, 1], [2], [1]], percentages=[50], seed=0)
    several = faithcam.MultiLabel([[0], [2], [1]])
    logit = road(model, images, maps, several, percentages=[50], seed=0)
    assert logit.bounds is None  # a MultiLabel's own score: the logit


def test_explain_functions_get_targets_of_the_kind_given() -> None:
    model, images, _ = model_images_maps()
    seen = []

    def explain_fn(batch: torch.Tensor, targets) -> torch.Tensor:
        seen.append(targets)
        return batch.mean(1)

    max_sensitivity(model, images, None, torch.tensor(IDS), explain_fn, samples=1, seed=0)
    assert isinstance(seen[0], torch.Tensor) and seen[0].tolist() == IDS
    seen.clear()
    max_sensitivity(model, images, None, faithcam.ClassProbability(IDS), explain_fn, samples=2,
                    seed=0, batch_size=6)  # fmt: skip
    assert all(isinstance(t, faithcam.ClassProbability) for t in seen)
    assert [t.class_ids.tolist() for t in seen] == [IDS, [*IDS, *IDS]]


def test_evaluate_explains_and_scores_the_same_target_object() -> None:
    model, images, _ = model_images_maps()
    given = []

    def explain(model_, batch, method, targets):
        given.append(targets)
        return batch.mean(1)

    table = evaluate(
        model, images, ["m"], ["deletion"], targets=faithcam.ClassLogit(),
        explain=explain, metric_kwargs={"deletion": {"curve_steps": 3}},
    )  # fmt: skip
    predicted = model(images).argmax(1).tolist()
    (target,) = given
    assert isinstance(target, faithcam.ClassLogit) and target.class_ids.tolist() == predicted
    result = table.results[("m", "deletion")]
    assert result.bounds is None  # scored on the logit, as the target says
    direct = deletion(model, images, images.mean(1), predicted, curve_steps=3, score="logit")
    torch.testing.assert_close(result.values, direct.values)


def test_the_axioms_take_the_same_vocabulary() -> None:
    torch.manual_seed(0)
    activations = torch.rand(3, 4, 2, 2)
    weights = torch.rand(3, 4)
    head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)).eval()
    plain = conservation_violation(activations, weights, head, 2).values
    target = conservation_violation(activations, weights, head, faithcam.ClassLogit(2)).values
    torch.testing.assert_close(target, plain, rtol=0, atol=0)


def test_completeness_takes_the_same_vocabulary() -> None:
    from faithcam.metrics import completeness

    model, images, maps = model_images_maps()
    plain = completeness(model, images, maps, IDS, references=images).values
    target = completeness(model, images, maps, faithcam.ClassLogit(IDS), references=images)
    torch.testing.assert_close(target.values, plain, rtol=0, atol=0)
    probability = completeness(model, images, maps, faithcam.ClassProbability(IDS))
    with torch.no_grad():
        expected = model(images).softmax(1)[range(3), IDS].double()
    torch.testing.assert_close(probability.details["score"], expected)

"""Every refusal of the metrics tier says what was wrong in full (mutation testing: messages that
no test read survived as mutants; docs/mutation.md)."""

from __future__ import annotations

import sys

import pytest
import torch

from faithcam import ClassProbability
from faithcam.errors import FaithcamTypeError, FaithcamValueError, TargetError
from faithcam.metrics import (
    EvaluationTable,
    average_drop,
    completeness,
    conservation_violation,
    deletion,
    evaluate,
    infidelity,
    max_sensitivity,
    metric_spec,
    model_randomization,
    pointing_game,
    register_metric,
    road,
)
from tests.helpers import GapLinearNet

IMAGES = torch.rand(2, 3, 8, 8, generator=torch.Generator().manual_seed(0))
MAPS = torch.rand(2, 8, 8, generator=torch.Generator().manual_seed(1))
MODEL = GapLinearNet().eval()
ACTS = torch.rand(2, 4, 2, 2)
WEIGHTS = torch.rand(2, 4)


def explain_fn(images, targets):
    return torch.rand(images.shape[0], 8, 8)


def metric_fn(model, images, maps, targets=None):
    return maps.mean((1, 2))


REFUSALS = [
    # _common.check_images
    (
        lambda: deletion(MODEL, [1.0], MAPS),
        FaithcamTypeError,
        "images must be a torch.Tensor of shape (B, C, H, W), got list",
    ),
    (
        lambda: deletion(MODEL, torch.rand(3, 8, 8), MAPS),
        FaithcamValueError,
        "images must have shape (B, C, H, W) with B >= 1, got (3, 8, 8)",
    ),
    (
        lambda: deletion(MODEL, torch.zeros(2, 3, 8, 8, dtype=torch.long), MAPS),
        FaithcamTypeError,
        "images must be a floating tensor, got dtype torch.int64",
    ),
    # _common.check_maps
    (
        lambda: deletion(MODEL, IMAGES, "maps"),
        FaithcamTypeError,
        "maps must be a torch.Tensor or numpy array of shape (B, H, W), got str",
    ),
    (
        lambda: deletion(MODEL, IMAGES, torch.rand(2, 4, 4)),
        FaithcamValueError,
        "maps must have shape (B, H, W) = (2, 8, 8) to match images (2, 3, 8, 8), got (2, 4, 4)",
    ),
    # _common.substrate
    (
        lambda: deletion(MODEL, IMAGES, MAPS, substrate=torch.zeros(5, 8, 8)),
        FaithcamValueError,
        "substrate tensor of shape (5, 8, 8) does not broadcast to images (2, 3, 8, 8)",
    ),
    # _common.random_generator
    (
        lambda: road(MODEL, IMAGES, MAPS, 0, seed=1, generator=3),
        FaithcamTypeError,
        "road: got both seed and an int generator; pass seed only",
    ),
    (
        lambda: road(MODEL, IMAGES, MAPS, 0, generator="rng"),
        FaithcamTypeError,
        "generator must be a torch.Generator or None, got str",
    ),
    (
        lambda: road(MODEL, IMAGES, MAPS, 0, seed=1, generator=torch.Generator()),
        FaithcamTypeError,
        "road: got both seed and generator; pass one",
    ),
    (
        lambda: road(MODEL, IMAGES, MAPS, 0, seed=1.5),
        FaithcamTypeError,
        "seed must be an int or None, got float",
    ),
    # axioms
    (
        lambda: conservation_violation(ACTS, WEIGHTS, lambda a: a.sum((1, 2, 3)), 0),
        FaithcamValueError,
        "head must return class scores of shape (N, classes)",
    ),
    (
        lambda: conservation_violation(ACTS, WEIGHTS, "head", 0),
        FaithcamTypeError,
        "head must be a callable mapping activations to class scores",
    ),
    # completeness
    (
        lambda: completeness(MODEL, IMAGES, torch.rand(3, 2, 2)),
        FaithcamValueError,
        "raw_maps: expected (2, h, w) maps (CamResult.raw_maps), got (3, 2, 2)",
    ),
    (
        lambda: completeness(MODEL, IMAGES, torch.rand(2, 2, 2), references=IMAGES[:1]),
        FaithcamValueError,
        "references: every reference equals an image itself; an image is no reference for "
        "itself (pass at least one other image)",
    ),
    # evaluate
    (
        lambda: evaluate(MODEL, IMAGES, ["gradcam"], ["no_such_metric"]),
        FaithcamValueError,
        ("unknown metric names ['no_such_metric']; valid names: ['average_drop', ", "]"),
    ),
    (
        lambda: evaluate(MODEL, IMAGES, ["gradcam"], ["deletion"], explain="explain"),
        FaithcamTypeError,
        "explain must be a callable (model, images, method, targets)",
    ),
    # faithfulness
    (
        lambda: deletion(MODEL, IMAGES, MAPS, curve_steps=4, pixels_per_step=2),
        FaithcamValueError,
        "give either curve_steps or pixels_per_step, not both",
    ),
    # localization
    (
        lambda: pointing_game(IMAGES, MAPS, [[(0, 0, 4)], [(0, 0, 4, 4)]]),
        FaithcamValueError,
        "boxes[0] must hold (x0, y0, x1, y1) boxes, got (0, 0, 4)",
    ),
    (
        lambda: pointing_game(IMAGES, MAPS, [[(0, 0, 4, 4)], [(0, 0, 4.5, 4)]]),
        FaithcamValueError,
        "boxes[1] coordinates must be whole pixels, got (0, 0, 4.5, 4)",
    ),
    (
        lambda: pointing_game(IMAGES, MAPS, [[(0, 0, 9, 4)], [(0, 0, 4, 4)]]),
        FaithcamValueError,
        "boxes[0] box (0, 0, 9, 4) lies outside the 8x8 image or is empty: expected "
        "0 <= x0 < x1 <= 8 and 0 <= y0 < y1 <= 8 (x1, y1 exclusive)",
    ),
    (
        lambda: pointing_game(IMAGES, MAPS, torch.zeros(2, 8, 8)),
        FaithcamValueError,
        "boxes given as masks must be boolean of shape (2, 8, 8), got torch.float32 (2, 8, 8)",
    ),
    (
        lambda: pointing_game(IMAGES, MAPS, [[(0, 0, 4, 4)]]),
        FaithcamValueError,
        "boxes must have one entry per image (2), got 1",
    ),
    (
        lambda: pointing_game(
            IMAGES, MAPS, [torch.ones(8, 8, dtype=torch.bool), torch.ones(4, 4, dtype=torch.bool)]
        ),
        FaithcamValueError,
        "boxes[1] mask must be boolean of shape (8, 8), got torch.bool (4, 4)",
    ),
    (
        lambda: pointing_game(IMAGES, MAPS, [[(0, 0, 4, 4)]] * 2, radius=-1),
        FaithcamValueError,
        "radius must be an int >= 0 (pixels; formerly tolerance), got -1",
    ),
    # registry
    (
        lambda: metric_spec("deletion").check_options({"bogus": 1}, "evaluate"),
        FaithcamValueError,
        "evaluate: unknown option(s) ['bogus'] for metric 'deletion'; its options: curve_steps, "
        "pixels_per_step, substrate, score, batch_size, normalization",
    ),
    (
        lambda: register_metric(" padded", metric_fn, direction="higher"),
        FaithcamValueError,
        "name: expected a non-empty metric name, got ' padded'",
    ),
    (
        lambda: register_metric("fresh_metric_x", metric_fn, direction="higher", explains="x"),
        FaithcamValueError,
        "explains: expected None, 'images' or 'model', got 'x'",
    ),
    (
        lambda: register_metric("fresh_metric_x", metric_fn, direction="higher", bounds="ab"),
        FaithcamTypeError,
        "bounds: expected None or (low, high), got 'ab'",
    ),
    (
        lambda: metric_spec("no_such_metric"),
        FaithcamValueError,
        ("metric: unknown 'no_such_metric'; valid names: ['average_drop', ", "]"),
    ),
    # road
    (
        lambda: road(MODEL, IMAGES, MAPS, 0, percentages=[10, 120]),
        FaithcamValueError,
        "percentages must be a non-empty list in [0, 100], got [10.0, 120.0]",
    ),
    (
        lambda: road(MODEL, IMAGES, MAPS, [[0, 1], [2]]),
        TargetError,
        "targets: road's accuracy compares the prediction with one class per image; "
        "MultiLabel has none: pass class ids or a score",
    ),
    # robustness
    (
        lambda: max_sensitivity(MODEL, IMAGES, MAPS, 0, "explain"),
        FaithcamTypeError,
        "explain_fn must be a callable (images, targets) -> maps",
    ),
    (
        lambda: infidelity(MODEL, IMAGES, MAPS, 0, sigma=0.0),
        FaithcamValueError,
        "sigma must be > 0, got 0.0",
    ),
    # sanity
    (
        lambda: model_randomization(MODEL, IMAGES, MAPS, 0, explain_fn, layers=["nope"]),
        FaithcamValueError,
        "layers must be a non-empty list of modules with parameters; unknown ['nope'], "
        "valid names (top to bottom): ['fc', 'features.2', 'features.0']",
    ),
    # scoring
    (
        lambda: deletion(MODEL, IMAGES, MAPS, [0.5, 1.5]),
        FaithcamValueError,
        "targets must be None, an int, or 2 integer class ids of shape (B,), "
        "got (2,) torch.float64",
    ),
    (
        lambda: deletion(MODEL, IMAGES, MAPS, ClassProbability(1), score="logit"),
        FaithcamValueError,
        "score: deletion got score='logit' but targets=ClassProbability(1) scores the "
        "probability; leave score unset or pass a target of that score",
    ),
    (  # seed 20261218 (`average_drop` 19): the metric names itself
        lambda: average_drop(MODEL, IMAGES, MAPS, ClassProbability(1), score="logit"),
        FaithcamValueError,
        "score: average_drop got score='logit' but targets=ClassProbability(1) scores the "
        "probability; leave score unset or pass a target of that score",
    ),
]


@pytest.mark.parametrize(("call", "error", "message"), REFUSALS)
def test_metric_refusal_states_the_whole_problem(call, error, message):
    with pytest.raises(error) as caught:
        call()
    if isinstance(message, tuple):  # (start, end) around a long list of registered names
        assert str(caught.value).startswith(message[0])
        assert str(caught.value).endswith(message[1])
    else:
        assert str(caught.value) == message


def test_to_pandas_without_pandas_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # makes `import pandas` fail
    with pytest.raises(ImportError) as caught:
        EvaluationTable(rows=[], results={}).to_pandas()
    assert str(caught.value) == "EvaluationTable.to_pandas needs pandas: pip install pandas"

"""One meaning per keyword, US spelling: every renamed public name still works for one release,
gives the same numbers and says (DeprecationWarning) what replaces it; the data-aware D policy
lives in one function."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from torch import nn

from faithcam import metrics
from faithcam.cams.baselines import REFERENCE_IMAGES, ReferenceSet, data_aware_references
from faithcam.cli.main import build_parser
from faithcam.errors import FaithcamTypeError
from faithcam.metrics import evaluate
from faithcam.studies import study
from tests.metrics.metric_models import seeded, tiny_classifier

SRC = Path(__file__).resolve().parents[2] / "src" / "faithcam"


def setup() -> tuple[nn.Module, torch.Tensor, torch.Tensor, torch.Tensor]:
    images, maps = seeded(2, 3, 8, 8, seed=1), seeded(2, 8, 8, seed=2)
    return tiny_classifier(), images, maps, torch.tensor([0, 2])


def maps_of(model, images, targets) -> torch.Tensor:
    return images.mean(1) * (1 + targets.float()[:, None, None])


def boxes_of(images: torch.Tensor) -> list:
    return [[(0, 0, 3, 3)], [(4, 4, 8, 8)]]


# (function, positional inputs, old keywords, new keywords)
RENAMED = {
    "deletion steps": ("deletion", {"steps": 4}, {"curve_steps": 4}),
    "insertion steps": ("insertion", {"steps": 4}, {"curve_steps": 4}),
    "infidelity n_samples": ("infidelity", {"n_samples": 3, "seed": 1}, {"samples": 3, "seed": 1}),
    "infidelity generator=int": ("infidelity", {"generator": 5}, {"seed": 5}),
    "road generator=int": ("road", {"generator": 2, "percentages": [50]},
                           {"seed": 2, "percentages": [50]}),
    "max_sensitivity n_samples, normalise": (
        "max_sensitivity", {"n_samples": 2, "normalise": False, "seed": 0},
        {"samples": 2, "relative": False, "seed": 0},
    ),
    "pointing_game tolerance": ("pointing_game", {"tolerance": 2}, {"radius": 2}),
}  # fmt: skip


def _run(name: str, **options):
    model, images, maps, targets = setup()
    fn = getattr(metrics, name)
    if name == "pointing_game":
        return fn(images, maps, boxes_of(images), **options)
    if name == "max_sensitivity":
        return fn(model, images, None, targets, lambda x, t: maps_of(model, x, t), **options)
    return fn(model, images, maps, targets, **options)


@pytest.mark.parametrize("case", sorted(RENAMED))
def test_old_keywords_warn_and_give_the_same_numbers(case: str) -> None:
    name, old, new = RENAMED[case]
    with pytest.warns(DeprecationWarning, match="deprecated"):
        before = _run(name, **old)
    torch.testing.assert_close(before.values, _run(name, **new).values, rtol=0, atol=0)


def test_old_and_new_keyword_together_is_an_error() -> None:
    with pytest.raises(FaithcamTypeError, match="got both steps and curve_steps"):
        _run("deletion", steps=3, curve_steps=3)
    with pytest.raises(FaithcamTypeError, match="got both seed and an int generator"):
        _run("infidelity", seed=1, generator=1)


def test_uk_spelt_functions_are_deprecated_aliases(tmp_path) -> None:
    model, images, _, targets = setup()
    with pytest.warns(DeprecationWarning, match="model_randomisation is deprecated"):
        old = metrics.model_randomisation(model, images, None, targets, maps_of, layers=["4"])
    new = metrics.model_randomization(model, images, None, targets, maps_of, layers=["4"])
    torch.testing.assert_close(old.values, new.values, rtol=0, atol=0)
    assert new.name == "model_randomization"
    with pytest.warns(DeprecationWarning, match="randomisable_layers"):
        assert metrics.randomisable_layers(model) == metrics.randomizable_layers(model)
    store = study.ResultStore(tmp_path / "s.sqlite")
    store.add([("a", "m", "deletion", "k", 0.5), ("b", "m", "deletion", "k", 0.25)])
    with pytest.warns(DeprecationWarning, match="summarise is deprecated"):
        old = study.summarise(store, "k", ["m"], ["deletion"])
    assert old == study.summarize(store, "k", ["m"], ["deletion"])


def test_old_names_in_evaluate_are_renamed() -> None:
    model, images, _, targets = setup()
    with pytest.warns(DeprecationWarning):
        old = evaluate(
            model, images, ["m"], ["deletion", "model_randomisation"], targets=targets,
            explain=lambda m, x, method, t: maps_of(m, x, t),
            metric_kwargs={"deletion": {"steps": 3}, "model_randomisation": {"layers": ["4"]}},
        )  # fmt: skip
    new = evaluate(
        model, images, ["m"], ["deletion", "model_randomization"], targets=targets,
        explain=lambda m, x, method, t: maps_of(m, x, t),
        metric_kwargs={"deletion": {"curve_steps": 3}, "model_randomization": {"layers": ["4"]}},
    )  # fmt: skip
    assert [r["metric"] for r in old] == ["deletion", "model_randomization"]
    assert [r["mean"] for r in old] == [r["mean"] for r in new]


def test_cli_flags_renamed_keep_their_old_spelling(capsys) -> None:
    parser = build_parser()
    args = parser.parse_args(["evaluate", "f", "--model", "m", "--metric-steps", "7"])
    assert args.curve_steps == 7
    assert "--metric-steps is deprecated" in capsys.readouterr().err
    args = parser.parse_args(["demo", "--steps", "3"])
    assert args.curve_steps == 3 and "--steps is deprecated" in capsys.readouterr().err
    args = parser.parse_args(["evaluate", "f", "--model", "m", "--curve-steps", "7"])
    assert args.curve_steps == 7 and capsys.readouterr().err == ""


# ----------------------------------------------------------------------------- data-aware D
@pytest.mark.parametrize("n", [2, 3, 5, 32, 33, 100])
def test_the_reference_policy_picks_up_to_32_evenly_spaced_images(n: int) -> None:
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 1, 2, 2)
    loaded = []

    def load(picks: list[int]) -> torch.Tensor:
        loaded.append(picks)
        return images[picks]

    references, picks = data_aware_references(n, load)
    k = min(n, REFERENCE_IMAGES)
    assert isinstance(references, ReferenceSet) and loaded == [picks]
    assert len(picks) == k == len(set(picks)) and picks[0] == 0 and picks[-1] == n - 1
    assert picks == [int(i * (n - 1) / (k - 1)) for i in range(k)]  # ⌊i (n − 1) / (k − 1)⌋
    drawn = references(images[:1].expand(64, 1, 2, 2), None, torch.Generator().manual_seed(0))
    assert 0 not in drawn[:, 0, 0, 0].tolist(), "an image is never its own baseline"


@pytest.mark.parametrize("n", [0, 1])
def test_fewer_than_two_images_give_no_references(n: int) -> None:
    assert data_aware_references(n, lambda picks: pytest.fail("nothing to load")) is None


def test_the_reference_policy_is_written_once() -> None:
    """The CLI, the studies, evaluate and the demo build the data-aware D through
    data_aware_references only: no other module makes a ReferenceSet or spaces the picks."""
    built, users = [], set()
    for path in SRC.rglob("*.py"):
        text, name = path.read_text(encoding="utf-8"), path.relative_to(SRC).as_posix()
        builds = re.search(r"(?<![`\w])ReferenceSet\(|linspace\(0, (?:n|len\()", text)
        if name != "cams/baselines.py" and builds:
            built.append(name)
        if "data_aware_references(" in text and name != "cams/baselines.py":
            users.add(name)
    assert built == []
    assert {"cli/commands.py", "metrics/evaluate.py", "studies/study.py"} <= users
    assert any("demo" in name for name in users)


def test_evaluate_progress_true_draws_its_line_outside_a_terminal(capsys) -> None:
    """Seed 20261216: ``progress=True`` forces evaluate's line where stderr is no terminal (a
    log file); the default draws none there."""
    model, images, _, targets = setup()
    run = dict(targets=targets, explain=lambda m, x, method, t: maps_of(m, x, t))
    evaluate(model, images, ["m"], ["deletion"], progress=True, **run)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines and lines[-1].startswith("evaluate: 100%")
    evaluate(model, images, ["m"], ["deletion"], **run)
    assert capsys.readouterr().err == ""

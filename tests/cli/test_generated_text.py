"""Text generated from numbers never contradicts the numbers beside it (issue 26): the evaluate
report's "what this means" against its ranked table, and the demo's note on the seed methods
against the maps it shows."""

from __future__ import annotations

import math
import random
import re

import pytest
import torch

from faithcam.cli.evaluate_items import EvalItem
from faithcam.cli.evaluate_report import (
    decimals,
    interpretation,
    places,
    results_table,
    separated,
)
from faithcam.demo.shapes import COINCIDE, layer_note
from faithcam.metrics.registry import metric_spec

ITEMS = [EvalItem(f"im{i}", __import__("pathlib").Path(f"im{i}.png"), 1, "cat", None)
         for i in range(4)]  # fmt: skip


def row(method, metric, mean, low, high, n=4, images=4):
    return {"method": method, "metric": metric, "mean": mean, "ci_low": low, "ci_high": high,
            "n": n, "images": images}  # fmt: skip


def test_directions_come_from_the_registry_and_the_best_is_named_first():
    rows = [
        row("a", "deletion", 0.30, 0.25, 0.35), row("b", "deletion", 0.10, 0.05, 0.15),
        row("a", "insertion", 0.70, 0.60, 0.80), row("b", "insertion", 0.40, 0.35, 0.45),
    ]  # fmt: skip
    text = interpretation(rows, ITEMS, "P.")
    assert metric_spec("deletion").direction == "lower"
    assert "On deletion (lower is better), b ranks first with 0.100" in text[1]
    assert "does not overlap that of a, the next best (0.300), so these images separate them" in (
        text[1]
    )
    assert "On insertion (higher is better), a ranks first with 0.700" in text[2]
    assert "No method ranks first on every metric: b on deletion; a on insertion." in text
    table = results_table(rows)
    assert "deletion ↓" in table and "insertion ↑" in table
    assert '<td class="best">0.100 [0.050, 0.150] <small>#1</small>' in table
    assert '<td class="best">0.700 [0.600, 0.800] <small>#1</small>' in table


def test_overlapping_intervals_are_not_called_a_separation():
    rows = [row("a", "insertion", 0.52, 0.40, 0.60), row("b", "insertion", 0.50, 0.45, 0.55)]
    (sentence,) = [s for s in interpretation(rows, ITEMS, "P.") if s.startswith("On insertion")]
    assert "overlaps that of b" in sentence and "do not separate them" in sentence
    assert not separated(rows[0], rows[1], "higher")


def test_float_rounding_is_a_tie_and_shown_as_one():
    rows = [row("a", "energy_pointing_game", 0.4386, 0.2, 0.6),
            row("b", "energy_pointing_game", 0.4386 * (1 + 1e-8), 0.2, 0.6)]  # fmt: skip
    placed = places(rows, {"energy_pointing_game": "higher"})["energy_pointing_game"]
    assert placed == {"a": 1, "b": 1}
    text = " ".join(interpretation(rows, ITEMS, "P."))
    assert "a and b tie for first" in text or "b and a tie for first" in text


def test_close_means_get_enough_decimals_to_show_their_order():
    rows = [row("a", "deletion", 0.12341, 0, 1), row("b", "deletion", 0.12349, 0, 1)]
    placed = places(rows, {"deletion": "lower"})["deletion"]
    assert placed == {"a": 1, "b": 2}
    assert decimals(rows, placed) == 4
    assert "0.1234 [" in results_table(rows) and "0.1235 [" in results_table(rows)


def test_the_counts_and_the_caution_follow_the_rows():
    rows = [row("a", "deletion", 0.1, 0.0, 0.2, n=5, images=4),
            row("a", "pointing_game", 0.5, 0.1, 0.9, n=3, images=2)]  # fmt: skip
    text = interpretation(rows, ITEMS, "P.")
    assert "deletion scored 5 explanations from 4 images; pointing_game scored 3 explanations " \
           "from 2 images" in " ".join(text)  # fmt: skip
    assert any("provisional" in s for s in text)
    many = [row("a", "deletion", 0.1, 0.0, 0.2, n=500, images=500)]
    assert not any("provisional" in s for s in interpretation(many, ITEMS, "P."))


def test_a_metric_without_values_says_so():
    rows = [row("a", "pointing_game", math.nan, math.nan, math.nan, n=0, images=0)]
    assert "No explanation could be scored on pointing_game (n = 0)." in interpretation(
        rows, ITEMS, "P."
    )


@pytest.mark.parametrize("seed", range(25))
def test_the_sentences_never_contradict_the_table(seed):
    """Random tables: whoever the text names first under a metric is the table's #1 (bold)
    there, and separation is claimed only when the intervals do not overlap."""
    rng = random.Random(seed)
    methods = ["gradcam", "hirescam", "expected-gradcam"][: rng.randint(2, 3)]
    rows = []
    for metric in ("deletion", "insertion", "pointing_game"):
        for method in methods:
            mean = round(rng.random(), rng.choice([1, 2, 4]))
            half = rng.random() * 0.2
            rows.append(row(method, metric, mean, max(0, mean - half), min(1, mean + half)))
    direction_of = {m: metric_spec(m).direction for m in ("deletion", "insertion", "pointing_game")}
    placed = places(rows, direction_of)
    table = results_table(rows)
    for sentence in interpretation(rows, ITEMS, "P."):
        found = re.match(r"On (\w+) \((\w+) is better\), (.+?) (?:ranks|tie) first", sentence)
        if not found:
            continue
        metric, direction, named = found.groups()
        assert direction_of[metric] == direction
        first = [m for m, p in placed[metric].items() if p == 1]
        assert sorted(re.split(r", | and ", named)) == sorted(first)
        by_method = {r["method"]: r for r in rows if r["metric"] == metric}
        means = [r["mean"] for r in by_method.values()]
        best = max(means) if direction == "higher" else min(means)
        for method in first:  # the named are the best by the table's own numbers, in bold
            assert by_method[method]["mean"] == pytest.approx(best, rel=1e-6)
        assert table.count('class="best"') == sum(
            p == 1 for by in placed.values() for p in by.values()
        )
        if "separate them" in sentence and "do not" not in sentence:
            runner = re.search(r"that of (\S+), the next best", sentence).group(1)
            assert separated(by_method[first[0]], by_method[runner], direction)


# -- the demo's note on the path methods --------------------------------------------------------


def test_the_demo_says_coincide_only_when_the_maps_do():
    base = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    same = {"gradcam": base, "integrated-gradcam": base.clone(), "expected-gradcam": base + 1e-5}
    text = layer_note("vgg", same)
    assert "integrated-gradcam and expected-gradcam coincide with Grad-CAM here" in text
    apart = {"gradcam": base, "integrated-gradcam": base * 0.5, "expected-gradcam": base}
    text = layer_note("vgg", apart)
    gap = float((base * 0.5 - base).abs().max())
    assert f"integrated-gradcam by up to {gap:.2f}" in text
    assert "integrated-gradcam and" not in text and "expected-gradcam coincide" in text
    assert COINCIDE == 1e-3


def test_methods_alike_on_every_metric_are_named_once_and_only_then():
    same = [
        row(m, metric, mean, mean - 0.1, mean + 0.1)
        for m in ("gradcam", "hirescam")
        for metric, mean in (("deletion", 0.2), ("insertion", 0.6))
    ]
    other = [
        row("xgradcam", "deletion", 0.2, 0.1, 0.3), row("xgradcam", "insertion", 0.5, 0.4, 0.6)
    ]
    text = interpretation(same + other, ITEMS, "P.")
    alike = [s for s in text if "score alike" in s]
    assert alike == [
        "gradcam and hirescam score alike on every metric, intervals included: their maps "
        "probably coincide on this model (Grad-CAM and HiResCAM give the same map whenever the "
        "layer is followed by global average pooling)."
    ]
    # the same deletion but a different insertion: not alike
    other[1] = row("xgradcam", "insertion", 0.6, 0.45, 0.7)
    moved = [row("hirescam", "insertion", 0.6, 0.45, 0.75) if r["method"] == "hirescam"
             and r["metric"] == "insertion" else r for r in same]  # fmt: skip
    assert not [s for s in interpretation(moved + other, ITEMS, "P.") if "score alike" in s]

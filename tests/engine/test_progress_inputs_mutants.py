"""Edge cases of issue 26's progress line and friendly inputs, written after their semantic
mutants (scripts/semantic_mutants_catalogue.py, group ``owndata``): each test kills a mutant
that the area's earlier tests let through. Expected values are worked out by hand."""

from __future__ import annotations

import io

import pytest
import torch

from faithcam.engine.inputs import ChannelError, input_channels_checked
from faithcam.engine.progress import Progress
from tests.helpers import Clock


def test_dropped_work_leaves_the_total_and_the_percentage_counts_what_is_left():
    """10 units, 4 found done already and dropped: the line counts out of 6; after 3 units it
    says 50 % and 3/6 (not 30 % of 10)."""
    clock = Clock()
    stream = io.StringIO()
    bar = Progress(10, "study", stream=stream, clock=clock, enabled=True)
    bar.drop(4)
    assert bar.total == 6
    clock.now = 3.0
    bar.advance(3)
    assert bar.line().startswith("study:  50% 3/6 unit")
    assert bar.eta() == pytest.approx(3.0)  # 3 units left at 1 s each


def test_the_channel_check_is_on_the_models_first_convolution():
    """A greyscale image into a model whose first convolution takes 3 channels (and a later one
    8) is refused naming the first one, before torch's own convolution error."""
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3)
    ).eval()
    with input_channels_checked(model), pytest.raises(ChannelError) as caught:
        model(torch.rand(1, 1, 12, 12))
    assert (caught.value.given, caught.value.expected, caught.value.module) == (1, 3, "0")
    assert "the model's first convolution (0) takes 3 channels" in str(caught.value)


def test_a_plain_stream_gets_a_line_exactly_one_refresh_interval_after_the_last():
    """Outside a terminal the line is rewritten at most once per second (REFRESH_PLAIN = 1 s):
    units done at 0.5 s and 1.5 s (exactly 1 s later) each write a line; one at 2.0 s (0.5 s
    after the last line) does not."""
    clock = Clock()
    stream = io.StringIO()
    bar = Progress(10, "study", stream=stream, clock=clock, enabled=True)
    for now in (0.5, 1.5, 2.0):
        clock.now = now
        bar.advance(1)
    lines = stream.getvalue().splitlines()
    assert [line.split(" [")[0] for line in lines] == [
        "study:  10% 1/10 unit",
        "study:  20% 2/10 unit",
    ]

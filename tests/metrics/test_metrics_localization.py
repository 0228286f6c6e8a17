"""Pointing game, energy-based pointing game and bounding-box accuracy."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from faithcam.errors import FaithcamTypeError, FaithcamValueError
from faithcam.metrics import bbox_accuracy, boxes_to_masks, energy_pointing_game, pointing_game

IMAGES = torch.zeros(2, 3, 20, 30)  # H = 20, W = 30
BOXES = [[(5, 4, 15, 10)], [(0, 0, 10, 10), (20, 10, 30, 20)]]


def peak_map(points: list[tuple[int, int]]) -> torch.Tensor:
    maps = torch.rand(len(points), 20, 30, generator=torch.Generator().manual_seed(0)) * 0.5
    for i, (x, y) in enumerate(points):
        maps[i, y, x] = 1.0
    return maps


def test_pointing_game_hit_and_miss():
    inside = pointing_game(IMAGES, peak_map([(7, 5), (25, 15)]), BOXES)
    outside = pointing_game(IMAGES, peak_map([(15, 5), (15, 15)]), BOXES)  # x1 is exclusive
    assert inside.values.tolist() == [1.0, 1.0] and inside.mean == 1.0
    assert outside.values.tolist() == [0.0, 0.0]


def test_pointing_game_radius_is_euclidean():
    maps = peak_map([(17, 5), (17, 12)])  # 3 px right of box 0; (17, 12) is 3 px left of box 2
    assert pointing_game(IMAGES, maps, BOXES, radius=2).values.tolist() == [0.0, 0.0]
    assert pointing_game(IMAGES, maps, BOXES, radius=3).values.tolist() == [1.0, 1.0]
    corner = peak_map([(17, 11), (0, 0)])  # 3 px right, 2 px below corner (14, 9): 3.6 px
    assert pointing_game(IMAGES, corner, BOXES, radius=3).values[0] == 0.0
    assert pointing_game(IMAGES, corner, BOXES, radius=4).values[0] == 1.0


def test_energy_pointing_game():
    masks = boxes_to_masks(BOXES, IMAGES)
    inside = torch.rand(2, 20, 30) * masks
    assert energy_pointing_game(IMAGES, inside, BOXES).values.tolist() == [1.0, 1.0]
    uniform = torch.ones(2, 20, 30)
    expected = [60 / 600, 200 / 600]
    np.testing.assert_allclose(energy_pointing_game(IMAGES, uniform, BOXES).values, expected)
    zero = energy_pointing_game(IMAGES, torch.zeros(2, 20, 30), BOXES)
    assert math.isnan(zero.values[0]) and zero.n == 0


def test_masks_as_ground_truth_match_boxes():
    masks = boxes_to_masks(BOXES, IMAGES)
    maps = torch.rand(2, 20, 30)
    a = energy_pointing_game(IMAGES, maps, BOXES)
    b = energy_pointing_game(IMAGES, maps, masks)
    c = energy_pointing_game(IMAGES, maps, [masks[0].numpy(), masks[1]])
    torch.testing.assert_close(a.values, b.values)
    torch.testing.assert_close(a.values, c.values)


def test_bbox_accuracy():
    maps = torch.zeros(2, 20, 30)
    maps[0, 4:10, 5:15] = 1.0  # exactly the box
    maps[0, 18, 28] = 0.9  # a small separate blob is ignored (not the largest component)
    maps[1, 12:20, 21:30] = 0.8  # IoU with (20, 10, 30, 20) = 72 / 100
    maps[1, 0:2, 0:2] = 1.0
    res = bbox_accuracy(IMAGES, maps, BOXES, threshold=0.5)
    assert res.values.tolist() == [1.0, 1.0]
    assert res.details["boxes"][0] == (5, 4, 15, 10)
    strict = bbox_accuracy(IMAGES, maps, BOXES, iou_threshold=0.75)
    assert strict.values.tolist() == [1.0, 0.0]
    high = bbox_accuracy(IMAGES, maps, BOXES, threshold=0.95)  # only the 2x2 blob remains
    assert high.values.tolist() == [1.0, 0.0]


def test_bad_inputs():
    maps = torch.rand(2, 20, 30)
    with pytest.raises(FaithcamValueError, match="lies outside the 30x20 image"):
        pointing_game(IMAGES, maps, [[(5, 4, 31, 10)], [(0, 0, 1, 1)]])
    with pytest.raises(FaithcamValueError, match="lies outside"):
        pointing_game(IMAGES, maps, [[(-1, 4, 5, 10)], [(0, 0, 1, 1)]])
    with pytest.raises(FaithcamValueError, match=r"lies outside .* or is empty"):
        energy_pointing_game(IMAGES, maps, [[(5, 4, 5, 10)], [(0, 0, 1, 1)]])
    with pytest.raises(FaithcamValueError, match=r"boxes\[1\] is an empty box list"):
        pointing_game(IMAGES, maps, [[(5, 4, 15, 10)], []])
    with pytest.raises(FaithcamValueError, match="one entry per image"):
        pointing_game(IMAGES, maps, [[(5, 4, 15, 10)]])
    with pytest.raises(FaithcamValueError, match="must hold"):
        pointing_game(IMAGES, maps, [[(5, 4, 15)], [(0, 0, 1, 1)]])
    with pytest.raises(FaithcamValueError, match="must be boolean of shape"):
        pointing_game(IMAGES, maps, torch.zeros(2, 20, 30))
    with pytest.raises(FaithcamTypeError, match="boxes must be a list"):
        pointing_game(IMAGES, maps, 3)
    with pytest.raises(
        FaithcamValueError, match=r"maps must have shape \(B, H, W\) = \(2, 20, 30\)"
    ):
        pointing_game(IMAGES, torch.rand(2, 30, 20), BOXES)
    with pytest.raises(FaithcamValueError, match="radius must be"):
        pointing_game(IMAGES, maps, BOXES, radius=-1)
    with pytest.raises(FaithcamValueError, match="threshold must be in"):
        bbox_accuracy(IMAGES, maps, BOXES, threshold=0)

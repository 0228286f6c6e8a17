"""Engine details that a mutation run found unchecked: layouts round-trip, token grids read
without a patch size, the input normalisation's algebra, and dense-task target messages."""

from __future__ import annotations

import pytest
import torch

from faithcam.engine.layouts import Layout, LayoutHints, _token_grids
from faithcam.engine.normalization import Normalization, as_normalization
from faithcam.engine.targets import DetectionTarget, MultiLabel, SegmentationTarget
from faithcam.errors import FaithcamValueError, TargetError

GEN = torch.Generator().manual_seed(0)


@pytest.mark.parametrize(
    "layout, shape",
    [
        (Layout("nchw"), (2, 5, 3, 4)),
        (Layout("nhwc"), (2, 3, 4, 5)),  # (B, h, w, C)
        (Layout("tokens", (3, 4), prefix=1, channels_last=True), (2, 13, 5)),  # (B, N, C)
        (Layout("tokens", (3, 4), prefix=2, channels_last=False), (2, 5, 14)),  # (B, C, N)
    ],
)
def test_from_nchw_inverts_to_nchw(layout: Layout, shape: tuple[int, ...]) -> None:
    """Gradient-free methods substitute a (B, C, h, w) map back into the layer's own layout:
    from_nchw(to_nchw(t), t) must give t back, extra tokens included."""
    tensor = torch.randn(shape, generator=GEN)
    grid = layout.to_nchw(tensor)
    assert grid.shape[:2] == (2, 5) and grid.dim() == 4
    torch.testing.assert_close(layout.from_nchw(grid, tensor), tensor, rtol=0, atol=0)


def test_vector_layout_round_trip() -> None:
    vector = torch.randn(2, 7, generator=GEN)
    grid = Layout("vector").to_nchw(vector)
    assert grid.shape == (2, 7, 1, 1)
    torch.testing.assert_close(Layout("vector").from_nchw(grid, vector), vector)


def test_nhwc_reads_channels_from_the_last_axis() -> None:
    tensor = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).reshape(2, 3, 4, 5)
    grid = Layout("nhwc").to_nchw(tensor)
    assert grid[1, 4, 2, 3] == tensor[1, 2, 3, 4]


def test_token_grids_without_a_patch_size() -> None:
    """17 tokens for a 64 x 64 image: one class token + a 4 x 4 grid is a reading; 16 + 1
    tokens with a known single extra token is the only reading."""
    assert (1, 4, 4) in _token_grids(17, (64, 64), LayoutHints())
    assert _token_grids(17, (64, 64), LayoutHints(prefix=1)) == [(1, 4, 4)]
    assert _token_grids(10, (32, 64), LayoutHints(prefix=2)) == [(2, 2, 4)]  # aspect ratio kept
    # a single patch (the image is one patch wide) is a 1 x 1 grid
    assert _token_grids(3, (16, 16), LayoutHints(prefix=2)) == [(2, 1, 1)]
    assert _token_grids(2, (16, 16), LayoutHints(prefix=2)) == []  # no patch token left


def test_normalization_algebra() -> None:
    norm = Normalization((0.5, 0.25, 0.0), (0.5, 2.0, 1.0))
    pixels = torch.rand(2, 3, 4, 4, generator=GEN)
    model_space = norm.to_model(pixels)
    expected = torch.stack(
        [(pixels[:, 0] - 0.5) / 0.5, (pixels[:, 1] - 0.25) / 2.0, pixels[:, 2]], 1
    )
    torch.testing.assert_close(model_space, expected)
    torch.testing.assert_close(norm.to_pixels(model_space), pixels)
    torch.testing.assert_close(norm.black(pixels).flatten(), torch.tensor([-1.0, -0.125, 0.0]))
    assert norm.as_dict() == {"mean": [0.5, 0.25, 0.0], "std": [0.5, 2.0, 1.0]}
    assert as_normalization({"mean": [0.5], "std": [2]}) == Normalization((0.5,), (2.0,))


@pytest.mark.parametrize(
    "mean, std, message",
    [
        ((), (1.0,), "normalization: mean is empty"),
        ((0.0,), (), "normalization: std is empty"),
        ((float("nan"),), (1.0,), "normalization: mean must be finite numbers"),
        ((0.0,), (float("inf"),), "normalization: std must be finite numbers"),
        ((0.0, 0.0), (1.0,), "normalization: mean has 2 values, std has 1"),
        ((0.0,), (0.0,), "normalization: std must be > 0, got [0.0]"),
    ],
)
def test_normalization_errors_name_the_part(mean, std, message: str) -> None:
    with pytest.raises(FaithcamValueError) as raised:
        Normalization(mean, std)
    assert str(raised.value).startswith(message)


def test_normalization_checks_the_channel_count() -> None:
    with pytest.raises(FaithcamValueError, match="3 mean/std values for images with 1 channels"):
        Normalization((0.0,) * 3, (1.0,) * 3).check(torch.zeros(1, 1, 2, 2))


def test_dense_target_messages_and_reprs() -> None:
    with pytest.raises(TargetError) as raised:
        MultiLabel([[1], [2], [3]]).bind(2, torch.device("cpu"))
    assert str(raised.value) == "targets: got 3 class lists for 2 images"
    assert repr(SegmentationTarget(3)) == "SegmentationTarget(3, mask=False)"
    assert repr(SegmentationTarget(3, torch.ones(2, 2))) == "SegmentationTarget(3, mask=True)"
    bound = DetectionTarget(torch.tensor([[0.0, 0, 4, 4]]), [1]).bind(1, torch.device("cpu"))
    with pytest.raises(TargetError) as raised:
        bound.scores(torch.zeros(1, 10), torch.tensor([0]), False)
    assert str(raised.value).startswith(
        "targets: detection targets need a list of per-image dicts with boxes, labels and scores"
    )
    assert "got Tensor" in str(raised.value)
    with pytest.raises(TargetError) as raised:  # seed 20261219: a list, but not of dicts
        bound.scores([torch.zeros(1, 10)], torch.tensor([0]), False)
    assert str(raised.value).endswith("(torchvision detectors), got list")


def test_automatic_layer_is_chosen_per_input_size() -> None:
    """The automatic choice is cached per model *and input shape*: ResNet-18's layer4 is 1 x 1
    on 32 x 32 images (skipped, layer3 chosen) and 2 x 2 on 64 x 64 ones, in either order."""
    import faithcam
    from tests.helpers import seeded_torchvision

    model = seeded_torchvision("resnet18")
    small, large = torch.randn(1, 3, 32, 32), torch.randn(1, 3, 64, 64)
    assert faithcam.explain(model, large, targets=0).layer == "layer4"
    assert faithcam.explain(model, small, targets=0).layer == "layer3"
    assert faithcam.explain(model, large, targets=0).layer == "layer4"


def test_a_layout_of_an_unknown_kind_cannot_be_made() -> None:
    """Every Layout method dispatches on ``kind``, an unknown one would fall through to the
    custom transform: the five kinds are the only ones accepted."""
    for kind in ("nchw", "nhwc", "tokens", "vector", "custom"):
        assert Layout(kind).kind == kind
    with pytest.raises(ValueError, match="Layout kind 'CUSTOM'"):
        Layout("CUSTOM")

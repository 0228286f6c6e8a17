"""Friendly inputs (issue 26): PIL images and NumPy pixels converted with the normalisation (or
refused with the lines that convert them), a warning for inputs that look un-normalised, clear
channel and layout errors before torch's convolution error, CamResult.save writing the format
its extension names, and the CLI's version, exit codes and messages in CLI terms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import faithcam
from faithcam.cli import main
from faithcam.engine.inputs import ChannelError, pixels_to_tensor
from faithcam.errors import FaithcamTypeError, FaithcamValueError
from tests.cli.protocol_models import colour_model

MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _photo(size: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (size, size, 3), dtype=np.uint8)


def _by_hand(pixels: np.ndarray) -> torch.Tensor:
    """The conversion the refusal message prints, done with torchvision (independent code)."""
    from torchvision.transforms import functional

    x = functional.to_tensor(Image.fromarray(pixels))[None]
    return functional.normalize(x, MEAN, STD)


@pytest.mark.parametrize("kind", ["pil", "numpy", "list"])
def test_pil_and_numpy_pixels_are_converted_with_the_normalisation(kind):
    pixels = _photo()
    given = {
        "pil": Image.fromarray(pixels),
        "numpy": pixels,
        "list": [Image.fromarray(pixels), pixels],
    }[kind]
    model = colour_model()
    result = faithcam.explain(model, given, "gradcam", normalization=(MEAN, STD))
    expected_input = _by_hand(pixels)
    if kind == "list":
        expected_input = expected_input.expand(2, -1, -1, -1)
    expected = faithcam.explain(model, expected_input, "gradcam", normalization=(MEAN, STD))
    torch.testing.assert_close(result.maps, expected.maps)
    torch.testing.assert_close(result.scores, expected.scores)


def test_grey_pixels_are_repeated_and_alpha_dropped_for_an_rgb_normalisation():
    grey = _photo()[:, :, 0]
    rgba = np.dstack([_photo(), np.full((16, 16), 255, np.uint8)])
    model = colour_model()
    from_grey = faithcam.explain(model, grey, normalization=(MEAN, STD))
    expected = faithcam.explain(model, _by_hand(np.dstack([grey] * 3)), normalization=(MEAN, STD))
    torch.testing.assert_close(from_grey.maps, expected.maps)
    from_rgba = faithcam.explain(model, rgba, normalization=(MEAN, STD))
    expected = faithcam.explain(model, _by_hand(_photo()), normalization=(MEAN, STD))
    torch.testing.assert_close(from_rgba.maps, expected.maps)


@pytest.mark.parametrize("given", [Image.fromarray(_photo()), _photo()])
def test_without_normalisation_pixels_are_refused_with_the_two_lines_that_convert(given):
    with pytest.raises(FaithcamTypeError) as refused:
        faithcam.explain(colour_model(), given)
    text = str(refused.value)
    assert "not a (B, C, H, W) tensor" in text
    assert "x = torchvision.transforms.functional.to_tensor(image)[None]" in text
    assert "x = torchvision.transforms.functional.normalize(x, mean, std)" in text
    assert "normalization=(mean, std)" in text


def test_the_refusal_names_what_was_given_a_pil_image_or_the_arrays_shape():
    for given, named in ((Image.fromarray(_photo()), "got a PIL image, not"),
                         (_photo(), "got a NumPy array (16, 16, 3), not")):  # fmt: skip
        with pytest.raises(FaithcamTypeError) as refused:
            faithcam.explain(colour_model(), given)
        assert f"images: {named} a (B, C, H, W) tensor" in str(refused.value)


def test_pixels_with_two_channels_are_refused_with_the_channel_counts_read():
    pixels = np.zeros((8, 8, 2), dtype=np.uint8)
    with pytest.raises(FaithcamValueError) as refused:
        faithcam.explain(colour_model(), pixels, normalization=(MEAN, STD))
    assert str(refused.value) == (
        "images: a NumPy array (8, 8, 2): expected pixels (H, W), (H, W, C) or (B, H, W, C) "
        "with C = 1, 3 or 4"
    )


def test_float_arrays_outside_zero_one_are_not_taken_for_pixels():
    with pytest.raises(FaithcamValueError, match=r"torch.from_numpy\(array\)"):
        faithcam.explain(colour_model(), np.full((8, 8, 3), 2.5), normalization=(MEAN, STD))


def test_float_pixels_at_exactly_zero_and_one_are_pixels():
    black_and_white = _photo() > 127
    from_floats = pixels_to_tensor(black_and_white.astype(np.float64), (MEAN, STD))
    expected = _by_hand(black_and_white.astype(np.uint8) * 255)
    torch.testing.assert_close(from_floats, expected)


def test_pixels_in_0_255_warn_that_they_look_unnormalised():
    model = colour_model()
    pixels = torch.from_numpy(_photo()).permute(2, 0, 1)[None].float()  # 0..255
    with pytest.warns(UserWarning, match="looks like 0-255 pixels"):
        faithcam.explain(model, pixels)
    with pytest.warns(UserWarning, match=r"every value lies in \[0, 1\]"):
        faithcam.explain(model, pixels / 255, normalization=(MEAN, STD))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a normalised input warns nothing
        faithcam.explain(model, _by_hand(_photo()), normalization=(MEAN, STD))


def test_greyscale_into_an_rgb_model_is_a_clear_error_and_leaves_no_hook():
    model = colour_model()
    with pytest.raises(ChannelError, match=r"1 channel \(greyscale\).*features.0\) takes 3"):
        faithcam.explain(model, torch.randn(1, 1, 16, 16))
    assert all(not m._forward_pre_hooks for m in model.modules())


def test_a_channels_last_tensor_names_the_permute():
    with pytest.raises(ChannelError, match=r"looks channels-last.*permute\(0, 3, 1, 2\)"):
        faithcam.explain(colour_model(), torch.randn(1, 16, 16, 3))


def test_an_rgba_tensor_names_the_alpha_channel():
    with pytest.raises(ChannelError, match=r"drop the alpha channel, images\[:, :3\]"):
        faithcam.explain(colour_model(), torch.randn(1, 4, 16, 16))


class GreyAdapter(nn.Module):
    """Repeats a grey input to RGB before its first convolution: a 1-channel input is right."""

    def __init__(self) -> None:
        super().__init__()
        self.inner = colour_model()

    def forward(self, x):
        return self.inner(x.expand(-1, 3, -1, -1))


def test_a_model_that_adapts_its_input_is_not_refused():
    result = faithcam.explain(GreyAdapter(), torch.randn(1, 1, 16, 16), layer="inner.features")
    assert result.maps.shape == (1, 16, 16)


@pytest.mark.parametrize(
    ("name", "magic"),
    [("x.jpg", b"\xff\xd8\xff"), ("x.jpeg", b"\xff\xd8\xff"), ("x.png", b"\x89PNG"),
     ("x.pdf", b"%PDF")],
)  # fmt: skip
def test_save_writes_the_format_its_extension_names(tmp_path, name, magic):
    result = faithcam.explain(colour_model(), _by_hand(_photo()))
    path = result.save(tmp_path / name)
    assert path.read_bytes().startswith(magic)


def test_save_refuses_an_extension_that_names_no_format(tmp_path):
    result = faithcam.explain(colour_model(), _by_hand(_photo()))
    with pytest.raises(FaithcamValueError, match=r"'x.xyz' names no image format.*\.png"):
        result.save(tmp_path / "x.xyz")
    assert not (tmp_path / "x.xyz").exists()


# -- the command line -----------------------------------------------------------------------


def test_version(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"faithcam {faithcam.__version__}"


def test_channels_1_on_an_rgb_model_is_a_usage_error_in_cli_terms(tmp_path, monkeypatch, capsys):
    Image.fromarray(_photo(32)).save(tmp_path / "p.png")
    monkeypatch.chdir(tmp_path)
    code = main(["explain", "p.png", "--model", "tests.cli.protocol_models:colour_model",
                 "--channels", "1", "--size", "32", "--quiet", "--out", "out"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "--channels 1: the model's first convolution (features.0) takes 3 channels; pass " \
           "--channels 3" in err  # fmt: skip


def test_a_factory_module_in_the_current_folder_names_pythonpath(tmp_path, monkeypatch, capsys):
    (tmp_path / "mymodule.py").write_text("def factory():\n    raise SystemExit\n")
    Image.fromarray(_photo()).save(tmp_path / "p.png")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("sys.path", [p for p in __import__("sys").path if p not in ("", ".")])
    code = main(["explain", "p.png", "--model", "mymodule:factory", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "run it with PYTHONPATH=. (PYTHONPATH=. faithcam ...)" in err, err


def test_an_unknown_factory_module_says_where_python_looks(tmp_path, monkeypatch, capsys):
    Image.fromarray(_photo()).save(tmp_path / "p.png")
    monkeypatch.chdir(tmp_path)
    code = main(["explain", "p.png", "--model", "nosuchmodule_xyz:factory", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "installed or its folder on PYTHONPATH" in err, err


def test_usage_errors_exit_2(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for argv in (["explain"], ["evaluate", "x", "--model", "m", "--grids", "many"],
                 ["nosuchcommand"]):  # fmt: skip
        try:
            code = main(argv)
        except SystemExit as exit_:
            code = exit_.code
        assert code == 2, argv

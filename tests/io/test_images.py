"""Image loading: every PIL mode becomes RGB in [0, 1]; bad files give one clear error."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from faithcam.errors import FaithcamValueError
from faithcam.io.images import ImageError, Preprocessing, find_images, load_image


def _save(path: Path, array: np.ndarray, mode: str | None = None) -> Path:
    Image.fromarray(array, mode).save(path) if mode else Image.fromarray(array).save(path)
    return path


def test_modes_become_rgb_in_unit_range(tmp_path: Path) -> None:
    gray = _save(tmp_path / "gray.png", np.full((6, 8), 128, np.uint8))
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:, :4, 3] = 255  # left half opaque red, right half transparent (-> white)
    rgba_path = _save(tmp_path / "rgba.png", rgba, "RGBA")
    deep = _save(tmp_path / "deep.png", np.full((6, 8), 65535, np.uint16))
    palette = tmp_path / "palette.png"
    Image.fromarray(np.full((6, 8, 3), (0, 0, 255), np.uint8)).convert("P").save(palette)

    for path in (gray, rgba_path, deep, palette):
        array = load_image(path)
        assert array.shape == (6, 8, 3) and array.dtype == np.float32
        assert array.min() >= 0.0 and array.max() <= 1.0
    np.testing.assert_allclose(load_image(gray), 128 / 255, atol=1e-6)
    np.testing.assert_allclose(load_image(rgba_path)[0, 0], [1, 0, 0])
    np.testing.assert_allclose(load_image(rgba_path)[0, -1], [1, 1, 1])
    np.testing.assert_allclose(load_image(deep), 1.0)
    np.testing.assert_allclose(load_image(palette)[0, 0], [0, 0, 1], atol=0.02)


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    good = _save(
        tmp_path / "good.png", np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    )
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases = {
        tmp_path / "missing.png": "no such file",
        text: "not an image file",
        truncated: "truncated or corrupt",
    }
    for path, expected in cases.items():
        with pytest.raises(ImageError, match=expected) as info:
            load_image(path)
        assert str(path) in str(info.value)
        assert isinstance(info.value, ValueError)


def test_find_images_expands_folders_in_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.jpg", "sub/c.png"):
        _save(tmp_path / name, np.zeros((4, 4, 3), np.uint8))
    (tmp_path / "readme.txt").write_text("x")
    found = find_images([tmp_path])
    assert [p.name for p in found] == ["a.jpg", "b.png", "c.png"]
    with pytest.raises(ImageError, match=r"no such file"):
        find_images([tmp_path / "nope"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageError, match=r"no image files"):
        find_images([tmp_path / "empty"])


def test_preprocessing_crops_and_normalises(tmp_path: Path) -> None:
    path = _save(tmp_path / "x.png", np.full((20, 40, 3), 255, np.uint8))
    prep = Preprocessing(size=16, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    inputs, crops = prep.load([path, path])
    assert inputs.shape == crops.shape == (2, 3, 16, 16)
    torch.testing.assert_close(crops, torch.ones_like(crops))
    torch.testing.assert_close(inputs, torch.ones_like(inputs))
    with pytest.raises(FaithcamValueError, match=r"--std"):
        Preprocessing(std=(0.2, 0.0, 0.2))
    with pytest.raises(FaithcamValueError, match=r"--mean"):
        Preprocessing(mean=(0.2, 0.2))


@pytest.mark.parametrize(
    ("dtype", "peak", "scale"),
    [
        (np.uint16, 300, 65535),  # 16-bit: its bit depth, however dark the image
        (np.float32, 0.5, 1),  # floats in [0, 1] as they are
        (np.float32, 200, 255),  # a 0-255 float TIFF
        (np.float32, 1000, 65535),
        (np.int32, 200, 255),  # 32-bit integers carry no range: the smallest that holds them
        (np.int32, 40000, 65535),
        (np.int32, 70000, 70000),  # beyond 16 bits: the maximum
    ],
)
def test_wide_types_scale_by_depth_or_range(tmp_path: Path, dtype, peak, scale) -> None:
    values = np.linspace(0, peak, 48).reshape(6, 8).astype(dtype)
    path = _save(tmp_path / ("x.png" if dtype == np.uint16 else "x.tif"), values)
    np.testing.assert_allclose(load_image(path)[..., 1], values / scale, atol=1e-6)

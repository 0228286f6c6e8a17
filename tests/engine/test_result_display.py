"""CamResult shows itself: a PNG for Jupyter, save(path, images) and show(images) in scripts."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch

import faithcam
from tests.helpers import GapLinearNet

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def result() -> faithcam.CamResult:
    torch.manual_seed(0)
    model = GapLinearNet().eval()
    return faithcam.explain(model, torch.rand(3, 3, 16, 16), "hirescam", [0, 1, 2])


def _size(png: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        return image.size


def test_repr_png_is_a_png_of_the_maps(result) -> None:
    png = result._repr_png_()
    assert png.startswith(PNG)
    width, height = _size(png)
    assert width > 3 * 150 and height > 150  # three panels side by side


def test_figure_titles_name_method_layer_targets(result) -> None:
    from faithcam.viz import result_figure

    figure = result_figure(result)
    texts = [a.get_title() for a in figure.axes] + [figure.get_suptitle()]
    assert "hirescam at layer features" in texts
    for i in range(3):
        score = float(result.scores[i])
        assert f"target {i}, score {score:.3g}" in texts
    assert len(figure.axes) == 4  # three panels and the colorbar


def test_save_with_images_and_styles(result, tmp_path) -> None:
    photos = np.random.default_rng(0).uniform(size=(3, 16, 16, 3)).astype(np.float32)
    for style in ("faithcam", "jet"):
        path = result.save(tmp_path / f"{style}.png", photos, style=style)
        assert path.read_bytes().startswith(PNG)
    with pytest.raises(ValueError, match="images: got 1 images for a result of 3 maps"):
        result.save(tmp_path / "bad.png", photos[:1])


def test_show_draws_with_pyplot(result, monkeypatch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append(plt.gcf()))
    result.show(torch.rand(3, 3, 16, 16))
    assert len(shown) == 1 and len(shown[0].axes) == 4
    plt.close("all")


def test_many_maps_are_capped(result) -> None:
    from faithcam.viz import result_figure

    figure = result_figure(result, max_images=2)
    assert "(first 2 of 3)" in figure.get_suptitle()

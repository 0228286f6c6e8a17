"""Overlays people can read: opacity follows the map (zero shows the photo), the peer's jet
look on request, a colorbar on every grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faithcam.viz import colorize, method_grid, opacity, overlay


def test_opacity_is_zero_at_zero_alpha_at_the_peak_and_increasing() -> None:
    values = np.linspace(0, 1, 101)
    weights = opacity(values, 0.85)
    assert weights[0] == 0 and weights[-1] == pytest.approx(0.85)
    assert (np.diff(weights) > 0).all()


def test_faithcam_style_blends_by_the_map_value() -> None:
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(6, 7, 3)).astype(np.float32)
    heat = rng.uniform(size=(6, 7)).astype(np.float32)
    heat[0, 0] = 0.0
    blended = overlay(image, heat)
    assert np.array_equal(blended[0, 0], np.round(image[0, 0] * 255).astype(np.uint8))
    m = heat[..., None]
    weight = 0.85 * (3 * m**2 - 2 * m**3)  # smoothstep, written out
    expected = ((1 - weight) * image + weight * colorize(heat)) * 255
    np.testing.assert_allclose(blended, expected, atol=0.51)


def test_jet_style_is_the_peers_overlay(peer_output) -> None:
    rng = np.random.default_rng(1)
    image = rng.uniform(size=(9, 8, 3)).astype(np.float32)
    heat = rng.uniform(size=(9, 8)).astype(np.float32)
    ours = overlay(torch.from_numpy(image).permute(2, 0, 1), heat, style="jet")
    theirs = peer_output(
        "show_cam_on_image",
        lambda: pytest.importorskip("pytorch_grad_cam.utils.image").show_cam_on_image(
            image, heat, use_rgb=True
        ),
        image=image,
        heat=heat,
    )
    np.testing.assert_array_equal(ours, theirs)


def test_bad_style_and_alpha_name_the_argument(tmp_path) -> None:
    with pytest.raises(ValueError, match="style: expected one of faithcam, jet"):
        overlay(torch.rand(3, 4, 4), torch.rand(4, 4), style="viridis")
    with pytest.raises(ValueError, match="alpha"):
        method_grid(torch.rand(3, 4, 4), {"a": torch.rand(4, 4)}, tmp_path / "g.png", alpha=-1)


@pytest.mark.parametrize("style", ["faithcam", "jet"])
def test_grid_has_a_colorbar(tmp_path, style: str, monkeypatch) -> None:
    import matplotlib.figure

    bars = []
    original = matplotlib.figure.Figure.colorbar

    def spy(self, mappable, **kwargs):
        bars.append(mappable.get_cmap().name)
        return original(self, mappable, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "colorbar", spy)
    path = method_grid(
        torch.rand(3, 16, 16), {"a": torch.rand(16, 16)}, tmp_path / "g.png", style=style
    )
    assert path.is_file() and bars == ["turbo" if style == "faithcam" else "jet"]

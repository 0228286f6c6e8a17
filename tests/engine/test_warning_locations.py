"""Warnings point at the line of the caller's code, whichever way faithcam was called: the
function, a method class, the pytorch-grad-cam drop-in, a metric, a deprecated name, a study,
a file search (``faithcam.engine.caller``). A fixed stacklevel pointed inside faithcam
(``api.py``) as soon as a call went through one more of its functions. (Named ``callers_line``:
mutmut's trampolines sit between the caller and faithcam, so these run outside its copy.)"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

import faithcam
from faithcam.engine.caller import caller_stacklevel, warn_at_caller
from tests.helpers import GapLinearNet

HERE = Path(__file__).name
PIXELS = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0)) * 255


def _model() -> GapLinearNet:
    torch.manual_seed(0)
    return GapLinearNet().eval()


def _places(caught, text: str) -> list[str]:
    return [Path(w.filename).name for w in caught if text in str(w.message)]


def test_a_warning_about_the_images_is_at_the_callers_line_of_every_entry_point():
    """0-255 pixels: explain, the GradCAM class and the drop-in's GradCAM all warn here, once
    each, at this file's lines (the line numbers differ: each is where its call is written)."""
    from faithcam.compat.pytorch_grad_cam import GradCAM
    from faithcam.compat.pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model = _model()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faithcam.explain(model, PIXELS, "gradcam", 0)
        faithcam.GradCAM(model, "features")(PIXELS, 0)
        GradCAM(model, [model.features])(PIXELS, [ClassifierOutputTarget(0)])
    assert _places(caught, "0-255 pixels") == [HERE] * 3
    lines = [w.lineno for w in caught if "0-255 pixels" in str(w.message)]
    assert len(set(lines)) == 3


def test_a_deprecated_metric_name_and_argument_warn_at_the_callers_line_too():
    """An old metric name (``model_randomisation``) and an int ``generator=`` (old spelling of
    ``seed=``) are reported where they were written."""
    from faithcam.metrics.registry import metric_spec

    model, images = _model(), torch.rand(1, 3, 16, 16)
    with pytest.warns(DeprecationWarning) as caught:
        metric_spec("model_randomisation")
        faithcam.metrics.road(model, images, torch.rand(1, 16, 16), 0, generator=3)
    assert _places(caught, "is deprecated") == [HERE, HERE]


def test_a_file_named_twice_is_reported_at_the_callers_line(tmp_path):
    from PIL import Image

    from faithcam.io.images import find_images

    Image.new("RGB", (4, 4)).save(tmp_path / "a.png")
    with pytest.warns(UserWarning, match="named twice") as caught:
        find_images([tmp_path / "a.png", tmp_path])
    assert _places(caught, "named twice") == [HERE]


def _library_like(depth: int) -> int:
    """Calls nested ``depth`` deep from here: every frame is outside faithcam."""
    return caller_stacklevel() if depth == 0 else _library_like(depth - 1)


def test_the_stacklevel_outside_faithcam_is_the_callers_line():
    """Called from code outside faithcam, the first frame outside is the function itself
    (stacklevel 1), however deep it is nested; from warn_at_caller, its caller (2)."""
    assert _library_like(0) == 1 and _library_like(5) == 1
    with pytest.warns(UserWarning, match="^here$") as caught:
        warn_at_caller("here")
    assert _places(caught, "here") == [HERE]


def test_never_normalised_pixels_are_reported_at_the_callers_line():
    """Seed 20261219 (`warn_unnormalised` 7, the stacklevel of its second warning): pixels in
    [0, 1] given with a normalization are reported where explain was called."""
    model = _model()
    images = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        faithcam.explain(model, images, "gradcam", 0, normalization=((0.5,) * 3, (0.25,) * 3))
    assert _places(caught, "never normalised") == [HERE]

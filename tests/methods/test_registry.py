"""The method registry and the explain-side vocabulary (issue 22): a weighting registered in one
statement composes with every estimator, eigen_smooth, aug_smooth, layer lists, the class
generator, the CLI and the adapters; unknown options name the valid ones; CamResult[i] and
.layers; the sub-packages reachable after ``import faithcam``."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import faithcam
from faithcam.cams.eigen import first_component
from faithcam.cams.registry import METHODS, unregister
from faithcam.cams.weightings import WEIGHTINGS
from faithcam.cli import main
from faithcam.cli.commands import _method_options, parse_option
from faithcam.engine.capture import capture_inputs
from faithcam.interop import CaptumLayerCAM
from tests.helpers import FlattenLinearNet, seeded_images
from tests.references import reference_gradients


def squared_gradient_terms(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """w_k = mean_ij G²_kij: T_k = w_k A_k (a rule no built-in has)."""
    return g.pow(2).mean(dim=(2, 3), keepdim=True) * a


@pytest.fixture
def gradsq():
    spec = faithcam.register_weighting("gradsq", squared_gradient_terms, citation="a test")
    yield spec
    unregister("gradsq")


@pytest.fixture
def model() -> FlattenLinearNet:
    torch.manual_seed(0)
    return FlattenLinearNet().eval()


IMAGES = seeded_images(2, 16)


def test_a_registered_weighting_is_its_terms_summed_over_the_channels(gradsq, model) -> None:
    a, g, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 2]))
    result = faithcam.explain(model, IMAGES, "gradsq", targets=[1, 2], layer="features")
    expected = (g.pow(2).mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)
    torch.testing.assert_close(result.raw_maps, expected)
    assert result.method == "gradsq" and result.settings["weighting"] == "gradsq"
    assert "gradsq" in faithcam.METHODS and faithcam.METHODS["gradsq"].citation == "a test"


def test_a_registered_weighting_composes_with_integrated(gradsq, model) -> None:
    """Integrated Grad-CAM's averaged-gradient variant with m steps: G = (1/m) Σ_j ∂y/∂A at
    x_j = (j/m) x (black baseline), then the rule on A(x); checked by hand with autograd."""
    m, classes = 4, torch.tensor([0, 3])
    result = faithcam.explain(
        model, IMAGES, "gradsq", targets=classes, layer="features", estimator="integrated",
        steps=m, variant="averaged-gradient",
    )  # fmt: skip
    a, _, _ = reference_gradients(model, model.features, IMAGES, classes)
    g = (
        sum(
            reference_gradients(model, model.features, IMAGES * (j / m), classes)[1]
            for j in range(1, m + 1)
        )
        / m
    )
    expected = (g.pow(2).mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)
    torch.testing.assert_close(result.raw_maps, expected, rtol=1e-4, atol=1e-6)
    assert result.method == "integrated-gradsq"
    # the paper's variant: the mean of ReLU(map(A(x_i) − A(x'), G(x_i))) over the left grid
    paper = faithcam.explain(
        model, IMAGES, "gradsq", targets=classes, layer="features", estimator="integrated",
        steps=m,
    )  # fmt: skip
    baseline_a = reference_gradients(model, model.features, IMAGES * 0, classes)[0]
    maps = []
    for i in range(m):
        a_i, g_i, _ = reference_gradients(model, model.features, IMAGES * (i / m), classes)
        maps.append(squared_gradient_terms(a_i - baseline_a, g_i).sum(dim=1).clamp(min=0))
    torch.testing.assert_close(paper.raw_maps, sum(maps) / m, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("estimator", "options"), [("expected", {"samples": 3}),
                                                    ("smooth", {"samples": 3})])  # fmt: skip
def test_a_registered_weighting_equals_its_built_in_twin_under_sampling(
    model, estimator, options
) -> None:
    """A rule registered with HiResCAM's terms G ⊙ A gives HiResCAM's maps, draw for draw."""
    faithcam.register_weighting("twin", lambda a, g: g * a)
    try:
        kw = dict(targets=1, layer="features", estimator=estimator, seed=0, **options)
        twin = faithcam.explain(model, IMAGES, "twin", **kw)
        hirescam = faithcam.explain(model, IMAGES, "hirescam", **kw)
        torch.testing.assert_close(twin.raw_maps, hirescam.raw_maps)
    finally:
        unregister("twin")


def test_eigen_smooth_uses_the_registered_terms(gradsq, model) -> None:
    a, g, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([1, 1]))
    result = faithcam.explain(model, IMAGES, "gradsq", 1, "features", eigen_smooth=True)
    torch.testing.assert_close(result.raw_maps, first_component(squared_gradient_terms(a, g)))


@pytest.mark.parametrize("weighting", sorted(WEIGHTINGS))
def test_every_weighting_has_its_terms(weighting, model) -> None:
    """eigen_smooth reads the one registry: the first component of each rule's terms (no two
    tables that must agree); Seg-Eigen-CAM's signed by its paper's rule (eq. 13, "peak")."""
    a, g, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([2, 2]))
    result = faithcam.explain(model, IMAGES, weighting, 2, "features", eigen_smooth=True)
    sign = "peak" if weighting == "segeigencam" else None
    expected = first_component(WEIGHTINGS[weighting].channel_terms(a, g), sign)
    torch.testing.assert_close(result.raw_maps, expected)


def test_a_registered_weighting_works_in_every_wrapper(gradsq, model) -> None:
    faithcam.register_weighting("twin-sq", squared_gradient_terms)
    try:
        for options in ({"aug_smooth": True}, {"layer": ["features.0", "features"]}):
            ours = faithcam.explain(model, IMAGES, "gradsq", targets=1, **options)
            again = faithcam.explain(model, IMAGES, "twin-sq", targets=1, **options)
            torch.testing.assert_close(ours.maps, again.maps)
            assert ours.settings.get("aug_smooth") or ours.layers == ("features.0", "features")
        assert faithcam.TwinSq.method == "twin-sq"
    finally:
        unregister("twin-sq")
    via_class = faithcam.Gradsq(model, "features")(IMAGES, 1)
    via_explain = faithcam.explain(model, IMAGES, "gradsq", 1, "features")
    torch.testing.assert_close(via_class.raw_maps, via_explain.raw_maps)
    captum = CaptumLayerCAM(model, model.features, method="gradsq").attribute(IMAGES, target=1)
    torch.testing.assert_close(captum[:, 0], via_explain.raw_maps)


def test_a_registered_weighting_from_the_command_line(gradsq, tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(photo)
    model = ["--model", "tests.cli.cli_models:grey_binary", "--channels", "1", "--size", "32"]
    code = main(["explain", str(photo), "--out", str(tmp_path / "o"), "--quiet", *model,
                 "--method", "gradsq,gradcam"])  # fmt: skip
    assert code == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["methods"]["gradsq"]["citation"] == "a test"
    assert (tmp_path / "o" / "photo.gradsq.npy").exists()


# -- register_method: a family of its own ----------------------------------------------------


@dataclass(frozen=True)
class ChannelOptions:
    channel: int = 0


class OneChannel(faithcam.Method):
    """The map is one channel of the layer's activations."""

    Options = ChannelOptions

    def run(self, request):
        captured = capture_inputs(request)
        raw = captured.activations[:, self.options.channel]
        settings = self.settings()
        return faithcam.Raw(raw, captured.scores, request.layer.name, settings, request.target)


def test_register_method_with_typed_options(model) -> None:
    faithcam.register_method("one-channel", OneChannel, citation="a test")
    try:
        result = faithcam.explain(model, IMAGES, "one-channel", layer="features", channel=2)
        a, _, _ = reference_gradients(model, model.features, IMAGES, torch.tensor([0, 0]))
        torch.testing.assert_close(result.raw_maps, a[:, 2])
        assert result.settings["channel"] == 2
        with pytest.raises(faithcam.FaithcamValueError, match=r"unexpected options \['chanel'\]; "
                           r"valid: channel"):  # fmt: skip
            faithcam.explain(model, IMAGES, "one-channel", chanel=2)
        with pytest.raises(faithcam.FaithcamValueError, match="takes no estimator"):
            faithcam.explain(model, IMAGES, "one-channel", estimator="integrated")
        assert [o.name for o in METHODS["one-channel"].options()] == ["channel"]
        assert faithcam.OneChannel(model, "features")(IMAGES).settings["channel"] == 0
    finally:
        unregister("one-channel")
    with pytest.raises(faithcam.FaithcamValueError, match="unknown 'one-channel'"):
        faithcam.explain(model, IMAGES, "one-channel")


def test_registering_a_taken_name_is_refused() -> None:
    with pytest.raises(faithcam.FaithcamValueError, match="already"):
        faithcam.register_weighting("hirescam", squared_gradient_terms)
    with pytest.raises(faithcam.FaithcamValueError, match="already"):
        faithcam.register_method("grad-cam", OneChannel)  # an alias
    with pytest.raises(faithcam.FaithcamTypeError, match="Method subclass"):
        faithcam.register_method("mine", object)
    with pytest.raises(faithcam.FaithcamValueError, match="'GradCAM' is already"):
        faithcam.register_weighting("mine", squared_gradient_terms, class_name="GradCAM")
    assert "mine" not in METHODS and "mine" not in WEIGHTINGS


# -- the vocabulary of explain ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "options", "match"),
    [
        ("gradcam", {"samples": 8}, r"method 'gradcam': unexpected options \['samples'\]; "
         r"valid: none \(estimator 'vanilla'; estimator='expected' or 'smooth' takes them\)"),
        ("gradcam", {"target": 3}, r"unexpected options \['target'\].*did you mean targets=\?"),
        ("expected-gradcam", {"steps": 3}, r"valid: samples, baseline, sigma, variant, sampler, "
         r"tolerance \(estimator 'expected'; estimator='integrated' takes them\)"),
        ("finercam", {"sigma": 0.1}, r"valid: alpha, comparisons \(estimator 'vanilla'"),
        ("kpcacam", {"kernal": "rbf"}, r"method 'kpcacam': unexpected options \['kernal'\]; "
         r"valid: kernel, gamma"),
    ],
)  # fmt: skip
def test_an_unknown_option_names_the_method_and_its_options(model, method, options, match):
    with pytest.raises(faithcam.FaithcamValueError, match=match):
        faithcam.explain(model, IMAGES, method, **options)


def test_every_method_lists_its_options() -> None:
    for name, spec in METHODS.items():
        names = [option.name for option in spec.options()]
        assert len(names) == len(set(names)), name
        assert set(spec.test_options) - {"seed", "batch_size"} <= set(names), name


def test_iscam_samples_is_a_deprecated_name_of_steps(model) -> None:
    steps = faithcam.explain(model, IMAGES, "iscam", targets=1, steps=2)
    with pytest.warns(DeprecationWarning, match="'samples' is deprecated, use 'steps'"):
        samples = faithcam.explain(model, IMAGES, "iscam", targets=1, samples=2)
    torch.testing.assert_close(samples.raw_maps, steps.raw_maps)
    assert steps.settings["steps"] == 2


def test_a_result_indexes_and_iterates_per_image(model) -> None:
    images = seeded_images(3, 16)
    result = faithcam.explain(model, images, "gradcam", targets=[0, 1, 2], layer="features")
    for i in range(3):
        alone = faithcam.explain(model, images[i : i + 1], "gradcam", targets=i, layer="features")
        torch.testing.assert_close(result[i].raw_maps, alone.raw_maps)
        torch.testing.assert_close(result[i].maps, alone.maps)
        assert result[i].targets.tolist() == [i] and len(result[i]) == 1
    assert [len(r) for r in result] == [1, 1, 1]
    assert len(result[-2:]) == 2 and result[-1].targets.tolist() == [2]
    with pytest.raises(IndexError):
        result[3]
    assert result.layers == ("features",)


def test_tolerance_results_index_their_sample_counts(model) -> None:
    result = faithcam.explain(
        model, IMAGES, "expected-gradcam", targets=1, samples=20, tolerance=0.5, seed=0
    )
    counts = result.settings["samples_used"]
    assert [result[i].settings["samples_used"] for i in range(2)] == [[c] for c in counts]


def test_subpackages_are_reachable_after_import_faithcam() -> None:
    code = (
        "import faithcam; "
        "assert callable(faithcam.metrics.evaluate); "
        "assert callable(faithcam.studies.run_study); "
        "assert callable(faithcam.interop.quantus_explain); "
        "assert faithcam.compat.pytorch_grad_cam.GradCAM"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


# -- the command line reaches every option -----------------------------------------------------


def test_option_values_are_read_as_literals() -> None:
    assert parse_option("sigma=0.1") == ("sigma", 0.1)
    assert parse_option("samples=8") == ("samples", 8)
    assert parse_option("align-corners=true") == ("align_corners", True)
    assert parse_option("tolerance=None") == ("tolerance", None)
    assert parse_option("baseline=others") == ("baseline", "others")
    assert parse_option("comparisons=(1, 2)") == ("comparisons", (1, 2))
    with pytest.raises(faithcam.FaithcamValueError, match="NAME=VALUE"):
        parse_option("sigma")


def test_options_go_to_the_methods_that_take_them() -> None:
    options = _method_options(
        ["expected-gradcam", "gradcam", "iscam"], 5, 3, ["sigma=0.1", "align_corners=true"]
    )
    assert options == {
        "expected-gradcam": {"samples": 3, "sigma": 0.1},
        "gradcam": {},
        "iscam": {"steps": 5, "align_corners": True},
    }
    with pytest.raises(faithcam.FaithcamValueError, match=r"--option kernel: no method given "
                       r"takes it \(gradcam: none; hirescam: none\)"):  # fmt: skip
        _method_options(["gradcam", "hirescam"], None, None, ["kernel=rbf"])


def test_the_command_line_passes_the_options(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (32, 32, 3), np.uint8)).save(photo)
    base = ["explain", str(photo), "--quiet", "--model", "tests.cli.cli_models:grey_binary",
            "--channels", "1", "--size", "32", "--method", "iscam"]  # fmt: skip
    raw = {}
    for name, extra in (("option", ["--option", "steps=2"]), ("flag", ["--steps", "2"]),
                        ("default", [])):  # fmt: skip
        assert main([*base, "--out", str(tmp_path / name), *extra]) == 0
        raw[name] = np.load(tmp_path / name / "photo.iscam.npy")
    np.testing.assert_array_equal(raw["option"], raw["flag"])
    assert not np.array_equal(raw["option"], raw["default"])  # steps 2 is not the default 10


def test_method_options_carry_the_types_of_their_signatures() -> None:
    """METHODS[name].options() lists (name, type, default) as docs/extending.md says: the
    estimator's constructor for Integrated Grad-CAM, the options dataclass for SS-CAM."""
    integrated = {
        o.name: (o.annotation, o.default) for o in METHODS["integrated-gradcam"].options()
    }
    assert integrated["steps"] == (int, 50) and integrated["variant"] == (str, "paper")
    assert integrated["relative_activations"] == (bool, False)
    sscam = {o.name: (o.annotation, o.default) for o in METHODS["sscam"].options()}
    assert sscam == {"samples": (int, 35), "sigma": (float, 2.0), "align_corners": (bool, False)}


def test_a_deprecated_option_name_warns_at_the_callers_line(model) -> None:
    with pytest.warns(DeprecationWarning) as caught:
        faithcam.explain(model, IMAGES, "iscam", targets=1, samples=2)
    assert [Path(w.filename).name for w in caught] == [Path(__file__).name]

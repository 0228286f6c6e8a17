"""The registry of named methods, from one source: each :class:`MethodSpec` says how the method
is built (its class and, for a gradient method, its weighting and default estimator), its
typed options, citation, aliases, generated class name and the cheap options the tests use.

:data:`METHODS`, the aliases, the classes of :mod:`faithcam` (``faithcam.GradCAM``, ...), the
CLI's ``--method`` and the adapters all read it. :func:`register_weighting` adds a weighting
rule (a new gradient method that composes with every estimator); :func:`register_method` adds a
method of any other kind (a :class:`~faithcam.cams.method.Method` subclass).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from faithcam.cams.activation_cams import FEM, KPCACAM, EigenCAM, RandomCAM
from faithcam.cams.cam import CAM
from faithcam.cams.fullgrad import FullGrad
from faithcam.cams.gradient import FinerGradientMethod, GradientMethod
from faithcam.cams.gradient_free import AblationCAM, ScoreCAM
from faithcam.cams.guided import GuidedGradCAM
from faithcam.cams.method import Method, Option
from faithcam.cams.sess import SESS
from faithcam.cams.shapley import ShapleyCAM
from faithcam.cams.smoothed_score import ISCAM, SSCAM
from faithcam.cams.weightings import WEIGHTINGS, WeightingRule
from faithcam.errors import FaithcamTypeError, FaithcamValueError

ChannelTerms = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MethodSpec:
    """A named method: its class (``method``), the weighting and default estimator of a
    gradient method, citation, aliases, the name of its generated class and cheap test options."""

    name: str
    method: type[Method]
    citation: str = ""
    weighting: str | None = None
    estimator: str | None = None
    aliases: tuple[str, ...] = ()
    class_name: str = ""
    test_options: Mapping[str, Any] = field(default_factory=dict)

    def options(self, estimator: str | None = None) -> list[Option]:
        """The method's typed options (a gradient method's: with ``estimator``)."""
        return self.method.option_list(self, estimator)


METHODS: dict[str, MethodSpec] = {}
ALIASES: dict[str, str] = {}


def _add(spec: MethodSpec) -> MethodSpec:
    for name in (spec.name, *spec.aliases):
        if name in METHODS or name in ALIASES:
            raise FaithcamValueError(f"name: {name!r} is already a method name or alias")
    if not re.fullmatch(r"[A-Za-z_]\w*", spec.class_name):
        raise FaithcamValueError(f"class_name: expected an identifier, got {spec.class_name!r}")
    if any(other.class_name == spec.class_name for other in METHODS.values()):
        raise FaithcamValueError(f"class_name: {spec.class_name!r} is already a method's class")
    METHODS[spec.name] = spec
    ALIASES.update(dict.fromkeys(spec.aliases, spec.name))
    return spec


def _class_name(name: str) -> str:
    """``"my-cam"`` -> ``"MyCam"``."""
    parts = re.split(r"[^0-9A-Za-z]+", name)
    text = "".join(p[:1].upper() + p[1:] for p in parts)
    return text if text[:1].isalpha() else f"Method{text}"


def register_method(
    name: str,
    method: type[Method],
    *,
    citation: str | None = None,
    aliases: tuple[str, ...] = (),
    class_name: str | None = None,
    test_options: Mapping[str, Any] | None = None,
) -> MethodSpec:
    """Register a method class (a :class:`~faithcam.cams.method.Method` subclass with an
    ``Options`` dataclass and ``run(request) -> Raw``) under ``name``: :func:`faithcam.explain`,
    the class ``faithcam.<class_name>``, the CLI and the adapters then reach it."""
    if not isinstance(name, str) or not name or name != name.lower():
        raise FaithcamValueError(f"name: expected a lower-case method name, got {name!r}")
    if not (isinstance(method, type) and issubclass(method, Method)):
        raise FaithcamTypeError(f"method: expected a faithcam Method subclass, got {method!r}")
    return _add(
        MethodSpec(
            name, method, citation or "", aliases=tuple(aliases),
            class_name=class_name or _class_name(name), test_options=dict(test_options or {}),
        )
    )  # fmt: skip


def register_weighting(
    name: str,
    channel_terms: ChannelTerms,
    *,
    citation: str | None = None,
    aliases: tuple[str, ...] = (),
    class_name: str | None = None,
) -> MethodSpec:
    """Register a weighting rule: ``channel_terms(A, G)`` returns the (B, K, h, w) per-channel
    terms T_k of activations A and gradients G (both (B, K, h, w)); the map is Σ_k T_k (ReLU'd
    unless ``relu=False``), and ``eigen_smooth=True`` projects the T_k on their first principal
    component. The method ``name`` (vanilla gradient) composes with every estimator
    (``estimator="integrated"``, ``"expected"``, ``"smooth"``), ``aug_smooth``, layer lists, the
    CLI, the class ``faithcam.<class_name>`` and the adapters::

        faithcam.register_weighting("gradsq", lambda A, G: G.pow(2).mean((2, 3), keepdim=True) * A)
    """
    if not callable(channel_terms):
        raise FaithcamTypeError(
            f"channel_terms: expected a callable (A, G) -> (B, K, h, w), got {channel_terms!r}"
        )
    if name in WEIGHTINGS:
        raise FaithcamValueError(f"name: {name!r} is already a weighting")
    spec = MethodSpec(
        name, GradientMethod, citation or "", name, "vanilla", tuple(aliases),
        class_name or _class_name(name),
    )  # fmt: skip
    _add(spec)
    WEIGHTINGS[name] = WeightingRule(name, channel_terms, citation=citation or "")
    return spec


def unregister(name: str) -> None:
    """Remove a registered method (and its weighting and aliases), e.g. after a test."""
    spec = METHODS.pop(name)
    for alias in spec.aliases:
        ALIASES.pop(alias, None)
    if spec.weighting == name:
        WEIGHTINGS.pop(name, None)


def method_spec(method: str) -> tuple[str, MethodSpec]:
    """The canonical name and spec of ``method`` (case-insensitive, aliases accepted)."""
    if not isinstance(method, str):
        raise FaithcamValueError(f"method: expected a method name, got {method!r}")
    name = ALIASES.get(method.lower(), method.lower())
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS) + list(ALIASES), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise FaithcamValueError(f"method: unknown {method!r}{hint}; valid: {', '.join(METHODS)}")
    return name, METHODS[name]


def _gradient(name, weighting, estimator, citation, aliases, class_name, **test) -> MethodSpec:
    return MethodSpec(
        name, GradientMethod, citation, weighting, estimator, aliases, class_name, test
    )


def _other(name, method, citation, aliases, class_name, **test) -> MethodSpec:
    return MethodSpec(name, method, citation, None, None, aliases, class_name, test)


for _spec in (
    _gradient("gradcam", "gradcam", "vanilla", "Selvaraju et al., ICCV 2017", ("grad-cam",),
              "GradCAM"),
    _gradient("gradcam++", "gradcam++", "vanilla", "Chattopadhyay et al., WACV 2018",
              ("gradcampp", "gradcam-plus-plus"), "GradCAMPlusPlus"),
    _gradient("xgradcam", "xgradcam", "vanilla", "Fu et al., BMVC 2020", ("xgrad-cam",),
              "XGradCAM"),
    _gradient("hirescam", "hirescam", "vanilla", "Draelos & Carin, 2020", ("hires-cam",),
              "HiResCAM"),
    _gradient("layercam", "layercam", "vanilla", "Jiang et al., IEEE TIP 2021", ("layer-cam",),
              "LayerCAM"),
    _gradient("integrated-gradcam", "gradcam", "integrated", "Sattarzadeh et al., ICASSP 2021",
              ("integrated",), "IntegratedGradCAM", steps=3),
    _gradient("expected-gradcam", "gradcam", "expected", "Buono et al., 2024", ("expected",),
              "ExpectedGradCAM", samples=3),
    _gradient("smoothgradcam++", "gradcam++", "smooth", "Omeiza et al., 2019", (),
              "SmoothGradCAMPlusPlus", samples=3),
    _other("cam", CAM, "Zhou et al., CVPR 2016", (), "CAM"),
    _other("scorecam", ScoreCAM, "Wang et al., CVPR-W 2020", ("score-cam",), "ScoreCAM"),
    _other("ablationcam", AblationCAM, "Desai & Ramaswamy, WACV 2020", ("ablation-cam",),
           "AblationCAM", batch_size=5),
    _gradient("gradcam-elementwise", "gradcam-elementwise", "vanilla", "pytorch-grad-cam, 2021",
              ("gradcamelementwise",), "GradCAMElementWise"),
    _gradient("eigengradcam", "eigengradcam", "vanilla", "pytorch-grad-cam, after Eigen-CAM",
              ("eigen-gradcam",), "EigenGradCAM"),
    MethodSpec("finercam", FinerGradientMethod, "Zhang et al., CVPR 2025", "gradcam", "vanilla",
               ("finer-cam",), "FinerCAM"),
    _other("eigencam", EigenCAM, "Muhammad & Yeasin, IJCNN 2020", ("eigen-cam",), "EigenCAM"),
    _gradient("segeigencam", "segeigencam", "vanilla", "Chung & Ying, Appl. Sci. 2025",
              ("seg-eigen-cam", "seg-eigencam"), "SegEigenCAM"),
    _other("fem", FEM, "Fuad et al., IPTA 2020", (), "FEM"),
    _other("kpcacam", KPCACAM, "Karmani et al., 2024", ("kpca-cam",), "KPCACAM"),
    _other("randomcam", RandomCAM, "sanity baseline, after Adebayo et al., NeurIPS 2018",
           ("random-cam",), "RandomCAM", seed=0),
    _other("shapleycam", ShapleyCAM, "Cai et al., 2025", ("shapley-cam",), "ShapleyCAM"),
    _other("fullgrad", FullGrad, "Srinivas & Fleuret, NeurIPS 2019", (), "FullGrad"),
    _other("guided-gradcam", GuidedGradCAM, "Selvaraju et al., ICCV 2017",
           ("guided-grad-cam", "guidedgradcam"), "GuidedGradCAM"),
    _other("sscam", SSCAM, "Wang et al., 2020 (SS-CAM)", ("ss-cam",), "SSCAM", samples=2,
           seed=0),
    _other("iscam", ISCAM, "Naidu et al., 2020 (IS-CAM)", ("is-cam",), "ISCAM", steps=2),
    _other("sess", SESS, "Tursun et al., ECCV 2022", (), "SESS", num_scales=1),
):  # fmt: skip
    _add(_spec)

"""What a CAM method is: an object with typed options that turns a checked
:class:`~faithcam.engine.request.Request` into :class:`Raw` maps.

A method class declares its options as a frozen dataclass ``Options`` (names, types, defaults,
checks in ``__post_init__``), says whether it explains a layer (``uses_layer``) and implements
:meth:`Method.run`. :func:`faithcam.register_method` adds one to the registry, and
:func:`faithcam.explain`, the generated classes, the CLI and the adapters reach it by name.
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import torch

from faithcam.engine.caller import caller_stacklevel
from faithcam.engine.targets import BoundTarget, Target
from faithcam.errors import FaithcamValueError

if TYPE_CHECKING:
    from faithcam.cams.registry import MethodSpec
    from faithcam.engine.request import Request

# keyword arguments of explain() itself: an unknown option close to one of them is a typo
EXPLAIN_KEYWORDS = (
    "targets", "layer", "estimator", "batch_size", "output_selector", "reshape_transform",
    "relu", "seed", "generator", "progress", "normalization", "train_mode", "eigen_smooth",
    "aug_smooth", "fusion",
)  # fmt: skip


@dataclass
class Raw:
    """What a method returns: the signed (B, h, w) maps at the layer's resolution (before ReLU,
    upsampling and scaling), the target scores on the images, the layer's name, the method's
    settings, the bound target (its class ids) and, when it differs from the registered name,
    the name to report (``"integrated-hirescam"`` for an estimator override)."""

    maps: torch.Tensor
    scores: torch.Tensor
    layer: str
    settings: dict[str, Any]
    target: BoundTarget
    method: str | None = None


@dataclass(frozen=True)
class NoOptions:
    """A method without options."""


@dataclass(frozen=True)
class Option:
    """One option of a method: its name, type (an annotation) and default."""

    name: str
    annotation: Any
    default: Any = None


@dataclass
class Method:
    """Base class of the methods: ``run(request) -> Raw`` with the options in ``self.options``.

    Subclasses set ``Options`` (a frozen dataclass), ``uses_layer = False`` if they explain
    no layer (FullGrad), and ``draws_random = True`` if they draw from ``request.generator``.
    ``target`` may wrap the call's target (Finer-CAM) and ``check`` may refuse the call's images
    before any forward pass.
    """

    Options: ClassVar[type] = NoOptions
    uses_layer: ClassVar[bool] = True
    kind: ClassVar[str] = "gradient-free"  # says why ``estimator=`` does not apply
    renamed: ClassVar[dict[str, str]] = {}  # deprecated option names: {old: new}
    # draws random numbers (the call's generator) whatever its estimator: a study explains
    # each image alone, with its own seed, so a row does not depend on the batching
    draws_random: ClassVar[bool] = False

    name: str
    options: Any = None

    @classmethod
    def create(cls, spec: MethodSpec, estimator: Any, options: dict[str, Any]) -> Method:
        """The method ``spec`` with ``options`` (typed and checked); ``estimator`` must be None."""
        if estimator is not None:
            raise FaithcamValueError(
                f"estimator: method {spec.name!r} is {cls.kind}: it takes no estimator, "
                f"got {estimator!r}"
            )
        options = rename_deprecated(spec.name, options, cls.renamed)
        return cls(spec.name, make_options(spec.name, cls.Options, options))

    @classmethod
    def option_list(cls, spec: MethodSpec, estimator: str | None = None) -> list[Option]:
        """The options of ``spec`` (for a gradient method: with ``estimator``)."""
        return options_of(cls.Options)

    def target(self, target: Target) -> Target:
        """The target explained for the user's ``target`` (unchanged by default)."""
        return target

    def check(self, request: Request) -> None:
        """Refuse the request before any forward pass (nothing by default)."""

    def run(self, request: Request) -> Raw:
        """The raw maps of the request's images at its layer."""
        raise NotImplementedError

    def run_layers(self, requests: list[Request]) -> list[Raw]:
        """One Raw per request (the same images at several layers)."""
        return [self.run(request) for request in requests]

    def settings(self) -> dict[str, Any]:
        """The options as CamResult settings."""
        return dataclasses.asdict(self.options)


def options_of(kind: Callable[..., Any]) -> list[Option]:
    """The typed options of an ``Options`` dataclass or of a constructor (its keyword
    parameters with their annotations and defaults)."""
    annotated = kind if dataclasses.is_dataclass(kind) else getattr(kind, "__init__", kind)
    try:
        hints = typing.get_type_hints(annotated)
    except (NameError, TypeError):  # an annotation that cannot be evaluated here: keep its text
        hints = getattr(annotated, "__annotations__", {})
    return [Option(p.name, hints.get(p.name, Any), p.default) for p in keyword_parameters(kind)]


def keyword_parameters(kind: Callable[..., Any]) -> list[inspect.Parameter]:
    """The parameters of ``kind``'s signature that can be passed by name (annotations are not
    evaluated)."""
    keyword = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return [p for p in inspect.signature(kind).parameters.values() if p.kind in keyword]


def check_option_names(
    method: str, valid: list[str], options: Mapping[str, Any], hint: str = ""
) -> None:
    """An unknown option is an error naming the method and listing its options."""
    unknown = sorted(set(options) - set(valid))
    if not unknown:
        return
    close = difflib.get_close_matches(unknown[0], EXPLAIN_KEYWORDS, n=1)
    typo = f" (did you mean {close[0]}=?)" if close else ""
    raise FaithcamValueError(
        f"method {method!r}: unexpected options {unknown}; valid: {', '.join(valid) or 'none'}"
        f"{typo}{hint}"
    )


def make_options(method: str, kind: type, options: Mapping[str, Any]) -> Any:
    """``kind(**options)`` after checking the option names against the keyword parameters of
    ``kind``'s signature (a dataclass's init fields and InitVars, or a constructor's), read
    without evaluating annotations (options_of does)."""
    if options:
        check_option_names(method, [p.name for p in keyword_parameters(kind)], options)
    return kind(**options)


def rename_deprecated(
    method: str, options: Mapping[str, Any], renamed: Mapping[str, str]
) -> dict[str, Any]:
    """``options`` with the deprecated names in ``renamed`` ({old: new}) replaced by the new
    ones, with a DeprecationWarning naming the new one (old names are kept for one release)."""
    out = dict(options)
    for old, new in renamed.items():
        if old not in out:
            continue
        warnings.warn(
            f"method {method!r}: option {old!r} is deprecated, use {new!r}",
            DeprecationWarning,
            stacklevel=caller_stacklevel(),
        )
        if new in out:
            raise FaithcamValueError(f"{new}, {old}: pass one of them, not both")
        out[new] = out.pop(old)
    return out

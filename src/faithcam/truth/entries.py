"""The methods of the leaderboard: every named method of :data:`faithcam.METHODS` at its
defaults, plus the seed methods' variants, baselines, σ, sample counts, samplers and quadrature
rules, and other estimator × weighting pairs. An entry is a label and the options passed to
:func:`faithcam.explain`; ``quick`` marks the entries of ``faithcam truth --quick`` (the named
methods that cost a few forwards, and each seed method at its defaults: the variants are
compared by ``faithcam truth --methods integrated-gradcam,expected-gradcam``).

Expected Grad-CAM's settings are varied one at a time around its defaults (n = 32, σ = 0,
D = black, Sobol' sampler; chosen by this leaderboard in issue 23), so each row isolates one
choice; "D=uniform σ=0.05" is the defaults before issue 23.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from faithcam.cams.registry import METHODS
from faithcam.errors import FaithcamValueError

SEED_FAMILIES = ("integrated", "expected")


@dataclass(frozen=True)
class Entry:
    label: str
    method: str
    options: dict[str, Any] = field(default_factory=dict)
    family: str = "comparator"  # "integrated" / "expected" (seed methods), "comparator"
    quick: bool = False
    uses_layer: bool = True  # False: the method takes no layer (FullGrad: every bias layer)


def _expected(label: str, quick: bool = False, **options: Any) -> Entry:
    return Entry(f"expected-gradcam {label}", "expected-gradcam", options, "expected", quick)


def _integrated(label: str, quick: bool = False, **options: Any) -> Entry:
    return Entry(f"integrated-gradcam {label}", "integrated-gradcam", options, "integrated", quick)


QUICK_NAMED = ("gradcam", "hirescam", "xgradcam", "gradcam++", "layercam", "scorecam",
               "ablationcam", "shapleycam", "randomcam")  # fmt: skip

LAYER_FREE = ("fullgrad",)  # its pixel map is pooled to the layer's grid to be scored

SEED_ENTRIES: tuple[Entry, ...] = (
    _integrated("(paper, left, m=50)", quick=True),
    _integrated("released", variant="released"),
    _integrated("averaged-gradient", variant="averaged-gradient"),
    _integrated("right (Figure 1)", rule="right"),
    _integrated("trapezoid", rule="trapezoid"),
    _integrated("gauss-legendre", rule="gauss-legendre"),
    _integrated("m=10", steps=10),
    _integrated("D=blur", baseline="blur"),
    _expected("(defaults)", quick=True),
    _expected("σ=0.02", sigma=0.02),
    _expected("σ=0.05", sigma=0.05),
    _expected("σ=0.1", sigma=0.1),
    _expected("σ=0.2", sigma=0.2),
    _expected("D=uniform", baseline="uniform"),
    _expected("D=blur", baseline="blur"),
    _expected("D=gaussian", baseline="gaussian"),
    _expected("D=others", baseline="others"),
    _expected("D=uniform σ=0.05 (before)", baseline="uniform", sigma=0.05),
    _expected("D=others σ=0.05", baseline="others", sigma=0.05),
    _expected("n=8", samples=8),
    _expected("n=128", samples=128),
    _expected("sampler=random", sampler="random"),
    _expected("sampler=antithetic", sampler="antithetic"),
    _expected("averaged-gradient", variant="averaged-gradient"),
    Entry("expected × hirescam", "hirescam", {"estimator": "expected"}, "expected"),
    Entry("expected × xgradcam", "xgradcam", {"estimator": "expected"}, "expected"),
    Entry("expected × layercam", "layercam", {"estimator": "expected"}, "expected"),
    Entry("integrated × hirescam", "hirescam", {"estimator": "integrated"}, "integrated"),
    Entry("integrated × xgradcam", "xgradcam", {"estimator": "integrated"}, "integrated"),
    Entry("smooth × gradcam", "gradcam", {"estimator": "smooth"}),
)


def all_entries() -> list[Entry]:
    """Every named method at its defaults (the seed methods among them as their variants),
    then the variants and estimator × weighting pairs."""
    named = [
        Entry(name, name, quick=name in QUICK_NAMED, uses_layer=name not in LAYER_FREE)
        for name in METHODS
        if name not in ("integrated-gradcam", "expected-gradcam")
    ]
    return named + list(SEED_ENTRIES)


def select_entries(labels: list[str] | None, quick: bool) -> list[Entry]:
    """The entries labelled ``labels``, or a method name's entries (``expected-gradcam`` gives
    all its variants); None = all (only the quick ones with ``quick``)."""
    entries = all_entries()
    if labels is None:
        return [e for e in entries if e.quick or not quick]
    chosen: list[Entry] = []
    for label in labels:
        found = [e for e in entries if e.label == label] or [
            e for e in entries if e.method == label and e.label.startswith(label)
        ]
        if not found:
            raise FaithcamValueError(
                f"methods: unknown {label!r}; valid: {', '.join(e.label for e in entries)}"
            )
        chosen += [e for e in found if e not in chosen]
    return chosen

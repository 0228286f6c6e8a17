"""The `faithcam` command line: explain, compare, evaluate, demo. Exit codes: 0 ok, 2 usage
error, 1 failure; every error is one line, ``faithcam: error: ...``, never a traceback
(set FAITHCAM_DEBUG=1 to see one).
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from faithcam.cli.presets import PRESETS
from faithcam.cli.serve import add_serve_command
from faithcam.cli.truth import add_truth_command
from faithcam.engine.defaults import BATCH_SIZE, CURVE_STEPS
from faithcam.errors import FaithcamError

DEMO_CURVE_STEPS = 20  # the demo's own, for a quick run: stated in its report


class _RenamedFlag(argparse.Action):
    """A flag stored under its first (new) name; an old spelling still works, and says so."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        if option_string not in (None, self.option_strings[0]):
            print(
                f"faithcam: warning: {option_string} is deprecated and will be removed in the "
                f"next release; use {self.option_strings[0]}",
                file=sys.stderr,
            )
        setattr(namespace, self.dest, values)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"faithcam: error: {message} (see {self.prog} --help)\n")


def _demo(args: argparse.Namespace) -> int:
    from faithcam.demo.run import run_demo, seed_figure

    if args.figure:
        print(seed_figure(Path(args.figure)))
        return 0
    run_demo(
        args.out,
        models=args.models,
        photos=args.photos,
        curve_steps=args.curve_steps,
        quiet=args.quiet,
        shapes=not args.no_shapes,
    )
    return 0


def _run(name: str, module: str = "commands"):
    def run(args: argparse.Namespace) -> int:
        import importlib

        return getattr(importlib.import_module(f"faithcam.cli.{module}"), f"run_{name}")(args)

    return run


def installed_version() -> str:
    """The installed distribution's version (without importing torch)."""
    from importlib import metadata

    try:
        return metadata.version("faithcam")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        from faithcam import __version__

        return __version__


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}"
        ) from None


def _model_options() -> argparse.ArgumentParser:
    """Options shared by explain, compare and evaluate."""
    shared = argparse.ArgumentParser(add_help=False)
    model = shared.add_argument_group("model")
    model.add_argument(
        "--model",
        required=True,
        help="torchvision or timm name, offline pretrained name (mobilenet_v2-imagenet, "
        "efficientnet-lite0), a .pt2 torch.export file, or package.module:factory",
    )
    model.add_argument("--weights", help="state dict file (loaded with weights_only=True)")
    model.add_argument(
        "--trust-pickle", action="store_true", help="allow full pickles (runs code in the file)"
    )
    model.add_argument("--num-classes", type=int, help="classifier outputs of the weights file")
    model.add_argument(
        "--classes", help="class names: a text file (one per line), a JSON list, or voc (PASCAL "
        "VOC's 20 classes)",
    )  # fmt: skip
    model.add_argument(
        "--layer", help="target layer, a dotted module name or NAME:input (default: automatic)"
    )
    model.add_argument(
        "--task",
        choices=("classify", "segment", "detect"),
        default="classify",
        help="classify (logits), segment (per-pixel logits: explains the target class's "
        "predicted pixels) or detect (torchvision detectors: explains the top detection)",
    )
    model.add_argument(
        "--output-selector", help="index or key of the model output to explain (tuple/dict)"
    )
    cam = shared.add_argument_group("explanation")
    cam.add_argument(
        "--target", help="class id or name to explain (default: the predicted class; evaluate "
        "with --annotations: each annotated class, scored against its own boxes); predicted: "
        "the predicted class",
    )  # fmt: skip
    cam.add_argument("--steps", type=int, help="path steps of the methods that take steps")
    cam.add_argument("--samples", type=int, help="samples of the methods that take samples")
    cam.add_argument(
        "--option", action="append", metavar="NAME=VALUE", help="any method option, e.g. "
        "sigma=0.1, baseline=others, variant=released (repeatable; the methods given that take "
        "NAME get it)",
    )  # fmt: skip
    prep = shared.add_argument_group("preprocessing")
    prep.add_argument("--size", type=int, help="resize shorter side and centre-crop (224)")
    prep.add_argument(
        "--channels", type=int, choices=(1, 3, 4), default=3, help="model input channels: 1 "
        "(grey), 3 (RGB) or 4 (RGB + opaque alpha) (default: %(default)s)",
    )  # fmt: skip
    prep.add_argument("--mean", type=_floats, help="normalisation mean, one per channel")
    prep.add_argument("--std", type=_floats, help="normalisation std, one per channel")
    run = shared.add_argument_group("run")
    run.add_argument("--out", default="faithcam-out", help="output folder (default: %(default)s)")
    run.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    run.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE,
        help="images / samples per forward (default: %(default)s)",
    )  # fmt: skip
    run.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    run.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    return shared


def _add_explainer(commands, name: str, help_: str, default_methods: str, shared) -> None:
    command = commands.add_parser(name, help=help_, parents=[shared], description=help_)
    command.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    command.add_argument(
        "--method", default=default_methods, help="comma-separated methods, or all (%(default)s)"
    )
    command.add_argument("--top-k", type=int, default=5, help="predictions in summary.json")
    command.add_argument(
        "--alpha",
        type=float,
        default=None,
        help="peak overlay opacity in [0, 1] (default 0.85; 0.5 with --style jet)",
    )
    command.add_argument(
        "--style",
        choices=("faithcam", "jet"),
        default="faithcam",
        help="overlay look: faithcam (opacity follows the map) or jet (pytorch-grad-cam's)",
    )
    command.set_defaults(run=_run(name))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="faithcam", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    shared = _model_options()
    _add_explainer(
        commands,
        "explain",
        "an overlay PNG and raw map (.npy) per image and method, and summary.json",
        "gradcam",
        shared,
    )
    _add_explainer(
        commands,
        "compare",
        "one grid per image with every method side by side",
        "gradcam,hirescam,xgradcam,integrated-gradcam,expected-gradcam",
        shared,
    )
    evaluate = commands.add_parser(
        "evaluate",
        parents=[shared],
        help="faithfulness / localisation metrics over a folder: results.csv and report.html",
    )
    evaluate.add_argument("folder", metavar="FOLDER", help="folder of images")
    evaluate.add_argument(
        "--annotations", help="boxes: Pascal VOC .xml file or folder, COCO .json, or .csv"
    )
    evaluate.add_argument(
        "--method", help="methods (default: gradcam,hirescam,expected-gradcam, or the preset's)"
    )
    evaluate.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        help="a paper's protocol: its methods, metrics and settings (explicit options win)",
    )
    evaluate.add_argument(
        "--metrics", help="comma-separated (default: deletion,insertion + pointing games)"
    )
    evaluate.add_argument(
        "--curve-steps", "--metric-steps", type=int, default=CURVE_STEPS, action=_RenamedFlag,
        help="steps of the deletion / insertion curves (default: %(default)s, as the Python "
        "API; --metric-steps is its deprecated name)",
    )  # fmt: skip
    evaluate.add_argument(
        "--grids", default="6", metavar="N|all",
        help="explanations drawn in the report, with their boxes (default: %(default)s)",
    )  # fmt: skip
    evaluate.add_argument(
        "--store", help="SQLite file of per-image rows (default: OUT/results.sqlite)"
    )
    evaluate.add_argument(
        "--resume", action="store_true", help="continue an interrupted run in --store"
    )
    evaluate.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    evaluate.set_defaults(run=_run("evaluate", "evaluate"))

    demo = commands.add_parser("demo", help="explain real photos with every method, write a report")
    demo.add_argument("--out", default="faithcam-out", help="output folder (default: %(default)s)")
    demo.add_argument("--models", nargs="+", help="pretrained model names (default: all)")
    demo.add_argument("--photos", nargs="+", help="scikit-image photo names")
    demo.add_argument(
        "--curve-steps", "--steps", type=int, default=DEMO_CURVE_STEPS, action=_RenamedFlag,
        help="steps of the deletion / insertion curves (default: %(default)s, fewer than "
        "evaluate's for a quick demo; --steps is its deprecated name)",
    )  # fmt: skip
    demo.add_argument("--figure", help="only write the README figure (seed methods) to this PNG")
    demo.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    demo.add_argument("--no-shapes", action="store_true", help="skip the ShapesBench section")
    demo.set_defaults(run=_demo)
    add_serve_command(commands)
    add_truth_command(commands)
    return parser


def _one_line(error: BaseException) -> str:
    """The error as one line; a DataLoader worker's error keeps its message, not the traceback
    the DataLoader pastes into it."""
    text = str(error)
    if "Original Traceback (most recent call last)" in text:
        last = text.strip().splitlines()[-1]
        text = last.split(": ", 1)[1] if ": " in last else last
    return " ".join(text.split()) or type(error).__name__


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"faithcam: warning: {' '.join(str(message).split())}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if os.environ.get("FAITHCAM_DEBUG"):
        return args.run(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.showwarning = _show_warning  # restored when the block ends
        try:
            return args.run(args)
        except FaithcamError as error:
            print(f"faithcam: error: {_one_line(error)}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("faithcam: error: interrupted", file=sys.stderr)
            return 130
        except (OSError, RuntimeError, MemoryError) as error:
            print(f"faithcam: error: {_one_line(error)}", file=sys.stderr)
            return 1
        except Exception as error:
            print(
                f"faithcam: error: unexpected {type(error).__name__}: {_one_line(error)} "
                "(FAITHCAM_DEBUG=1 shows the traceback)",
                file=sys.stderr,
            )
            return 1


if __name__ == "__main__":
    sys.exit(main())

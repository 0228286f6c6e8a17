"""The `faithcam` command line: `faithcam demo`, ... Exit codes: 0 ok, 2 usage error, 1 failure."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from faithcam.errors import FaithcamError


def _demo(args: argparse.Namespace) -> int:
    from faithcam.demo import run_demo, seed_figure

    if args.figure:
        print(seed_figure(Path(args.figure)))
        return 0
    run_demo(args.out, models=args.models, photos=args.photos, steps=args.steps, quiet=args.quiet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="faithcam", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="explain real photos with every method, write a report")
    demo.add_argument("--out", default="faithcam-out", help="output folder (default: %(default)s)")
    demo.add_argument("--models", nargs="+", help="pretrained model names (default: all)")
    demo.add_argument("--photos", nargs="+", help="scikit-image photo names")
    demo.add_argument("--steps", type=int, default=20, help="deletion/insertion steps")
    demo.add_argument("--figure", help="only write the README figure (seed methods) to this PNG")
    demo.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    demo.set_defaults(run=_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except FaithcamError as error:
        print(f"faithcam: error: {error}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as error:
        print(f"faithcam: failed: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The ``faithcam`` command: argument parsing and the commands
(explain, compare, evaluate, demo)."""

from faithcam.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

"""The exit codes docs/cli.md documents are the ones the command returns, each with a one-line
`faithcam: error:` message: 0 ok, 2 bad input or usage, 1 failure, 130 interrupted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from faithcam.cli import main
from faithcam.errors import FaithcamValueError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def _raising(error: BaseException):
    def run_explain(args):
        raise error

    return run_explain


@pytest.mark.parametrize(
    ("error", "code", "message"),
    [
        (FaithcamValueError("--layer: no module named 'x'"), 2, r"--layer: no module named 'x'"),
        (OSError("disk full"), 1, r"disk full"),
        (RuntimeError("CUDA out of memory"), 1, r"CUDA out of memory"),
        (ZeroDivisionError("division by zero"), 1,
         r"unexpected ZeroDivisionError: division by zero \(FAITHCAM_DEBUG=1 shows"),
        (KeyboardInterrupt(), 130, r"interrupted"),
    ],
)  # fmt: skip
def test_each_failure_gives_its_code_and_one_line(monkeypatch, capsys, error, code, message):
    monkeypatch.delenv("FAITHCAM_DEBUG", raising=False)
    monkeypatch.setattr("faithcam.cli.commands.run_explain", _raising(error))
    assert main(["explain", "p.png", "--model", "resnet18"]) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("faithcam: error: "), lines
    assert re.search(message, lines[0]), lines[0]


def test_usage_errors_exit_2_in_one_line(capsys):
    for argv in (["explain", "p.png", "--model", "m", "--no-such-flag"], ["explain", "p.png"],
                 ["explain", "p.png", "--model", "m", "--channels", "5"]):  # fmt: skip
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2, argv
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("faithcam: error: "), lines


def test_success_is_0(monkeypatch):
    monkeypatch.setattr("faithcam.cli.commands.run_explain", lambda args: 0)
    assert main(["explain", "p.png", "--model", "resnet18"]) == 0


def test_the_docs_list_exactly_these_codes():
    text = DOCS.read_text(encoding="utf-8")
    (sentence,) = re.findall(r"Exit codes: (.*?)(?:;|\n\n)", text, re.S)
    documented = {int(code) for code in re.findall(r"\b(\d+) [a-z]", sentence)}
    assert documented == {0, 1, 2, 130}, sentence

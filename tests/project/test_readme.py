"""The README is a front door: at most 150 lines, the two set-up commands first, links that
resolve, and a usage block that runs as written (on a seeded ResNet-18)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The README's text under ``## title``, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def test_readme_is_at_most_150_lines() -> None:
    assert len(README.splitlines()) <= 150


def test_readme_starts_with_the_two_setup_commands() -> None:
    lines = README.splitlines()
    assert lines[:3] == ["# faithcam", "", "```bash"]
    assert lines[3].startswith("make demo ") and lines[4].startswith("make test ")
    assert lines[5] == "```"


def test_readme_links_resolve() -> None:
    targets = re.findall(r"\]\(([^)\s]+)\)", README)
    local = [t.split("#")[0] for t in targets if not re.match(r"[a-z]+://", t)]
    assert "docs/index.md" in local and "docs/seed-methods-chelsea.png" in local
    missing = [t for t in local if t and not (ROOT / t).exists()]
    assert not missing, missing


def test_readme_usage_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    torchvision = pytest.importorskip("torchvision")
    (code,) = re.findall(r"```python\n(.*?)```", section("Use"), re.S)
    torch.manual_seed(0)
    model = torchvision.models.resnet18(weights=None).eval()
    images = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    monkeypatch.chdir(tmp_path)
    scope = {"model": model, "images": images}
    exec(compile(code, "README.md", "exec"), scope)
    result, deletion = scope["result"], scope["deletion"]
    assert "hirescam" in result.method and result.layer == "layer4"
    assert result.settings["estimator"] == "integrated"
    assert result.maps.shape == (2, 64, 64) and result.raw_maps.shape == (2, 2, 2)
    assert deletion.values.shape == (2,)
    assert 0 <= deletion.ci[0] <= deletion.mean <= deletion.ci[1] <= 1

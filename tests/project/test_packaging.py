"""``pip install faithcam`` from a built wheel: the wheel holds the bundled ShapesBench
weights, installs into a fresh venv, and its ``faithcam`` command runs (help and one explain)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WEIGHTS = sorted(p.name for p in (ROOT / "src" / "faithcam" / "data" / "weights").glob("*.pt"))


def run(*command: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run a command with no PYTHONPATH, so only what the venv holds is importable."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(c) for c in command], check=True, capture_output=True, text=True, env=env, cwd=cwd
    )


@pytest.mark.slow
def test_wheel_installs_and_runs(tmp_path: Path) -> None:
    pytest.importorskip("setuptools")
    source = tmp_path / "source"  # build from a copy: no build/ or egg-info in the checkout
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    wheels = tmp_path / "wheels"
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", wheels, source)  # fmt: skip
    (wheel,) = wheels.glob("faithcam-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert WEIGHTS and all(f"faithcam/data/weights/{w}" in names for w in WEIGHTS)
    assert "faithcam/py.typed" in names
    assert "faithcam/compat/pytorch_grad_cam/__init__.py" in names
    assert {"index.html", "app.js", "style.css"} <= {
        n.rsplit("/", 1)[-1] for n in names if n.startswith("faithcam/serve/static/")
    }

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel)
    # the dependencies (torch, torchvision...) come from this environment's site-packages,
    # added as a plain path: its .pth files (the editable checkout) are not processed
    site = Path(run(python, "-c", "import site; print(site.getsitepackages()[0])").stdout.strip())
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run(python, "-c", "import faithcam; print(faithcam.__file__)", cwd=tmp_path).stdout
    assert where.startswith(str(venv)), where
    faithcam_cli = venv / "bin" / "faithcam"
    assert "explain" in run(faithcam_cli, "--help", cwd=tmp_path).stdout

    from PIL import Image

    image = tmp_path / "gray.png"
    Image.new("RGB", (40, 32), (120, 90, 60)).save(image)
    out = tmp_path / "out"
    run(faithcam_cli, "explain", image, "--model", "mobilenet_v2-imagenet", "--size", "64",
        "--method", "gradcam", "--out", out, "--quiet", cwd=tmp_path)  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"][0]["methods"]["gradcam"]["overlay"] == "gray.gradcam.png"
    assert (out / "gray.gradcam.png").is_file()

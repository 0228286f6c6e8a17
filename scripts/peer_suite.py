"""Run pytorch-grad-cam's own test suite through faithcam's drop-in (issue 27).

    python scripts/peer_suite.py                 # downloads the grad-cam sdist (pip, no deps)
    python scripts/peer_suite.py --sdist FILE    # an sdist already on disk

The sdist's tests/ run in a temporary folder with a conftest that makes every
``pytorch_grad_cam`` module the drop-in's (``faithcam.compat.pytorch_grad_cam``), torchvision's
builders return seeded random weights (``weights="DEFAULT"`` would download), and
``examples/both.png`` is scikit-image's ``chelsea`` (the repository's photo is not in the sdist).
CUDA tests are deselected where no device is present. Prints pytest's summary; the exit status is
pytest's.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSION = "1.5.7"  # the peer version pinned in pyproject.toml

CONFTEST = '''
import importlib
import pkgutil
import sys

import torch
import torchvision

import faithcam.compat.pytorch_grad_cam as dropin

sys.modules["pytorch_grad_cam"] = dropin
for info in pkgutil.walk_packages(dropin.__path__, dropin.__name__ + "."):
    importlib.import_module(info.name)
for name, module in list(sys.modules.items()):  # the files and the peer's module-path aliases
    if name.startswith(dropin.__name__ + "."):
        sys.modules["pytorch_grad_cam" + name[len(dropin.__name__):]] = module


def _random_weights(builder):
    def build(*args, weights=None, **kwargs):
        torch.manual_seed(0)
        kwargs.pop("pretrained", None)
        return builder(*args, weights=None, **kwargs)

    return build


for _name in torchvision.models.list_models():
    for _namespace in (torchvision.models, torchvision.models.detection,
                       torchvision.models.segmentation):
        if hasattr(_namespace, _name):
            setattr(_namespace, _name, _random_weights(getattr(_namespace, _name)))
'''


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sdist", type=Path, help="grad-cam's sdist (else pip downloads it)")
    parser.add_argument("pytest_args", nargs="*", help="extra pytest arguments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        sdist = args.sdist
        if sdist is None:
            subprocess.run(
                [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary",
                 ":all:", f"grad-cam=={VERSION}", "-d", str(work)], check=True,
            )  # fmt: skip
            sdist = next(work.glob("grad*cam-*.tar.gz"))
        with tarfile.open(sdist) as archive:
            members = [m for m in archive.getmembers() if "/tests/" in m.name and m.isfile()]
            archive.extractall(work, members=members, filter="data")
        tests = next(work.glob("grad*cam-*/tests"))
        (tests / "conftest.py").write_text(CONFTEST)
        run_dir = tests.parent
        (run_dir / "examples").mkdir(exist_ok=True)
        from skimage import data, io

        io.imsave(run_dir / "examples" / "both.png", data.chelsea()[:, :, ::-1].copy())
        has_cuda = subprocess.run(
            [sys.executable, "-c", "import torch,sys; sys.exit(not torch.cuda.is_available())"]
        ).returncode == 0
        command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfEs",
                   "-o", "addopts=", str(tests), *args.pytest_args]  # fmt: skip
        if not has_cuda:
            command += ["--deselect", str(tests / "test_context_release_cuda.py"),
                        "-k", "not cuda"]  # fmt: skip
        env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"}
        return subprocess.run(command, cwd=run_dir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())

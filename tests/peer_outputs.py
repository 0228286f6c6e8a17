"""The peers' outputs for the agreement tests: live from the peer library, or golden (pinned).

A test that compares faithcam with a peer asks for the ``peer_output`` fixture and wraps each
call of the peer in it, naming the output and the inputs it was computed from::

    theirs = peer_output("gradcam", lambda: peer_lowres(...), model=model_name, images=images)

The fixture is parametrized, so each such test runs twice:
- ``golden`` (plain ``make test``): returns the output stored in ``tests/golden/<module>.npz``
  without calling (or importing) the peer; the inputs must match the ones recorded with it;
- ``live`` (marker ``peers``, ``make test-peers``): calls the peer.

``make golden`` runs the live cases with ``--update-golden``, which writes what the peers
returned to ``tests/golden/<module>.npz`` and, beside it, ``<module>.json``: the versions of the
peers and of torch, and for each output its test, its model name and seeds and a fingerprint of
its input tensors. Golden outputs come from the live peers only: nothing of faithcam's is stored.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.helpers import IMAGE_SEED, MODEL_SEED

GOLDEN_DIR = Path(__file__).parent / "golden"
VERSIONED = ("grad-cam", "torchcam", "captum", "quantus", "torch", "torchvision", "numpy")
MODES = ["golden", pytest.param("live", marks=pytest.mark.peers)]

_recorded: dict[str, dict[str, Any]] = {}  # module -> output name -> (value, inputs)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="write the live peers' outputs to tests/golden/ (make golden)",
    )


def describe(value: Any) -> Any:
    """An input as recorded beside a golden output: tensors and arrays by shape, dtype and
    sums (a fingerprint), everything else as itself."""
    if isinstance(value, torch.Tensor | np.ndarray):
        array = np.asarray(value.detach().cpu() if isinstance(value, torch.Tensor) else value)
        wide = array.astype(np.float64)
        return {
            "shape": list(array.shape),
            "dtype": str(array.dtype),
            "sum": float(wide.sum()),
            "sum_of_squares": float((wide**2).sum()),
        }
    if isinstance(value, tuple | list):
        return [describe(item) for item in value]
    return value


def same_inputs(recorded: Any, now: Any) -> bool:
    if isinstance(recorded, dict) and isinstance(now, dict):
        return recorded.keys() == now.keys() and all(
            same_inputs(recorded[k], now[k]) for k in recorded
        )
    if isinstance(recorded, list) and isinstance(now, list):
        return len(recorded) == len(now) and all(map(same_inputs, recorded, now))
    if isinstance(recorded, float) and isinstance(now, float):
        return math.isclose(recorded, now, rel_tol=1e-6, abs_tol=1e-9)
    return recorded == now


def _parts(value: Any) -> dict[str, Any]:
    """An output's parts: {"": value} for one array or tensor, the dict itself for a dict."""
    return {str(k): v for k, v in value.items()} if isinstance(value, dict) else {"": value}


class GoldenFile:
    """tests/golden/<module>.npz (the arrays, under index keys) and <module>.json (the rest)."""

    def __init__(self, module: str) -> None:
        self.json_path = GOLDEN_DIR / f"{module}.json"
        self.npz_path = GOLDEN_DIR / f"{module}.npz"
        self.meta: dict[str, Any] = {"outputs": {}}
        self.arrays: dict[str, np.ndarray] = {}
        if self.json_path.exists():
            self.meta = json.loads(self.json_path.read_text())
            with np.load(self.npz_path) as stored:
                self.arrays = {key: stored[key] for key in stored.files}

    def output(self, name: str) -> Any:
        """The stored output, as the peer gave it: an array or a tensor, or a dict of them."""
        entry = self.meta["outputs"][name]
        parts = {
            sub: torch.from_numpy(self.arrays[key].copy())
            if sub in entry["tensors"]
            else self.arrays[key].copy()
            for sub, key in entry["arrays"].items()
        }
        return parts[""] if list(parts) == [""] else parts

    def write(self, outputs: dict[str, tuple[Any, dict[str, Any], str]]) -> None:
        """Add (or replace) ``outputs``: name -> (value, described inputs, test)."""
        entries = {
            name: (self.output(name), entry["inputs"], entry["test"])
            for name, entry in self.meta["outputs"].items()
            if name not in outputs
        }
        entries.update(outputs)
        arrays: dict[str, np.ndarray] = {}
        described: dict[str, Any] = {}
        for name, (value, inputs, test) in sorted(entries.items()):
            keys, tensors = {}, []
            for sub, part in _parts(value).items():
                if isinstance(part, torch.Tensor):
                    tensors.append(sub)
                    part = part.detach().cpu().numpy()
                keys[sub] = f"a{len(arrays)}"
                arrays[keys[sub]] = np.array(part, copy=True)
            described[name] = {"test": test, "inputs": inputs, "arrays": keys, "tensors": tensors}
        self.meta = {
            "made_by": "make golden (tests/peer_outputs.py, --update-golden): live peer outputs",
            "versions": {name: _version(name) for name in VERSIONED},
            "seeds": {
                "models": f"tests.helpers.seeded_torchvision(name, seed={MODEL_SEED}): "
                "torch.manual_seed(seed), torchvision weights=None, eval",
                "images": f"tests.helpers.seeded_images(n, size, seed={IMAGE_SEED}) unless an "
                "output's inputs name another seed",
            },
            "outputs": described,
        }
        self.arrays = arrays
        GOLDEN_DIR.mkdir(exist_ok=True)
        np.savez_compressed(self.npz_path, **arrays)
        self.json_path.write_text(json.dumps(self.meta, indent=1) + "\n")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


_golden_files: dict[str, GoldenFile] = {}


def golden_file(module: str) -> GoldenFile:
    if module not in _golden_files:
        _golden_files[module] = GoldenFile(module)
    return _golden_files[module]


class PeerOutputs:
    """The ``peer_output`` fixture's value: ``(name, run, **inputs) -> the peer's output``."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.live = request.param == "live"
        self.update = request.config.getoption("--update-golden")
        self.module = Path(str(request.node.path)).stem
        params = getattr(getattr(request.node, "callspec", None), "params", {})
        shown = ",".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "peer_output")
        self.test = request.node.originalname + (f"[{shown}]" if shown else "")

    def __call__(self, name: str, run: Callable[[], Any], **inputs: Any) -> Any:
        key = f"{self.test}::{name}"
        described = {k: describe(v) for k, v in inputs.items()}
        if self.live:
            value = run()
            if self.update:
                _recorded.setdefault(self.module, {})[key] = (value, described, self.test)
            return value
        stored = golden_file(self.module)
        entry = stored.meta["outputs"].get(key)
        if entry is None:
            pytest.fail(f"no golden output {key!r} in {stored.json_path}: run `make golden`")
        if not same_inputs(entry["inputs"], described):
            pytest.fail(
                f"golden output {key!r}: its inputs changed since `make golden` "
                f"(recorded {entry['inputs']}, now {described}); run `make golden`"
            )
        return stored.output(key)


@pytest.fixture(params=MODES)
def peer_output(request: pytest.FixtureRequest) -> PeerOutputs:
    """A peer's output, golden (default) or live (marker ``peers``): see the module's doc."""
    return PeerOutputs(request)


def pytest_sessionfinish(session: pytest.Session) -> None:
    for module, outputs in _recorded.items():
        golden_file(module).write(outputs)

"""Run pytest as if the peer libraries were not installed (``make test-without-peers``).

python scripts/pytest_without_peers.py [pytest arguments]

Imports of pytorch_grad_cam, torchcam, quantus and captum fail, and ``importlib.util.find_spec``
reports them missing, so every test that needs a peer skips with the peer's name, and every
peer-free test (formulas, costs, bad input) must still run and pass: a test module that skips
as a whole on a missing peer may hold only peer comparisons.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys

import pytest

PEERS = ("pytorch_grad_cam", "torchcam", "quantus", "captum")
_find_spec = importlib.util.find_spec


def _is_peer(name: str) -> bool:
    return name.split(".")[0] in PEERS


class _NoPeers(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if _is_peer(name):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def _find_spec_without_peers(name: str, package: str | None = None):
    return None if _is_peer(name) else _find_spec(name, package)


if __name__ == "__main__":
    sys.meta_path.insert(0, _NoPeers())
    importlib.util.find_spec = _find_spec_without_peers
    sys.exit(pytest.main(sys.argv[1:]))

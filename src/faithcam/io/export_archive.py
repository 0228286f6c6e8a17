"""Inspect a ``torch.export`` archive (``.pt2``) before ``torch.export.load`` touches it.

``torch.export.load`` runs code from the file in several places: a weight or constant whose
payload config says ``use_pickle: true`` goes through ``torch.load(weights_only=False)``, custom
and opaque objects through the pickle machinery, sample inputs fall back to a full unpickle,
AOTInductor packages load shared libraries, and symbolic shape expressions go through
``sympy.sympify`` (Python ``eval``). :func:`untrusted_content` reads the archive as a plain zip
and lists whatever would reach one of those paths, so that such a file is refused unless the
user trusts it. A plain ``torch.export.save`` of a module (raw tensor weights, static or simple
symbolic shapes) has none. The archive must first pass :func:`~faithcam.io.zip_layout.
check_zip_layout`, so that this reading and torch's (miniz) see the same entries; the caller
hands torch the very bytes inspected here.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import torch

from faithcam.io.zip_layout import ZipLayoutError, check_zip_layout

# Files of a plain archive, relative to its root folder.
_PLAIN = re.compile(
    r"(archive_format|archive_version|byteorder|version|\.data/version|\.data/serialization_id"
    r"|models/[\w.-]+\.json|data/weights/weight_\d+|data/weights/[\w.-]+_weights_config\.json"
    r"|data/constants/tensor_\d+|data/constants/[\w.-]+_constants_config\.json"
    r"|data/sample_inputs/[\w.-]+\.pt|extra/.+)"
)
_RAW_PAYLOAD = re.compile(r"(weight|tensor)_\d+")
# Names a symbolic shape expression may use: symbols (s0, u3...) and sympy / torch functions.
_SYMBOL = re.compile(r"[a-z]{1,3}\d+")
_FUNCTIONS = frozenset(
    (  # noqa: SIM905 - a word list reads best as one string
        "FloorDiv ModularIndexing Where PythonMod Mod CleanDiv CeilToInt FloorToInt CeilDiv "
        "LShift RShift IntTrueDiv FloatTrueDiv ToFloat TruncToInt TruncToFloat RoundToInt "
        "Identity Max Min Abs floor ceiling sqrt Pow Eq Ne Lt Le Gt Ge And Or Not True False oo "
        "Integer Rational Symbol positive negative nonnegative integer real finite"
    ).split()
)
_QUOTED_SYMBOL = re.compile(r"'([a-z]{1,3}\d+)'")  # Symbol('s77', positive=True, integer=True)
_EXPRESSION = re.compile(r"[\w+\-*/%() ,.<>=!&|~]*")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")
SHOWN = 3


def untrusted_content(archive_bytes: bytes | str | Path) -> list[str]:
    """What in the archive (its bytes, or a path) would run code when loaded (empty: a plain
    archive).

    Raises ``ValueError`` when the file is not a zip archive laid out as ``torch.export.save``
    writes it, or is laid out so that two zip readers could read it differently.
    """
    data = archive_bytes if isinstance(archive_bytes, bytes) else Path(archive_bytes).read_bytes()
    if not data.startswith(b"PK"):
        raise ValueError("not a torch.export archive (not a zip file)")
    try:
        check_zip_layout(data)
    except ZipLayoutError as error:
        raise ValueError(f"a zip archive laid out ambiguously or damaged ({error})") from None
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
        roots = {name.split("/", 1)[0] for name in names}
        if len(roots) != 1 or any("/" not in name for name in names):
            raise ValueError("not a torch.export archive (expected one root folder)")
        root = roots.pop() + "/"
        inner = {name[len(root) :]: name for name in names}
        if "archive_format" not in inner:
            raise ValueError(
                "not a torch.export archive of the current format (no archive_format record; "
                "re-save it with torch.export.save)"
            )
        found = [
            f"{name} (not part of a plain archive)" for name in inner if not _PLAIN.fullmatch(name)
        ]
        for name, full in inner.items():
            data = archive.read(full) if _needs_reading(name) else b""
            if name.endswith("_config.json"):
                found += _pickled_payloads(name, data)
            elif name.startswith("data/sample_inputs/"):
                found += _unsafe_sample_inputs(name, data)
            elif name.startswith("models/"):
                found += _unsafe_expressions(name, data)
    return found


def _needs_reading(name: str) -> bool:
    return name.endswith("_config.json") or name.startswith(("data/sample_inputs/", "models/"))


def _json(name: str, data: bytes) -> Any:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not a torch.export archive ({name} is not JSON: {error})") from None


def _pickled_payloads(name: str, data: bytes) -> list[str]:
    config = _json(name, data)
    entries = config.get("config", {}) if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise ValueError(f"not a torch.export archive ({name} has no payload config)")
    found = []
    for key, meta in entries.items():
        meta = meta if isinstance(meta, dict) else {}
        if meta.get("use_pickle") is not False:
            found.append(f"{key} in {name} (a pickled payload)")
        elif not _RAW_PAYLOAD.fullmatch(str(meta.get("path_name", ""))):
            found.append(f"{key} in {name} (a custom or opaque object)")
    return found


def _unsafe_sample_inputs(name: str, data: bytes) -> list[str]:
    if not data:
        return []
    try:
        torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception:
        return [f"{name} (sample inputs that need a full unpickle)"]
    return []


def _unsafe_expressions(name: str, data: bytes) -> list[str]:
    found: list[str] = []
    _walk_expressions(_json(name, data), found)
    return [f"{name} (shape expression {expr!r} that would be evaluated)" for expr in found]


def _walk_expressions(node: Any, found: list[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "expr_str" and isinstance(value, str) and not _plain_expression(value):
                found.append(value)
            else:
                _walk_expressions(value, found)
    elif isinstance(node, list):
        for value in node:
            _walk_expressions(value, found)


def _plain_expression(text: str) -> bool:
    """Arithmetic over shape symbols and known functions only: nothing ``eval`` could abuse."""
    text = _QUOTED_SYMBOL.sub(r"\1", text)
    if "__" in text or not _EXPRESSION.fullmatch(text):
        return False
    return all(_SYMBOL.fullmatch(word) or word in _FUNCTIONS for word in _IDENTIFIER.findall(text))


def describe(found: list[str]) -> str:
    """The first few findings, for a one-line error."""
    more = f" (+{len(found) - SHOWN} more)" if len(found) > SHOWN else ""
    return "; ".join(found[:SHOWN]) + more

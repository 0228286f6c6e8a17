"""The checks behind the adversarial attempts, one rule at a time: the zip layout check accepts
what torch and Python write and refuses each ambiguity; the graph allow-list keeps ordinary
exported models loading and refuses operators with side effects."""

from __future__ import annotations

import io
import operator
import os
import struct
import zipfile
from pathlib import Path

import pytest
import torch

from faithcam.io.graph_ops import is_allowed
from faithcam.io.model_sources import ModelError, load_model
from faithcam.io.zip_layout import ZipLayoutError, check_zip_layout
from tests.guarantees.attempts_models import export_file_writer
from tests.guarantees.zip_attacks import plain_entries, zip_bytes


def test_archives_written_by_torch_and_by_python_pass(tmp_path: Path) -> None:
    entries = plain_entries(tmp_path)
    saved = (tmp_path / "plain.pt2").read_bytes()
    with zipfile.ZipFile(io.BytesIO(saved)) as archive:
        assert check_zip_layout(saved) == archive.namelist()  # miniz: data descriptors, padding
    assert len(check_zip_layout(zip_bytes(entries))) == len(entries)
    rewritten = io.BytesIO()
    with zipfile.ZipFile(rewritten, "w") as archive:
        for name, data in entries:
            with archive.open(name.decode(), "w", force_zip64=True) as handle:  # zip64 extras
                handle.write(data)
    assert len(check_zip_layout(rewritten.getvalue())) == len(entries)


def _two(first: bytes = b"a/x", second: bytes = b"a/y") -> bytes:
    return zip_bytes([(first, b"1234"), (second, b"5678")])


def _set(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    changed = bytearray(data)
    struct.pack_into(fmt, changed, offset, value)
    return bytes(changed)


def _count(data: bytes, count: int) -> bytes:
    """The end record's entry counts (this disk, total) set to ``count``."""
    return _set(_set(data, len(data) - 14, "<H", count), len(data) - 12, "<H", count)


def _central(data: bytes) -> int:
    return struct.unpack_from("<I", data, len(data) - 6)[0]


@pytest.mark.parametrize(
    ("name", "build", "message"),
    [
        ("duplicate", lambda: _two(b"a/x", b"a/x"), "appears twice"),
        ("duplicate ignoring case", lambda: _two(b"a/x", b"a/X"), "appears twice"),
        ("NUL in a name", lambda: _two(b"a/x\x00.json"), "unsafe name"),
        ("parent folder", lambda: _two(b"a/../x"), "unsafe name"),
        ("absolute name", lambda: _two(b"/a/x"), "unsafe name"),
        ("not ASCII, not flagged UTF-8", lambda: _two("a/é".encode()), "neither ASCII"),
        ("prepended data", lambda: b"#!/bin/sh\n" + _two(), "does not end where"),
        ("trailing data", lambda: _two() + b"tail", "no end-of-central-directory"),
        ("archive comment", lambda: _set(_two(), len(_two()) - 2, "<H", 4) + b"PK56", "comment"),
        ("entry count", lambda: _count(_two(), 1), "end record says 1"),
        ("compressed entry", lambda: _set(_two(), _central(_two()) + 10, "<H", 8), "compressed"),
        ("encrypted entry", lambda: _set(_two(), _central(_two()) + 8, "<H", 1), "encrypted"),
        ("local header name", lambda: _set(_two(), 30, "<B", ord("z")), "local header"),
        ("local header size", lambda: _set(_two(), 18, "<I", 3), "sizes or CRC"),
        ("overlapping entries", lambda: _set(_two(), _central(_two()) + 46 + 3 + 42, "<I", 0),
         "starts at byte 0"),
        ("second archive", lambda: _two() + _two(), "does not end where"),
    ],
)  # fmt: skip
def test_each_ambiguity_is_refused(name: str, build, message: str) -> None:
    with pytest.raises(ZipLayoutError, match=message):
        check_zip_layout(build())


def test_operator_allow_list() -> None:
    allowed = [
        torch.ops.aten.conv2d.default,  # composite: decomposes to convolution
        torch.ops.aten.linear.default,
        torch.ops.aten.relu_.default,  # in-place variant of a core operator
        torch.ops.aten.hardswish_.default,  # vetted
        torch.ops.aten.sum.default,  # another overload of a core operator
        torch.ops.aten.scaled_dot_product_attention.default,
        operator.getitem,
    ]
    refused = [
        torch.ops.aten.from_file.default,  # maps a file read-write
        torch.ops.aten._print.default,  # writes to stdout
        torch.ops.aten._cufft_set_plan_cache_max_size.default,  # global state, no tensor
        torch.ops.aten._unsafe_index.Tensor,  # no bounds check
        torch.ops.aten.set_.source_Storage,
        torch.ops.higher_order.cond,
        os.system,
        torch.save,
        print,
    ]
    assert [t for t in allowed if not is_allowed(t)] == []
    assert [t for t in refused if is_allowed(t)] == []


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "convnext_tiny"])
def test_torchvision_models_exported_with_torch_export_still_load(tmp_path, name) -> None:
    import torchvision

    import faithcam

    torch.manual_seed(0)
    model = torchvision.models.get_model(name, weights=None).eval()
    images = torch.rand(1, 3, 64, 64)
    path = tmp_path / f"{name}.pt2"
    torch.export.save(torch.export.export(model, (images,)), path)
    loaded = load_model(str(path))
    torch.testing.assert_close(loaded.model(images), model(images))
    assert faithcam.explain(loaded.model, images, "gradcam").maps.shape == (1, 64, 64)


def test_a_graph_with_side_effects_loads_only_when_trusted(tmp_path: Path) -> None:
    victim = tmp_path / "victim.bin"
    victim.write_bytes(b"precious")
    path = export_file_writer(victim, tmp_path / "writer.pt2")
    with pytest.raises(ModelError, match=r"aten::from_file\.default.*--trust-pickle"):
        load_model(str(path))
    assert load_model(str(path), trust_pickle=True).model is not None  # loaded, not run
    assert victim.read_bytes() == b"precious"

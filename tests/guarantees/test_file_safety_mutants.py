"""Edge cases of issue 24's zip layout check and safe writer, written after their semantic
mutants (scripts/semantic_mutants_catalogue.py, group ``stores``). The archives are built byte
by byte (tests/guarantees/zip_attacks.py), so what each one holds is known by construction."""

from __future__ import annotations

import hashlib
import struct

import pytest

from faithcam.io.zip_layout import ZipLayoutError, check_zip_layout
from faithcam.outputs import NAME_MAX, fit_name, write_fresh
from tests.guarantees.zip_attacks import zip_bytes

ENTRIES = [(b"a/x", b"1234"), (b"a/y", b"5678")]


def test_data_prepended_with_offsets_rebased_is_refused():
    """Bytes in front of the first entry, with every offset moved past them (so the central
    directory still ends where the end record starts): the first entry starts at byte 10, not
    0, and a reader that starts at byte 0 sees something else."""
    data = zip_bytes(ENTRIES, prefix=b"#!/bin/sh\n")
    with pytest.raises(ZipLayoutError, match=r"starts at byte 10, expected 0 \(prepended data"):
        check_zip_layout(data)
    assert check_zip_layout(zip_bytes(ENTRIES)) == ["a/x", "a/y"]


def test_zero_sizes_in_a_local_header_need_the_data_descriptor_flag():
    """A local header may leave its CRC and sizes at 0 only when flag bit 3 says a data
    descriptor follows; without the flag, zeros disagree with the central directory."""
    data = bytearray(zip_bytes(ENTRIES))
    assert struct.unpack_from("<H", data, 6)[0] & 0x0008 == 0  # no descriptor flag
    struct.pack_into("<III", data, 14, 0, 0, 0)  # CRC, compressed and uncompressed size
    with pytest.raises(ZipLayoutError, match="local header gives other sizes or CRC"):
        check_zip_layout(bytes(data))


def test_a_link_planted_at_the_output_name_is_replaced_not_followed(tmp_path):
    """write_fresh writes a fresh file and renames it over the name: a symbolic link planted
    there (pointing at a file of the user's) is replaced, and its target keeps its bytes."""
    victim = tmp_path / "victim.txt"
    victim.write_text("the user's file")
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").symlink_to(victim)
    write_fresh(out / "summary.json", lambda fresh: fresh.write_text("{}"))
    assert victim.read_text() == "the user's file"
    assert not (out / "summary.json").is_symlink()
    assert (out / "summary.json").read_text() == "{}"
    assert sorted(p.name for p in out.iterdir()) == ["summary.json"]  # no temporary left


def test_an_output_name_of_250_bytes_can_be_written(tmp_path):
    """Names up to the file system's 255 bytes are valid outputs: the temporary name next to
    one must stay short (a dot, 24 characters, 12 hex digits, .tmp and the suffix)."""
    name = "x" * 246 + ".png"
    assert len(name.encode()) == 250
    write_fresh(tmp_path / name, lambda fresh: fresh.write_bytes(b"png"))
    assert (tmp_path / name).read_bytes() == b"png"


def test_fit_name_counts_bytes_and_keeps_distinct_stems_distinct():
    """120 'é' are 240 bytes: with 40 bytes reserved they exceed 255, so the stem becomes its
    first 206 bytes (255 - 40 - 9: '~' and 8 hex digits), 103 'é', then '~' and the first 8
    hex digits of its SHA-256."""
    stem = "é" * 120
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    assert fit_name(stem) == "é" * 103 + "~" + digest
    assert len(fit_name(stem).encode()) + 40 <= NAME_MAX
    assert fit_name("a" * 300 + "1") != fit_name("a" * 300 + "2")
    assert fit_name("short") == "short"

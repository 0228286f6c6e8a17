"""Edge cases of issue 24's zip layout check and safe writer, written after their semantic
mutants (scripts/semantic_mutants_catalogue.py, group ``stores``). The archives are built byte
by byte (tests/guarantees/zip_attacks.py), so what each one holds is known by construction."""

from __future__ import annotations

import struct

import pytest

from faithcam.io.zip_layout import ZipLayoutError, check_zip_layout
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

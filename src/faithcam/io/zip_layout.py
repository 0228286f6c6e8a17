"""Refuse a zip archive that two zip readers could read differently.

``faithcam`` inspects a ``.pt2`` archive with Python's :mod:`zipfile`; ``torch.export.load``
reads it with miniz (``PyTorchFileReader``). The two differ on ambiguous files: with duplicate
names Python keeps the last entry and miniz's sorted lookup may find the first; miniz compares
names case-insensitively; Python cuts a name at a NUL byte, walks the central directory by its
byte size where miniz uses its entry count, and silently re-bases offsets when data was
prepended. A hostile archive uses such a difference to show the inspector one file and torch
another. :func:`check_zip_layout` accepts only the one layout both read the same way:

- one end-of-central-directory record, at the very end, without a comment (a zip64 record and
  locator in front of it must agree with it), on one disk;
- a central directory of exactly the announced entries, ending where that record starts;
- unique names (also ignoring case), ASCII or flagged UTF-8, without NUL, control characters,
  backslashes, absolute paths or ``..``; stored (uncompressed), unencrypted entries;
- every local header repeats its central entry (name, flags, method, sizes and CRC when
  present; a data descriptor must match too);
- entries tile the file: the first starts at byte 0 (nothing prepended), each starts where the
  previous ends, the last ends where the central directory starts (no hidden second archive,
  no overlapping entries).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

_EOCD = struct.Struct("<IHHHHIIH")  # end of central directory
_LOCATOR = struct.Struct("<IIQI")  # zip64 end of central directory locator
_EOCD64 = struct.Struct("<IQHHIIQQQQ")  # zip64 end of central directory record
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_LOCAL = struct.Struct("<IHHHHHIIIHH")
_SIG_EOCD, _SIG_LOCATOR, _SIG_EOCD64 = 0x06054B50, 0x07064B50, 0x06064B50
_SIG_CENTRAL, _SIG_LOCAL, _SIG_DESCRIPTOR = 0x02014B50, 0x04034B50, 0x08074B50
_ALLOWED_FLAGS = 0x0808  # bit 3: data descriptor, bit 11: UTF-8 names
_MAX16, _MAX32 = 0xFFFF, 0xFFFFFFFF


class ZipLayoutError(ValueError):
    """The archive is not laid out in the one unambiguous way (the message says where)."""


@dataclass(frozen=True)
class _Entry:
    name: bytes
    flags: int
    crc: int
    size: int
    offset: int


def check_zip_layout(data: bytes) -> list[str]:
    """The entry names of the zip archive ``data`` in central-directory order; raises
    :class:`ZipLayoutError` when any reader could see something else (see the module)."""
    cd_offset, cd_size, count = _end_records(data)
    entries = _central_entries(data, cd_offset, cd_size, count)
    cursor = 0
    for entry in sorted(entries, key=lambda e: e.offset):
        if entry.offset != cursor:
            where = "prepended data" if cursor == 0 else f"{entry.offset - cursor:+d} bytes"
            raise ZipLayoutError(
                f"entry {_show(entry.name)} starts at byte {entry.offset}, expected {cursor} "
                f"({where}: entries must follow each other with nothing between or overlapping)"
            )
        cursor = _local_entry_end(data, entry)
    if cursor != cd_offset:
        raise ZipLayoutError(
            f"{cd_offset - cursor} unaccounted bytes before the central directory (a second "
            "archive or hidden data)"
        )
    return [entry.name.decode("utf-8") for entry in entries]


def _show(name: bytes) -> str:
    return repr(name.decode("utf-8", "replace"))


def _end_records(data: bytes) -> tuple[int, int, int]:
    """(central directory offset, size, entry count) from the records at the end."""
    end = len(data) - _EOCD.size
    if end < 0 or _EOCD.unpack_from(data, end)[0] != _SIG_EOCD:
        raise ZipLayoutError(
            "no end-of-central-directory record at the end of the file (an archive comment, "
            "trailing data, or not a zip archive)"
        )
    _, disk, cd_disk, on_disk, total, cd_size, cd_offset, comment = _EOCD.unpack_from(data, end)
    if comment:
        raise ZipLayoutError("an archive comment (it can hide a second end-of-directory record)")
    cd_end = end
    if end >= _LOCATOR.size and _LOCATOR.unpack_from(data, end - _LOCATOR.size)[0] == _SIG_LOCATOR:
        cd_end, values = _zip64_end(data, end - _LOCATOR.size)
        for small, big in zip(
            (disk, cd_disk, on_disk, total, cd_size, cd_offset), values, strict=True
        ):
            if small != big and small not in (_MAX16, _MAX32):
                raise ZipLayoutError("the zip64 end record disagrees with the end record")
        disk, cd_disk, on_disk, total, cd_size, cd_offset = values
    if disk or cd_disk or on_disk != total:
        raise ZipLayoutError("a multi-disk archive")
    if cd_offset + cd_size != cd_end:
        raise ZipLayoutError(
            f"the central directory ({cd_size} bytes at {cd_offset}) does not end where the end "
            f"record starts ({cd_end}): prepended or appended data"
        )
    return cd_offset, cd_size, total


def _zip64_end(data: bytes, locator: int) -> tuple[int, tuple[int, ...]]:
    _, locator_disk, record, disks = _LOCATOR.unpack_from(data, locator)
    if locator_disk or disks != 1 or record + _EOCD64.size != locator:
        raise ZipLayoutError("a zip64 end record that is not right before its locator")
    sig, size, _, _, disk, cd_disk, on_disk, total, cd_size, cd_offset = _EOCD64.unpack_from(
        data, record
    )
    if sig != _SIG_EOCD64 or size != _EOCD64.size - 12:
        raise ZipLayoutError("a malformed zip64 end record")
    return record, (disk, cd_disk, on_disk, total, cd_size, cd_offset)


def _central_entries(data: bytes, cd_offset: int, cd_size: int, count: int) -> list[_Entry]:
    entries: list[_Entry] = []
    seen: set[bytes] = set()
    cursor, end = cd_offset, cd_offset + cd_size
    while cursor < end:
        if cursor + _CENTRAL.size > end:
            raise ZipLayoutError("a truncated central directory entry")
        fields = _CENTRAL.unpack_from(data, cursor)
        sig, _, _, flags, method, _, _, crc, csize, usize, n_name, n_extra, n_comment = fields[:13]
        disk, offset = fields[14], fields[16]
        start = cursor + _CENTRAL.size
        cursor = start + n_name + n_extra + n_comment
        if sig != _SIG_CENTRAL or cursor > end:
            raise ZipLayoutError(f"a malformed central directory entry at byte {start}")
        name = data[start : start + n_name]
        extra = data[start + n_name : start + n_name + n_extra]
        usize, csize, offset, disk = _zip64_values(extra, [usize, csize, offset, disk])
        _check_name(name, flags)
        if flags & ~_ALLOWED_FLAGS or method != 0 or csize != usize or disk:
            raise ZipLayoutError(
                f"entry {_show(name)} is compressed, encrypted or split (flags {flags:#x}, "
                f"method {method}); torch.export.save stores entries uncompressed"
            )
        folded = name.lower()
        if name in seen or folded in seen:
            raise ZipLayoutError(
                f"entry {_show(name)} appears twice (names compared ignoring case)"
            )
        seen |= {name, folded}
        entries.append(_Entry(name, flags, crc, usize, offset))
    if cursor != end or len(entries) != count:
        raise ZipLayoutError(
            f"the central directory holds {len(entries)} entries, its end record says {count}"
        )
    return entries


def _zip64_values(extra: bytes, values: list[int]) -> list[int]:
    """Replace the saturated ``values`` (sizes, offset, disk) by those of a zip64 extra field,
    checking that the extra fields are well formed."""
    cursor, found = 0, None
    while cursor < len(extra):
        if cursor + 4 > len(extra):
            raise ZipLayoutError("a malformed extra field")
        tag, size = struct.unpack_from("<HH", extra, cursor)
        if cursor + 4 + size > len(extra):
            raise ZipLayoutError("a malformed extra field")
        if tag == 0x0001:
            if found is not None:
                raise ZipLayoutError("two zip64 extra fields in one entry")
            found = extra[cursor + 4 : cursor + 4 + size]
        cursor += 4 + size
    limits = (_MAX32, _MAX32, _MAX32, _MAX16)
    saturated = [i for i, (v, top) in enumerate(zip(values, limits, strict=True)) if v == top]
    if not saturated:
        return values
    widths = [8 if i < 3 else 4 for i in saturated]
    if found is None or len(found) != sum(widths):
        raise ZipLayoutError("a zip64 extra field that does not match the saturated sizes")
    cursor = 0
    for i, width in zip(saturated, widths, strict=True):
        values[i] = int.from_bytes(found[cursor : cursor + width], "little")
        cursor += width
    return values


def _check_name(name: bytes, flags: int) -> None:
    try:
        text = name.decode("utf-8" if flags & 0x0800 else "ascii")
    except UnicodeDecodeError:
        raise ZipLayoutError(
            f"entry {_show(name)}: a name that is neither ASCII nor flagged UTF-8 (readers "
            "decode it differently)"
        ) from None
    parts = text.split("/")
    if (
        not text
        or any(ord(c) < 32 or c in "\\\x7f" for c in text)
        or text.startswith("/")
        or ".." in parts
    ):
        raise ZipLayoutError(f"entry {_show(name)}: an unsafe name")


def _local_entry_end(data: bytes, entry: _Entry) -> int:
    """Where the entry (local header, data, data descriptor) ends; its local header must repeat
    the central directory."""
    if entry.offset + _LOCAL.size > len(data):
        raise ZipLayoutError(f"entry {_show(entry.name)}: its local header is past the end")
    fields = _LOCAL.unpack_from(data, entry.offset)
    sig, _, flags, method, _, _, crc, csize, usize, n_name, n_extra = fields
    start = entry.offset + _LOCAL.size
    name, extra = data[start : start + n_name], data[start + n_name : start + n_name + n_extra]
    usize, csize = _zip64_values(extra, [usize, csize, 0, 0])[:2]
    if sig != _SIG_LOCAL or name != entry.name or flags != entry.flags or method != 0:
        raise ZipLayoutError(
            f"entry {_show(entry.name)}: its local header disagrees with the central directory "
            f"(name {_show(name)}, flags {flags:#x}, method {method})"
        )
    local = (crc, csize, usize)
    if local != (entry.crc, entry.size, entry.size) and not (flags & 0x0008 and local == (0,) * 3):
        raise ZipLayoutError(
            f"entry {_show(entry.name)}: its local header gives other sizes or CRC than the "
            "central directory"
        )
    end = start + n_name + n_extra + entry.size
    if end > len(data):
        raise ZipLayoutError(f"entry {_show(entry.name)}: its data runs past the end")
    return _descriptor_end(data, entry, end) if flags & 0x0008 else end


def _descriptor_end(data: bytes, entry: _Entry, cursor: int) -> int:
    """The end of the data descriptor at ``cursor`` (with or without its signature, 4- or
    8-byte sizes), which must repeat the central CRC and sizes."""
    signed = data[cursor : cursor + 4] == _SIG_DESCRIPTOR.to_bytes(4, "little")
    start = cursor + 4 if signed else cursor
    for layout in (struct.Struct("<III"), struct.Struct("<IQQ")):
        end = start + layout.size
        expected = (entry.crc, entry.size, entry.size)
        if end <= len(data) and layout.unpack_from(data, start) == expected:
            return end
    raise ZipLayoutError(
        f"entry {_show(entry.name)}: its data descriptor disagrees with the central directory"
    )

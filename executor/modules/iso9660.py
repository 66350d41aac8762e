"""Read one file from an ISO 9660 image or CD-ROM without mounting it.

A NoCloud (`cidata`) or config drive (`config-2`) ISO is small and made
by genisoimage/xorriso with Joliet and Rock Ridge names. Reading it in
place needs neither the kernel's iso9660 driver nor a mount point, so the
datasource works in an initramfs that has neither; anything else (a FAT
config drive) is mounted by the caller.

Names are looked up in the Joliet tree when there is one (UTF-16 names),
else in the primary tree by Rock Ridge name, else by the plain ISO name
(case-insensitive, without the `;1` version).
"""

from __future__ import annotations

import struct
from typing import BinaryIO

SECTOR = 2048
FIRST_DESCRIPTOR = 16
JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
MAX_FILE = 16 << 20
MAX_DIRECTORY = 1 << 20


class NotIso(Exception):
    """The device holds no ISO 9660 filesystem."""


def read_file(device: str, path: str) -> bytes | None:
    """The content of `path` (such as openstack/latest/user_data), None if absent."""
    with open(device, "rb") as f:
        root, joliet = _root_record(f)
        record = root
        for part in [p for p in path.split("/") if p]:
            if not record[2]:
                return None  # a file where a directory was expected
            found = _find(f, record, part, joliet)
            if found is None:
                return None
            record = found
        extent, size, is_dir = record
        if is_dir:
            return None
        f.seek(extent * SECTOR)
        return f.read(min(size, MAX_FILE))


Record = tuple[int, int, bool]  # extent (sector), size, is a directory


def _root_record(f: BinaryIO) -> tuple[Record, bool]:
    primary: Record | None = None
    for index in range(FIRST_DESCRIPTOR, FIRST_DESCRIPTOR + 32):
        f.seek(index * SECTOR)
        block = f.read(SECTOR)
        if len(block) < SECTOR or block[1:6] != b"CD001":
            raise NotIso
        kind = block[0]
        if kind == 255:
            break
        if kind == 2 and block[88:91] in JOLIET_ESCAPES:
            return _parse_record(block[156:190]), True
        if kind == 1:
            primary = _parse_record(block[156:190])
    if primary is None:
        raise NotIso
    return primary, False


def _parse_record(data: bytes) -> Record:
    extent = struct.unpack_from("<I", data, 2)[0]
    size = struct.unpack_from("<I", data, 10)[0]
    return extent, size, bool(data[25] & 0x02)


def _find(f: BinaryIO, directory: Record, name: str, joliet: bool) -> Record | None:
    extent, size, _ = directory
    f.seek(extent * SECTOR)
    data = f.read(min(size, MAX_DIRECTORY))
    offset = 0
    while offset < len(data):
        length = data[offset]
        if length == 0:  # records do not cross sectors: go to the next one
            offset = (offset // SECTOR + 1) * SECTOR
            continue
        entry = data[offset : offset + length]
        offset += length
        if len(entry) < 34:
            break
        name_len = entry[32]
        raw = entry[33 : 33 + name_len]
        if raw in (b"\x00", b"\x01"):
            continue  # . and ..
        if _names(entry, raw, joliet, name):
            return _parse_record(entry)
    return None


def _names(entry: bytes, raw: bytes, joliet: bool, wanted: str) -> bool:
    if joliet:
        return raw.decode("utf-16-be", errors="replace").split(";")[0] == wanted
    rock_ridge = _rock_ridge_name(entry, len(raw))
    if rock_ridge is not None:
        return rock_ridge == wanted
    plain = raw.decode("ascii", errors="replace").split(";")[0].rstrip(".")
    return plain.lower() == wanted.lower()


def _rock_ridge_name(entry: bytes, name_len: int) -> str | None:
    """The NM (alternate name) entry of a record's system use area, if any."""
    offset = 33 + name_len + (1 - name_len % 2)  # a pad byte after an even-length name
    while offset + 4 <= len(entry):
        signature, length = entry[offset : offset + 2], entry[offset + 2]
        if length < 4:
            return None
        if signature == b"NM" and length >= 5:
            return entry[offset + 5 : offset + length].decode("utf-8", errors="replace")
        offset += length
    return None

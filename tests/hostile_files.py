"""Hostile and broken roster files, built byte by byte for the tests (and the benchmark).

Each builder returns the file's bytes; none needs anything but the standard library.
"""

from __future__ import annotations

import io
import struct
import zipfile
from xml.sax.saxutils import escape

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PKG = "http://schemas.openxmlformats.org/package/2006/relationships"
HEADINGS = [
    "Employee ID",
    "First name",
    "Last name",
    "Email",
    "Directorate",
    "Department",
    "Manager",
    "Start date",
]

CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
    'relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sheet.main+xml"/>'
    '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.worksheet+xml"/>'
    "</Types>"
)
ROOT_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
)
WORKBOOK = (
    f'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{NS}" xmlns:r="{REL}">'
    '<sheets><sheet name="People" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
WORKBOOK_RELS = (
    f'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{PKG}">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
)
SHEET_HEAD = f'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{NS}"><sheetData>'
SHEET_TAIL = "</sheetData></worksheet>"


def column(n: int) -> str:
    letters = ""
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def row_xml(r: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{column(i)}{r}" t="inlineStr"><is><t>{escape(v)}</t></is></c>'
        for i, v in enumerate(values, start=1)
        if v
    )
    return f'<row r="{r}">{cells}</row>'


def xlsx(sheet: bytes | str, *, without: str = "", extra: dict[str, bytes] | None = None) -> bytes:
    """A workbook with one sheet whose XML is `sheet` (sheetData included)."""
    parts: dict[str, bytes | str] = {
        "[Content_Types].xml": CONTENT_TYPES,
        "_rels/.rels": ROOT_RELS,
        "xl/workbook.xml": WORKBOOK,
        "xl/_rels/workbook.xml.rels": WORKBOOK_RELS,
        "xl/worksheets/sheet1.xml": sheet,
        **(extra or {}),
    }
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, content in parts.items():
            if name != without:
                archive.writestr(name, content)
    return out.getvalue()


def sheet_of(rows: list[list[str]]) -> str:
    return SHEET_HEAD + "".join(row_xml(r, v) for r, v in enumerate(rows, start=1)) + SHEET_TAIL


def person(i: int) -> list[str]:
    return [f"E{i}", "Ann", "Lee", f"p{i}@x.example", "Place", "Housing", "", "01/01/2020"]


def roster_xlsx(people: int) -> bytes:
    return xlsx(sheet_of([HEADINGS, *(person(i) for i in range(people))]))


def _filler(first: int, count: int, cells: int) -> str:
    cell = '<c t="inlineStr"><is><t>x</t></is></c>' * cells
    return "".join(f'<row r="{r}">{cell}</row>' for r in range(first, first + count))


def bomb() -> bytes:
    """About 258 KB holding 53 MB of sheet XML, as in the security review: 34,393 rows of 40
    cells (under the row limit: only the unpacked size and packing ratio give it away)."""
    return xlsx(SHEET_HEAD + row_xml(1, HEADINGS) + _filler(2, 34_393, 40) + SHEET_TAIL)


def many_rows(count: int) -> bytes:
    """Rows of one short cell under a real heading row: 400,000 of them pack into 1 MB."""
    return xlsx(SHEET_HEAD + row_xml(1, HEADINGS) + _filler(2, count, 1) + SHEET_TAIL)


def lie_about_size(data: bytes, part: str, size: int) -> bytes:
    """The zip with `part`'s stated unpacked size replaced, in its local header and in the
    central directory (the part's bytes unchanged)."""
    out = bytearray(data)
    name = part.encode()
    start = 0
    while (at := out.find(b"PK\x01\x02", start)) >= 0:  # central directory entries
        name_length = struct.unpack_from("<H", out, at + 28)[0]
        if out[at + 46 : at + 46 + name_length] == name:
            struct.pack_into("<I", out, at + 24, size)
            local = struct.unpack_from("<I", out, at + 42)[0]
            struct.pack_into("<I", out, local + 22, size)
        start = at + 4
    return bytes(out)


# -- OLE compound files (Office 97-2003; an encrypted .xlsx is one too) ----------------------

FREE, END, FAT_SECTOR, NONE = 0xFFFFFFFF, 0xFFFFFFFE, 0xFFFFFFFD, 0xFFFFFFFF


def _entry(name: str, kind: int, child: int, right: int, start: int, size: int) -> bytes:
    encoded = (name + "\x00").encode("utf-16-le")
    return (
        encoded.ljust(64, b"\x00")
        + struct.pack("<HBB", len(encoded), kind, 1)
        + struct.pack("<III", NONE, right, child)
        + b"\x00" * 36  # class id, state bits, creation and modification times
        + struct.pack("<IQ", start, size)
    )


UNUSED = b"\x00" * 68 + struct.pack("<III", NONE, NONE, NONE) + b"\x00" * 48


def ole(streams: list[str], stream_size: int = 4096) -> bytes:
    """A compound file (version 3, 512-byte sectors) holding the named streams, each of
    `stream_size` zero bytes (4096 or more: kept out of the mini stream)."""
    per_stream = stream_size // 512
    sectors = 2 + per_stream * len(streams)  # FAT, directory, then the streams
    fat = [FAT_SECTOR, END]
    for _ in streams:
        first = len(fat)
        fat += [first + i + 1 for i in range(per_stream - 1)] + [END]
    fat += [FREE] * (128 - len(fat))
    entries = [_entry("Root Entry", 5, 1 if streams else NONE, NONE, END, 0)]
    for i, name in enumerate(streams):
        right = i + 2 if i + 1 < len(streams) else NONE
        entries.append(_entry(name, 2, NONE, right, 2 + i * per_stream, stream_size))
    while len(entries) % 4:
        entries.append(UNUSED)
    assert len(entries) == 4 and sectors <= 128
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
        + b"\x00" * 16
        + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
        + b"\x00" * 6
        + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, END, 0, END, 0)
        + struct.pack("<109I", 0, *([FREE] * 108))
    )
    assert len(header) == 512
    body = struct.pack("<128I", *fat) + b"".join(entries)
    return header + body + b"\x00" * stream_size * len(streams)


def encrypted_xlsx() -> bytes:
    """What Excel writes for a workbook with a password to open: OLE, not zip."""
    return ole(["EncryptionInfo", "EncryptedPackage"])


def old_xls() -> bytes:
    return ole(["Workbook"])

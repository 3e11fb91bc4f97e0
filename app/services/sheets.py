"""HR's uploaded files (CSV or XLSX) read as rows of text, within limits checked as they are read.

An upload comes from outside: an XLSX is a zip that can unpack to gigabytes from a few
kilobytes, list false sizes or hold broken XML; a CSV can be in another encoding, or be a
binary file under a .csv name. Each is refused with a reason a person can act on, before it
costs more than the limits below. XLSX is streamed with openpyxl's read-only mode (its XML
is parsed by defusedxml), never loaded whole.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterator
from typing import IO, Any

from openpyxl.reader.excel import ExcelReader

MB = 1024 * 1024
MAX_FILE_BYTES = 50 * MB
# Rows of people below the heading row: a council's workforce is well under this, and it
# bounds the time and memory one upload can take (about 20 s for the largest XLSX).
MAX_ROWS = 100_000
MAX_COLUMNS = 200  # HR systems' exports have dozens; the roster reads 11
# An XLSX's parts once unpacked: a 100,000-row roster of 10 columns is about 55 MB.
MAX_UNPACKED = 100 * MB
# Spreadsheet XML packs about 10:1 (a 100,000-row roster: 11:1); a part packed 100 times
# smaller than itself is a zip bomb. Small parts are exempt: they cannot cost much.
MAX_RATIO = 100
RATIO_FROM = 1 * MB
MAX_PARTS = 1_000  # a workbook has a dozen parts, a few more per sheet
EXCEL_LAST_ROW = 1_048_576

OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # Office 97-2003 files, and encrypted OOXML
ZIP = b"PK\x03\x04"
XLSX = (".xlsx", ".xlsm")
EXTENSIONS = (".csv", *XLSX)
SAVE_AS = "Open it in Excel and save it as an Excel Workbook (.xlsx) or as CSV UTF-8."


class Unreadable(Exception):
    """The file cannot be read as a table: the message says why, for the person who sent it."""


def rows(data: bytes, filename: str) -> Iterator[list[str]]:
    """The heading row, then every row, as stripped text (an empty cell is ""). Trailing
    empty rows are dropped, empty rows between others kept so that row numbers stay those
    a spreadsheet shows. Raises Unreadable, possibly only while being iterated."""
    ext = os.path.splitext(filename.lower())[1]
    if not data:
        raise Unreadable("The file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise Unreadable(f"The file must be smaller than {MAX_FILE_BYTES // MB} MB")
    if data.startswith(OLE):
        # An encrypted .xlsx is an OLE file with this stream; any other is 97-2003 Office.
        if "EncryptedPackage".encode("utf-16-le") in data:
            raise Unreadable(
                "The file is protected with a password. Save a copy without the password"
                " (in Excel: File, Info, Protect Workbook, Encrypt with Password) and upload"
                " that."
            )
        raise Unreadable(f"The file is in the old Excel 97-2003 format (.xls). {SAVE_AS}")
    if ext == ".xls":
        raise Unreadable(f"The file is named .xls, the old Excel 97-2003 format. {SAVE_AS}")
    if ext not in EXTENSIONS:
        raise Unreadable(
            f"The roster must be a CSV or XLSX file, not {ext or 'a file without an extension'}."
        )
    if ext in XLSX:
        if not data.startswith(ZIP):
            raise Unreadable(
                f"The file is named {ext} but is not an Excel workbook (an XLSX file is a zip"
                f" archive, and this is not one). {SAVE_AS}"
            )
        return _skip_trailing_blanks(_xlsx_rows(data))
    if data.startswith(ZIP):
        raise Unreadable(
            "The file is named .csv but is an Excel workbook: name it .xlsx, or save it as"
            " CSV UTF-8."
        )
    return _csv_rows(data)


def _over_rows(n: int) -> Unreadable:
    return Unreadable(
        f"Row {n:,}: a roster may have at most {MAX_ROWS:,} rows of people (limit"
        f" {MAX_ROWS:,}). Check that this is the right file."
    )


def _over_columns(n: int, count: int | None = None) -> Unreadable:
    has = f"{count:,} columns" if count else "more columns than that"
    return Unreadable(
        f"Row {n:,}: has {has}, over the limit of {MAX_COLUMNS} columns. Remove the columns"
        " the roster does not need."
    )


# -- CSV -------------------------------------------------------------------------------------


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data.count(b"\n", 0, exc.start) + 1
        raise Unreadable(
            f"The file is not UTF-8 text: row {row:,} has a byte (0x{data[exc.start]:02X})"
            " that UTF-8 does not allow. In Excel, save it as CSV UTF-8 (Comma delimited)."
        ) from None
    nul = text.find("\x00")
    if nul >= 0:
        raise Unreadable(
            f"Row {text.count(chr(10), 0, nul) + 1:,} contains a NUL character, which a CSV"
            " file never holds: this is not a text file. " + SAVE_AS
        )
    return _csv_records(text)


def _csv_records(text: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    width = 0
    n = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # e.g. an unclosed quote running into a huge cell
            raise Unreadable(
                f"Row {n + 1:,} could not be read as CSV ({exc}). Check its quotes."
            ) from None
        if not record:
            continue  # a blank line, as pandas skipped them
        n += 1
        if n > MAX_ROWS + 1:
            raise _over_rows(n)
        if len(record) > MAX_COLUMNS:
            raise _over_columns(n, len(record))
        if n == 1:
            width = len(record)
        elif len(record) > width and any(c.strip() for c in record[width:]):
            raise Unreadable(
                f"Row {n:,} has {len(record)} cells but the heading row has {width}: check"
                " the row's commas and quotes."
            )
        yield [c.strip() for c in record]


# -- XLSX ------------------------------------------------------------------------------------


class _MeteredZip(zipfile.ZipFile):
    """A zip whose every read counts the bytes actually unpacked against MAX_UNPACKED: its
    directory's sizes are checked first, but a directory can lie."""

    unpacked = 0

    def open(self, name: Any, mode: Any = "r", pwd: Any = None, **kwargs: Any) -> Any:
        stream = super().open(name, mode, pwd, **kwargs)
        return _Metered(stream, self) if mode == "r" else stream


class _Metered(io.RawIOBase):
    def __init__(self, inner: IO[bytes], archive: _MeteredZip) -> None:
        super().__init__()
        self.inner, self.archive = inner, archive

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(len(buffer))
        self.archive.unpacked += len(data)
        if self.archive.unpacked > MAX_UNPACKED:
            raise _over_unpacked()
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self.inner.close()
        super().close()


def _over_unpacked(size: int | None = None) -> Unreadable:
    at = f"{size / MB:,.0f} MB" if size else "more than that"
    return Unreadable(
        f"The workbook unpacks to {at}, over the limit of {MAX_UNPACKED // MB} MB. Save only"
        " the roster's sheet and columns in a new workbook, or save it as CSV UTF-8."
    )


def _damaged(exc: BaseException) -> Unreadable:
    while exc.__cause__ is not None:  # openpyxl wraps the parser's error in its own words
        exc = exc.__cause__
    detail = " ".join(str(exc).split())[:160] or type(exc).__name__
    return Unreadable(f"The workbook is damaged and could not be read ({detail}). {SAVE_AS}")


def _open_archive(data: bytes) -> _MeteredZip:
    """The zip, once its directory shows nothing that would cost too much to read."""
    try:
        archive = _MeteredZip(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise _damaged(exc) from None
    parts = archive.infolist()
    if "[Content_Types].xml" not in archive.namelist():
        raise Unreadable(
            "The file is a zip archive but not an Excel workbook: it has no"
            f" [Content_Types].xml. {SAVE_AS}"
        )
    if len(parts) > MAX_PARTS:
        raise Unreadable(f"The workbook has {len(parts):,} parts, over the limit of {MAX_PARTS:,}.")
    if any(p.flag_bits & 0x1 for p in parts):
        raise Unreadable("Parts of the workbook are encrypted: upload a copy without a password.")
    total = sum(p.file_size for p in parts)
    if total > MAX_UNPACKED:
        raise _over_unpacked(total)
    for part in parts:
        if part.file_size > RATIO_FROM and part.file_size > MAX_RATIO * part.compress_size:
            ratio = part.file_size // max(part.compress_size, 1)
            raise Unreadable(
                f"The workbook's part {part.filename[:100]} is packed {ratio:,} times smaller"
                f" than its {part.file_size / MB:,.0f} MB, over the limit of {MAX_RATIO} times:"
                " a roster does not pack like that. Check that this is the right file."
            )
    return archive


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    archive = _open_archive(data)
    # Everything openpyxl does with these bytes may fail in any way on a damaged file: each
    # failure is that file's fault, reported as such, not a 500.
    try:
        reader = ExcelReader(io.BytesIO(data), read_only=True, data_only=True)
        reader.archive = archive  # every part it reads is metered
        reader.read()
        sheets = reader.wb.worksheets
        if not sheets:
            raise Unreadable("The workbook has no worksheet.")
        sheet = sheets[0]
        # The sheet's stated dimensions are not trusted: rows are read as they come.
        sheet.reset_dimensions()
        cells = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS + 1)
    except Unreadable:
        raise
    except Exception as exc:  # see above
        raise _damaged(exc) from None
    n = 0
    width: int | None = None  # the first filled row's: cells beyond it are not read
    while True:
        try:
            values = next(cells)
        except StopIteration:
            break
        except Unreadable:
            raise
        except Exception as exc:  # a damaged sheet
            raise _damaged(exc) from None
        n += 1
        if n > EXCEL_LAST_ROW:
            raise Unreadable(f"The sheet has rows after Excel's last row ({EXCEL_LAST_ROW:,}).")
        if values[MAX_COLUMNS] not in (None, ""):
            raise _over_columns(n)
        if width is None:
            width = MAX_COLUMNS
            while width and values[width - 1] in (None, ""):
                width -= 1
            if not width:  # blank rows above the headings: reported as row 1 being empty
                width = None
                yield []
                continue
        row = [_text(v) for v in values[:width]]
        if not any(row):
            yield []
            continue
        if n > MAX_ROWS + 1:
            raise _over_rows(n)
        yield row
    if n == 0:
        raise Unreadable("The workbook's first sheet is empty: its first row must hold headings.")


def _text(value: object) -> str:
    """A cell as pandas' read_excel(dtype=str) gave it: whole numbers without ".0"."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _skip_trailing_blanks(source: Iterator[list[str]]) -> Iterator[list[str]]:
    """Empty rows are passed on only when a row with something in it follows."""
    blanks = 0
    for row in source:
        if not row:
            blanks += 1
            continue
        for _ in range(blanks):
            yield []
        blanks = 0
        yield row

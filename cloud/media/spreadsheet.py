"""Tables in and out: CSV as Excel saves it on Chinese Windows (UTF-8 or GBK), and XLSX.

Plain library code, no Flask. Reading gives each row with the line number a person sees in Excel,
so import errors can point at it. Writing escapes what users typed: a cell that starts with
``= + - @`` (or a tab/CR) would be run by Excel as a formula (CSV injection), so it is written as
text with a leading apostrophe in CSV and as a string cell in XLSX; numbers stay numbers.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
MAX_ROWS = 100_000


class TableUnreadable(ValueError):
    """The file is not a CSV/XLSX we can read; ``message`` is Chinese for the user."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Row:
    line: int
    values: dict


def decode_csv(data: bytes) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK and GB2312)."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise TableUnreadable("无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV，或 XLSX")


def _clean(value):
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if hasattr(value, "date") and hasattr(value, "hour"):
        value = value.date()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value).strip()


def read_table(data: bytes, filename: str) -> tuple[list[str], Iterator[Row]]:
    """The header and the rows of a CSV or XLSX file. Raises TableUnreadable."""
    if filename.lower().endswith(".xlsx") or data[:4] == b"PK\x03\x04":
        return _read_xlsx(data)
    return _read_csv(data)


def _read_csv(data):
    text = decode_csv(data)
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise TableUnreadable("文件是空的") from None
    except csv.Error as exc:
        raise TableUnreadable(f"CSV 格式有误：{exc}") from None

    def rows():
        try:
            for values in reader:
                if reader.line_num > MAX_ROWS:
                    raise TableUnreadable(f"文件超过 {MAX_ROWS} 行")
                if not any(v.strip() for v in values):
                    continue
                yield Row(reader.line_num, {h: (values[i].strip() if i < len(values) else "")
                                            for i, h in enumerate(header)})  # fmt: skip
        except csv.Error as exc:
            raise TableUnreadable(f"第 {reader.line_num} 行 CSV 格式有误：{exc}") from None

    return header, rows()


def _read_xlsx(data):
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise TableUnreadable("XLSX 文件已损坏或不是 Excel 工作簿") from exc
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        header = [_clean(h) for h in next(iterator)]
    except StopIteration:
        workbook.close()
        raise TableUnreadable("工作表是空的") from None

    def rows():
        try:
            for line, values in enumerate(iterator, start=2):
                if line > MAX_ROWS:
                    raise TableUnreadable(f"文件超过 {MAX_ROWS} 行")
                cells = [_clean(v) for v in values]
                if not any(cells):
                    continue
                yield Row(line, {h: (cells[i] if i < len(cells) else "") for i, h in enumerate(header) if h})
        finally:
            workbook.close()

    return header, rows()


def safe_text(value):
    """A user's text as a cell Excel will show, never run."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(header: Sequence[str], rows: Iterable[Sequence]) -> bytes:
    """UTF-8 with BOM, so Excel on Chinese Windows opens it without garbling."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([safe_text(v) if isinstance(v, str) else ("" if v is None else v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def write_xlsx(sheets: Sequence[tuple[str, Sequence[str], Iterable[Sequence], Sequence[int]]]) -> bytes:
    """An XLSX with one sheet per (title, header, rows, column widths): frozen header, set widths.

    Strings are written as inline strings (never formulas); numbers stay numbers.
    """
    workbook = Workbook(write_only=True)
    for title, header, rows, widths in sheets:
        sheet = workbook.create_sheet(title=title[:31])
        sheet.freeze_panes = "A2"
        for index, width in enumerate(widths):
            sheet.column_dimensions[_column(index)].width = width
        sheet.append(list(header))
        for row in rows:
            sheet.append([_xlsx_cell(v) for v in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _xlsx_cell(value):
    if isinstance(value, str):
        # openpyxl treats a string beginning with "=" as a formula: keep the user's text as text.
        return safe_text(value)
    return value


def _column(index):
    return get_column_letter(index + 1)

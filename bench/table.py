"""The one table ``make bench`` prints: per row ours, the limit it is compared with, the ratio.

A row module is ``bench/rows/<name>.py`` with a function ``rows() -> list[Row]`` that starts what
it measures itself (loopback ports, temporary directories) and measures ours and the reference
side by side in the same run. ``python -m bench.run`` runs every row module in name order and
prints the table; ``python -m bench.run <name> …`` runs only the named ones.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

# KEPU_BENCH_QUICK=1: row modules use smaller sizes and fewer rounds (a quick check, not a figure).
QUICK = os.environ.get("KEPU_BENCH_QUICK") == "1"


@dataclass
class Row:
    path: str  # what is measured, e.g. "upload (tus, through the app) into S3"
    ours: float
    unit: str  # "MB/s", "s", "ms", "req/s", "MB"
    limit_label: str  # what ours is compared with, e.g. "boto3 multipart upload of the same bytes"
    limit: float | None  # the reference measured in the same run (same unit), None for absolute targets
    target: str  # as the issue writes it, e.g. "≥ 0.8×", "≤ 150 MB"
    met: bool
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.limit:
            return None
        return self.ours / self.limit


def format_table(rows: list[Row]) -> str:
    lines = [
        "| path | ours | the limit it is compared with | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        limit = f"{row.limit_label}: {row.limit:.2f} {row.unit}" if row.limit is not None else row.limit_label
        ratio = f"{row.ratio:.2f}×" if row.ratio is not None else "–"
        met = "yes" if row.met else "NO"
        note = f" ({row.note})" if row.note else ""
        ours = "–" if math.isnan(row.ours) else f"{row.ours:.2f} {row.unit}"
        lines.append(f"| {row.path} | {ours} | {limit} | {ratio} | {row.target} | {met}{note} |")
    return "\n".join(lines)

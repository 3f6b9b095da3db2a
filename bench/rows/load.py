"""Row module for ``make bench``: the 3-minute load test (bench/load/run.py) against the
production profile. Ours is the throughput held with zero failed requests and nothing lost; its
table of requests/s and p50/p95 per endpoint is printed as it runs."""

from __future__ import annotations

from bench.load.run import measure
from bench.table import Row

SECONDS = 180


def rows() -> list[Row]:
    report = measure(SECONDS)
    print(report.table(), flush=True)
    search = next((e for e in report.endpoints if e.name == "/api/v1/search"), None)
    note = (
        f"{report.total.requests} requests, {report.total.failures} failed, "
        f"{report.server_errors} server errors; "
        f"{report.uploads} uploads ({report.processed} processed, {report.failed_with_reason} failed with a "
        f"reason, {len(report.unfinished)} lost); {report.downloads_checked} downloads checked by SHA-256 "
        f"({report.downloads_bad} differ); p50/p95 all {report.total.p50:.0f}/{report.total.p95:.0f} ms"
        + (f", search {search.p50:.0f}/{search.p95:.0f} ms" if search else "")
    )
    return [
        Row(
            path="load: 50 stations + 5 uploading institutions + 2 reviewers, 3 min, 2 web + 2 workers",
            ours=report.total.rps,
            unit="req/s",
            limit_label="zero failed requests, nothing lost",
            limit=None,
            target="0 errors, nothing lost",
            met=report.ok,
            note=note,
        )
    ]

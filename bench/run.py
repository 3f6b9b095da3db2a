"""``make bench``: run every row module of ``bench/rows`` in name order and print the one table.

    .venv/bin/python -m bench.run               # every row
    .venv/bin/python -m bench.run psd search    # only these row modules
    KEPU_BENCH_QUICK=1 .venv/bin/python -m bench.run   # smaller sizes, for a quick check

A row module that fails (an exception, a server that would not start, ``sys.exit``) is printed as
a row "not measured: <reason>" and the others still run, so the table is always printed. Each
module's own progress goes to stdout as it runs; the table comes last.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
import sys
import time
import traceback

from bench import rows as row_modules
from bench.table import Row, format_table


def discover() -> list[str]:
    """The row modules' names, in name order."""
    return sorted(info.name for info in pkgutil.iter_modules(row_modules.__path__) if not info.ispkg)


def not_measured(name: str, exc: BaseException) -> Row:
    reason = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:200] if str(exc) else type(exc).__name__
    return Row(
        path=name,
        ours=math.nan,
        unit="",
        limit_label=f"not measured: {reason}",
        limit=None,
        target="–",
        met=False,
    )


def run(names: list[str]) -> list[Row]:
    table: list[Row] = []
    for name in names:
        started = time.monotonic()
        print(f"== bench.rows.{name}", flush=True)
        try:
            module = importlib.import_module(f"bench.rows.{name}")
            got = list(module.rows())
            if not got:
                raise RuntimeError("the module returned no row")
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # SystemExit too: one failing row must not lose the table
            traceback.print_exc()
            got = [not_measured(name, exc)]
        print(f"== bench.rows.{name}: {time.monotonic() - started:.0f} s", flush=True)
        table.extend(got)
    return table


def main(argv: list[str] | None = None) -> int:
    names = list(sys.argv[1:] if argv is None else argv)
    known = discover()
    unknown = [name for name in names if name not in known]
    if unknown:
        print(f"unknown row module(s): {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    started = time.monotonic()
    table = run(names or known)
    print()
    print(format_table(table))
    missed = [row.path for row in table if not row.met]
    print(f"\n{len(table)} rows in {time.monotonic() - started:.0f} s; {len(missed)} missed or not measured")
    return 0


if __name__ == "__main__":
    sys.exit(main())

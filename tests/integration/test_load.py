"""The load test, shortened to 30 s: 50 stations, 5 uploading institutions and 2 reviewers against
the production profile (2 web processes, 2 workers) with zero failed requests, every upload ended
processed or failed with a reason, every download byte-identical (issue 13, item 5). The full
3-minute run is a row of ``make bench`` (bench/rows/load.py); no timing is asserted here."""

import pytest

from bench.load.run import run_load

pytestmark = pytest.mark.production


def test_thirty_seconds_of_province_load_lose_nothing(app, database_url, tmp_path, capsys):
    report = run_load(database_url, 30, tmp_path)
    with capsys.disabled():
        print("\n" + report.table())
    assert report.ok, report.table()
    assert report.server_errors == 0 and report.total.failures == 0
    assert report.uploads and not report.unfinished
    assert report.downloads_checked and not report.downloads_bad

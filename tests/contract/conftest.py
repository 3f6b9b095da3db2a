"""The contract tests' report: how many requests schemathesis generated, in the run's summary."""

CASES_PROPERTY = "generated_cases"


def pytest_terminal_summary(terminalreporter):
    counts = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            for name, value in getattr(report, "user_properties", ()):
                if name == CASES_PROPERTY and getattr(report, "when", "call") == "call":
                    counts[report.nodeid] = value
    if counts:
        terminalreporter.write_sep(
            "-", f"schemathesis: {sum(counts.values())} generated requests over {len(counts)} API operations"
        )

"""One module per row (or group of rows) of the benchmark table: see bench/table.py."""

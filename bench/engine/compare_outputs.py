#!/usr/bin/env python3
"""Checks the all-cached benchmark's outputs before any figure is reported.

    compare_outputs.py INPUT.csv ENRICHED.csv DUCKDB.csv [ADDED=5]

ENRICHED (ctia-enrich) must be INPUT with ADDED fields appended to every record, the original
fields unchanged; DUCKDB must have the same rows, in the same order, with the same original
fields (as values: DuckDB re-quotes) and the same ADDED fields. Prints a summary and exits 1 at
the first difference, naming the row.
"""
import csv
import sys
from collections import Counter

def main():
    inp, ours, duck = sys.argv[1:4]
    added = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    statuses = Counter()
    with open(inp, newline="") as fi, open(ours, newline="") as fo, open(duck, newline="") as fd:
        ri, ro, rd = csv.reader(fi), csv.reader(fo), csv.reader(fd)
        n = 0
        for row_in, row_ours, row_duck in zip(ri, ro, rd):
            if row_ours[:-added] != row_in:
                sys.exit(f"row {n}: ctia-enrich changed the input fields: {row_ours!r} vs {row_in!r}")
            if row_duck[:-added] != row_in:
                sys.exit(f"row {n}: DuckDB changed the input fields: {row_duck!r} vs {row_in!r}")
            if row_ours[-added:] != row_duck[-added:]:
                sys.exit(f"row {n}: added fields differ: ctia-enrich {row_ours[-added:]!r}, "
                         f"DuckDB {row_duck[-added:]!r}")
            if n > 0:
                statuses[row_ours[-1]] += 1
            n += 1
        for name, reader in (("input", ri), ("ctia-enrich", ro), ("DuckDB", rd)):
            if next(reader, None) is not None:
                sys.exit(f"{name} has more rows than the others after {n}")
    print(f"verified: {n - 1} data rows, same order, input fields kept, same {added} added "
          f"fields in both outputs; statuses {dict(sorted(statuses.items()))}")

main()

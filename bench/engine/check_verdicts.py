#!/usr/bin/env python3
"""Checks an enriched CSV against a verdict table before its run's figures are reported.

    check_verdicts.py INPUT.csv ENRICHED.csv VERDICTS.csv COLUMN

VERDICTS.csv is synthetic-journal's table (value,disposition,disposition_name,judgement_id,
valid_until,status). Every data row of ENRICHED must be the INPUT row plus the table's five
fields for the row's COLUMN value (status "skipped" for a value not in the table).
"""
import csv
import sys

def main():
    inp, ours, verdicts, column = sys.argv[1:5]
    with open(verdicts, newline="") as f:
        reader = csv.reader(f)
        next(reader)
        table = {row[0]: row[1:] for row in reader}
    with open(inp, newline="") as fi, open(ours, newline="") as fo:
        ri, ro = csv.reader(fi), csv.reader(fo)
        header = next(ri)
        next(ro)
        index = header.index(column)
        n = 0
        for row_in, row_ours in zip(ri, ro):
            n += 1
            want = table.get(row_in[index], ["", "", "", "", "skipped"])
            if row_ours != row_in + want:
                sys.exit(f"data row {n}: got {row_ours!r}, want {row_in + want!r}")
        if next(ri, None) is not None or next(ro, None) is not None:
            sys.exit(f"row counts differ after {n} data rows")
    print(f"verified: {n} data rows, in order, each with the verdict ctia-sim gives its {column}")

main()

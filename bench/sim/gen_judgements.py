#!/usr/bin/env python3
"""Writes N judgements as NDJSON for `ctia-sim --seed`, plus the verdicts ctia-sim must give
for a sample of their observables (computed here by CTIA's rule, reference §2.4).

    bench/sim/gen_judgements.py N OUT.ndjson EXPECTED.tsv

Observables: domains, IPv4 addresses and SHA-256 hashes, in turn. Every fifth observable gets
a second judgement: a winner by priority (95 over 90), or one that expired in 2020 (no effect
on the verdict). Values of every seventh observable are stored in mixed case. Ids are
judgement-<uuid> derived from the line number, so verdicts can be checked exactly.
EXPECTED.tsv lines: type, value to ask (lower case), expected disposition (or 404), expected
judgement id."""
import hashlib
import sys

SOURCES = ["feed-a", "feed-b", "feed-c", "feed-d", "analyst", "sandbox", "honeypot", "partner"]


def uuid_of(n):
    h = hashlib.blake2b(n.to_bytes(8, "little"), digest_size=16).hexdigest()
    return f"judgement-{h[0:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def observable(i):
    kind = i % 3
    if kind == 0:
        value = f"host-{i}.example"
        t = "domain"
    elif kind == 1:
        value = f"10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
        t = "ip"
        # 10.x.y.z repeats after 2^24: keep values unique by adding a suffix octet range.
        if i >= (1 << 24):
            value = f"11.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}"
    else:
        value = hashlib.sha256(i.to_bytes(8, "little")).hexdigest()
        t = "sha256"
    stored = value.upper() if i % 7 == 0 and t != "ip" else value
    return t, value, stored


def line(n, t, stored, disposition, priority, start, end=None):
    vt = f'"start_time":"{start}"' + (f',"end_time":"{end}"' if end else "")
    return (f'{{"id":"{uuid_of(n)}","observable":{{"type":"{t}","value":"{stored}"}},'
            f'"source":"{SOURCES[n % len(SOURCES)]}","priority":{priority},'
            f'"confidence":"High","severity":"Medium","disposition":{disposition},'
            f'"tlp":"green","valid_time":{{{vt}}}}}\n')


def main():
    n_total = int(sys.argv[1])
    out_path, expected_path = sys.argv[2], sys.argv[3]
    written = 0
    i = 0
    sample_every = max(1, n_total // 40)
    with open(out_path, "w") as out, open(expected_path, "w") as expected:
        buf = []
        while written < n_total:
            t, value, stored = observable(i)
            d1 = 1 + (i * 7) % 5
            buf.append(line(written, t, stored, d1, 90, "2024-01-01T00:00:00.000Z"))
            winner = (written, d1)
            written += 1
            if i % 5 == 0 and written < n_total:
                d2 = 1 + (i * 3) % 5
                if i % 10 == 0:  # a higher priority wins
                    buf.append(line(written, t, stored, d2, 95, "2024-06-01T00:00:00.000Z"))
                    winner = (written, d2)
                else:  # expired long ago: ignored by the verdict
                    buf.append(line(written, t, stored, d2, 100, "2019-01-01T00:00:00.000Z",
                                    "2020-01-01T00:00:00.000Z"))
                written += 1
            if i % sample_every == 0:
                expected.write(f"{t}\t{value}\t{winner[1]}\t{uuid_of(winner[0])}\n")
            if len(buf) >= 10000:
                out.write("".join(buf))
                buf.clear()
            i += 1
        out.write("".join(buf))
        # Observables that were never written: no verdict.
        for k in range(3):
            t, value, _ = observable(i + k)
            expected.write(f"{t}\t{value}\t404\t-\n")
    print(f"gen_judgements: {written} judgements on {i} observables -> {out_path}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rank tender bids by the committee's weighted scoring rule (scoring.yaml)."""
import argparse
import csv
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent


def weights(path):
    out, inside = {}, False
    for line in path.read_text().splitlines():
        if line.startswith("weights:"):
            inside = True
            continue
        m = re.match(r"^\s+(\w+):\s*([0-9.]+)", line)
        if inside and m:
            out[m.group(1)] = float(m.group(2))
        elif inside and line and not line.startswith(" "):
            inside = False
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--bids", default=HERE / "bids.csv", type=pathlib.Path)
    ap.add_argument("--rule", default=HERE / "scoring.yaml", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, help="write the ranking as CSV here")
    args = ap.parse_args()
    w = weights(args.rule)
    rows = list(csv.DictReader(args.bids.open()))
    for r in rows:
        r["score"] = round(sum(w[k] * float(r[k]) for k in w), 4)
    rows.sort(key=lambda r: -r["score"])
    lines = [["rank", "bid_id", "supplier", "score"]]
    lines += [[i, r["bid_id"], r["supplier"], r["score"]] for i, r in enumerate(rows, 1)]
    for line in lines:
        print(",".join(map(str, line)))
    if args.out:
        with args.out.open("w", newline="") as f:
            csv.writer(f).writerows(lines)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Score member-loan applications with the credit committee's rule (scoring_rule.yaml)."""
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
    ap.add_argument("--applications", default=HERE / "applications.csv", type=pathlib.Path)
    ap.add_argument("--rule", default=HERE / "scoring_rule.yaml", type=pathlib.Path)
    ap.add_argument("--out", type=pathlib.Path, help="write the ranked list as CSV here")
    args = ap.parse_args()
    w = weights(args.rule)
    rows = list(csv.DictReader(args.applications.open(encoding="utf-8")))
    for r in rows:
        r["score"] = round(sum(w[k] * float(r[k]) for k in w), 4)
    rows.sort(key=lambda r: -r["score"])
    table = [["rank", "app_id", "member", "amount_eur", "score"]]
    table += [[i, r["app_id"], r["member"], r["amount_eur"], r["score"]] for i, r in enumerate(rows, 1)]
    for line in table:
        print(",".join(map(str, line)))
    if args.out:
        with args.out.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows(table)


if __name__ == "__main__":
    main()

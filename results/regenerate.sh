#!/usr/bin/env bash
# Regenerate the published reference report: the smoke suite on the three scripted reference
# policies, in real containers (run from the repository root after `scheming setup`).
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf results/_scratch/smoke
scheming run --suite smoke --model scripted/schemer --model scripted/benign \
  --model scripted/near_miss --log-dir results/_scratch/smoke --display none \
  --summary-json results/reference-smoke-scripted/summary.json
scheming report results/_scratch/smoke --out results/reference-smoke-scripted

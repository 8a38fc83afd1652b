#!/usr/bin/env bash
# Generates the review desk's benchmark database: 1,000,000 findings, page
# and registry, before the desk has taken them in (bench/desk_bench.sh takes
# them in, once per binary compared).
#
#   1. registry: bench/registry_gen.py writes REG_RECORDS registration records
#      (default 450,000, flag rates 0.2 / 0.3 / 0.1: about 173,000 flagged);
#      `finscan registry scan --db RAW` stores the flagged companies;
#   2. pages: `examples/desk_gen.rs` commits pages with 4 hits each through
#      the crawler's own commit (page record, hits, done mark; bodies
#      stored), TOTAL minus the flagged companies, over 5,000 sites, with
#      two reserved sets of exactly 10,000 findings (campus-lending,
#      down-payment-loan).
#
# Usage: bash bench/desk_gen.sh [RAW_DIR] [TOTAL]
#   RAW_DIR  default ${FINSCAN_BENCH_DIR:-/tmp/desk-bench}/raw (about 1.5 GB)
#   TOTAL    default 1000000
# Needs: cargo, python3. Prints the generator's JSON summary; writes
# RAW_DIR.json with the counts.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${FINSCAN_BENCH_DIR:-/tmp/desk-bench}"
RAW="${1:-$WORK/raw}"
TOTAL="${2:-1000000}"
REG_RECORDS="${REG_RECORDS:-450000}"
mkdir -p "$WORK"
[ -e "$RAW" ] && { echo "$RAW exists: remove it first" >&2; exit 2; }

# FINSCAN_BIN / DESK_GEN: binaries already built (else built here)
if [ -z "${FINSCAN_BIN:-}" ] || [ -z "${DESK_GEN:-}" ]; then
  cargo build --release --quiet --bin finscan --example desk_gen
fi
BIN="${FINSCAN_BIN:-$PWD/target/release/finscan}"
GEN="${DESK_GEN:-$PWD/target/release/examples/desk_gen}"

CSV="$WORK/registry_desk_$REG_RECORDS.csv"
[ -s "$CSV" ] || python3 bench/registry_gen.py "$REG_RECORDS" "$CSV" 0.2 0.3 0.1
# exit 1 means "flagged companies found", as for a scan
"$BIN" registry scan --db "$RAW" "$CSV" > /dev/null 2> "$WORK/registry_scan.txt" || [ $? -eq 1 ]
FLAGGED=$(grep -o '[0-9]* flagged' "$WORK/registry_scan.txt" | head -1 | cut -d' ' -f1)
PAGES_FINDINGS=$((TOTAL - FLAGGED))
echo "registry: $FLAGGED flagged companies; pages: $PAGES_FINDINGS hits" >&2
"$GEN" --db "$RAW" --findings "$PAGES_FINDINGS" --sites 5000 --threads 2 | tee "$RAW.json"

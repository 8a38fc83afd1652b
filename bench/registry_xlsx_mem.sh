#!/usr/bin/env bash
# Does an XLSX import's memory grow with the sheet? Converts the first N
# records of a generated registry CSV (bench/registry_gen.py) to XLSX with
# openpyxl for a small and a large N, and reports finscan's peak RSS on each.
#
# usage: bash bench/registry_xlsx_mem.sh [SMALL] [LARGE]   (needs: python3 with openpyxl)
set -euo pipefail
cd "$(dirname "$0")/.."
SMALL="${1:-20000}"
LARGE="${2:-200000}"
WORK="${FINSCAN_BENCH_DIR:-${TMPDIR:-/tmp}/finscan-xlsx-bench}"
mkdir -p "$WORK"
cargo build --release --quiet
BIN="$PWD/target/release/finscan"
CSV="$WORK/registry_$LARGE.csv"
[ -s "$CSV" ] || python3 bench/registry_gen.py "$LARGE" "$CSV"
echo "| records | XLSX size (MB) | seconds | peak RSS (MB) |"
echo "|---:|---:|---:|---:|"
for N in "$SMALL" "$LARGE"; do
  X="$WORK/registry_$N.xlsx"
  [ -s "$X" ] || python3 - "$CSV" "$X" "$N" <<'PY'
import csv, sys
from openpyxl import Workbook
src, dst, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
wb = Workbook(write_only=True)
ws = wb.create_sheet("企业名单")
with open(src, encoding="utf-8-sig", newline="") as f:
    for i, row in enumerate(csv.reader(f)):
        if i > n:
            break
        ws.append(row)
wb.save(dst)
PY
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$BIN" registry scan --no-store --json "$X" > /dev/null 2>&1 || true
  read -r secs rss < <(tail -1 "$WORK/time.txt")
  size=$(python3 -c "import os,sys; print(f'{os.path.getsize(sys.argv[1])/1e6:.1f}')" "$X")
  echo "| $N | $size | $secs | $((rss / 1024)) |"
done

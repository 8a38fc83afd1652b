#!/usr/bin/env bash
# How `hits list` grows with the desk: page findings only (examples/desk_gen
# through the crawler's commit), taken in, then sled's own open
# (examples/sled_open_cost --count) and RUNS times
#   finscan hits list --status new --category guaranteed-return --limit 50
# with wall time, CPU time and peak RSS from /usr/bin/time.
#
# Usage: bash bench/desk_scale.sh [N ...]   (default: 10000 100000)
#   env: RUNS (5), FINSCAN_BIN (target/release/finscan), FINSCAN_BENCH_DIR
# Prints one Markdown row per N.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${FINSCAN_BENCH_DIR:-/tmp/desk-bench}"
RUNS="${RUNS:-5}"
[ $# -ge 1 ] || set -- 10000 100000
cargo build --release --quiet --bin finscan --example desk_gen --example sled_open_cost
BIN="${FINSCAN_BIN:-$PWD/target/release/finscan}"
mkdir -p "$WORK"
echo "| page findings | sled keys | sled open ms / MB | take-in s (CPU s) | list median wall s | list median CPU s | list peak RSS MB |"
echo "|---:|---:|---:|---:|---:|---:|---:|"
for n in "$@"; do
  db="$WORK/scale-$n"
  rm -rf "$db"
  target/release/examples/desk_gen --db "$db" --findings "$n" > /dev/null 2>&1
  # finscan and /usr/bin/time share stderr: time's line is the last
  take=$( { /usr/bin/time -f "%e %U %S" "$BIN" hits list --db "$db" --limit 1 > /dev/null; } 2>&1 | tail -1)
  probe=$(target/release/examples/sled_open_cost "$db" --count)
  rows=""
  for _ in $(seq "$RUNS"); do
    rows+=$( { /usr/bin/time -f "%e %U %S %M" "$BIN" hits list --db "$db" --status new \
      --category guaranteed-return --limit 50 > /dev/null; } 2>&1 | tail -1)$'\n'
  done
  python3 - "$n" "$probe" "$take" "$rows" <<'EOF'
import json, statistics, sys
n, probe, take, rows = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split("\n")
runs = [r.split() for r in rows if r.strip()]
wall = statistics.median(float(r[0]) for r in runs)
cpu = statistics.median(float(r[1]) + float(r[2]) for r in runs)
rss = max(int(r[3]) for r in runs) / 1024
print(f"| {int(n):,} | {probe['keys']:,} | {probe['open_ms']:.0f} / {probe['peak_rss_mb_at_open']} | "
      f"{float(take[0]):.1f} ({float(take[1]) + float(take[2]):.1f}) | {wall:.2f} | {cpu:.2f} | {rss:.0f} |")
EOF
  rm -rf "$db"
done

#!/usr/bin/env bash
# finscan registry scan vs ripgrep on the same registry export, same terms.
#
# Generates N realistic registration records (default 1,000,000, ~335 MB CSV)
# with bench/registry_gen.py, takes the terms of the name and scope rules from
# `finscan rules terms`, and runs, RUNS times each, interleaved:
#   rg -c -F -f TERMS FILE                                (count matching lines: reads the whole file)
#   finscan registry scan --no-store --json FILE          (parse CSV, validate codes, attribute
#                                                          counties, scan name + scope, rank, print JSON)
#   finscan registry scan --db DIR --json FILE            (the same, storing flagged companies in sled)
# rg and both finscan runs are repeated on a second file with the flag rates
# of the real sample's source (~4.6 % of records flagged instead of 12.6 %).
# Peak RSS comes from /usr/bin/time -v. Prints medians and the finscan/rg ratio
# as a Markdown table (paste into BENCHMARKS.md).
#
# Usage: bash bench/registry_bench.sh [N] [RUNS]      (needs: cargo, python3, rg, /usr/bin/time)
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-1000000}"
RUNS="${2:-3}"
WORK="${FINSCAN_BENCH_DIR:-${TMPDIR:-/tmp}/finscan-registry-bench}"
mkdir -p "$WORK"
DATA="$WORK/registry_$N.csv"            # stress mix: 12.6 % of records flagged
REAL="$WORK/registry_real_$N.csv"       # mix of the real sample's source: ~4 % flagged
command -v rg >/dev/null || { echo "ripgrep missing: apt-get install -y ripgrep" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 2; }

cargo build --release --quiet
BIN="$PWD/target/release/finscan"
[ -s "$DATA" ] || python3 bench/registry_gen.py "$N" "$DATA"
[ -s "$REAL" ] || python3 bench/registry_gen.py "$N" "$REAL" 0.0025 0.04 0.05
TERMS="$WORK/terms.txt"
{ "$BIN" rules terms --field name; "$BIN" rules terms --field scope; } | sort -u > "$TERMS"

measure() { # label, command... → appends "label seconds rss_kb" to $WORK/times
  local label="$1"; shift
  local log="$WORK/time.log"
  /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$log" || true
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$log")
  echo "$label $wall $rss $cpu $(cut -d' ' -f1 /proc/loadavg)" >> "$WORK/times"
}

rm -f "$WORK/times"
for _ in $(seq "$RUNS"); do
  cat "$DATA" > /dev/null   # same warm page cache for everyone
  measure rg rg -c -F -f "$TERMS" "$DATA"
  measure finscan "$BIN" registry scan --no-store --json "$DATA"
  measure finscan-1t "$BIN" registry scan --threads 1 --no-store --json "$DATA"
  rm -rf "$WORK/db"
  measure finscan-db "$BIN" registry scan --db "$WORK/db" --json "$DATA"
  cat "$REAL" > /dev/null
  measure rg-real rg -c -F -f "$TERMS" "$REAL"
  measure finscan-real "$BIN" registry scan --no-store --json "$REAL"
  rm -rf "$WORK/db"
  measure finscan-db-real "$BIN" registry scan --db "$WORK/db" --json "$REAL"
done
"$BIN" registry scan --no-store --json "$DATA" 2> "$WORK/summary.txt" | wc -l > "$WORK/flagged.txt" || true

python3 - "$WORK/times" "$DATA" "$TERMS" "$N" "$RUNS" "$WORK/summary.txt" <<'PY'
import statistics, sys, os, collections, datetime, subprocess
times, data, terms, n, runs, summary = sys.argv[1:7]
rows = collections.defaultdict(list)
loads = []
for line in open(times):
    label, wall, rss, cpu, load = line.split()
    rows[label].append((float(wall), int(rss), float(cpu)))
    loads.append(float(load))
med = {k: statistics.median(w for w, _, _ in v) for k, v in rows.items()}
fastest = {k: min(w for w, _, _ in v) for k, v in rows.items()}
cpu = {k: statistics.median(c for _, _, c in v) for k, v in rows.items()}
rss = {k: max(r for _, r, _ in v) for k, v in rows.items()}
size = os.path.getsize(data) / 1e6
nterms = sum(1 for _ in open(terms))
rg_version = subprocess.run(["rg", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
print(f"### finscan registry scan vs ripgrep — {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC\n")
print(f"Input: {int(n):,} generated records (`bench/registry_gen.py`), {size:.0f} MB CSV; {nterms} terms "
      f"(`finscan rules terms --field name` + `--field scope`). Machine: {os.cpu_count()} cores, {model}; {rg_version}. "
      f"Median of {runs} interleaved runs, warm page cache. The machine is shared: 1-minute load average "
      f"during the runs {min(loads):.1f}–{max(loads):.1f} on {os.cpu_count()} cores, so CPU time (user+sys) is "
      f"given beside wall time.\n")
print("Besides medians: the fastest run of each (contention on a shared host only slows a run down), and the")
print("median of the per-round ratios (each finscan run over the rg run of the same round, a few seconds apart).\n")
print("| command | median wall (s) | fastest wall (s) | median CPU (s) | MB/s (wall) | records/s (wall) | peak RSS (MB) | wall vs rg | per-round wall vs rg | fastest vs fastest rg | CPU vs rg |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
cmds = {"rg": f"rg -c -F -f terms.txt registry_{n}.csv",
        "finscan": f"finscan registry scan --no-store --json registry_{n}.csv > out",
        "finscan-1t": f"finscan registry scan --threads 1 --no-store --json registry_{n}.csv > out",
        "finscan-db": f"finscan registry scan --db DIR --json registry_{n}.csv > out",
        "rg-real": f"rg -c -F -f terms.txt registry_real_{n}.csv",
        "finscan-real": f"finscan registry scan --no-store --json registry_real_{n}.csv > out",
        "finscan-db-real": f"finscan registry scan --db DIR --json registry_real_{n}.csv > out"}
for k in ["rg", "finscan", "finscan-1t", "finscan-db", "rg-real", "finscan-real", "finscan-db-real"]:
    base = "rg-real" if k.endswith("real") else "rg"
    if k in med:
        paired = statistics.median(a[0] / b[0] for a, b in zip(rows[k], rows[base]))
        print(f"| `{cmds[k]}` | {med[k]:.2f} | {fastest[k]:.2f} | {cpu[k]:.2f} | {size / med[k]:.0f} | {int(n) / med[k]:,.0f} | "
              f"{rss[k] / 1024:.1f} | {med[k] / med[base]:.2f}× | {paired:.2f}× | {fastest[k] / fastest[base]:.2f}× | {cpu[k] / cpu[base]:.2f}× |")
print()
print("finscan summary: " + open(summary).read().strip().splitlines()[-2] if len(open(summary).read().strip().splitlines()) > 1 else open(summary).read().strip())
PY

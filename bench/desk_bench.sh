#!/usr/bin/env bash
# The review desk over 1,000,000 findings (issue 14's speed bar), two
# finscan binaries side by side in the same run, on one database (their
# layouts must agree; it is 5 GB, and copies do not fit beside it).
#
# Prepare (once, with the first binary, skipped when BASE exists):
#   copy RAW (bench/desk_gen.sh) to BASE, then, timed:
#   take-in   `hits list --limit 1`: the first command after generation
#             makes the findings of the page hits and the flagged companies
#   confirm   `review --confirm --where category=campus-lending --yes`:
#             10,000 findings confirmed, what the takedown export lists
#
# Then RUNS rounds, the binaries alternating within each round, peak RSS
# and times from /usr/bin/time -v:
#   open      `hits show ID` right after a new crawl generation was
#             committed (desk_gen commits 4 pages again, same hits): the
#             sync pass after a recrawl (first round only)
#   sled-open examples/sled_open_cost on BASE: sled's own open, no finscan
#   list      `hits list --status new --category guaranteed-return --limit 50`
#   list-json the same with --json
#   list-sel  `hits list --status confirmed --category campus-lending --limit 50`
#   show      `hits show ID`
#   takedown  `export takedown --category campus-lending --format xlsx`:
#             the 10,000 confirmed findings
#   review    `review --confirm --where rule=R --where source=page --yes`:
#             10,000 new findings, a reserved rule of its own each run
#             (desk_gen's reserved sets, from RAW.json)
#
# Usage: bash bench/desk_bench.sh LABEL=BINARY [LABEL=BINARY ...]
#   env: RUNS (5), FINSCAN_BENCH_DIR (/tmp/desk-bench), RAW (its raw/),
#        BASE (its base/), PREPARE_ONLY=1 (stop after preparing)
# Prints a Markdown table of medians (and every run) to stdout; the
# figures go to $FINSCAN_BENCH_DIR/prep-times and times.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK="${FINSCAN_BENCH_DIR:-/tmp/desk-bench}"
RAW="${RAW:-$WORK/raw}"
BASE="${BASE:-$WORK/base}"
RUNS="${RUNS:-5}"
[ -d "$RAW" ] || { echo "no $RAW: run bench/desk_gen.sh first" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time missing: apt-get install -y time" >&2; exit 2; }
[ $# -ge 1 ] || { echo "usage: $0 LABEL=BINARY [LABEL=BINARY ...]" >&2; exit 2; }
cargo build --release --quiet --example sled_open_cost --example desk_gen
PROBE="$PWD/target/release/examples/sled_open_cost"
GEN="$PWD/target/release/examples/desk_gen"

# the base databases' preparation keeps its figures across runs
PREP="$WORK/prep-times"
TIMES="$WORK/times"
touch "$PREP"
measure() { # label binary-label command... → "label bin wall_s rss_mb cpu_s" in $TIMES
  local what="$1" who="$2"; shift 2
  local log="$WORK/time.log"
  if ! /usr/bin/time -v "$@" > "$WORK/out.txt" 2> "$log"; then
    grep -q "Exit status: 1$" "$log" || { echo "$what/$who failed:" >&2; tail -5 "$log" >&2; exit 1; }
  fi
  local wall rss cpu
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f", $2/1024}' "$log")
  cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {printf "%.2f", s}' "$log")
  echo "$what $who $wall $rss $cpu" >> "$TIMES"
  echo "$what $who ${wall}s ${rss}MB cpu ${cpu}s" >&2
}

declare -A BIN
LABELS=()
for a in "$@"; do
  BIN[${a%%=*}]="${a#*=}"
  LABELS+=("${a%%=*}")
done

if [ ! -d "$BASE" ]; then
  l="${LABELS[0]}"
  rm -rf "$BASE.tmp"
  cp -a "$RAW" "$BASE.tmp"
  : > "$PREP"
  TIMES="$PREP" measure take-in "$l" "${BIN[$l]}" hits list --db "$BASE.tmp" --limit 1
  TIMES="$PREP" measure confirm "$l" "${BIN[$l]}" review --db "$BASE.tmp" --reviewer bench --confirm \
    --where category=campus-lending --yes
  mv "$BASE.tmp" "$BASE"
fi
[ -n "${PREPARE_ONLY:-}" ] && exit 0
: > "$TIMES"

# a page finding to show: the first row of the list
db="$BASE"
ID=$("${BIN[${LABELS[0]}]}" hits list --db "$db" --status new \
  --category guaranteed-return --limit 1 --json 2>/dev/null | head -1 |
  python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["id"])')
# the reserved rules still new, one per batch
mapfile -t RULES < <(python3 -c '
import json, sys
for s in json.load(open(sys.argv[1]))["reserved"][1:]:
    print(s["rule"])' "$RAW.json")
next_rule=0
pick_rule() { # the next reserved rule with new findings
  while [ "$next_rule" -lt "${#RULES[@]}" ]; do
    local r="${RULES[$next_rule]}"
    next_rule=$((next_rule + 1))
    if "${BIN[${LABELS[0]}]}" hits list --db "$db" --status new --rule "$r" --limit 1 2>/dev/null | grep -q .; then
      RULE="$r"
      return 0
    fi
  done
  echo "no reserved rule left with new findings: regenerate with more --rule-sets" >&2
  exit 1
}

for round in $(seq "$RUNS"); do
  for l in "${LABELS[@]}"; do
    b="${BIN[$l]}"
    if [ "$round" = 1 ]; then
      # a recrawl: a new generation commits 4 pages already stored (same hits)
      "$GEN" --db "$db" --findings 16 --sites 5000 > /dev/null 2>&1
      measure open "$l" "$b" hits show --db "$db" "$ID"
    fi
    measure sled-open "$l" "$PROBE" "$db"
    measure list "$l" "$b" hits list --db "$db" --status new --category guaranteed-return --limit 50
    measure list-json "$l" "$b" hits list --db "$db" --status new --category guaranteed-return --limit 50 --json
    measure list-sel "$l" "$b" hits list --db "$db" --status confirmed --category campus-lending --limit 50
    measure show "$l" "$b" hits show --db "$db" "$ID"
    measure takedown "$l" "$b" export takedown --db "$db" --category campus-lending \
      --format xlsx --out "$WORK/takedown-$l.xlsx"
    pick_rule
    measure review "$l" "$b" review --db "$db" --reviewer bench --confirm \
      --where "rule=$RULE" --where source=page --yes
    grep -q "10000 of 10000 finding(s)" "$WORK/time.log" || { echo "review of $RULE was not 10,000 findings" >&2; exit 1; }
  done
done

python3 - "$PREP" "$TIMES" "${LABELS[@]}" <<'EOF'
import statistics, sys
from collections import defaultdict
paths, labels = sys.argv[1:3], sys.argv[3:]
runs = defaultdict(list)
for path in paths:
    for line in open(path):
        what, who, wall, rss, cpu = line.split()
        runs[(what, who)].append((float(wall), int(rss), float(cpu)))
order = ["take-in", "confirm", "open", "sled-open", "list", "list-json", "list-sel", "show", "review", "takedown"]
base = labels[-1]
print("| step | binary | runs | median wall s | median CPU s | peak RSS MB (max) | wall vs " + base + " | all wall s |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for what in order:
    for who in labels:
        r = runs.get((what, who))
        if not r:
            continue
        w = statistics.median(x[0] for x in r)
        c = statistics.median(x[2] for x in r)
        m = max(x[1] for x in r)
        b = runs.get((what, base))
        ratio = f"{w / statistics.median(x[0] for x in b):.2f}×" if b else ""
        print(f"| {what} | {who} | {len(r)} | {w:.2f} | {c:.2f} | {m} | {ratio} | {', '.join(f'{x[0]:.2f}' for x in r)} |")
EOF

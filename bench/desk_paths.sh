#!/usr/bin/env bash
# The reviewer's desk at 1,000,000 findings, by the three ways a reviewer
# can reach it, in one run (issue 14):
#   direct  the command opens the database itself (no server running)
#   server  the command goes through `finscan serve`, which has the
#           database open (its RSS is read from /proc: VmRSS after the
#           open, VmHWM at the end of the round)
#   sqlite  the peer: the same findings in SQLite (bench/desk_peer.py)
# Steps, each RUNS times per path, wall / CPU / peak RSS by /usr/bin/time:
#   list      hits list --status new --category guaranteed-return --limit 50
#   review    a batch of 10,000: the page findings of one rule dismissed,
#             then reopened, in turn (every run is 10,000 decisions)
#   takedown  export takedown --category campus-lending --format xlsx
#             (10,000 confirmed findings, one row per site)
#
# Usage: bash bench/desk_paths.sh DB
#   DB: a database made by bench/desk_gen.sh (1,000,000 findings, page
#   and registry; its reserved rule sets: page.self-financing new,
#   page.campus-lending confirmed). It is changed: reviews are recorded.
#   env: RUNS (5), FINSCAN_BIN (target/release/finscan), WORK (a temp dir),
#   REUSE_PEER=1 (keep WORK's SQLite copy from an earlier run)
# Needs python3 with openpyxl (pip install openpyxl) for the peer's XLSX.
set -euo pipefail
cd "$(dirname "$0")/.."
DB=$(realpath "${1:?usage: bench/desk_paths.sh DB}")
RUNS="${RUNS:-5}"
BIN=$(realpath "${FINSCAN_BIN:-target/release/finscan}")
PEER="$PWD/bench/desk_peer.py"
WORK="${WORK:-$(mktemp -d)}"
mkdir -p "$WORK"
RULE=page.self-financing
TIMES="$WORK/times"
: > "$TIMES"
python3 -c "import openpyxl" 2>/dev/null || { echo "pip install openpyxl (the peer writes XLSX with it)" >&2; exit 1; }
if pgrep -f "finscan serve --config $WORK/serve.toml" > /dev/null; then
  echo "a server from an earlier run still has $DB open" >&2; exit 1
fi

# measure PATH STEP CMD...: one timed run, its line in $TIMES
measure() {
  local path=$1 step=$2
  shift 2
  /usr/bin/time -o "$WORK/time.one" -f "%e %U %S %M" "$@" > "$WORK/out.one" 2> "$WORK/err.one" || {
    echo "$path $step failed:" >&2; cat "$WORK/err.one" >&2; exit 1; }
  echo "$path $step $(cat "$WORK/time.one")" >> "$TIMES"
}

# the state the next review takes the rule's findings from, and to
state=new
review_args() {
  if [ "$state" = new ]; then echo "--dismiss"; else echo "--reopen --note bench"; fi
}
flip() { if [ "$state" = new ]; then state=dismissed; else state=new; fi; }

if [ -s "$WORK/peer.sqlite" ] && [ -n "${REUSE_PEER:-}" ]; then
  echo "peer: the SQLite copy of an earlier run ($WORK/peer.sqlite)" >&2
else
  echo "peer: loading the findings into SQLite" >&2
  rm -f "$WORK"/peer.sqlite*
  env -u FINSCAN_SERVER -u FINSCAN_TOKEN "$BIN" hits list --db "$DB" --json > "$WORK/all.jsonl"
  python3 "$PEER" build "$WORK/all.jsonl" "$WORK/peer.sqlite" >&2
  rm "$WORK/all.jsonl"
fi

# steps PATH: the three steps through finscan, direct or through a server
# (FINSCAN_SERVER set)
steps() {
  local path=$1
  measure "$path" list "$BIN" hits list --db "$DB" --status new --category guaranteed-return --limit 50
  # shellcheck disable=SC2046
  measure "$path" review "$BIN" review --db "$DB" --reviewer bench $(review_args) \
    --where "rule=$RULE" --where source=page --yes
  grep -q "10000 of 10000" "$WORK/err.one" || { cat "$WORK/err.one" >&2; exit 1; }
  flip
  measure "$path" takedown "$BIN" export takedown --db "$DB" --category campus-lending \
    --format xlsx --out "$WORK/$path.xlsx"
}

cat > "$WORK/serve.toml" <<EOF
[server]
db = "$DB"
listen = "127.0.0.1:0"
EOF
TOKEN=$("$BIN" token add bench --role admin --config "$WORK/serve.toml" 2>/dev/null)

for round in $(seq "$RUNS"); do
  echo "round $round of $RUNS" >&2
  export -n FINSCAN_SERVER FINSCAN_TOKEN 2>/dev/null || true
  unset FINSCAN_SERVER FINSCAN_TOKEN
  steps direct

  # server
  rm -f "$DB/serve.json"
  "$BIN" serve --config "$WORK/serve.toml" > /dev/null 2> "$WORK/serve.log" &
  spid=$!
  for _ in $(seq 600); do
    [ -s "$DB/serve.json" ] && grep -q "\"pid\":$spid" "$DB/serve.json" && break
    sleep 0.1
  done
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$DB/serve.json")
  until curl -sf "$url/health" > /dev/null; do sleep 0.1; done
  open_rss=$(awk '/VmRSS/ {print $2}' "/proc/$spid/status")
  export FINSCAN_SERVER="$url" FINSCAN_TOKEN="$TOKEN"
  steps server
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$spid/status")
  echo "server-process open $open_rss $hwm" >> "$TIMES"
  kill -TERM "$spid"
  wait "$spid" || true
  unset FINSCAN_SERVER FINSCAN_TOKEN

  # the peer
  measure sqlite list python3 "$PEER" list "$WORK/peer.sqlite" new guaranteed-return
  measure sqlite review python3 "$PEER" review "$WORK/peer.sqlite" "$RULE"
  grep -q "reviewed 10000" "$WORK/out.one" || { cat "$WORK/out.one" >&2; exit 1; }
  measure sqlite takedown python3 "$PEER" takedown "$WORK/peer.sqlite" campus-lending "$WORK/peer.xlsx"
done
# leave the rule's findings new, as found
if [ "$state" = dismissed ]; then
  "$BIN" review --db "$DB" --reviewer bench --reopen --note bench --where "rule=$RULE" \
    --where source=page --yes 2> /dev/null
fi

python3 - "$TIMES" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
med = lambda xs: statistics.median(xs)
print("| step | path | runs | median wall s | median CPU s | peak RSS MB (max) | wall vs sqlite | all wall s |")
print("|---|---|---:|---:|---:|---:|---:|---|")
for step in ["list", "review", "takedown"]:
    peer = med(float(r[2]) for r in rows if r[0] == "sqlite" and r[1] == step)
    for path in ["direct", "server", "sqlite"]:
        rs = [r for r in rows if r[0] == path and r[1] == step]
        wall = [float(r[2]) for r in rs]
        cpu = med(float(r[3]) + float(r[4]) for r in rs)
        rss = max(int(r[5]) for r in rs) / 1024
        print(f"| {step} | {path} | {len(rs)} | {med(wall):.3f} | {cpu:.2f} | {rss:.0f} | "
              f"{med(wall) / peer:.1f}× | {', '.join(f'{w:.2f}' for w in wall)} |")
srv = [r for r in rows if r[0] == "server-process"]
if srv:
    print()
    print(f"server process: RSS after opening the database {med(int(r[2]) for r in srv) / 1024:.0f} MB "
          f"(median of {len(srv)}), peak over a round {max(int(r[3]) for r in srv) / 1024:.0f} MB (max)")
EOF

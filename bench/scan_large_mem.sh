#!/bin/sh
# Peak memory and time of `finscan scan` on one large single-line file (no
# line break: the windows must be cut at sentences), against the same
# file's size. The file is generated here (never committed).
#
# Usage: bench/scan_large_mem.sh [MB] [KIND] [-- FINSCAN ARGS...]
#   MB    file size in MB (default 200)
#   KIND  ordinary: clean sentences with one promotion every ~26 KB (default)
#         dense:    a violation in nearly every sentence (保本保息, stated
#                   yields with varying rates, sign-up bonuses, a pattern
#                   that needs another rule's hit): about 15,000 hits per MB
#   FINSCAN ARGS  default: --json
# Env: FINSCAN_BIN (default target/release/finscan): one binary, or several
#      separated by spaces (e.g. main's and a branch's), run side by side on
#      the same file, alternating;
#      RUNS (default 1): how many times each binary runs.
# Prints one line per run: binary, peak RSS (MiB), wall, user and system
# seconds, output lines.
set -eu
MB=${1:-200}
KIND=${2:-ordinary}
shift $(( $# < 2 ? $# : 2 ))
[ "${1:-}" = "--" ] && shift
[ $# -eq 0 ] && set -- --json
BIN=${FINSCAN_BIN:-target/release/finscan}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/big.txt" "$MB" "$KIND" <<'PY'
import sys
path, mb, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
limit = mb * 1_000_000
with open(path, "wb") as f:
    n = 0
    if kind == "ordinary":
        promo = "本平台承诺保本保息，预期年化收益率高达18%，平台设立资金池统一调配。"
        clean = "今天天气很好，我们一起去公园散步，看看湖边的风景。各单位要合理分配资金，提高使用效率。"
        block = (clean * 200 + promo).encode()
        while n < limit:
            f.write(block)
            n += len(block)
    elif kind == "dense":
        tmpl = [
            "本平台承诺保本保息，年化收益{a}.{b}%。",
            "投资{n}万元，每月到手{m}元，稳赚不赔！",
            "月息{k}分，按月付息，资金池统一调配。",
            "新用户注册即送{m}元体验金，日息0.{d}%。",
            "预期年化收益率高达{a}%，随存随取。",
            "底层资产为{u}个月的经营贷款。",
        ]
        i = 0
        while n < limit:
            s = tmpl[i % len(tmpl)].format(
                a=11 + i % 37, b=i % 10, n=1 + i % 50, m=300 + i % 900,
                k=2 + i % 3, d=1 + i % 9, u=12 + i % 48).encode()
            f.write(s)
            n += len(s)
            i += 1
        f.write("锁定期仅7天，之后可随时赎回。".encode())
    else:
        sys.exit(f"unknown kind {kind!r}: ordinary or dense")
PY
ls -l "$DIR/big.txt"
RUNS=${RUNS:-1}
run=1
while [ "$run" -le "$RUNS" ]; do
    for bin in $BIN; do
        /usr/bin/time -v "$bin" scan "$@" "$DIR/big.txt" >"$DIR/out.txt" 2>"$DIR/time.txt" || true
        awk -v bin="$bin" -v run="$run" -v lines="$(wc -l <"$DIR/out.txt")" '
            /Maximum resident/ { rss = $NF / 1024 }
            /Elapsed/ { wall = $NF }
            /User time/ { user = $NF }
            /System time/ { sys = $NF }
            END { printf "run %d  %s  peak %.0f MiB  wall %s  user %s s  sys %s s  lines %d\n", run, bin, rss, wall, user, sys, lines }
        ' "$DIR/time.txt"
        grep -E "^finscan:" "$DIR/time.txt" || true
    done
    run=$((run + 1))
done

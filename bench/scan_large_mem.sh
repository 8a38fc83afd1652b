#!/bin/sh
# Peak memory of `finscan scan` on one large single-line file (no line
# break: the windows must be cut at sentences), against the same file's
# size. The file is generated here (never committed).
#
# Usage: bench/scan_large_mem.sh [MB]   (default 200)
set -eu
MB=${1:-200}
BIN=${FINSCAN_BIN:-target/release/finscan}
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
python3 - "$DIR/big.txt" "$MB" <<'PY'
import sys
path, mb = sys.argv[1], int(sys.argv[2])
promo = "本平台承诺保本保息，预期年化收益率高达18%，平台设立资金池统一调配。"
clean = "今天天气很好，我们一起去公园散步，看看湖边的风景。各单位要合理分配资金，提高使用效率。"
block = (clean * 200 + promo).encode()
with open(path, "wb") as f:
    n = 0
    while n < mb * 1_000_000:
        f.write(block)
        n += len(block)
PY
ls -l "$DIR/big.txt"
/usr/bin/time -v "$BIN" scan --json "$DIR/big.txt" >"$DIR/out.jsonl" 2>"$DIR/time.txt" || true
grep -E "Maximum resident|Elapsed" "$DIR/time.txt"
echo "hit lines: $(wc -l <"$DIR/out.jsonl")"

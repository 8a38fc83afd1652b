#!/usr/bin/env bash
# `finscan serve` under load (issue 15): 50 reviewers listing and deciding
# for 30 seconds while a crawl job runs, against nginx serving the same
# listing as a static file (the ceiling of an HTTP stack on this machine).
#
# Load tool: wrk (Debian package `wrk`, 4.x). Chosen over oha because it
# comes as a distribution package (no cargo build of a second tool on a
# 2-core machine), and its Lua hooks let one script mix listings with
# review decisions that depend on earlier answers (a finding is reopened
# only after its dismissal came back) and count answers by status; it
# reports latency percentiles (--latency) and socket errors. Its latency
# is measured from the moment a request is written (no correction for
# coordinated omission); its default 2 s timeout counts slower answers as
# errors.
#
# Each run, in its own temp dir:
#   1. a generated site of N pages (every third with a violation: 保本保息,
#      年化收益率高达18%, 资金池 …), served by `python3 -m http.server` on
#      127.0.0.1, crawled under two made-up host names (--resolve);
#   2. the database: `finscan demo` plus a crawl of the site as
#      seedsite.test (rate limit off), so that listings page through a few
#      hundred findings; a reference crawl of loadsite.test, standalone,
#      into a fresh database: the finding count the crawl job must make;
#   3. a config with a crawl job of loadsite.test (no schedule; rate_per_host
#      RATE, so that it lasts longer than the load), a reviewer and an admin
#      token; `finscan serve` started, the findings' ids fetched (each wrk
#      thread owns its share), the job started with POST /api/jobs/NAME/run;
#   4. wrk -t THREADS -c CONNS -d DURATION with bench/serve_load.lua, while
#      the server's RSS is sampled from /proc (VmHWM at the end: the peak);
#   5. once the job has ended: its findings listed through the API
#      (site=loadsite.test) against the reference count, nothing lost or
#      doubled under load; the listing saved; the server stopped (SIGTERM);
#   6. the peer: nginx serving that saved listing as a static file, the same
#      wrk load (GETs only, it has nothing to decide) for the same duration.
# The reference crawl runs with the rate limit off (the only option that
# differs from the job's: it changes the timing, not what is found).
#
# Prints one Markdown table row per run and the medians; a run with an
# error, a peak RSS over MAX_RSS_MB or a count unlike the reference makes
# the script exit 1 (after all runs).
#
# usage: bench/serve_load.sh   (env: RUNS=3 N=400 RATE=10 CONNS=50 THREADS=2
#        DURATION=30 MAX_RSS_MB=150 FINSCAN=target/release/finscan KEEP=1)
# needs: wrk (apt-get install -y wrk), nginx (apt-get install -y nginx),
#        curl, python3.
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-400}
RATE=${RATE:-10}
CONNS=${CONNS:-50}
THREADS=${THREADS:-2}
DURATION=${DURATION:-30}
MAX_RSS_MB=${MAX_RSS_MB:-150}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
FINSCAN=${FINSCAN:-$REPO/target/release/finscan}
LUA=$HERE/serve_load.lua
JOB=load-crawl

for tool in wrk nginx curl python3; do
  command -v "$tool" >/dev/null || {
    echo "serve_load: $tool not found; install it (Debian: apt-get install -y $tool)" >&2
    exit 2
  }
done
[ -x "$FINSCAN" ] || (cd "$REPO" && cargo build --release)
COMMIT=$(git -C "$REPO" rev-parse --short HEAD)$(git -C "$REPO" diff --quiet HEAD -- src Cargo.toml Cargo.lock || echo "+dirty")

TOP=$(mktemp -d /tmp/finscan-serve-load.XXXXXX)
chmod 755 "$TOP" # nginx's worker (www-data when started as root) reads the listing in it
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$TOP/nginx/nginx.pid" ] && nginx -p "$TOP/nginx" -c "$TOP/nginx/nginx.conf" -s quit 2>/dev/null || true
  [ -n "${KEEP:-}" ] || rm -rf "$TOP"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
json_get() { python3 -c 'import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1].split("."): v=v[int(k)] if k.isdigit() else v[k]
print(v)' "$1"; }

# ---------------------------------------------------------------- the site
SITE=$TOP/site
python3 - "$SITE" "$N" <<'EOF'
import os, random, sys
site, n = sys.argv[1], int(sys.argv[2])
random.seed(15)
words = ("平台 出借 借款 项目 风控 团队 用户 服务 信息 中介 透明 合规 银行 存管 资金 "
         "信用 评估 审核 还款 逾期 披露 公告 运营 报告 年度 季度 客户 协议 隐私 安全").split()
bad = ["本平台承诺保本保息，本息保障。", "年化收益率高达18%，注册送体验金！",
       "平台设立资金池，资金统一调配。", "保证收益，稳赚不赔，随时兑付。"]
def path(i):
    return "/index.html" if i == 0 else f"/p/{i}.html"
os.makedirs(site + "/p", exist_ok=True)
for i in range(n):
    kids = [k for k in (2 * i + 1, 2 * i + 2, i + 1) if k < n]
    links = "".join(f'<li><a href="{path(k)}">第{k}页</a></li>' for k in kids)
    paras = "".join("<p>" + "".join(random.choice(words) for _ in range(40)) + "。</p>" for _ in range(4))
    if i % 3 == 0:
        paras += "<p>" + bad[i // 3 % len(bad)] + "</p>"
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>页面{i}</title></head><body>'
            f'<h1>示例平台 第{i}页</h1>{paras}<ul>{links}</ul></body></html>')
    with open(site + path(i), "w", encoding="utf-8") as f:
        f.write(page)
with open(site + "/robots.txt", "w") as f:
    f.write("User-agent: *\nAllow: /\n")
EOF
SITE_PORT=$(free_port)
python3 -m http.server "$SITE_PORT" --bind 127.0.0.1 --directory "$SITE" > "$TOP/site.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$SITE_PORT/robots.txt" && break; sleep 0.1; done

crawl() { # HOST DB: the site crawled under HOST, rate limit off
  printf 'http://%s:%s/\n' "$1" "$SITE_PORT" > "$TOP/seeds-$1.txt"
  "$FINSCAN" crawl --seeds "$TOP/seeds-$1.txt" --db "$2" --resolve "$1:$SITE_PORT:127.0.0.1" \
    --allow-private --rate-per-host 0 --max-depth 100 --timeout 20 --json > "$TOP/crawl-$1.json" 2> "$TOP/crawl-$1.err" || [ $? -le 1 ] || {
    echo "serve_load: crawl of $1 failed:" >&2; tail -5 "$TOP/crawl-$1.err" >&2; exit 1; }
}
count_lines() { "$FINSCAN" hits list --db "$1" --host "$2" --json 2>/dev/null | wc -l; }

# the reference: the job's crawl standalone, once (the site does not change)
crawl loadsite.test "$TOP/reference"
REFERENCE=$(count_lines "$TOP/reference" loadsite.test)
[ "$REFERENCE" -gt 0 ] || { echo "serve_load: the reference crawl found nothing" >&2; exit 1; }

# ---------------------------------------------------------------- nginx (the peer)
NG=$TOP/nginx; mkdir -p "$NG/logs" "$NG/www/api"
NGINX_PORT=$(free_port)
cat > "$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/json;
  sendfile on; keepalive_requests 1000000;
  server { listen 127.0.0.1:$NGINX_PORT; root $NG/www; }
}
EOF
nginx -p "$NG" -c "$NG/nginx.conf"

us_to_ms() { awk -v u="$1" 'BEGIN { printf "%.1f", u / 1000 }'; }

ROWS=$TOP/rows.tsv; : > "$ROWS"
FAILED=0
echo "| run | date (UTC) | commit | finscan req/s | p50 ms | p99 ms | errors | lists / reviews | server peak RSS MB | crawl findings vs reference | crawl ran through the load | nginx req/s | nginx p50 / p99 ms | finscan / nginx |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for run in $(seq 1 "$RUNS"); do
  W=$TOP/run$run; mkdir -p "$W"
  "$FINSCAN" demo --db "$W/db" > "$W/demo.log" 2>&1 || [ $? -le 1 ] || { echo "serve_load: finscan demo failed" >&2; exit 1; }
  crawl seedsite.test "$W/db"
  cat > "$W/finscan.toml" <<EOF
[server]
db = "db"
listen = "127.0.0.1:0"
tz = "Asia/Shanghai"

[[jobs]]
name = "$JOB"
kind = "crawl"
[jobs.options]
urls = ["http://loadsite.test:$SITE_PORT/"]
resolve = ["loadsite.test:$SITE_PORT:127.0.0.1"]
allow_private = true
rate_per_host = $RATE
max_depth = 100
timeout = 20.0
EOF
  REVIEWER=$("$FINSCAN" token add load-reviewer --role reviewer --config "$W/finscan.toml" 2>/dev/null)
  ADMIN=$("$FINSCAN" token add load-admin --role admin --config "$W/finscan.toml" 2>/dev/null)

  TZ=Asia/Shanghai "$FINSCAN" serve --config "$W/finscan.toml" --log-format json > "$W/serve.out" 2> "$W/serve.log" &
  SERVER=$!; PIDS+=("$SERVER")
  URL=
  for _ in $(seq 300); do
    URL=$(python3 -c 'import json,sys; v=json.load(open(sys.argv[1])); print(v["url"] if v["pid"]==int(sys.argv[2]) else "")' \
      "$W/db/serve.json" "$SERVER" 2>/dev/null || true)
    [ -n "$URL" ] && curl -sf -o /dev/null "$URL/health" && break
    sleep 0.1
  done
  [ -n "$URL" ] || { echo "serve_load: the server did not start:" >&2; tail -5 "$W/serve.log" >&2; exit 1; }
  api() { curl -sS -f -H "Authorization: Bearer $1" "${@:3}" "$URL$2"; }

  # the findings to decide on: those there before the crawl, dealt out by thread
  api "$REVIEWER" "/api/findings?status=new&limit=10000" \
    | python3 -c 'import json,sys; [print(f["id"]) for f in json.load(sys.stdin)["findings"]]' > "$W/ids.txt"
  BEFORE=$(wc -l < "$W/ids.txt")

  RUN_ID=$(api "$ADMIN" "/api/jobs/$JOB/run" -X POST | json_get run)
  ( while kill -0 "$SERVER" 2>/dev/null; do
      awk '/^VmRSS/ {print $2}' "/proc/$SERVER/status" 2>/dev/null || true; sleep 0.5
    done > "$W/rss.txt" ) &
  SAMPLER=$!

  FINSCAN_LOAD_TOKEN=$REVIEWER FINSCAN_LOAD_IDS=$W/ids.txt FINSCAN_LOAD_THREADS=$THREADS \
    wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency -s "$LUA" "$URL" > "$W/wrk.txt" 2> "$W/wrk.err"
  # was the crawl still running when the load ended?
  THROUGH=$(api "$ADMIN" "/api/jobs/$JOB/runs?limit=1" | json_get runs.0.outcome)
  [ "$THROUGH" = running ] && THROUGH=yes || THROUGH="no ($THROUGH)"

  OUTCOME=running
  for _ in $(seq 1200); do
    OUTCOME=$(api "$ADMIN" "/api/jobs/$JOB/runs?limit=1" | json_get runs.0.outcome)
    [ "$OUTCOME" != running ] && break
    sleep 0.5
  done
  api "$ADMIN" "/api/jobs/$JOB/runs?limit=1" > "$W/job-run.json"
  CRAWLED=$(api "$REVIEWER" "/api/findings?site=loadsite.test&limit=10000" \
    | python3 -c 'import json,sys; v=json.load(sys.stdin); assert not v["more"]; ids=[f["id"] for f in v["findings"]]; assert len(set(ids))==len(ids), "an id twice"; print(len(ids))')
  HWM_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER/status")
  # the listing the peer serves: the first of the Lua script's listings
  api "$REVIEWER" "/api/findings?limit=50" > "$NG/www/api/findings"
  kill -TERM "$SERVER"; wait "$SERVER" || true
  wait "$SAMPLER" 2>/dev/null || true

  wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency \
    -s /dev/stdin "http://127.0.0.1:$NGINX_PORT/api/findings" > "$W/wrk-nginx.txt" 2>&1 <<'EOF'
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("LOAD requests=%d rps=%.1f p50_us=%d p99_us=%d status_errors=%d connect=%d read=%d write=%d timeout=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50), latency:percentile(99),
    e.status, e.connect, e.read, e.write, e.timeout))
end
EOF

  field() { grep -o "[ ]$2=[0-9.]*" "$1" | head -1 | cut -d= -f2; }
  L=$W/wrk.txt; G=$W/wrk-nginx.txt
  grep -q '^LOAD ' "$L" || { echo "serve_load: wrk printed no result:" >&2; cat "$L" "$W/wrk.err" >&2; exit 1; }
  RPS=$(field "$L" rps); P50=$(us_to_ms "$(field "$L" p50_us)"); P99=$(us_to_ms "$(field "$L" p99_us)")
  ERRS=$(( $(field "$L" status_errors) + $(field "$L" connect) + $(field "$L" read) + $(field "$L" write) + $(field "$L" timeout) ))
  NRPS=$(field "$G" rps); NP50=$(us_to_ms "$(field "$G" p50_us)"); NP99=$(us_to_ms "$(field "$G" p99_us)")
  NERRS=$(( $(field "$G" status_errors) + $(field "$G" connect) + $(field "$G" read) + $(field "$G" write) + $(field "$G" timeout) ))
  RSS_MB=$(awk -v k="$HWM_KB" 'BEGIN { printf "%.0f", k / 1024 }')
  RATIO=$(awk -v a="$RPS" -v b="$NRPS" 'BEGIN { printf "%.3f", a / b }')
  DATE=$(date -u '+%Y-%m-%d %H:%M')
  VERDICT=""
  [ "$ERRS" -eq 0 ] || VERDICT="$VERDICT errors"
  [ "$NERRS" -eq 0 ] || VERDICT="$VERDICT nginx-errors"
  [ "$HWM_KB" -le $((MAX_RSS_MB * 1024)) ] || VERDICT="$VERDICT rss"
  [ "$CRAWLED" -eq "$REFERENCE" ] || VERDICT="$VERDICT count"
  [ "$OUTCOME" = ok ] || VERDICT="$VERDICT job-$OUTCOME"
  [ -z "$VERDICT" ] || { FAILED=1; echo "serve_load: run $run failed:$VERDICT (files in $W; KEEP=1 keeps them)" >&2; }
  echo "| $run | $DATE | \`$COMMIT\` | $RPS | $P50 | $P99 | $ERRS | $(field "$L" lists) / $(field "$L" reviews) | $RSS_MB | $CRAWLED vs $REFERENCE | $THROUGH | $NRPS | $NP50 / $NP99 | $RATIO |"
  # the server's own latency (its request log), listings and decisions apart
  python3 - "$W/serve.log" "$run" >> "$TOP/split.md" <<'EOF'
import json, sys
by = {"GET /api/findings": [], "POST /api/findings/{id}/review": []}
for line in open(sys.argv[1], encoding="utf-8"):
    v = json.loads(line)
    if v.get("message") != "request" or not v["path"].startswith("/api/findings"):
        continue
    by["POST /api/findings/{id}/review" if v["method"] == "POST" else "GET /api/findings"].append(v["latency_ms"])
for k, xs in by.items():
    xs.sort()
    q = lambda p: xs[min(len(xs) - 1, int(len(xs) * p))]
    print(f"| {sys.argv[2]} | {k} | {len(xs)} | {q(0.5):.1f} | {q(0.99):.1f} | {xs[-1]:.1f} |")
EOF
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$RPS" "$P50" "$P99" "$RSS_MB" "$NRPS" "$RATIO" "$BEFORE" >> "$ROWS"
done

median() { cut -f"$1" "$ROWS" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "| **median of $RUNS** | | | **$(median 1)** | **$(median 2)** | **$(median 3)** | | | **$(median 4)** | | | **$(median 5)** | | **$(median 6)** |"
echo
echo "Server-side latency from its request log (ms, request read to response written):"
echo
echo "| run | endpoint | requests | p50 ms | p99 ms | max ms |"
echo "|---|---|---|---|---|---|"
cat "$TOP/split.md"
echo
echo "Setup: $N-page site (reference crawl: $REFERENCE findings on loadsite.test), $(cut -f7 "$ROWS" | head -1) findings decided on, wrk -t$THREADS -c$CONNS -d${DURATION}s, crawl job rate_per_host = $RATE."
exit "$FAILED"

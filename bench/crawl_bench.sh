#!/usr/bin/env bash
# Crawl speed and memory: finscan vs Scrapy vs wget on one generated site.
#
# Generates a static site of N (default 20,000) linked HTML pages of Chinese
# text (every 10th page with a violation), serves it with nginx on
# 127.0.0.1, and crawls it, one tool after another, REPEAT times each:
#   * finscan crawl, rate limit off (--rate-per-host 0), concurrency C;
#   * Scrapy, a minimal spider following every link, robots.txt obeyed,
#     CONCURRENT_REQUESTS = CONCURRENT_REQUESTS_PER_DOMAIN = C;
#   * wget --recursive (one connection; it has no concurrency setting).
# Each run is timed with /usr/bin/time -v (wall time, peak RSS). A last
# finscan run stops at N/4 pages, to show its peak RSS does not grow with the
# frontier. Results: a Markdown table on stdout and in $OUT.
#
# usage: bench/crawl_bench.sh   (env: N, C, REPEAT, PORT, WORK, OUT, FINSCAN)
# needs: nginx (apt-get install -y nginx), scrapy (pip install scrapy), wget.
set -euo pipefail

N=${N:-20000}
C=${C:-16}
REPEAT=${REPEAT:-3}
PORT=${PORT:-18089}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
WORK=${WORK:-/tmp/finscan-crawl-bench}
OUT=${OUT:-$HERE/../target/crawl-bench-results.md}  # copy the figures into BENCHMARKS.md
FINSCAN=${FINSCAN:-$REPO/target/release/finscan}
HOST=bench.finscan.test

for tool in nginx scrapy wget /usr/bin/time python3; do
  command -v "$tool" >/dev/null || { echo "crawl_bench: $tool not found" >&2; exit 2; }
done
[ -x "$FINSCAN" ] || (cd "$REPO" && cargo build --release)

mkdir -p "$WORK"
SITE=$WORK/site

# ---------------------------------------------------------------- the site
if [ ! -f "$SITE/.complete-$N" ]; then
  rm -rf "$SITE"; mkdir -p "$SITE"
  python3 - "$SITE" "$N" <<'EOF'
import os, random, sys
site, n = sys.argv[1], int(sys.argv[2])
random.seed(7)
words = ("平台 出借 借款 项目 风控 团队 用户 服务 信息 中介 透明 合规 银行 存管 资金 "
         "信用 评估 审核 还款 逾期 披露 公告 运营 报告 年度 季度 客户 协议 隐私 安全").split()
bad = ["本平台承诺保本保息，本息保障。", "年化收益率高达18%，注册送体验金！", "平台设立资金池，资金统一调配。"]
def path(i):
    return "/index.html" if i == 0 else f"/p/{i // 1000}/{i}.html"
for i in range(n):
    kids = [k for k in (2 * i + 1, 2 * i + 2, i + 1, random.randrange(n)) if k < n]
    links = "".join(f'<li><a href="{path(k)}">第{k}页</a></li>' for k in kids)
    paras = "".join("<p>" + "".join(random.choice(words) for _ in range(60)) + "。</p>" for _ in range(8))
    if i % 10 == 0:
        paras += "<p>" + bad[i // 10 % 3] + "</p>"
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>页面{i}</title></head><body>'
            f'<h1>示例平台 第{i}页</h1>{paras}<ul>{links}</ul>'
            f'<div class="footer">主办单位：示例信息科技有限公司 陕ICP备12345678号-1</div></body></html>')
    p = site + path(i)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w", encoding="utf-8") as f:
        f.write(page)
with open(os.path.join(site, "robots.txt"), "w") as f:
    f.write("User-agent: *\nDisallow: /private/\n")
EOF
  touch "$SITE/.complete-$N"
fi
PAGES_ON_DISK=$(find "$SITE" -name '*.html' | wc -l)
BYTES=$(du -sb "$SITE" | cut -f1)

# ---------------------------------------------------------------- nginx
NG=$WORK/nginx; mkdir -p "$NG/logs"
cat > "$NG/nginx.conf" <<EOF
worker_processes 1;
pid $NG/nginx.pid;
error_log $NG/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  default_type application/octet-stream;
  types { text/html html; text/plain txt; }
  sendfile on; keepalive_requests 100000;
  server { listen 127.0.0.1:$PORT; root $SITE; index index.html; }
}
EOF
nginx -p "$NG" -c "$NG/nginx.conf"
trap 'nginx -p "$NG" -c "$NG/nginx.conf" -s quit 2>/dev/null || true' EXIT
sleep 0.5
curl -sf -o /dev/null "http://127.0.0.1:$PORT/index.html" 2>/dev/null || wget -q -O /dev/null "http://127.0.0.1:$PORT/index.html"

# ---------------------------------------------------------------- the crawlers
SPIDER=$WORK/spider.py
cat > "$SPIDER" <<'EOF'
import scrapy

class AllLinks(scrapy.Spider):
    """Follows every link on the site; robots.txt obeyed (ROBOTSTXT_OBEY)."""
    name = "all"

    def __init__(self, start=None, *a, **kw):
        super().__init__(*a, **kw)
        self.start_urls = [start]
        self.allowed_domains = ["127.0.0.1"]

    def parse(self, response):
        yield {"url": response.url}
        for href in response.css("a::attr(href)").getall():
            yield response.follow(href, self.parse)
EOF

printf 'http://%s:%s/index.html\n' "$HOST" "$PORT" > "$WORK/seeds.txt"

RESULTS=$WORK/results.tsv; : > "$RESULTS"
# run NAME KIND(count cmd) -- command...
measure() {
  local name=$1 rep=$2; shift 2
  local tlog=$WORK/time-$name-$rep.txt
  /usr/bin/time -v -o "$tlog" "$@" > "$WORK/out-$name-$rep.txt" 2> "$WORK/err-$name-$rep.txt" || true
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$tlog" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$tlog")
  echo "$wall $rss"
}

for rep in $(seq 1 "$REPEAT"); do
  # finscan
  rm -rf "$WORK/db"
  read -r wall rss < <(measure finscan "$rep" "$FINSCAN" crawl --seeds "$WORK/seeds.txt" --db "$WORK/db" \
      --resolve "$HOST:$PORT:127.0.0.1" --rate-per-host 0 --concurrency "$C" --host-concurrency "$C" --max-depth 1000 --json)
  pages=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['pages_fetched'])" "$WORK/out-finscan-$rep.txt")
  echo -e "finscan\t$rep\t$pages\t$wall\t$rss" | tee -a "$RESULTS"

  # Scrapy
  read -r wall rss < <(measure scrapy "$rep" scrapy runspider "$SPIDER" -a start="http://127.0.0.1:$PORT/index.html" \
      -s ROBOTSTXT_OBEY=True -s CONCURRENT_REQUESTS="$C" -s CONCURRENT_REQUESTS_PER_DOMAIN="$C" -s DOWNLOAD_DELAY=0 \
      -s LOG_LEVEL=INFO -s TELNETCONSOLE_ENABLED=False -s DEPTH_LIMIT=0)
  pages=$(grep -o "'response_received_count': [0-9]*" "$WORK/err-scrapy-$rep.txt" | grep -o '[0-9]*$' || echo 0)
  pages=$((pages - 1)) # robots.txt
  echo -e "scrapy\t$rep\t$pages\t$wall\t$rss" | tee -a "$RESULTS"

  # wget
  rm -rf "$WORK/wget"
  read -r wall rss < <(measure wget "$rep" wget --recursive --level=inf --no-verbose -e robots=on \
      -P "$WORK/wget" "http://127.0.0.1:$PORT/index.html")
  pages=$(find "$WORK/wget" -name '*.html' | wc -l)
  echo -e "wget\t$rep\t$pages\t$wall\t$rss" | tee -a "$RESULTS"
done

# finscan stopped at a quarter of the site: peak RSS should be about the same.
rm -rf "$WORK/db"
QUARTER=$((N / 4))
read -r wall rss < <(measure finscan-quarter 1 "$FINSCAN" crawl --seeds "$WORK/seeds.txt" --db "$WORK/db" \
    --resolve "$HOST:$PORT:127.0.0.1" --rate-per-host 0 --concurrency "$C" --host-concurrency "$C" --max-depth 1000 \
    --max-pages "$QUARTER" --json)
pages=$(python3 -c "import json,sys; print(json.loads(open(sys.argv[1]).read().splitlines()[-1])['pages_fetched'])" "$WORK/out-finscan-quarter-1.txt")
echo -e "finscan-quarter\t1\t$pages\t$wall\t$rss" | tee -a "$RESULTS"
DBSIZE=$(du -sb "$WORK/db" | cut -f1)

# ---------------------------------------------------------------- report
python3 - "$RESULTS" "$OUT" "$N" "$C" "$REPEAT" "$PAGES_ON_DISK" "$BYTES" "$PORT" "$FINSCAN" <<'EOF'
import collections, datetime, platform, statistics, subprocess, sys
results, out, n, c, repeat, on_disk, size, port, finscan = sys.argv[1:]
rows = collections.defaultdict(list)
for line in open(results):
    name, rep, pages, wall, rss = line.split("\t")
    rows[name].append((int(pages), float(wall), int(rss)))
def med(name, i):
    return statistics.median(r[i] for r in rows[name])
def cpu():
    try:
        for l in open("/proc/cpuinfo"):
            if l.startswith("model name"):
                return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
mem_gb = int(open("/proc/meminfo").readline().split()[1]) / 1024 / 1024
nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
vers = {
    "finscan": subprocess.run([finscan, "--version"], capture_output=True, text=True).stdout.strip(),
    "scrapy": subprocess.run(["scrapy", "version"], capture_output=True, text=True).stdout.strip(),
    "wget": subprocess.run(["wget", "--version"], capture_output=True, text=True).stdout.splitlines()[0],
    "nginx": subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip(),
}
lines = []
lines.append("## Crawl\n")
lines.append(f"Run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC on {cpu()}, {nproc} cores "
             f"(shared with other jobs), {mem_gb:.0f} GB RAM, {platform.system()} {platform.release()}; "
             f"{vers['finscan']}, {vers['scrapy']}, {vers['wget']}, {vers['nginx']}.\n")
lines.append(f"Site: {on_disk} static HTML pages of Chinese text ({int(size)/1e6:.0f} MB, every 10th page with a "
             f"violation, 4 links per page), served by nginx on 127.0.0.1:{port}. Medians of {repeat} runs, "
             f"each tool after the other in the same run; wall time and peak RSS from `/usr/bin/time -v`.\n")
lines.append("Command: `N=%s C=%s REPEAT=%s bench/crawl_bench.sh`, which runs:\n" % (n, c, repeat))
lines.append("```")
lines.append(f"finscan crawl --seeds seeds.txt --db DB --resolve bench.finscan.test:{port}:127.0.0.1 --rate-per-host 0 --concurrency {c} --host-concurrency {c} --max-depth 1000 --json")
lines.append(f"scrapy runspider spider.py -a start=http://127.0.0.1:{port}/index.html -s ROBOTSTXT_OBEY=True -s CONCURRENT_REQUESTS={c} -s CONCURRENT_REQUESTS_PER_DOMAIN={c} -s DOWNLOAD_DELAY=0")
lines.append(f"wget --recursive --level=inf --no-verbose -e robots=on -P DIR http://127.0.0.1:{port}/index.html")
lines.append("```\n")
lines.append("| crawler | pages | seconds | pages/s | peak RSS (MB) |")
lines.append("|---|---:|---:|---:|---:|")
rate = {}
for name in ("finscan", "scrapy", "wget", "finscan-quarter"):
    if name not in rows:
        continue
    pages, wall, rss = med(name, 0), med(name, 1), med(name, 2)
    rate[name] = pages / wall if wall else 0
    label = name if name != "finscan-quarter" else "finscan, stopped at N/4 (`--max-pages`)"
    lines.append(f"| {label} | {pages:.0f} | {wall:.1f} | {rate[name]:.0f} | {rss/1024:.0f} |")
lines.append("")
if rate.get("scrapy"):
    lines.append(f"finscan / Scrapy pages/s: **{rate['finscan']/rate['scrapy']:.1f}×** (target ≥ 3×); "
                 f"finscan / wget: {rate['finscan']/rate['wget']:.1f}×.")
lines.append(f"finscan peak RSS: {med('finscan', 2)/1024:.0f} MB for the whole site (target ≤ 150 MB) vs "
             f"{med('finscan-quarter', 2)/1024:.0f} MB at a quarter of it. The frontier lives in sled and the seen set in a "
             f"file of its own (read and written in place), neither in memory: what grows with the pages crawled is sled's "
             f"cache of the pages, bodies and hits it stores (see BENCHMARKS.md, and bench/crawl_frontier_mem.sh for the "
             f"frontier's own cost). finscan also scans every page and stores pages, compressed bodies and hits "
             f"(the others only fetch).\n")
lines.append("All runs: " + "; ".join(f"{k}: " + ", ".join(f"{p}p/{w:.1f}s/{r//1024}MB" for p, w, r in v) for k, v in rows.items()) + "\n")
text = "\n".join(lines)
open(out, "w").write(text)
print(text)
EOF

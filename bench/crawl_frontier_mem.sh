#!/usr/bin/env bash
# Does finscan's memory grow with the frontier? A generated site where every
# page has 1,000 links, FANOUT of them to new pages (the rest to pages
# linked before); finscan stops after PAGES pages, leaving about
# PAGES × FANOUT URLs queued. The same pages, as large, are fetched for
# every fanout, so the difference in peak RSS (from /usr/bin/time -v) is
# what the frontier (queue and seen set) costs.
#
# usage: bench/crawl_frontier_mem.sh   (env: PAGES, FANOUTS, PORT, FINSCAN)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(dirname "$HERE")
FINSCAN=${FINSCAN:-$REPO/target/release/finscan}
PAGES=${PAGES:-1000}
FANOUTS=${FANOUTS:-10 100 1000}
PORT=${PORT:-18090}
WORK=$(mktemp -d)
SERVER=
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$WORK"' EXIT

serve() { # fanout
  python3 - "$PORT" "$1" <<'EOF' &
import http.server, sys
fanout = int(sys.argv[2])
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/robots.txt":
            body = b"User-agent: *\nAllow: /\n"
        else:
            n = int(self.path.rsplit("/", 1)[-1] or 0) if self.path.startswith("/p/") else 0
            links = "".join(f'<a href="/p/{n * fanout + k + 1 if k < fanout else k}">{k}</a>' for k in range(1000))
            body = f'<html><head><meta charset="utf-8"></head><body><p>第{n}页 资金池</p>{links}</body></html>'.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
  SERVER=$!
  sleep 0.5
}

echo "http://frontier.finscan.test:$PORT/" > "$WORK/seeds.txt"
echo "| pages fetched | new links per page | URLs queued at the end | seconds | peak RSS (MB) |"
echo "|---:|---:|---:|---:|---:|"
for F in $FANOUTS; do
  serve "$F"
  rm -rf "$WORK/db"
  /usr/bin/time -v -o "$WORK/time.txt" "$FINSCAN" crawl --seeds "$WORK/seeds.txt" --db "$WORK/db" \
    --resolve "frontier.finscan.test:$PORT:127.0.0.1" --rate-per-host 0 --concurrency 8 --host-concurrency 8 \
    --max-pages "$PAGES" --max-pages-per-host 100000000 --json > "$WORK/out.json" 2>/dev/null || true
  kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
  python3 - "$WORK/out.json" "$WORK/time.txt" "$F" <<'EOF'
import json, sys
s = json.loads(open(sys.argv[1]).read().splitlines()[-1])
t = {l.split(": ")[0].strip(): l.split(": ")[-1].strip() for l in open(sys.argv[2]) if ": " in l}
print(f"| {s['pages_fetched']} | {sys.argv[3]} | {s['queued']:,} | {s['elapsed_secs']:.1f} | {int(t['Maximum resident set size (kbytes)'])/1024:.0f} |")
EOF
done

#!/usr/bin/env bash
# The periodic report opened in a real browser: builds finscan, crawls the
# demo sites into a temporary database, records a few review decisions, writes
# `finscan report` and takes a screenshot of it with headless Chromium.
#
#   eval/report_screenshot.sh [PNG]      (default: /tmp/report.png)
#
# Installs nothing. Needs `chromium` (Debian: apt-get install chromium).
set -euo pipefail

png=${1:-/tmp/report.png}
here=$(cd "$(dirname "$0")/.." && pwd)

browser=""
for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
    echo "report_screenshot: no chromium found; install it with: apt-get install chromium" >&2
    exit 2
fi

if command -v fc-list >/dev/null 2>&1 && [ -z "$(fc-list :lang=zh 2>/dev/null)" ]; then
    echo "report_screenshot: no Chinese font: the labels will show as boxes (apt-get install fonts-noto-cjk)" >&2
fi

cargo build --release --quiet --manifest-path "$here/Cargo.toml"
finscan="$here/target/release/finscan"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db="$work/db"
"$finscan" demo --db "$db" >/dev/null 2>&1
by=(--reviewer 评估脚本 --yes)
"$finscan" review --db "$db" --confirm --where site=hengxin-licai.example "${by[@]}" >/dev/null
"$finscan" review --db "$db" --notify --deadline 2027-01-31 \
    --where site=hengxin-licai.example --where category=fund-pool "${by[@]}" >/dev/null
"$finscan" review --db "$db" --dismiss --where site=anbao-insurance.example "${by[@]}" >/dev/null

html="$work/report.html"
"$finscan" report --db "$db" --out "$html"

# the file must stand alone: nothing to run, nothing to fetch
if grep -qE '<script|src=|href=|url\(|<link|@import' "$html"; then
    echo "report_screenshot: the report refers to something outside itself" >&2
    exit 1
fi
charts=$(grep -o '<svg' "$html" | wc -l)

# --no-sandbox: the browser may run as root in a container
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --screenshot="$png" --window-size=1200,2400 "file://$html" >/dev/null 2>&1
if [ ! -s "$png" ]; then
    echo "report_screenshot: $browser wrote no screenshot" >&2
    exit 1
fi
echo "report_screenshot: $charts inline SVG chart(s), $(wc -c <"$html") bytes of HTML; screenshot $png ($(wc -c <"$png") bytes)"

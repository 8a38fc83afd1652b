#!/usr/bin/env python3
"""Crawl the saved real sites of ../shared/realdata with finscan and report
coverage against the pages reachable by links, and the hits found.

Each site is served as it was saved (python's http.server on 127.0.0.1, a
random port) under a made-up host name given to finscan with --resolve.
Reachability is computed here, independently of finscan: an HTML parser
follows a/area/frame/iframe links from the same seeds, reading backslashes
as slashes (as browsers and the WHATWG URL standard do for http URLs),
without depth limit. Coverage = reachable existing pages that finscan
fetched / reachable existing pages.

The sites are not in the repository (their licence is unclear); the script
exits 0 with a message when they are absent.

usage: eval/crawl_realdata.py [--bin target/release/finscan] [--realdata DIR]
"""

import argparse
import collections
import html.parser
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

SITES = [
    # (directory, host name, seed paths, charset note)
    ("site-renrendai-mirror-2019/site", "www.renrendai-mirror.test",
     ["/about/contact.htm", "/college/dailyhot.htm", "/help/account.htm"], "UTF-8 + BOM, backslash links"),
    ("sinatay-insurance-gbk-2014/site", "www.sinatay-mirror.test",
     ["/index.html", "/header.html", "/middle.html", "/footer.html"], "GBK, root-relative links"),
    # Its links point at .jsp names (the mirror renamed the files to .html),
    # so few pages are reachable; a second run seeds every saved page to
    # exercise GBK decoding and scanning on all of them.
    ("sinatay-insurance-gbk-2014/site", "www.sinatay-mirror.test", "*", "GBK, every saved page as a seed"),
]


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.base = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "base" and a.get("href"):
            self.base = a["href"]
        if tag in ("a", "area") and a.get("href"):
            self.links.append(a["href"])
        if tag in ("frame", "iframe") and a.get("src"):
            self.links.append(a["src"])


def decode(raw):
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(enc)
        except UnicodeDecodeError:
            pass
    return raw.decode("latin-1")


def norm(url):
    """Scheme/host lower case, backslashes as slashes, no fragment, path unquoted."""
    u = urllib.parse.urlsplit(url.replace("\\", "/"))
    path = urllib.parse.unquote(u.path) or "/"
    # resolve dot segments
    parts = []
    for seg in path.split("/"):
        if seg == "..":
            if len(parts) > 1:
                parts.pop()
        elif seg != ".":
            parts.append(seg)
    path = "/".join(parts) or "/"
    return (u.hostname or "").lower(), path, u.query


def reachable(root, host, seeds):
    """BFS over links from the seeds; returns {(path, query): exists}."""
    seen = {}
    queue = collections.deque((p, "") for p in seeds)
    for s in seeds:
        seen[(s, "")] = None
    while queue:
        path, query = queue.popleft()
        fs = os.path.join(root, path.lstrip("/"))
        if os.path.isdir(fs):
            fs = os.path.join(fs, "index.html")
        exists = os.path.isfile(fs)
        seen[(path, query)] = exists
        if not exists or not fs.endswith((".htm", ".html")):
            continue
        p = Links()
        try:
            p.feed(decode(open(fs, "rb").read()))
        except Exception:
            continue
        base = urllib.parse.urljoin(f"http://{host}{path}", (p.base or "").replace("\\", "/"))
        for href in p.links:
            href = href.strip()
            if not href or href.startswith(("#", "javascript:", "mailto:", "tel:")):
                continue
            absolute = urllib.parse.urljoin(base, href.replace("\\", "/"))
            if not absolute.startswith(("http://", "https://")):
                continue
            h, lp, q = norm(absolute)
            if h != host:
                continue
            if (lp, q) not in seen:
                seen[(lp, q)] = None
                queue.append((lp, q))
    return seen


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(REPO, "target", "release", "finscan"))
    ap.add_argument("--realdata", default=os.environ.get("FINSCAN_REALDATA", os.path.join(REPO, "..", "shared", "realdata")))
    args = ap.parse_args()
    if not os.path.isdir(args.realdata):
        print(f"crawl_realdata: {args.realdata} not found; skipping (the saved sites are not part of the repository)")
        return 0
    if not os.path.exists(args.bin):
        print(f"crawl_realdata: build first: cargo build --release ({args.bin} missing)", file=sys.stderr)
        return 2
    status = 0
    for rel, host, seeds, note in SITES:
        root = os.path.join(args.realdata, rel)
        if not os.path.isdir(root):
            print(f"crawl_realdata: {root} absent; skipping")
            continue
        if seeds == "*":
            seeds = sorted("/" + os.path.relpath(os.path.join(d, f), root)
                           for d, _, fs in os.walk(root) for f in fs if f.endswith((".htm", ".html")))
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", root],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    time.sleep(0.05)
            with tempfile.TemporaryDirectory() as tmp:
                seeds_file = os.path.join(tmp, "seeds.txt")
                with open(seeds_file, "w") as f:
                    f.write("# seeds\n" + "\n".join(f"http://{host}:{port}{s}" for s in seeds) + "\n")
                db = os.path.join(tmp, "db")
                cmd = [args.bin, "crawl", "--seeds", seeds_file, "--db", db, "--resolve", f"{host}:{port}:127.0.0.1",
                       "--rate-per-host", "0", "--host-concurrency", "4", "--concurrency", "4", "--max-depth", "50", "--json"]
                t0 = time.time()
                out = subprocess.run(cmd, capture_output=True, text=True)
                elapsed = time.time() - t0
                summary = json.loads(out.stdout.strip().splitlines()[-1]) if out.stdout.strip() else {}
                pages = [json.loads(l) for l in subprocess.run([args.bin, "pages", "list", "--json", "--db", db],
                                                               capture_output=True, text=True).stdout.splitlines()]
                hits = [json.loads(l) for l in subprocess.run([args.bin, "hits", "list", "--json", "--db", db],
                                                              capture_output=True, text=True).stdout.splitlines()]
        finally:
            server.terminate()
            server.wait()
        reach = reachable(root, host, seeds)
        want = {k for k, exists in reach.items() if exists}
        dangling = {k for k, exists in reach.items() if not exists}
        got = {}
        for p in pages:
            h, path, q = norm(p["url"])
            got[(path, q)] = p
        fetched = {k for k, p in got.items() if p["state"] in ("fetched", "not-modified")}
        covered = want & fetched
        missed = sorted(want - fetched)
        extra = sorted(fetched - want)
        charsets = collections.Counter(p.get("charset") for p in got.values() if p["state"] == "fetched")
        by_cat = collections.Counter(h["category"] for h in hits)
        terms = collections.Counter(h["matched"] for h in hits)
        files = sum(1 for d, _, fs in os.walk(root) for f in fs if f.endswith((".htm", ".html")))
        print(f"## {rel} ({note})")
        print(f"command: {' '.join(cmd)}")
        print(f"exit {out.returncode}; {elapsed:.1f}s; summary: pages_done={summary.get('pages_done')} "
              f"fetched={summary.get('pages_fetched')} failed={summary.get('pages_failed')} errors={summary.get('errors')}")
        print(f"pages on disk: {files}; reachable by links from {len(seeds)} seed(s): {len(want)} existing, "
              f"{len(dangling)} dangling (links to files not in the mirror)")
        pct = 100.0 * len(covered) / len(want) if want else 0.0
        print(f"coverage: {len(covered)}/{len(want)} = {pct:.1f}% of reachable pages fetched")
        if missed:
            print(f"missed ({len(missed)}): " + ", ".join(p + ("?" + q if q else "") for p, q in missed[:15]))
        if extra:
            print(f"fetched but not reachable by the script's parser ({len(extra)}): "
                  + ", ".join(p + ("?" + q if q else "") for p, q in extra[:10]))
        print(f"dangling links recorded by finscan as failed (404): "
              f"{sum(1 for k in dangling if k in got and got[k]['state'] == 'failed')}/{len(dangling)}")
        print(f"charsets: {dict(charsets)}")
        print(f"hits: {len(hits)} on {len({h['url'] for h in hits})} page(s); by category: {dict(by_cat.most_common())}")
        print(f"most frequent matches: {terms.most_common(12)}")
        print()
        if pct < 95.0:
            status = 1
        if len(seeds) > 5:
            print(f"(seeds: all {len(seeds)} saved pages)\n")
    return status


if __name__ == "__main__":
    sys.exit(main())

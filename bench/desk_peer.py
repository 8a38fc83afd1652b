#!/usr/bin/env python3
"""The peer of the reviewer's desk benchmark: the same findings in SQLite.

SQLite (Python's standard `sqlite3`) is what a team would reach for to hold
a million findings on one machine: an on-disk B-tree read page by page, no
server. This script loads the findings `finscan hits list --json` wrote,
with the indexes the desk's queries need, and does what
`bench/desk_serve_bench.sh` times finscan doing:

  build JSONL DB          load the findings (one JSON object per line)
  list DB STATUS CAT      the 50 first of a status and a category, high
                          severity first, then newest (as `hits list`)
  review DB RULE          one transaction: the page findings of RULE that
                          are new set to dismissed, or if none is new, the
                          dismissed ones set to new, an event appended for
                          each (as a batch `review --where rule=R`)
  takedown DB CAT OUT     the sites with confirmed findings of CAT, one row
                          per site, written as XLSX by openpyxl's streaming
                          writer (as `export takedown --format xlsx`)

Each command prints one line: what it did, and a count to compare.
"""

import json
import sqlite3
import sys
import time

SEVERITY_RANK = {"high": 0, "medium": 1, "low": 2}
TAKEDOWN = ("confirmed", "notified", "persisting", "referred")
HEADERS = [
    "序号", "网站名称", "域名", "网址", "ICP备案号", "主办单位", "违规类型",
    "违规内容摘录", "依据条款", "首次发现时间", "最近核实时间", "处理状态", "证据SHA-256",
]


def build(jsonl, path):
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode = WAL;
        CREATE TABLE findings (
            id TEXT PRIMARY KEY, status TEXT, category TEXT, sev INTEGER,
            first_seen TEXT, rule TEXT, source TEXT, site TEXT, body TEXT);
        CREATE TABLE events (
            finding TEXT, action TEXT, reviewer TEXT, at TEXT, note TEXT);
        """
    )
    rows = 0
    with open(jsonl, encoding="utf-8") as f:
        batch = []
        for line in f:
            d = json.loads(line)
            batch.append((
                d["id"], d["status"], d["category"], SEVERITY_RANK[d["severity"]],
                d["first_seen"], d["rule"], d["source"], d.get("site"), line,
            ))
            if len(batch) == 10000:
                db.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?)", batch)
                rows += len(batch)
                batch = []
        db.executemany("INSERT INTO findings VALUES (?,?,?,?,?,?,?,?,?)", batch)
        rows += len(batch)
    db.executescript(
        """
        CREATE INDEX by_status_category ON findings (status, category, sev, first_seen DESC);
        CREATE INDEX by_rule ON findings (rule, status);
        CREATE INDEX by_category_status ON findings (category, status);
        CREATE INDEX events_by_finding ON events (finding);
        """
    )
    db.commit()
    print(f"built {rows} findings")


def list_(path, status, category):
    db = sqlite3.connect(path)
    rows = db.execute(
        "SELECT body FROM findings WHERE status = ? AND category = ? "
        "ORDER BY sev, first_seen DESC LIMIT 50",
        (status, category),
    ).fetchall()
    out = sys.stdout
    for (body,) in rows:
        out.write(body if body.endswith("\n") else body + "\n")
    print(f"listed {len(rows)}", file=sys.stderr)


def review(path, rule):
    db = sqlite3.connect(path)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    with db:
        for from_status, to_status in [("new", "dismissed"), ("dismissed", "new")]:
            ids = [r[0] for r in db.execute(
                "SELECT id FROM findings WHERE rule = ? AND status = ? AND source = 'page'",
                (rule, from_status),
            )]
            if ids:
                break
        db.executemany(
            "UPDATE findings SET status = ? WHERE id = ?", [(to_status, i) for i in ids]
        )
        db.executemany(
            "INSERT INTO events VALUES (?, ?, 'bench', ?, NULL)",
            [(i, to_status, now) for i in ids],
        )
    print(f"reviewed {len(ids)}")


def takedown(path, category, out):
    from openpyxl import Workbook

    db = sqlite3.connect(path)
    marks = ",".join("?" * len(TAKEDOWN))
    sites = {}
    for (body,) in db.execute(
        f"SELECT body FROM findings WHERE category = ? AND status IN ({marks}) "
        "AND source = 'page' ORDER BY sev, first_seen DESC",
        (category, *TAKEDOWN),
    ):
        d = json.loads(body)
        sites.setdefault(d["site"], []).append(d)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("违规网站")
    ws.freeze_panes = "A2"
    ws.append(HEADERS)
    for n, (site, fs) in enumerate(sorted(sites.items()), 1):
        first = fs[0]
        ws.append([
            n, site, site, first["url"], "", "",
            "；".join(sorted({f["category"] for f in fs})),
            "\n".join(f["snippet"] for f in fs[:3]),
            "\n".join(sorted({f["basis"] for f in fs})),
            min(f["first_seen"] for f in fs), max(f["updated"] for f in fs),
            first["status"], first.get("sha256") or "",
        ])
    wb.save(out)
    print(f"takedown {len(sites)} sites")


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    {"build": build, "list": list_, "review": review, "takedown": takedown}[cmd](*args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Mentions and violations on a real compliant platform's pages.

Runs `finscan scan --json` over ../shared/realdata/site-renrendai-mirror-2019/site
and compares its hits with the hand labels of ../shared/devset/realdata/
renrendai_hits.tsv (every medium/high hit an early finscan reported there,
labelled `violation` or `mention`). A label is still reported when a hit
overlaps its byte span in the same file.

Prints: mentions still reported (the issue's bar: at most 10 %), violations
lost (the bar: none), and the medium/high hits on spans nobody labelled (new
hits a reviewer would read), each with its rule and evidence.

Usage: eval/renrendai_eval.py [FINSCAN_BINARY] [--list]
Skips (exit 0) when ../shared is absent. Reads the data in place.
"""
import csv
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared")
SITE = os.path.join(SHARED, "realdata", "site-renrendai-mirror-2019", "site")
LABELS = os.path.join(SHARED, "devset", "realdata", "renrendai_hits.tsv")


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    binary = args[0] if args else os.path.join(ROOT, "target", "release", "finscan")
    if not (os.path.isdir(SITE) and os.path.exists(LABELS)):
        print(f"skip: {SITE} or {LABELS} is absent")
        return 0
    proc = subprocess.run([binary, "scan", "--json", SITE], capture_output=True)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.decode())
        return 2
    hits = defaultdict(list)
    for line in proc.stdout.decode().splitlines():
        h = json.loads(line)
        if h.get("kind", "hit") != "hit":
            continue
        rel = os.path.relpath(h["source"], SITE)
        hits[rel].append(h)
    with open(LABELS, encoding="utf-8", newline="") as f:
        labels = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))

    def overlapping(file, start, end):
        return [h for h in hits.get(file, []) if h["start"] < end and start < h["end"]]

    kept = Counter()
    total = Counter()
    lost, still = [], []
    covered = defaultdict(list)
    for lab in labels:
        s, e = int(lab["start"]), int(lab["end"])
        over = overlapping(lab["file"], s, e)
        total[lab["label"]] += 1
        covered[lab["file"]].append((s, e))
        if over:
            kept[lab["label"]] += 1
            if lab["label"] == "mention":
                still.append((lab, over))
        elif lab["label"] == "violation":
            lost.append(lab)
    unlabelled = []
    for file, hs in sorted(hits.items()):
        for h in hs:
            if h["severity"] == "low":
                continue
            if not any(h["start"] < e and s < h["end"] for s, e in covered.get(file, [])):
                unlabelled.append((file, h))

    n_hits = sum(len(v) for v in hits.values())
    print(f"finscan: {binary}")
    print(f"hits: {n_hits} on {len(hits)} pages")
    m, v = total["mention"], total["violation"]
    print(f"mentions still reported: {kept['mention']}/{m} ({100.0 * kept['mention'] / max(m, 1):.1f} %; bar: at most 10 %)")
    print(f"violations found:        {kept['violation']}/{v} (lost: {len(lost)}; bar: none lost)")
    print(f"unlabelled medium/high hits: {len(unlabelled)}")
    if "--list" in argv:
        for lab, over in still:
            print(f"  mention  {lab['file']} {lab['matched']!r} <- " + ", ".join(f"{h['rule']} …{h['snippet']}…" for h in over))
        for lab in lost:
            print(f"  LOST     {lab['file']} {lab['rule']} {lab['matched']!r}")
        for file, h in unlabelled:
            print(f"  new      {file} {h['rule']} {h['matched']!r}  …{h['snippet']}…")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

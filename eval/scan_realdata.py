#!/usr/bin/env python3
"""Run `finscan scan` over the saved real platform pages in ../shared/realdata
and report what it flags, per site and category, plus the checks a reviewer
cares about: violations that must be found, and boundary/prohibition cases
that must not be flagged.

Usage: eval/scan_realdata.py [FINSCAN_BINARY]   (default target/release/finscan)
Skips (exit 0) when ../shared/realdata is absent. Reads the data in place;
nothing is copied into the repository.
"""
import collections
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "..", "shared", "realdata")
SITES = {
    "vfunding-8jie-mobile-2015": "site",
    "jiamanu-homepage-2018": "jiamanu_index_2018-07.html",
    "sinatay-insurance-gbk-2014": "site",
    "site-renrendai-mirror-2019": "site",
}
# (site, category, phrase that must be inside a hit's evidence)
MUST_FIND = [
    ("vfunding-8jie-mobile-2015", "guaranteed-return", "本息保障"),
    ("vfunding-8jie-mobile-2015", "guaranteed-return", "本息担保"),
    ("vfunding-8jie-mobile-2015", "subsidy-high-return", "14.7%"),
    ("vfunding-8jie-mobile-2015", "guaranteed-return", "100%承保"),
    ("jiamanu-homepage-2018", "subsidy-high-return", "体验金"),
    ("jiamanu-homepage-2018", "subsidy-high-return", "年利率14%"),
    ("sinatay-insurance-gbk-2014", "guaranteed-return", "无损失"),
]
# phrases of the visible text that no hit may cover
MUST_NOT = ["确保本次", "分配资金", "禁止承诺保本保息", "严禁承诺保本保息"]


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "finscan")
    if not os.path.isdir(DATA):
        print(f"skip: {DATA} is absent")
        return 0
    paths = [os.path.join(DATA, s, p) for s, p in SITES.items()]
    proc = subprocess.run([binary, "scan", "--json", *paths], capture_output=True)
    if proc.returncode not in (0, 1):
        sys.stderr.write(proc.stderr.decode())
        return 1
    hits = [json.loads(l) for l in proc.stdout.decode().splitlines()]
    print(proc.stderr.decode().strip().splitlines()[-1])
    per_site = collections.defaultdict(collections.Counter)
    pages = collections.defaultdict(set)
    for h in hits:
        site = h["source"].split("/realdata/")[1].split("/")[0]
        h["site"] = site
        per_site[site][h["category"]] += 1
        pages[site].add(h["source"])
    for site in SITES:
        total = sum(per_site[site].values())
        print(f"\n{site}: {total} hits on {len(pages[site])} pages")
        for cat, n in per_site[site].most_common():
            terms = collections.Counter(h["term"] for h in hits if h["site"] == site and h["category"] == cat)
            top = ", ".join(f"{t}×{c}" for t, c in terms.most_common(6))
            print(f"  {cat:<26} {n:>5}  {top}")
    failed = 0
    print("\nmust find:")
    for site, cat, phrase in MUST_FIND:
        ok = any(h["site"] == site and h["category"] == cat and phrase in h["matched"].replace("<font>", "").replace("</font>", "") for h in hits)
        failed += not ok
        print(f"  {'ok  ' if ok else 'MISS'} {site} {cat} {phrase}")
    print("must not flag:")
    for phrase in MUST_NOT:
        # a hit is wrong when its evidence lies within the phrase or covers it
        bad = [h for h in hits if phrase in h["snippet"] and (h["matched"] in phrase or phrase in h["matched"])]
        failed += len(bad)
        print(f"  {'ok  ' if not bad else 'FLAG'} {phrase}" + "".join(f"\n      {h['source']}: {h['matched']!r}" for h in bad))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

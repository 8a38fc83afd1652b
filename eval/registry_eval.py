#!/usr/bin/env python3
"""Evaluates `finscan registry` on the real registration data in ../shared/realdata.

Reads (never copies) ../shared/realdata/enterprise-registration/enterprise_sample.csv
and ../shared/realdata/uscc/*, runs the finscan binary on them and prints counts:
flagged records by rank and by word, invalid credit codes, allow-listed records,
scopes whose financial words are negated, county attribution; then compares
finscan's credit-code verdicts with python-stdnum's (an independent
implementation) on every code of the data. Skips (exit 0) when the data is absent.

Section 3 ("registry answers", issue 13) scans the sample with NO allow-list
and reports licensed-institution names flagged (by a regex of this script, not
finscan's list), private companies still flagged, and old registration
numbers; with --baseline PATH it runs an earlier finscan binary the same way
and prints both (before/after).

Usage: python3 eval/registry_eval.py [--finscan PATH] [--baseline PATH] [--rules DIR] [--examples N]
Needs: pip install python-stdnum
"""
import argparse, collections, csv, json, os, re, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

def find_realdata():
    for base in [os.environ.get("FINSCAN_REALDATA"), os.path.join(REPO, "..", "shared", "realdata"),
                 "/work/shared/realdata"]:
        if base and os.path.isdir(os.path.join(base, "enterprise-registration")):
            return os.path.abspath(base)
    return None

def run(cmd, stdin=None):
    p = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if p.returncode not in (0, 1, 3):
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr}")
    return p

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--finscan", default=os.path.join(REPO, "target", "release", "finscan"))
    ap.add_argument("--rules", help="rules directory (default: the rules built into finscan)")
    ap.add_argument("--allowlist", default=os.path.join(REPO, "examples", "registry", "allowlist.txt"))
    ap.add_argument("--examples", type=int, default=0, help="print N example names per category (not committed)")
    ap.add_argument("--baseline", help="an earlier finscan binary to compare with in section 3 (before/after)")
    args = ap.parse_args()
    data = find_realdata()
    if data is None:
        print("registry eval: ../shared/realdata not found, skipped")
        return 0
    try:
        import stdnum.cn.uscc as uscc
    except ImportError:
        sys.exit("pip install python-stdnum")
    fin = args.finscan
    if not os.path.exists(fin):
        sys.exit(f"{fin} missing: cargo build --release")
    rules = ["--rules", args.rules] if args.rules else []
    sample = os.path.join(data, "enterprise-registration", "enterprise_sample.csv")

    # ── 1. scan the real registrations ──────────────────────────────────
    p = run([fin, "registry", "scan", "--no-store", "--json", "--all", "--allowlist", args.allowlist, *rules, sample])
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    src = {i + 2: r for i, r in enumerate(csv.DictReader(open(sample, encoding="utf-8")))}
    print(f"## Real registrations: {os.path.relpath(sample, REPO)}\n")
    print(f"records read: {len(recs)} (rows in file: {len(src)})")
    print("summary line: " + p.stderr.strip().splitlines()[-2 if len(p.stderr.strip().splitlines()) > 1 else -1])
    flagged = [r for r in recs if r["flagged"]]
    ranks = collections.Counter(r["rank"] for r in flagged)
    print(f"flagged: {len(flagged)}  by rank: " + ", ".join(f"{k} {v}" for k, v in sorted(ranks.items())))
    print(f"allow-listed (sample allow-list {os.path.relpath(args.allowlist, REPO)}): {sum(r['allowlisted'] for r in recs)}")
    invalid = [r for r in recs if not r["uscc_valid"] and r.get("uscc_error") not in (None, "missing")]
    print(f"old registration numbers (15 digits, valid check digit): {sum(1 for r in recs if r.get('registration_number'))}")
    print(f"invalid credit codes: {len(invalid)}  (SOURCE.txt says 22 fail the GB 32100 check)")
    kinds = collections.Counter(r["uscc_error"].split(" ")[0] for r in invalid)
    print("  by reason: " + ", ".join(f"{k} {v}" for k, v in kinds.most_common()))
    print(f"missing credit codes: {sum(r.get('uscc_error') == 'missing' for r in recs)}")

    by_word = collections.Counter()
    by_field_word = collections.Counter()
    for r in flagged:
        for t in {h["term"] for h in r["hits"]}:
            by_word[t] += 1
        for t in {(h["field"], h["term"]) for h in r["hits"]}:
            by_field_word[t] += 1
    print("\nflagged records by restricted word in the NAME:")
    for (f, t), n in sorted(by_field_word.items(), key=lambda x: -x[1]):
        if f == "name":
            print(f"  {t} {n}")
    print("top scope terms in flagged records:")
    for (f, t), n in sorted(by_field_word.items(), key=lambda x: -x[1])[:60]:
        if f == "scope":
            print(f"  {t} {n}")

    # names: naive substring vs finscan (boundary + allow-list spans)
    words = ["金融", "理财", "基金", "资产管理", "投资管理", "财富管理", "网贷", "网络借贷", "P2P", "股权众筹",
             "互联网保险", "支付", "交易所", "交易中心", "基金管理", "股权投资基金"]
    naive = [r for r in recs if any(w in src[r["line"]]["企业名称"].upper() for w in words)]
    name_hit = [r for r in recs if any(h["field"] == "name" for h in r["hits"])]
    suppressed = [r for r in naive if not any(h["field"] == "name" for h in r["hits"])]
    print(f"\nnames containing a restricted word as a plain substring: {len(naive)}; with a finscan name hit: {len(name_hit)}; "
          f"suppressed by word boundaries / allow spans: {len(suppressed)}")
    sup_words = collections.Counter()
    for r in suppressed:
        for w in words:
            if w in src[r["line"]]["企业名称"].upper():
                sup_words[w] += 1
    print("  suppressed by word: " + ", ".join(f"{k} {v}" for k, v in sup_words.most_common()))

    # negated scopes: scope mentions a scope term but finscan found no scope hit
    p_terms = run([fin, "rules", "terms", "--field", "scope", *rules])
    scope_terms = [t for t in p_terms.stdout.splitlines() if t]
    cues = ["不得从事", "不得", "不含", "不包括", "除外", "未经", "禁止", "严禁"]
    with_term = [r for r in recs if any(t in src[r["line"]]["经营范围"] for t in scope_terms)]
    negated = [r for r in with_term if any(c in src[r["line"]]["经营范围"] for c in cues)
               and not any(h["field"] == "scope" for h in r["hits"])]
    negated_partly = [r for r in with_term if any(c in src[r["line"]]["经营范围"] for c in cues)
                      and any(h["field"] == "scope" for h in r["hits"])]
    print(f"\nscopes containing a scope term as a substring: {len(with_term)}")
    print(f"  with a negation cue (不得/不含/除外/未经…) and NO scope hit (fully negated): {len(negated)}")
    print(f"  with a negation cue and still a scope hit (some term outside the negation): {len(negated_partly)}")
    bank = [r for r in recs if "银行" in r["name"]]
    print(f"\nnames with 银行: {len(bank)}; flagged: {sum(r['flagged'] for r in bank)}; allow-listed: {sum(r['allowlisted'] for r in bank)}")
    equip = [r for r in recs if "金融设备" in src[r["line"]]["企业名称"] or "金融机具" in src[r["line"]]["企业名称"]]
    print(f"names with 金融设备/金融机具: {len(equip)}; with a name hit: {sum(any(h['field']=='name' for h in r['hits']) for r in equip)}")

    known = collections.Counter((r["division"] or {}).get("known", "none") for r in recs if r["uscc_valid"])
    print(f"\ncounty attribution of valid codes: " + ", ".join(f"{k} {v}" for k, v in known.most_common()))
    sx = [r for r in recs if r["uscc_valid"] and r["division"]["code"].startswith("61")]
    print(f"  Shaanxi (61xxxx) records: {len(sx)}, attributed to a county: {sum(1 for r in sx if r['county'])}, "
          f"unknown codes: {sorted({r['division']['code'] for r in sx if r['division']['known'] != 'exact'})}")
    if args.examples:
        for title, rs in [("suppressed names", suppressed), ("fully negated scopes", negated), ("name+activity", [r for r in flagged if r["rank"] == "name+activity"])]:
            print(f"\nexamples: {title}")
            for r in rs[: args.examples]:
                print(f"  {r['line']}: {r['name']} {[h['term'] for h in r['hits']]}")

    # ── 2. credit codes against python-stdnum ───────────────────────────
    print("\n## Credit codes: finscan vs python-stdnum (independent oracle)\n")
    sets = []
    sets.append(("stdnum_valid_uscc.txt", [l.strip() for l in open(os.path.join(data, "uscc", "stdnum_valid_uscc.txt")) if l.strip()]))
    edge = list(csv.DictReader(open(os.path.join(data, "uscc", "stdnum_edge_cases.tsv")), delimiter="\t"))
    sets.append(("stdnum_edge_cases.tsv", [r["input"] for r in edge]))
    nonconf = list(csv.DictReader(open(os.path.join(data, "uscc", "registry_nonconforming_codes.csv"), encoding="utf-8")))
    sets.append(("registry_nonconforming_codes.csv", [r["code_as_registered"] for r in nonconf]))
    sets.append(("enterprise_sample.csv codes", [r["统一社会信用代码"] for r in src.values() if r["统一社会信用代码"].strip()]))
    total_dis = 0
    for name, codes in sets:
        p = run([fin, "registry", "check", "--json", "-"], stdin="\n".join(codes) + "\n")
        # check skips blank lines; keep inputs aligned
        ours = [json.loads(l) for l in p.stdout.splitlines()]
        inputs = [c for c in codes if c.strip()]
        assert len(ours) == len(inputs), (name, len(ours), len(inputs))
        agree = dis = 0
        dis_examples = []
        reasons = collections.Counter()
        regnos = 0
        for c, o in zip(inputs, ours):
            if o.get("kind") == "registration_number":
                # an old 15-digit 注册号, validated as one (stdnum knows credit codes only)
                regnos += 1
                continue
            theirs = uscc.is_valid(c)
            if not o["valid"]:
                reasons[o["reason"]["kind"]] += 1
            if theirs == o["valid"]:
                agree += 1
            else:
                dis += 1
                try:
                    uscc.validate(c)
                    why = "valid"
                except Exception as e:
                    why = type(e).__name__
                dis_examples.append(f"{c!r}: finscan {'valid' if o['valid'] else o['error']}; stdnum {why}")
        total_dis += dis
        print(f"{name}: {len(inputs)} codes, finscan valid credit codes {sum(o['valid'] and o.get('kind') != 'registration_number' for o in ours)}, "
              f"valid registration numbers {regnos}; of the rest agree with stdnum {agree}, disagree {dis}")
        if reasons:
            print("  finscan reasons: " + ", ".join(f"{k} {v}" for k, v in reasons.most_common()))
        for d in dis_examples[:10]:
            print(f"  disagreement: {d}")
    print(f"\ntotal disagreements with python-stdnum: {total_dis}")

    # ── 3. registry answers (issue 13): no allow-list, before/after ──────
    print("\n## Registry answers: no allow-list\n")
    after = answers(fin, rules, sample)
    before = answers(args.baseline, rules, sample) if args.baseline else None
    if before:
        lic_b = set(before["licensed_named"])
        print(f"licensed-named rows (names matching /{LICENSED_NAME.pattern}/): {len(lic_b)}")
        priv = [l for l in before["flagged"] if l not in lic_b]
        still = [l for l in priv if l in after["flagged"]]
        rw = [l for l in priv if l in before["restricted_word"]]
        still_rw = [l for l in rw if l in after["flagged"]]
        print(f"private (not licensed-named) rows flagged before: {len(priv)}; still flagged after: {len(still)} "
              f"({100 * len(still) / max(1, len(priv)):.1f} %)")
        print(f"  of them with a restricted word (category restricted-name): {len(rw)}; still flagged: {len(still_rw)} "
              f"({100 * len(still_rw) / max(1, len(rw)):.1f} %)")
        if args.examples:
            for l in [l for l in priv if l not in after["flagged"]][: args.examples]:
                print(f"  no longer flagged: {l}: {after['names'][l]}")
    print("\n| | before | after |" if before else "\n| | after |")
    print("|---|---:|---:|" if before else "|---|---:|")
    for key, label in [("records", "records"), ("n_flagged", "flagged"), ("licensed_named_flagged", "licensed-named rows flagged"),
                       ("licensed", "reported licensed (by name)"), ("to_verify", "reported with a licensed activity to verify"),
                       ("regnos", "old registration numbers recognized"), ("invalid", "invalid credit codes"),
                       ("unattributed", "records without a division")]:
        a = after[key]
        if before:
            print(f"| {label} | {before[key]:,} | {a:,} |")
        else:
            print(f"| {label} | {a:,} |")
    n_lic = len(after["licensed_named"])
    print(f"\nlicensed-named rows flagged: {after['licensed_named_flagged']} of {n_lic} "
          f"({100 * after['licensed_named_flagged'] / max(1, n_lic):.1f} %)")
    return 0


# names that mark a licensed institution (bank branches, credit cooperatives,
# insurers, securities and futures firms, trusts, post offices): this script's
# own judgement, independent of finscan's wordlists/licensed.toml
LICENSED_NAME = re.compile(r"银行|信用合作|信用社|信用联社|保险|证券|信托|邮政|期货")


def answers(binary, rules, sample):
    """Scans `sample` without an allow-list; the counts of section 3."""
    p = run([binary, "registry", "scan", "--no-store", "--json", "--all", *rules, sample])
    recs = [json.loads(l) for l in p.stdout.splitlines()]
    flagged = {r["line"] for r in recs if r.get("flagged")}
    lic = [r["line"] for r in recs if LICENSED_NAME.search(r["name"])]
    return {
        "records": len(recs),
        "n_flagged": len(flagged),
        "flagged": flagged,
        "names": {r["line"]: r["name"] for r in recs},
        "restricted_word": {r["line"] for r in recs if any(h["category"] == "restricted-name" for h in r["hits"])},
        "licensed_named": lic,
        "licensed_named_flagged": sum(1 for l in lic if l in flagged),
        "licensed": sum(1 for r in recs if r.get("licensed")),
        "to_verify": sum(1 for r in recs if r.get("licensed_types") and not r.get("flagged") and not r.get("licensed")),
        "regnos": sum(1 for r in recs if r.get("registration_number")),
        "invalid": sum(1 for r in recs if not r.get("uscc_valid") and r.get("uscc_error") not in (None, "missing")),
        "unattributed": sum(1 for r in recs if not r.get("division")),
    }

if __name__ == "__main__":
    sys.exit(main())

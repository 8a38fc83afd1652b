//! `finscan hits …`, `finscan sites list`, `finscan review …`: the
//! reviewer's desk ([`finscan::review`]). Parses arguments and prints; the
//! queries, the lifecycle and the writes are the library's.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use finscan::export::Format;
use finscan::review::view::{FindingDetail, FindingRow};
use finscan::review::{
    self, Action, Decision, Evidence, Finding, FindingId, Query, ReviewError, SourceKind, Status,
};
use finscan::rules::{Category, RuleId, Severity};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::crawl::DbArg;
use super::{Outcome, open_desk};

#[derive(Subcommand)]
pub enum HitsCommand {
    /// List findings (page hits and flagged companies), high severity first.
    List {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        filter: Box<FilterArgs>,
        /// Order: severity (high first, the default), time (newest first) or site.
        #[arg(long, value_enum, default_value_t = SortArg::Severity)]
        sort: SortArg,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<usize>,
        /// One JSON object per finding per line.
        #[arg(long)]
        json: bool,
    },
    /// Show one finding with its evidence.
    Show {
        #[command(flatten)]
        db: DbArg,
        #[arg(value_parser = parse_id)]
        id: FindingId,
        #[arg(long)]
        json: bool,
    },
    /// Show a finding's review events, oldest first.
    History {
        #[command(flatten)]
        db: DbArg,
        #[arg(value_parser = parse_id)]
        id: FindingId,
        /// One JSON object per event per line.
        #[arg(long)]
        json: bool,
    },
    /// Check every finding against its events and the indexes (exit 0 when they agree).
    Check {
        #[command(flatten)]
        db: DbArg,
        /// Rebuild the indexes when they disagree.
        #[arg(long)]
        repair: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum SitesCommand {
    /// One row per site (registrable domain): operator, ICP number, findings by category and status.
    List {
        #[command(flatten)]
        db: DbArg,
        #[arg(long)]
        json: bool,
    },
}

/// Filters of `hits list` (values of one flag are alternatives; flags combine).
#[derive(Args, Clone, Default)]
pub struct FilterArgs {
    #[arg(long, value_parser = super::one_of(&Status::ALL, Status::as_str))]
    status: Vec<Status>,
    #[arg(long, value_parser = super::one_of(&Category::ALL, Category::as_str))]
    category: Vec<Category>,
    #[arg(long, value_parser = super::one_of(&SEVERITIES, Severity::as_str))]
    severity: Vec<Severity>,
    /// Rule id (page.guarantee.principal-interest, name.licai …).
    #[arg(long)]
    rule: Vec<String>,
    /// Site: a registrable domain (a.com.cn) or a host (www.a.com.cn).
    #[arg(long, visible_alias = "site")]
    host: Vec<String>,
    /// County: a division code or its first digits (610902, 6109).
    #[arg(long)]
    county: Vec<String>,
    #[arg(long, value_parser = super::one_of(&SourceKind::ALL, SourceKind::as_str))]
    source: Option<SourceKind>,
    /// First seen at or after: a date (its start in the reader's zone, see
    /// --tz), a time, or RFC 3339 with an offset.
    #[arg(long, value_parser = super::since_arg)]
    since: Option<jiff::Timestamp>,
    /// First seen before: a date includes all of that day.
    #[arg(long, value_parser = super::until_arg)]
    until: Option<jiff::Timestamp>,
    /// Text in the matched evidence or the snippet (case-insensitive).
    #[arg(long)]
    search: Option<String>,
}

impl FilterArgs {
    pub(super) fn query(&self) -> Query {
        Query {
            statuses: self.status.clone(),
            categories: self.category.clone(),
            severities: self.severity.clone(),
            rules: self.rule.iter().map(|r| RuleId(r.clone())).collect(),
            sites: self.host.clone(),
            counties: self.county.clone(),
            source: self.source,
            since: self.since,
            until: self.until,
            text: self.search.clone(),
            ..Query::default()
        }
    }
}

/// `finscan review`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("action").required(true).args(["confirm", "dismiss", "notify", "refer", "reopen"])))]
pub struct ReviewArgs {
    #[command(flatten)]
    db: DbArg,
    /// Finding ids (16 hex digits, as `hits list` shows them).
    #[arg(value_parser = parse_id)]
    ids: Vec<FindingId>,
    /// new → confirmed: a violation.
    #[arg(long)]
    confirm: bool,
    /// new → dismissed: no violation (stays dismissed while the evidence is the same).
    #[arg(long)]
    dismiss: bool,
    /// confirmed → notified: a rectification notice was sent (needs --deadline).
    #[arg(long, requires = "deadline")]
    notify: bool,
    /// The rectification deadline (YYYY-MM-DD), with --notify.
    #[arg(long, requires = "notify", value_parser = finscan::time::parse_date)]
    deadline: Option<jiff::civil::Date>,
    /// persisting → referred: passed on for takedown or to the police.
    #[arg(long)]
    refer: bool,
    /// dismissed → new: review again (needs --note with the reason).
    #[arg(long)]
    reopen: bool,
    /// Who decides (recorded with the decision).
    #[arg(long)]
    reviewer: String,
    #[arg(long)]
    note: Option<String>,
    /// Decide on every finding matching KEY=VALUE (status, category, severity,
    /// rule, site, county, source, since, until, search); repeat to combine.
    #[arg(long = "where", value_name = "KEY=VALUE")]
    filters: Vec<String>,
    /// Do not ask before a batch decision.
    #[arg(long)]
    yes: bool,
}

/// Severities as `--help` lists them: the worst first.
const SEVERITIES: [Severity; 3] = [Severity::High, Severity::Medium, Severity::Low];

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SortArg {
    Severity,
    Time,
    Site,
}

impl SortArg {
    fn into_lib(self) -> review::Sort {
        match self {
            SortArg::Severity => review::Sort::Severity,
            SortArg::Time => review::Sort::Time,
            SortArg::Site => review::Sort::Site,
        }
    }
}

fn parse_id(s: &str) -> Result<FindingId, String> {
    FindingId::parse(s)
}

pub fn hits(cmd: HitsCommand) -> anyhow::Result<Outcome> {
    match cmd {
        HitsCommand::List {
            db,
            filter,
            sort,
            limit,
            json,
        } => {
            let mut q = filter.query();
            q.sort = sort.into_lib();
            q.limit = limit;
            let tty = super::style::stdout_colored();
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let mut shown = 0usize;
            // each row written as it comes: a listing of any length is
            // never held whole, here or in the server
            let mut write = |r: FindingRow| -> anyhow::Result<()> {
                if json {
                    super::write_json_line(&mut out, &r)?;
                } else {
                    if shown == 0 {
                        print_header(&mut out)?;
                    }
                    print_row(&mut out, &r.finding, tty)?;
                }
                shown += 1;
                Ok(())
            };
            let more = match super::serve::remote(&db.dir())? {
                Some(c) => {
                    let mut params = super::serve::filter_params(&q);
                    params.push(("sort", review::filter::sort_name(q.sort).to_owned()));
                    // page by page: the server answers at most its
                    // `list_page` findings a request
                    let (mut read, mut after) = (0usize, None::<String>);
                    loop {
                        let mut p = params.clone();
                        if let Some(l) = limit {
                            p.push(("limit", (l - read).to_string()));
                        }
                        if let Some(a) = after.take() {
                            p.push(("after", a));
                        }
                        let l: RemoteListing = c.get_json("/api/findings", &p)?;
                        let got = l.findings.len();
                        for r in l.findings {
                            write(r)?;
                        }
                        read += got;
                        match l.next {
                            Some(n) if got > 0 && limit.is_none_or(|l| read < l) => after = Some(n),
                            _ => break l.more,
                        }
                    }
                }
                None => {
                    let desk = open_desk(&db)?;
                    desk.each_row(&q, &mut write)?.is_some()
                }
            };
            out.flush()?;
            if !json {
                eprintln!(
                    "finscan: {} finding(s){}",
                    shown,
                    if more {
                        " shown; more match (raise --limit)"
                    } else {
                        ""
                    }
                );
            }
            // a listing ran: 0, whatever it listed (README, exit codes)
            Ok(Outcome::Clean)
        }
        HitsCommand::Show { db, id, json } => {
            let detail = match super::serve::remote(&db.dir())? {
                Some(c) => c.get_json(&format!("/api/findings/{id}"), &[])?,
                None => open_desk(&db)?
                    .detail(id)?
                    .with_context(|| format!("no finding {id}"))?,
            };
            show(&detail, json)?;
            Ok(Outcome::Clean)
        }
        HitsCommand::History { db, id, json } => {
            let events: Vec<review::Event> = match super::serve::remote(&db.dir())? {
                Some(c) => c.get_json(&format!("/api/findings/{id}/history"), &[])?,
                None => {
                    let desk = open_desk(&db)?;
                    desk.get(id)?.with_context(|| format!("no finding {id}"))?;
                    desk.history(id)?
                }
            };
            let mut out = std::io::stdout().lock();
            for e in &events {
                if json {
                    super::write_json_line(&mut out, e)?;
                } else {
                    let change = match e.from {
                        Some(from) => format!("{from} → {}", e.to),
                        None => e.to.to_string(),
                    };
                    let deadline = match &e.action {
                        Action::Notify { deadline } => format!(" deadline {deadline}"),
                        _ => String::new(),
                    };
                    writeln!(
                        out,
                        "{:>3}  {}  {:<8} {:<24} {}{}{}",
                        e.seq,
                        super::zone().human(e.at),
                        e.action.kind(),
                        change,
                        e.reviewer,
                        deadline,
                        e.note
                            .as_deref()
                            .map(|n| format!("  “{n}”"))
                            .unwrap_or_default()
                    )?;
                }
            }
            Ok(Outcome::Clean)
        }
        HitsCommand::Check { db, repair, json } => {
            let mut repaired = false;
            let report: review::CheckReport = match super::serve::remote(&db.dir())? {
                Some(c) => {
                    let report: review::CheckReport = c.get_json("/api/check", &[])?;
                    if report.problem_count > 0 && repair {
                        bail!(
                            "repairing the indexes needs the database itself: stop the server at {} first",
                            c.url()
                        );
                    }
                    report
                }
                None => {
                    let desk = open_desk(&db)?;
                    let mut report = desk.check()?;
                    if report.problem_count > 0 && repair {
                        desk.rebuild_indexes()?;
                        repaired = true;
                        report = desk.check()?;
                    }
                    report
                }
            };
            if json {
                let mut v = serde_json::to_value(&report)?;
                v["repaired"] = repaired.into();
                println!("{v}");
            } else {
                println!(
                    "{} finding(s), {} event(s), {} index entries: {}",
                    report.findings,
                    report.events,
                    report.index_entries,
                    if report.problem_count == 0 {
                        "consistent".to_owned()
                    } else {
                        format!("{} problem(s)", report.problem_count)
                    }
                );
                for p in &report.problems {
                    println!("  {p}");
                }
            }
            // problems found is a result (1), like a scan's hits
            Ok(if report.problem_count == 0 {
                Outcome::Clean
            } else {
                Outcome::Hits
            })
        }
    }
}

/// A listing as the server answers it.
#[derive(serde::Deserialize)]
struct RemoteListing {
    findings: Vec<FindingRow>,
    more: bool,
    /// Where the next page starts (absent from servers before cursors).
    #[serde(default)]
    next: Option<String>,
}

/// Prints a finding with its evidence: as JSON (times in the reader's
/// zone) or as lines of `key value`.
fn show(detail: &FindingDetail, json: bool) -> anyhow::Result<()> {
    if json {
        let mut v = serde_json::to_value(detail)?;
        super::zone_json(&mut v);
        println!("{v}");
        return Ok(());
    }
    let f = &detail.finding.finding;
    let page = &detail.page;
    let evidence = &detail.evidence_text;
    let history = &detail.events;
    let mut out = std::io::stdout().lock();
    let mut line = |k: &str, v: &str| writeln!(out, "{k:<14}{v}");
    // a stored time in the reader's zone (as it was stored if unreadable)
    let human = |t: &str| {
        finscan::time::from_stored(t).map_or_else(|| t.to_owned(), |t| super::zone().human(t))
    };
    line("id", &f.id.to_string())?;
    line("status", f.status.as_str())?;
    if let Some(d) = f.deadline {
        line("deadline", &d.to_string())?;
    }
    line(
        "rule",
        &format!("{} ({}, {})", f.rule, f.category, f.severity.as_str()),
    )?;
    line("matched", &f.matched)?;
    line("snippet", &f.snippet.replace('\n', " "))?;
    line("basis", &f.basis)?;
    line("first seen", &super::zone().human(f.first_seen))?;
    if let Some(t) = &detail.finding.last_seen {
        line("last seen", &human(t))?;
    }
    match &f.evidence {
        Evidence::Page(p) => {
            line("url", &p.url)?;
            line("span", &format!("{} bytes {}..{}", p.field, p.start, p.end))?;
            if let Some(e) = &evidence {
                line("evidence", e)?;
            }
            line("body sha256", p.sha256.as_deref().unwrap_or("-"))?;
            if let Some(pg) = &page {
                line("title", pg.title.as_deref().unwrap_or("-"))?;
                line("icp", pg.icp.as_deref().unwrap_or("-"))?;
                line("operator", pg.operator.as_deref().unwrap_or("-"))?;
                line("fetched at", &human(&pg.fetched_at))?;
                line(
                    "http status",
                    &pg.status.map_or("-".to_owned(), |s| s.to_string()),
                )?;
            }
        }
        Evidence::Registry(c) => {
            line("company", &c.name)?;
            line("credit code", c.uscc.as_deref().unwrap_or("-"))?;
            line(
                "county",
                &format!(
                    "{} {}",
                    c.division.as_deref().unwrap_or("-"),
                    c.county_name.as_deref().unwrap_or("")
                ),
            )?;
            line("scope", &c.scope)?;
            if let Some(a) = &c.address {
                line("address", a)?;
            }
            if let Some(l) = &c.legal_rep {
                line("legal rep", l)?;
            }
            line("record", &format!("{}:{}", c.record_source, c.line))?;
            for m in &c.matches {
                line("match", &format!("{} {} {}", m.field, m.rule, m.matched))?;
            }
        }
    }
    line("events", &history.len().to_string())?;
    Ok(())
}

/// Pads `s` to `width` columns (East Asian characters are two wide),
/// cutting it with `…` when longer.
fn fit(s: &str, width: usize) -> String {
    let s = s.replace(['\n', '\r', '\t'], " ");
    if s.width() <= width {
        return format!("{s}{}", " ".repeat(width - s.width()));
    }
    let mut out = String::new();
    let mut w = 0;
    for c in s.chars() {
        let cw = c.width().unwrap_or(0);
        if w + cw + 1 > width {
            break;
        }
        out.push(c);
        w += cw;
    }
    out.push('…');
    w += 1;
    format!("{out}{}", " ".repeat(width.saturating_sub(w)))
}

/// The snippet around the match, the match marked: bold red on a
/// terminal, else between 【 and 】.
fn highlight(f: &Finding, tty: bool, width: usize) -> String {
    let snippet = f.snippet.replace(['\n', '\r', '\t'], " ");
    let style = super::style::MATCH;
    let (open, close) = if tty {
        (style.render().to_string(), style.render_reset().to_string())
    } else {
        ("【".to_string(), "】".to_string())
    };
    let Some(at) = (!f.matched.is_empty())
        .then(|| snippet.find(&f.matched))
        .flatten()
    else {
        return format!(
            "{open}{}{close} {}",
            f.matched,
            fit(&snippet, width).trim_end()
        );
    };
    // keep some context before the match within the width
    let before: String = snippet[..at]
        .chars()
        .rev()
        .take(12)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after_start = at + f.matched.len();
    let budget = width.saturating_sub(before.width() + f.matched.width());
    let after = fit(&snippet[after_start..], budget);
    format!("{before}{open}{}{close}{}", f.matched, after.trim_end())
}

fn print_header(out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<16}  {:<6}  {:<10}  {:<20}  {:<22}  EVIDENCE",
        "ID", "SEV", "STATUS", "CATEGORY", "SITE / COUNTY"
    )
}

fn print_row(out: &mut impl Write, f: &Finding, tty: bool) -> std::io::Result<()> {
    let place = match &f.evidence {
        Evidence::Page(p) => p.host.clone(),
        Evidence::Registry(c) => c
            .county_name
            .clone()
            .or_else(|| c.division.clone())
            .unwrap_or_else(|| "registry".into()),
    };
    writeln!(
        out,
        "{}  {:<6}  {:<10}  {:<20}  {}  {}",
        f.id,
        f.severity.as_str(),
        f.status.as_str(),
        f.category.as_str(),
        fit(&place, 22),
        highlight(f, tty, 60)
    )
}

pub fn sites(cmd: SitesCommand) -> anyhow::Result<Outcome> {
    let SitesCommand::List { db, json } = cmd;
    let rows: Vec<review::SiteRow> = match super::serve::remote(&db.dir())? {
        Some(c) => c.get_json("/api/sites", &[])?,
        None => open_desk(&db)?.sites()?,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    if !json && !rows.is_empty() {
        writeln!(
            out,
            "{:<24}  {:<24}  {:<20}  {:>5}  {:>8}  {:<6}  {:<20}  BY STATUS / BY CATEGORY",
            "SITE", "OPERATOR", "ICP", "PAGES", "FINDINGS", "WORST", "LAST FETCH"
        )?;
    }
    for r in &rows {
        if json {
            super::write_json_line(&mut out, r)?;
            continue;
        }
        let join = |m: &std::collections::BTreeMap<String, u64>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        writeln!(
            out,
            "{}  {}  {}  {:>5}  {:>8}  {:<6}  {:<20}  {} / {}",
            fit(&r.site, 24),
            fit(r.operator.as_deref().unwrap_or("-"), 24),
            fit(r.icp.as_deref().unwrap_or("-"), 20),
            r.pages,
            r.findings,
            r.worst.map_or("-", |s| s.as_str()),
            r.last_fetch
                .as_deref()
                .map(|t| finscan::time::from_stored(t)
                    .map_or_else(|| t.to_string(), |t| super::zone().human(t)))
                .unwrap_or_else(|| "-".to_string()),
            join(&r.by_status),
            join(&r.by_category)
        )?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

/// Adds one `--where KEY=VALUE` to a query (the library's filter
/// vocabulary, times in the reader's zone).
fn add_where(q: &mut Query, w: &str) -> anyhow::Result<()> {
    let Some((k, v)) = w.split_once('=') else {
        bail!("--where {w:?}: expected KEY=VALUE (site=a.com, category=fund-pool …)");
    };
    review::filter::add_filter(q, k, v, super::zone())
        .map_err(|e| anyhow::anyhow!("--where {w:?}: {e}"))
}

/// Asks before a batch decision on `n` findings, unless `yes`; refuses
/// without a terminal to ask on.
fn confirm_batch(n: usize, verb: &str, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        bail!("refusing to {verb} {n} finding(s) without --yes: standard input is not a terminal");
    }
    eprint!("{verb} these {n} finding(s)? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        eprintln!("finscan: nothing changed");
        return Ok(false);
    }
    Ok(true)
}

/// `finscan review` through the server: the same questions and messages,
/// the decisions made by the server's desk.
fn review_remote(
    c: &finscan::serve::client::Client,
    a: &ReviewArgs,
    d: &Decision,
) -> anyhow::Result<Outcome> {
    let verb = d.action.kind().as_str();
    let mut body = serde_json::json!({
        "action": verb,
        "reviewer": d.reviewer,
        "note": d.note,
        "deadline": a.deadline,
    });
    let ids: Vec<String> = if a.ids.is_empty() {
        let mut q = Query::default();
        for w in &a.filters {
            add_where(&mut q, w)?;
        }
        let mut filter: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
        for (k, v) in super::serve::filter_params(&q) {
            filter.entry(k).or_default().push(v);
        }
        let mut dry = body.clone();
        dry["where"] = serde_json::json!(filter);
        dry["dry_run"] = true.into();
        let r: finscan::serve::api::BatchResponse = c.post_json("/api/review", &dry)?;
        eprintln!(
            "finscan: {} finding(s) match {} and can be {}",
            r.ids.len(),
            a.filters.join(" "),
            participle(verb)
        );
        if r.ids.is_empty() || !confirm_batch(r.ids.len(), verb, a.yes)? {
            return Ok(Outcome::Clean);
        }
        r.ids
    } else {
        a.ids.iter().map(|i| i.to_string()).collect()
    };
    body["ids"] = serde_json::json!(ids);
    let r: finscan::serve::api::BatchResponse = c.post_json("/api/review", &body)?;
    eprintln!(
        "finscan: {} of {} finding(s): {verb} recorded by {}",
        r.reviewed,
        ids.len(),
        d.reviewer
    );
    Ok(Outcome::Clean)
}

pub fn review(a: ReviewArgs) -> anyhow::Result<Outcome> {
    let action = if a.confirm {
        Action::Confirm
    } else if a.dismiss {
        Action::Dismiss
    } else if a.notify {
        match a.deadline {
            Some(deadline) => Action::Notify { deadline },
            None => bail!("--notify needs --deadline YYYY-MM-DD"),
        }
    } else if a.refer {
        Action::Refer
    } else if a.reopen {
        Action::Reopen
    } else {
        bail!("give one of --confirm, --dismiss, --notify, --refer, --reopen");
    };
    let d = Decision {
        action,
        reviewer: a.reviewer.trim().to_owned(),
        note: a.note.clone(),
    };
    let verb = d.action.kind().as_str();
    if !a.ids.is_empty() && !a.filters.is_empty() {
        bail!("give finding ids or --where filters, not both");
    }
    if a.ids.is_empty() && a.filters.is_empty() {
        bail!("give finding ids, or --where KEY=VALUE for a batch");
    }
    if let Some(c) = super::serve::remote(&a.db.dir())? {
        return review_remote(&c, &a, &d);
    }
    let desk = open_desk(&a.db)?;
    let ids = if a.ids.is_empty() {
        let mut q = Query::default();
        for w in &a.filters {
            add_where(&mut q, w)?;
        }
        let ids = desk.batch_targets(&q, &d)?;
        eprintln!(
            "finscan: {} finding(s) match {} and can be {}",
            ids.len(),
            a.filters.join(" "),
            participle(verb)
        );
        if ids.is_empty() || !confirm_batch(ids.len(), verb, a.yes)? {
            return Ok(Outcome::Clean);
        }
        ids
    } else {
        a.ids.clone()
    };
    let total = ids.len();
    let done = match desk.review(&ids, &d, |done, total| {
        // after each flush (about every 1,000): decisions recorded for good
        if done < total {
            eprintln!("finscan: {verb}: {done}/{total}");
        }
    }) {
        Ok(n) => n,
        Err(
            e @ (ReviewError::Refused(_) | ReviewError::NotFound(_) | ReviewError::BadDecision(_)),
        ) => {
            bail!("{e}")
        }
        Err(e) => return Err(e.into()),
    };
    desk.flush()?;
    eprintln!(
        "finscan: {done} of {total} finding(s): {verb} recorded by {}",
        d.reviewer
    );
    Ok(Outcome::Clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_pads_and_cuts_by_display_width() {
        assert_eq!(fit("ab", 4), "ab  ");
        assert_eq!(fit("保本保息", 8), "保本保息");
        assert_eq!(fit("保本保息", 6).width(), 6);
        assert!(fit("保本保息", 6).contains('…'));
    }
}

#[derive(Args)]
pub struct TakedownArgs {
    #[command(flatten)]
    db: DbArg,
    #[arg(long, value_parser = super::one_of(&Format::ALL, Format::name))]
    format: Format,
    /// File to write.
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    filter: Box<FilterArgs>,
}

/// `export takedown`: the takedown list for the internet information
/// office, one row per site with confirmed findings (confirmed, notified,
/// persisting, referred).
pub fn export_takedown(args: TakedownArgs) -> anyhow::Result<Outcome> {
    let TakedownArgs {
        db,
        format,
        out,
        filter,
    } = args;
    let q = filter.query();
    if q.source == Some(SourceKind::Registry) {
        bail!("the takedown list is of sites: --source registry has no rows here");
    }
    let rows = if let Some(c) = super::serve::remote(&db.dir())? {
        let mut params = super::serve::filter_params(&q);
        params.push(("format", format.name().to_owned()));
        params.push(("tz", super::zone().name().to_owned()));
        let summary = super::serve::download(&c, "/api/exports/takedown", &params, &out)?;
        summary["rows"].as_u64().unwrap_or(0) as usize
    } else {
        let desk = open_desk(&db)?;
        use finscan::export::takedown;
        let rows = takedown::takedown_rows(&desk, &q, super::zone())?;
        super::report::write_atomically(&out, |tmp| Ok(takedown::write(&rows, format, tmp)?))
            .with_context(|| format!("exporting the takedown list to {}", out.display()))?;
        rows.len()
    };
    eprintln!(
        "finscan: takedown list of {rows} site(s) written to {}",
        out.display()
    );
    Ok(Outcome::Clean)
}

/// "confirmed", "notified", "referred": a review verb as done.
fn participle(verb: &str) -> String {
    match verb {
        "notify" => "notified".into(),
        "refer" => "referred".into(),
        v => format!("{v}ed"),
    }
}

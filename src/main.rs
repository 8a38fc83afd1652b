//! The `finscan` command line: parses arguments, calls the library, prints.
//!
//! Exit codes (documented in README.md):
//! * 0: finished, nothing found;
//! * 1: finished, hits found;
//! * 2: fatal error (bad arguments, bad rules, unusable database): nothing done;
//! * 3: finished, but some inputs could not be read and were skipped
//!   (hits may have been found too; see the summary on stderr).

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "finscan",
    version,
    about = "Find illegal internet-finance activity: scan pages and registry records against the 2016 rectification plan's rules"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
    /// Time zone of the times shown and written in JSON (an IANA name such as
    /// Asia/Shanghai or UTC; default: the TZ variable if it names a zone, else Asia/Shanghai).
    #[arg(long, global = true, value_name = "ZONE")]
    tz: Option<String>,
    /// Go through the finscan server at this URL (default: the server whose
    /// serve.json is in the database directory, when it answers).
    #[arg(long, global = true, value_name = "URL", env = "FINSCAN_SERVER")]
    server: Option<String>,
    /// API token for the server (prefer FINSCAN_TOKEN: a command line is
    /// visible to other users).
    #[arg(
        long,
        global = true,
        value_name = "TOKEN",
        env = "FINSCAN_TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Scan local files or directories (HTML or text, UTF-8/GBK/Big5); `-` reads stdin.
    Scan(cli::scan::ScanArgs),
    /// Crawl platform websites politely, scan every page, store pages and hits.
    Crawl(cli::crawl::CrawlArgs),
    /// Read back stored pages.
    Pages {
        #[command(subcommand)]
        command: cli::crawl::PagesCommand,
    },
    /// Findings (page hits and flagged companies): list, show, history, check.
    Hits {
        #[command(subcommand)]
        command: cli::review::HitsCommand,
    },
    /// Sites: one row per registrable domain with its findings.
    Sites {
        #[command(subcommand)]
        command: cli::review::SitesCommand,
    },
    /// Record a reviewer's decision on findings, by id or by filter.
    Review(cli::review::ReviewArgs),
    /// Fetch again the pages of notified findings past their deadline and
    /// decide them: rectified (the evidence is gone), persisting, or not
    /// fetched (the finding stays notified).
    Recheck(cli::recheck::RecheckArgs),
    /// Serve bundled sample platform sites on 127.0.0.1, crawl them and print the hits.
    Demo(cli::crawl::DemoArgs),
    /// Company registration records: import, validate credit codes, scan, attribute to counties.
    Registry {
        #[command(subcommand)]
        command: cli::registry::RegistryCommand,
    },
    /// Write what other offices receive: `takedown`, the takedown list of
    /// confirmed findings; `companies`, the flagged companies by county;
    /// `warc`, the evidence behind hits as WARC 1.1.
    Export {
        #[command(subcommand)]
        command: cli::export::ExportCommand,
    },
    /// The periodic report: one self-contained HTML file with charts of the
    /// findings by category, county, status and over time, the top sites and
    /// the rectification rate.
    Report(cli::report::ReportArgs),
    /// Own the database and answer the HTTP API (config: finscan.toml).
    Serve(cli::serve::ServeArgs),
    /// API tokens of the server: add (printed once, stored hashed), list, revoke.
    Token {
        #[command(subcommand)]
        command: cli::token::TokenCommand,
    },
    /// Validate, list or export the rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Validate rule files; errors are printed as FILE:LINE: message.
    Check {
        /// Directory of *.toml rule files (default: the rules built into finscan).
        #[arg(long, env = "FINSCAN_RULES")]
        rules: Option<PathBuf>,
    },
    /// Print the rules.
    List {
        #[arg(long, env = "FINSCAN_RULES")]
        rules: Option<PathBuf>,
        /// One JSON object per rule per line.
        #[arg(long)]
        json: bool,
    },
    /// Print every term, one per line (the input of `rg -F -f`).
    Terms {
        #[arg(long, env = "FINSCAN_RULES")]
        rules: Option<PathBuf>,
        /// Only the terms of rules for this field (name, scope, page).
        #[arg(long, value_parser = cli::parse_field)]
        field: Option<finscan::Field>,
    },
}

fn main() -> ExitCode {
    cli::memory::tune_allocator();
    // the zone is needed while the arguments are parsed (--since, --until
    // read dates in it), so --tz is looked up before clap runs
    let argv: Vec<String> = std::env::args().collect();
    let tz_flag = argv.iter().enumerate().find_map(|(i, a)| {
        a.strip_prefix("--tz=")
            .map(str::to_owned)
            .or_else(|| (a == "--tz").then(|| argv.get(i + 1).cloned()).flatten())
    });
    if let Ok(z) = finscan::time::Zone::from_flag_or_env(tz_flag.as_deref()) {
        cli::set_zone(z);
    }
    let args = Args::parse();
    match finscan::time::Zone::from_flag_or_env(args.tz.as_deref()) {
        Ok(z) => cli::set_zone(z),
        Err(e) => {
            eprintln!("finscan: error: --tz: {e}");
            return cli::Outcome::Fatal.into();
        }
    }
    cli::serve::set_remote(args.server, args.token);
    let result = match args.command {
        Command::Scan(a) => cli::scan::run(a),
        Command::Crawl(a) => cli::crawl::crawl(a),
        Command::Pages { command } => cli::crawl::pages(command),
        Command::Hits { command } => cli::review::hits(command),
        Command::Sites { command } => cli::review::sites(command),
        Command::Review(a) => cli::review::review(a),
        Command::Recheck(a) => cli::recheck::recheck(a),
        Command::Demo(a) => cli::crawl::demo(a),
        Command::Registry { command } => cli::registry::run(command),
        Command::Export { command } => cli::export::run(command),
        Command::Report(a) => cli::report::run(a),
        Command::Serve(a) => cli::serve::serve(a),
        Command::Token { command } => cli::token::run(command),
        Command::Rules { command } => match command {
            RulesCommand::Check { rules } => cli::rules::check(rules.as_deref()),
            RulesCommand::List { rules, json } => cli::rules::list(rules.as_deref(), json),
            RulesCommand::Terms { rules, field } => cli::rules::terms(rules.as_deref(), field),
        },
    };
    match result {
        Ok(code) => code.into(),
        Err(e) => {
            eprintln!("finscan: error: {e:#}");
            cli::Outcome::Fatal.into()
        }
    }
}

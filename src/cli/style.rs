//! Colour in terminal output, decided by `anstream` as clap decides it:
//! only on a terminal, never when `NO_COLOR` is set (`CLICOLOR_FORCE`
//! forces it), for stdout and stderr separately.

use anstream::ColorChoice;
use anstyle::{AnsiColor, Style};

/// The evidence inside a snippet.
pub const MATCH: Style = Style::new()
    .bold()
    .fg_color(Some(anstyle::Color::Ansi(AnsiColor::Red)));

/// Whether stdout gets escape sequences.
pub fn stdout_colored() -> bool {
    anstream::AutoStream::choice(&std::io::stdout()) != ColorChoice::Never
}

/// Whether stderr gets escape sequences (log lines, progress).
pub fn stderr_colored() -> bool {
    anstream::AutoStream::choice(&std::io::stderr()) != ColorChoice::Never
}

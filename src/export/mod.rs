//! Exports for those who act on findings. This module reads findings
//! through [`crate::review`] only, never the stores behind them.
//!
//! * [`takedown`]: the takedown list for the internet information office
//!   (网信办): one row per site, XLSX / CSV / JSON.

pub mod takedown;

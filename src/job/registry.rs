//! The registry scan job: a registry scan of files or folders
//! ([`crate::registry::pipeline`]) into a database the caller holds open,
//! then the decisions on notified findings it read again (as after
//! `finscan registry scan`).
//!
//! Blocking (threads and sled): an async caller runs it on the blocking
//! pool. The CLI opens only the registry's part of the database for the
//! scan and makes the decisions with [`super::recheck::decide_after_reading`]
//! afterwards; a server that owns the database calls [`run_registry_scan`].

use serde::Serialize;

use super::recheck::{AfterReading, decide_after_reading};
use super::{Cancel, JobError};
use crate::registry::pipeline::{
    RecordSink, RegistryScan, RegistryScanOptions, RegistryScanReport,
};
use crate::registry::store::RegistryStore;
use crate::store::Store;
use crate::time::Zone;

/// What a registry scan job did: the scan's report, and the decisions on
/// notified companies read again.
#[derive(Debug, Clone, Serialize)]
pub struct RegistryJobReport {
    #[serde(flatten)]
    pub scan: RegistryScanReport,
    pub recheck: Option<AfterReading>,
}

/// Scans the inputs of `opts` into `store`'s database, handing records to
/// `sink` (warnings about the options first), then decides the notified
/// findings past their deadline (the end of the deadline's day in `zone`).
/// `cancel` stops the reading between batches; what was read is stored
/// and decided on, and the report says `cancelled`.
///
/// The registry part of the database must not be open elsewhere in the
/// process while this runs (its index file has one writer).
pub fn run_registry_scan(
    opts: &RegistryScanOptions,
    store: &Store,
    sink: &mut dyn RecordSink,
    cancel: &Cancel,
    zone: &Zone,
) -> Result<RegistryJobReport, JobError> {
    let scan = RegistryScan::new(opts)?;
    for w in scan.warnings() {
        sink.warning(w);
    }
    let report = {
        let mut registry = RegistryStore::from_db(store.db().clone(), store.dir())?;
        scan.run(Some(&mut registry), sink, cancel)?
        // dropped here: the decisions read the registry through a handle of their own
    };
    let recheck = decide_after_reading(store, crate::time::now(), zone)?;
    Ok(RegistryJobReport {
        scan: report,
        recheck,
    })
}

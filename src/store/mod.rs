//! The sled database: pages, raw bodies, hits, frontier; trees named for what
//! they hold. A page's hits and its "done" mark are written in one transaction.

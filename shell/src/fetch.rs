//! The workbench as a board's fetcher: a bare-metal kernel cannot reach a
//! package server, so it says what it wants in `fetch` events and the
//! workbench fetches that (with the same client the hosted engine uses)
//! and forwards the bytes over the monitor link. The kernel verifies them;
//! the workbench is only a courier.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tidemark_fetch::Fetcher;
use tidemark_protocol::{EventKind, MAX_CATALOG, req};

use crate::client::{CallError, Client};

/// Package outcomes kept for commands waiting on them.
const OUTCOMES: usize = 64;
/// Fetch orders kept; a kernel asks for one per package at a time.
const ORDERS: usize = 256;

/// A fetch the kernel asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Order {
    /// Package (empty: the catalog).
    pub package: String,
    /// SHA-256 hex (empty: the catalog).
    pub hash: String,
    /// Bytes expected.
    pub size: u64,
    /// What to GET.
    pub url: String,
}

/// What the client noted from passing events.
pub struct Watch {
    orders: VecDeque<Order>,
    outcomes: VecDeque<EventKind>,
    courier: bool,
}

impl Default for Watch {
    fn default() -> Watch {
        Watch {
            orders: VecDeque::new(),
            outcomes: VecDeque::new(),
            courier: true,
        }
    }
}

impl Watch {
    /// Whether this client serves the kernel's fetch orders (on by default).
    /// Every event reaches every client of a shared link, so where several
    /// share one (`tidemark dev`) exactly one, the one that polls, is the
    /// courier; the others only wait for outcomes.
    pub fn set_courier(&mut self, on: bool) {
        self.courier = on;
        if !on {
            self.orders.clear();
        }
    }

    /// Notes a package event: an order to serve (when the kernel does not
    /// fetch itself) or an outcome.
    pub fn note(&mut self, kind: &EventKind, kernel_fetches: bool) {
        match kind {
            EventKind::Fetch {
                package,
                hash,
                size,
                url,
            } if !kernel_fetches && self.courier => {
                if self.orders.len() < ORDERS {
                    self.orders.push_back(Order {
                        package: package.clone(),
                        hash: hash.clone(),
                        size: *size,
                        url: url.clone(),
                    });
                }
            }
            EventKind::CatalogLoaded { .. }
            | EventKind::CatalogRejected { .. }
            | EventKind::PackageInstalled { .. }
            | EventKind::PackageRejected { .. } => {
                if self.outcomes.len() >= OUTCOMES {
                    self.outcomes.pop_front();
                }
                self.outcomes.push_back(kind.clone());
            }
            _ => {}
        }
    }

    /// Takes the first outcome `want` accepts.
    pub fn take_outcome(&mut self, want: impl Fn(&EventKind) -> bool) -> Option<EventKind> {
        let i = self.outcomes.iter().position(want)?;
        self.outcomes.remove(i)
    }

    /// Forgets outcomes seen so far (before a new request).
    pub fn clear_outcomes(&mut self) {
        self.outcomes.clear();
    }
}

/// Serves every fetch order noted so far: GET, then `LoadCatalog` or
/// `Deliver`. The kernel's refusal of what was forwarded is its own event,
/// not an error here; only a failed link is.
pub fn serve(client: &mut Client, fetcher: &Fetcher) -> Result<usize, CallError> {
    let mut served = 0;
    while let Some(o) = client.packages.orders.pop_front() {
        served += 1;
        if o.package.is_empty() {
            let got = fetcher.get(&o.url, MAX_CATALOG);
            let (bytes, failure) = split(got);
            match client.call(req::LoadCatalog { bytes, failure }) {
                Ok(_) | Err(CallError::Kernel(_)) => {}
                Err(e) => return Err(e),
            }
        } else {
            let got = fetcher.get(&o.url, o.size as usize);
            let (bytes, failure) = split(got);
            match client.call(req::Deliver {
                hash: o.hash,
                bytes,
                failure,
            }) {
                Ok(_) | Err(CallError::Kernel(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(served)
}

fn split(got: Result<Vec<u8>, String>) -> (Vec<u8>, Option<String>) {
    match got {
        Ok(b) => (b, None),
        Err(why) => (Vec::new(), Some(why)),
    }
}

/// Waits for an outcome `want` accepts, serving fetches meanwhile, until
/// `within` passes.
pub fn await_outcome(
    client: &mut Client,
    fetcher: &Fetcher,
    within: Duration,
    want: impl Fn(&EventKind) -> bool,
) -> Result<Option<EventKind>, CallError> {
    let deadline = Instant::now() + within;
    loop {
        serve(client, fetcher)?;
        if let Some(o) = client.packages.take_outcome(&want) {
            return Ok(Some(o));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        client.pump(left.min(Duration::from_millis(20)))?;
    }
}

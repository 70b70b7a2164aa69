//! Admission of connections that have not authenticated yet: a cap on them overall and per
//! source address. A [`Permit`] is held from the first packet through the handshake and, for
//! an enrollment, until it is answered; an agent's is released once its certificate is
//! accepted.

use prometheus_client::metrics::gauge::Gauge;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

pub struct Gate {
    /// Mirrors the number held, for /metrics.
    gauge: Gauge,
    max_total: usize,
    max_per_source: usize,
    held: Mutex<Held>,
}

#[derive(Default)]
struct Held {
    total: usize,
    by_source: HashMap<IpAddr, usize>,
}

/// Why a connection was not admitted.
#[derive(Debug, PartialEq, Eq)]
pub enum Full {
    Total,
    Source,
}

impl Full {
    pub fn reason(&self) -> &'static str {
        match self {
            Full::Total => "unauthenticated_limit",
            Full::Source => "unauthenticated_per_source_limit",
        }
    }
}

pub struct Permit {
    gate: Arc<Gate>,
    source: IpAddr,
}

impl Gate {
    pub fn new(max_total: usize, max_per_source: usize, gauge: Gauge) -> Arc<Gate> {
        Arc::new(Gate { gauge, max_total, max_per_source, held: Mutex::default() })
    }

    /// Unauthenticated connections held now.
    pub fn held(&self) -> usize {
        self.held.lock().unwrap_or_else(|p| p.into_inner()).total
    }

    pub fn admit(self: &Arc<Gate>, source: IpAddr) -> Result<Permit, Full> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.total >= self.max_total {
            return Err(Full::Total);
        }
        let from_source = held.by_source.entry(source).or_default();
        if *from_source >= self.max_per_source {
            return Err(Full::Source);
        }
        *from_source += 1;
        held.total += 1;
        self.gauge.set(held.total as i64);
        Ok(Permit { gate: self.clone(), source })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.gate.held.lock().unwrap_or_else(|p| p.into_inner());
        held.total -= 1;
        self.gate.gauge.set(held.total as i64);
        if let Some(n) = held.by_source.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                held.by_source.remove(&self.source);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_overall_and_per_source_and_permits_return() {
        let gate = Gate::new(3, 2, Gauge::default());
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let c: IpAddr = "192.0.2.3".parse().expect("ip");
        let first = gate.admit(a).expect("first");
        let _second = gate.admit(a).expect("second");
        assert_eq!(gate.admit(a).err(), Some(Full::Source));
        let _third = gate.admit(b).expect("other source");
        assert_eq!(gate.admit(c).err(), Some(Full::Total));
        drop(first);
        assert_eq!(gate.held(), 2);
        assert!(gate.admit(c).is_ok());
    }
}

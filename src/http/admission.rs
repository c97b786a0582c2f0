//! Who may have a connection: the counts per client address and in all, and which waiting
//! connection makes way when a limit is reached.
//!
//! Owned by the poller thread alone, so it needs no lock. A connection is *evictable* while it
//! waits in the poller (idle between requests, or sending a head); connections with a handler,
//! or with an answer on its way out, are not. The one evicted is the one waiting longest.

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::time::Instant;

/// Waiting connections, by when their wait began, then token.
type Waiting = BTreeSet<(Instant, usize)>;

pub struct Admission {
    max_connections: usize,
    max_per_address: usize,
    total: usize,
    per_address: HashMap<IpAddr, usize>,
    evictable: Waiting,
    evictable_by_address: HashMap<IpAddr, Waiting>,
}

/// Every connection that counts against the limit is busy: refuse the newcomer.
pub struct Full;

impl Admission {
    pub fn new(max_connections: usize, max_per_address: usize) -> Admission {
        Admission {
            max_connections,
            max_per_address,
            total: 0,
            per_address: HashMap::new(),
            evictable: BTreeSet::new(),
            evictable_by_address: HashMap::new(),
        }
    }

    /// The connection to close before one more from `address` may open (`None`: there is
    /// room), or [`Full`]. Call again after closing it: both limits may need a place.
    pub fn victim_for(&self, address: IpAddr) -> Result<Option<usize>, Full> {
        if self.per_address.get(&address).copied().unwrap_or(0) >= self.max_per_address {
            let oldest = self.evictable_by_address.get(&address).and_then(|set| set.first());
            return oldest.map(|(_, token)| Some(*token)).ok_or(Full);
        }
        if self.total >= self.max_connections {
            return self.evictable.first().map(|(_, token)| Some(*token)).ok_or(Full);
        }
        Ok(None)
    }

    /// The longest-waiting evictable connection other than `keep`.
    pub fn oldest_except(&self, keep: usize) -> Option<usize> {
        self.evictable.iter().map(|(_, token)| *token).find(|token| *token != keep)
    }

    pub fn opened(&mut self, address: IpAddr) {
        self.total += 1;
        *self.per_address.entry(address).or_default() += 1;
    }

    pub fn closed(&mut self, address: IpAddr) {
        self.total = self.total.saturating_sub(1);
        if let Some(count) = self.per_address.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                self.per_address.remove(&address);
            }
        }
    }

    /// The connection `token` from `address` waits in the poller since `since`.
    pub fn waiting(&mut self, token: usize, address: IpAddr, since: Instant) {
        self.evictable.insert((since, token));
        self.evictable_by_address.entry(address).or_default().insert((since, token));
    }

    /// The connection no longer waits (it is busy, writing, or gone).
    pub fn not_waiting(&mut self, token: usize, address: IpAddr, since: Instant) {
        self.evictable.remove(&(since, token));
        if let Some(set) = self.evictable_by_address.get_mut(&address) {
            set.remove(&(since, token));
            if set.is_empty() {
                self.evictable_by_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_longest_waiting_makes_way_and_busy_ones_do_not() {
        let (a, b) = (IpAddr::from([127, 0, 0, 1]), IpAddr::from([127, 0, 0, 2]));
        let mut admission = Admission::new(3, 2);
        let t0 = Instant::now();
        for (token, address, offset) in [(10, a, 0), (11, a, 1), (12, b, 2)] {
            assert!(matches!(admission.victim_for(address), Ok(None)));
            admission.opened(address);
            admission.waiting(token, address, t0 + Duration::from_millis(offset));
        }
        assert!(matches!(admission.victim_for(a), Ok(Some(10))), "a's own oldest, at a's limit");
        assert!(matches!(admission.victim_for(IpAddr::from([127, 0, 0, 3])), Ok(Some(10))), "anyone's oldest");
        admission.not_waiting(10, a, t0);
        assert!(matches!(admission.victim_for(a), Ok(Some(11))), "a busy connection does not make way");
        admission.not_waiting(11, a, t0 + Duration::from_millis(1));
        assert!(matches!(admission.victim_for(a), Err(Full)));
        assert_eq!(admission.oldest_except(12), None);
        admission.closed(a);
        assert!(matches!(admission.victim_for(a), Ok(None)), "room again");
        admission.opened(IpAddr::from([127, 0, 0, 4]));
        assert!(matches!(admission.victim_for(a), Ok(Some(12))), "room for a, but not in all: b's waits longest");
    }
}

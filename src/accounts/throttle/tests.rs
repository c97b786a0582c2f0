//! Unit tests of the login throttle: windows, per-pair and per-address limits, check slots.

use super::*;

const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1));
const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2));

fn fail(throttle: &Throttle, user: &str, from: IpAddr, at: Instant) {
    let mut charge = throttle.begin_at(user, from, at).unwrap_or_else(|w| panic!("{user} throttled for {w:?}"));
    charge.settle(Outcome::Failed, at);
}

#[test]
fn waits_double_from_the_last_failure_and_old_failures_are_forgotten() {
    let throttle = Throttle::new();
    let t0 = Instant::now();
    for _ in 0..FREE_FAILURES {
        fail(&throttle, "alice", A, t0);
    }
    assert_eq!(throttle.begin_at("alice", A, t0).err(), Some(Duration::from_secs(1)));
    fail(&throttle, "alice", A, t0 + Duration::from_secs(1));
    assert_eq!(throttle.begin_at("alice", A, t0 + Duration::from_millis(2500)).err(), Some(Duration::from_millis(500)));
    fail(&throttle, "alice", A, t0 + Duration::from_secs(3));
    assert_eq!(throttle.begin_at("alice", A, t0 + Duration::from_secs(3)).err(), Some(Duration::from_secs(4)));
    let later = t0 + Duration::from_secs(3) + FORGET_AFTER;
    for _ in 0..FREE_FAILURES {
        fail(&throttle, "alice", A, later);
    }
    assert!(throttle.begin_at("alice", A, later).is_err(), "forgotten failures leave a fresh count");
}

#[test]
fn attempts_in_progress_count_until_settled() {
    let throttle = Throttle::new();
    let now = Instant::now();
    let charges: Vec<_> = (0..FREE_FAILURES).map(|_| throttle.begin_at("alice", A, now).unwrap()).collect();
    assert!(throttle.begin_at("alice", A, now).is_err(), "a fourth concurrent attempt must wait");
    drop(charges);
    let charge = throttle.begin_at("alice", A, now).expect("unchecked attempts are given back");
    charge.succeeded();
    assert!(lock(&throttle.state).pairs.map.is_empty() && lock(&throttle.state).addresses.map.is_empty());
}

#[test]
fn a_pair_is_throttled_without_locking_out_its_user_elsewhere_or_its_address_for_others() {
    let throttle = Throttle::new();
    let now = Instant::now();
    for _ in 0..FREE_FAILURES {
        fail(&throttle, "alice", A, now);
    }
    assert!(throttle.begin_at("alice", A, now).is_err());
    throttle.begin_at("bob", A, now).expect("another name from the same address").succeeded();
    throttle.begin_at("alice", B, now).expect("the same name from another address").succeeded();
    let mapped = IpAddr::V6(std::net::Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped());
    assert!(throttle.begin_at("alice", mapped, now).is_err(), "an IPv4 client over IPv6 is the same client");
}

#[test]
fn spraying_many_names_throttles_the_address_for_every_name() {
    let throttle = Throttle::new();
    let now = Instant::now();
    for n in 0..FREE_ADDRESS_FAILURES {
        fail(&throttle, &format!("user{n}"), A, now);
    }
    assert_eq!(throttle.begin_at("someone-new", A, now).err(), Some(Duration::from_secs(1)));
    assert!(throttle.begin_at("bob", B, now).is_ok(), "other addresses are unaffected");
    // A success from the address gives back only its own charge, never earlier failures.
    let at = now + Duration::from_secs(1);
    throttle.begin_at("bob", A, at).unwrap().succeeded();
    fail(&throttle, "carol", A, at);
    assert_eq!(throttle.begin_at("dave", A, at).err(), Some(Duration::from_secs(2)));
}

#[test]
fn keys_and_maps_stay_bounded() {
    let throttle = Throttle::new();
    let now = Instant::now();
    let long = "é".repeat(100);
    for _ in 0..FREE_FAILURES {
        fail(&throttle, &long, A, now);
    }
    let same_prefix = format!("{}x", "é".repeat(40));
    assert!(throttle.begin_at(&same_prefix, A, now).is_err(), "names are keyed by their first 64 bytes");
    assert!(lock(&throttle.state).pairs.map.keys().all(|(name, _)| name.len() <= MAX_NAME_BYTES));

    let throttle = Throttle::new();
    for n in 0..MAX_RECORDS as u32 + 50 {
        let from = IpAddr::from((0x0a00_0000 + n).to_be_bytes());
        fail(&throttle, "x", from, now + Duration::from_millis(u64::from(n)));
    }
    let state = lock(&throttle.state);
    assert_eq!((state.pairs.map.len(), state.addresses.map.len()), (MAX_RECORDS, MAX_RECORDS));
    assert!(!state.addresses.map.contains_key(&IpAddr::from([10, 0, 0, 0])), "the oldest are evicted");
    assert!(state.addresses.map.contains_key(&IpAddr::from((0x0a00_0000u32 + 10_049).to_be_bytes())));
}

#[test]
fn backoff_grows_from_one_second_to_five_minutes() {
    assert_eq!(backoff(FREE_FAILURES - 1, FREE_FAILURES), None);
    assert_eq!(backoff(FREE_FAILURES, FREE_FAILURES), Some(Duration::from_secs(1)));
    assert_eq!(backoff(FREE_FAILURES + 3, FREE_FAILURES), Some(Duration::from_secs(8)));
    assert_eq!(backoff(u32::MAX, FREE_FAILURES), Some(MAX_WAIT));
}

#[test]
fn slots_bound_holders_and_waiters() {
    let slots = Slots::new(2, 1);
    let first = slots.acquire_within(Duration::ZERO).unwrap();
    let _second = slots.acquire_within(Duration::ZERO).unwrap();
    assert!(slots.acquire_within(Duration::from_millis(20)).is_none(), "a third holder must wait");
    std::thread::scope(|scope| {
        let waiter = scope.spawn(|| slots.acquire_within(Duration::from_secs(60)).is_some());
        let deadline = Instant::now() + Duration::from_secs(30);
        while slots.waiting() == 0 {
            assert!(Instant::now() < deadline, "the waiter never started waiting");
            std::thread::yield_now();
        }
        let started = Instant::now();
        assert!(slots.acquire_within(Duration::from_secs(60)).is_none(), "the queue is full");
        assert!(started.elapsed() < Duration::from_secs(30), "a full queue refuses at once");
        drop(first);
        assert!(waiter.join().unwrap(), "a waiter gets the slot given back");
    });
    assert_eq!(slots.waiting(), 0);
}

//! Which host runs the next job: the slots of every host of a `-S` run, taken by
//! workers as jobs start and given back as they end.
//!
//! Owns: [`HostSlots`], per host its slot count, the jobs running on it, when one
//! last ended and whether it is up (a suspect or dead host takes no new job); and
//! how many jobs wait for a slot.
//!
//! Slot counts change during the run (`exec/host_controller.rs`): growing one
//! wakes waiting jobs; lowering one stops no running job, the host just takes no
//! new one until it runs fewer than its count. The sum of the counts never
//! exceeds the run's cap.
//!
//! Invariants: a host never starts a job while it runs its slots or more; [`HostSlots::acquire`]
//! blocks while every up host is full, and fails at once when no host is up and
//! none is being probed (all dead: the run must not hang) or after
//! [`HostSlots::close`]; every state change wakes the waiting workers.

use std::sync::{Condvar, Mutex};
use std::time::Instant;

use crate::run::exec::host_controller::HostNow;
use crate::run::lock::lock;

/// What a host is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostState {
    /// Takes jobs.
    Up,
    /// A job was lost on it: it is being probed and takes no job meanwhile.
    Suspect,
    /// Its probe failed: no job goes to it until a later probe succeeds.
    Dead,
}

#[derive(Debug)]
struct Host {
    slots: usize,
    running: usize,
    state: HostState,
    /// When a job on it last ended (at first: when the run began).
    last_end: Instant,
}

#[derive(Debug)]
struct State {
    hosts: Vec<Host>,
    closed: bool,
    /// Callers of `acquire` waiting for a slot.
    waiting: usize,
    /// Most slots over all hosts.
    cap: usize,
}

/// Why no slot was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoSlot {
    /// The run is stopping.
    Closed,
    /// Every host is dead.
    AllDead,
}

/// The slots of the run's hosts; see the module header.
#[derive(Debug)]
pub(crate) struct HostSlots {
    state: Mutex<State>,
    changed: Condvar,
}

impl HostSlots {
    /// Hosts with these slot counts, all up; at most `cap` slots in all.
    pub(crate) fn new(slots: &[usize], cap: usize) -> HostSlots {
        let now = Instant::now();
        let hosts = slots
            .iter()
            .map(|&slots| Host {
                slots,
                running: 0,
                state: HostState::Up,
                last_end: now,
            })
            .collect();
        HostSlots {
            state: Mutex::new(State {
                hosts,
                closed: false,
                waiting: 0,
                cap: cap.max(slots.iter().sum()),
            }),
            changed: Condvar::new(),
        }
    }

    /// Takes a slot on the up host with the most free slots (of equals, the one
    /// running fewer jobs, then the first), waiting for one; returns its index.
    pub(crate) fn acquire(&self) -> Result<usize, NoSlot> {
        let mut state = lock(&self.state);
        loop {
            if state.closed {
                return Err(NoSlot::Closed);
            }
            let best = state
                .hosts
                .iter()
                .enumerate()
                .filter(|(_, h)| h.state == HostState::Up && h.running < h.slots)
                .max_by_key(|(i, h)| {
                    let free = h.slots - h.running;
                    (free, std::cmp::Reverse(h.running), std::cmp::Reverse(*i))
                })
                .map(|(i, _)| i);
            if let Some(i) = best {
                state.hosts[i].running += 1;
                return Ok(i);
            }
            if state.hosts.iter().all(|h| h.state == HostState::Dead) {
                return Err(NoSlot::AllDead);
            }
            state.waiting += 1;
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            state.waiting -= 1;
        }
    }

    /// Gives back a slot of host `i`. It frees one slot at most, so it wakes one
    /// waiting job (not all: there may be hundreds).
    pub(crate) fn release(&self, i: usize) {
        let mut state = lock(&self.state);
        if let Some(h) = state.hosts.get_mut(i) {
            h.running = h.running.saturating_sub(1);
            h.last_end = Instant::now();
        }
        drop(state);
        self.changed.notify_one();
    }

    /// Sets host `i`'s slot count to `slots` (at least 1), or as near as the cap
    /// allows; returns the count it now has.
    pub(crate) fn set_slots(&self, i: usize, slots: usize) -> usize {
        let mut state = lock(&self.state);
        let others: usize = state
            .hosts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, h)| h.slots)
            .sum();
        let room = state.cap.saturating_sub(others).max(1);
        let Some(h) = state.hosts.get_mut(i) else {
            return 0;
        };
        let grew = slots > h.slots;
        h.slots = slots.clamp(1, room);
        let now = h.slots;
        drop(state);
        if grew {
            self.changed.notify_all();
        }
        now
    }

    /// Host `i` as its controller sees it.
    pub(crate) fn host_now(&self, i: usize) -> Option<HostNow> {
        let state = lock(&self.state);
        let h = state.hosts.get(i)?;
        Some(HostNow {
            slots: h.slots,
            running: h.running,
            waiting: state.waiting,
            since_progress: h.last_end.elapsed(),
        })
    }

    /// Per host: the jobs running on it and its slot count.
    pub(crate) fn usage(&self) -> Vec<(usize, usize)> {
        lock(&self.state)
            .hosts
            .iter()
            .map(|h| (h.running, h.slots))
            .collect()
    }

    /// Host `i` is now `to`; returns what it was.
    pub(crate) fn set_state(&self, i: usize, to: HostState) -> Option<HostState> {
        let mut state = lock(&self.state);
        let h = state.hosts.get_mut(i)?;
        let was = h.state;
        h.state = to;
        drop(state);
        self.changed.notify_all();
        Some(was)
    }

    /// The state of host `i`.
    pub(crate) fn state(&self, i: usize) -> Option<HostState> {
        lock(&self.state).hosts.get(i).map(|h| h.state)
    }

    /// No slot is given after this; waiting workers give up.
    pub(crate) fn close(&self) {
        lock(&self.state).closed = true;
        self.changed.notify_all();
    }

    /// Whether [`HostSlots::close`] has run.
    pub(crate) fn is_closed(&self) -> bool {
        lock(&self.state).closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn slots_fill_the_freest_host_first_and_never_overflow() {
        let hosts = HostSlots::new(&[2, 1, 1], 4);
        let got: Vec<_> = (0..4).map(|_| hosts.acquire()).collect();
        assert_eq!(got, [Ok(0), Ok(1), Ok(2), Ok(0)]);
        hosts.release(2);
        assert_eq!(hosts.acquire(), Ok(2));
    }

    #[test]
    fn a_full_run_waits_and_a_release_wakes_it() {
        let hosts = Arc::new(HostSlots::new(&[1], 1));
        assert_eq!(hosts.acquire(), Ok(0));
        let waiter = {
            let hosts = Arc::clone(&hosts);
            std::thread::spawn(move || hosts.acquire())
        };
        std::thread::sleep(Duration::from_millis(50));
        hosts.release(0);
        assert_eq!(waiter.join().ok(), Some(Ok(0)));
    }

    #[test]
    fn slots_grow_within_the_cap_and_shrinking_stops_no_running_job() {
        let hosts = Arc::new(HostSlots::new(&[1, 1], 5));
        assert_eq!(hosts.acquire(), Ok(0));
        assert_eq!(hosts.acquire(), Ok(1));
        let waiter = {
            let hosts = Arc::clone(&hosts);
            std::thread::spawn(move || hosts.acquire())
        };
        while hosts.host_now(0).map(|h| h.waiting) != Some(1) {
            std::thread::sleep(Duration::from_millis(5));
        }
        // Growing wakes the waiting job; the cap (5 in all) holds.
        assert_eq!(hosts.set_slots(0, 10), 4);
        assert_eq!(waiter.join().ok(), Some(Ok(0)));
        assert_eq!(hosts.usage(), [(2, 4), (1, 1)]);
        // Lowered under its running jobs: they go on; no new job until one ends.
        assert_eq!(hosts.set_slots(0, 1), 1);
        assert_eq!(hosts.set_slots(1, 3), 3);
        assert_eq!(hosts.acquire(), Ok(1));
        assert_eq!(hosts.acquire(), Ok(1));
        assert_eq!(hosts.usage(), [(2, 1), (3, 3)]);
        hosts.release(0);
        hosts.release(0);
        assert_eq!(hosts.acquire(), Ok(0));
        assert_eq!(hosts.set_slots(1, 0), 1, "at least one slot");
    }

    #[test]
    fn suspect_and_dead_hosts_take_no_job_and_all_dead_fails() {
        let hosts = HostSlots::new(&[1, 1], 2);
        assert_eq!(hosts.set_state(0, HostState::Suspect), Some(HostState::Up));
        assert_eq!(hosts.acquire(), Ok(1));
        hosts.release(1);
        assert_eq!(hosts.set_state(1, HostState::Dead), Some(HostState::Up));
        assert_eq!(
            hosts.set_state(0, HostState::Dead),
            Some(HostState::Suspect)
        );
        assert_eq!(hosts.acquire(), Err(NoSlot::AllDead));
        hosts.set_state(1, HostState::Up);
        assert_eq!(hosts.acquire(), Ok(1));
        hosts.close();
        assert_eq!(hosts.acquire(), Err(NoSlot::Closed));
    }
}

//! Which host runs the next job: the slots of every host of a `-S` run, taken by
//! workers as jobs start and given back as they end.
//!
//! Owns: [`HostSlots`], per host its slot count, the jobs running on it and
//! whether it is up (a suspect or dead host takes no new job).
//!
//! Invariants: a host never runs more jobs than its slots; [`HostSlots::acquire`]
//! blocks while every up host is full, and fails at once when no host is up and
//! none is being probed (all dead: the run must not hang) or after
//! [`HostSlots::close`]; every state change wakes the waiting workers.

use std::sync::{Condvar, Mutex};

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
}

#[derive(Debug)]
struct State {
    hosts: Vec<Host>,
    closed: bool,
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
    /// Hosts with these slot counts, all up.
    pub(crate) fn new(slots: &[usize]) -> HostSlots {
        let hosts = slots
            .iter()
            .map(|&slots| Host {
                slots,
                running: 0,
                state: HostState::Up,
            })
            .collect();
        HostSlots {
            state: Mutex::new(State {
                hosts,
                closed: false,
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
            state = self
                .changed
                .wait(state)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }

    /// Gives back a slot of host `i`.
    pub(crate) fn release(&self, i: usize) {
        let mut state = lock(&self.state);
        if let Some(h) = state.hosts.get_mut(i) {
            h.running = h.running.saturating_sub(1);
        }
        drop(state);
        self.changed.notify_all();
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
        let hosts = HostSlots::new(&[2, 1, 1]);
        let got: Vec<_> = (0..4).map(|_| hosts.acquire()).collect();
        assert_eq!(got, [Ok(0), Ok(1), Ok(2), Ok(0)]);
        hosts.release(2);
        assert_eq!(hosts.acquire(), Ok(2));
    }

    #[test]
    fn a_full_run_waits_and_a_release_wakes_it() {
        let hosts = Arc::new(HostSlots::new(&[1]));
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
    fn suspect_and_dead_hosts_take_no_job_and_all_dead_fails() {
        let hosts = HostSlots::new(&[1, 1]);
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

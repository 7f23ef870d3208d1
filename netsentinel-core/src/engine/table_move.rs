//! On two threads, the flow table moves to whichever stage makes the run faster.
//!
//! With the table on the output stage the packet stage only reads and decodes: right for
//! traffic whose flows live long (the office mix: 11 % faster than with the table on the
//! packet stage), wrong under a flood, where every packet creates a flow and ends one and
//! the output stage does all of it (the table on the packet stage: SYN flood 30 %, port
//! scan storm 30 %, tiny flows 25 % faster). Which is better changes with the traffic, so
//! the packet stage tries the other place from time to time and keeps it when the
//! pipeline went faster there, trying less often each time it did not.
//!
//! The traffic statistics' flow counts move with the table (see [`MovingTable`]). At the
//! end of the input the table goes to the packet stage, whatever the tries found: that
//! stage has nothing else left to do, and ends the flows still live there.
//!
//! The table moves between batches: every event of a batch is handled where the table was
//! when the batch was made, so records are the same wherever the table is (the pipeline's
//! tests force a move every few batches). A move to the packet stage waits for the output
//! stage to finish the batches already queued (a few milliseconds).
//!
//! `RUST_LOG=netsentinel_core::engine::table_move=debug` shows each try (the pace before,
//! the pace tried, whether it was kept); `=trace` every window's pace as well.

use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use crate::flow::FlowTable;
use crate::traffic::FlowCounts;

/// What moves between the stages: the flow table, and the traffic statistics' flow counts
/// with it. Every flow the table ends is counted there, and counted where the table is:
/// under a flood, where every packet ends a flow, that is 8 to 10 % of the output stage's
/// time (the host table's cache misses), which the packet stage then takes off it.
/// The counts see the ended flows in the same order wherever they are: the table moves
/// between batches only, after the stage giving it up has handled every batch made with
/// it. (The counts are an `Option` as the output stage holds them: on two threads they
/// are always there.)
pub(super) struct MovingTable<'e> {
    pub(super) table: &'e mut FlowTable,
    pub(super) counts: Option<&'e mut FlowCounts>,
}

/// What happens to the flow table after a batch, once the output stage has handled it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Handoff {
    /// It stays where it is.
    #[default]
    Stays,
    /// The packet stage gave it up before this batch's successor: the output stage takes it.
    ToOutput,
    /// The packet stage wants it for this batch's successor: the output stage hands it over.
    ToPacket,
}

/// Batches per window in the place kept: about 32,000 packets, 10 to 50 ms.
const WINDOW_BATCHES: u32 = 128;
/// Batches after a move that are not measured (the move's wait, caches refilling), and
/// batches then measured in the other place: a try costs a fraction of a window where the
/// other place is worse (on the office mix, 40 % slower a packet there).
const SETTLE_BATCHES: u32 = 16;
const TRY_BATCHES: u32 = 64;
/// Windows before the first try: the second window is measured, then the other place
/// tried. The table starts on the output stage, the wrong place under a flood (twice as
/// slow a packet there): waiting [`MIN_WAIT`] windows first kept the first 260,000
/// packets of a SYN flood there, an eighth of a 2,000,000-packet run.
const FIRST_WAIT: u32 = 1;
/// Windows in the current place before trying the other after a better place was found;
/// doubled after each try that found no better, up to [`MAX_WAIT`].
const MIN_WAIT: u32 = 8;
const MAX_WAIT: u32 = 256;
/// How much faster the other place must be to be kept: less is the noise of a window.
const KEEP_IF_FASTER: f64 = 0.95;

/// When to move the table.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum TableMoves {
    /// Try the other stage now and then; stay where the run is faster.
    #[default]
    Adaptive,
    /// Every this many batches, whatever the speed (tests: records must not change).
    #[cfg_attr(not(any(test, feature = "testutil")), allow(dead_code))] // Reason: tests only.
    Every(u32),
}

/// The packet stage's side: its ends of the two channels the table travels by, and when
/// to send it.
pub(super) struct PacketSide<'e> {
    to_output: SyncSender<MovingTable<'e>>,
    from_output: Receiver<MovingTable<'e>>,
    moves: TableMoves,
    trials: Trials,
    /// Batches since the last move ([`TableMoves::Every`]).
    since_move: u32,
}

/// The output stage's side.
pub(super) struct OutputSide<'e> {
    to_packet: SyncSender<MovingTable<'e>>,
    from_packet: Receiver<MovingTable<'e>>,
}

/// A pair of sides; the table starts on the output stage.
pub(super) fn sides<'e>(moves: TableMoves) -> (PacketSide<'e>, OutputSide<'e>) {
    // One table: a send never waits.
    let (to_output, from_packet) = sync_channel(1);
    let (to_packet, from_output) = sync_channel(1);
    let packet = PacketSide {
        to_output,
        from_output,
        moves,
        trials: Trials::new(),
        since_move: 0,
    };
    (
        packet,
        OutputSide {
            to_packet,
            from_packet,
        },
    )
}

impl<'e> PacketSide<'e> {
    /// Called with each full batch of `packets` packets before it is sent: whether the
    /// table should move after it.
    pub(super) fn after_batch(&mut self, packets: usize) -> bool {
        match &mut self.moves {
            TableMoves::Adaptive => self.trials.batch_done(packets, Instant::now()),
            TableMoves::Every(n) => {
                self.since_move += 1;
                if self.since_move >= (*n).max(1) {
                    self.since_move = 0;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Gives the table to the output stage; `false` when it is gone.
    pub(super) fn give(&self, table: MovingTable<'e>) -> bool {
        self.to_output.send(table).is_ok()
    }

    /// Waits for the table from the output stage; `None` when it is gone.
    pub(super) fn take(&self) -> Option<MovingTable<'e>> {
        self.from_output.recv().ok()
    }
}

impl<'e> OutputSide<'e> {
    /// After a batch: the table moves as the batch says. `false` when the packet stage is
    /// gone (the run is being abandoned).
    pub(super) fn after_batch(
        &self,
        handoff: Handoff,
        table: &mut Option<&'e mut FlowTable>,
        counts: &mut Option<&'e mut FlowCounts>,
    ) -> bool {
        match handoff {
            Handoff::Stays => true,
            Handoff::ToOutput => match self.from_packet.recv() {
                Ok(moved) => {
                    *table = Some(moved.table);
                    *counts = moved.counts;
                    true
                }
                Err(_) => false,
            },
            Handoff::ToPacket => match table.take() {
                Some(table) => {
                    let counts = counts.take();
                    self.to_packet.send(MovingTable { table, counts }).is_ok()
                }
                None => false,
            },
        }
    }
}

/// The packet stage's timing of its windows, and where it is in trying the other place.
struct Trials {
    batches: u32,
    packets: u64,
    started: Option<Instant>,
    state: TrialState,
    /// Windows to wait before the next try, and the wait after it if it fails.
    wait: u32,
    backoff: u32,
    /// Nanoseconds per packet of the last window in the place the table is kept.
    baseline: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TrialState {
    /// In the place kept.
    Steady,
    /// Just moved: these batches hold the move's wait, so they are not measured.
    Settling,
    /// Measuring the other place.
    Trying,
}

impl Trials {
    fn new() -> Self {
        Trials {
            batches: 0,
            packets: 0,
            started: None,
            state: TrialState::Steady,
            wait: FIRST_WAIT,
            backoff: MIN_WAIT,
            baseline: 0.0,
        }
    }

    /// A batch of `packets` is done at `now`: whether to move the table after it.
    fn batch_done(&mut self, packets: usize, now: Instant) -> bool {
        let started = *self.started.get_or_insert(now);
        self.batches += 1;
        self.packets += packets as u64;
        let window = match self.state {
            TrialState::Steady => WINDOW_BATCHES,
            TrialState::Settling => SETTLE_BATCHES,
            TrialState::Trying => TRY_BATCHES,
        };
        if self.batches < window {
            return false;
        }
        let per_packet = now.duration_since(started).as_nanos() as f64 / self.packets.max(1) as f64;
        self.batches = 0;
        self.packets = 0;
        self.started = Some(now);
        tracing::trace!(state = ?self.state, per_packet_ns = per_packet, "pipeline window");
        self.window_done(per_packet)
    }

    /// A window ended at `per_packet` nanoseconds a packet: whether to move.
    fn window_done(&mut self, per_packet: f64) -> bool {
        match self.state {
            TrialState::Steady => {
                self.baseline = per_packet;
                if self.wait == 0 {
                    self.state = TrialState::Settling;
                    return true;
                }
                self.wait -= 1;
                false
            }
            TrialState::Settling => {
                self.state = TrialState::Trying;
                false
            }
            TrialState::Trying => {
                self.state = TrialState::Steady;
                let kept = per_packet < self.baseline * KEEP_IF_FASTER;
                if kept {
                    // Better here: stay, and look back now and then in case traffic changes.
                    self.backoff = MIN_WAIT;
                } else {
                    self.backoff = (self.backoff * 2).min(MAX_WAIT);
                }
                self.wait = self.backoff;
                tracing::debug!(
                    before_ns = self.baseline,
                    tried_ns = per_packet,
                    kept,
                    next_try_in_windows = self.wait,
                    "flow table tried on the other pipeline stage"
                );
                !kept
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A place that is faster is kept; one that is not is left, and tried less often.
    #[test]
    fn a_faster_place_is_kept_and_a_slower_one_tried_less_often() {
        let mut t = Trials::new();
        // A steady window, then a try after the next.
        for _ in 0..FIRST_WAIT {
            assert!(!t.window_done(100.0));
        }
        assert!(t.window_done(100.0), "tries the other place");
        assert!(
            !t.window_done(500.0),
            "the move's own window is not measured"
        );
        assert!(!t.window_done(80.0), "faster there: stays");
        // Later the traffic changes and the place it came from is better again: a try
        // after eight windows finds that and moves.
        for _ in 0..MIN_WAIT {
            assert!(!t.window_done(80.0));
        }
        assert!(t.window_done(80.0));
        assert!(!t.window_done(80.0));
        assert!(!t.window_done(60.0), "faster again: stays");
        // A try that finds nothing better moves back, and the next try waits twice as long.
        let mut windows_between_tries = Vec::new();
        for _ in 0..3 {
            let mut steady = 0;
            while !t.window_done(60.0) {
                steady += 1;
            }
            windows_between_tries.push(steady);
            assert!(!t.window_done(60.0), "settling");
            assert!(t.window_done(61.0), "no faster: moves back");
        }
        assert_eq!(
            windows_between_tries,
            [MIN_WAIT, 2 * MIN_WAIT, 4 * MIN_WAIT]
        );
    }
}

//! TCP stream reassembly: one direction of a connection turned back into the byte stream
//! the sender wrote, for the application-layer parsers.
//!
//! - In-order segments are delivered at once, without copying.
//! - Out-of-order segments wait in a buffer until the hole before them fills.
//! - Retransmissions and overlaps: the bytes received *first* for a stream offset win
//!   (what was delivered is never changed; of two buffered overlapping segments, the
//!   earlier one keeps its bytes). This is the "first" policy of Suricata and Zeek's
//!   default; an evasion that relies on a later, different copy is still counted
//!   (`overlaps_differing`).
//! - Memory is capped per stream and in total ([`ReassemblyLimits`]); when a cap is hit,
//!   the stream skips ahead to its earliest buffered segment and the hole is reported as
//!   a gap (counted), never a crash or unbounded growth.
//! - Sequence numbers wrap: offsets are 64-bit, counted from the first sequence number
//!   seen (the SYN's plus one, or the first data byte when the capture starts mid-stream).

use std::collections::BTreeMap;

/// Caps on buffered out-of-order bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReassemblyLimits {
    /// Most bytes buffered for one direction of one connection.
    pub per_stream: usize,
    /// Most bytes buffered over every stream of a [`ReassemblyBudget`].
    pub total: usize,
}

impl Default for ReassemblyLimits {
    fn default() -> Self {
        ReassemblyLimits {
            per_stream: 256 * 1024,
            total: 64 * 1024 * 1024,
        }
    }
}

/// Bytes buffered across many streams, shared so the total cap holds.
#[derive(Debug, Default)]
pub struct ReassemblyBudget {
    used: usize,
    /// Times a stream skipped ahead because a cap was hit.
    pub cap_hits: u64,
}

impl ReassemblyBudget {
    /// Bytes buffered now.
    pub fn used(&self) -> usize {
        self.used
    }
}

/// What reassembly hands the parser.
#[derive(Debug, PartialEq, Eq)]
pub enum StreamEvent<'a> {
    /// The next bytes of the stream.
    Data(&'a [u8]),
    /// `n` bytes will never be seen (lost, not captured, or skipped at a cap); data
    /// resumes after them.
    Gap(u64),
}

/// Counters of one stream.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StreamStats {
    /// Bytes delivered in order.
    pub delivered: u64,
    /// Bytes of segments entirely already seen (retransmissions).
    pub retransmitted: u64,
    /// Overlapping bytes whose content differed from what was kept.
    pub overlaps_differing: u64,
    /// Bytes skipped as gaps.
    pub gap_bytes: u64,
}

/// One direction of one TCP connection.
///
/// ```
/// use netsentinel_core::reassembly::{ReassemblyBudget, ReassemblyLimits, StreamEvent, TcpStream};
/// let mut budget = ReassemblyBudget::default();
/// let mut s = TcpStream::new(ReassemblyLimits::default());
/// let mut got = Vec::new();
/// let mut sink = |e: StreamEvent<'_>| if let StreamEvent::Data(d) = e { got.extend_from_slice(d) };
/// s.syn(1000);
/// s.segment(1006, b"world", &mut budget, &mut sink); // early: buffered
/// s.segment(1001, b"hello", &mut budget, &mut sink); // fills the hole: both delivered
/// assert_eq!(got, b"helloworld");
/// ```
#[derive(Debug)]
pub struct TcpStream {
    limits: ReassemblyLimits,
    /// Sequence number of stream offset 0, once known.
    base: Option<u32>,
    /// Offset of the next byte to deliver.
    next: u64,
    /// Buffered out-of-order segments by offset (never overlapping each other, never
    /// below `next`).
    pending: BTreeMap<u64, Vec<u8>>,
    buffered: usize,
    stats: StreamStats,
}

impl TcpStream {
    /// An empty stream.
    pub fn new(limits: ReassemblyLimits) -> Self {
        TcpStream {
            limits,
            base: None,
            next: 0,
            pending: BTreeMap::new(),
            buffered: 0,
            stats: StreamStats::default(),
        }
    }

    /// The sender's SYN with its sequence number: data starts one after it. Ignored once
    /// the stream has started.
    pub fn syn(&mut self, seq: u32) {
        if self.base.is_none() {
            self.base = Some(seq.wrapping_add(1));
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> StreamStats {
        self.stats
    }

    /// Bytes waiting for a hole to fill.
    pub fn buffered(&self) -> usize {
        self.buffered
    }

    /// Stream offset of a sequence number: the 32-bit distance from the base, placed in
    /// the 2^32 window nearest the next expected offset.
    fn offset(&self, seq: u32, base: u32) -> Option<u64> {
        let rel = u64::from(seq.wrapping_sub(base));
        let window = self.next & !0xffff_ffff;
        let candidates = [
            window.wrapping_sub(1 << 32).wrapping_add(rel),
            window + rel,
            window + (1 << 32) + rel,
        ];
        candidates
            .into_iter()
            .filter(|&c| c < (1 << 62))
            .min_by_key(|&c| c.abs_diff(self.next))
    }

    /// One segment's payload. Calls `out` with whatever became deliverable, in order.
    pub fn segment(
        &mut self,
        seq: u32,
        payload: &[u8],
        budget: &mut ReassemblyBudget,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        if payload.is_empty() {
            return;
        }
        let base = *self.base.get_or_insert(seq);
        let Some(mut start) = self.offset(seq, base) else {
            return;
        };
        let mut data = payload;
        // Drop what was already delivered (a retransmission, or its overlapping start).
        if start < self.next {
            let seen = usize::try_from(self.next - start).unwrap_or(usize::MAX);
            if seen >= data.len() {
                self.stats.retransmitted += data.len() as u64;
                return;
            }
            data = &data[seen..];
            start = self.next;
        }
        if start == self.next {
            // In order: deliver directly up to the first buffered segment (whose bytes
            // came first and win); the rest joins the buffer, which then drains.
            let end = start + data.len() as u64;
            let direct = match self.pending.first_key_value() {
                Some((&s, _)) if s < end => (s - start) as usize,
                _ => data.len(),
            };
            self.deliver(&data[..direct], out);
            if direct < data.len() {
                self.buffer(start + direct as u64, &data[direct..], budget);
            }
            self.drain(budget, out);
            return;
        }
        self.buffer(start, data, budget);
        if self.buffered > self.limits.per_stream || budget.used > self.limits.total {
            budget.cap_hits += 1;
            while !self.pending.is_empty()
                && (self.buffered > self.limits.per_stream || budget.used > self.limits.total)
            {
                self.skip_to_pending(budget, out);
            }
        }
    }

    /// The connection ended: whatever is buffered is delivered after its gaps.
    pub fn finish(&mut self, budget: &mut ReassemblyBudget, out: &mut impl FnMut(StreamEvent<'_>)) {
        while !self.pending.is_empty() {
            self.skip_to_pending(budget, out);
        }
    }

    fn deliver(&mut self, data: &[u8], out: &mut impl FnMut(StreamEvent<'_>)) {
        if data.is_empty() {
            return;
        }
        self.next += data.len() as u64;
        self.stats.delivered += data.len() as u64;
        out(StreamEvent::Data(data));
    }

    /// Keeps `data` at `start` (> next), trimmed to the bytes no buffered segment holds.
    fn buffer(&mut self, start: u64, data: &[u8], budget: &mut ReassemblyBudget) {
        let end = start + data.len() as u64;
        // Pieces of [start, end) not covered by buffered segments.
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let mut cursor = start;
        let first = self
            .pending
            .range(..start)
            .next_back()
            .map_or(start, |(&s, _)| s);
        for (&s, v) in self.pending.range(first..end) {
            let e = s + v.len() as u64;
            if e <= cursor {
                continue;
            }
            if s > cursor {
                pieces.push((cursor, s.min(end)));
            }
            // Count overlapping bytes that differ from what is kept.
            let (os, oe) = (s.max(start), e.min(end));
            if oe > os {
                let kept = &v[(os - s) as usize..(oe - s) as usize];
                let new = &data[(os - start) as usize..(oe - start) as usize];
                self.stats.overlaps_differing +=
                    kept.iter().zip(new).filter(|(a, b)| a != b).count() as u64;
            }
            cursor = cursor.max(e);
            if cursor >= end {
                break;
            }
        }
        if cursor < end {
            pieces.push((cursor, end));
        }
        if pieces.is_empty() {
            self.stats.retransmitted += data.len() as u64;
        }
        for (s, e) in pieces {
            let bytes = data[(s - start) as usize..(e - start) as usize].to_vec();
            self.buffered += bytes.len();
            budget.used += bytes.len();
            self.pending.insert(s, bytes);
        }
    }

    /// Delivers buffered segments that now start at `next`.
    fn drain(&mut self, budget: &mut ReassemblyBudget, out: &mut impl FnMut(StreamEvent<'_>)) {
        while let Some(entry) = self.pending.first_entry() {
            let s = *entry.key();
            if s > self.next {
                break;
            }
            let v = entry.remove();
            self.buffered -= v.len();
            budget.used -= v.len();
            let e = s + v.len() as u64;
            if e <= self.next {
                continue;
            }
            let skip = (self.next - s) as usize;
            self.deliver(&v[skip..], out);
        }
    }

    /// Gives up on the hole before the earliest buffered segment.
    fn skip_to_pending(
        &mut self,
        budget: &mut ReassemblyBudget,
        out: &mut impl FnMut(StreamEvent<'_>),
    ) {
        if let Some((&s, _)) = self.pending.first_key_value()
            && s > self.next
        {
            let gap = s - self.next;
            self.stats.gap_bytes += gap;
            self.next = s;
            out(StreamEvent::Gap(gap));
        }
        self.drain(budget, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        s: &mut TcpStream,
        budget: &mut ReassemblyBudget,
        segs: &[(u32, &[u8])],
    ) -> (Vec<u8>, u64) {
        let mut data = Vec::new();
        let mut gaps = 0;
        for &(seq, p) in segs {
            s.segment(seq, p, budget, &mut |e| match e {
                StreamEvent::Data(d) => data.extend_from_slice(d),
                StreamEvent::Gap(n) => gaps += n,
            });
        }
        s.finish(budget, &mut |e| match e {
            StreamEvent::Data(d) => data.extend_from_slice(d),
            StreamEvent::Gap(n) => gaps += n,
        });
        (data, gaps)
    }

    #[test]
    fn retransmission_and_overlap_keep_the_first_bytes() {
        let mut b = ReassemblyBudget::default();
        let mut s = TcpStream::new(ReassemblyLimits::default());
        s.syn(99);
        let (data, gaps) = collect(
            &mut s,
            &mut b,
            &[
                (100, b"USER a"),
                (100, b"USER a"), // retransmission
                (110, b"PASS"),   // early
                (108, b"XXevil"), // overlaps the buffered "PASS" with other bytes
                (106, b"\r\n"),   // fills the hole
            ],
        );
        assert_eq!(data, b"USER a\r\nXXPASS");
        assert_eq!(gaps, 0);
        let st = s.stats();
        assert_eq!(st.retransmitted, 6);
        assert_eq!(st.overlaps_differing, 4, "'evil' against 'PASS'");
        assert_eq!(b.used(), 0);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut b = ReassemblyBudget::default();
        let mut s = TcpStream::new(ReassemblyLimits::default());
        s.syn(u32::MAX - 2);
        let (data, _) = collect(&mut s, &mut b, &[(3, b"world"), (u32::MAX - 1, b"hello")]);
        assert_eq!(data, b"helloworld");
    }

    #[test]
    fn per_stream_cap_skips_ahead_and_counts() {
        let mut b = ReassemblyBudget::default();
        let limits = ReassemblyLimits {
            per_stream: 10,
            total: 1000,
        };
        let mut s = TcpStream::new(limits);
        s.syn(0);
        // Byte 1 is never seen; 12 bytes pile up behind the hole.
        let (data, gaps) = collect(&mut s, &mut b, &[(2, b"abcdef"), (8, b"ghijkl")]);
        assert_eq!(data, b"abcdefghijkl");
        assert_eq!(gaps, 1);
        assert_eq!(b.cap_hits, 1);
        assert_eq!(s.stats().gap_bytes, 1);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn midstream_pickup_starts_at_the_first_segment() {
        let mut b = ReassemblyBudget::default();
        let mut s = TcpStream::new(ReassemblyLimits::default());
        let (data, gaps) = collect(&mut s, &mut b, &[(5000, b"+OK"), (5003, b" ready")]);
        assert_eq!(data, b"+OK ready");
        assert_eq!(gaps, 0);
    }
}

//! Reassembly against a reference model, with proptest: segments of a random stream sent
//! in random order, with duplicates, overlaps carrying other bytes, and lost pieces. The
//! reference keeps, for every stream offset, the byte that arrived first; bytes that never
//! arrived are gaps.

use netsentinel_core::reassembly::{ReassemblyBudget, ReassemblyLimits, StreamEvent, TcpStream};
use proptest::prelude::*;

/// (offset, bytes) in arrival order.
type Segments = Vec<(u64, Vec<u8>)>;

fn segments() -> impl Strategy<Value = (u32, Segments)> {
    (
        any::<u32>(),
        prop::collection::vec(any::<u8>(), 1..1500),
        prop::collection::vec(
            (0usize..1500, 1usize..200, any::<bool>(), any::<u8>()),
            1..60,
        ),
        any::<u64>(),
    )
        .prop_map(|(isn, stream, cuts, shuffle_seed)| {
            let mut segs: Segments = Vec::new();
            for (start, len, altered, salt) in cuts {
                let start = start % stream.len();
                let end = (start + len).min(stream.len());
                let mut bytes = stream[start..end].to_vec();
                if altered {
                    // An overlap or retransmission with other content.
                    bytes.iter_mut().for_each(|b| *b ^= salt | 1);
                }
                segs.push((start as u64, bytes));
            }
            // Deterministic shuffle from the seed.
            let mut state = shuffle_seed | 1;
            for i in (1..segs.len()).rev() {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                segs.swap(i, (state % (i as u64 + 1)) as usize);
            }
            (isn, segs)
        })
}

/// Byte per offset, first arrival wins; `None` = never arrived.
fn reference(segs: &Segments) -> Vec<Option<u8>> {
    let len = segs
        .iter()
        .map(|(o, b)| *o as usize + b.len())
        .max()
        .unwrap_or(0);
    let mut out = vec![None; len];
    for (o, b) in segs {
        for (i, &x) in b.iter().enumerate() {
            out[*o as usize + i].get_or_insert(x);
        }
    }
    // Offsets before the first byte ever delivered are not part of the stream when the
    // capture starts mid-stream; here the SYN is always seen, so offset 0 is the start.
    out
}

fn run(
    isn: u32,
    segs: &Segments,
    limits: ReassemblyLimits,
) -> (Vec<Option<u8>>, ReassemblyBudget, TcpStream) {
    let mut budget = ReassemblyBudget::default();
    let mut s = TcpStream::new(limits);
    s.syn(isn);
    let mut got: Vec<Option<u8>> = Vec::new();
    let mut sink = |e: StreamEvent<'_>| match e {
        StreamEvent::Data(d) => got.extend(d.iter().map(|&b| Some(b))),
        StreamEvent::Gap(n) => got.extend(std::iter::repeat_n(None, n as usize)),
    };
    for (offset, bytes) in segs {
        let seq = isn.wrapping_add(1).wrapping_add(*offset as u32);
        s.segment(seq, bytes, &mut budget, &mut sink);
        assert!(s.buffered() <= limits.per_stream, "per-stream cap held");
    }
    s.finish(&mut budget, &mut sink);
    (got, budget, s)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn reassembly_equals_first_arrival_reference((isn, segs) in segments()) {
        let (got, budget, s) = run(isn, &segs, ReassemblyLimits::default());
        let expected = reference(&segs);
        // Leading bytes never sent are a gap too, so lengths agree.
        prop_assert_eq!(&got, &expected);
        prop_assert_eq!(budget.used(), 0);
        prop_assert_eq!(s.buffered(), 0);
        let gaps = expected.iter().filter(|b| b.is_none()).count() as u64;
        prop_assert_eq!(s.stats().gap_bytes, gaps);
    }

    #[test]
    fn small_caps_stay_bounded_and_deliver_a_whole_length((isn, segs) in segments()) {
        let limits = ReassemblyLimits { per_stream: 64, total: 128 };
        let (got, budget, _) = run(isn, &segs, limits);
        prop_assert_eq!(got.len(), reference(&segs).len());
        prop_assert_eq!(budget.used(), 0);
    }
}

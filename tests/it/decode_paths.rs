//! The fast decoding path gives exactly the reference (etherparse lax) result on every
//! packet of every bundled capture, malformed ones included.

use netsentinel_core::{FileSource, PacketSource, Recv, decode, decode_reference};
use netsentinel_tests::{corpus_captures, data_dir};

#[test]
fn fast_path_equals_reference_on_all_bundled_packets() {
    let mut files = corpus_captures();
    let malformed = data_dir().join("malformed/tcpdump-tests");
    for e in std::fs::read_dir(malformed).unwrap().flatten() {
        files.push(e.path());
    }
    let mut packets = 0u64;
    for f in files {
        let Ok(mut src) = FileSource::open(&f) else {
            continue;
        };
        while let Ok(Recv::Packet(p)) = src.next_packet() {
            packets += 1;
            assert_eq!(
                decode(&p),
                decode_reference(&p),
                "{} packet {packets}",
                f.display()
            );
        }
    }
    assert!(packets > 100_000, "only {packets} packets compared");
}

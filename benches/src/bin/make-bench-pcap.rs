//! Writes the benchmark captures: `make-bench-pcap office FILE [PACKETS]`,
//! `make-bench-pcap synflood FILE [SOURCES]`, and the hostile patterns of the memory
//! bounds, `make-bench-pcap scanstorm|dnsnames|fragments|tinyflows FILE [PACKETS]`.

use std::path::Path;
use std::process::ExitCode;

use netsentinel_benches::hostile;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(path)) = (args.get(1), args.get(2)) else {
        eprintln!(
            "usage: make-bench-pcap office|synflood|scanstorm|dnsnames|fragments|tinyflows FILE [COUNT]"
        );
        return ExitCode::from(2);
    };
    let count: Option<usize> = args.get(3).and_then(|c| c.parse().ok());
    let frames = match kind.as_str() {
        "office" => netsentinel_benches::office_mix(count.unwrap_or(2_000_000), 20_000),
        "synflood" => netsentinel_benches::spoofed_syn_flood(
            u32::try_from(count.unwrap_or(1_000_000)).unwrap_or(u32::MAX),
        ),
        "scanstorm" => hostile::scan_storm(count.unwrap_or(2_000_000)),
        "dnsnames" => hostile::dns_unique_names(count.unwrap_or(2_000_000)),
        "fragments" => hostile::fragment_flood(count.unwrap_or(2_000_000)),
        "tinyflows" => hostile::tiny_flows(count.unwrap_or(2_000_000)),
        other => {
            eprintln!("unknown capture kind {other}");
            return ExitCode::from(2);
        }
    };
    match netsentinel_core::testutil::write_pcap(Path::new(path), &frames) {
        Ok(()) => {
            eprintln!("wrote {} packets to {path}", frames.len());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            ExitCode::from(2)
        }
    }
}

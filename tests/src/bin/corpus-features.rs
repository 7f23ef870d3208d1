//! Writes the feature windows of every bundled lab capture as CSV, for the Isolation Forest
//! comparison in `scripts/ml_compare.py`: a `label` column (1 for a window of an attack
//! capture's attacker or victim, as its truth file names them; 0 otherwise), then the
//! forest's input columns (`netsentinel_core::ml::forest_input`), default settings.
//!
//! `cargo run -q -p netsentinel-tests --bin corpus-features > windows.csv`

use std::collections::HashSet;
use std::io::Write;
use std::net::IpAddr;
use std::path::Path;
use std::process::ExitCode;

use netsentinel_core::detect::ml_anomaly::FeatureCollector;
use netsentinel_core::ml::{FEATURE_NAMES, forest_input};
use netsentinel_core::{EngineConfig, FileSource};
use netsentinel_tests::{corpus_captures, data_dir};

/// Attacker and victims of an attack capture; empty for the others.
fn involved(capture: &Path) -> Result<HashSet<IpAddr>, String> {
    let mut out = HashSet::new();
    if capture.parent().and_then(|p| p.file_name()) != Some("attacks".as_ref()) {
        return Ok(out);
    }
    let truth = capture.with_extension("truth.json");
    let text = std::fs::read_to_string(&truth).map_err(|e| format!("{}: {e}", truth.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", truth.display()))?;
    let ips = std::iter::once(&value["attacker"]["ip"])
        .chain(value["victims"].as_array().into_iter().flatten());
    for ip in ips {
        if let Some(ip) = ip.as_str().and_then(|s| s.parse().ok()) {
            out.insert(ip);
        }
    }
    Ok(out)
}

fn run() -> Result<(), String> {
    let config = EngineConfig::default();
    let mut captures = corpus_captures();
    captures.push(data_dir().join("lab/benign_lab_a.pcap"));
    captures.push(data_dir().join("lab/benign_lab_b.pcap"));
    let mut out = std::io::stdout().lock();
    let io = |e: std::io::Error| e.to_string();
    writeln!(out, "label,{}", FEATURE_NAMES.join(",")).map_err(io)?;
    for capture in captures {
        let hot = involved(&capture)?;
        let mut source = FileSource::open(&capture).map_err(|e| e.to_string())?;
        let windows = FeatureCollector::collect(&mut source, &config).map_err(|e| e.to_string())?;
        for w in windows {
            let values: Vec<String> = forest_input(&w.values)
                .iter()
                .map(|v| format!("{v:.10}"))
                .collect();
            let label = u8::from(hot.contains(&w.host));
            writeln!(out, "{label},{}", values.join(",")).map_err(io)?;
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("corpus-features: {e}");
            ExitCode::from(2)
        }
    }
}

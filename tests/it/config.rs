//! The configuration reference (`docs/CONFIG.md`) is generated from the code and current,
//! and documents every key.

use netsentinel_tests::config_reference;

#[test]
fn config_reference_is_current_and_complete() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CONFIG.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == config_reference::markdown(),
        "docs/CONFIG.md is stale: cargo run -q -p netsentinel-tests --bin config-reference > docs/CONFIG.md"
    );
    let keys = config_reference::keys();
    assert!(keys.len() > 100, "{} keys", keys.len());
    let undocumented: Vec<&str> = keys
        .iter()
        .filter(|k| k.description.is_empty())
        .map(|k| k.path.as_str())
        .collect();
    assert!(
        undocumented.is_empty(),
        "keys without documentation: {undocumented:?}"
    );
    for must in [
        "flow.max_flows",
        "traffic.local_networks",
        "detectors.port_scan.enabled",
        "detectors.threat_intel.feeds[].path",
        "devices.settle_secs",
        "capture.identify_processes",
    ] {
        assert!(keys.iter().any(|k| k.path == must), "{must} missing");
    }
}

//! A process killed (SIGKILL) while writing the data directory loses no data file and
//! leaves none half-written.
//!
//! The writer is this test binary run again (`writer_until_killed`, ignored on its own):
//! it appends numbered alert records, rewrites the whitelist with one more domain each time
//! and the device inventory every tenth record, as fast as it can. The test kills it at 25
//! different moments and after each checks that every file loads, the alert log holds
//! records 0..n with no gap and no duplicate, neither n nor the whitelist ever shrinks, and
//! no temporary file of the killed writer is left after the directory is opened again.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use netsentinel_core::datadir::{DataDir, StorageConfig};
use netsentinel_core::device::{DeviceConfig, DeviceInventory};
use netsentinel_core::gateway::Whitelist;

const DIR_VAR: &str = "NETSENTINEL_KILL_TEST_DIR";

#[test]
#[ignore = "helper: run by data_files_survive_a_kill_mid_write"]
fn writer_until_killed() {
    let Some(root) = std::env::var_os(DIR_VAR) else {
        return;
    };
    let dir = DataDir::open(Path::new(&root), StorageConfig::default()).unwrap();
    let mut log = dir.alert_log().unwrap();
    let start = log.records().unwrap().len();
    let (mut whitelist, _) = Whitelist::load_or_new(&dir.whitelist_file()).unwrap();
    let (inventory, _) =
        DeviceInventory::load_or_new(&dir.devices_file(), DeviceConfig::default()).unwrap();
    let pad = "x".repeat(3000);
    for seq in start.. {
        log.append(&serde_json::json!({ "seq": seq, "pad": pad }))
            .unwrap();
        whitelist.domains.insert(format!("host{seq:08}.example"));
        whitelist.save(&dir.whitelist_file()).unwrap();
        if seq % 10 == 0 {
            inventory.save(&dir.devices_file()).unwrap();
        }
    }
}

#[test]
fn data_files_survive_a_kill_mid_write() {
    let root = std::env::temp_dir().join(format!("ns-killed-{}", std::process::id()));
    std::fs::remove_dir_all(&root).ok();
    let exe = std::env::current_exe().unwrap();
    let (mut last_records, mut last_domains) = (0usize, 0usize);
    let mut torn_repairs = 0;
    for round in 0..25u64 {
        let mut child = Command::new(&exe)
            .args(["--ignored", "--exact", "writer_until_killed", "--nocapture"])
            .env(DIR_VAR, &root)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different moment each round (20 to 160 ms after start).
        std::thread::sleep(Duration::from_millis(20 + (round * 37) % 140));
        child.kill().unwrap(); // SIGKILL: no destructor, no flush.
        child.wait().unwrap();

        let dir = DataDir::open(&root, StorageConfig::default()).unwrap();
        let log = dir.alert_log().unwrap();
        torn_repairs += log.warnings.len();
        let seqs: Vec<u64> = log
            .records()
            .unwrap()
            .iter()
            .map(|r| r["seq"].as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = (0..seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "round {round}: a record lost or repeated");
        assert!(seqs.len() >= last_records, "round {round}: the log shrank");
        last_records = seqs.len();

        if dir.whitelist_file().exists() {
            let w = Whitelist::load(&dir.whitelist_file())
                .unwrap_or_else(|e| panic!("round {round}: whitelist unreadable: {e}"));
            assert!(
                w.domains.len() >= last_domains,
                "round {round}: whitelist shrank"
            );
            last_domains = w.domains.len();
        }
        if dir.devices_file().exists() {
            DeviceInventory::load(&dir.devices_file(), DeviceConfig::default())
                .unwrap_or_else(|e| panic!("round {round}: inventory unreadable: {e}"));
        }
        let names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.contains(".corrupt-") || n.contains(".tmp.")),
            "round {round}: a damaged or leftover file: {names:?}"
        );
    }
    assert!(
        last_records > 25,
        "the writer hardly ran: {last_records} records"
    );
    eprintln!(
        "25 kills: {last_records} records and {last_domains} whitelist domains intact, \
         {torn_repairs} torn last line(s) repaired"
    );
    std::fs::remove_dir_all(&root).ok();
}

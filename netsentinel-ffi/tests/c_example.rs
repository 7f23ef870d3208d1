//! The C example, built with gcc against the shared library, analyses a corpus capture and
//! gets the same records as the Rust engine; run under valgrind it has no invalid access
//! and no leak. Skips with a message where gcc (or valgrind) is missing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use netsentinel_core::incident::Incident;
use netsentinel_core::{Alert, AlertSink, Engine, EngineConfig, FileSource, SinkError};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Where cargo put libnetsentinel_ffi.so for this test run: `target/debug/deps` beside this
/// test (built for it; `target/debug` gets a copy only from `cargo build`, which may be
/// older).
fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let deps = exe.parent().unwrap().to_path_buf();
    if deps.join("libnetsentinel_ffi.so").exists() {
        return deps;
    }
    deps.parent().unwrap().to_path_buf()
}

struct Lines(Arc<Mutex<Vec<String>>>);

impl AlertSink for Lines {
    fn alert(&mut self, a: &Alert) -> Result<(), SinkError> {
        let v = netsentinel_core::alert::json::alert(a)?;
        self.0.lock().unwrap().push(v.to_string());
        Ok(())
    }
    fn incident(&mut self, i: &Incident) -> Result<(), SinkError> {
        let v = netsentinel_core::alert::json::incident(i)?;
        self.0.lock().unwrap().push(v.to_string());
        Ok(())
    }
}

/// Every record the Rust engine writes for `capture`, as JSON lines.
fn rust_records(capture: &Path) -> Vec<String> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let mut config = EngineConfig::default();
    config.ring.mode = netsentinel_core::recording::RingMode::Always;
    let mut engine = Engine::builder(config)
        .builtin_detectors()
        .sink(Lines(lines.clone()))
        .build()
        .unwrap();
    engine.run(&mut FileSource::open(capture).unwrap()).unwrap();
    drop(engine);
    std::mem::take(&mut *lines.lock().unwrap())
}

#[test]
fn the_c_example_gets_the_same_records_and_valgrind_finds_nothing() {
    if !have("gcc") {
        eprintln!("skipping: gcc is not installed");
        return;
    }
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = lib_dir();
    if !lib.join("libnetsentinel_ffi.so").exists() {
        eprintln!("skipping: {} has no libnetsentinel_ffi.so", lib.display());
        return;
    }
    let out_dir = std::env::temp_dir().join(format!("ns-ffi-c-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join("analyze");
    let built = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(crate_dir.join("examples/c/analyze.c"))
        .arg("-I")
        .arg(crate_dir.join("include"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lnetsentinel_ffi")
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let capture = crate_dir.join("../tests/data/corpus/attacks/brute_ftp.pcap");
    let saved = out_dir.join("last.pcap");
    // Cargo's LD_LIBRARY_PATH (which wins over the rpath) may name an older copy.
    let run = Command::new(&exe)
        .env("LD_LIBRARY_PATH", &lib)
        .arg(&capture)
        .arg(&saved)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let from_c: Vec<String> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .unwrap()
                .to_string()
        })
        .collect();
    let from_rust = rust_records(&capture);
    assert!(
        from_c
            .iter()
            .any(|l| l.contains("\"detector\":\"brute_force\""))
    );
    assert_eq!(from_c, from_rust, "the C program and the engine differ");
    assert!(saved.metadata().unwrap().len() > 24);

    if !have("valgrind") {
        eprintln!("skipping the valgrind run: valgrind is not installed");
        return;
    }
    let checked = Command::new("valgrind")
        .env("LD_LIBRARY_PATH", &lib)
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            "--quiet",
        ])
        .arg(&exe)
        .arg(&capture)
        .output()
        .unwrap();
    assert_eq!(
        checked.status.code(),
        Some(0),
        "valgrind: {}",
        String::from_utf8_lossy(&checked.stderr)
    );
    std::fs::remove_dir_all(&out_dir).ok();
}

//! The bindings against the CLI: the C example (gcc), the Python example (ctypes) and the
//! C# example (Mono) each analyse corpus captures through the shared library cargo built
//! for this test run and must print the same alert and incident records as
//! `netsentinel analyze --format json`. The C program also runs under valgrind (no invalid
//! access, no leak), and the Python binding's own tests run. A tool that is missing
//! (gcc, valgrind, python3, mcs/mono) skips its part with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const CAPTURES: [&str; 3] = [
    "attacks/brute_ftp.pcap",
    "attacks/scan_syn.pcap",
    "credentials/cred_telnet.pcap",
];

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Cargo's target profile directory of this test run (`target/debug`).
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

/// Where cargo put libnetsentinel_ffi.so for this test run: `target/debug/deps` (built for
/// it; `target/debug` gets a copy only from `cargo build`, which may be older).
fn lib_dir() -> PathBuf {
    let deps = profile_dir().join("deps");
    if deps.join("libnetsentinel_ffi.so").exists() {
        return deps;
    }
    profile_dir()
}

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn capture(name: &str) -> PathBuf {
    crate_dir().join("../tests/data/corpus").join(name)
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ns-ffi-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn succeeded(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The alert and incident records among JSON lines.
fn records(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|v| v["type"] == "alert" || v["type"] == "incident")
        .collect()
}

/// What the CLI writes for `capture`; None (with a message) when the CLI binary was not
/// built in this run (`cargo test --workspace` builds it).
fn cli_records(capture: &Path) -> Option<Vec<Value>> {
    let cli = profile_dir().join("netsentinel");
    if !cli.exists() {
        eprintln!(
            "skipping the comparison: {} was not built (run `cargo test --workspace`)",
            cli.display()
        );
        return None;
    }
    let out = Command::new(&cli)
        .args(["analyze", "--format", "json"])
        .arg(capture)
        .output()
        .unwrap();
    succeeded("netsentinel analyze", &out);
    let found = records(&out.stdout);
    assert!(found.iter().any(|r| r["type"] == "alert"), "{capture:?}");
    Some(found)
}

fn same_as_cli(language: &str, capture: &Path, stdout: &[u8]) {
    let Some(expected) = cli_records(capture) else {
        return;
    };
    let got = records(stdout);
    assert_eq!(
        got.len(),
        expected.len(),
        "{language} on {}: {} records, the CLI {}",
        capture.display(),
        got.len(),
        expected.len()
    );
    for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
        assert_eq!(
            g,
            e,
            "{language} on {}: record {i} differs",
            capture.display()
        );
    }
}

/// Builds `source` against the header and the library with gcc, warnings as errors; None
/// (with a message) without gcc.
fn gcc(source: &str, dir: &Path) -> Option<PathBuf> {
    if !have("gcc") {
        eprintln!("skipping: gcc is not installed");
        return None;
    }
    let lib = lib_dir();
    let exe = dir.join(Path::new(source).file_stem().unwrap());
    let built = Command::new("gcc")
        .args(["-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&exe)
        .arg(crate_dir().join(source))
        .arg("-I")
        .arg(crate_dir().join("include"))
        .arg("-L")
        .arg(&lib)
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .arg("-lnetsentinel_ffi")
        .output()
        .unwrap();
    succeeded("gcc", &built);
    Some(exe)
}

/// Runs `exe args` under valgrind: no invalid access, no definite or indirect leak.
fn valgrind_clean(exe: &Path, args: &[&Path]) {
    if !have("valgrind") {
        eprintln!("skipping the valgrind run: valgrind is not installed");
        return;
    }
    let checked = Command::new("valgrind")
        .env("LD_LIBRARY_PATH", lib_dir())
        .args([
            "--error-exitcode=99",
            "--leak-check=full",
            "--errors-for-leak-kinds=definite,indirect",
            // Caches of the static regular expressions live as long as the process.
            "--show-possibly-lost=no",
            "--quiet",
        ])
        .arg(exe)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        checked.status.code(),
        Some(0),
        "valgrind on {}: {}",
        exe.display(),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[test]
fn the_c_api_test_passes_under_valgrind() {
    let dir = scratch("c-api");
    let Some(exe) = gcc("tests/c/api_test.c", &dir) else {
        return;
    };
    let credentials = capture("credentials/cred_ftp.pcap");
    let run = Command::new(&exe)
        .env("LD_LIBRARY_PATH", lib_dir())
        .arg(&credentials)
        .arg(&dir)
        .output()
        .unwrap();
    succeeded("api_test", &run);
    assert_eq!(String::from_utf8_lossy(&run.stdout), "ok\n");
    valgrind_clean(&exe, &[&credentials, &dir]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn the_c_example_matches_the_cli_and_valgrind_finds_nothing() {
    let dir = scratch("c");
    let Some(exe) = gcc("examples/c/analyze.c", &dir) else {
        return;
    };
    let lib = lib_dir();
    for name in CAPTURES {
        let saved = dir.join("last.pcap");
        // Cargo's LD_LIBRARY_PATH (which wins over the rpath) may name an older copy.
        let run = Command::new(&exe)
            .env("LD_LIBRARY_PATH", &lib)
            .arg(capture(name))
            .arg(&saved)
            .output()
            .unwrap();
        succeeded("the C example", &run);
        same_as_cli("C", &capture(name), &run.stdout);
        assert!(saved.metadata().unwrap().len() > 24);
    }
    valgrind_clean(&exe, &[&capture(CAPTURES[0]), &dir.join("last.pcap")]);
    std::fs::remove_dir_all(&dir).ok();
}

fn python() -> Option<&'static str> {
    if have("python3") {
        Some("python3")
    } else {
        eprintln!("skipping: python3 is not installed");
        None
    }
}

#[test]
fn the_python_example_matches_the_cli() {
    let Some(python) = python() else { return };
    let lib = lib_dir().join("libnetsentinel_ffi.so");
    for name in CAPTURES {
        let run = Command::new(python)
            .env("NETSENTINEL_LIB", &lib)
            .arg(crate_dir().join("examples/python/analyze.py"))
            .arg(capture(name))
            .output()
            .unwrap();
        succeeded("the Python example", &run);
        same_as_cli("Python", &capture(name), &run.stdout);
    }
}

#[test]
fn the_python_binding_passes_its_tests() {
    let Some(python) = python() else { return };
    let run = Command::new(python)
        .env("NETSENTINEL_LIB", lib_dir().join("libnetsentinel_ffi.so"))
        .current_dir(crate_dir().join("bindings/python"))
        .args(["-m", "unittest", "-v"])
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    eprintln!("{log}");
    assert!(run.status.success(), "python -m unittest failed");
    assert!(log.contains("\nOK"), "{log}");
}

#[test]
fn the_csharp_example_matches_the_cli() {
    if !have("mcs") || !have("mono") {
        eprintln!(
            "skipping: mcs and mono are not installed (apt-get install mono-mcs mono-runtime)"
        );
        return;
    }
    let dir = scratch("csharp");
    let exe = dir.join("EmbedDemo.exe");
    let built = Command::new("mcs")
        .arg(format!("-out:{}", exe.display()))
        .arg(crate_dir().join("examples/csharp/EmbedDemo.cs"))
        .arg(crate_dir().join("examples/csharp/NetSentinel.cs"))
        .output()
        .unwrap();
    succeeded("mcs", &built);
    let lib = lib_dir();
    for name in CAPTURES {
        let run = Command::new("mono")
            .env("LD_LIBRARY_PATH", &lib)
            .arg(&exe)
            .arg(capture(name))
            .arg("--json")
            .output()
            .unwrap();
        succeeded("the C# example", &run);
        same_as_cli("C#", &capture(name), &run.stdout);
    }
    // The live mode of the demo, on loopback, where this library can capture.
    if cfg!(feature = "live") && nix_is_root() {
        let run = Command::new("mono")
            .env("LD_LIBRARY_PATH", &lib)
            .arg(&exe)
            .args(["--live", "lo", "--seconds", "1"])
            .output()
            .unwrap();
        succeeded("the C# example, live on lo", &run);
        assert!(String::from_utf8_lossy(&run.stderr).contains("status: "));
    }
    std::fs::remove_dir_all(&dir).ok();
}

fn nix_is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

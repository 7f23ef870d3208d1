//! Writes `docs/CONFIG.md` (every configuration key, generated from the code) to standard
//! output: `cargo run -q -p netsentinel-tests --bin config-reference > docs/CONFIG.md`.

fn main() {
    print!("{}", netsentinel_tests::config_reference::markdown());
}

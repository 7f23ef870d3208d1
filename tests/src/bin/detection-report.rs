//! Prints docs/DETECTION.md: `cargo run -q -p netsentinel-tests --bin detection-report > docs/DETECTION.md`.

fn main() {
    print!("{}", netsentinel_tests::report::detection_report());
}

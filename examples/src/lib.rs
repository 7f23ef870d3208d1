//! Examples live in this package's `examples`; run them with `cargo run -p netsentinel-examples --example NAME`.

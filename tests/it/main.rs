//! End-to-end tests on the bundled captures.

mod decode_paths;
mod flows_vs_tshark;
mod malformed;

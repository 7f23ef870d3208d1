//! End-to-end tests on the bundled captures.

mod flows_vs_tshark;
mod malformed;

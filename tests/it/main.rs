//! End-to-end tests on the bundled captures.

mod config;
mod credentials;
mod decode_paths;
mod detection;
mod devices;
mod flows_vs_tshark;
mod incidents;
mod malformed;
mod ml;
mod parallel;
mod recording;

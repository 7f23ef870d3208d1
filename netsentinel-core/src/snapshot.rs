//! A picture of a running engine for a live display: counters, traffic, the busiest flows,
//! devices, open incidents.
//!
//! A display thread asks with a [`SnapshotHandle`]; the engine answers between packets, so
//! the display never holds the engine up beyond the time the picture takes, and the
//! capture thread, which only queues packets, is never held up at all.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use serde::Serialize;

use crate::flow::{Flow, TcpState};
use crate::incident::Incident;
use crate::time::Timestamp;
use crate::traffic::{TrafficReport, first_sorted};

/// One live flow, as a display shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FlowRow {
    /// `ip:port` of the initiator (the address alone for protocols without ports).
    pub src: String,
    /// `ip:port` of the responder.
    pub dst: String,
    /// `tcp`, `udp`, ...
    pub protocol: String,
    /// Packets both ways.
    pub packets: u64,
    /// Bytes both ways.
    pub bytes: u64,
    /// TCP state (`established`, ...), empty for other protocols.
    pub state: String,
    /// The local process (`name[pid]`), when identified.
    pub process: Option<String>,
}

impl FlowRow {
    fn of(f: &Flow) -> FlowRow {
        let state = match f.tcp_state {
            TcpState::NotTcp => String::new(),
            s => serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
        };
        let process = f.process.as_deref().and_then(|p| match p {
            crate::process::ProcessLookup::Found(i) => Some(format!("{}[{}]", i.name, i.pid)),
            crate::process::ProcessLookup::Unknown { .. } => None,
        });
        // Ports only where the protocol has them (ICMP's "ports" are its type and code).
        let ports = matches!(f.key.protocol, 6 | 17 | 132);
        let end = |ip: std::net::IpAddr, port: u16| match ip {
            _ if !ports => ip.to_string(),
            std::net::IpAddr::V6(v6) => format!("[{v6}]:{port}"),
            v4 => format!("{v4}:{port}"),
        };
        FlowRow {
            src: end(f.src_ip(), f.src_port),
            dst: end(f.dst_ip(), f.dst_port),
            protocol: crate::flow::protocol_name(f.key.protocol),
            packets: f.to_server.packets + f.to_client.packets,
            bytes: f.to_server.bytes + f.to_client.bytes,
            state,
            process,
        }
    }
}

/// One device, as a display shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceRow {
    /// MAC address.
    pub mac: String,
    /// Vendor.
    pub vendor: String,
    /// Its addresses, IPv4 first, at most four.
    pub addresses: Vec<String>,
    /// Host name.
    pub name: Option<String>,
    /// Type.
    pub kind: String,
}

/// The picture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Snapshot {
    /// Time of the newest packet.
    pub at: Option<Timestamp>,
    /// Traffic so far (its per-second bandwidth cut to the last 300 seconds).
    pub traffic: TrafficReport,
    /// Live flows.
    pub live_flows: u64,
    /// The busiest live flows by bytes, at most 200.
    pub flows: Vec<FlowRow>,
    /// Devices seen.
    pub devices: Vec<DeviceRow>,
    /// Alerts written so far.
    pub alerts: u64,
    /// Incidents open now.
    pub open_incidents: Vec<Incident>,
    /// Packets in the ring.
    pub ring_packets: u64,
}

/// Most flows in a snapshot.
pub const MAX_FLOWS: usize = 200;
const BANDWIDTH_SECS: usize = 300;

/// Builds a snapshot from the engine's parts.
pub(crate) fn take<'f>(
    at: Option<Timestamp>,
    mut traffic: TrafficReport,
    flows: impl Iterator<Item = &'f Flow>,
    devices: &crate::device::DeviceInventory,
    alerts: u64,
    open_incidents: Vec<Incident>,
    ring_packets: u64,
) -> Snapshot {
    let cut = traffic.bandwidth.len().saturating_sub(BANDWIDTH_SECS);
    traffic.bandwidth.drain(..cut);
    let all: Vec<&Flow> = flows.collect();
    let live_flows = all.len() as u64;
    let bytes = |f: &&Flow| f.to_server.bytes + f.to_client.bytes;
    let all = first_sorted(all, MAX_FLOWS, |a, b| bytes(b).cmp(&bytes(a)));
    let env = devices.environment();
    let devices = devices
        .devices()
        .map(|d| DeviceRow {
            mac: crate::neighbor::mac_to_string(&d.mac),
            vendor: d.vendor.to_string(),
            addresses: {
                let mut a: Vec<std::net::IpAddr> = d.addresses.iter().map(|a| a.ip).collect();
                a.sort_by_key(|ip| ip.is_ipv6());
                a.iter().take(4).map(ToString::to_string).collect()
            },
            name: d.name().map(str::to_string),
            kind: crate::device::classify(d, env).kind.as_str().to_string(),
        })
        .collect();
    Snapshot {
        at,
        traffic,
        live_flows,
        flows: all.into_iter().map(FlowRow::of).collect(),
        devices,
        alerts,
        open_incidents,
        ring_packets,
    }
}

/// Asks a running engine for [`Snapshot`]s from another thread.
#[derive(Clone, Default)]
pub struct SnapshotHandle {
    pending: Arc<AtomicBool>,
    /// The waiting requests, and whether the engine is gone (then requests are refused).
    waiting: Arc<parking_lot::Mutex<(Vec<mpsc::Sender<Snapshot>>, bool)>>,
}

impl SnapshotHandle {
    /// Asks for a snapshot; it arrives on the channel when the engine is between packets
    /// (or idle). If the engine has ended, the channel is closed without one.
    pub fn request(&self) -> mpsc::Receiver<Snapshot> {
        let (tx, rx) = mpsc::channel();
        let mut waiting = self.waiting.lock();
        if !waiting.1 {
            waiting.0.push(tx);
            self.pending.store(true, Ordering::Release);
        }
        rx
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.pending.load(Ordering::Relaxed)
    }

    /// Answers every waiting request with `make()`.
    pub(crate) fn serve(&self, make: impl FnOnce() -> Snapshot) {
        let waiting = std::mem::take(&mut self.waiting.lock().0);
        self.pending.store(false, Ordering::Release);
        if waiting.is_empty() {
            return;
        }
        let snapshot = make();
        for tx in waiting {
            let _ = tx.send(snapshot.clone());
        }
    }

    /// The engine ended: waiting and later requests get a closed channel.
    pub(crate) fn close(&self) {
        let mut waiting = self.waiting.lock();
        waiting.0.clear();
        waiting.1 = true;
        self.pending.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_to_an_ended_engine_are_refused_at_once() {
        let handle = SnapshotHandle::default();
        let before = handle.request();
        handle.close();
        assert!(before.recv().is_err(), "a waiting request is closed");
        let after = handle.request();
        assert!(
            after.recv().is_err(),
            "a later request does not wait forever"
        );
        assert!(!handle.has_pending());
    }
}

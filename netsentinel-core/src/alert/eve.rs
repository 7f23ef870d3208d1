//! Suricata-EVE-compatible output.
//!
//! # Wire format
//!
//! One JSON object per line (NDJSON), loadable by Elastic, Splunk and Wazuh pipelines built
//! for Suricata's `eve.json`. Common fields: `timestamp` (`2024-01-31T12:00:00.123456+0000`),
//! `event_type`, and for flow-bound events `flow_id`, `community_id`, `src_ip`, `src_port`,
//! `dest_ip`, `dest_port`, `proto` (`TCP`, `UDP`, `ICMP`, `IPv6-ICMP`, or the number).
//!
//! - `event_type: "alert"`: `alert.action` (`allowed`: we only watch), `alert.gid` (1),
//!   `alert.signature_id` (FNV-1a 32-bit hash of the detector id, stable across runs),
//!   `alert.rev` (1), `alert.signature` (the alert's message), `alert.category`,
//!   `alert.severity` (1 = critical/high, 2 = medium, 3 = low, 4 = info), and
//!   `alert.metadata.mitre_technique_id` when set. Top level `detector` carries the detector
//!   id; `netsentinel.severity` the severity name and `netsentinel.evidence` the evidence.
//! - `event_type: "flow"`: `flow.pkts_toserver`, `flow.pkts_toclient`, `flow.bytes_toserver`,
//!   `flow.bytes_toclient`, `flow.start`, `flow.end`, `flow.age` (seconds), `flow.state`
//!   (`new`, `established`, `closed`), `flow.reason` (`timeout`, `shutdown`, `forced`), and
//!   for TCP `tcp.tcp_flags`, `tcp.tcp_flags_ts`, `tcp.tcp_flags_tc` (hex) and `tcp.state`.
//! - `event_type: "anomaly"`: `anomaly.type` (`decode`), `anomaly.event` (our anomaly name,
//!   e.g. `truncated_ipv4`), `anomaly.layer`, `pcap_cnt` (packet number).
//! - `event_type: "stats"`: once at the end: `stats.uptime` (seconds of packet time),
//!   `stats.decoder` (packet, byte and per-protocol counts), `stats.flow`, `stats.capture`.
//!
//! Example alert line:
//! ```text
//! {"timestamp":"2024-01-31T12:00:00.123456+0000","flow_id":7,"event_type":"alert","src_ip":"10.0.0.66","src_port":40000,"dest_ip":"10.0.0.10","dest_port":22,"proto":"TCP","community_id":"1:...","alert":{"action":"allowed","gid":1,"signature_id":123456,"rev":1,"signature":"...","category":"reconnaissance","severity":1},"detector":"port_scan","netsentinel":{"severity":"high","evidence":{}}}
//! ```

use serde_json::{Map, Value, json};

use super::{Alert, AnomalyEvent};
use crate::engine::RunSummary;
use crate::flow::{Flow, FlowEndReason, TcpState, protocol_name};

/// FNV-1a 32-bit hash, the stable `signature_id` of a detector id.
pub fn signature_id(detector: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in detector.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn insert_opt<T: Into<Value>>(m: &mut Map<String, Value>, key: &str, v: Option<T>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v.into());
    }
}

/// The EVE object of an alert.
pub fn alert(a: &Alert) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), a.timestamp.to_rfc3339().into());
    insert_opt(&mut m, "flow_id", a.flow_id.map(|f| f.0));
    m.insert("event_type".into(), "alert".into());
    insert_opt(&mut m, "src_ip", a.src_ip.map(|i| i.to_string()));
    insert_opt(&mut m, "src_port", a.src_port);
    insert_opt(&mut m, "dest_ip", a.dst_ip.map(|i| i.to_string()));
    insert_opt(&mut m, "dest_port", a.dst_port);
    insert_opt(&mut m, "proto", a.protocol.map(protocol_name));
    insert_opt(&mut m, "community_id", a.community_id.clone());
    let mut alert = json!({
        "action": "allowed",
        "gid": 1,
        "signature_id": signature_id(&a.detector),
        "rev": 1,
        "signature": a.message,
        "category": a.category,
        "severity": a.severity.eve_level(),
    });
    if let Some(t) = &a.mitre_technique {
        alert["metadata"] = json!({ "mitre_technique_id": [t] });
    }
    m.insert("alert".into(), alert);
    m.insert("detector".into(), a.detector.clone().into());
    let mut ns = json!({ "severity": a.severity.as_str(), "evidence": a.evidence });
    if let Some(cx) = &a.context {
        ns["context"] = serde_json::to_value(cx).unwrap_or(Value::Null);
    }
    if let Some(v) = &a.verdict {
        ns["verdict"] = serde_json::to_value(v).unwrap_or(Value::Null);
    }
    m.insert("netsentinel".into(), ns);
    Value::Object(m)
}

/// The EVE object of an incident record: our extension, `event_type: "incident"`, with the
/// subject as `src_ip` and the incident's fields under `incident` (times in EVE's form).
pub fn incident(i: &crate::incident::Incident) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), i.last_seen.to_rfc3339().into());
    m.insert("event_type".into(), "incident".into());
    insert_opt(&mut m, "src_ip", i.subject.map(|s| s.to_string()));
    let mut body = serde_json::to_value(i).unwrap_or(Value::Null);
    if let Value::Object(b) = &mut body {
        b.insert("first_seen".into(), i.first_seen.to_rfc3339().into());
        b.insert("last_seen".into(), i.last_seen.to_rfc3339().into());
        b.insert("severity_level".into(), i.severity.eve_level().into());
    }
    m.insert("incident".into(), body);
    Value::Object(m)
}

fn flow_common(m: &mut Map<String, Value>, f: &Flow, ts: String) {
    m.insert("timestamp".into(), ts.into());
    m.insert("flow_id".into(), f.id.0.into());
    m.insert("src_ip".into(), f.src_ip().to_string().into());
    if matches!(f.key.protocol, 6 | 17 | 132) {
        m.insert("src_port".into(), f.src_port.into());
    }
    m.insert("dest_ip".into(), f.dst_ip().to_string().into());
    if matches!(f.key.protocol, 6 | 17 | 132) {
        m.insert("dest_port".into(), f.dst_port.into());
    }
    m.insert("proto".into(), protocol_name(f.key.protocol).into());
    m.insert("community_id".into(), f.community_id().into());
    if f.key.vlan != 0 {
        let outer = f.key.vlan >> 16;
        let inner = f.key.vlan & 0xffff;
        let vlans: Vec<u32> = if inner == 0 {
            vec![outer]
        } else {
            vec![outer, inner]
        };
        m.insert("vlan".into(), vlans.into());
    }
}

/// The EVE object of an ended flow.
pub fn flow(f: &Flow) -> Value {
    let mut m = Map::new();
    flow_common(&mut m, f, f.last_seen.to_rfc3339());
    m.insert("event_type".into(), "flow".into());
    // Not in Suricata's schema: the local process, when the capture could name it.
    if let Some(p) = &f.process {
        m.insert(
            "process".into(),
            serde_json::to_value(p).unwrap_or(Value::Null),
        );
    }
    let state = match f.tcp_state {
        TcpState::NotTcp => {
            if f.to_client.packets > 0 {
                "established"
            } else {
                "new"
            }
        }
        TcpState::Attempted | TcpState::HalfOpen => "new",
        TcpState::Established | TcpState::Midstream | TcpState::Closing => "established",
        TcpState::ClosedFin | TcpState::ClosedRst => "closed",
    };
    let reason = match f.end_reason {
        FlowEndReason::Timeout => "timeout",
        FlowEndReason::EndOfCapture | FlowEndReason::Active => "shutdown",
        FlowEndReason::Reused | FlowEndReason::Evicted => "forced",
    };
    m.insert(
        "flow".into(),
        json!({
            "pkts_toserver": f.to_server.packets,
            "pkts_toclient": f.to_client.packets,
            "bytes_toserver": f.to_server.bytes,
            "bytes_toclient": f.to_client.bytes,
            "start": f.first_seen.to_rfc3339(),
            "end": f.last_seen.to_rfc3339(),
            "age": f.duration_micros() / 1_000_000,
            "state": state,
            "reason": reason,
            "alerted": false,
        }),
    );
    if f.key.protocol == 6 {
        let ts = f.to_server.tcp_flags;
        let tc = f.to_client.tcp_flags;
        m.insert(
            "tcp".into(),
            json!({
                "tcp_flags": format!("{:02x}", ts | tc),
                "tcp_flags_ts": format!("{ts:02x}"),
                "tcp_flags_tc": format!("{tc:02x}"),
                "state": f.tcp_state,
            }),
        );
    }
    Value::Object(m)
}

/// The EVE object of a decode anomaly.
pub fn anomaly(e: &AnomalyEvent) -> Value {
    let mut m = Map::new();
    m.insert("timestamp".into(), e.timestamp.to_rfc3339().into());
    m.insert("event_type".into(), "anomaly".into());
    insert_opt(&mut m, "src_ip", e.src_ip.map(|i| i.to_string()));
    insert_opt(&mut m, "dest_ip", e.dst_ip.map(|i| i.to_string()));
    m.insert("pcap_cnt".into(), e.packet_number.into());
    m.insert(
        "anomaly".into(),
        json!({ "type": "decode", "event": e.anomaly.name(), "layer": e.anomaly.layer }),
    );
    Value::Object(m)
}

/// The EVE `stats` object at the end of a run.
pub fn stats(s: &RunSummary) -> Value {
    let r = &s.traffic;
    let count = |map: &std::collections::BTreeMap<&str, crate::traffic::Counter>, k: &str| {
        map.get(k).map_or(0, |c| c.packets)
    };
    json!({
        "timestamp": r.last_seen.unwrap_or_default().to_rfc3339(),
        "event_type": "stats",
        "stats": {
            "uptime": r.duration_secs as u64,
            "capture": { "kernel_packets": s.source.received, "kernel_drops": s.source.dropped, "queue_drops": s.queue_drops },
            "decoder": {
                "pkts": r.packets,
                "bytes": r.bytes,
                "ipv4": count(&r.network, "ipv4"),
                "ipv6": count(&r.network, "ipv6"),
                "arp": count(&r.network, "arp"),
                "tcp": count(&r.transport, "tcp"),
                "udp": count(&r.transport, "udp"),
                "icmpv4": count(&r.transport, "icmp"),
                "icmpv6": count(&r.transport, "icmpv6"),
                "fragments": r.fragments,
                "anomalies": r.decode_anomalies,
            },
            "flow": {
                "total": s.flows.created,
                "active": s.flows.active,
                "timeout": s.flows.timed_out,
                "reused": s.flows.reused,
                "evicted": s.flows.evicted,
                "peak": s.flows.peak_active,
            },
            "detect": { "alerts": s.alerts, "alerts_by_detector": s.alerts_by_detector },
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::Severity;
    use crate::time::Timestamp;

    #[test]
    fn alert_has_every_suricata_field_and_the_detector() {
        let a = Alert::new(
            Timestamp::from_secs_micros(1_700_000_000, 5),
            "port_scan",
            Severity::High,
            "reconnaissance",
            "SYN scan of 1000 ports",
        )
        .with_mitre("T1046")
        .with_endpoints(
            "10.0.0.66".parse().ok(),
            Some(40000),
            "10.0.0.10".parse().ok(),
            Some(22),
        )
        .with_evidence("ports", 1000);
        let mut a = a;
        a.protocol = Some(6);
        a.flow_id = Some(crate::flow::FlowId(7));
        a.community_id = Some("1:abc=".into());
        let v = alert(&a);
        assert_eq!(v["timestamp"], "2023-11-14T22:13:20.000005+0000");
        assert_eq!(v["event_type"], "alert");
        assert_eq!(v["flow_id"], 7);
        assert_eq!(v["community_id"], "1:abc=");
        assert_eq!(v["src_ip"], "10.0.0.66");
        assert_eq!(v["src_port"], 40000);
        assert_eq!(v["dest_ip"], "10.0.0.10");
        assert_eq!(v["dest_port"], 22);
        assert_eq!(v["proto"], "TCP");
        assert_eq!(v["alert"]["signature"], "SYN scan of 1000 ports");
        assert_eq!(v["alert"]["category"], "reconnaissance");
        assert_eq!(v["alert"]["severity"], 1);
        assert_eq!(v["alert"]["signature_id"], signature_id("port_scan"));
        assert_eq!(v["alert"]["metadata"]["mitre_technique_id"][0], "T1046");
        assert_eq!(v["detector"], "port_scan");
        assert_eq!(v["netsentinel"]["evidence"]["ports"], 1000);
        // Suricata's key order: timestamp first.
        let text = v.to_string();
        assert!(text.starts_with(r#"{"timestamp":"#), "{text}");
    }

    #[test]
    fn json_alert_carries_the_detector_at_top_level() {
        let a = Alert::new(Timestamp::ZERO, "syn_flood", Severity::High, "dos", "flood");
        let v = crate::alert::json::alert(&a).unwrap();
        assert_eq!(v["type"], "alert");
        assert_eq!(v["detector"], "syn_flood");
    }
}

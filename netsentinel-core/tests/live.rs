//! Live capture on the loopback interface (feature `live`; needs root or CAP_NET_RAW).
//! Traffic goes to 127.0.0.1 only.
#![cfg(feature = "live")]

use std::net::UdpSocket;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use netsentinel_core::source::{LiveSource, interfaces};
use netsentinel_core::{Alert, AlertSink, CaptureConfig, Engine, EngineConfig, Flow, SinkError};

fn can_capture() -> bool {
    match LiveSource::open("lo", &CaptureConfig::default()) {
        Ok(_) => true,
        Err(e) => {
            eprintln!("skipping live capture test: cannot open lo ({e}); run as root");
            false
        }
    }
}

struct SharedFlows(Arc<Mutex<Vec<Flow>>>);

impl AlertSink for SharedFlows {
    fn alert(&mut self, _alert: &Alert) -> Result<(), SinkError> {
        Ok(())
    }
    fn flow(&mut self, flow: &Flow) -> Result<(), SinkError> {
        self.0
            .lock()
            .map_err(|_| SinkError::Closed)?
            .push(flow.clone());
        Ok(())
    }
}

#[test]
fn loopback_is_listed() {
    let Ok(list) = interfaces() else {
        eprintln!("skipping: libpcap cannot list interfaces here");
        return;
    };
    assert!(list.iter().any(|i| i.loopback), "{list:?}");
}

#[test]
fn live_capture_on_loopback_sees_udp_flow() {
    if !can_capture() {
        return;
    }
    let port = 45_678;
    let config = CaptureConfig {
        bpf_filter: Some(format!("udp and port {port}")),
        read_timeout_ms: 50,
        ..CaptureConfig::default()
    };
    let source = LiveSource::open("lo", &config).expect("open lo");
    let flows = Arc::new(Mutex::new(Vec::new()));
    let mut engine = Engine::builder(EngineConfig::default())
        .sink(SharedFlows(Arc::clone(&flows)))
        .build()
        .unwrap();
    let stop = engine.stop_handle();
    let sender = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..20u8 {
            sock.send_to(&[i; 32], ("127.0.0.1", port)).unwrap();
            std::thread::sleep(Duration::from_millis(5));
        }
        std::thread::sleep(Duration::from_millis(500));
        stop.stop();
    });
    let summary = engine.run_threaded(source).expect("live run");
    sender.join().unwrap();
    assert_eq!(summary.queue_drops, 0);
    let flows = flows.lock().unwrap();
    let ours: Vec<&Flow> = flows.iter().filter(|f| f.dst_port == port).collect();
    assert_eq!(ours.len(), 1, "{flows:?}");
    assert_eq!(ours[0].to_server.packets, 20);
    assert_eq!(ours[0].to_server.payload_bytes, 20 * 32);
}

//! SSDP (UPnP discovery, UDP 1900): announcements (`NOTIFY`) and search responses carry the
//! device's server string and the UPnP device types it offers.

/// What an SSDP message says about its sender.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SsdpMessage {
    /// `SERVER` (announcements and responses) or `USER-AGENT` (searches).
    pub server: Option<String>,
    /// `NT` or `ST`: the device or service type announced, such as
    /// `urn:schemas-upnp-org:device:MediaRenderer:1`.
    pub kind: Option<String>,
    /// Whether it is a search (`M-SEARCH`), sent by a control point rather than a device.
    pub is_search: bool,
}

/// Parses an SSDP datagram; `None` when it is not SSDP.
///
/// ```
/// use netsentinel_core::device::ssdp::parse;
/// let m = b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\nSERVER: Linux/4.9 UPnP/1.0 Sonos/70.3\r\n\r\n";
/// let s = parse(m).unwrap();
/// assert_eq!(s.server.as_deref(), Some("Linux/4.9 UPnP/1.0 Sonos/70.3"));
/// assert!(s.kind.unwrap().contains("MediaRenderer"));
/// ```
pub fn parse(payload: &[u8]) -> Option<SsdpMessage> {
    let text = std::str::from_utf8(payload.get(..payload.len().min(2048))?).ok()?;
    let mut lines = text.lines();
    let first = lines.next()?;
    let is_search = first.starts_with("M-SEARCH ");
    if !(is_search || first.starts_with("NOTIFY ") || first.starts_with("HTTP/1.")) {
        return None;
    }
    let mut m = SsdpMessage {
        is_search,
        ..SsdpMessage::default()
    };
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let value: String = value
            .chars()
            .filter(|c| !c.is_control())
            .take(128)
            .collect();
        match name.trim().to_ascii_lowercase().as_str() {
            "server" => m.server = Some(value),
            "user-agent" if m.server.is_none() => m.server = Some(value),
            "nt" | "st" => m.kind = Some(value),
            _ => {}
        }
    }
    Some(m)
}

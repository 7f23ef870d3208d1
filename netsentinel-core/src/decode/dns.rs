//! DNS messages: the header and the first question (RFC 1035 §4.1), with written limits.
//!
//! Enough for detectors that look at what is asked: the name, its type, whether it is a
//! response, and the response code. Compression pointers are followed with a hop limit;
//! names longer than 255 bytes or with more than 127 labels are refused.

/// Longest name in presentation form (RFC 1035 §2.3.4: 255 octets on the wire).
pub const MAX_NAME_LEN: usize = 255;
/// Most labels in a name (255 octets of one-character labels).
pub const MAX_LABELS: usize = 127;
/// Most compression pointers followed in one name (a loop guard).
const MAX_POINTER_HOPS: usize = 16;

/// The parts of a DNS message detectors use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsMessage {
    /// Transaction id.
    pub id: u16,
    /// QR bit: a response.
    pub is_response: bool,
    /// Response code (0 NOERROR, 3 NXDOMAIN, 5 REFUSED, ...).
    pub rcode: u8,
    /// The first question's name, lowercase, without the trailing dot.
    pub qname: String,
    /// The first question's type (1 A, 16 TXT, 10 NULL, 5 CNAME, 28 AAAA, ...).
    pub qtype: u16,
    /// Answer records announced in the header.
    pub answers: u16,
    /// Addresses in A and AAAA answers, with their TTLs (at most `MAX_ADDRESSES`).
    pub addresses: Vec<(std::net::IpAddr, u32)>,
}

/// Most answer addresses kept from one message.
pub const MAX_ADDRESSES: usize = 64;

/// Parses a DNS message carried over UDP (for TCP, strip the 2-byte length first).
/// `None` when it is not a well-formed message with at least one question.
///
/// ```
/// use netsentinel_core::decode::dns::parse;
/// let q = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,
///          3, b'w', b'w', b'w', 7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0,
///          0, 16, 0, 1];
/// let m = parse(&q).unwrap();
/// assert_eq!((m.qname.as_str(), m.qtype, m.is_response), ("www.example.com", 16, false));
/// ```
pub fn parse(msg: &[u8]) -> Option<DnsMessage> {
    let header = msg.get(..12)?;
    let qdcount = u16::from_be_bytes([header[4], header[5]]);
    if qdcount == 0 {
        return None;
    }
    let (qname, after) = read_name(msg, 12)?;
    let t = msg.get(after..after + 4)?;
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let is_response = header[2] & 0x80 != 0;
    let mut addresses = Vec::new();
    if is_response && qdcount == 1 {
        // Answers follow the single question; a malformed record ends the walk.
        let mut pos = after + 4;
        for _ in 0..answers.min(MAX_ADDRESSES as u16) {
            let Some((_, rr)) = read_name(msg, pos) else {
                break;
            };
            let Some(fixed) = msg.get(rr..rr + 10) else {
                break;
            };
            let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
            let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
            let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
            let Some(rdata) = msg.get(rr + 10..rr + 10 + rdlen) else {
                break;
            };
            match (rtype, rdata.len()) {
                (1, 4) => addresses.push((
                    std::net::IpAddr::from([rdata[0], rdata[1], rdata[2], rdata[3]]),
                    ttl,
                )),
                (28, 16) => {
                    let mut b = [0u8; 16];
                    b.copy_from_slice(rdata);
                    addresses.push((std::net::IpAddr::from(b), ttl));
                }
                _ => {}
            }
            pos = rr + 10 + rdlen;
        }
    }
    Some(DnsMessage {
        id: u16::from_be_bytes([header[0], header[1]]),
        is_response,
        rcode: header[3] & 0x0f,
        qname,
        qtype: u16::from_be_bytes([t[0], t[1]]),
        answers,
        addresses,
    })
}

/// One packet's DNS message, parsed the first time someone asks: the engine makes one per
/// packet and every consumer (the detectors, the baseline's learning) shares it, where
/// each used to parse the message, and allocate its name, again.
#[derive(Debug)]
pub(crate) struct DnsOnce<'p> {
    payload: &'p [u8],
    message: std::cell::OnceCell<Option<DnsMessage>>,
}

impl<'p> DnsOnce<'p> {
    /// The DNS message that `payload` may hold, not parsed yet.
    pub(crate) fn new(payload: &'p [u8]) -> Self {
        DnsOnce {
            payload,
            message: std::cell::OnceCell::new(),
        }
    }

    /// Whether this is the message in `payload` (the very same bytes, not equal ones).
    pub(crate) fn is_of(&self, payload: &[u8]) -> bool {
        std::ptr::eq(self.payload, payload)
    }

    /// [`parse`] of the payload, worked out on the first call.
    pub(crate) fn get(&self) -> Option<&DnsMessage> {
        self.message.get_or_init(|| parse(self.payload)).as_ref()
    }
}

/// Most resource records read from one message by [`records`].
pub const MAX_RECORDS: usize = 64;

/// One resource record (answer, authority or additional section).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// Owner name, lowercase, without the trailing dot.
    pub name: String,
    /// Type (1 A, 12 PTR, 16 TXT, 28 AAAA, 33 SRV, ...).
    pub rtype: u16,
    /// Time to live in seconds.
    pub ttl: u32,
    /// The record's data.
    pub rdata: &'a [u8],
    /// Where `rdata` starts in the message, for names compressed inside it.
    rdata_at: usize,
}

impl Record<'_> {
    /// The domain name a PTR or CNAME record points to, or an SRV record's target.
    /// `msg` is the message the record came from (names inside rdata may be compressed).
    pub fn target_name(&self, msg: &[u8]) -> Option<String> {
        let at = match self.rtype {
            5 | 12 => self.rdata_at,
            33 => self.rdata_at + 6,
            _ => return None,
        };
        read_name(msg, at).map(|(name, _)| name)
    }

    /// The address of an A or AAAA record.
    pub fn address(&self) -> Option<std::net::IpAddr> {
        match (self.rtype, self.rdata.len()) {
            (1, 4) => Some(std::net::IpAddr::from([
                self.rdata[0],
                self.rdata[1],
                self.rdata[2],
                self.rdata[3],
            ])),
            (28, 16) => <[u8; 16]>::try_from(self.rdata)
                .ok()
                .map(std::net::IpAddr::from),
            _ => None,
        }
    }

    /// A TXT record's strings.
    pub fn txt_strings(&self) -> Vec<&[u8]> {
        let mut out = Vec::new();
        let mut rest = self.rdata;
        while let Some((&len, tail)) = rest.split_first() {
            let Some(s) = tail.get(..usize::from(len)) else {
                break;
            };
            out.push(s);
            rest = &tail[usize::from(len)..];
        }
        out
    }
}

/// Every record of a message, questions skipped, with the QR bit. Unlike [`parse`] it takes
/// messages without a question (mDNS announcements). Reads at most [`MAX_RECORDS`] records
/// and stops at the first malformed one, keeping those before it; `None` without a header.
///
/// ```
/// use netsentinel_core::decode::dns::records;
/// // An mDNS announcement: no question, one A record "nas.local" -> 192.168.1.9.
/// let mut m = vec![0, 0, 0x84, 0x00, 0, 0, 0, 1, 0, 0, 0, 0];
/// m.extend_from_slice(&[3, b'n', b'a', b's', 5, b'l', b'o', b'c', b'a', b'l', 0]);
/// m.extend_from_slice(&[0, 1, 0x80, 1, 0, 0, 0, 120, 0, 4, 192, 168, 1, 9]);
/// let (is_response, rrs) = records(&m).unwrap();
/// assert!(is_response);
/// assert_eq!(rrs[0].name, "nas.local");
/// assert_eq!(rrs[0].address(), Some("192.168.1.9".parse().unwrap()));
/// ```
pub fn records(msg: &[u8]) -> Option<(bool, Vec<Record<'_>>)> {
    let header = msg.get(..12)?;
    let count = |i: usize| usize::from(u16::from_be_bytes([header[i], header[i + 1]]));
    let is_response = header[2] & 0x80 != 0;
    let mut pos = 12;
    for _ in 0..count(4).min(MAX_RECORDS) {
        let Some((_, after)) = read_name(msg, pos) else {
            return Some((is_response, Vec::new()));
        };
        pos = after + 4;
    }
    let total = (count(6) + count(8) + count(10)).min(MAX_RECORDS);
    let mut out = Vec::new();
    for _ in 0..total {
        let Some((name, rr)) = read_name(msg, pos) else {
            break;
        };
        let Some(fixed) = msg.get(rr..rr + 10) else {
            break;
        };
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let Some(rdata) = msg.get(rr + 10..rr + 10 + rdlen) else {
            break;
        };
        out.push(Record {
            name,
            rtype: u16::from_be_bytes([fixed[0], fixed[1]]),
            ttl: u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]),
            rdata,
            rdata_at: rr + 10,
        });
        pos = rr + 10 + rdlen;
    }
    Some((is_response, out))
}

/// Where the last `.` of `name` is. Per DNS name on the packet path: `str::rfind('.')`
/// compares each match with a call to `memcmp`, a tenth of the time of a DNS tunnel.
pub(crate) fn last_dot(name: &str) -> Option<usize> {
    name.as_bytes().iter().rposition(|&b| b == b'.')
}

/// `name` without its trailing dots (see [`last_dot`] for why not `trim_end_matches`).
pub(crate) fn without_trailing_dots(name: &str) -> &str {
    let end = name
        .as_bytes()
        .iter()
        .rposition(|&b| b != b'.')
        .map_or(0, |i| i + 1);
    &name[..end]
}

/// Reads a possibly compressed name at `start`; returns it and the offset just after it
/// (after the first pointer, if any).
fn read_name(msg: &[u8], start: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut pos = start;
    let mut end = None;
    let mut hops = 0;
    let mut labels = 0;
    loop {
        let len = *msg.get(pos)?;
        match len & 0xc0 {
            0x00 if len == 0 => {
                return Some((name, end.unwrap_or(pos + 1)));
            }
            0x00 => {
                let label = msg.get(pos + 1..pos + 1 + usize::from(len))?;
                labels += 1;
                if labels > MAX_LABELS || name.len() + label.len() + 1 > MAX_NAME_LEN {
                    return None;
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &b in label {
                    // Keep names printable; odd bytes become escapes-free placeholders.
                    let c = if b.is_ascii_graphic() {
                        b.to_ascii_lowercase() as char
                    } else {
                        '?'
                    };
                    name.push(c);
                }
                pos += 1 + usize::from(len);
            }
            0xc0 => {
                let lo = *msg.get(pos + 1)?;
                hops += 1;
                if hops > MAX_POINTER_HOPS {
                    return None;
                }
                end.get_or_insert(pos + 2);
                pos = (usize::from(len & 0x3f) << 8) | usize::from(lo);
            }
            _ => return None, // 0x40 and 0x80: obsolete extended label types
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(name: u8) -> Vec<u8> {
        vec![0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, name, 0, 0, 1, 0, 1]
    }

    /// The byte-wise name helpers agree with `str`'s own, non-ASCII names included.
    #[test]
    fn dots_are_found_as_str_finds_them() {
        for name in [
            "", ".", "..", "a", "a.b", "a.b.", "a.b..", "é.ü", "é.", ".é", "x.é..",
        ] {
            assert_eq!(last_dot(name), name.rfind('.'), "{name:?}");
            assert_eq!(
                without_trailing_dots(name),
                name.trim_end_matches('.'),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_packets_message_is_lent_to_whoever_asks_about_its_own_bytes() {
        use crate::detect::Context;
        use crate::neighbor::NeighborTable;
        use crate::traffic::LocalNetworks;
        let (own, other) = (query(b'a'), query(b'b'));
        let once = DnsOnce::new(&own);
        assert!(once.is_of(&own));
        assert!(
            !once.is_of(&query(b'a')),
            "equal bytes elsewhere are not its own"
        );
        let (neighbors, local, mut out) =
            (NeighborTable::default(), LocalNetworks::default(), vec![]);
        let mut cx = Context::new(Default::default(), None, true, &neighbors, &local, &mut out);
        cx.set_dns(Some(&once));
        let first = cx.dns(&own).unwrap();
        assert!(matches!(first, std::borrow::Cow::Borrowed(_)));
        assert!(
            std::ptr::eq(first.as_ref(), once.get().unwrap()),
            "parsed once"
        );
        // Other bytes (a TCP message past its length, a detector's own slice) are parsed.
        let elsewhere = cx.dns(&other).unwrap();
        assert!(matches!(elsewhere, std::borrow::Cow::Owned(_)));
        assert_eq!((first.qname.as_str(), elsewhere.qname.as_str()), ("a", "b"));
        assert!(cx.dns(&own[..5]).is_none());
    }

    #[test]
    fn pointer_loops_and_truncation_are_refused() {
        let mut loop_msg = vec![0u8; 12];
        loop_msg[5] = 1;
        loop_msg.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1]);
        assert_eq!(parse(&loop_msg), None);
        let q = [
            0, 0, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0, 3, b'a', b'b', b'c', 0, 0, 1, 0, 1,
        ];
        let m = parse(&q).unwrap();
        assert!(m.is_response);
        assert_eq!(m.rcode, 3);
        for n in 0..q.len() - 4 {
            assert_eq!(parse(&q[..n]), None, "prefix {n}");
        }
    }

    #[test]
    fn a_answers_with_ttl() {
        // Response for "ab" A with two answers using a pointer to the question name.
        let mut m = vec![0u8, 1, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        m.extend_from_slice(&[2, b'a', b'b', 0, 0, 1, 0, 1]);
        for last in [1u8, 2] {
            m.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, last]);
        }
        let msg = parse(&m).unwrap();
        assert_eq!(
            msg.addresses,
            vec![
                ("192.0.2.1".parse().unwrap(), 60),
                ("192.0.2.2".parse().unwrap(), 60)
            ]
        );
        // Cut inside the second answer: the first is kept.
        assert_eq!(parse(&m[..m.len() - 2]).unwrap().addresses.len(), 1);
    }

    #[test]
    fn records_walks_every_section_and_reads_targets() {
        // Response to "ab" PTR: answer PTR -> "x" + pointer to "ab"; additional SRV with
        // target pointing at the question name; then a record cut short.
        let mut m = vec![0u8, 1, 0x84, 0, 0, 1, 0, 1, 0, 0, 0, 2];
        m.extend_from_slice(&[2, b'a', b'b', 0, 0, 12, 0, 1]);
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 9, 0, 4, 1, b'x', 0xc0, 12]);
        m.extend_from_slice(&[0xc0, 12, 0, 33, 0, 1, 0, 0, 0, 9, 0, 8, 0, 0, 0, 0, 0, 80]);
        m.extend_from_slice(&[0xc0, 12]);
        m.extend_from_slice(&[0xc0, 12, 0, 16]);
        let (response, rrs) = records(&m).unwrap();
        assert!(response);
        assert_eq!(rrs.len(), 2);
        assert_eq!(rrs[0].target_name(&m).as_deref(), Some("x.ab"));
        assert_eq!(rrs[1].rtype, 33);
        assert_eq!(rrs[1].target_name(&m).as_deref(), Some("ab"));
        assert_eq!(rrs[0].address(), None);
        for n in 0..m.len() {
            let _ = records(&m[..n]);
        }
    }

    #[test]
    fn compressed_name_in_answer_position() {
        // Question "ab" then a second name "x" + pointer to offset 12, parsed from offset 21.
        let mut m = vec![0u8; 12];
        m[5] = 1;
        m.extend_from_slice(&[2, b'a', b'b', 0, 0, 1, 0, 1]);
        m.extend_from_slice(&[1, b'x', 0xc0, 12]);
        assert_eq!(read_name(&m, 20), Some(("x.ab".to_string(), 24)));
    }
}

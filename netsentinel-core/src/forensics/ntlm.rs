//! NTLM authentication messages (MS-NLMP): the user, domain and NetNTLM response of an
//! `AUTHENTICATE_MESSAGE` (type 3), as sent in HTTP `Authorization: NTLM ...` headers. The
//! response is not the password but can be cracked offline, so it is worth a vault entry.

/// (user, domain, NT response as hex) of a type-3 message, or `None`.
///
/// ```text
/// 0 "NTLMSSP\0" | 8 type = 3 | 12 LM response | 20 NT response | 28 domain | 36 user
///   | 44 workstation | 52 session key | 60 flags      (each field: len u16, max u16, offset u32)
/// ```
pub(crate) fn authenticate_message(data: &[u8]) -> Option<(String, String, String)> {
    // Negotiate and challenge messages may come first in the same bytes.
    data.windows(8)
        .enumerate()
        .filter(|(_, w)| *w == b"NTLMSSP\0")
        .find_map(|(start, _)| parse_type3(&data[start..]))
}

fn parse_type3(msg: &[u8]) -> Option<(String, String, String)> {
    let u16_at = |o: usize| msg.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_at = |o: usize| {
        msg.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    if u32_at(8)? != 3 {
        return None;
    }
    let field = |o: usize| -> Option<&[u8]> {
        let len = usize::from(u16_at(o)?);
        let off = usize::try_from(u32_at(o + 4)?).ok()?;
        msg.get(off..off.checked_add(len)?)
    };
    let flags = u32_at(60).unwrap_or(0);
    let text = |b: &[u8]| {
        if flags & 1 != 0 {
            let units: Vec<u16> = b
                .chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        } else {
            String::from_utf8_lossy(b).into_owned()
        }
    };
    let nt = field(20)?;
    let domain = text(field(28)?);
    let user = text(field(36)?);
    if user.is_empty() {
        return None; // anonymous
    }
    let hex: String = nt.iter().map(|b| format!("{b:02x}")).collect();
    Some((user, domain, hex))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A type-3 message for LAB\\alice from WS1, Unicode, with a 24-byte NT response.
    pub(crate) fn type3() -> Vec<u8> {
        let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
        let (domain, user, ws) = (utf16("LAB"), utf16("alice"), utf16("WS1"));
        let lm = vec![0u8; 24];
        let nt: Vec<u8> = (0u8..24).collect();
        let mut payload = Vec::new();
        let base = 64u32;
        let mut fields = Vec::new();
        for part in [&lm, &nt, &domain, &user, &ws, &Vec::new()] {
            let off = base + payload.len() as u32;
            fields.extend_from_slice(&(part.len() as u16).to_le_bytes());
            fields.extend_from_slice(&(part.len() as u16).to_le_bytes());
            fields.extend_from_slice(&off.to_le_bytes());
            payload.extend_from_slice(part);
        }
        let mut msg = b"NTLMSSP\0".to_vec();
        msg.extend_from_slice(&3u32.to_le_bytes());
        msg.extend_from_slice(&fields);
        msg.extend_from_slice(&0x0000_0001u32.to_le_bytes()); // NEGOTIATE_UNICODE
        msg.extend_from_slice(&payload);
        msg
    }

    #[test]
    fn reads_user_domain_and_response() {
        let (user, domain, nt) = authenticate_message(&type3()).unwrap();
        assert_eq!((user.as_str(), domain.as_str()), ("alice", "LAB"));
        assert_eq!(&nt[..8], "00010203");
        assert_eq!(authenticate_message(&type3()[..40]), None, "cut short");
        let mut type1 = type3();
        type1[8] = 1;
        assert_eq!(
            authenticate_message(&type1),
            None,
            "not an AUTHENTICATE message"
        );
    }
}

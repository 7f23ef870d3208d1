//! Packet time.
//!
//! Every time value inside the engine comes from the capture (the pcap record header or the
//! live capture's kernel timestamp), never from the wall clock, so replaying a file gives the
//! same result every time.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A point in packet time: microseconds since the Unix epoch (UTC).
///
/// ```
/// use netsentinel_core::Timestamp;
/// let t = Timestamp::from_secs_micros(1_700_000_000, 250_000);
/// assert_eq!(t.as_micros(), 1_700_000_000_250_000);
/// assert_eq!(t.to_rfc3339(), "2023-11-14T22:13:20.250000+0000");
/// ```
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The Unix epoch.
    pub const ZERO: Timestamp = Timestamp(0);

    /// A timestamp from microseconds since the epoch.
    pub const fn from_micros(micros: i64) -> Self {
        Timestamp(micros)
    }

    /// A timestamp from whole seconds and a microsecond fraction.
    pub const fn from_secs_micros(secs: i64, micros: u32) -> Self {
        Timestamp(secs.saturating_mul(1_000_000).saturating_add(micros as i64))
    }

    /// Microseconds since the epoch.
    pub const fn as_micros(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floored).
    pub const fn as_secs(self) -> i64 {
        self.0.div_euclid(1_000_000)
    }

    /// Seconds since the epoch as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// This timestamp moved forward by `micros` (saturating).
    pub const fn add_micros(self, micros: i64) -> Self {
        Timestamp(self.0.saturating_add(micros))
    }

    /// Microseconds from `earlier` to `self`, zero when `earlier` is later.
    pub const fn micros_since(self, earlier: Timestamp) -> i64 {
        let d = self.0.saturating_sub(earlier.0);
        if d < 0 { 0 } else { d }
    }

    /// RFC 3339 / ISO 8601 text in UTC with microseconds, in the form Suricata's EVE uses
    /// (`2023-11-14T22:13:20.250000+0000`).
    pub fn to_rfc3339(self) -> String {
        let secs = self.as_secs();
        let micros = self.0.rem_euclid(1_000_000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}+0000",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_dates() {
        assert_eq!(
            Timestamp::ZERO.to_rfc3339(),
            "1970-01-01T00:00:00.000000+0000"
        );
        assert_eq!(
            Timestamp::from_secs_micros(951_782_400, 1).to_rfc3339(),
            "2000-02-29T00:00:00.000001+0000"
        );
        assert_eq!(
            Timestamp::from_micros(-1).to_rfc3339(),
            "1969-12-31T23:59:59.999999+0000"
        );
    }

    #[test]
    fn micros_since_never_negative() {
        let a = Timestamp::from_micros(10);
        let b = Timestamp::from_micros(30);
        assert_eq!(b.micros_since(a), 20);
        assert_eq!(a.micros_since(b), 0);
    }
}

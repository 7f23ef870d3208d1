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

impl std::str::FromStr for Timestamp {
    type Err = String;

    /// Parses RFC 3339 date-times: `2026-12-31T23:00:00Z`, with an optional fraction of a
    /// second and an offset `Z`, `+01:00` or `+0100` (the form [`Timestamp::to_rfc3339`]
    /// writes), or a bare date `2026-12-31` (midnight UTC).
    ///
    /// ```
    /// use netsentinel_core::Timestamp;
    /// let t: Timestamp = "2023-11-14T23:13:20.25+01:00".parse().unwrap();
    /// assert_eq!(t, Timestamp::from_secs_micros(1_700_000_000, 250_000));
    /// assert!("2023-13-01".parse::<Timestamp>().is_err());
    /// ```
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not an RFC 3339 date-time (like 2026-12-31T23:00:00Z)");
        let num = |t: &str| -> Result<i64, String> {
            if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            t.parse::<i64>().map_err(|_| bad())
        };
        let (date, time) = match s.split_once(['T', 't', ' ']) {
            Some((d, t)) => (d, Some(t)),
            None => (s, None),
        };
        let mut parts = date.splitn(3, '-');
        let (y, m, d) = match (parts.next(), parts.next(), parts.next()) {
            (Some(y), Some(m), Some(d)) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
                (num(y)?, num(m)?, num(d)?)
            }
            _ => return Err(bad()),
        };
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let month_days = [
            31,
            if leap { 29 } else { 28 },
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ];
        if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
            return Err(bad());
        }
        let mut micros = days_from_civil(y, m as u32, d as u32) * 86_400 * 1_000_000;
        if let Some(t) = time {
            let (clock, offset_secs) = if let Some(c) = t.strip_suffix(['Z', 'z']) {
                (c, 0)
            } else if let Some(i) = t.rfind(['+', '-']) {
                let (c, o) = t.split_at(i);
                let sign = if o.starts_with('-') { -1 } else { 1 };
                let o = o[1..].replace(':', "");
                if o.len() != 4 {
                    return Err(bad());
                }
                let (oh, om) = (num(&o[..2])?, num(&o[2..])?);
                if oh > 23 || om > 59 {
                    return Err(bad());
                }
                (c, sign * (oh * 3600 + om * 60))
            } else {
                return Err(bad());
            };
            let (hms, frac) = match clock.split_once('.') {
                Some((h, f)) => (h, Some(f)),
                None => (clock, None),
            };
            let mut hms = hms.splitn(3, ':');
            let (h, mi, se) = match (hms.next(), hms.next(), hms.next()) {
                (Some(h), Some(mi), Some(se)) if h.len() == 2 && mi.len() == 2 && se.len() == 2 => {
                    (num(h)?, num(mi)?, num(se)?)
                }
                _ => return Err(bad()),
            };
            if h > 23 || mi > 59 || se > 60 {
                return Err(bad());
            }
            micros += (h * 3600 + mi * 60 + se - offset_secs) * 1_000_000;
            if let Some(f) = frac {
                num(f)?;
                let digits: String = f.chars().chain(std::iter::repeat('0')).take(6).collect();
                micros += num(&digits)?;
            }
        }
        Ok(Timestamp(micros))
    }
}

/// A proleptic Gregorian date to days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
    fn rfc3339_parses_what_it_formats() {
        for micros in [
            0,
            1,
            951_782_400_000_001,
            1_700_000_000_250_000,
            -1,
            4_102_444_799_999_999,
        ] {
            let t = Timestamp::from_micros(micros);
            assert_eq!(t.to_rfc3339().parse::<Timestamp>(), Ok(t));
        }
        assert_eq!(
            "1970-01-02".parse::<Timestamp>(),
            Ok(Timestamp::from_secs_micros(86_400, 0))
        );
        assert_eq!(
            "1970-01-01T01:00:00+01:00".parse::<Timestamp>(),
            Ok(Timestamp::ZERO)
        );
        for bad in [
            "",
            "2026",
            "2026-02-30",
            "2026-01-01T25:00:00Z",
            "2026-01-01T10:00",
            "x-01-01",
        ] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
    }

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

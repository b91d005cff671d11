//! Date/time conversions between Kamailio's `time_t` and what each backend stores.
//!
//! Kamailio writes a `DB1_DATETIME` to MySQL and PostgreSQL as a `'YYYY-MM-DD HH:MM:SS'` string in
//! the server's *local* time (`localtime_r` + `strftime`, read back with `strptime` + `mktime`),
//! into columns without a time zone. We do the same so that ferrosip and Kamailio can share one
//! database. SQLite gets a Julian day number (a REAL), as Kamailio's db_sqlite binds it; text in
//! the `'YYYY-MM-DD HH:MM:SS'` form (the schema's defaults, SQLite's own `datetime()`) is read as UTC.

/// Julian day of the Unix epoch.
const JD_EPOCH: f64 = 2_440_587.5;

/// `time_t` → Julian day, as Kamailio's db_sqlite stores a DATETIME.
pub(crate) fn to_julian(t: i64) -> f64 {
    // Integer seconds up to 2^53 convert exactly.
    (t as f64) / 86_400.0 + JD_EPOCH
}

/// Julian day → `time_t`. Kamailio writes `(t - 0.5) / 86400 + JD`, we write `t / 86400 + JD`; adding a
/// quarter second before rounding maps both to `t` whatever the floating-point error (about 40 µs
/// at today's Julian day numbers).
pub(crate) fn from_julian(jd: f64) -> Option<i64> {
    let secs = ((jd - JD_EPOCH) * 86_400.0 + 0.25).round();
    if secs.is_finite() && secs.abs() < 1e15 {
        // Range checked just above.
        Some(secs as i64)
    } else {
        None
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Broken-down calendar time, independent of any time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    /// Seconds since the epoch if this wall-clock time were UTC.
    pub(crate) fn as_utc(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    pub(crate) fn from_utc(t: i64) -> Civil {
        let days = t.div_euclid(86_400);
        let secs = t.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs % 3600 / 60) as u32,
            second: (secs % 60) as u32,
        }
    }
}

/// `'YYYY-MM-DD HH:MM:SS'` of `t` in UTC.
pub(crate) fn format_utc(t: i64) -> String {
    let c = Civil::from_utc(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// Parses `YYYY-MM-DD[ T]HH:MM:SS[.fff]` (fraction ignored) or a bare `YYYY-MM-DD` as UTC.
pub(crate) fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let (date, time) = match s.find([' ', 'T']) {
        Some(i) => (s.get(..i)?, s.get(i + 1..)?),
        None => (s, "00:00:00"),
    };
    let mut d = date.splitn(3, '-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    let time = time.split('.').next()?;
    let mut t = time.splitn(3, ':');
    let hour: u32 = t.next()?.parse().ok()?;
    let minute: u32 = t.next()?.parse().ok()?;
    let second: u32 = t.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    Some(
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
        }
        .as_utc(),
    )
}

/// `time_t` → local wall-clock time, as Kamailio's `localtime_r` gives it.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn to_local(t: i64) -> Civil {
    let tt = t as libc::time_t;
    // SAFETY: `tm` is plain old data; localtime_r only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call.
    let ok = !unsafe { libc::localtime_r(&tt, &mut tm) }.is_null();
    if !ok {
        return Civil::from_utc(t);
    }
    Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
    }
}

/// Local wall-clock time → `time_t`, as Kamailio's `mktime` with `tm_isdst = -1` does it.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn from_local(c: Civil) -> i64 {
    let Ok(year) = i32::try_from(c.year - 1900) else {
        return c.as_utc();
    };
    // SAFETY: `tm` is plain old data.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    tm.tm_year = year;
    tm.tm_mon = c.month as i32 - 1;
    tm.tm_mday = c.day as i32;
    tm.tm_hour = c.hour as i32;
    tm.tm_min = c.minute as i32;
    tm.tm_sec = c.second as i32;
    // Let mktime decide whether daylight saving time applies, as Kamailio's db_str2time does.
    tm.tm_isdst = -1;
    // SAFETY: valid pointer to an initialised tm.
    let t = unsafe { libc::mktime(&mut tm) };
    if t == -1 && c.as_utc() != -1 {
        c.as_utc()
    } else {
        #[allow(clippy::useless_conversion)] // time_t is not i64 on every target
        i64::from(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        let cases = [
            (0, "1970-01-01 00:00:00"),
            (951_782_400, "2000-02-29 00:00:00"),
            (1_906_234_335, "2030-05-28 21:32:15"),
            (-1, "1969-12-31 23:59:59"),
            (946_684_801, "2000-01-01 00:00:01"),
        ];
        for (t, s) in cases {
            assert_eq!(format_utc(t), s);
            assert_eq!(parse_utc(s), Some(t), "{s}");
        }
        assert_eq!(parse_utc("2030-05-28T21:32:15.5"), Some(1_906_234_335));
        assert_eq!(parse_utc("2030-05-28"), Some(1_906_156_800));
        for bad in [
            "",
            "2030-13-01 00:00:00",
            "x",
            "2030-05-28 25:00:00",
            "2030-05",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn julian_reads_ours_and_kamailios() {
        for t in [0i64, 1, 1_700_000_000, 1_906_234_335, 4_102_444_799] {
            assert_eq!(from_julian(to_julian(t)), Some(t), "ours {t}");
            // What Kamailio's timet_to_sqlite() stores.
            let kam = ((t as f64) - 0.5) / 86_400.0 + JD_EPOCH;
            assert_eq!(from_julian(kam), Some(t), "kamailio {t}");
        }
        assert_eq!(from_julian(f64::NAN), None);
    }

    #[test]
    fn local_round_trip() {
        for t in [0i64, 1_700_000_000, 1_906_234_335] {
            assert_eq!(from_local(to_local(t)), t);
        }
    }
}

//! Calendar fields and `strftime` for the time PVs (`$Tf`, `$time()`, `$timef()` …) and
//! `{s.ftime}`.
//!
//! Local time and the PVs' `strftime` go through libc (`localtime_r`, `gmtime_r`, `strftime`),
//! as Kamailio's do: the same zone rules (`TZ`, `/etc/localtime`), the same text for every
//! conversion (`%Z` after `gmtime_r` is `GMT`, `%s` reads the fields as local time) in the C
//! locale, which neither Kamailio nor ferrosip changes; acc's time attributes use [`format`] too
//! (UTC or local, per `time_mode`). [`utc`], [`ctime`] and [`strftime`] are a pure UTC
//! implementation that needs no libc: tests compute expected values with it.

use std::ffi::CString;

/// Which clock [`fields`] and [`format`] break a timestamp down in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    /// The host's local time (`localtime_r`).
    Local,
    /// UTC (`gmtime_r`).
    Utc,
}

/// libc's broken-down time of `t`.
fn libc_tm(t: i64, zone: Zone) -> Option<libc::tm> {
    let tt = libc::time_t::try_from(t).ok()?;
    // SAFETY: `libc::tm` is plain data (integers and a pointer that may be null), for which
    // all-zero bytes are a valid value; the call only writes into it.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are valid for the duration of the call; the `_r` variants are
    // thread-safe and keep no reference to our buffers.
    let r = unsafe {
        match zone {
            Zone::Local => libc::localtime_r(&tt, &mut tm),
            Zone::Utc => libc::gmtime_r(&tt, &mut tm),
        }
    };
    (!r.is_null()).then_some(tm)
}

/// Calendar fields of `t` and the daylight-saving flag (`tm_isdst`), from libc.
pub fn fields(t: i64, zone: Zone) -> Option<(Tm, i32)> {
    let tm = libc_tm(t, zone)?;
    let u = |v: libc::c_int| u32::try_from(v).unwrap_or(0);
    Some((
        Tm {
            year: i64::from(tm.tm_year) + 1900,
            mon: u(tm.tm_mon) + 1,
            mday: u(tm.tm_mday),
            hour: u(tm.tm_hour),
            min: u(tm.tm_min),
            sec: u(tm.tm_sec),
            wday: u(tm.tm_wday),
            yday: u(tm.tm_yday),
        },
        tm.tm_isdst,
    ))
}

/// libc's `strftime` of `t` into a buffer of `cap` bytes (the terminating NUL included, as
/// Kamailio's buffers: 64 for `$timef`, 65535 for `{s.ftime}`). `None` when libc wrote
/// nothing: an empty result or one that does not fit. The format ends at a NUL byte, as a C
/// string does.
pub fn format(fmt: &[u8], t: i64, zone: Zone, cap: usize) -> Option<Vec<u8>> {
    let tm = libc_tm(t, zone)?;
    let end = fmt.iter().position(|b| *b == 0).unwrap_or(fmt.len());
    let cfmt = CString::new(fmt.get(..end)?).ok()?;
    let mut buf = vec![0u8; cap.max(1)];
    // SAFETY: `buf` has `buf.len()` writable bytes, `cfmt` is NUL-terminated, `tm` was filled
    // by libc; strftime writes at most `max` bytes.
    let n = unsafe {
        libc::strftime(
            buf.as_mut_ptr().cast::<libc::c_char>(),
            buf.len(),
            cfmt.as_ptr(),
            &tm,
        )
    };
    if n == 0 {
        return None;
    }
    buf.truncate(n);
    Some(buf)
}

/// `ctime()` in local time without the trailing newline (`Thu Nov 26 08:31:08 2026`), as
/// Kamailio's `$Tf`/`$TF`/`$Tb`.
pub fn ctime_local(t: i64) -> Option<Vec<u8>> {
    format(b"%a %b %e %H:%M:%S %Y", t, Zone::Local, 64)
}

/// Broken-down time (`struct tm` with Kamailio's conventions applied by the callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tm {
    /// Year (e.g. 2026).
    pub year: i64,
    /// Month 1..=12.
    pub mon: u32,
    /// Day of month 1..=31.
    pub mday: u32,
    /// Hours.
    pub hour: u32,
    /// Minutes.
    pub min: u32,
    /// Seconds.
    pub sec: u32,
    /// Day of week, 0 = Sunday.
    pub wday: u32,
    /// Day of year, 0-based.
    pub yday: u32,
}

/// Broken-down UTC time of a Unix timestamp.
pub fn utc(t: i64) -> Tm {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil-from-days (proleptic Gregorian), era-based.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if m <= 2 { y + 1 } else { y };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    const CUM: [u32; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    let mon = m as u32;
    let yday = CUM[(mon - 1) as usize] + d as u32 - 1 + u32::from(leap && mon > 2);
    Tm {
        year,
        mon,
        mday: d as u32,
        hour: (secs / 3600) as u32,
        min: (secs / 60 % 60) as u32,
        sec: (secs % 60) as u32,
        wday: (days + 4).rem_euclid(7) as u32,
        yday,
    }
}

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// `ctime()` without the trailing newline: `Thu Nov 26 08:31:08 2026`.
pub fn ctime(t: i64) -> String {
    String::from_utf8_lossy(&strftime(b"%a %b %e %H:%M:%S %Y", t)).into_owned()
}

/// `strftime` in UTC for the conversions glibc documents (`%a %A %b %B %c %C %d %D %e %F %g %G %h
/// %H %I %j %k %l %m %M %n %p %P %r %R %s %S %t %T %u %V %w %y %Y %z %Z %%`). An unknown
/// conversion is copied as written, as glibc does.
pub fn strftime(fmt: &[u8], t: i64) -> Vec<u8> {
    let tm = utc(t);
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = fmt.get(i) {
        i += 1;
        if c != b'%' {
            out.push(c);
            continue;
        }
        let Some(&k) = fmt.get(i) else {
            out.push(b'%');
            break;
        };
        i += 1;
        let h12 = if tm.hour.is_multiple_of(12) {
            12
        } else {
            tm.hour % 12
        };
        let piece = match k {
            b'a' => DAYS[tm.wday as usize][..3].to_string(),
            b'A' => DAYS[tm.wday as usize].to_string(),
            b'b' | b'h' => MONTHS[(tm.mon - 1) as usize][..3].to_string(),
            b'B' => MONTHS[(tm.mon - 1) as usize].to_string(),
            b'c' => String::from_utf8_lossy(&strftime(b"%a %b %e %H:%M:%S %Y", t)).into_owned(),
            b'C' => format!("{:02}", tm.year.div_euclid(100)),
            b'd' => format!("{:02}", tm.mday),
            b'D' => String::from_utf8_lossy(&strftime(b"%m/%d/%y", t)).into_owned(),
            b'e' => format!("{:2}", tm.mday),
            b'F' => String::from_utf8_lossy(&strftime(b"%Y-%m-%d", t)).into_owned(),
            b'H' => format!("{:02}", tm.hour),
            b'I' => format!("{:02}", h12),
            b'j' => format!("{:03}", tm.yday + 1),
            b'k' => format!("{:2}", tm.hour),
            b'l' => format!("{:2}", h12),
            b'm' => format!("{:02}", tm.mon),
            b'M' => format!("{:02}", tm.min),
            b'n' => "\n".to_string(),
            b'p' => (if tm.hour < 12 { "AM" } else { "PM" }).to_string(),
            b'P' => (if tm.hour < 12 { "am" } else { "pm" }).to_string(),
            b'r' => String::from_utf8_lossy(&strftime(b"%I:%M:%S %p", t)).into_owned(),
            b'R' => format!("{:02}:{:02}", tm.hour, tm.min),
            b's' => t.to_string(),
            b'S' => format!("{:02}", tm.sec),
            b't' => "\t".to_string(),
            b'T' => format!("{:02}:{:02}:{:02}", tm.hour, tm.min, tm.sec),
            b'u' => (if tm.wday == 0 { 7 } else { tm.wday }).to_string(),
            b'w' => tm.wday.to_string(),
            b'y' => format!("{:02}", tm.year.rem_euclid(100)),
            b'Y' => tm.year.to_string(),
            b'z' => "+0000".to_string(),
            b'Z' => "UTC".to_string(),
            b'%' => "%".to_string(),
            b'G' | b'g' | b'V' => {
                let (iy, wk) = iso_week(&tm);
                match k {
                    b'G' => iy.to_string(),
                    b'g' => format!("{:02}", iy.rem_euclid(100)),
                    _ => format!("{wk:02}"),
                }
            }
            other => {
                out.push(b'%');
                out.push(other);
                continue;
            }
        };
        out.extend_from_slice(piece.as_bytes());
    }
    out
}

fn iso_week(tm: &Tm) -> (i64, u32) {
    let wday = if tm.wday == 0 { 7 } else { tm.wday } as i64; // 1..7, Monday = 1
    let yday = tm.yday as i64 + 1;
    let week = (yday - wday + 10) / 7;
    let weeks_in = |y: i64| {
        let p = |y: i64| (y + y / 4 - y / 100 + y / 400) % 7;
        if p(y) == 4 || p(y - 1) == 3 {
            53
        } else {
            52
        }
    };
    if week < 1 {
        (tm.year - 1, weeks_in(tm.year - 1) as u32)
    } else if week > weeks_in(tm.year) {
        (tm.year + 1, 1)
    } else {
        (tm.year, week as u32)
    }
}

/// True when the host's local time is UTC (TZ unset or a UTC name, and `/etc/localtime` absent or
/// a UTC zone), so local-time values can be computed without a time-zone database (what callers
/// of the pure [`strftime`] check before using it for local time).
pub fn local_is_utc() -> bool {
    const UTC_NAMES: &[&str] = &[
        "",
        "UTC",
        "UTC0",
        "UCT",
        "GMT",
        "GMT0",
        "Etc/UTC",
        "Etc/UCT",
        "Etc/GMT",
        "Universal",
        "Zulu",
        "Etc/Universal",
        "Etc/Zulu",
    ];
    if let Ok(tz) = std::env::var("TZ") {
        let tz = tz.trim_start_matches(':');
        let tz = tz.strip_prefix("/usr/share/zoneinfo/").unwrap_or(tz);
        return UTC_NAMES.contains(&tz);
    }
    match std::fs::read_link("/etc/localtime") {
        Ok(target) => {
            let t = target.to_string_lossy();
            let name = t.rsplit("zoneinfo/").next().unwrap_or(&t);
            UTC_NAMES.contains(&name)
        }
        Err(_) => match std::fs::read_to_string("/etc/timezone") {
            Ok(s) => UTC_NAMES.contains(&s.trim()),
            // No /etc/localtime link and no /etc/timezone: glibc falls back to UTC.
            Err(_) => !std::path::Path::new("/etc/localtime").exists(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        let cases: &[(i64, &str, &str)] = &[
            (0, "%Y-%m-%d %H:%M:%S %a %j", "1970-01-01 00:00:00 Thu 001"),
            (1_795_681_868, "%c", "Thu Nov 26 08:31:08 2026"),
            (
                951_782_400,
                "%F %A %B %e|%u %w",
                "2000-02-29 Tuesday February 29|2 2",
            ),
            (1_704_067_199, "%G-W%V %I%p %y %%", "2023-W52 11PM 23 %"),
            (-1, "%Y %H:%M:%S", "1969 23:59:59"),
            (0, "%Q%", "%Q%"),
        ];
        for (t, f, want) in cases {
            assert_eq!(
                String::from_utf8_lossy(&strftime(f.as_bytes(), *t)),
                *want,
                "{t} {f}"
            );
        }
        assert_eq!(ctime(1_795_681_868), "Thu Nov 26 08:31:08 2026");
        assert_eq!(utc(951_782_400).yday, 59);
    }

    #[test]
    fn libc_utc_agrees_with_the_pure_one() {
        for t in [0, 951_782_400, 1_704_067_199, 1_795_681_868, -1] {
            let (tm, dst) = fields(t, Zone::Utc).unwrap();
            assert_eq!((tm, dst), (utc(t), 0), "{t}");
            let f = b"%Y-%m-%d %H:%M:%S %a %A %b %B %e %j %u %w %G-W%V %I%p %y %z %%";
            assert_eq!(format(f, t, Zone::Utc, 256), Some(strftime(f, t)), "{t}");
        }
        // Kamailio's buffer limit: a result that does not fit, or an empty one, is nothing.
        assert_eq!(format(b"%Y", 0, Zone::Utc, 5), Some(b"1970".to_vec()));
        assert_eq!(format(b"%Y", 0, Zone::Utc, 4), None);
        assert_eq!(format(b"", 0, Zone::Utc, 64), None);
        assert_eq!(format(b"%Y\0%m", 0, Zone::Utc, 64), Some(b"1970".to_vec()));
        assert_eq!(format(b"%Z", 0, Zone::Utc, 64), Some(b"GMT".to_vec()));
    }
}

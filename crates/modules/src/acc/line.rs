//! The accounting record and its log line, as Kamailio's acc prints it (`acc.c`'s
//! `acc_log_request`): a leading text (`ACC: transaction answered: ` …), `timestamp=<unix secs>`,
//! the time attributes of `time_mode`, then `;name=value` for the six core attributes and each
//! `log_extra` item. Also the parsers for `log_extra`, `failed_filter` and a comment's leading
//! status code, and Kamailio's canonical reason phrases (`error_text()`), used for replies
//! generated locally.
//!
//! Everything here is pure: values come in, text goes out, so it is unit tested without a message.

use crate::pv::timefmt::{self, Zone};

/// Leading text of a line written by `acc_log_request()` / `acc_request()`.
pub const ACC_REQUEST: &str = "ACC: request accounted: ";
/// Leading text of a missed call (`log_missed_flag`, negative final reply to an INVITE).
pub const ACC_MISSED: &str = "ACC: call missed: ";
/// Leading text of an accounted final reply (`log_flag`, or `failed_transaction_flag` for >= 300).
pub const ACC_ANSWERED: &str = "ACC: transaction answered: ";

/// Kamailio's `MAX_SYSLOG_SIZE`: the attributes part of a line stops before this many bytes.
pub const MAX_LINE: usize = 65536;

/// Kamailio's `MAX_ACC_EXTRA`: default `acc_extra_size`.
pub const MAX_ACC_EXTRA: usize = 64;

/// The six core attributes, in their printed order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Core {
    /// CSeq method.
    pub method: Vec<u8>,
    /// From tag (empty when absent).
    pub from_tag: Vec<u8>,
    /// To tag (empty when absent).
    pub to_tag: Vec<u8>,
    /// Call-ID.
    pub call_id: Vec<u8>,
    /// Status code as text (empty for a comment without a code).
    pub code: Vec<u8>,
    /// Reason phrase (or the comment's text).
    pub reason: Vec<u8>,
}

/// How the time is printed after `timestamp=` (`time_mode`, `time_attr`, `time_exten`,
/// `time_format`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeMode {
    /// 0: seconds only.
    Seconds,
    /// 1: `;<time_exten>=<microseconds>`.
    Micros { exten: String },
    /// 2: `;<time_attr>=<seconds.milliseconds>`.
    Fraction { attr: String },
    /// 3 (local time, [`Zone::Local`]) and 4 (UTC, [`Zone::Utc`]):
    /// `;<time_attr>=<strftime(time_format)>`, see [`time_text`].
    Formatted {
        attr: String,
        format: String,
        zone: Zone,
    },
}

/// The text of time modes 3 and 4: libc's `strftime` of `time_format` after `localtime_r`
/// (mode 3, the host's zone: `TZ`, `/etc/localtime`) or `gmtime_r` (mode 4), as Kamailio does —
/// so `%Z` after `gmtime_r` is `GMT` and `%s` reads the fields as local time, there too. The
/// buffer is Kamailio's 128 bytes: a result that does not fit (or an empty one) is empty.
pub fn time_text(format: &str, secs: i64, zone: Zone) -> Vec<u8> {
    timefmt::format(format.as_bytes(), secs, zone, 128).unwrap_or_default()
}

/// A moment: seconds and microseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub secs: u64,
    pub micros: u32,
}

/// One line: `text` + `timestamp=…` + the time attribute + `;name=value` for each pair (core
/// attributes first, then the extras). Returns the line and whether it was truncated at
/// [`MAX_LINE`] (Kamailio warns "acc message too long, truncating..").
pub fn render(
    text: &str,
    at: Stamp,
    time: &TimeMode,
    core: &Core,
    extras: &[(&str, Vec<u8>)],
) -> (String, bool) {
    let mut attrs: Vec<u8> = Vec::with_capacity(256);
    let core_pairs: [(&str, &[u8]); 6] = [
        ("method", &core.method),
        ("from_tag", &core.from_tag),
        ("to_tag", &core.to_tag),
        ("call_id", &core.call_id),
        ("code", &core.code),
        ("reason", &core.reason),
    ];
    let pairs = core_pairs
        .iter()
        .map(|(n, v)| (*n, *v))
        .chain(extras.iter().map(|(n, v)| (*n, v.as_slice())));
    let mut truncated = false;
    for (name, value) in pairs {
        // Same bound as Kamailio: separator, name, '=' and value must fit before the end
        // (two bytes are kept for the newline and the terminator).
        if attrs.len() + 1 + name.len() + 1 + value.len() >= MAX_LINE - 2 {
            truncated = true;
            break;
        }
        attrs.push(b';');
        attrs.extend_from_slice(name.as_bytes());
        attrs.push(b'=');
        attrs.extend_from_slice(value);
    }
    let attrs = String::from_utf8_lossy(&attrs);
    let when = match time {
        TimeMode::Seconds => String::new(),
        TimeMode::Micros { exten } => format!(";{exten}={}", at.micros),
        TimeMode::Fraction { attr } => {
            let t = at.secs as f64 + f64::from(at.micros) / 1_000_000.0;
            format!(";{attr}={t:.3}")
        }
        TimeMode::Formatted { attr, format, zone } => {
            let secs = i64::try_from(at.secs).unwrap_or(i64::MAX);
            let s = time_text(format, secs, *zone);
            format!(";{attr}={}", String::from_utf8_lossy(&s))
        }
    };
    (
        format!("{text}timestamp={}{when}{attrs}", at.secs),
        truncated,
    )
}

/// One `log_extra` item before its variable is resolved: the attribute name and the variable's
/// text (`$fU`, `$avp(x)`, `$(hdr(X){s.len})` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraItem {
    pub name: String,
    pub var: String,
}

/// Splits a `log_extra` value the way Kamailio's `parse_acc_extra` does: `name=$var` groups
/// separated by `;`, white space allowed around names, `=` and separators; a trailing `;` or an
/// item without `=` is an error. `var_len` returns how many bytes of its input the variable at
/// its start takes (the registry's variable parser), or an error.
pub fn parse_extra(
    text: &str,
    max: usize,
    var_len: impl Fn(&str) -> Result<usize, String>,
) -> Result<Vec<ExtraItem>, String> {
    let b = text.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let err =
        |at: usize, why: &str| format!("{why}: parse failed in <{text}> around position {at}");
    let skip_ws = |mut i: usize| {
        while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
            i += 1;
        }
        i
    };
    while i < b.len() {
        i = skip_ws(i);
        if i >= b.len() {
            return Err(err(i, "empty item"));
        }
        if out.len() == max {
            return Err(format!(
                "too many extras (more than acc_extra_size = {max})"
            ));
        }
        let start = i;
        while b
            .get(i)
            .is_some_and(|c| !c.is_ascii_whitespace() && *c != b'=')
        {
            i += 1;
        }
        if i >= b.len() {
            return Err(err(i, "unexpected end of string"));
        }
        let name = text.get(start..i).unwrap_or_default().to_string();
        i = skip_ws(i);
        if b.get(i) != Some(&b'=') {
            return Err(err(i, "expected '=' after the attribute name"));
        }
        i = skip_ws(i + 1);
        let rest = text.get(i..).unwrap_or_default();
        let used = var_len(rest).map_err(|e| format!("{e}: {}", err(i, "bad variable")))?;
        let var = rest.get(..used).unwrap_or_default().trim_end().to_string();
        i = skip_ws(i + used);
        if i < b.len() {
            if b.get(i) != Some(&b';') || i + 1 >= b.len() {
                return Err(err(
                    i,
                    "unexpected character at the end of a name=var group",
                ));
            }
            i += 1;
        }
        out.push(ExtraItem { name, var });
    }
    Ok(out)
}

/// `failed_filter`: comma-separated three-digit codes >= 300 (at most 15), as Kamailio's
/// `parse_failed_filter`.
pub fn parse_failed_filter(s: &str) -> Result<Vec<u16>, String> {
    let mut out = Vec::new();
    for part in s.split(',') {
        if out.len() >= 15 {
            return Err("too many elements in failed_filter (at most 15)".into());
        }
        if part.len() != 3 || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!(
                "response code `{part}` in failed_filter must have 3 digits"
            ));
        }
        let code: u16 = part
            .parse()
            .map_err(|_| format!("bad code `{part}` in failed_filter"))?;
        if code < 300 {
            return Err(format!("invalid response code {code} in failed_filter"));
        }
        out.push(code);
    }
    Ok(out)
}

/// A comment of `acc_log_request()`: three leading digits are the code and the rest (after
/// white space) the reason; otherwise no code and the whole text is the reason.
pub fn split_comment(c: &[u8]) -> (Vec<u8>, Vec<u8>) {
    match c.get(..3) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => {
            let rest = c.get(3..).unwrap_or_default();
            let skip = rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
            (d.to_vec(), rest.get(skip..).unwrap_or_default().to_vec())
        }
        _ => (Vec::new(), c.to_vec()),
    }
}

/// Kamailio's canonical reason phrase of a status code (core `error_text()`), which acc prints
/// for replies generated locally whatever text the script gave.
pub fn error_text(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        181 => "Call Is Being Forwarded",
        182 => "Queued",
        183 => "Session Progress",
        200 => "OK",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Moved Temporarily",
        305 => "Use Proxy",
        380 => "Alternative Service",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        410 => "Gone",
        413 => "Request Entity Too Large",
        414 => "Request-URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Unsupported URI Scheme",
        417 => "Bad Extension",
        421 => "Extension Required",
        423 => "Interval Too Brief",
        480 => "Temporarily Unavailable",
        481 => "Call/Transaction Does Not Exist",
        482 => "Loop Detected",
        483 => "Too Many Hops",
        484 => "Address Incomplete",
        485 => "Ambiguous",
        486 => "Busy Here",
        487 => "Request Terminated",
        488 => "Not Acceptable Here",
        491 => "Request Pending",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Server Time-Out",
        505 => "Version Not Supported",
        513 => "Message Too Large",
        600 => "Busy Everywhere",
        603 => "Decline",
        604 => "Does Not Exist Anywhere",
        606 => "Not Acceptable",
        c if c >= 600 => "Global Failure",
        c if c >= 500 => "Server Failure",
        c if c >= 400 => "Request Failure",
        c if c >= 300 => "Redirection",
        c if c >= 200 => "Successful",
        c if c >= 100 => "Provisional",
        _ => "Unspecified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn core() -> Core {
        Core {
            method: b"INVITE".to_vec(),
            from_tag: b"a-ok".to_vec(),
            to_tag: b"b-ok".to_vec(),
            call_id: b"ok@127.0.0.1".to_vec(),
            code: b"200".to_vec(),
            reason: b"OK Fine".to_vec(),
        }
    }

    const AT: Stamp = Stamp {
        secs: 1_795_692_375,
        micros: 42_500,
    };

    #[test]
    fn lines_per_time_mode() {
        let tail = ";method=INVITE;from_tag=a-ok;to_tag=b-ok;call_id=ok@127.0.0.1;code=200;reason=OK Fine;src_user=alice;nothing=";
        let cases: &[(TimeMode, &str)] = &[
            (TimeMode::Seconds, "timestamp=1795692375"),
            (
                TimeMode::Micros {
                    exten: "time_exten".into(),
                },
                "timestamp=1795692375;time_exten=42500",
            ),
            (
                TimeMode::Fraction {
                    attr: "time_attr".into(),
                },
                "timestamp=1795692375;time_attr=1795692375.043",
            ),
            (
                TimeMode::Formatted {
                    attr: "t".into(),
                    format: "%Y-%m-%d %H:%M:%S".into(),
                    zone: Zone::Utc,
                },
                "timestamp=1795692375;t=2026-11-26 11:26:15",
            ),
        ];
        let extras = [("src_user", b"alice".to_vec()), ("nothing", Vec::new())];
        for (mode, head) in cases {
            let (line, cut) = render(ACC_ANSWERED, AT, mode, &core(), &extras);
            assert!(!cut);
            assert_eq!(line, format!("ACC: transaction answered: {head}{tail}"));
        }
    }

    #[test]
    fn long_lines_stop_before_the_attribute_that_does_not_fit() {
        let big = vec![b'x'; MAX_LINE];
        let (line, cut) = render(
            ACC_REQUEST,
            AT,
            &TimeMode::Seconds,
            &core(),
            &[("a", b"1".to_vec()), ("big", big), ("after", b"2".to_vec())],
        );
        assert!(cut);
        assert!(line.ends_with(";reason=OK Fine;a=1"), "{line}");
    }

    /// A stand-in for the registry's parser: `$` then letters, or `$name(...)`.
    fn var_len(s: &str) -> Result<usize, String> {
        let b = s.as_bytes();
        if b.first() != Some(&b'$') {
            return Err("not a variable".into());
        }
        let mut i = 1;
        while b.get(i).is_some_and(u8::is_ascii_alphanumeric) {
            i += 1;
        }
        if b.get(i) == Some(&b'(') {
            while b.get(i).is_some_and(|c| *c != b')') {
                i += 1;
            }
            i += 1;
        }
        Ok(i.min(b.len()))
    }

    #[test]
    fn extra_lists() {
        let ok: &[(&str, &[(&str, &str)])] = &[
            (
                "src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd",
                &[
                    ("src_user", "$fU"),
                    ("src_domain", "$fd"),
                    ("src_ip", "$si"),
                    ("dst_ouser", "$tU"),
                    ("dst_user", "$rU"),
                    ("dst_domain", "$rd"),
                ],
            ),
            (" a = $avp(x) ; b=$ru ", &[("a", "$avp(x)"), ("b", "$ru")]),
            ("", &[]),
        ];
        for (text, want) in ok {
            let got = parse_extra(text, MAX_ACC_EXTRA, var_len).unwrap_or_else(|e| panic!("{e}"));
            let got: Vec<(&str, &str)> = got
                .iter()
                .map(|e| (e.name.as_str(), e.var.as_str()))
                .collect();
            assert_eq!(&got, want, "{text}");
        }
        for bad in ["a=$fU;", "a", "a $fU", "a=fU", "a=$fU b=$fd", "   "] {
            assert!(
                parse_extra(bad, MAX_ACC_EXTRA, var_len).is_err(),
                "`{bad}` must be refused"
            );
        }
        assert!(parse_extra("a=$x;b=$y;c=$z", 2, var_len).is_err());
    }

    #[test]
    fn failed_filters() {
        assert_eq!(parse_failed_filter("404,486"), Ok(vec![404, 486]));
        for bad in ["200", "40", "4044", "404;486", "404,", "abc"] {
            assert!(parse_failed_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn comments() {
        let cases: &[(&str, &str, &str)] = &[
            ("200 Custom reason here", "200", "Custom reason here"),
            ("486", "486", ""),
            ("reqv was here", "", "reqv was here"),
            ("20 x", "", "20 x"),
            ("404\t Not here", "404", "Not here"),
        ];
        for (c, code, reason) in cases {
            let (k, r) = split_comment(c.as_bytes());
            assert_eq!(
                (k.as_slice(), r.as_slice()),
                (code.as_bytes(), reason.as_bytes()),
                "{c}"
            );
        }
    }

    #[test]
    fn reason_phrases() {
        let cases = [
            (404, "Not Found"),
            (408, "Request Timeout"),
            (499, "Request Failure"),
            (299, "Successful"),
            (699, "Global Failure"),
            (42, "Unspecified"),
        ];
        for (code, want) in cases {
            assert_eq!(error_text(code), want, "{code}");
        }
    }
}

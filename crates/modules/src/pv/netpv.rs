//! PVs about the transport, flags, branches, time, escapes and the server itself.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::ctx::Branch;
use ferrosip_api::export::SelectGet;
use ferrosip_api::pv::{Idx, PvInner, PvName};
use ferrosip_api::{Ctx, Error, Proto, PvExport, PvNameRule, RcvEvent, Value};

use super::msgpv::{uri_attr, UriAttr};
use super::timefmt::{ctime_local, fields, format, Zone};
use super::{indexed, keyword, kw, named, pv, rt, s, writable};

/// The Kamailio version ferrosip's behaviour follows (`$version(num)`).
pub const KAMAILIO_COMPAT: &str = "6.0.7";

/// The PVs of this file.
pub fn pvs() -> Vec<PvExport> {
    let started = now();
    let mut v = vec![
        pv("si", "source IP address", |c, _| Ok(s(ip_text(c.rcv.src.ip(), false)))),
        pv("src_ip", "source IP address", |c, _| Ok(s(ip_text(c.rcv.src.ip(), false)))),
        pv("siz", "source IP address, IPv6 in brackets", |c, _| Ok(s(ip_text(c.rcv.src.ip(), true)))),
        pv("sp", "source port", |c, _| Ok(Value::Int(i64::from(c.rcv.src.port())))),
        pv("su", "source address as a SIP URI (transport for non-UDP)", |c, _| {
            Ok(s(addr_uri(c.rcv.src, c.rcv.proto, false)))
        }),
        pv("sut", "source address as a SIP URI with transport", |c, _| {
            Ok(s(addr_uri(c.rcv.src, c.rcv.proto, true)))
        }),
        pv("Ri", "local IP address the message arrived on", |c, _| Ok(s(ip_text(c.rcv.dst.ip(), false)))),
        pv("Rp", "local port the message arrived on", |c, _| Ok(Value::Int(i64::from(c.rcv.dst.port())))),
        pv("Ru", "local socket as a SIP URI (transport for non-UDP)", |c, _| {
            Ok(s(addr_uri(c.rcv.dst, c.rcv.proto, false)))
        }),
        pv("Rut", "local socket as a SIP URI with transport", |c, _| {
            Ok(s(addr_uri(c.rcv.dst, c.rcv.proto, true)))
        }),
        pv("pr", "transport protocol name", |c, _| Ok(s(c.rcv.proto.name()))),
        pv("proto", "transport protocol name", |c, _| Ok(s(c.rcv.proto.name()))),
        pv("prid", "transport protocol number", |c, _| Ok(Value::Int(c.rcv.proto.number()))),
        named(
            pv("af", "address family: $af(id) 2/10, $af(name) IPv4/IPv6", |c, n| {
                let v6 = c.rcv.dst.is_ipv6();
                Ok(match kw(n) {
                    1 => s(if v6 { "IPv6" } else { "IPv4" }),
                    _ => Value::Int(if v6 { 10 } else { 2 }),
                })
            }),
            PvNameRule::Required,
            keyword(&["id", "name"]),
        ),
        writable(
            pv("fs", "forced send socket (proto:ip:port)", |c, _| match c.state.force_socket {
                None => Ok(Value::Null),
                Some(i) => Ok(s(socket(c, i)?.socket_str())),
            }),
            // Kamailio's `$fs = "proto:ip:port"` looks the socket up among ours; `$null` clears.
            |c, _, v| {
                if v.is_null() {
                    c.state.force_socket = None;
                    return Ok(());
                }
                let want = v.to_bytes().into_owned();
                let want = String::from_utf8_lossy(&want).to_ascii_lowercase();
                let found = c.server.sockets().iter().position(|x| {
                    x.socket_str().to_ascii_lowercase() == want
                        || (want.matches(':').count() == 1
                            && format!("{}:{}", x.proto.name(), x.addr.ip()) == want)
                });
                match found {
                    Some(i) => {
                        c.state.force_socket = Some(i as u32);
                        Ok(())
                    }
                    None => Err(rt(format!("$fs: `{want}` is not a listening socket"))),
                }
            },
        ),
        pv("fsn", "name of the forced send socket", |c, _| match c.state.force_socket {
            None => Ok(Value::Null),
            Some(i) => Ok(socket(c, i)?.name.clone().map_or(Value::Null, |n| Value::Str(n.into_bytes()))),
        }),
        pv("Rn", "name of the receiving socket", |c, _| {
            let i = c.rcv.socket;
            Ok(socket(c, i)?.name.clone().map_or(Value::Null, |n| Value::Str(n.into_bytes())))
        }),
        pv("RAi", "advertised IP of the receiving socket (its IP when none)", |c, _| {
            let i = c.rcv.socket;
            let si = socket(c, i)?;
            Ok(match &si.advertise {
                Some((h, _)) => s(h.as_str()),
                None => s(ip_text(c.rcv.dst.ip(), false)),
            })
        }),
        pv("RAp", "advertised port of the receiving socket (its port when none)", |c, _| {
            let i = c.rcv.socket;
            let si = socket(c, i)?;
            Ok(Value::Int(i64::from(match &si.advertise {
                Some((_, p)) if *p != 0 => *p,
                _ => c.rcv.dst.port(),
            })))
        }),
        pv("Ras", "advertised socket of the receiving socket (proto:host:port)", |c, _| {
            let i = c.rcv.socket;
            Ok(s(socket(c, i)?.advertised_str()))
        }),
        pv("RAu", "advertised address of the receiving socket as a SIP URI (transport for non-UDP)", |c, _| {
            advertised_uri(c, false)
        }),
        pv("RAut", "advertised address of the receiving socket as a SIP URI with transport", |c, _| {
            advertised_uri(c, true)
        }),
        pv("sas", "source address in socket form (proto:ip:port)", |c, _| {
            Ok(s(format!("{}:{}", c.rcv.proto.name(), c.rcv.src)))
        }),
        pv("mi", "message id (per worker, from 1)", |c, _| Ok(Value::Int(c.state.id as i64))),
        pv("conid", "TCP connection id", |c, _| {
            Ok(c.server
                .conn_id()
                .and_then(|id| i64::try_from(id).ok())
                .map_or(Value::Null, Value::Int))
        }),
        // Flags.
        writable(pv("mf", "message flags", |c, _| Ok(Value::Int(i64::from(c.state.flags)))), |c, _, v| {
            c.state.flags = flag_word(&v)?;
            Ok(())
        }),
        writable(pv("mF", "message flags in hex", |c, _| Ok(s(hex8(c.state.flags)))), |c, _, v| {
            c.state.flags = flag_word(&v)?;
            Ok(())
        }),
        writable(pv("sf", "script flags", |c, _| Ok(Value::Int(i64::from(c.state.sflags)))), |c, _, v| {
            c.state.sflags = flag_word(&v)?;
            Ok(())
        }),
        writable(pv("sF", "script flags in hex", |c, _| Ok(s(hex8(c.state.sflags)))), |c, _, v| {
            c.state.sflags = flag_word(&v)?;
            Ok(())
        }),
        writable(pv("bf", "branch flags of the main branch", |c, _| Ok(Value::Int(i64::from(c.state.bflags)))), |c, _, v| {
            c.state.bflags = flag_word(&v)?;
            Ok(())
        }),
        writable(pv("bF", "branch flags in hex", |c, _| Ok(s(hex8(c.state.bflags)))), |c, _, v| {
            c.state.bflags = flag_word(&v)?;
            Ok(())
        }),
        // Branches.
        writable(
            pv("br", "URI of the first additional branch; assigning appends a branch", |c, _| {
                if !c.msg.is_request() {
                    return Ok(Value::Null);
                }
                Ok(c.state.branches.first().map(|b| s(&b.uri)).unwrap_or_default())
            }),
            // Each assignment appends a branch (Kamailio's km_append_branch), with the forced
            // send socket of the message.
            |c, _, v| match v {
                Value::Str(uri) if !uri.is_empty() => {
                    let socket = c.state.force_socket;
                    c.state.branches.push(Branch {
                        uri,
                        q: -1,
                        socket,
                        ..Branch::default()
                    });
                    Ok(())
                }
                _ => Err(rt("$br needs a non-empty string")),
            },
        ),
        pv("bR", "URIs (with q) of all additional branches", |c, _| {
            if !c.msg.is_request() || c.state.branches.is_empty() {
                return Ok(Value::Null);
            }
            // `<uri>;q=…` when a q is set, the bare URI otherwise (Kamailio's format).
            let parts: Vec<Vec<u8>> = c
                .state
                .branches
                .iter()
                .map(|b| {
                    if b.q < 0 {
                        return b.uri.clone();
                    }
                    let mut x = b"<".to_vec();
                    x.extend_from_slice(&b.uri);
                    x.extend_from_slice(b">;q=");
                    x.extend_from_slice(q_text(b.q).as_bytes());
                    x
                })
                .collect();
            Ok(s(parts.join(&b", "[..])))
        }),
        pv("ds", "destination set as a Contact header value", |c, _| Ok(dset(c))),
        writable(
            indexed(named(
                pv("branch", "attribute of an additional branch: uri dst_uri path q send_socket count flags ruid location_ua", |c, n| {
                    branch_get(c, n)
                }),
                PvNameRule::Required,
                keyword(BRANCH_ATTRS),
            )),
            branch_set,
        ),
        writable(
            named(
                pv("sbranch", "attribute of the worker's static branch: uri dst_uri path q send_socket count flags ruid location_ua", |c, n| {
                    Ok(super::sbranch::get(c, kw(n)))
                }),
                PvNameRule::Required,
                keyword(BRANCH_ATTRS),
            ),
            |_, n, v| super::sbranch::set(kw(n), v),
        ),
        named(
            pv("nh", "next hop ($du, else $ru): u U d p P", |c, n| {
                let uri = match &c.state.dst_uri {
                    Some(d) => d.clone(),
                    None => {
                        if !c.msg.is_request() {
                            return Ok(Value::Null);
                        }
                        c.ruri()
                    }
                };
                Ok(match kw(n) {
                    0 => s(uri),
                    1 => uri_attr(&uri, UriAttr::User),
                    2 => uri_attr(&uri, UriAttr::Host),
                    3 => uri_attr(&uri, UriAttr::Port),
                    _ => uri_attr(&uri, UriAttr::Proto),
                })
            }),
            PvNameRule::Required,
            keyword(&["u", "U", "d", "p", "P"]),
        ),
        // Time.
        pv("Ts", "Unix time of the message (taken on first use, then cached)", |c, _| {
            let t = c.msg_time();
            Ok(Value::Int(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)))
        }),
        pv("TS", "Unix time the server started", move |_, _| Ok(Value::Int(started.0))),
        pv("Tf", "time of the message, local ctime() format", |c, _| Ok(ctime_pv(msg_secs(c)))),
        pv("TF", "current local time, ctime() format (not cached)", |_, _| Ok(ctime_pv(now().0))),
        pv("Tb", "start time, local ctime() format", move |_, _| Ok(ctime_pv(started.0))),
        named(
            pv("TV", "time of day: s u sn un Sn Sm", |_, n| {
                let (sec, usec) = now();
                Ok(match kw(n) {
                    0 | 2 => Value::Int(sec),
                    1 | 3 => Value::Int(usec),
                    4 => s(format!("{sec}.{usec:06}")),
                    _ => {
                        let Some(mut t) = format(b"%Y-%m-%d %H:%M:%S", sec, Zone::Local, 64) else {
                            return Ok(Value::Null);
                        };
                        t.extend_from_slice(format!(".{usec:06}").as_bytes());
                        s(t)
                    }
                })
            }),
            PvNameRule::Required,
            keyword(&["s", "u", "sn", "un", "Sn", "Sm"]),
        ),
        time_pv("time", "local time field: sec min hour mday mon year wday yday isdst", Zone::Local),
        time_pv("utime", "UTC time field: sec min hour mday mon year wday yday isdst", Zone::Utc),
        named(
            pv("timef", "local time of the message formatted with strftime", |c, n| {
                Ok(strftime_pv(&fmt_of(n), msg_secs(c), Zone::Local))
            }),
            PvNameRule::Required,
            strftime_name,
        ),
        named(
            pv("utimef", "UTC time of the message formatted with strftime", |c, n| {
                Ok(strftime_pv(&fmt_of(n), msg_secs(c), Zone::Utc))
            }),
            PvNameRule::Required,
            strftime_name,
        ),
        // Misc.
        pv("true", "integer 1", |_, _| Ok(Value::Int(1))),
        // Kamailio's error-info PVs are kept for old configs and always read $null.
        pv("err.class", "always $null (kept for old configs)", |_, _| Ok(Value::Null)),
        pv("err.level", "always $null (kept for old configs)", |_, _| Ok(Value::Null)),
        pv("err.info", "always $null (kept for old configs)", |_, _| Ok(Value::Null)),
        pv("err.rcode", "always $null (kept for old configs)", |_, _| Ok(Value::Null)),
        pv("err.rreason", "always $null (kept for old configs)", |_, _| Ok(Value::Null)),
        pv("pp", "process id", |_, _| Ok(Value::Int(i64::from(std::process::id())))),
        named(
            pv("version", "num: the Kamailio version whose behaviour ferrosip follows; full; hash", |_, n| {
                Ok(match kw(n) {
                    0 => s(KAMAILIO_COMPAT),
                    1 => s(format!("ferrosip {} (kamailio {KAMAILIO_COMPAT} compatible)", env!("CARGO_PKG_VERSION"))),
                    _ => s(""),
                })
            }),
            PvNameRule::Required,
            keyword(&["num", "full", "hash"]),
        ),
        named(
            pv("env", "environment variable", |c, n| {
                let name = n.name_bytes(c);
                let name = String::from_utf8_lossy(&name).into_owned();
                Ok(std::env::var_os(name).map(|v| s(v.into_encoded_bytes())).unwrap_or_default())
            }),
            PvNameRule::Required,
            |i, _| Ok(PvInner::Str(i.as_bytes().to_vec())),
        ),
        // `$envn(NAME)`: Kamailio keeps the text and its number (`str2sint`); a value that is a
        // whole decimal number reads as that integer, any other text as the text (what xlog
        // prints either way), `$null` when unset.
        named(
            pv("envn", "environment variable as a number", |c, n| {
                let name = n.name_bytes(c);
                let name = String::from_utf8_lossy(&name).into_owned();
                Ok(match std::env::var_os(name) {
                    None => Value::Null,
                    Some(v) => {
                        let b = v.into_encoded_bytes();
                        match std::str::from_utf8(&b).ok().and_then(|t| t.parse::<i32>().ok()) {
                            Some(i) if !b.starts_with(b"+") => Value::Int(i64::from(i)),
                            _ => s(b),
                        }
                    }
                })
            }),
            PvNameRule::Required,
            |i, _| {
                if i.is_empty() {
                    return Err("$envn needs a variable name".into());
                }
                Ok(PvInner::Str(i.as_bytes().to_vec()))
            },
        ),
        named(
            pv("K", "constants: IPv4 IPv6 UDP TCP TLS SCTP WS WSS", |_, n| {
                Ok(Value::Int(match kw(n) {
                    0 => 2,
                    1 => 10,
                    k => k - 1,
                }))
            }),
            PvNameRule::Required,
            keyword(&["IPv4", "IPv6", "UDP", "TCP", "TLS", "SCTP", "WS", "WSS"]),
        ),
        named(
            pv("sel", "value of a select: $sel(path) is @path", |c, n| match &n.inner {
                PvInner::Custom(a) => match a.downcast_ref::<SelectGet>() {
                    Some(get) => get(c),
                    None => Err(rt("bad select")),
                },
                _ => Err(rt("bad select")),
            }),
            PvNameRule::Required,
            // Resolved at load through the registry's select roots (unknown paths are refused).
            |i, reg| Ok(PvInner::Custom(Arc::new(reg.resolve_select(i.trim())?))),
        ),
        named(
            pv("_s", "the string after evaluating the variables in it", |c, n| {
                Ok(s(n.name_bytes(c)))
            }),
            PvNameRule::Required,
            |i, reg| Ok(PvInner::Fmt(reg.parse_format(i)?)),
        ),
    ];
    for (name, ch) in [
        ("En", "\n"),
        ("Er", "\r"),
        ("Es", " "),
        ("Et", "\t"),
        ("Ec", ","),
        ("Eq", "\""),
        ("Ek", "'"),
        ("Ei", ":"),
        ("Ej", ";"),
        ("Eb", "\\"),
        ("Ev", "`"),
    ] {
        v.push(pv(name, "one escaped character", move |_, _| Ok(s(ch))));
    }
    for (name, word, doc) in [
        ("Mf", Word::Msg, "one message flag (0/1)"),
        ("Sf", Word::Script, "one script flag (0/1)"),
        ("Bf", Word::Branch, "one branch flag (0/1)"),
    ] {
        v.push(writable(
            named(
                pv(name, doc, move |c, n| {
                    Ok(Value::Int(i64::from(*word.of(c) & bit(n)? != 0)))
                }),
                PvNameRule::Required,
                |i, _| match i.trim().parse::<u32>() {
                    Ok(b) if b < 32 => Ok(PvInner::Int(i64::from(b))),
                    _ => Err(format!("flag index `{i}` is not 0..31")),
                },
            ),
            move |c, n, v| {
                let b = bit(n)?;
                let w = word.of(c);
                if v.to_int() != 0 {
                    *w |= b;
                } else {
                    *w &= !b;
                }
                Ok(())
            },
        ));
    }
    v.extend(send_and_receive_pvs());
    // `$def(NAME)` / `$defn(NAME)`: read once at load from the defines the server gave the
    // registry (`Registry::set_defines`); `$def` of a define without value is "", of an
    // undefined name `$null`; `$defn` is the value as a number (0 when it is not one).
    v.push(named(
        pv("def", "value of a preprocessor define", |_, n| {
            Ok(define(n, false))
        }),
        PvNameRule::Required,
        |name, reg| Ok(defined(name, reg)),
    ));
    v.push(named(
        pv(
            "defn",
            "value of a preprocessor define as a number",
            |_, n| Ok(define(n, true)),
        ),
        PvNameRule::Required,
        |name, reg| Ok(defined(name, reg)),
    ));
    v
}

/// Inner names of `$snd()`/`$sndto()`/`$sndfrom()` (Kamailio's `pv_parse_snd_name`).
const SND_KEYS: &[&str] = &["ip", "af", "port", "proto", "buf", "len", "sproto"];

/// Inner names of `$rcv()`/`$recv()` (Kamailio's `pv_parse_rcv_name`).
const RCV_KEYS: &[&str] = &[
    "af", "buf", "len", "proto", "srcip", "rcvip", "sproto", "srcport", "rcvport", "safe",
    "evtype", "bufat", "hexat",
];

/// `$snd`, `$sndto`, `$sndfrom` (onsend_route) and `$rcv`, `$recv`
/// (event_route[core:msg-received]); `$null` where the info does not exist, as in Kamailio.
fn send_and_receive_pvs() -> Vec<PvExport> {
    let mut v = Vec::new();
    for (name, from, doc) in [
        (
            "snd",
            false,
            "the message being sent (onsend_route): $snd(ip|port|...) of the destination",
        ),
        (
            "sndto",
            false,
            "the message being sent (onsend_route): destination",
        ),
        (
            "sndfrom",
            true,
            "the message being sent (onsend_route): sending socket",
        ),
    ] {
        v.push(named(
            pv(name, doc, move |c, n| Ok(snd_value(c, kw(n), from))),
            PvNameRule::Required,
            keyword(SND_KEYS),
        ));
    }
    for (name, doc) in [
        ("rcv", "what was received (event_route[core:msg-received])"),
        ("recv", "what was received (event_route[core:msg-received])"),
    ] {
        v.push(writable(
            named(
                pv(name, doc, |c, n| Ok(rcv_value(c, kw(n)))),
                PvNameRule::Required,
                keyword(RCV_KEYS),
            ),
            |c, n, val| set_rcv(c, kw(n), &val),
        ));
    }
    v
}

/// Kamailio's `pv_get_sndto`/`pv_get_sndfrom`: af, proto and sproto are the sending socket's;
/// ip and port the destination's (`sndto`) or the socket's (`sndfrom`).
fn snd_value(c: &Ctx<'_>, key: i64, from: bool) -> Value {
    let Some(snd) = &c.state.sending else {
        return Value::Null;
    };
    let addr = if from { snd.from } else { snd.to };
    match SND_KEYS
        .get(usize::try_from(key).unwrap_or(usize::MAX))
        .copied()
    {
        Some("ip") => s(ip_text(addr.ip(), false)),
        Some("af") => Value::Int(if snd.from.is_ipv6() { 10 } else { 2 }),
        Some("port") => Value::Int(i64::from(addr.port())),
        Some("proto") => Value::Int(snd.proto.number()),
        Some("buf") => Value::Str(snd.buf.clone()),
        Some("len") => Value::Int(i64::try_from(snd.buf.len()).unwrap_or(i64::MAX)),
        Some("sproto") => s(snd.proto.name()),
        _ => Value::Null,
    }
}

/// Kamailio's `pv_get_rcv`: only while event_route[core:msg-received] runs.
fn rcv_value(c: &Ctx<'_>, key: i64) -> Value {
    let Some(r) = c
        .state
        .received
        .as_ref()
        .filter(|r| r.event == RcvEvent::Message)
    else {
        return Value::Null;
    };
    match RCV_KEYS
        .get(usize::try_from(key).unwrap_or(usize::MAX))
        .copied()
    {
        // The family of the receiving socket (`bind_address->address.af`).
        Some("af") => Value::Int(if c.rcv.dst.is_ipv6() { 10 } else { 2 }),
        Some("buf" | "bufat") => Value::Str(r.buf.clone()),
        Some("len") => Value::Int(i64::try_from(r.buf.len()).unwrap_or(i64::MAX)),
        Some("proto") => Value::Int(c.rcv.proto.number()),
        Some("srcip") => s(ip_text(c.rcv.src.ip(), false)),
        Some("rcvip") => s(ip_text(c.rcv.dst.ip(), false)),
        Some("sproto") => s(c.rcv.proto.name()),
        Some("srcport") => Value::Int(i64::from(c.rcv.src.port())),
        Some("rcvport") => Value::Int(i64::from(c.rcv.dst.port())),
        // Kamailio's pv_str_safe tests the first byte only, once per byte of the buffer: the
        // answer is whether the first byte is printable (or TAB/CR/LF); 1 for an empty buffer.
        Some("safe") => Value::Int(i64::from(
            r.buf
                .first()
                .is_none_or(|b| matches!(b, 9 | 10 | 13 | 32..=127)),
        )),
        Some("evtype") => Value::Int(1),
        _ => Value::Null,
    }
}

/// Kamailio's `pv_set_rcv`: `buf` replaces the received bytes (`$null` or "" empties them), `bufat`
/// and `hexat` overwrite them from a position (`"pos:text"`, `"pos:hexdigits"`); other keys are
/// read-only (Kamailio ignores the write; ferrosip says so).
fn set_rcv(c: &mut Ctx<'_>, key: i64, val: &Value) -> Result<(), Error> {
    let Some(r) = c
        .state
        .received
        .as_mut()
        .filter(|r| r.event == RcvEvent::Message)
    else {
        return Err(rt("$rcv: received info not set"));
    };
    let key = RCV_KEYS
        .get(usize::try_from(key).unwrap_or(usize::MAX))
        .copied();
    if key == Some("buf") {
        r.buf = if val.is_null() {
            Vec::new()
        } else {
            val.to_bytes().into_owned()
        };
        return Ok(());
    }
    if !matches!(key, Some("bufat" | "hexat")) {
        return Err(rt(format!("$rcv({}) is read-only", key.unwrap_or("?"))));
    }
    if val.is_null() {
        return Err(rt("$rcv: str value required to set received data"));
    }
    let text = val.to_bytes().into_owned();
    let bad = || rt("$rcv: invalid value to set buf-at data");
    let colon = text.iter().position(|b| *b == b':').ok_or_else(bad)?;
    let (pos, data) = (&text[..colon], &text[colon + 1..]); // colon < len: found in text
    let pos: usize = std::str::from_utf8(pos)
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .ok_or_else(bad)?;
    if text.len() < 3 || pos >= r.buf.len() || data.is_empty() {
        return Err(bad());
    }
    let bytes = if key == Some("hexat") {
        hex_bytes(data).ok_or_else(bad)?
    } else {
        data.to_vec()
    };
    let end = pos + bytes.len();
    if r.buf.len() < end {
        r.buf.resize(end, 0);
    }
    r.buf[pos..end].copy_from_slice(&bytes); // resized above to hold `end`
    Ok(())
}

fn hex_bytes(h: &[u8]) -> Option<Vec<u8>> {
    if h.len() % 2 == 1 {
        return None;
    }
    h.chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).ok()?, 16).ok())
        .collect()
}

/// PV names Kamailio has whose subsystem ferrosip does not have: refused at load with the reason,
/// whatever form the config writes (`Registry::refused_pv`).
pub fn refused_names() -> Vec<(&'static str, &'static str)> {
    vec![
        ("mbu", "the updated message buffer needs the send path"),
        ("msgbuf", "raw message buffer access is not supported"),
        ("ruid", "R-URI branch attributes are not in the context"),
        (
            "location_ua",
            "R-URI branch attributes are not in the context",
        ),
        ("sid", "server_id is not visible to modules"),
        ("ksr", "KEMI is not supported"),
        ("ccp", "config custom parameters are read with @cfg_get"),
        ("fsp", "forced socket by port needs the wire socket table"),
    ]
}

/// The socket `i` of the server's list.
fn socket<'c>(c: &'c Ctx<'_>, i: u32) -> Result<&'c ferrosip_api::SocketInfo, Error> {
    c.server
        .sockets()
        .get(i as usize)
        .ok_or_else(|| rt(format!("socket #{i} is not in the server's socket list")))
}

/// `$RAu`/`$RAut`: like `$Ru`/`$Rut` with the receiving socket's advertised host and port.
fn advertised_uri(c: &Ctx<'_>, always_transport: bool) -> Result<Value, Error> {
    let si = socket(c, c.rcv.socket)?;
    let (host, port) = match &si.advertise {
        Some((h, p)) => (h.clone(), if *p != 0 { *p } else { c.rcv.dst.port() }),
        None => (ip_text(c.rcv.dst.ip(), true), c.rcv.dst.port()),
    };
    let mut u = format!("sip:{host}:{port}");
    if always_transport || c.rcv.proto != Proto::Udp {
        u.push_str(";transport=");
        u.push_str(c.rcv.proto.name());
    }
    Ok(s(u))
}

fn defined(name: &str, reg: &ferrosip_api::Registry) -> PvInner {
    match reg.define(name.trim()) {
        None => PvInner::None,
        Some(v) => PvInner::Str(v.unwrap_or("").as_bytes().to_vec()),
    }
}

fn define(n: &PvName, numeric: bool) -> Value {
    match (&n.inner, numeric) {
        (PvInner::Str(v), false) => Value::Str(v.clone()),
        (PvInner::Str(v), true) => Value::Int(ferrosip_api::value::str_to_int(v).unwrap_or(0)),
        _ => Value::Null,
    }
}

const BRANCH_ATTRS: &[&str] = &[
    "uri",
    "dst_uri",
    "path",
    "q",
    "send_socket",
    "count",
    "flags",
    "ruid",
    "location_ua",
];

#[derive(Clone, Copy)]
enum Word {
    Msg,
    Script,
    Branch,
}

impl Word {
    fn of<'c>(self, c: &'c mut Ctx<'_>) -> &'c mut u32 {
        match self {
            Word::Msg => &mut c.state.flags,
            Word::Script => &mut c.state.sflags,
            Word::Branch => &mut c.state.bflags,
        }
    }
}

fn bit(n: &PvName) -> Result<u32, Error> {
    match n.inner {
        PvInner::Int(b) if (0..32).contains(&b) => Ok(1u32 << b),
        _ => Err(rt("bad flag index")),
    }
}

/// A flags word from an assignment: `$null` clears, an integer sets, anything else is refused
/// (Kamailio's pv_set_mflags and friends need an integer).
fn flag_word(v: &Value) -> Result<u32, Error> {
    match v {
        Value::Null => Ok(0),
        Value::Int(i) => Ok(*i as u32), // flags are 32 bits; Kamailio truncates the same way
        Value::Str(_) => Err(rt("flags can only be set from an integer")),
    }
}

fn hex8(v: u32) -> String {
    format!("{v:08x}")
}

/// `$si`: IPv6 without brackets (`ip_addr2a`), or with them (`ip_addr2strz`).
pub fn ip_text(ip: IpAddr, brackets: bool) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) if brackets => format!("[{a}]"),
        IpAddr::V6(a) => a.to_string(),
    }
}

fn addr_uri(a: SocketAddr, proto: Proto, always_transport: bool) -> String {
    let mut u = format!("sip:{}:{}", ip_text(a.ip(), true), a.port());
    if always_transport || proto != Proto::Udp {
        u.push_str(";transport=");
        u.push_str(proto.name());
    }
    u
}

/// Kamailio's `q2str`: 1000 → `1`, 500 → `0.5`, 0 → `0`.
fn q_text(q: i32) -> String {
    if q >= 1000 {
        return "1".into();
    }
    if q <= 0 {
        return "0".into();
    }
    let t = format!("0.{q:03}");
    t.trim_end_matches('0').to_string()
}

fn dset(c: &Ctx<'_>) -> Value {
    if !c.msg.is_request() {
        return Value::Null;
    }
    let mut items: Vec<Vec<u8>> = Vec::new();
    let contact = |uri: &[u8], q: i32| {
        let mut x = b"<".to_vec();
        x.extend_from_slice(uri);
        x.push(b'>');
        if q >= 0 {
            x.extend_from_slice(b";q=");
            x.extend_from_slice(q_text(q).as_bytes());
        }
        x
    };
    if let Some(u) = &c.state.new_uri {
        items.push(contact(u, -1));
    }
    for b in &c.state.branches {
        items.push(contact(&b.uri, b.q));
    }
    if items.is_empty() {
        return Value::Null;
    }
    let mut out = b"Contact: ".to_vec();
    out.extend_from_slice(&items.join(&b", "[..]));
    s(out)
}

fn branch_get(c: &mut Ctx<'_>, n: &PvName) -> Result<Value, Error> {
    let attr = kw(n);
    if attr == 5 {
        // Kamailio looks the branch up first: no branch at all reads as $null.
        return Ok(if c.state.branches.is_empty() {
            Value::Null
        } else {
            Value::Int(c.state.branches.len() as i64)
        });
    }
    let i = match n.idx(c) {
        Idx::None => 0,
        Idx::At(i) if i < 0 => c.state.branches.len() as i64 + i,
        Idx::At(i) => i,
        Idx::All => return Err(rt("[*] is not supported for $branch")),
    };
    let Some(b) = usize::try_from(i)
        .ok()
        .and_then(|i| c.state.branches.get(i))
    else {
        return Ok(Value::Null);
    };
    let opt = |x: &[u8]| if x.is_empty() { Value::Null } else { s(x) };
    Ok(match attr {
        0 => opt(&b.uri),
        1 => opt(&b.dst_uri),
        2 => opt(&b.path),
        3 => {
            if b.q < 0 {
                Value::Null
            } else {
                Value::Int(i64::from(b.q))
            }
        }
        4 => match b.socket {
            None => Value::Null,
            Some(_) => {
                return Err(rt(
                    "branch sockets cannot be printed: no socket list in the context",
                ))
            }
        },
        6 => Value::Int(i64::from(b.flags)),
        7 => opt(&b.ruid),
        _ => opt(&b.instance),
    })
}

/// `$(branch(attr)[i]) = …` with Kamailio's rules: the branch must exist; `$null` or `""` on `uri`
/// removes the branch and clears `dst_uri`/`path`; `q` and `flags` need integers (`$null` resets);
/// `count`, `ruid` and `location_ua` ignore writes; `send_socket` needs the socket list the context
/// does not carry, so a non-empty value is an error.
fn branch_set(c: &mut Ctx<'_>, n: &PvName, v: Value) -> Result<(), Error> {
    let attr = kw(n);
    let len = c.state.branches.len() as i64;
    let i = match n.idx(c) {
        Idx::None => 0,
        Idx::At(i) if i < 0 => len + i,
        Idx::At(i) => i,
        Idx::All => return Err(rt("[*] is not supported for $branch")),
    };
    let i = usize::try_from(i)
        .ok()
        .filter(|i| *i < c.state.branches.len())
        .ok_or_else(|| rt(format!("no branch at index {i}")))?;
    let empty = matches!(&v, Value::Null) || matches!(&v, Value::Str(b) if b.is_empty());
    if attr == 0 && empty {
        c.state.branches.remove(i);
        return Ok(());
    }
    let Some(b) = c.state.branches.get_mut(i) else {
        return Err(rt("no such branch"));
    };
    set_branch_attr(b, attr, v, "branch")
}

/// One attribute of a branch (`$branch`, `$sbranch`) set by number as Kamailio's `pv_set_branchx`
/// does; `uri` to empty is the caller's (it removes or resets the branch). `what` names the
/// variable's kind in errors.
pub(crate) fn set_branch_attr(
    b: &mut Branch,
    attr: i64,
    v: Value,
    what: &str,
) -> Result<(), Error> {
    let empty = matches!(&v, Value::Null) || matches!(&v, Value::Str(b) if b.is_empty());
    match (attr, v) {
        (1, _) if empty => b.dst_uri.clear(),
        (2, _) if empty => b.path.clear(),
        (0, Value::Str(s)) => b.uri = s,
        (1, Value::Str(s)) => b.dst_uri = s,
        (2, Value::Str(s)) => b.path = s,
        (3, Value::Null) => b.q = -1,
        (3, Value::Int(q)) => b.q = i32::try_from(q).map_err(|_| rt("q out of range"))?,
        (4, _) if empty => b.socket = None,
        (4, _) => {
            return Err(rt(format!(
                "{what} sockets cannot be set: no socket list in the context"
            )))
        }
        (5 | 7 | 8, _) => {}
        (6, Value::Null) => b.flags = 0,
        (6, Value::Int(f)) => b.flags = f as u32, // 32-bit flags, truncated as in Kamailio
        _ => return Err(rt(format!("wrong value type for this {what} attribute"))),
    }
    Ok(())
}

/// Seconds and microseconds since the epoch.
pub fn now() -> (i64, i64) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, i64::from(d.subsec_micros()))
}

fn fmt_of(n: &PvName) -> Vec<u8> {
    match &n.inner {
        PvInner::Str(f) => f.clone(),
        _ => Vec::new(),
    }
}

/// The format of `$timef(…)`/`$utimef(…)`; empty is refused, as Kamailio does at load.
fn strftime_name(i: &str, _: &ferrosip_api::Registry) -> Result<PvInner, String> {
    if i.is_empty() {
        return Err("empty strftime format".into());
    }
    Ok(PvInner::Str(i.as_bytes().to_vec()))
}

/// The message's time in seconds (`$Ts`; Kamailio's `msg->tval`, set on first use).
fn msg_secs(c: &mut Ctx<'_>) -> i64 {
    c.msg_time()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `ctime_r()` text without the newline, `$null` when libc cannot break the time down.
fn ctime_pv(t: i64) -> Value {
    ctime_local(t).map(s).unwrap_or_default()
}

/// `$timef`/`$utimef`: Kamailio formats into a 64-byte buffer and reads `$null` when strftime
/// writes nothing (an empty result or one longer than 63 bytes).
fn strftime_pv(fmt: &[u8], t: i64, zone: Zone) -> Value {
    format(fmt, t, zone, 64).map(s).unwrap_or_default()
}

/// `$time(name)` / `$utime(name)`: fields of the message's time (Kamailio's `get_time_struct`).
fn time_pv(name: &'static str, doc: &'static str, zone: Zone) -> PvExport {
    named(
        pv(name, doc, move |c, n| {
            let Some((tm, isdst)) = fields(msg_secs(c), zone) else {
                return Ok(Value::Null);
            };
            Ok(Value::Int(match kw(n) {
                0 => i64::from(tm.sec),
                1 => i64::from(tm.min),
                2 => i64::from(tm.hour),
                3 => i64::from(tm.mday),
                4 => i64::from(tm.mon),
                5 => tm.year,
                6 => i64::from(tm.wday) + 1,
                7 => i64::from(tm.yday) + 1,
                _ => i64::from(isdst),
            }))
        }),
        PvNameRule::Required,
        keyword(&[
            "sec", "min", "hour", "mday", "mon", "year", "wday", "yday", "isdst",
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_helpers() {
        let q = [
            (1000, "1"),
            (500, "0.5"),
            (125, "0.125"),
            (0, "0"),
            (50, "0.05"),
        ];
        for (v, want) in q {
            assert_eq!(q_text(v), want, "{v}");
        }
        assert_eq!(hex8(10), "0000000a");
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        assert_eq!(ip_text(v6, false), "2001:db8::1");
        assert_eq!(ip_text(v6, true), "[2001:db8::1]");
        let a = SocketAddr::new(v6, 5060);
        assert_eq!(
            addr_uri(a, Proto::Tcp, false),
            "sip:[2001:db8::1]:5060;transport=tcp"
        );
        assert_eq!(addr_uri(a, Proto::Udp, false), "sip:[2001:db8::1]:5060");
        assert_eq!(
            addr_uri(a, Proto::Udp, true),
            "sip:[2001:db8::1]:5060;transport=udp"
        );
        let words: &[(Value, Option<u32>)] = &[
            (Value::Null, Some(0)),
            (Value::Int(7), Some(7)),
            (Value::Int(-1), Some(u32::MAX)),
            (Value::str("7"), None),
        ];
        for (v, want) in words {
            assert_eq!(flag_word(v).ok(), *want, "{v:?}");
        }
    }
}

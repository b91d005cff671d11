//! The transformation classes `uri`, `param`, `nameaddr`, `tobody`, `line`, `urialias`, `val` and
//! `num`. Like Kamailio, the string-based ones fail on `$null` or an empty string (the variable then
//! reads as `<null>`), and give an empty string for a part that is absent.

use std::sync::Arc;

use ferrosip_api::export::{Transform, TransformExport};
use ferrosip_api::{Error, Registry, Value};
use ferrosip_sipmsg::headers::nameaddr::parse_single;
use ferrosip_sipmsg::{HeaderKind, Scheme, Span};

use super::trans_s::{param, split_params, tr, TParam};
use super::uriops;
use super::{rt, s};

/// The classes of this file.
pub fn exports() -> Vec<TransformExport> {
    let mk = |class: &'static str,
              doc: &'static str,
              f: fn(&str, &Registry) -> Result<Transform, String>| {
        TransformExport {
            class,
            doc,
            parse: Arc::new(f),
        }
    };
    vec![
        mk("uri", "parts of a SIP URI", parse_uri_tr),
        mk("param", "parameter lists (`a=1;b=2`)", parse_param_tr),
        mk("nameaddr", "name-addr parts", parse_nameaddr_tr),
        mk("tobody", "To/From body parts", parse_tobody_tr),
        mk("line", "lines of a multi-line value", parse_line_tr),
        mk(
            "urialias",
            "URI <-> alias parameter value (host~port~proto)",
            parse_urialias_tr,
        ),
        mk("val", "null handling and JSON escaping", parse_val_tr),
        mk("num", "digits of a number", parse_num_tr),
    ]
}

/// A non-empty string value, as the non-`s` classes require.
fn nonempty_str(v: Value) -> Result<Vec<u8>, Error> {
    match v {
        Value::Str(b) if !b.is_empty() => Ok(b),
        Value::Null => Err(rt("transformation applied to $null")),
        Value::Int(_) => Err(rt("transformation needs a string")),
        Value::Str(_) => Err(rt("transformation applied to an empty string")),
    }
}

fn split_name(text: &str) -> (String, Vec<&str>) {
    match text.split_once(',') {
        Some((n, r)) => (n.trim().to_ascii_lowercase(), split_params(r)),
        None => (text.trim().to_ascii_lowercase(), Vec::new()),
    }
}

fn no_params(class: &str, name: &str, p: &[&str]) -> Result<(), String> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(format!("{class}.{name} takes no parameter"))
    }
}

fn one_param(class: &str, name: &str, p: &[&str], reg: &Registry) -> Result<TParam, String> {
    match p {
        [x] => param(x, reg),
        _ => Err(format!("{class}.{name} takes one parameter")),
    }
}

// ---- uri ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UriPart {
    User,
    Host,
    Passwd,
    Port,
    Saor,
    Suri,
    Duri,
    Params,
    Headers,
    Transport,
    Ttl,
    Uparam,
    Maddr,
    Method,
    Lr,
    R2,
    Scheme,
    Tosocket,
}

fn parse_uri_tr(text: &str, reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    let part = match name.as_str() {
        "param" | "rmparam" => {
            let key = one_param("uri", &name, &p, reg)?;
            let remove = name == "rmparam";
            return Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let k = key.bytes(c)?;
                let (u, ub) = parse_tr_uri(&b)?;
                let params = if matches!(u.scheme, Scheme::Tel | Scheme::Tels) {
                    &b""[..]
                } else {
                    u.sip_params.of(&ub)
                };
                if remove {
                    return Ok(s(remove_param(&b, &k)));
                }
                Ok(s(param_list(params, b';')
                    .into_iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&k))
                    .map(|(_, v)| v)
                    .unwrap_or_default()))
            }));
        }
        "user" => UriPart::User,
        "host" | "domain" => UriPart::Host,
        "passwd" => UriPart::Passwd,
        "port" => UriPart::Port,
        "saor" => UriPart::Saor,
        "suri" => UriPart::Suri,
        "duri" => UriPart::Duri,
        "params" => UriPart::Params,
        "headers" => UriPart::Headers,
        "transport" => UriPart::Transport,
        "ttl" => UriPart::Ttl,
        "uparam" => UriPart::Uparam,
        "maddr" => UriPart::Maddr,
        "method" => UriPart::Method,
        "lr" => UriPart::Lr,
        "r2" => UriPart::R2,
        "scheme" => UriPart::Scheme,
        "tosocket" => UriPart::Tosocket,
        _ => return Err(format!("unknown transformation `uri.{name}`")),
    };
    no_params("uri", &name, &p)?;
    Ok(tr(move |_, v| {
        let b = nonempty_str(v)?;
        let (u, ub) = parse_tr_uri(&b)?;
        let get = |sp: Option<Span>| sp.map(|x| x.of(&ub).to_vec()).unwrap_or_default();
        let pval = |p: Option<ferrosip_sipmsg::Param>| get(p.and_then(|x| x.value));
        Ok(s(match part {
            UriPart::User => get(u.user),
            UriPart::Host => u.host.of(&ub).to_vec(),
            UriPart::Passwd => get(u.password),
            UriPart::Port => get(u.port_span),
            // Kamailio keeps tel parameters out of the SIP parameters.
            UriPart::Params if matches!(u.scheme, Scheme::Tel | Scheme::Tels) => Vec::new(),
            UriPart::Params => u.sip_params.of(&ub).to_vec(),
            UriPart::Headers => get(u.headers),
            UriPart::Transport => pval(u.transport),
            UriPart::Ttl => pval(u.ttl),
            UriPart::Uparam => pval(u.user_param),
            UriPart::Maddr => pval(u.maddr),
            UriPart::Method => pval(u.method),
            UriPart::Lr => pval(u.lr),
            UriPart::R2 => pval(u.param(&ub, b"r2")),
            UriPart::Scheme => {
                let end = b.iter().position(|c| *c == b':').unwrap_or(b.len());
                b.get(..end).unwrap_or_default().to_vec()
            }
            UriPart::Saor | UriPart::Suri | UriPart::Duri => {
                let colon = b
                    .iter()
                    .position(|c| *c == b':')
                    .ok_or_else(|| rt("no scheme"))?;
                let mut out = b.get(..=colon).unwrap_or_default().to_vec();
                if part != UriPart::Duri {
                    if let Some(us) = u.user.filter(|x| !x.is_empty()) {
                        out.extend_from_slice(us.of(&ub));
                        out.push(b'@');
                    }
                }
                out.extend_from_slice(u.host.of(&ub));
                if part != UriPart::Saor {
                    if let Some(ps) = u.port_span.filter(|x| !x.is_empty()) {
                        out.push(b':');
                        out.extend_from_slice(ps.of(&ub));
                    }
                    if let Some(t) = u.transport.and_then(|t| t.value).filter(|x| !x.is_empty()) {
                        out.extend_from_slice(b";transport=");
                        out.extend_from_slice(t.of(&ub));
                    }
                }
                out
            }
            UriPart::Tosocket => {
                let proto = match u.transport.and_then(|t| t.value) {
                    Some(t) => String::from_utf8_lossy(t.of(&ub)).to_ascii_lowercase(),
                    None if u.scheme == Scheme::Sips => "tls".into(),
                    None => "udp".into(),
                };
                let port = u.port.unwrap_or(5060);
                let mut out = format!("{proto}:").into_bytes();
                out.extend_from_slice(u.host.of(&ub));
                out.extend_from_slice(format!(":{port}").as_bytes());
                out
            }
        }))
    }))
}

/// Parses a URI for `{uri.*}`; a trailing `;` is ignored, as Kamailio does.
fn parse_tr_uri(b: &[u8]) -> Result<(ferrosip_sipmsg::Uri, Vec<u8>), Error> {
    let ub = if b.len() > 4 && b.last() == Some(&b';') {
        b[..b.len() - 1].to_vec()
    } else {
        b.to_vec()
    };
    let u = uriops::parse(&ub).ok_or_else(|| rt("cannot parse URI"))?;
    Ok((u, ub))
}

/// Removes every `;name[=value]` URI parameter called `name` (ASCII case-insensitive).
fn remove_param(uri: &[u8], name: &[u8]) -> Vec<u8> {
    let Some(semi) = uri.iter().position(|c| *c == b';') else {
        return uri.to_vec();
    };
    let (head, rest) = uri.split_at(semi);
    let (params, tail) = match rest.iter().position(|c| *c == b'?') {
        Some(q) => rest.split_at(q),
        None => (rest, &b""[..]),
    };
    let mut out = head.to_vec();
    for p in params.split(|c| *c == b';').filter(|p| !p.is_empty()) {
        let pname = p.split(|c| *c == b'=').next().unwrap_or_default();
        if !pname.trim_ascii().eq_ignore_ascii_case(name) {
            out.push(b';');
            out.extend_from_slice(p);
        }
    }
    out.extend_from_slice(tail);
    out
}

// ---- param ----

/// Splits `a=1;b=2` into (name, value) pairs; quotes around a value are removed. One trailing
/// separator is ignored; an empty item (a leading separator) counts as a parameter with an empty
/// name, as Kamailio's parser makes one.
fn param_list(b: &[u8], sep: u8) -> Vec<(Vec<u8>, Vec<u8>)> {
    let b = if b.len() > 1 {
        b.strip_suffix(&[sep]).unwrap_or(b)
    } else {
        b
    };
    let mut out = Vec::new();
    for item in b.split(|c| *c == sep) {
        let item = item.trim_ascii();
        let (n, v) = match item.iter().position(|c| *c == b'=') {
            Some(i) => (item[..i].trim_ascii(), item[i + 1..].trim_ascii()),
            None => (item, &b""[..]),
        };
        let v = if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
            &v[1..v.len() - 1]
        } else {
            v
        };
        out.push((n.to_vec(), v.to_vec()));
    }
    out
}

fn sep_param(p: Option<&&str>) -> Result<u8, String> {
    match p {
        None => Ok(b';'),
        Some(x) => match x.as_bytes() {
            [c] => Ok(*c),
            _ => Err("the separator must be one character".into()),
        },
    }
}

fn parse_param_tr(text: &str, reg: &Registry) -> Result<Transform, String> {
    // `name,key[,sep]` where the separator may be a comma: split by hand.
    let (name, rest) = match text.split_once(',') {
        Some((n, r)) => (n.trim().to_ascii_lowercase(), Some(r)),
        None => (text.trim().to_ascii_lowercase(), None),
    };
    let p: Vec<&str> = match (name.as_str(), rest) {
        (_, None) => Vec::new(),
        ("count", Some(r)) => vec![r],
        (_, Some(r)) => split_params(r),
    };
    match name.as_str() {
        "value" | "in" => {
            let key = param(p.first().ok_or(format!("param.{name} needs a name"))?, reg)?;
            let sep = sep_param(p.get(1))?;
            let is_in = name == "in";
            Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let k = key.bytes(c)?;
                let list = param_list(&b, sep);
                let found = list.into_iter().find(|(n, _)| n.eq_ignore_ascii_case(&k));
                Ok(match (found, is_in) {
                    (Some(_), true) => Value::Int(1),
                    (None, true) => Value::Int(0),
                    (Some((_, v)), false) => s(v),
                    (None, false) => s(""),
                })
            }))
        }
        "valueat" | "name" => {
            let idx = param(
                p.first().ok_or(format!("param.{name} needs an index"))?,
                reg,
            )?;
            idx.check_int()?;
            let sep = sep_param(p.get(1))?;
            let want_name = name == "name";
            Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let i = idx.int(c)?;
                let list = param_list(&b, sep);
                let pos = if i < 0 { list.len() as i64 + i } else { i };
                Ok(s(usize::try_from(pos)
                    .ok()
                    .and_then(|p| list.get(p))
                    .map(|(n, v)| if want_name { n.clone() } else { v.clone() })
                    .unwrap_or_default()))
            }))
        }
        "count" => {
            let sep = match p.first() {
                None => None,
                Some(x) => Some(param(x, reg)?),
            };
            Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let sep = match &sep {
                    None => b';',
                    Some(TParam::Lit(l)) if l.len() == 1 => l[0], // length checked
                    Some(TParam::Lit(_)) => return Err(rt("the separator must be one character")),
                    Some(x) => *x.bytes(c)?.first().unwrap_or(&b';'),
                };
                Ok(Value::Int(param_list(&b, sep).len() as i64))
            }))
        }
        _ => Err(format!("unknown transformation `param.{name}`")),
    }
}

// ---- nameaddr / tobody ----

fn parse_nameaddr_tr(text: &str, _reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    no_params("nameaddr", &name, &p)?;
    let which = match name.as_str() {
        "uri" => 0,
        "len" => 1,
        "name" => 2,
        _ => return Err(format!("unknown transformation `nameaddr.{name}`")),
    };
    Ok(tr(move |_, v| {
        let b = nonempty_str(v)?;
        // Without `<`, Kamailio takes the whole value as the URI.
        if !b.contains(&b'<') {
            return Ok(match which {
                0 => s(&b),
                1 => Value::Int(b.len() as i64),
                _ => s(""),
            });
        }
        let na = parse_single(&b, Span::new(0, b.len()), HeaderKind::Other)
            .or_else(|_| parse_single(&b, Span::new(0, b.len()), HeaderKind::To))
            .map_err(|e| rt(format!("cannot parse name-addr: {e}")))?;
        // name-addr ends at `>`: parameters after it are not part of it.
        let end = b
            .iter()
            .rposition(|c| *c == b'>')
            .map(|e| e + 1)
            .unwrap_or(b.len());
        Ok(match which {
            0 => s(na.uri.of(&b)),
            1 => Value::Int(end as i64),
            // Kamailio's name runs from the start to the `<`, blanks included.
            _ => {
                let lt = b.iter().position(|c| *c == b'<').unwrap_or(0);
                let start = b
                    .iter()
                    .position(|c| !c.is_ascii_whitespace())
                    .unwrap_or(0)
                    .min(lt);
                s(b.get(start..lt).unwrap_or_default())
            }
        })
    }))
}

fn parse_tobody_tr(text: &str, _reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    no_params("tobody", &name, &p)?;
    let which = match name.as_str() {
        "uri" => 0,
        "tag" => 1,
        "user" => 2,
        "host" => 3,
        "params" => 4,
        "display" => 5,
        _ => return Err(format!("unknown transformation `tobody.{name}`")),
    };
    Ok(tr(move |_, v| {
        let b = nonempty_str(v)?;
        let na = parse_single(&b, Span::new(0, b.len()), HeaderKind::To)
            .map_err(|e| rt(format!("cannot parse To body: {e}")))?;
        let uri = na.uri.of(&b);
        let u = uriops::parse(uri).ok_or_else(|| rt("cannot parse the URI"))?;
        Ok(s(match which {
            0 => uri.to_vec(),
            1 => na.tag.map(|t| t.of(&b).to_vec()).unwrap_or_default(),
            2 => u.user.map(|x| x.of(uri).to_vec()).unwrap_or_default(),
            3 => u.host.of(uri).to_vec(),
            4 => {
                // From the first parameter name to the end.
                let sp = na.params.span;
                let pb = sp.of(&b);
                pb.strip_prefix(b";")
                    .unwrap_or(pb)
                    .trim_ascii_start()
                    .to_vec()
            }
            _ => na.display.map(|d| d.of(&b).to_vec()).unwrap_or_default(),
        }))
    }))
}

// ---- line ----

fn parse_line_tr(text: &str, reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    let strip_cr = |l: &[u8]| -> Value { s(l.strip_suffix(b"\r").unwrap_or(l)) };
    match name.as_str() {
        "count" => {
            no_params("line", &name, &p)?;
            Ok(tr(|_, v| {
                let b = nonempty_str(v)?;
                let mut n = b.iter().filter(|c| **c == b'\n').count();
                if b.last() != Some(&b'\n') {
                    n += 1;
                }
                Ok(Value::Int(n as i64))
            }))
        }
        "at" => {
            let idx = one_param("line", &name, &p, reg)?;
            idx.check_int()?;
            Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let i = idx.int(c)?;
                let body = b.strip_suffix(b"\n").unwrap_or(&b);
                let lines: Vec<&[u8]> = body.split(|c| *c == b'\n').collect();
                let pos = if i < 0 { lines.len() as i64 + i } else { i };
                Ok(usize::try_from(pos)
                    .ok()
                    .and_then(|p| lines.get(p))
                    .map(|l| strip_cr(l))
                    .unwrap_or_else(|| s("")))
            }))
        }
        "sw" => {
            let pre = one_param("line", &name, &p, reg)?;
            Ok(tr(move |c, v| {
                let b = nonempty_str(v)?;
                let pre = pre.bytes(c)?;
                Ok(b.split(|c| *c == b'\n')
                    .find(|l| l.starts_with(&pre))
                    .map(strip_cr)
                    .unwrap_or_else(|| s("")))
            }))
        }
        _ => Err(format!("unknown transformation `line.{name}`")),
    }
}

// ---- urialias ----

fn proto_num(name: &[u8]) -> u8 {
    match name.to_ascii_lowercase().as_slice() {
        b"tcp" => 2,
        b"tls" => 3,
        b"sctp" => 4,
        b"ws" => 5,
        b"wss" => 6,
        _ => 1,
    }
}

fn parse_urialias_tr(text: &str, _reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    no_params("urialias", &name, &p)?;
    let encode = match name.as_str() {
        "encode" => true,
        "decode" => false,
        _ => return Err(format!("unknown transformation `urialias.{name}`")),
    };
    Ok(tr(move |_, v| {
        let b = nonempty_str(v)?;
        if encode {
            let Some(u) = uriops::parse(&b) else {
                return Ok(s(""));
            };
            // Kamailio's URI protocol comes from the transport parameter only.
            let proto = match u.transport.and_then(|t| t.value) {
                Some(t) => proto_num(t.of(&b)),
                None => 1,
            };
            let mut out = u.host.of(&b).to_vec();
            out.push(b'~');
            match u.port_span.filter(|x| !x.is_empty()) {
                Some(ps) => out.extend_from_slice(ps.of(&b)),
                None if proto == 3 || proto == 6 => out.extend_from_slice(b"5061"),
                None => out.extend_from_slice(b"5060"),
            }
            out.push(b'~');
            out.push(b'0' + proto);
            return Ok(s(out));
        }
        let parts: Vec<&[u8]> = b.split(|c| *c == b'~').collect();
        let [host, port, proto] = parts.as_slice() else {
            return Ok(s(""));
        };
        let mut out = b"sip:".to_vec();
        out.extend_from_slice(host);
        out.push(b':');
        out.extend_from_slice(port);
        let name = match proto.first().map(|c| c.wrapping_sub(b'0')) {
            Some(0 | 1) => None,
            Some(2) => Some("tcp"),
            Some(3) => Some("tls"),
            Some(4) => Some("sctp"),
            Some(5) => Some("ws"),
            Some(6) => Some("wss"),
            _ => return Ok(s("")),
        };
        if let Some(n) = name {
            out.extend_from_slice(b";transport=");
            out.extend_from_slice(n.as_bytes());
        }
        Ok(s(out))
    }))
}

// ---- val / num ----

/// JSON string escaping; `None` when nothing needs escaping.
fn json_escape(b: &[u8]) -> Option<Vec<u8>> {
    if !b.iter().any(|c| *c < 32 || *c == b'"' || *c == b'\\') {
        return None;
    }
    let mut out = Vec::with_capacity(b.len() + 8);
    for &c in b {
        match c {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            8 => out.extend_from_slice(b"\\b"),
            12 => out.extend_from_slice(b"\\f"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            c if c < 32 => out.extend_from_slice(format!("\\u{c:04X}").as_bytes()),
            c => out.push(c),
        }
    }
    Some(out)
}

fn parse_val_tr(text: &str, _reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    no_params("val", &name, &p)?;
    Ok(match name.as_str() {
        "n0" => tr(|_, v| Ok(if v.is_null() { Value::Int(0) } else { v })),
        "ne" => tr(|_, v| Ok(if v.is_null() { s("") } else { v })),
        "json" => tr(|_, v| {
            Ok(match v {
                Value::Null => s(""),
                Value::Str(b) => json_escape(&b).map(s).unwrap_or(Value::Str(b)),
                i => i,
            })
        }),
        // Kamailio's code quotes only when something was escaped; kept as it is.
        "jsonqe" => tr(|_, v| {
            Ok(match v {
                Value::Null => s("\"\""),
                Value::Str(b) => match json_escape(&b) {
                    Some(e) => s([&b"\""[..], &e, b"\""].concat()),
                    None => Value::Str(b),
                },
                i => i,
            })
        }),
        _ => return Err(format!("unknown transformation `val.{name}`")),
    })
}

fn parse_num_tr(text: &str, _reg: &Registry) -> Result<Transform, String> {
    let (name, p) = split_name(text);
    no_params("num", &name, &p)?;
    Ok(match name.as_str() {
        "fdigit" => tr(|_, v| {
            Ok(Value::Int(match v {
                Value::Int(mut i) => {
                    i = i.saturating_abs();
                    while i >= 10 {
                        i /= 10;
                    }
                    i
                }
                _ => 0,
            }))
        }),
        "ldigit" => tr(|_, v| {
            Ok(Value::Int(match v {
                Value::Int(i) => i % 10,
                _ => 0,
            }))
        }),
        _ => return Err(format!("unknown transformation `num.{name}`")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        type Pairs<'a> = &'a [(&'a str, &'a str)];
        let lists: &[(&str, u8, Pairs)] = &[
            ("a=1;b=2", b';', &[("a", "1"), ("b", "2")]),
            ("a=1;b=2;", b';', &[("a", "1"), ("b", "2")]),
            (";a", b';', &[("", ""), ("a", "")]),
            ("x=\"q r\",y", b',', &[("x", "q r"), ("y", "")]),
        ];
        for (text, sep, want) in lists {
            let got = param_list(text.as_bytes(), *sep);
            let got: Vec<(String, String)> = got
                .into_iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8_lossy(&n).into_owned(),
                        String::from_utf8_lossy(&v).into_owned(),
                    )
                })
                .collect();
            let want: Vec<(String, String)> = want
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect();
            assert_eq!(got, want, "{text}");
        }
        let rm = [
            ("sip:a@b;x=1;y;X=2?h=1", "x", "sip:a@b;y?h=1"),
            ("sip:a@b", "x", "sip:a@b"),
            ("sip:a@b;lr", "lr", "sip:a@b"),
        ];
        for (uri, name, want) in rm {
            assert_eq!(
                remove_param(uri.as_bytes(), name.as_bytes()),
                want.as_bytes(),
                "{uri}"
            );
        }
        assert_eq!(json_escape(b"plain"), None);
        assert_eq!(
            json_escape(b"a\"\x01").as_deref(),
            Some(&b"a\\\"\\u0001"[..])
        );
        assert_eq!(proto_num(b"TLS"), 3);
        assert_eq!(proto_num(b"x"), 1);
    }
}

//! Kamailio's `xhttp` module: HTTP/1.x requests received on a SIP socket (TCP, or UDP) run
//! `event_route[xhttp:request]` instead of the SIP routes, and `xhttp_reply(code, reason, ctype,
//! body)` answers them on the connection they came on. `$hu` is the request URL, `{url.path}` and
//! `{url.querystring}` split it.
//!
//! Kamailio runs HTTP through its SIP parser by inserting a Via made from the source address after
//! the request line (`Via: SIP/2.0/TCP ip:port`); the reply is a stateless SIP reply built from
//! that message, whose first line carries the request's `HTTP/1.x` and whose Via copies are
//! renamed `Sia:` (an HTTP client must not read them as HTTP's own Via). ferrosip does the same,
//! so the bytes on the wire are Kamailio's: [`XhttpApi::sip_request`] builds the message the event
//! route runs on, [`reply`] the answer.
//!
//! The server's receive path (`crates/server/src/recv.rs`) owns the non-SIP path: a request whose
//! version is not `SIP/2.0` goes through `event_route[core:pre-routing]`, then — when this module
//! is loaded and [`XhttpApi::accepts`] it — to `event_route[xhttp:request]`; otherwise it is
//! dropped, as Kamailio drops non-SIP requests nobody hooked.
//!
//! Not implemented: `event_callback` (a KEMI function name; ferrosip has no KEMI), refused at load.
//! Replies go through sl's API ([`crate::sl::SlReply`], Kamailio's `sreply`): sl's builder (which
//! renames the Via copies of a reply to HTTP `Sia`), its counters (`sl.stats`) and
//! `event_route[sl:local-response]`, as in Kamailio. Without sl loaded the module is refused at
//! load ("cannot bind to SL API"). jsonrpcs' `jsonrpc_dispatch` still calls [`reply`], which has
//! no handle and uses an unbound one (sl's builder, uncounted) until it passes its own to
//! [`reply_with`].

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{
    EventRouteExport, FnExport, ModParam, ModParamType, ParamKind as K, PvExport, PvNameRule,
    TransformExport,
};
use ferrosip_api::pv::PvName;
use ferrosip_api::{
    Ctx, Error, InitCtx, ModValue, ModuleExports, Proto, RetCode, RouteMask, Value,
};
use ferrosip_sipmsg::{HeaderKind, Msg, Proto as Version};

use crate::sl::{reply_lumps, SlReply};

/// The event route HTTP requests run.
pub const EVENT_ROUTE: &str = "xhttp:request";

/// What the receive path asks xhttp (Kamailio's non-SIP message hook). Handed out with
/// [`InitCtx::provide`]; the server takes it from the registry.
#[derive(Clone, Default)]
pub struct XhttpApi {
    /// `url_match`: the URL must match for the event route to run.
    url_match: Option<Matcher>,
    /// `url_skip`: a matching URL does not run the event route (checked first).
    url_skip: Option<Matcher>,
}

impl std::fmt::Debug for XhttpApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XhttpApi")
            .field("url_match", &self.url_match.is_some())
            .field("url_skip", &self.url_skip.is_some())
            .finish()
    }
}

/// A compiled POSIX ERE (the regex type stays inside `ferrosip_api::posix`).
type Matcher = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

fn matcher(pattern: &str) -> Result<Matcher, String> {
    let re = ferrosip_api::posix::compile(pattern, false)?;
    Ok(Arc::new(move |s: &[u8]| re.is_match(s)))
}

impl XhttpApi {
    /// Kamailio's `xhttp_handler` filter: an HTTP request (`HTTP/1.x` or `HTTP/2` on the request
    /// line) whose URL passes `url_skip` and `url_match`. Anything else is not xhttp's (Kamailio
    /// then drops it).
    pub fn accepts(&self, msg: &Msg) -> bool {
        let Some(rl) = msg.request_line() else {
            return false;
        };
        if !matches!(rl.proto, Version::Http | Version::Http2) {
            return false;
        }
        // Kamailio matches the URL as a C string: it ends at a NUL byte.
        let url = rl.uri.of(msg.buf());
        let url = url.split(|b| *b == 0).next().unwrap_or_default();
        if self.url_skip.as_ref().is_some_and(|m| m(url)) {
            return false;
        }
        self.url_match.as_ref().is_none_or(|m| m(url))
    }

    /// The message the event route runs on: the request line, then Kamailio's faked Via
    /// (`Via: SIP/2.0/<PROTO> <source ip>:<source port>`, the IPv6 address in brackets), then the
    /// rest of the request. `None` when the request has a Via already (Kamailio then runs the
    /// route on it unchanged).
    pub fn sip_request(msg: &Msg, src: SocketAddr, proto: Proto) -> Option<Vec<u8>> {
        if matches!(msg.header(HeaderKind::Via), Ok(Some(_))) {
            return None;
        }
        let first = msg.first_line_span();
        let buf = msg.buf();
        let (start, end) = (first.start as usize, first.end as usize);
        let via = fake_via(src, proto);
        let mut out = Vec::with_capacity(buf.len() + via.len());
        out.extend_from_slice(buf.get(start..end)?);
        out.extend_from_slice(via.as_bytes());
        out.extend_from_slice(buf.get(end..)?);
        Some(out)
    }
}

/// Sends an HTTP reply to the request in `ctx` (Kamailio's xhttp `reply` API, used by
/// `xhttp_reply` and jsonrpcs' `jsonrpc_dispatch`): a `Content-Type` header when `ctype` is not
/// empty, the body when not empty, then sl's stateless reply through `sl`. Errors are for the log.
pub fn reply_with(
    sl: &SlReply,
    ctx: &mut Ctx<'_>,
    code: u16,
    reason: &[u8],
    ctype: &[u8],
    body: &[u8],
) -> Result<(), String> {
    if !ctype.is_empty() {
        let mut h = Vec::with_capacity(ctype.len() + 16);
        h.extend_from_slice(b"Content-Type: ");
        h.extend_from_slice(ctype);
        h.extend_from_slice(b"\r\n");
        reply_lumps::add_header(ctx, &h);
    }
    if !body.is_empty() && !reply_lumps::set_body(ctx, body) {
        return Err("Error while adding reply lump".into());
    }
    if sl.reply(ctx, code, reason, &[]) < 0 {
        return Err("Error while sending reply".into());
    }
    Ok(())
}

/// The export table.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("xhttp");
    // sl's handle, bound at init (functions are built before init).
    let sl: Arc<OnceLock<SlReply>> = Arc::new(OnceLock::new());
    let sl_reply = Arc::clone(&sl);
    m.params = vec![
        ModParam::new(
            "url_match",
            ModParamType::Str,
            "POSIX ERE: only URLs that match run event_route[xhttp:request] (default: all)",
        ),
        ModParam::new(
            "url_skip",
            ModParamType::Str,
            "POSIX ERE: URLs that match do not run the event route (checked before url_match)",
        ),
        ModParam {
            implemented: false,
            ..ModParam::new(
                "event_callback",
                ModParamType::Str,
                "KEMI function run instead of the event route: no KEMI",
            )
        },
    ];
    m.functions = vec![FnExport::new(
        "xhttp_reply",
        &[K::IntOrVar, K::Spve, K::Spve, K::Spve],
        // Kamailio: REQUEST_ROUTE, which its event routes include.
        RouteMask::REQUEST,
        "send an HTTP reply (code, reason, content type, body) on the request's connection",
    )
    .with(move |ctx: &mut Ctx<'_>, a: &[ferrosip_api::Arg]| {
        let sl = sl_reply.get().cloned().unwrap_or_default();
        Ok(RetCode(xhttp_reply(&sl, ctx, a)))
    })];
    m.pvs = vec![PvExport {
        name: "hu",
        doc: "URL of the HTTP request (its request-line URI)",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _n: &PvName| {
            Ok(match ctx.msg.request_line() {
                Some(rl) => Value::Str(rl.uri.of(ctx.msg.buf()).to_vec()),
                None => Value::Null,
            })
        }),
        set: None,
    }];
    m.transforms = vec![TransformExport {
        class: "url",
        doc: "{url.path}: the URL before `?`; {url.querystring}: after it (empty without `?`)",
        parse: Arc::new(|text: &str, _reg: &ferrosip_api::Registry| {
            let part = match text.trim().to_ascii_lowercase().as_str() {
                "path" => UrlPart::Path,
                "querystring" => UrlPart::Query,
                other => return Err(format!("unknown url transformation `{other}`")),
            };
            Ok(Arc::new(move |_ctx: &mut Ctx<'_>, v: Value| {
                let s = match v {
                    Value::Null => {
                        return Err(Error::Runtime("url transformation applied to $null".into()))
                    }
                    other => other.into_bytes(),
                };
                Ok(Value::Str(url_part(&s, part).to_vec()))
            }))
        }),
    }];
    m.event_routes = vec![EventRouteExport {
        name: EVENT_ROUTE,
        doc: "an HTTP request received on a SIP socket (the message has a faked Via)",
    }];
    m.init = Some(Arc::new(move |ictx: &mut InitCtx<'_>| {
        let _ = sl.set(SlReply::bind(ictx, "xhttp")?);
        let api = Arc::new(init(ictx)?);
        ictx.provide(api);
        Ok(())
    }));
    m
}

// ---- internals ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UrlPart {
    Path,
    Query,
}

/// Kamailio's `{url.path}` / `{url.querystring}`: split at the first `?`.
fn url_part(url: &[u8], part: UrlPart) -> &[u8] {
    let q = url.iter().position(|b| *b == b'?');
    match (part, q) {
        (UrlPart::Path, Some(i)) => url.get(..i).unwrap_or_default(),
        (UrlPart::Path, None) => url,
        (UrlPart::Query, Some(i)) => url.get(i + 1..).unwrap_or_default(),
        (UrlPart::Query, None) => &[],
    }
}

fn init(ictx: &mut InitCtx<'_>) -> Result<XhttpApi, Error> {
    let re = |name: &str| -> Result<Option<Matcher>, Error> {
        match ictx.modparam(name) {
            Some(ModValue::Str(s)) => matcher(s)
                .map(Some)
                .map_err(|e| Error::Config(format!("xhttp {name}: bad re {s}: {e}"))),
            _ => Ok(None),
        }
    };
    Ok(XhttpApi {
        url_match: re("url_match")?,
        url_skip: re("url_skip")?,
    })
}

/// `Via: SIP/2.0/TCP 10.0.0.1:5060\r\n` for the source address (Kamailio's `via_builder` with the
/// source as host and port and no branch).
fn fake_via(src: SocketAddr, proto: Proto) -> String {
    let p = match proto {
        Proto::Udp => "UDP",
        Proto::Tcp => "TCP",
        Proto::Tls => "TLS",
        Proto::Sctp => "SCTP",
        Proto::Ws => "WS",
        Proto::Wss => "WSS",
    };
    match src {
        SocketAddr::V4(a) => format!("Via: SIP/2.0/{p} {}:{}\r\n", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("Via: SIP/2.0/{p} [{}]:{}\r\n", a.ip(), a.port()),
    }
}

/// `xhttp_reply(code, reason, ctype, body)`: 1 when sent, -1 otherwise (with Kamailio's log lines).
fn xhttp_reply(sl: &SlReply, ctx: &mut Ctx<'_>, a: &[ferrosip_api::Arg]) -> i64 {
    let Some(code) = a.first().and_then(|x| x.int(ctx).ok()) else {
        ctx.log_error("no reply code value");
        return -1;
    };
    let code = match u16::try_from(code) {
        Ok(c) if (100..=700).contains(&c) => c,
        _ => {
            ctx.log_error("invalid code parameter");
            return -1;
        }
    };
    let mut arg = |i: usize| a.get(i).map(|x| x.bytes(ctx)).unwrap_or_default();
    let (reason, ctype, body) = (arg(1), arg(2), arg(3));
    if reason.is_empty() {
        ctx.log_error("invalid reason parameter");
        return -1;
    }
    match reply_with(sl, ctx, code, &reason, &ctype, &body) {
        Ok(()) => 1,
        Err(e) => {
            ctx.log_error(&e);
            -1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_api::{Recorder, RecvInfo, RouteType, WorkerState};

    fn api(m: Option<&str>, s: Option<&str>) -> XhttpApi {
        let c = |p: Option<&str>| p.map(|p| matcher(p).expect("re"));
        XhttpApi {
            url_match: c(m),
            url_skip: c(s),
        }
    }

    #[test]
    fn accepts_http_requests_by_url() {
        // (request line, url_match, url_skip, accepted)
        let cases: &[(&str, Option<&str>, Option<&str>, bool)] = &[
            ("GET /RPC HTTP/1.1", None, None, true),
            ("POST /x HTTP/1.0", None, None, true),
            ("GET /x HTTP/2", None, None, true),
            ("OPTIONS sip:a@b SIP/2.0", None, None, false),
            ("GET /x FOO/1.0", None, None, false),
            ("GET /sip/a HTTP/1.1", Some("^/sip/"), None, true),
            ("GET /other HTTP/1.1", Some("^/sip/"), None, false),
            ("GET /RPC2 HTTP/1.1", None, Some("^/RPC2"), false),
            ("GET /RPC HTTP/1.1", None, Some("^/RPC2"), true),
            (
                "GET /sip/RPC2 HTTP/1.1",
                Some("^/sip/"),
                Some("RPC2"),
                false,
            ),
        ];
        for (line, m, s, want) in cases {
            let text = format!("{line}\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
            let msg = Msg::parse(text.into_bytes()).expect("parses");
            assert_eq!(api(*m, *s).accepts(&msg), *want, "{line} {m:?} {s:?}");
        }
    }

    #[test]
    fn faked_via_after_the_request_line() {
        let req = "\r\nGET /a HTTP/1.1\r\nHost: h\r\n\r\n";
        let msg = Msg::parse(req.as_bytes().to_vec()).expect("parses");
        let cases: &[(&str, Proto, &str)] = &[
            (
                "127.0.0.1:4000",
                Proto::Tcp,
                "GET /a HTTP/1.1\r\nVia: SIP/2.0/TCP 127.0.0.1:4000\r\nHost: h\r\n\r\n",
            ),
            (
                "[::1]:5",
                Proto::Udp,
                "GET /a HTTP/1.1\r\nVia: SIP/2.0/UDP [::1]:5\r\nHost: h\r\n\r\n",
            ),
        ];
        for (src, proto, want) in cases {
            let src: SocketAddr = src.parse().expect("addr");
            let got = XhttpApi::sip_request(&msg, src, *proto).expect("faked");
            assert_eq!(String::from_utf8_lossy(&got), *want);
            let parsed = Msg::parse(got).expect("faked parses");
            assert!(parsed.via1().is_ok());
        }
        let with_via =
            Msg::parse(b"GET /a HTTP/1.1\r\nVia: SIP/2.0/TCP 1.2.3.4\r\nHost: h\r\n\r\n".to_vec())
                .expect("parses");
        assert!(
            XhttpApi::sip_request(&with_via, "1.1.1.1:1".parse().expect("a"), Proto::Tcp).is_none()
        );
    }

    /// Truncated and byte-mangled HTTP requests through the receive-path helpers (filter, faked
    /// Via, Sia renaming, parsing the result): no panic.
    #[test]
    fn hostile_requests_never_panic() {
        let base =
            b"POST /RPC?a=b HTTP/1.1\r\nHost: h\r\nVia: x\r\nContent-Length: 5\r\n\r\n{\"a\"}";
        let x = api(Some("^/R"), Some("^/RPC2"));
        let src: SocketAddr = "[::1]:9".parse().expect("addr");
        let mut inputs: Vec<Vec<u8>> = (0..base.len()).map(|n| base[..n].to_vec()).collect();
        for (i, b) in [0u8, b'\r', b'\n', b' ', b':', 0xff].iter().enumerate() {
            for at in (i..base.len()).step_by(5) {
                let mut v = base.to_vec();
                v[at] = *b;
                inputs.push(v);
            }
        }
        for input in inputs {
            let Ok(msg) = Msg::parse(input.clone()) else {
                continue;
            };
            let _ = x.accepts(&msg);
            let without_via: Vec<u8> = String::from_utf8_lossy(&input)
                .replace("Via: x\r\n", "")
                .into_bytes();
            for m in [Some(msg), Msg::parse(without_via).ok()]
                .into_iter()
                .flatten()
            {
                if let Some(b) = XhttpApi::sip_request(&m, src, Proto::Tcp) {
                    let mut reply = b.clone();
                    crate::sl::http::rename_vias(&m, &mut reply);
                    if let Ok(faked) = Msg::parse(b) {
                        let _ = faked.via1();
                    }
                }
            }
        }
    }

    #[test]
    fn url_parts() {
        let cases: &[(&str, &str, &str)] = &[
            ("/a/b?x=1&y", "/a/b", "x=1&y"),
            ("/a", "/a", ""),
            ("/a?", "/a", ""),
            ("?q", "", "q"),
        ];
        for (url, path, query) in cases {
            assert_eq!(url_part(url.as_bytes(), UrlPart::Path), path.as_bytes());
            assert_eq!(url_part(url.as_bytes(), UrlPart::Query), query.as_bytes());
        }
    }

    fn run_reply(req: &str, code: u16, ctype: &str, body: &str) -> (Result<(), String>, Recorder) {
        let mut msg = Msg::parse(req.as_bytes().to_vec()).expect("parses");
        let mut ws = WorkerState::default();
        let mut rec = Recorder {
            core: Some(ferrosip_api::CoreParams {
                server_header: "Server: T".into(),
                ..ferrosip_api::CoreParams::default()
            }),
            ..Recorder::default()
        };
        let rcv = RecvInfo {
            src: "127.0.0.1:4000".parse().expect("a"),
            dst: "127.0.0.1:5060".parse().expect("a"),
            proto: Proto::Tcp,
            socket: 0,
        };
        let r = {
            let mut ctx =
                Ctx::new(&mut msg, RouteType::Event, rcv, &mut ws, &mut rec).expect("ctx");
            reply_with(
                &SlReply::default(),
                &mut ctx,
                code,
                b"OK",
                ctype.as_bytes(),
                body.as_bytes(),
            )
        };
        (r, rec)
    }

    #[test]
    fn reply_bytes_are_kamailios() {
        let req = "GET /foo HTTP/1.1\r\nVia: SIP/2.0/TCP 127.0.0.1:4000\r\nHost: h\r\nUser-Agent: c\r\n\r\n";
        // (code, ctype, body, reply)
        let cases: &[(u16, &str, &str, &str)] = &[
            (
                200,
                "text/html",
                "<b>x</b>",
                "HTTP/1.1 200 OK\r\nSia: SIP/2.0/TCP 127.0.0.1:4000\r\nContent-Type: text/html\r\nServer: T\r\nContent-Length: 8\r\n\r\n<b>x</b>",
            ),
            (
                404,
                "",
                "",
                "HTTP/1.1 404 OK\r\nSia: SIP/2.0/TCP 127.0.0.1:4000\r\nServer: T\r\nContent-Length: 0\r\n\r\n",
            ),
        ];
        for (code, ctype, body, want) in cases {
            let (r, rec) = run_reply(req, *code, ctype, body);
            assert_eq!(r, Ok(()));
            let (dst, bytes) = rec.sent.first().expect("sent");
            assert_eq!(String::from_utf8_lossy(bytes), *want);
            assert_eq!(dst.addr, "127.0.0.1:4000".parse().expect("a"));
            assert_eq!(dst.proto, Proto::Tcp);
        }
    }
}

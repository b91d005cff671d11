//! Kamailio's `sanity` module: `sanity_check([msg_checks[, uri_checks]])` with every check bit of
//! Kamailio 6.0, the replies it sends (Kamailio's codes and reasons), `sanity_reply()` for the
//! `noreply` mode, and the modparams `default_checks`, `uri_checks`, `proxy_require`, `autodrop`
//! and `noreply`.
//!
//! Checks run in Kamailio's order: 1 R-URI SIP version (505), 2 R-URI scheme (400 "Bad Request
//! URI"), 4 required headers (From/To/Call-ID/CSeq present, none of them twice; no reply), 16384
//! top Via parses (no reply), 8 and 16 (Via version and transport: always pass, as in Kamailio),
//! 32 CSeq method equals the request method (400), 64 CSeq number is a 32-bit unsigned (400),
//! 128 Content-Length equals the body length (400), 256 Expires is a 32-bit unsigned (400),
//! 512 every Proxy-Require token is in `proxy_require` (420 with `Unsupported:`), 1024 URIs of
//! the `uri_checks` mask parse (1 R-URI, 2 From, 4 To, 8 first Contact; 400), 2048 digest
//! credentials are complete (a non-digest Authorization fails, without reply), 8192 the same but
//! non-digest credentials pass, 4096 From/To carry at most one tag (400). Valid masks are
//! 1..=32767 and 1..=15 (outside: -1 with an error log, as Kamailio).
//!
//! Result: 1 when every selected check passes; on a failure 0 (the script stops) with `autodrop`
//! 1 (default), -1 with `autodrop` 0. Replies are never sent to replies or ACKs; checks that find
//! an unparsable transaction header set Kamailio's `FL_MSG_NOREPLY` (kept per message here), after
//! which neither `sanity_check` nor `sanity_reply` answers the message.
//!
//! For a reply (allowed in onreply_route) Kamailio reads the status line through the request-line
//! fields: check 1 looks at the reason phrase, 32 compares the CSeq method with the `SIP/2.0`
//! token, 2 and the R-URI of 1024 fail. Kept as is (the differential test runs them on replies in
//! Kamailio's reply_route): `sanity_check()` with the default checks fails on every reply.
//! Replies go out through sl's API ([`crate::sl::SlReply`], Kamailio's `zreply`), so sl counts
//! them and absorbs the ACKs to them; without sl loaded the module is refused at load, as
//! Kamailio's ("cannot bind to SL API").

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::headers::auth::{parse_auth, unquote};
use ferrosip_sipmsg::headers::scalar::parse_cseq_syntax;
use ferrosip_sipmsg::{HeaderKind, Span, Uri};

use crate::sl::SlReply;

/// `SANITY_RURI_SIP_VERSION`.
pub const RURI_SIP_VERSION: i64 = 1;
/// `SANITY_RURI_SCHEME`.
pub const RURI_SCHEME: i64 = 1 << 1;
/// `SANITY_REQUIRED_HEADERS`.
pub const REQUIRED_HEADERS: i64 = 1 << 2;
/// `SANITY_VIA_SIP_VERSION` (always passes).
pub const VIA_SIP_VERSION: i64 = 1 << 3;
/// `SANITY_VIA_PROTOCOL` (always passes).
pub const VIA_PROTOCOL: i64 = 1 << 4;
/// `SANITY_CSEQ_METHOD`.
pub const CSEQ_METHOD: i64 = 1 << 5;
/// `SANITY_CSEQ_VALUE`.
pub const CSEQ_VALUE: i64 = 1 << 6;
/// `SANITY_CL`.
pub const CL: i64 = 1 << 7;
/// `SANITY_EXPIRES_VALUE`.
pub const EXPIRES_VALUE: i64 = 1 << 8;
/// `SANITY_PROXY_REQUIRE`.
pub const PROXY_REQUIRE: i64 = 1 << 9;
/// `SANITY_PARSE_URIS`.
pub const PARSE_URIS: i64 = 1 << 10;
/// `SANITY_CHECK_DIGEST`.
pub const CHECK_DIGEST: i64 = 1 << 11;
/// `SANITY_CHECK_DUPTAGS`.
pub const CHECK_DUPTAGS: i64 = 1 << 12;
/// `SANITY_CHECK_AUTHORIZATION`.
pub const CHECK_AUTHORIZATION: i64 = 1 << 13;
/// `SANITY_VIA1_HEADER`.
pub const VIA1_HEADER: i64 = 1 << 14;
/// Masks must be below this (`SANITY_MAX_CHECKS`).
pub const MAX_CHECKS: i64 = 1 << 15;
/// Default of `default_checks`: 3047.
pub const DEFAULT_CHECKS: i64 = RURI_SIP_VERSION
    | RURI_SCHEME
    | REQUIRED_HEADERS
    | CSEQ_METHOD
    | CSEQ_VALUE
    | CL
    | EXPIRES_VALUE
    | PROXY_REQUIRE
    | CHECK_DIGEST;
/// URI mask bits.
pub const URI_RURI: i64 = 1;
/// From URI.
pub const URI_FROM: i64 = 2;
/// To URI.
pub const URI_TO: i64 = 4;
/// First Contact URI.
pub const URI_CONTACT: i64 = 8;
/// Masks must be below this (`SANITY_URI_MAX_CHECKS`).
pub const URI_MAX_CHECKS: i64 = 16;
/// Default of `uri_checks`: 7.
pub const DEFAULT_URI_CHECKS: i64 = URI_RURI | URI_FROM | URI_TO;

/// sanity's frozen modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SanityConfig {
    /// `default_checks`.
    pub default_checks: i64,
    /// `uri_checks`.
    pub uri_checks: i64,
    /// `proxy_require`, split at commas and trimmed.
    pub proxy_require: Vec<Vec<u8>>,
    /// `autodrop` (Kamailio's `_sanity_drop`).
    pub autodrop: i64,
    /// `noreply`.
    pub noreply: i64,
    /// sl's reply API (bound at init).
    pub sl: SlReply,
}

impl Default for SanityConfig {
    fn default() -> SanityConfig {
        SanityConfig {
            default_checks: DEFAULT_CHECKS,
            uri_checks: DEFAULT_URI_CHECKS,
            proxy_require: Vec::new(),
            autodrop: 1,
            noreply: 0,
            sl: SlReply::default(),
        }
    }
}

/// The `sanity` export table.
pub fn exports() -> ModuleExports {
    let cfg: Arc<OnceLock<SanityConfig>> = Arc::new(OnceLock::new());
    let routes = RouteMask::REQUEST.or(RouteMask::ONREPLY);
    let mut m = ModuleExports::new("sanity");
    let check = |params: &[K], doc: &'static str| {
        let c = Arc::clone(&cfg);
        FnExport::new("sanity_check", params, routes, doc).with(move |ctx, a| {
            let conf = config(&c);
            w_sanity_check(ctx, a, conf)
        })
    };
    let c = Arc::clone(&cfg);
    m.functions = vec![
        check(&[], "run the default_checks (uri_checks for URIs)"),
        check(&[K::IntOrVar], "run the checks of the mask"),
        check(
            &[K::IntOrVar, K::IntOrVar],
            "run the checks of the mask, URIs of the second mask",
        ),
        FnExport::new(
            "sanity_reply",
            &[],
            routes,
            "noreply mode: send the reply the last failed check chose (else 500)",
        )
        .with(move |ctx, _| Ok(RetCode(sanity_reply(ctx, config(&c))))),
    ];
    let uint = |v: &ModValue| match v {
        ModValue::Int(_) => Ok(()),
        ModValue::Str(_) => Err("needs an integer".to_string()),
    };
    m.params = vec![
        ModParam::new(
            "default_checks",
            ModParamType::Int,
            "checks run by sanity_check() without parameters (default 3047)",
        )
        .check(uint),
        ModParam::new(
            "uri_checks",
            ModParamType::Int,
            "URIs checked by the 1024 check (default 7: R-URI, From, To)",
        )
        .check(uint),
        ModParam::new(
            "proxy_require",
            ModParamType::Str,
            "comma-separated extensions accepted in Proxy-Require (default none)",
        ),
        ModParam::new(
            "autodrop",
            ModParamType::Int,
            "1 (default): a failed check stops the script; 0: sanity_check returns -1",
        ),
        ModParam::new(
            "noreply",
            ModParamType::Int,
            "1: never reply; sanity_reply() sends the chosen reply later",
        ),
    ];
    let c = Arc::clone(&cfg);
    m.init = Some(Arc::new(move |ictx| {
        let mut conf = SanityConfig {
            sl: SlReply::bind(ictx, "sanity")?,
            ..SanityConfig::default()
        };
        for (n, v) in ictx.modparams() {
            match (*n, v) {
                ("default_checks", ModValue::Int(i)) => conf.default_checks = *i,
                ("uri_checks", ModValue::Int(i)) => conf.uri_checks = *i,
                ("proxy_require", ModValue::Str(s)) => {
                    conf.proxy_require = split_list(s.as_bytes())
                }
                ("autodrop", ModValue::Int(i)) => conf.autodrop = *i,
                ("noreply", ModValue::Int(i)) => conf.noreply = *i,
                _ => {}
            }
        }
        c.set(conf)
            .map_err(|_| Error::Init("sanity initialised twice".into()))
    }));
    m
}

/// Outcome of one check, as Kamailio's `SANITY_CHECK_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Passed (1).
    Passed,
    /// Failed (0).
    Failed,
}

/// Runs the checks of `msg_checks` with `uri_checks` on the message (Kamailio's `sanity_check()`
/// C function): [`Check::Failed`] at the first failing check, after its reply was sent (or stored
/// in noreply mode).
pub fn sanity_check(
    ctx: &mut Ctx<'_>,
    conf: &SanityConfig,
    msg_checks: i64,
    uri_checks: i64,
) -> Check {
    if conf.noreply != 0 {
        state(ctx).retain(|(n, _)| n != CODE && n != REASON);
    }
    type Step = fn(&mut Ctx<'_>, &SanityConfig, i64) -> Check;
    let steps: [(i64, Step); 15] = [
        (RURI_SIP_VERSION, |c, f, _| ruri_version(c, f)),
        (RURI_SCHEME, |c, f, _| ruri_scheme(c, f)),
        (REQUIRED_HEADERS, |c, f, _| required_headers(c, f)),
        (VIA1_HEADER, |c, _, _| via1(c)),
        (VIA_SIP_VERSION, |_, _, _| Check::Passed),
        (VIA_PROTOCOL, |_, _, _| Check::Passed),
        (CSEQ_METHOD, |c, f, _| cseq(c, f, true)),
        (CSEQ_VALUE, |c, f, _| cseq(c, f, false)),
        (CL, |c, f, _| content_length(c, f)),
        (EXPIRES_VALUE, |c, f, _| expires(c, f)),
        (PROXY_REQUIRE, |c, f, _| proxy_require(c, f)),
        (PARSE_URIS, parse_uris),
        (CHECK_DIGEST, |c, f, _| digest(c, f, false)),
        (CHECK_AUTHORIZATION, |c, f, _| digest(c, f, true)),
        (CHECK_DUPTAGS, |c, f, _| duptags(c, f)),
    ];
    for (bit, step) in steps {
        if msg_checks & bit != 0 && step(ctx, conf, uri_checks) == Check::Failed {
            return Check::Failed;
        }
    }
    Check::Passed
}

/// `sanity_reply()`: in noreply mode, sends the reply the failed check chose for this message, or
/// `500 Server Sanity Failure` when none was chosen. Always 1 except when sending fails (-1);
/// without noreply, for replies, ACKs and `FL_MSG_NOREPLY` messages it does nothing.
pub fn sanity_reply(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> i64 {
    if !ctx.msg.is_request() || is_ack(ctx) || conf.noreply == 0 || noreply_flag(ctx) {
        return 1;
    }
    let rec = state(ctx).clone();
    let code = rec
        .iter()
        .find(|(n, _)| n == CODE)
        .map(|(_, v)| v.to_int())
        .unwrap_or(0);
    let reason = rec
        .iter()
        .find(|(n, _)| n == REASON)
        .map(|(_, v)| v.to_bytes().into_owned())
        .unwrap_or_default();
    let (code, reason) = match u16::try_from(code) {
        Ok(c) if c > 0 && !reason.is_empty() => (c, reason),
        _ => {
            ctx.log(
                ferrosip_api::L_INFO,
                "no sanity reply info set - sending 500",
            );
            (500, b"Server Sanity Failure".to_vec())
        }
    };
    if conf.sl.reply(ctx, code, &reason, &[]) < 0 {
        return -1;
    }
    1
}

/// Splits a `proxy_require` value: comma-separated, each token trimmed, empty list for blanks.
pub fn split_list(s: &[u8]) -> Vec<Vec<u8>> {
    if s.trim_ascii().is_empty() {
        return Vec::new();
    }
    s.split(|b| *b == b',')
        .map(|t| t.trim_ascii().to_vec())
        .collect()
}

// ---- internals ----

const STATE: &[u8] = b"\0sanity";
const NOREPLY: &[u8] = b"noreply";
const CODE: &[u8] = b"code";
const REASON: &[u8] = b"reason";

fn config(c: &OnceLock<SanityConfig>) -> &SanityConfig {
    static DEFAULT: OnceLock<SanityConfig> = OnceLock::new();
    c.get()
        .unwrap_or_else(|| DEFAULT.get_or_init(SanityConfig::default))
}

fn w_sanity_check(ctx: &mut Ctx<'_>, a: &[Arg], conf: &SanityConfig) -> Result<RetCode, Error> {
    let msg_checks = match a.first() {
        Some(x) => x.int(ctx)?,
        None => conf.default_checks,
    };
    let uri_checks = match a.get(1) {
        Some(x) => x.int(ctx)?,
        None => conf.uri_checks,
    };
    if !(1..MAX_CHECKS).contains(&msg_checks) {
        ctx.log_error(&format!(
            "input parameter ({msg_checks}) outside of valid range <1-{MAX_CHECKS})"
        ));
        return Ok(RetCode::FALSE);
    }
    if !(1..URI_MAX_CHECKS).contains(&uri_checks) {
        ctx.log_error(&format!(
            "second input parameter ({uri_checks}) outside of valid range <1-{URI_MAX_CHECKS}"
        ));
        return Ok(RetCode::FALSE);
    }
    Ok(match sanity_check(ctx, conf, msg_checks, uri_checks) {
        Check::Passed => RetCode::TRUE,
        Check::Failed if conf.autodrop != 0 => RetCode::STOP,
        Check::Failed => RetCode::FALSE,
    })
}

/// The per-message record (hidden XAVP: no config can spell a name starting with NUL).
fn state<'c>(ctx: &'c mut Ctx<'_>) -> &'c mut Vec<(Vec<u8>, Value)> {
    let list = ctx.state.xavps.entry(STATE.to_vec()).or_default();
    if list.is_empty() {
        list.push(Vec::new());
    }
    // Non-empty: pushed just above when it was empty.
    &mut list[0]
}

fn noreply_flag(ctx: &Ctx<'_>) -> bool {
    ctx.state
        .xavps
        .get(STATE)
        .and_then(|l| l.first())
        .is_some_and(|r| r.iter().any(|(n, _)| n == NOREPLY))
}

/// Kamailio's `FL_MSG_NOREPLY` and a failed check.
fn fail_silently(ctx: &mut Ctx<'_>) -> Check {
    if !noreply_flag(ctx) {
        state(ctx).push((NOREPLY.to_vec(), Value::Int(1)));
    }
    Check::Failed
}

fn is_ack(ctx: &Ctx<'_>) -> bool {
    ctx.msg.method() == Some(ferrosip_sipmsg::Method::Ack)
}

/// Kamailio's `sanity_reply()` helper: sends (or, in noreply mode, stores) the reply, then the
/// check fails.
fn reply(ctx: &mut Ctx<'_>, conf: &SanityConfig, code: u16, reason: &str) -> Check {
    if !ctx.msg.is_request() || is_ack(ctx) {
        return Check::Failed;
    }
    if conf.noreply != 0 {
        let r = state(ctx);
        r.retain(|(n, _)| n != CODE && n != REASON);
        r.push((CODE.to_vec(), Value::Int(i64::from(code))));
        r.push((REASON.to_vec(), Value::str(reason)));
    } else if !noreply_flag(ctx) && conf.sl.reply(ctx, code, reason.as_bytes(), &[]) < 0 {
        ctx.log(
            ferrosip_api::L_WARN,
            &format!("failed to send {code} via sl reply"),
        );
    }
    Check::Failed
}

fn ruri_version(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    // For a reply the request `version` field overlays the reason phrase.
    let span = match (ctx.msg.request_line(), ctx.msg.status_line()) {
        (Some(rl), _) => rl.version,
        (None, Some(sl)) => sl.reason,
        (None, None) => return Check::Passed,
    };
    let v = span.of(ctx.msg.buf());
    if v.is_empty() {
        return Check::Passed;
    }
    let Some(slash) = v.iter().position(|b| *b == b'/') else {
        return Check::Failed;
    };
    if v.get(slash + 1..) != Some(b"2.0".as_slice()) {
        return reply(ctx, conf, 505, "Version Not Supported (R-URI)");
    }
    Check::Passed
}

fn ruri_scheme(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    // A reply has no R-URI: Kamailio's parse fails (and no reply is sent to a reply).
    match ctx.msg.ruri() {
        Ok(Some(_)) => Check::Passed,
        _ => reply(ctx, conf, 400, "Bad Request URI"),
    }
}

fn required_headers(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    let kinds = [
        HeaderKind::From,
        HeaderKind::To,
        HeaderKind::CallId,
        HeaderKind::CSeq,
    ];
    let present = match ctx.msg.headers() {
        Ok(h) => kinds.iter().all(|k| h.iter().any(|x| x.kind == *k)),
        Err(_) => false,
    };
    if !present {
        return fail_silently(ctx);
    }
    if ctx.msg.parse_all_headers().is_err() {
        return reply(ctx, conf, 400, "Bad Headers");
    }
    let dup = match ctx.msg.headers() {
        Ok(h) => kinds
            .iter()
            .any(|k| h.iter().filter(|x| x.kind == *k).count() > 1),
        Err(_) => true,
    };
    // Kamailio fails duplicates without a reply (and without FL_MSG_NOREPLY).
    if dup {
        Check::Failed
    } else {
        Check::Passed
    }
}

fn via1(ctx: &mut Ctx<'_>) -> Check {
    match ctx.msg.via1() {
        Ok(v) if !v.host.is_empty() => Check::Passed,
        _ => fail_silently(ctx),
    }
}

/// 32 (method) and 64 (number) on the first CSeq.
fn cseq(ctx: &mut Ctx<'_>, conf: &SanityConfig, method: bool) -> Check {
    let h = match ctx.msg.header(HeaderKind::CSeq) {
        Ok(Some(h)) => *h,
        _ => return fail_silently(ctx),
    };
    let buf = ctx.msg.buf();
    let Ok((num, meth)) = parse_cseq_syntax(buf, h.value) else {
        return fail_silently(ctx);
    };
    if method {
        // For a reply the request `method` field overlays the version token.
        let first = match (ctx.msg.request_line(), ctx.msg.status_line()) {
            (Some(rl), _) => rl.method_span,
            (None, Some(sl)) => sl.version,
            (None, None) => return Check::Passed,
        };
        if meth.is_empty() {
            return reply(ctx, conf, 400, "Missing method in CSeq header");
        }
        if meth.of(buf) != first.of(buf) {
            return reply(ctx, conf, 400, "CSeq method does not match request method");
        }
        return Check::Passed;
    }
    if num.is_empty() {
        return reply(ctx, conf, 400, "Missing number in CSeq header");
    }
    if !valid_uint(num.of(buf)) {
        return reply(ctx, conf, 400, "CSeq number is illegal");
    }
    Check::Passed
}

/// Kamailio's `str2valid_uint`: at most 10 digits, only digits, not above 4294967296 (sic: the
/// C code compares digit by digit with "4294967296", so that value itself passes).
fn valid_uint(s: &[u8]) -> bool {
    if s.len() > 10 || !s.iter().all(u8::is_ascii_digit) {
        return false;
    }
    s.len() < 10 || s <= b"4294967296".as_slice()
}

fn content_length(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    let cl = match ctx.msg.content_length() {
        Ok(cl) => cl,
        Err(_) => return reply(ctx, conf, 400, "Content-Length Failure"),
    };
    let Some(cl) = cl else {
        return Check::Passed;
    };
    if !ctx.msg.has_end_of_headers().unwrap_or(false) {
        return reply(ctx, conf, 400, "Content-Length Body Failure");
    }
    let body = ctx.msg.body_span().map(|s| s.len()).unwrap_or(0);
    if u64::try_from(body).ok() != Some(u64::from(cl.value)) {
        return reply(ctx, conf, 400, "Content-Length mis-match");
    }
    Check::Passed
}

fn expires(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    let h = match ctx.msg.header(HeaderKind::Expires) {
        Ok(Some(h)) => *h,
        Ok(None) => return Check::Passed,
        Err(_) => return reply(ctx, conf, 400, "Bad Expires Header"),
    };
    let v = ctx.msg.slice(h.value).trim_ascii();
    if v.is_empty() {
        return reply(ctx, conf, 400, "Bad Expires Header");
    }
    // Kamailio's parser stops the number at the first blank after digits.
    let text = match v
        .iter()
        .position(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        Some(p)
            if v.len() <= 10 && v.get(..p).is_some_and(|d| d.iter().all(u8::is_ascii_digit)) =>
        {
            v.get(..p).unwrap_or_default()
        }
        _ => v,
    };
    if text.is_empty() {
        return reply(ctx, conf, 400, "Missing number in Expires header");
    }
    if !valid_uint(text) {
        return reply(ctx, conf, 400, "Expires value is illegal");
    }
    Check::Passed
}

fn proxy_require(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    let h = match ctx.msg.header(HeaderKind::ProxyRequire) {
        Ok(Some(h)) => *h,
        Ok(None) => return Check::Passed,
        Err(_) => return reply(ctx, conf, 400, "Bad Proxy Require Header"),
    };
    let tokens = split_list(ctx.msg.slice(h.value));
    if tokens.is_empty() {
        return reply(ctx, conf, 400, "Bad Proxy Require Header");
    }
    // Kamailio compares case-sensitively (its source has a FIXME about it); so do we.
    if let Some(t) = tokens.iter().find(|t| !conf.proxy_require.contains(t)) {
        let mut hdr = b"Unsupported: ".to_vec();
        hdr.extend_from_slice(t);
        hdr.extend_from_slice(b"\r\n");
        crate::sl::reply_lumps::add_header(ctx, &hdr);
        return reply(ctx, conf, 420, "Bad Proxy Require Extension");
    }
    Check::Passed
}

fn parse_uris(ctx: &mut Ctx<'_>, conf: &SanityConfig, checks: i64) -> Check {
    if checks & URI_RURI != 0 && !matches!(ctx.msg.ruri(), Ok(Some(_))) {
        return reply(ctx, conf, 400, "Bad Request URI");
    }
    for (bit, kind, reason) in [
        (URI_FROM, HeaderKind::From, "Invalid From Header"),
        (URI_TO, HeaderKind::To, "Invalid To Header"),
    ] {
        if checks & bit == 0 {
            continue;
        }
        let present = matches!(ctx.msg.header(kind), Ok(Some(h)) if !h.value.is_empty());
        let ok = if kind == HeaderKind::From {
            ctx.msg.from_uri().is_ok()
        } else {
            ctx.msg.to_uri().is_ok()
        };
        if !ok {
            if !present {
                return fail_silently(ctx);
            }
            return reply(ctx, conf, 400, reason);
        }
    }
    if checks & URI_CONTACT != 0 {
        let first = match ctx.msg.contacts() {
            Err(_) => return reply(ctx, conf, 400, "Bad Contact Header"),
            Ok(c) if c.star => None,
            Ok(c) => c.list.first().map(|x| x.addr.uri),
        };
        if let Some(span) = first {
            if Uri::parse(ctx.msg.buf(), span).is_err() {
                return reply(ctx, conf, 400, "Bad Contact URI");
            }
        }
    }
    Check::Passed
}

/// 2048 (`authorization` false: non-digest fails silently) and 8192 (non-digest passes).
fn digest(ctx: &mut Ctx<'_>, conf: &SanityConfig, authorization: bool) -> Check {
    if ctx.msg.parse_all_headers().is_err() {
        return reply(ctx, conf, 400, "Bad Headers");
    }
    let hdrs: Vec<(HeaderKind, Span)> = match ctx.msg.headers() {
        Ok(h) => {
            let auth = h
                .iter()
                .filter(|x| x.kind == HeaderKind::Authorization)
                .map(|x| (x.kind, x.value));
            let proxy = h
                .iter()
                .filter(|x| x.kind == HeaderKind::ProxyAuthorization)
                .map(|x| (x.kind, x.value));
            auth.chain(proxy).collect()
        }
        Err(_) => return reply(ctx, conf, 400, "Bad Headers"),
    };
    for (kind, value) in hdrs {
        let buf = ctx.msg.buf();
        let parsed = parse_auth(buf, value, kind);
        let a = match parsed {
            Ok(a) if !a.is_digest => {
                return if authorization {
                    Check::Passed
                } else {
                    Check::Failed
                };
            }
            Ok(a) => a,
            Err(ferrosip_sipmsg::Error::BadHeader {
                reason: "missing required digest parameter",
                ..
            }) => return reply(ctx, conf, 400, "Bad Auth Credentials"),
            Err(_) => return reply(ctx, conf, 400, "Bad Auth Header"),
        };
        let p = a.params;
        let qop = p.qop.map(|q| unquote(buf, q).of(buf).to_ascii_lowercase());
        if matches!(qop.as_deref(), Some(b"auth") | Some(b"auth-int"))
            && (p.cnonce.is_none() || p.nc.is_none())
        {
            return reply(ctx, conf, 400, "Bad Auth Credentials");
        }
        let empty = |s: Option<Span>| s.is_none_or(|s| unquote(buf, s).is_empty());
        if empty(p.username) {
            return reply(ctx, conf, 400, "Auth Empty User");
        }
        if empty(p.nonce) {
            return reply(ctx, conf, 400, "Auth Empty Nonce");
        }
        if empty(p.response) {
            return reply(ctx, conf, 400, "Auth Empty Response");
        }
    }
    Check::Passed
}

fn duptags(ctx: &mut Ctx<'_>, conf: &SanityConfig) -> Check {
    let (from, to) = match (ctx.msg.from(), ctx.msg.to()) {
        (Ok(f), Ok(t)) => (*f, *t),
        _ => return fail_silently(ctx),
    };
    let buf = ctx.msg.buf();
    let tags = |n: &ferrosip_sipmsg::NameAddr| {
        n.params
            .iter(buf)
            .filter(|p| p.name.eq_ignore_case(buf, b"tag"))
            .count()
    };
    if from.tag.is_some() && tags(&from) > 1 {
        return reply(ctx, conf, 400, "Many From Tag Params");
    }
    if to.tag.is_some() && tags(&to) > 1 {
        return reply(ctx, conf, 400, "Many To Tag Params");
    }
    Check::Passed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uint_and_lists() {
        let cases: &[(&str, bool)] = &[
            ("0", true),
            ("4294967295", true),
            ("4294967296", true),
            ("4294967297", false),
            ("12345678901", false),
            ("12a", false),
            ("", true),
        ];
        for (s, want) in cases {
            assert_eq!(valid_uint(s.as_bytes()), *want, "{s}");
        }
        assert_eq!(
            split_list(b" foo , bar,baz "),
            vec![b"foo".to_vec(), b"bar".to_vec(), b"baz".to_vec()]
        );
        assert!(split_list(b"  ").is_empty());
        assert_eq!(DEFAULT_CHECKS, 3047);
        assert_eq!(DEFAULT_URI_CHECKS, 7);
    }
}

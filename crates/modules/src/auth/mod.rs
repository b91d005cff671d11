//! `auth`: digest authentication without a database (Kamailio's auth module): nonces signed with
//! a secret and checked on the way back ([`nonce`]), challenges (`www_challenge`,
//! `proxy_challenge`, `auth_challenge`, `auth_get_www_authenticate`), checks against a password
//! held in a variable (`pv_www_authenticate`, `pv_proxy_authenticate`, `pv_auth_check`), and
//! `consume_credentials`/`has_credentials`/`auth_algorithm`. The credential variables (`$au`,
//! `$ar` …) belong to the pv module. [`AuthApi`] is Kamailio's `bind_auth_s` for `auth_db` and
//! friends, handed out through the registry.
//!
//! Challenges and error replies go out through sl's API ([`crate::sl::SlReply`], Kamailio's
//! `auth_send_reply`): sl's `send_reply` (stateful through tm when the request has a transaction)
//! or, with `force_stateless_reply`, its stateless reply; sl counts them. Without sl loaded the
//! module is refused at load, as Kamailio's ("cannot bind to SL API").
//!
//! Not here: SHA-512 family algorithms (refused when configured), AKA.

pub mod digest;
pub mod nonce;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType as T, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::headers::auth::{parse_auth, unquote, Auth};
use ferrosip_sipmsg::{HeaderKind, Method, Span, Uri};

use digest::{Alg, Qop, ResponseInput};
use nonce::{MsgParts, NonceCheck, Nonces};

use crate::sl::SlReply;

/// Kamailio's `auth_cfg_result_t`.
pub mod code {
    /// Auth user differs from the From/To user.
    pub const USER_MISMATCH: i64 = -8;
    /// Ephemeral username expired (auth_ephemeral only).
    pub const USERNAME_EXPIRED: i64 = -7;
    /// One-time nonce used again.
    pub const NONCE_REUSED: i64 = -6;
    /// No credentials for the realm.
    pub const NO_CREDENTIALS: i64 = -5;
    /// Stale nonce.
    pub const STALE_NONCE: i64 = -4;
    /// User not found (database modules).
    pub const USER_UNKNOWN: i64 = -3;
    /// Wrong password.
    pub const INVALID_PASSWORD: i64 = -2;
    /// Any other error.
    pub const ERROR: i64 = -1;
    /// Authenticated.
    pub const OK: i64 = 1;
}

/// Which header pair a function works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HfType {
    /// Authorization / WWW-Authenticate / 401.
    Www,
    /// Proxy-Authorization / Proxy-Authenticate / 407.
    Proxy,
}

impl HfType {
    fn cred_kind(self) -> HeaderKind {
        match self {
            HfType::Www => HeaderKind::Authorization,
            HfType::Proxy => HeaderKind::ProxyAuthorization,
        }
    }
}

/// Parsed credentials, owned (what `auth_db` gets from [`AuthApi::pre_auth`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `username` as sent.
    pub username: Vec<u8>,
    /// User part (before `@`).
    pub user: Vec<u8>,
    /// Domain part (after `@`, empty if none).
    pub domain: Vec<u8>,
    /// `realm`.
    pub realm: Vec<u8>,
    /// `nonce`.
    pub nonce: Vec<u8>,
    /// `uri`.
    pub uri: Vec<u8>,
    /// `response`.
    pub response: Vec<u8>,
    /// `algorithm` token, if sent.
    pub algorithm: Option<Vec<u8>>,
    /// `qop` token, if sent.
    pub qop: Option<Vec<u8>>,
    /// `nc`.
    pub nc: Vec<u8>,
    /// `cnonce`.
    pub cnonce: Vec<u8>,
    /// The nonce was ours but stale (a challenge should say `stale=true`).
    pub stale: bool,
    /// Where the header is, for `consume_credentials`.
    pub span: Option<Span>,
}

impl Credentials {
    fn qop(&self) -> Qop {
        match self.qop.as_deref() {
            Some(q) if q.eq_ignore_ascii_case(b"auth-int") => Qop::AuthInt,
            Some(q) if q.eq_ignore_ascii_case(b"auth") => Qop::Auth,
            _ => Qop::None,
        }
    }
}

/// Why [`AuthApi::pre_auth`] did not hand out credentials to check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PreAuth {
    /// ACK/CANCEL/PRACK: authenticated by default (1).
    Authenticated,
    /// Credentials to verify against the user's HA1.
    Check(Credentials),
    /// Final result code (negative, see [`code`]), with the credentials when there were some.
    Fail(i64, Option<Credentials>),
}

/// Frozen module settings.
#[derive(Debug)]
struct AuthConfig {
    nonces: Nonces,
    www_hdr: String,
    proxy_hdr: String,
    challenge_attr: Vec<u8>,
    realm_prefix: Vec<u8>,
    checks_reg: u32,
    checks_ood: u32,
    checks_ind: u32,
    add_authinfo_hdr: bool,
    use_domain: bool,
    nc_enabled: bool,
    /// `force_stateless_reply`: challenges go out with sl's stateless reply even when the request
    /// has a transaction (else sl's `send_reply`, stateful through tm then).
    force_stateless_reply: bool,
    /// sl's reply API (Kamailio's `_auth_slb`).
    sl: SlReply,
}

/// Module state: the frozen settings plus the run-time algorithm (`auth_algorithm()`).
#[derive(Debug, Default)]
pub struct AuthState {
    cfg: OnceLock<AuthConfig>,
    // 0 = not set (no algorithm param in challenges), 1 = MD5, 2 = SHA-256.
    algorithm: AtomicU8,
}

/// Kamailio's `auth_api_s` (`bind_auth_s`): what `auth_db` and similar modules call.
#[derive(Debug, Clone)]
pub struct AuthApi {
    state: Arc<AuthState>,
}

impl AuthApi {
    /// Finds and checks the credentials for `realm` (Kamailio's `pre_auth`): nonce validity,
    /// required fields, supported algorithm.
    pub fn pre_auth(&self, ctx: &mut Ctx<'_>, realm: &[u8], hf: HfType) -> PreAuth {
        match self.state.cfg() {
            Some(c) => pre_auth(c, ctx, realm, hf, true),
            None => PreAuth::Fail(code::ERROR, None),
        }
    }

    /// True when `cred.response` matches H(A1) `ha1` for `method` (Kamailio's `check_response`).
    pub fn check_response(
        &self,
        ctx: &Ctx<'_>,
        cred: &Credentials,
        method: &[u8],
        ha1: &str,
    ) -> bool {
        check_response(ctx, cred, method, ha1)
    }

    /// After a successful check: adds Authentication-Info when configured (Kamailio's `post_auth`).
    pub fn post_auth(&self, ctx: &mut Ctx<'_>, cred: &Credentials, ha1: &str) -> i64 {
        match self.state.cfg() {
            Some(c) => post_auth(c, ctx, cred, ha1),
            None => code::ERROR,
        }
    }

    /// Sends a 401/407 challenge (`flags` as `www_challenge`).
    pub fn challenge(&self, ctx: &mut Ctx<'_>, realm: &[u8], flags: i64, hf: HfType) -> i64 {
        challenge(&self.state, ctx, realm, flags, None, hf, true).0
    }

    /// The challenge header line (CRLF-terminated) for `realm`.
    pub fn challenge_hf(
        &self,
        ctx: &mut Ctx<'_>,
        realm: &[u8],
        stale: bool,
        qop: Qop,
        hf: HfType,
    ) -> Option<Vec<u8>> {
        let c = self.state.cfg()?;
        Some(challenge_hf(
            c,
            ctx,
            stale,
            realm,
            qop,
            self.state.alg(),
            hf,
        ))
    }

    /// H(A1) for a plain password.
    pub fn calc_ha1(
        &self,
        alg: Alg,
        user: &[u8],
        realm: &[u8],
        pass: &[u8],
        nonce: &[u8],
        cnonce: &[u8],
    ) -> String {
        digest::ha1(alg, user, realm, pass, nonce, cnonce)
    }
}

impl AuthState {
    fn cfg(&self) -> Option<&AuthConfig> {
        self.cfg.get()
    }

    fn alg(&self) -> Option<Alg> {
        match self.algorithm.load(Ordering::Relaxed) {
            1 => Some(Alg::Md5),
            2 => Some(Alg::Sha256),
            _ => None,
        }
    }
}

/// The `auth` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(AuthState::default());
    let mut m = ModuleExports::new("auth");
    let req = RouteMask::REQUEST;
    let chal_routes = RouteMask::REQUEST.or(RouteMask::FAILURE);
    let f = |name: &'static str, params: &[K], routes: RouteMask, doc: &'static str| {
        FnExport::new(name, params, routes, doc)
    };
    let s = |st: &Arc<AuthState>| Arc::clone(st);

    for (name, hf) in [
        ("www_challenge", Some(HfType::Www)),
        ("proxy_challenge", Some(HfType::Proxy)),
        ("auth_challenge", None),
    ] {
        let a = s(&st);
        m.functions.push(
            f(
                name,
                &[K::Spve, K::IntOrVar],
                chal_routes,
                "send a 401/407 digest challenge",
            )
            .with(move |ctx, args| {
                let (realm, flags) = (arg_bytes(ctx, args, 0), arg_int(ctx, args, 1)?);
                let hf = hf.unwrap_or_else(|| register_hf(ctx));
                Ok(RetCode(challenge(&a, ctx, &realm, flags, None, hf, true).0))
            }),
        );
    }
    for (name, hf) in [
        ("pv_www_authenticate", HfType::Www),
        ("pv_www_authorize", HfType::Www),
        ("pv_proxy_authenticate", HfType::Proxy),
        ("pv_proxy_authorize", HfType::Proxy),
    ] {
        let a = s(&st);
        m.functions.push(
            f(
                name,
                &[K::Spve, K::Spve, K::IntOrVar],
                req,
                "check credentials against a password in a variable",
            )
            .with(move |ctx, args| {
                let method = method_of(ctx);
                Ok(RetCode(pv_auth_wrapper(&a, ctx, args, hf, &method)?))
            }),
        );
    }
    let a = s(&st);
    m.functions.push(
        f(
            "pv_www_authenticate",
            &[K::Spve, K::Spve, K::IntOrVar, K::Spve],
            req,
            "pv_www_authenticate with an explicit method",
        )
        .with(move |ctx, args| {
            let method = arg_bytes(ctx, args, 3);
            Ok(RetCode(pv_auth_wrapper(
                &a,
                ctx,
                args,
                HfType::Www,
                &method,
            )?))
        }),
    );
    let a = s(&st);
    m.functions.push(
        f(
            "pv_auth_check",
            &[K::Spve, K::Spve, K::IntOrVar, K::IntOrVar],
            req,
            "authenticate (www for REGISTER, proxy otherwise) and check identities",
        )
        .with(move |ctx, args| {
            if matches!(ctx.msg.method(), Some(Method::Ack) | Some(Method::Cancel)) {
                return Ok(RetCode(code::OK));
            }
            let checks = arg_int(ctx, args, 3)?;
            let (realm, pass, flags) = (
                arg_bytes(ctx, args, 0),
                arg_bytes(ctx, args, 1),
                arg_int(ctx, args, 2)?,
            );
            if realm.is_empty() || pass.is_empty() {
                ctx.log_error("auth: invalid realm or password value - empty content");
                return Ok(RetCode(code::ERROR));
            }
            Ok(RetCode(pv_auth_check(
                &a, ctx, &realm, &pass, flags, checks,
            )))
        }),
    );
    let a = s(&st);
    m.functions.push(
        f(
            "consume_credentials",
            &[],
            req,
            "remove the credentials that authenticated the request",
        )
        .with(move |ctx, _| Ok(RetCode(consume_credentials(&a, ctx)))),
    );
    m.functions.push(
        f(
            "has_credentials",
            &[K::Spve],
            RouteMask::ANY,
            "true when credentials for the realm are present",
        )
        .with(move |ctx, args| {
            let realm = arg_bytes(ctx, args, 0);
            let found = [HfType::Www, HfType::Proxy]
                .into_iter()
                .any(|hf| matches!(find_credentials(ctx, &realm, hf), Ok(Some(_))));
            Ok(RetCode::from_bool(found))
        }),
    );
    let a = s(&st);
    m.functions.push(
        f(
            "auth_get_www_authenticate",
            &[K::Spve, K::IntOrVar, K::VarW],
            RouteMask::ANY,
            "WWW-Authenticate header into a variable",
        )
        .with(move |ctx, args| {
            let (realm, flags) = (arg_bytes(ctx, args, 0), arg_int(ctx, args, 1)?);
            if realm.is_empty() {
                ctx.log_error("auth: invalid realm value - empty content");
                return Ok(RetCode(code::ERROR));
            }
            let (rc, hf) = challenge(&a, ctx, &realm, flags, None, HfType::Www, false);
            if rc < 0 {
                return Ok(RetCode(rc));
            }
            if let Some(Arg::Var(v)) = args.get(2) {
                v.set(ctx, Value::Str(hf))?;
            }
            Ok(RetCode(rc))
        }),
    );
    let a = s(&st);
    m.functions.push(
        f(
            "auth_algorithm",
            &[K::Spve],
            RouteMask::ANY,
            "set the challenge algorithm (MD5, SHA-256)",
        )
        .with(move |ctx, args| {
            let alg = arg_bytes(ctx, args, 0);
            let v = match alg.as_slice() {
                b"MD5" => 1,
                b"SHA-256" => 2,
                _ => {
                    ctx.log_error(&format!(
                        "auth: unsupported algorithm {}",
                        String::from_utf8_lossy(&alg)
                    ));
                    return Ok(RetCode(-1));
                }
            };
            a.algorithm.store(v, Ordering::Relaxed);
            Ok(RetCode(1))
        }),
    );
    m.params = params();
    let a = s(&st);
    m.init = Some(Arc::new(move |ictx| {
        let sl = SlReply::bind(ictx, "auth")?;
        let cfg = config(ictx.modparams(), &a, sl)?;
        a.cfg
            .set(cfg)
            .map_err(|_| Error::Init("auth initialised twice".into()))?;
        ictx.provide(Arc::new(AuthApi {
            state: Arc::clone(&a),
        }));
        Ok(())
    }));
    m
}

fn params() -> Vec<ModParam> {
    let p = ModParam::new;
    let mut v = vec![
        p(
            "secret",
            T::Str,
            "secret phrase for nonce signatures (random when unset)",
        ),
        p("nonce_expire", T::Int, "nonce lifetime in seconds (300)"),
        p(
            "nonce_auth_max_drift",
            T::Int,
            "seconds a nonce may come from the future (3)",
        ),
        p(
            "protect_contacts",
            T::Int,
            "obsolete: accepted, no effect (as in Kamailio)",
        ),
        p(
            "challenge_attr",
            T::Str,
            "AVP receiving the challenge of pv_*_authenticate flags",
        ),
        p(
            "proxy_challenge_header",
            T::Str,
            "name of the proxy challenge header",
        ),
        p(
            "www_challenge_header",
            T::Str,
            "name of the www challenge header",
        ),
        p("qop", T::Str, "qop offered by the API's challenges (auth)"),
        p(
            "auth_checks_register",
            T::Int,
            "extra nonce checks for REGISTER",
        ),
        p(
            "auth_checks_no_dlg",
            T::Int,
            "extra nonce checks outside dialogs",
        ),
        p(
            "auth_checks_in_dlg",
            T::Int,
            "extra nonce checks inside dialogs",
        ),
        p("nonce_count", T::Int, "nc replay protection"),
        p("nc_array_size", T::Int, "nonce ids tracked for nc"),
        p("nc_array_order", T::Int, "nc_array_size as a power of two"),
        p("one_time_nonce", T::Int, "every nonce is valid once"),
        p("otn_in_flight_no", T::Int, "one-time nonces tracked"),
        p(
            "otn_in_flight_order",
            T::Int,
            "otn_in_flight_no as a power of two",
        ),
        p(
            "nid_pool_no",
            T::Int,
            "nonce id pools: accepted, one shared pool is used",
        ),
        p(
            "force_stateless_reply",
            T::Int,
            "1: challenges are stateless replies even when a transaction exists",
        ),
        p("realm_prefix", T::Str, "prefix stripped from realms"),
        p("use_domain", T::Int, "pv_auth_check also compares domains"),
        p("algorithm", T::Str, "challenge algorithm: MD5 or SHA-256"),
        p(
            "add_authinfo_hdr",
            T::Int,
            "add Authentication-Info to replies after success",
        ),
    ];
    for x in &mut v {
        if x.name == "algorithm" {
            *x = x.clone().check(|v| match v {
                ModValue::Str(s) if s.is_empty() || s == "MD5" || s == "SHA-256" => Ok(()),
                _ => Err("algorithm: only MD5 and SHA-256 are implemented".into()),
            });
        }
        if x.name == "qop" {
            *x = x.clone().check(|v| match v {
                ModValue::Str(s) if s.is_empty() || s == "auth" || s == "auth-int" => Ok(()),
                _ => Err("qop: auth, auth-int or empty".into()),
            });
        }
    }
    v
}

/// `challenge_attr`: `$` and an AVP identifier as Kamailio's core reads it (`$name`, `$s:name`,
/// `$i:5`, `$t.name`, `$fu.name` …) → the key of the list the challenge is added to, the one the
/// script's `$avp(…)` / `$name` of the same AVP reads. As in Kamailio, what follows `$` is the
/// identifier itself: `$avp(x)` names an AVP called `avp(x)`, not `x`.
fn challenge_key(attr: &str) -> Result<Vec<u8>, String> {
    let Some(ident) = attr.strip_prefix('$').filter(|i| !i.is_empty()) else {
        return Err(format!(
            "invalid value of challenge_attr `{attr}` (an attribute: `$name`)"
        ));
    };
    crate::pv::containers::avp_key(ident)
        .map(String::into_bytes)
        .map_err(|e| format!("challenge_attr `{attr}`: {e}"))
}

fn config(
    mp: &[(&'static str, ModValue)],
    st: &AuthState,
    sl: SlReply,
) -> Result<AuthConfig, Error> {
    let last = |n: &str| {
        mp.iter()
            .rev()
            .find(|(k, _)| *k == n)
            .map(|(_, v)| v.clone())
    };
    let int = |n: &str, d: i64| match last(n) {
        Some(ModValue::Int(i)) => i,
        _ => d,
    };
    let text = |n: &str, d: &str| match last(n) {
        Some(ModValue::Str(s)) => s,
        _ => d.to_string(),
    };
    let u32p = |n: &str, d: i64| {
        u32::try_from(int(n, d))
            .map_err(|_| Error::Config(format!("auth: {n} must be a positive number")))
    };
    let (secret1, secret2) = match last("secret") {
        Some(ModValue::Str(s)) if !s.is_empty() => (s.clone().into_bytes(), s.into_bytes()),
        _ => (random_secret(), random_secret()),
    };
    let order = |size: &str, ord: &str| -> Result<u32, Error> {
        match last(ord) {
            Some(ModValue::Int(o)) if (0..31).contains(&o) => Ok(1u32 << o),
            Some(_) => Err(Error::Config(format!("auth: bad {ord}"))),
            None => u32p(size, 1 << 20),
        }
    };
    let nc_enabled = int("nonce_count", 0) != 0;
    let otn = int("one_time_nonce", 0) != 0;
    let nc_size = if nc_enabled {
        Some(order("nc_array_size", "nc_array_order")?)
    } else {
        None
    };
    let otn_size = if otn {
        Some(order("otn_in_flight_no", "otn_in_flight_order")?)
    } else {
        None
    };
    st.algorithm.store(
        match text("algorithm", "").as_str() {
            "MD5" => 1,
            "SHA-256" => 2,
            _ => 0,
        },
        Ordering::Relaxed,
    );
    let challenge_attr = challenge_key(&text("challenge_attr", "$digest_challenge"))
        .map_err(|e| Error::Config(format!("auth: {e}")))?;
    Ok(AuthConfig {
        nonces: Nonces::new(
            secret1,
            secret2,
            u32p("nonce_expire", 300)?,
            u32p("nonce_auth_max_drift", 3)?,
            now_secs(),
            nc_size,
            otn_size,
        ),
        www_hdr: text("www_challenge_header", "WWW-Authenticate"),
        proxy_hdr: text("proxy_challenge_header", "Proxy-Authenticate"),
        challenge_attr,
        realm_prefix: text("realm_prefix", "").into_bytes(),
        checks_reg: u32p("auth_checks_register", 0)?,
        checks_ood: u32p("auth_checks_no_dlg", 0)?,
        checks_ind: u32p("auth_checks_in_dlg", 0)?,
        add_authinfo_hdr: int("add_authinfo_hdr", 0) != 0,
        use_domain: int("use_domain", 0) != 0,
        nc_enabled,
        force_stateless_reply: int("force_stateless_reply", 0) != 0,
        sl,
    })
}

/// 16 random bytes as hex, from the standard library's OS-seeded hasher keys (no extra crate).
fn random_secret() -> Vec<u8> {
    use std::hash::{BuildHasher, Hasher};
    let mut out = Vec::new();
    for i in 0..2u8 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(i);
        out.extend_from_slice(&h.finish().to_be_bytes());
    }
    digest::hex(&out).into_bytes()
}

fn now_secs() -> u32 {
    let s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    u32::try_from(s).unwrap_or(u32::MAX)
}

fn arg_bytes(ctx: &mut Ctx<'_>, args: &[Arg], i: usize) -> Vec<u8> {
    args.get(i).map(|a| a.bytes(ctx)).unwrap_or_default()
}

fn arg_int(ctx: &mut Ctx<'_>, args: &[Arg], i: usize) -> Result<i64, Error> {
    match args.get(i) {
        Some(a) => a.int(ctx),
        None => Ok(0),
    }
}

fn method_of(ctx: &Ctx<'_>) -> Vec<u8> {
    ctx.msg
        .request_line()
        .map(|rl| ctx.msg.slice(rl.method_span).to_vec())
        .unwrap_or_default()
}

fn register_hf(ctx: &Ctx<'_>) -> HfType {
    if ctx.msg.method() == Some(Method::Register) {
        HfType::Www
    } else {
        HfType::Proxy
    }
}

fn strip_prefix<'r>(c: &AuthConfig, realm: &'r [u8]) -> &'r [u8] {
    if !c.realm_prefix.is_empty() {
        if let Some(r) = realm.strip_prefix(c.realm_prefix.as_slice()) {
            return r;
        }
    }
    realm
}

/// The extra-check bits for this request (Kamailio's `get_auth_checks`).
fn checks_for(c: &AuthConfig, ctx: &Ctx<'_>) -> u32 {
    if ctx.msg.method() == Some(Method::Register) {
        return c.checks_reg;
    }
    let has_to_tag = matches!(ctx.msg.header(HeaderKind::To), Ok(Some(_)))
        && ctx.msg.to().is_ok_and(|t| t.tag.is_some());
    if has_to_tag {
        c.checks_ind
    } else {
        c.checks_ood
    }
}

fn parts(ctx: &Ctx<'_>, checks: u32) -> MsgParts {
    if checks == 0 {
        return MsgParts::default();
    }
    let m = &ctx.msg;
    MsgParts {
        ruri: ctx.original_ruri().to_vec(),
        callid: m.call_id().map(|s| m.slice(s).to_vec()).unwrap_or_default(),
        from_tag: m
            .from()
            .ok()
            .and_then(|f| f.tag)
            .map(|t| m.slice(t).to_vec())
            .unwrap_or_default(),
        src_ip: match ctx.rcv.src.ip() {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        },
    }
}

/// The first Digest credentials of `hf` whose realm is `realm` (case-insensitive). `Err` when a
/// header of that kind does not parse.
fn find_credentials(ctx: &Ctx<'_>, realm: &[u8], hf: HfType) -> Result<Option<(Auth, Span)>, ()> {
    let buf = ctx.msg.buf();
    let Ok(hdrs) = ctx.msg.headers_of(hf.cred_kind()) else {
        return Err(());
    };
    for h in hdrs {
        let a = parse_auth(buf, h.value, hf.cred_kind()).map_err(|_| ())?;
        if !a.is_digest {
            continue;
        }
        let r = a
            .params
            .realm
            .map(|s| unquote(buf, s).of(buf))
            .unwrap_or(b"");
        if r.eq_ignore_ascii_case(realm) {
            return Ok(Some((a, h.span)));
        }
    }
    Ok(None)
}

/// The user part of the digest username (before `@`) of the credentials header an auth function
/// marked as authorized for this message (Kamailio's `get_authorized_cred`, Authorization first,
/// then Proxy-Authorization; siputils `is_user`). `None`: nothing marked.
pub fn authorized_user(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let start = ctx
        .state
        .xavps
        .get(MARK)
        .and_then(|l| l.first())
        .and_then(|r| r.iter().find(|(k, _)| k == b"s"))
        .and_then(|(_, v)| usize::try_from(v.to_int()).ok())?;
    let buf = ctx.msg.buf();
    for kind in [HfType::Www.cred_kind(), HfType::Proxy.cred_kind()] {
        let Ok(hdrs) = ctx.msg.headers_of(kind) else {
            continue;
        };
        for h in hdrs {
            if h.span.start as usize == start {
                let a = parse_auth(buf, h.value, kind).ok()?;
                return Some(owned(buf, &a, h.span).user);
            }
        }
    }
    None
}

fn owned(buf: &[u8], a: &Auth, span: Span) -> Credentials {
    let f = |s: Option<Span>| s.map(|x| unquote(buf, x).of(buf).to_vec());
    let p = &a.params;
    let username = f(p.username).unwrap_or_default();
    let (user, domain) = match username.iter().position(|b| *b == b'@') {
        Some(i) => (
            username.get(..i).unwrap_or(&[]).to_vec(),
            username.get(i + 1..).unwrap_or(&[]).to_vec(),
        ),
        None => (username.clone(), Vec::new()),
    };
    Credentials {
        username,
        user,
        domain,
        realm: f(p.realm).unwrap_or_default(),
        nonce: f(p.nonce).unwrap_or_default(),
        uri: f(p.uri).unwrap_or_default(),
        response: f(p.response).unwrap_or_default(),
        algorithm: f(p.algorithm),
        qop: f(p.qop),
        nc: f(p.nc).unwrap_or_default(),
        cnonce: f(p.cnonce).unwrap_or_default(),
        stale: false,
        span: Some(span),
    }
}

// The authorized credentials are remembered per message for consume_credentials, in an XAVP
// whose name starts with NUL (no config can spell it), as sl's reply lumps do.
const MARK: &[u8] = b"\0auth_cred";

fn pre_auth(c: &AuthConfig, ctx: &mut Ctx<'_>, realm: &[u8], hf: HfType, update: bool) -> PreAuth {
    if matches!(
        ctx.msg.method(),
        Some(Method::Ack) | Some(Method::Cancel) | Some(Method::Prack)
    ) {
        return PreAuth::Authenticated;
    }
    let realm = strip_prefix(c, realm).to_vec();
    let (a, span) = match find_credentials(ctx, &realm, hf) {
        Err(()) => {
            ctx.log_error("auth: error while looking for credentials");
            return PreAuth::Fail(code::ERROR, None);
        }
        Ok(None) => return PreAuth::Fail(code::NO_CREDENTIALS, None),
        Ok(Some(x)) => x,
    };
    let mut cred = owned(ctx.msg.buf(), &a, span);
    ctx.state.xavps.insert(
        MARK.to_vec(),
        vec![vec![
            (b"s".to_vec(), Value::Int(i64::from(span.start))),
            (b"e".to_vec(), Value::Int(i64::from(span.end))),
        ]],
    );
    // Kamailio's check_dig_cred: qop needs nc and cnonce.
    if cred.qop.is_some() && (cred.nc.is_empty() || cred.cnonce.is_empty()) {
        ctx.log_error("auth: credentials are not filled properly");
        return PreAuth::Fail(code::ERROR, Some(cred));
    }
    let checks = checks_for(c, ctx);
    let mp = parts(ctx, checks);
    let nc = if cred.nc.is_empty() {
        None
    } else {
        Some(cred.nc.as_slice())
    };
    match c
        .nonces
        .check(&cred.nonce, now_secs(), checks, &mp, nc, update)
    {
        NonceCheck::Ok => PreAuth::Check(cred),
        NonceCheck::Stale | NonceCheck::ChecksFailed => {
            cred.stale = true;
            PreAuth::Fail(code::STALE_NONCE, Some(cred))
        }
        NonceCheck::Reused => PreAuth::Fail(code::NONCE_REUSED, Some(cred)),
        NonceCheck::Invalid | NonceCheck::BadNc => PreAuth::Fail(code::ERROR, Some(cred)),
    }
}

fn check_response(ctx: &Ctx<'_>, cred: &Credentials, method: &[u8], ha1: &str) -> bool {
    let Some(alg) = Alg::from_token(cred.algorithm.as_deref()) else {
        return false;
    };
    if cred.response.len() != alg.hex_len() {
        return false;
    }
    let body = ctx.msg.body().unwrap_or(b"");
    let want = digest::response(
        alg,
        &ResponseInput {
            ha1,
            nonce: &cred.nonce,
            nc: &cred.nc,
            cnonce: &cred.cnonce,
            qop: cred.qop(),
            method,
            uri: &cred.uri,
            body,
        },
    );
    want.as_bytes().eq_ignore_ascii_case(&cred.response)
}

fn post_auth(c: &AuthConfig, ctx: &mut Ctx<'_>, cred: &Credentials, ha1: &str) -> i64 {
    if c.add_authinfo_hdr {
        let Some(alg) = Alg::from_token(cred.algorithm.as_deref()) else {
            return code::ERROR;
        };
        // rspauth: the response computed with an empty method (RFC 2617 §3.2.3).
        let rsp = digest::response(
            alg,
            &ResponseInput {
                ha1,
                nonce: &cred.nonce,
                nc: &cred.nc,
                cnonce: &cred.cnonce,
                qop: cred.qop(),
                method: b"",
                uri: &cred.uri,
                body: b"",
            },
        );
        let mut h = b"Authentication-Info: nextnonce=\"".to_vec();
        h.extend_from_slice(&cred.nonce);
        h.extend_from_slice(b"\", qop=");
        h.extend_from_slice(cred.qop.as_deref().unwrap_or(b""));
        h.extend_from_slice(b", rspauth=\"");
        h.extend_from_slice(rsp.as_bytes());
        h.extend_from_slice(b"\", cnonce=\"");
        h.extend_from_slice(&cred.cnonce);
        h.extend_from_slice(b"\", nc=");
        h.extend_from_slice(&cred.nc);
        h.extend_from_slice(b"\r\n");
        crate::sl::reply_lumps::add_header(ctx, &h);
    }
    code::OK
}

/// Kamailio's `pv_authenticate`.
fn pv_authenticate(
    st: &AuthState,
    ctx: &mut Ctx<'_>,
    realm: &[u8],
    pass: &[u8],
    flags: i64,
    hf: HfType,
    method: &[u8],
) -> i64 {
    let Some(c) = st.cfg() else {
        return code::ERROR;
    };
    // Flag 32: with nonce counts, only a successful check consumes the nc.
    let noinvnc = c.nc_enabled && flags & 32 != 0;
    let (ret, cred) = match pre_auth(c, ctx, realm, hf, !noinvnc) {
        PreAuth::Authenticated => (code::OK, None),
        PreAuth::Fail(r, cred) => (r, cred),
        PreAuth::Check(cred) => {
            let r = verify(c, ctx, &cred, realm, pass, flags, method);
            if r == code::OK && noinvnc {
                let checks = checks_for(c, ctx);
                let mp = parts(ctx, checks);
                let nc = if cred.nc.is_empty() {
                    None
                } else {
                    Some(cred.nc.as_slice())
                };
                if c.nonces
                    .check(&cred.nonce, now_secs(), checks, &mp, nc, true)
                    != NonceCheck::Ok
                {
                    (code::ERROR, Some(cred))
                } else {
                    (r, Some(cred))
                }
            } else {
                (r, Some(cred))
            }
        }
    };
    if ret < 0 && flags & 14 != 0 {
        let qop = if flags & 8 != 0 {
            Qop::AuthInt
        } else if flags & 4 != 0 {
            Qop::Auth
        } else {
            Qop::None
        };
        let stale = cred.as_ref().is_some_and(|c| c.stale);
        let realm = strip_prefix(c, realm).to_vec();
        let h = challenge_hf(c, ctx, stale, &realm, qop, st.alg(), hf);
        ctx.state.avps.add(&c.challenge_attr, Value::Str(h));
    }
    ret
}

fn verify(
    c: &AuthConfig,
    ctx: &mut Ctx<'_>,
    cred: &Credentials,
    realm: &[u8],
    pass: &[u8],
    flags: i64,
    method: &[u8],
) -> i64 {
    let Some(alg) = Alg::from_token(cred.algorithm.as_deref()) else {
        ctx.log_error("auth: unsupported digest algorithm");
        return code::ERROR;
    };
    let ha1 = if flags & 1 != 0 {
        if matches!(alg, Alg::Md5Sess | Alg::Sha256Sess) {
            ctx.log_error(
                "auth: precomputed HA1 values are not supported with *-sess digest algorithms",
            );
            return code::ERROR;
        }
        if pass.len() != alg.hex_len() {
            ctx.log_error("auth: HA1 value has invalid length");
            return code::ERROR;
        }
        String::from_utf8_lossy(pass).into_owned()
    } else {
        let realm = strip_prefix(c, realm);
        digest::ha1(alg, &cred.username, realm, pass, &cred.nonce, &cred.cnonce)
    };
    if cred.response.len() != alg.hex_len() {
        return code::ERROR;
    }
    if check_response(ctx, cred, method, &ha1) {
        post_auth(c, ctx, cred, &ha1)
    } else {
        code::INVALID_PASSWORD
    }
}

fn pv_auth_wrapper(
    st: &AuthState,
    ctx: &mut Ctx<'_>,
    args: &[Arg],
    hf: HfType,
    method: &[u8],
) -> Result<i64, Error> {
    let (realm, pass, flags) = (
        arg_bytes(ctx, args, 0),
        arg_bytes(ctx, args, 1),
        arg_int(ctx, args, 2)?,
    );
    if realm.is_empty() || pass.is_empty() {
        ctx.log_error("auth: invalid realm or password value - empty content");
        return Ok(code::ERROR);
    }
    Ok(pv_authenticate(st, ctx, &realm, &pass, flags, hf, method))
}

/// Kamailio's `pv_auth_check`: www for REGISTER, proxy otherwise; `checks` 1 = the auth user must
/// be the From user (To for REGISTER/PUBLISH), 2 = skip authentication of requests whose From
/// domain is not ours (they are being forwarded).
fn pv_auth_check(
    st: &AuthState,
    ctx: &mut Ctx<'_>,
    realm: &[u8],
    pass: &[u8],
    flags: i64,
    checks: i64,
) -> i64 {
    let reg_like = matches!(
        ctx.msg.method(),
        Some(Method::Register) | Some(Method::Publish)
    );
    if checks & 2 != 0 && !reg_like {
        if let Some((_, host)) = uri_user_host(ctx, HeaderKind::From) {
            if !ctx.server.is_myself(&host, 0, None) {
                return code::OK;
            }
        }
    }
    let hf = register_hf(ctx);
    let method = method_of(ctx);
    let ret = pv_authenticate(st, ctx, realm, pass, flags, hf, &method);
    if ret != code::OK || checks & 1 == 0 {
        return ret;
    }
    let Ok(Some((a, span))) = find_credentials(ctx, strip_prefix_st(st, realm), hf) else {
        return code::ERROR;
    };
    let cred = owned(ctx.msg.buf(), &a, span);
    let kind = if reg_like {
        HeaderKind::To
    } else {
        HeaderKind::From
    };
    let Some((user, host)) = uri_user_host(ctx, kind) else {
        return code::ERROR;
    };
    if cred.user != user {
        return code::USER_MISMATCH;
    }
    let use_domain = st.cfg().is_some_and(|c| c.use_domain);
    if use_domain && !cred.domain.is_empty() && !cred.domain.eq_ignore_ascii_case(&host) {
        return code::USER_MISMATCH;
    }
    if reg_like {
        // REGISTER/PUBLISH: the From user must be the To user too.
        let Some((fu, _)) = uri_user_host(ctx, HeaderKind::From) else {
            return code::ERROR;
        };
        if fu != user {
            return code::USER_MISMATCH;
        }
    }
    ret
}

fn strip_prefix_st<'r>(st: &AuthState, realm: &'r [u8]) -> &'r [u8] {
    match st.cfg() {
        Some(c) => strip_prefix(c, realm),
        None => realm,
    }
}

fn uri_user_host(ctx: &Ctx<'_>, kind: HeaderKind) -> Option<(Vec<u8>, Vec<u8>)> {
    let m = &ctx.msg;
    let na = match kind {
        HeaderKind::To => m.to().ok()?,
        _ => m.from().ok()?,
    };
    let u = Uri::parse(m.buf(), na.uri).ok()?;
    Some((
        u.user.map(|s| m.slice(s).to_vec()).unwrap_or_default(),
        m.slice(u.host).to_vec(),
    ))
}

fn consume_credentials(_st: &AuthState, ctx: &mut Ctx<'_>) -> i64 {
    if matches!(
        ctx.msg.method(),
        Some(Method::Ack) | Some(Method::Cancel) | Some(Method::Prack)
    ) {
        return -1;
    }
    let span = ctx
        .state
        .xavps
        .get(MARK)
        .and_then(|l| l.first())
        .and_then(|r| {
            let g = |n: &[u8]| r.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_int());
            Some((
                usize::try_from(g(b"s")?).ok()?,
                usize::try_from(g(b"e")?).ok()?,
            ))
        });
    let Some((s, e)) = span.filter(|(s, e)| s < e) else {
        ctx.log_error("auth: no authorized credentials found (error in scripts)");
        return -1;
    };
    match ctx.edits.delete(s, e - s) {
        Ok(_) => 1,
        Err(err) => {
            ctx.log_error(&format!("auth: can't remove credentials: {err}"));
            -1
        }
    }
}

/// The challenge header line (Kamailio's `get_challenge_hf`): name, realm, a new nonce, qop,
/// stale, algorithm, CRLF.
fn challenge_hf(
    c: &AuthConfig,
    ctx: &Ctx<'_>,
    stale: bool,
    realm: &[u8],
    qop: Qop,
    alg: Option<Alg>,
    hf: HfType,
) -> Vec<u8> {
    let checks = checks_for(c, ctx);
    let nonce = c.nonces.make(now_secs(), checks, &parts(ctx, checks));
    let mut h = match hf {
        HfType::Www => c.www_hdr.clone().into_bytes(),
        HfType::Proxy => c.proxy_hdr.clone().into_bytes(),
    };
    h.extend_from_slice(b": Digest realm=\"");
    h.extend_from_slice(realm);
    h.extend_from_slice(b"\", nonce=\"");
    h.extend_from_slice(nonce.as_bytes());
    h.push(b'"');
    match qop {
        Qop::Auth => h.extend_from_slice(b", qop=\"auth\""),
        Qop::AuthInt => h.extend_from_slice(b", qop=\"auth-int\""),
        Qop::None => {}
    }
    if stale {
        h.extend_from_slice(b", stale=true");
    }
    match alg {
        Some(Alg::Sha256) => h.extend_from_slice(b", algorithm=SHA-256"),
        Some(Alg::Md5) => h.extend_from_slice(b", algorithm=MD5"),
        _ => {}
    }
    h.extend_from_slice(b"\r\n");
    h
}

/// Kamailio's `auth_challenge_helper`: builds the challenge(s) and, when `send`, replies 401/407
/// with them. Returns the code and the header block.
fn challenge(
    st: &AuthState,
    ctx: &mut Ctx<'_>,
    realm: &[u8],
    flags: i64,
    algs: Option<&[u8]>,
    hf: HfType,
    send: bool,
) -> (i64, Vec<u8>) {
    let Some(c) = st.cfg() else {
        return (-1, Vec::new());
    };
    let qop = if flags & 2 != 0 {
        Qop::AuthInt
    } else if flags & 1 != 0 {
        Qop::Auth
    } else {
        Qop::None
    };
    let stale = flags & 16 != 0;
    let realm = if realm.is_empty() {
        // Kamailio's get_realm: the To host for REGISTER challenged with 401, the From host otherwise.
        let kind = if hf == HfType::Www && ctx.msg.method() == Some(Method::Register) {
            HeaderKind::To
        } else {
            HeaderKind::From
        };
        uri_user_host(ctx, kind).map(|(_, h)| h).unwrap_or_default()
    } else {
        realm.to_vec()
    };
    let realm = strip_prefix(c, &realm).to_vec();
    let mut hdrs = Vec::new();
    let mut failed = realm.is_empty();
    match algs {
        None => hdrs = challenge_hf(c, ctx, stale, &realm, qop, st.alg(), hf),
        Some(list) => {
            for a in list
                .split(|b| *b == b',' || *b == b' ')
                .filter(|a| !a.is_empty())
            {
                match a {
                    b"MD5" => {
                        hdrs.extend(challenge_hf(c, ctx, stale, &realm, qop, Some(Alg::Md5), hf))
                    }
                    b"SHA-256" => hdrs.extend(challenge_hf(
                        c,
                        ctx,
                        stale,
                        &realm,
                        qop,
                        Some(Alg::Sha256),
                        hf,
                    )),
                    _ => {
                        ctx.log_error(&format!(
                            "auth: unsupported algorithm {}",
                            String::from_utf8_lossy(a)
                        ));
                        failed = true;
                    }
                }
            }
        }
    }
    if failed || hdrs.is_empty() {
        ctx.log_error("auth: error while creating challenge");
        let mut rc = -2;
        if send && flags & 4 == 0 && send_reply(c, ctx, 500, b"Internal Server Error") < 0 {
            rc = -4;
        }
        return (rc, Vec::new());
    }
    if !send {
        return (1, hdrs);
    }
    crate::sl::reply_lumps::add_header(ctx, &hdrs);
    let (code, reason): (u16, &[u8]) = match hf {
        HfType::Www => (401, b"Unauthorized"),
        HfType::Proxy => (407, b"Proxy Authentication Required"),
    };
    if send_reply(c, ctx, code, reason) < 0 {
        return (-3, hdrs);
    }
    (1, hdrs)
}

/// Kamailio's `auth_send_reply`: sl's `sreply` with `force_stateless_reply`, else its `freply`
/// (stateful when the request has a transaction).
fn send_reply(c: &AuthConfig, ctx: &mut Ctx<'_>, code: u16, reason: &[u8]) -> i64 {
    if c.force_stateless_reply {
        c.sl.reply(ctx, code, reason, &[])
    } else {
        c.sl.send_reply(ctx, code, reason, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_attr_keys() {
        let cases: [(&str, Option<&[u8]>); 9] = [
            ("$digest_challenge", Some(b"digest_challenge")),
            ("$s:ch", Some(b"ch")),
            ("$f.ch", Some(b"ch")),
            ("$t.ch", Some(b"\0t.ch")),
            ("$fu.ch", Some(b"\0fu.ch")),
            ("$i:7", Some(b"\0i:7")),
            ("$avp(ch)", Some(b"avp(ch)")),
            ("digest_challenge", None),
            ("$g.ch", None),
        ];
        for (attr, want) in cases {
            assert_eq!(challenge_key(attr).ok().as_deref(), want, "{attr}");
        }
    }

    #[test]
    fn param_checks() {
        let ps = params();
        let alg = ps
            .iter()
            .find(|p| p.name == "algorithm")
            .and_then(|p| p.check.clone());
        let Some(alg) = alg else {
            panic!("algorithm has a check");
        };
        let cases = [
            ("MD5", true),
            ("SHA-256", true),
            ("", true),
            ("SHA-512", false),
            ("md5", false),
        ];
        for (v, ok) in cases {
            assert_eq!(alg(&ModValue::Str(v.into())).is_ok(), ok, "{v}");
        }
    }
}

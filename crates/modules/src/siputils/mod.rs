//! Kamailio's `siputils` module: checks on the message and on strings (`has_totag`, `is_request`,
//! `is_first_hop`, `is_e164`, `is_numeric` …), R-URI parameters (`uri_param`, `add_uri_param`,
//! `get_uri_param`, `uri_param_rm`), URI helpers (`tel2sip`, `cmp_uri`, `cmp_aor`, `set_uri_user`
//! …), `options_reply`, the Remote-Party-ID functions and the modparams `options_*`, `rpid_*`,
//! `e164_max_len`.
//!
//! Layout: this file (export table, message and R-URI functions), [`strs`] (string checks and URI
//! comparisons, pure), [`contact`] (Contact encoders), [`pcv`] (P-Charging-Vector), [`reply`] (the old sl-like sender, kept for registrar until it takes
//! sl's API). `options_reply` answers through sl's API ([`crate::sl::SlReply`], Kamailio's
//! `freply`): without sl loaded the module is refused at load, as Kamailio's ("cannot bind to SL
//! API").
//!
//! `is_user` reads the credentials the auth module marked as authorized
//! (`auth::authorized_user`); without auth loaded there are none, as in Kamailio.

pub mod contact;
pub mod pcv;
pub mod strs;

use std::sync::{Arc, OnceLock};

use ferrosip_api::avp::AvpIdent;
use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K, PvExport};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::{Method, Uri};

use crate::pv::uriops::{self, Part};
use crate::sl::SlReply;

/// siputils' frozen modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiputilsConfig {
    /// `options_accept` (default `*/*`).
    pub accept: String,
    /// `options_accept_encoding` (default empty).
    pub accept_encoding: String,
    /// `options_accept_language` (default `en`).
    pub accept_language: String,
    /// `options_support` (default empty).
    pub support: String,
    /// `rpid_prefix` (default empty).
    pub rpid_prefix: String,
    /// `rpid_suffix`.
    pub rpid_suffix: String,
    /// The AVP of `rpid_avp` (default `$avp(s:rpid)`), with the lists its spelling searches
    /// (`$avp(t.x)`: the To track's, `$avp(fu.x)`: one list …); `None` when set to an empty
    /// string (every RPID function then fails).
    pub rpid_avp: Option<AvpIdent>,
    /// `e164_max_len` (default 16, the `+` included).
    pub e164_max_len: usize,
    /// First character of `contact_flds_separator` (default `*`).
    pub separator: u8,
    /// sl's reply API (bound at init).
    pub sl: SlReply,
}

impl Default for SiputilsConfig {
    fn default() -> SiputilsConfig {
        SiputilsConfig {
            accept: "*/*".into(),
            accept_encoding: String::new(),
            accept_language: "en".into(),
            support: String::new(),
            rpid_prefix: String::new(),
            rpid_suffix: ";party=calling;id-type=subscriber;screen=yes".into(),
            rpid_avp: Some(AvpIdent::plain(b"rpid")),
            e164_max_len: 16,
            separator: contact::DEFAULT_SEPARATOR,
            sl: SlReply::default(),
        }
    }
}

/// The `siputils` export table.
pub fn exports() -> ModuleExports {
    let cfg: Arc<OnceLock<SiputilsConfig>> = Arc::new(OnceLock::new());
    let any = RouteMask::ANY;
    let req = RouteMask::REQUEST;
    let rbf = req.or(RouteMask::BRANCH).or(RouteMask::FAILURE);
    let rfbo = rbf.or(RouteMask::ONREPLY);
    let ro = req.or(RouteMask::ONREPLY);
    let c1 = Arc::clone(&cfg);
    let c2 = Arc::clone(&cfg);
    let c3 = Arc::clone(&cfg);
    let c4 = Arc::clone(&cfg);
    let c5 = Arc::clone(&cfg);
    let c6 = Arc::clone(&cfg);
    let c7 = Arc::clone(&cfg);
    let c8 = Arc::clone(&cfg);
    let c9 = Arc::clone(&cfg);
    let mut m = ModuleExports::new("siputils");
    m.functions = vec![
        FnExport::new(
            "options_reply",
            &[],
            req,
            "answer an OPTIONS to the server (no R-URI user) with 200 and the options_* headers",
        )
        .with(move |c, _| Ok(RetCode(options_reply(c, config(&c1))))),
        FnExport::new(
            "is_user",
            &[K::Spve],
            req.or(RouteMask::LOCAL),
            "true when the user part of the authorized credentials' username is this text",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(is_user(c, &u)))
        }),
        FnExport::new("has_totag", &[], any, "true when the To header has a tag")
            .with(|c, _| Ok(RetCode(has_totag(c)))),
        FnExport::new(
            "uri_param",
            &[K::Spve],
            rbf,
            "true when the R-URI has the parameter without a value",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(uri_param(c, &n, None)))
        }),
        FnExport::new(
            "uri_param",
            &[K::Spve, K::Spve],
            rbf,
            "true when the R-URI has the parameter with this value",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            let v = arg(c, a, 1)?;
            Ok(RetCode(uri_param(c, &n, Some(&v))))
        }),
        FnExport::new(
            "uri_param_any",
            &[K::Spve],
            rbf,
            "true when the R-URI has the parameter (any value)",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(uri_param_any(c, &n)))
        }),
        FnExport::new(
            "add_uri_param",
            &[K::Str],
            req,
            "append ;param to the R-URI (before its headers)",
        )
        .with(|c, a| {
            let p = arg(c, a, 0)?;
            Ok(RetCode(add_uri_param(c, &p)))
        }),
        FnExport::new(
            "get_uri_param",
            &[K::Str, K::VarW],
            req.or(RouteMask::LOCAL),
            "store the value of an R-URI parameter in a variable",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            let Some(Arg::Var(p)) = a.get(1) else {
                return Err(Error::Runtime("missing variable".into()));
            };
            let p = p.clone();
            match ruri_params(c, false).and_then(|(u, ps)| find_param(&u, ps, &n)) {
                Some(v) => {
                    p.set(c, Value::Str(v))?;
                    Ok(RetCode::TRUE)
                }
                None => Ok(RetCode::FALSE),
            }
        }),
        FnExport::new(
            "uri_param_rm",
            &[K::Spve],
            rbf,
            "remove a parameter from the R-URI",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(uri_param_rm(c, &n)))
        }),
        FnExport::new(
            "tel2sip",
            &[K::Spve, K::Spve, K::VarW],
            rfbo,
            "tel: URI to sip:<number>@<host>;user=phone into the variable; 2 when not tel:",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            let h = arg(c, a, 1)?;
            let Some(Arg::Var(p)) = a.get(2) else {
                return Err(Error::Runtime("missing variable".into()));
            };
            let p = p.clone();
            match strs::tel2sip(&u, &h) {
                strs::Tel2Sip::NotTel => Ok(RetCode(2)),
                strs::Tel2Sip::Bad => Ok(RetCode::FALSE),
                strs::Tel2Sip::Sip(s) => {
                    p.set(c, Value::Str(s))?;
                    Ok(RetCode::TRUE)
                }
            }
        }),
        FnExport::new(
            "tel2sip2",
            &[K::Spve, K::Spve, K::VarW],
            rfbo,
            "tel2sip with RFC 3261 ordering of the tel parameters; 1 when not tel:",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            let h = arg(c, a, 1)?;
            let Some(Arg::Var(p)) = a.get(2) else {
                return Err(Error::Runtime("missing variable".into()));
            };
            let p = p.clone();
            match strs::tel2sip2(&u, &h) {
                strs::Tel2Sip::NotTel => Ok(RetCode::TRUE),
                strs::Tel2Sip::Bad => Ok(RetCode::FALSE),
                strs::Tel2Sip::Sip(s) => {
                    p.set(c, Value::Str(s))?;
                    Ok(RetCode::TRUE)
                }
            }
        }),
        FnExport::new(
            "is_uri",
            &[K::Spve],
            any,
            "true when the value parses as a URI",
        )
        .with(|c, a| {
            let v = arg(c, a, 0)?;
            Ok(RetCode::from_bool(uriops::parse(&v).is_some()))
        }),
        FnExport::new(
            "is_e164",
            &[K::Var],
            req.or(RouteMask::FAILURE).or(RouteMask::LOCAL),
            "true when the value is + and 2..e164_max_len-1 digits",
        )
        .with(move |c, a| {
            let Some(v) = var_str(c, a)? else {
                return Ok(RetCode::FALSE);
            };
            Ok(RetCode(strs::e164(&v, config(&c2).e164_max_len)))
        }),
        FnExport::new(
            "is_uri_user_e164",
            &[K::Var],
            any,
            "true when the user part of the URI in the variable is E.164",
        )
        .with(move |c, a| {
            let Some(v) = var_str(c, a)? else {
                return Ok(RetCode::FALSE);
            };
            Ok(RetCode(strs::uri_user_e164(&v, config(&c3).e164_max_len)))
        }),
        FnExport::new(
            "encode_contact",
            &[K::Str, K::Str],
            ro,
            "pack the URIs of the first Contact into prefix*user*pass*host*port*proto@hostpart",
        )
        .with(move |c, a| {
            let (p, h) = (arg(c, a, 0)?, arg(c, a, 1)?);
            let sep = config(&c7).separator;
            Ok(RetCode(contact::encode_contact(c, &p, &h, sep)))
        }),
        FnExport::new("decode_contact", &[], req, "unpack an encode_contact R-URI")
            .with(move |c, _| Ok(RetCode(contact::decode_contact(c, config(&c8).separator)))),
        FnExport::new(
            "decode_contact_header",
            &[],
            req.or(RouteMask::FAILURE).or(RouteMask::ONREPLY),
            "unpack encode_contact URIs of the first Contact header",
        )
        .with(move |c, _| {
            Ok(RetCode(contact::decode_contact_header(
                c,
                config(&c9).separator,
            )))
        }),
        FnExport::new(
            "cmp_uri",
            &[K::Spve, K::Spve],
            any,
            "true when both URIs match (RFC 3261)",
        )
        .with(|c, a| {
            let (x, y) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(strs::cmp_result(strs::cmp_uri(&x, &y))))
        }),
        FnExport::new(
            "cmp_aor",
            &[K::Spve, K::Spve],
            any,
            "true when both URIs are the same AoR",
        )
        .with(|c, a| {
            let (x, y) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(strs::cmp_result(strs::cmp_aor(&x, &y))))
        }),
        FnExport::new(
            "cmp_hdr_name",
            &[K::Spve, K::Spve],
            any,
            "true when both are the same header name (compact forms included)",
        )
        .with(|c, a| {
            let (x, y) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(strs::cmp_result(strs::cmp_hdr_name(&x, &y))))
        }),
        FnExport::new(
            "is_rpid_user_e164",
            &[],
            req,
            "true when the user of the URI in the rpid AVP is E.164",
        )
        .with(move |c, _| Ok(RetCode(is_rpid_user_e164(c, config(&c4))))),
        FnExport::new(
            "append_rpid_hf",
            &[],
            rbf,
            "append Remote-Party-ID: <rpid_prefix><rpid AVP><rpid_suffix>",
        )
        .with(move |c, _| {
            let conf = config(&c5);
            Ok(RetCode(append_rpid(
                c,
                conf,
                conf.rpid_prefix.as_bytes(),
                conf.rpid_suffix.as_bytes(),
            )))
        }),
        FnExport::new(
            "append_rpid_hf",
            &[K::Str, K::Str],
            rbf,
            "append Remote-Party-ID with this prefix and suffix",
        )
        .with(move |c, a| {
            let (p, s) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(append_rpid(c, config(&c6), &p, &s)))
        }),
        set_uri(
            "set_uri_user",
            Part::User,
            "set the user part of the URI held in a variable",
        ),
        set_uri(
            "set_uri_host",
            Part::Host,
            "set the host part of the URI held in a variable",
        ),
        FnExport::new("is_request", &[], any, "true for a request")
            .with(|c, _| Ok(RetCode::from_bool(c.msg.is_request()))),
        FnExport::new("is_reply", &[], any, "true for a reply")
            .with(|c, _| Ok(RetCode::from_bool(!c.msg.is_request()))),
        FnExport::new("is_sip", &[], any, "true for a SIP message").with(|c, _| {
            Ok(RetCode::from_bool(
                c.msg.proto() == ferrosip_sipmsg::Proto::Sip,
            ))
        }),
        FnExport::new("is_http", &[], any, "true for an HTTP message").with(|c, _| {
            Ok(RetCode::from_bool(matches!(
                c.msg.proto(),
                ferrosip_sipmsg::Proto::Http | ferrosip_sipmsg::Proto::Http2
            )))
        }),
        FnExport::new(
            "is_gruu",
            &[],
            any,
            "R-URI has gr: 1 with a value, 2 without",
        )
        .with(|c, _| {
            let u = c.ruri();
            Ok(RetCode(strs::is_gruu(&u)))
        }),
        FnExport::new(
            "is_gruu",
            &[K::Spve],
            any,
            "URI has gr: 1 with a value, 2 without",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(strs::is_gruu(&u)))
        }),
        FnExport::new(
            "is_supported",
            &[K::Str],
            any,
            "true when Supported lists the option (path 100rel timer eventlist gruu outbound)",
        )
        .fixup(|a| match a.first() {
            Some(Arg::Str(s))
                if strs::OPTION_TAGS
                    .iter()
                    .any(|o| o.as_bytes().eq_ignore_ascii_case(s)) =>
            {
                Ok(())
            }
            Some(Arg::Str(s)) => Err(format!("unknown option <{}>", String::from_utf8_lossy(s))),
            _ => Err("the option must be a constant".into()),
        })
        .with(|c, a| {
            let o = arg(c, a, 0)?;
            Ok(RetCode(is_supported(c, &o)))
        }),
        FnExport::new(
            "is_first_hop",
            &[],
            any,
            "first hop after the sender (one Via / RR check)",
        )
        .with(|c, _| Ok(RetCode(is_first_hop(c, 0)))),
        FnExport::new(
            "is_first_hop",
            &[K::IntOrVar],
            any,
            "is_first_hop; mode 1 accepts a host name in the top Record-Route",
        )
        .with(|c, a| {
            let mode = a
                .first()
                .ok_or_else(|| Error::Runtime("missing parameter".into()))?
                .int(c)?;
            Ok(RetCode(is_first_hop(c, mode)))
        }),
        string_check(
            "is_tel_number",
            "optional + then digits",
            strs::is_tel_number,
        ),
        string_check("is_numeric", "decimal digits only", strs::is_numeric),
        string_check(
            "is_alphanum",
            "ASCII letters and digits only",
            strs::is_alphanum,
        ),
        FnExport::new(
            "is_alphanumex",
            &[K::Spve, K::Spve],
            any,
            "ASCII letters, digits and the characters of the second parameter only",
        )
        .with(|c, a| {
            let (v, e) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(strs::is_alphanumex(&v, &e)))
        }),
        FnExport::new(
            "sip_p_charging_vector",
            &[K::Spve],
            any,
            "P-Charging-Vector: r remove, g generate, f replace; 1 nothing, 3 generated, 4 deleted, 5 replaced",
        )
        .with(|c, a| {
            let f = arg(c, a, 0)?;
            Ok(RetCode(pcv::handle(c, &f)))
        }),
        FnExport::new(
            "contact_param_encode",
            &[K::Spve, K::Spve],
            ro,
            "replace the first Contact's URIs by saddr;pname=<base64url(uri)>",
        )
        .with(|c, a| {
            let (n, sa) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(contact::contact_param_encode(c, &n, &sa)))
        }),
        FnExport::new(
            "contact_param_decode",
            &[K::Spve],
            ro,
            "replace Contact URIs by the base64url-decoded value of their pname parameter",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(contact::contact_param_decode(c, &n)))
        }),
        FnExport::new(
            "contact_param_decode_ruri",
            &[K::Spve],
            req,
            "replace the R-URI by the base64url-decoded value of its pname parameter",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(contact::contact_param_decode_ruri(c, &n)))
        }),
        FnExport::new(
            "contact_param_rm",
            &[K::Spve],
            ro,
            "remove the parameter from every Contact URI",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(contact::contact_param_rm(c, &n)))
        }),
        FnExport::new(
            "contact_param_check",
            &[K::Spve],
            any,
            "true when a Contact URI has the parameter",
        )
        .with(|c, a| {
            let n = arg(c, a, 0)?;
            Ok(RetCode(contact::contact_param_check(c, &n)))
        }),
        FnExport::new(
            "hdr_date_check",
            &[K::IntOrVar],
            any,
            "true when the Date header is not older than now - tdiff seconds",
        )
        .with(|c, a| {
            let d = a
                .first()
                .ok_or_else(|| Error::Runtime("missing parameter".into()))?
                .int(c)?;
            Ok(RetCode(hdr_date_check(c, d, strs::now())))
        }),
        FnExport::new(
            "sip_parse_headers",
            &[],
            any,
            "true when every header parses",
        )
        .with(|c, _| Ok(RetCode::from_bool(c.msg.parse_all_headers().is_ok()))),
    ];
    let str_param =
        |name: &'static str, doc: &'static str| ModParam::new(name, ModParamType::Str, doc);
    m.params = vec![
        str_param("options_accept", "Accept of options_reply (default */*)"),
        str_param(
            "options_accept_encoding",
            "Accept-Encoding of options_reply (default empty)",
        ),
        str_param(
            "options_accept_language",
            "Accept-Language of options_reply (default en)",
        ),
        str_param(
            "options_support",
            "Supported of options_reply (default empty)",
        ),
        str_param(
            "contact_flds_separator",
            "first character separates the fields of encode_contact (default *)",
        ),
        str_param(
            "rpid_prefix",
            "text before the RPID value in Remote-Party-ID",
        ),
        str_param(
            "rpid_suffix",
            "text after the RPID value in Remote-Party-ID",
        ),
        str_param(
            "rpid_avp",
            "AVP holding the RPID value (default $avp(s:rpid))",
        )
        .check(|v| match v {
            ModValue::Str(s) => parse_avp_name(s).map(|_| ()),
            ModValue::Int(_) => Err("needs a string".into()),
        }),
        ModParam::new(
            "e164_max_len",
            ModParamType::Int,
            "longest E.164 number, + included (default 16)",
        )
        .check(|v| match v {
            ModValue::Int(i) if *i > 2 => Ok(()),
            _ => Err("must be above 2".into()),
        }),
    ];
    m.pvs = vec![pcv_export()];
    let c = Arc::clone(&cfg);
    m.init = Some(Arc::new(move |ictx| {
        let mut conf = SiputilsConfig {
            sl: SlReply::bind(ictx, "siputils")?,
            ..SiputilsConfig::default()
        };
        for (n, v) in ictx.modparams() {
            match (*n, v) {
                ("options_accept", ModValue::Str(s)) => conf.accept = s.clone(),
                ("options_accept_encoding", ModValue::Str(s)) => conf.accept_encoding = s.clone(),
                ("options_accept_language", ModValue::Str(s)) => conf.accept_language = s.clone(),
                ("options_support", ModValue::Str(s)) => conf.support = s.clone(),
                ("rpid_prefix", ModValue::Str(s)) => conf.rpid_prefix = s.clone(),
                ("contact_flds_separator", ModValue::Str(s)) => {
                    if let Some(b) = s.bytes().next() {
                        conf.separator = b;
                    }
                }
                ("rpid_suffix", ModValue::Str(s)) => conf.rpid_suffix = s.clone(),
                ("rpid_avp", ModValue::Str(s)) => {
                    conf.rpid_avp = parse_avp_name(s).map_err(Error::Config)?;
                }
                ("e164_max_len", ModValue::Int(i)) => {
                    conf.e164_max_len = usize::try_from(*i).unwrap_or(16);
                }
                _ => {}
            }
        }
        c.set(conf)
            .map_err(|_| Error::Init("siputils initialised twice".into()))
    }));
    m
}

/// `options_reply()`: -1 for a non-OPTIONS request or an R-URI with a user; else a 200 with
/// Accept, Accept-Encoding, Accept-Language and Supported (1), or -1 when sending fails.
pub fn options_reply(ctx: &mut Ctx<'_>, conf: &SiputilsConfig) -> i64 {
    if ctx.msg.method() != Some(Method::Options) {
        ctx.log_error("called for non-OPTIONS request");
        return -1;
    }
    let ruri = ctx.ruri();
    let Some(u) = uriops::parse(&ruri) else {
        ctx.log_error("ERROR while parsing the R-URI");
        return -1;
    };
    if u.user.is_some_and(|s| !s.is_empty()) {
        ctx.log_error("ruri contains username");
        return -1;
    }
    let hdrs = format!(
        "Accept: {}\r\nAccept-Encoding: {}\r\nAccept-Language: {}\r\nSupported: {}\r\n",
        conf.accept, conf.accept_encoding, conf.accept_language, conf.support
    );
    crate::sl::reply_lumps::add_header(ctx, hdrs.as_bytes());
    if conf.sl.send_reply(ctx, 200, b"OK", &[]) == -1 {
        ctx.log_error("failed to send 200 via send_reply");
        return -1;
    }
    1
}

/// Kamailio's `is_user`: the credentials an auth function marked as authorized (Authorization,
/// else Proxy-Authorization), their username's user part compared byte for byte. Without marked
/// credentials (no auth function ran, or none found any) an error is logged and -1 returned.
pub fn is_user(ctx: &mut Ctx<'_>, user: &[u8]) -> i64 {
    match crate::auth::authorized_user(ctx) {
        None => {
            ctx.log_error("no authorized credentials found (error in scripts)");
            -1
        }
        Some(u) if u.is_empty() => -1,
        Some(u) if u == user => 1,
        Some(_) => -1,
    }
}

/// `has_totag()`: 1 when the To header has a non-empty tag, else -1.
pub fn has_totag(ctx: &mut Ctx<'_>) -> i64 {
    match ctx.msg.to() {
        Ok(t) if t.tag.is_some_and(|s| !s.is_empty()) => 1,
        Ok(_) => -1,
        Err(_) => {
            ctx.log_error("To parsing failed");
            -1
        }
    }
}

/// `uri_param(name[, value])`: the first R-URI parameter named `name` (case-sensitive, as
/// Kamailio) decides: without `value` it must have no value, with one it must equal it.
pub fn uri_param(ctx: &mut Ctx<'_>, name: &[u8], value: Option<&[u8]>) -> i64 {
    let Some((u, params)) = ruri_params(ctx, false) else {
        ctx.log_error("ruri parsing failed");
        return -1;
    };
    for (n, v) in strs::split_params(&u, params) {
        if n == name {
            let ok = match value {
                Some(want) => v.unwrap_or_default() == want,
                None => v.is_none_or(|x| x.is_empty()),
            };
            return if ok { 1 } else { -1 };
        }
    }
    -1
}

/// `uri_param_any(name)`: 1 when the R-URI has the parameter (name case-insensitive).
pub fn uri_param_any(ctx: &mut Ctx<'_>, name: &[u8]) -> i64 {
    let Some((u, params)) = ruri_params(ctx, true) else {
        return -1;
    };
    let found = strs::split_params(&u, params)
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(name));
    if found {
        1
    } else {
        -1
    }
}

/// `add_uri_param(param)`: `;param` at the end of the R-URI, or before its `?headers`.
pub fn add_uri_param(ctx: &mut Ctx<'_>, param: &[u8]) -> i64 {
    if param.is_empty() {
        return 1;
    }
    let ruri = ctx.ruri();
    let Some(u) = uriops::parse(&ruri) else {
        ctx.log_error("ruri parsing failed");
        return -1;
    };
    let mut out;
    match u.headers {
        None => {
            out = ruri.clone();
            out.push(b';');
            out.extend_from_slice(param);
        }
        Some(h) => {
            // Kamailio rebuilds the URI as sip:[user[:pass]@]host[:port]params;param?headers.
            out = b"sip:".to_vec();
            if let Some(user) = u.user.filter(|s| !s.is_empty()) {
                out.extend_from_slice(user.of(&ruri));
                if let Some(p) = u.password.filter(|s| !s.is_empty()) {
                    out.push(b':');
                    out.extend_from_slice(p.of(&ruri));
                }
                out.push(b'@');
            }
            out.extend_from_slice(u.host.of(&ruri));
            if let Some(p) = u.port_span.filter(|s| !s.is_empty()) {
                out.push(b':');
                out.extend_from_slice(p.of(&ruri));
            }
            if !u.params.is_empty() {
                out.push(b';');
                out.extend_from_slice(u.params.of(&ruri));
            }
            out.push(b';');
            out.extend_from_slice(param);
            out.push(b'?');
            out.extend_from_slice(h.of(&ruri));
        }
    }
    ctx.state.new_uri = Some(out);
    1
}

/// `uri_param_rm(name)`: removes the first parameter of that name (case-insensitive); 1 also when
/// there was none.
pub fn uri_param_rm(ctx: &mut Ctx<'_>, name: &[u8]) -> i64 {
    let ruri = ctx.ruri();
    let Some(u) = uriops::parse(&ruri) else {
        ctx.log_error("failed to parse r-uri");
        return -1;
    };
    let span = if !u.sip_params.is_empty() {
        u.sip_params
    } else {
        u.params
    };
    let Some((start, end)) = strs::param_range(&ruri, span, name) else {
        return 1;
    };
    let mut out = ruri.get(..start).unwrap_or_default().to_vec();
    out.extend_from_slice(ruri.get(end..).unwrap_or_default());
    ctx.state.new_uri = Some(out);
    1
}

/// `is_first_hop([mode])`: a request is first hop with a single Via; a reply when its top
/// Record-Route is ours (mode 0: an IP address that is not the sender's; mode 1: a host name
/// too) or when it has none.
pub fn is_first_hop(ctx: &mut Ctx<'_>, mode: i64) -> i64 {
    if ctx.msg.is_request() {
        return match ctx.msg.via2() {
            Ok(Some(_)) => -1,
            _ => 1,
        };
    }
    if ctx.msg.parse_all_headers().is_err() {
        return -1;
    }
    let top = match ctx.msg.record_routes() {
        Ok(r) => r.first().map(|e| e.addr.uri),
        Err(_) => return -1,
    };
    let Some(span) = top else {
        return 1;
    };
    let buf = ctx.msg.buf().to_vec();
    let Ok(u) = Uri::parse(&buf, span) else {
        return -1;
    };
    let host = u.host.of(&buf);
    let ip = strs::host_ip(host);
    if mode == 0 && ip.is_none() {
        return -1;
    }
    let proto = u
        .transport
        .and_then(|t| t.value)
        .and_then(|t| ferrosip_api::Proto::from_name(t.of(&buf)));
    if !ctx.server.is_myself(host, u.port.unwrap_or(0), proto) {
        return -1;
    }
    if mode == 0 {
        let src = ctx.rcv.src;
        let same_port = u.port.map_or(src.port() == 5060, |p| p == src.port());
        let same_proto = proto.map_or(ctx.rcv.proto == ferrosip_api::Proto::Udp, |p| {
            p == ctx.rcv.proto
        });
        if ip == Some(src.ip()) && same_port && same_proto {
            return -1; // a loop through ourselves
        }
    }
    1
}

/// `is_supported(option)`: 1 when a Supported header lists the option tag.
pub fn is_supported(ctx: &mut Ctx<'_>, option: &[u8]) -> i64 {
    let buf = ctx.msg.buf();
    match ctx.msg.supported() {
        Ok(tags) if tags.iter().any(|t| t.of(buf).eq_ignore_ascii_case(option)) => 1,
        _ => -1,
    }
}

/// `hdr_date_check(tdiff)`: 1 when the Date header is at most `tdiff` seconds old at `now`; -1
/// without (parsable) Date, -4 when outdated.
pub fn hdr_date_check(ctx: &mut Ctx<'_>, tdiff: i64, now: i64) -> i64 {
    let d = match ctx.msg.date() {
        Ok(Some(d)) => d,
        Ok(None) => {
            ctx.log_error("Date header field is not found");
            return -1;
        }
        Err(_) => {
            ctx.log_error("failed parsing Date header");
            return -1;
        }
    };
    let t = strs::timegm(
        i64::from(d.year),
        i64::from(d.month),
        i64::from(d.day),
        i64::from(d.hour),
        i64::from(d.minute),
        i64::from(d.second),
    );
    if now > t.saturating_add(tdiff) {
        ctx.log_error(&format!(
            "outdated date header value ({} sec)",
            now - t + tdiff
        ));
        return -4;
    }
    1
}

/// `append_rpid_hf`: `Remote-Party-ID: <prefix><value><suffix>` appended after the last header;
/// -1 without the AVP (or with `rpid_avp` unset).
pub fn append_rpid(ctx: &mut Ctx<'_>, conf: &SiputilsConfig, prefix: &[u8], suffix: &[u8]) -> i64 {
    let Some(rpid) = rpid_value(ctx, conf) else {
        return -1;
    };
    let Ok(eoh) = ctx.msg.headers_end() else {
        return -1;
    };
    let mut h = b"Remote-Party-ID: ".to_vec();
    h.extend_from_slice(prefix);
    h.extend_from_slice(&rpid);
    h.extend_from_slice(suffix);
    h.extend_from_slice(b"\r\n");
    match ctx.edits.insert_at(eoh, &h) {
        Ok(_) => 1,
        Err(e) => {
            ctx.log_error(&format!("cannot append Remote-Party-ID: {e}"));
            -1
        }
    }
}

/// `is_rpid_user_e164()`: the URI in the RPID AVP (a name-addr or a bare URI) has an E.164 user.
pub fn is_rpid_user_e164(ctx: &mut Ctx<'_>, conf: &SiputilsConfig) -> i64 {
    let Some(rpid) = rpid_value(ctx, conf) else {
        return -1;
    };
    let uri = strs::nameaddr_uri(&rpid);
    let Some(u) = uriops::parse(uri) else {
        ctx.log_error("failed to parse RPID URI");
        return -1;
    };
    let user = u.user.map(|s| s.of(uri)).unwrap_or_default();
    strs::e164(user, conf.e164_max_len)
}

// ---- internals ----

fn config(c: &OnceLock<SiputilsConfig>) -> &SiputilsConfig {
    static DEFAULT: OnceLock<SiputilsConfig> = OnceLock::new();
    c.get()
        .unwrap_or_else(|| DEFAULT.get_or_init(SiputilsConfig::default))
}

fn arg(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<Vec<u8>, Error> {
    Ok(a.get(i)
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .bytes(ctx))
}

/// The string value of the variable parameter; `None` when it is not a (non-empty) string.
fn var_str(ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<Option<Vec<u8>>, Error> {
    let v = a
        .first()
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .value(ctx);
    Ok(match v {
        Value::Str(s) if !s.is_empty() => Some(s),
        Value::Str(_) => None,
        _ => {
            ctx.log_error("pseudo variable value is not string");
            None
        }
    })
}

fn string_check(name: &'static str, doc: &'static str, f: fn(&[u8]) -> i64) -> FnExport {
    FnExport::new(name, &[K::Spve], RouteMask::ANY, doc).with(move |c, a| {
        let v = arg(c, a, 0)?;
        Ok(RetCode(f(&v)))
    })
}

fn set_uri(name: &'static str, part: Part, doc: &'static str) -> FnExport {
    // Both parameters are variables in Kamailio (`fixup_set_uri`); the value must be a string.
    FnExport::new(name, &[K::VarW, K::Var], RouteMask::ANY, doc)
        .fixup(|a| match a.first() {
            Some(Arg::Var(p)) if p.is_writable() => Ok(()),
            _ => Err("the first parameter must be a writable variable".into()),
        })
        .with(move |c, a| {
            let Some(Arg::Var(p)) = a.first() else {
                return Err(Error::Runtime("missing variable".into()));
            };
            let p = p.clone();
            let uri = match p.get(c) {
                Value::Str(u) if !u.is_empty() => u,
                _ => {
                    c.log_error("missing uri value");
                    return Ok(RetCode::FALSE);
                }
            };
            let v = match a.get(1).map(|x| x.value(c)) {
                Some(Value::Str(v)) => v,
                _ => {
                    c.log_error("value is not a string");
                    return Ok(RetCode::FALSE);
                }
            };
            let new = uriops::rewrite(&uri, part, Some(&v))?;
            p.set(c, Value::Str(new))?;
            Ok(RetCode::TRUE)
        })
}

/// The current R-URI and the span of its parameters (`sip_params` when `sip` and non-empty).
fn ruri_params(ctx: &Ctx<'_>, sip: bool) -> Option<(Vec<u8>, ferrosip_sipmsg::Span)> {
    let ruri = ctx.ruri();
    let u = uriops::parse(&ruri)?;
    let span = if sip && !u.sip_params.is_empty() {
        u.sip_params
    } else {
        u.params
    };
    Some((ruri, span))
}

/// The value of the first parameter named exactly `name` (empty when it has none).
fn find_param(uri: &[u8], span: ferrosip_sipmsg::Span, name: &[u8]) -> Option<Vec<u8>> {
    strs::split_params(uri, span)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.unwrap_or_default().to_vec())
}

fn rpid_value(ctx: &Ctx<'_>, conf: &SiputilsConfig) -> Option<Vec<u8>> {
    let id = conf.rpid_avp.as_ref()?;
    // Kamailio's search_first_avp: the newest value of the first list holding the name.
    match id
        .found(&ctx.state.avps)
        .and_then(|(_, v)| v.first())
        .map(|v| &v.value)
    {
        Some(Value::Str(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `$avp(rpid)`, `$avp(s:rpid)`, `$avp(i:5)`, `$avp(t.rpid)`, `$avp(fu.rpid)` … → the AVP the
/// script's `$avp(…)` of the same spelling reads (`AvpIdent::parse`); empty → `None` (RPID
/// functions disabled). Kamailio accepts only an AVP; a name built at run time is refused.
fn parse_avp_name(s: &str) -> Result<Option<AvpIdent>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    let inner = t
        .strip_prefix("$avp(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("malformed or non AVP {s} AVP definition (rpid_avp)"))?;
    if inner.contains(['$', '(', ')']) {
        return Err(format!(
            "unsupported rpid_avp \"{s}\" (a constant AVP name is needed)"
        ));
    }
    AvpIdent::parse(inner)
        .map(Some)
        .map_err(|e| format!("rpid_avp \"{s}\": {e}"))
}

fn pcv_export() -> PvExport {
    PvExport {
        name: "pcv",
        doc: "P-Charging-Vector: all, value, genaddr, orig, term, status",
        inner: ferrosip_api::PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(|name, _| {
            let f =
                pcv::Field::from_name(name).ok_or_else(|| format!("unknown pcv name {name}"))?;
            Ok(ferrosip_api::pv::PvInner::Custom(Arc::new(f)))
        })),
        get: Arc::new(|c, n| {
            let f = match &n.inner {
                ferrosip_api::pv::PvInner::Custom(x) => x.downcast_ref::<pcv::Field>().copied(),
                _ => None,
            };
            Ok(f.map_or(Value::Null, |f| pcv::get(c, f)))
        }),
        set: None,
    }
}

//! Kamailio's `textops` module: searching and editing the message text (headers, body, whole
//! message) with POSIX regular expressions and plain strings, sed-style substitutions, reply
//! headers and bodies, and string tests (`cmp_str`, `in_list`, `str_find` …), plus the `{re.subst}`
//! transformation.
//!
//! Every edit is recorded in the context's edit list against the received bytes ("the script sees
//! the original message until `msg_apply_changes()`"); the outgoing buffer applies them. Searches
//! therefore always look at the received message, as in Kamailio.
//!
//! Layout: this file holds the export table and the string tests; [`re`] the regex flavours and
//! `/re/repl/flags` expressions; [`ops`] the message edits.
//!
//! Refused at load (see docs/modules-1.md): variables inside `subst*` replacements.

pub mod multipart;
pub mod ops;
pub mod re;

use std::sync::Arc;

use ferrosip_api::export::{Arg, FnExport, ParamKind as K, TransformExport};
use ferrosip_api::{Ctx, Error, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::Method;

use self::re::{Re, Subst};

/// The `textops` export table.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("textops");
    let any = RouteMask::ANY;
    let rfb = RouteMask::REQUEST
        .or(RouteMask::FAILURE)
        .or(RouteMask::BRANCH);
    let rofb = rfb.or(RouteMask::ONREPLY);
    let f = FnExport::new;
    m.functions = vec![
        // --- searching and replacing (regex parameters compiled at load, case-insensitive) ---
        f("search", &[K::Str], any, "true if the regex matches the message").fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| Ok(RetCode(ops::search(ctx, re(a, 0)?)))),
        f("search_body", &[K::Str], any, "true if the regex matches the body").fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| Ok(RetCode(ops::search_body(ctx, re(a, 0)?)))),
        f("search_str", &[K::Spve, K::Spve], any, "true if the regex (2nd) matches the text (1st)")
            .with(|ctx, a| {
                let (t, r) = (s(ctx, a, 0), s(ctx, a, 1));
                Ok(RetCode(match Re::textops(&String::from_utf8_lossy(&r)) {
                    Ok(re) => if re.is_match(re::c_str(&t)) { 1 } else { -1 },
                    Err(e) => { ctx.log_error(&e); -1 }
                }))
            }),
        f("search_hf", &[K::Str, K::Str, K::Str], any, "true if the regex matches the body of a header (flags f=first, l=last, else all)")
            .fixup(|a| regex_at(a, &[1]))
            .with(|ctx, a| {
                let name = s(ctx, a, 0);
                let flags = s(ctx, a, 2);
                Ok(RetCode(ops::search_hf(ctx, &name, re(a, 1)?, &flags)))
            }),
        f("search_append", &[K::Str, K::Str], any, "add text after the first match in the message (after the first line)")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::search_append(ctx, re(a, 0)?, &t, ops::Area::Msg)?)) }),
        f("search_append_body", &[K::Str, K::Str], any, "add text after the first match in the body")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::search_append(ctx, re(a, 0)?, &t, ops::Area::Body)?)) }),
        f("replace", &[K::Str, K::Str], any, "replace the first match (after the first line)")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::Msg, false)?)) }),
        f("replace_body", &[K::Str, K::Str], any, "replace the first match in the body")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::Body, false)?)) }),
        f("replace_hdrs", &[K::Str, K::Str], any, "replace the first match in the header section")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::Headers, false)?)) }),
        f("replace_all", &[K::Str, K::Str], any, "replace every match (after the first line)")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::Msg, true)?)) }),
        f("replace_body_all", &[K::Str, K::Str], any, "replace every match in the body")
            .fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::Body, true)?)) }),
        f("replace_body_atonce", &[K::Str, K::Str], any, "replace every match in the body, the regex without REG_NEWLINE")
            .fixup(|a| { if let Some(x) = a.first_mut() { if let Arg::Str(p) = x { *x = Re::compile(&String::from_utf8_lossy(p), true, false)?.into_arg(); } } Ok(()) })
            .with(|ctx, a| { let t = s(ctx, a, 1); Ok(RetCode(ops::replace(ctx, re(a, 0)?, &t, ops::Area::BodyAtOnce, true)?)) }),
        f("replace_str", &[K::Spve, K::Spve, K::Spve], any, "replace a string (mode f=first, a=all) after the first line")
            .with(|ctx, a| { let (x, y, z) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(ops::replace_str(ctx, &x, &y, &z, ops::Area::Msg)?)) }),
        f("replace_body_str", &[K::Spve, K::Spve, K::Spve], any, "replace a string in the body")
            .with(|ctx, a| { let (x, y, z) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(ops::replace_str(ctx, &x, &y, &z, ops::Area::Body)?)) }),
        f("replace_hdrs_str", &[K::Spve, K::Spve, K::Spve], any, "replace a string in the header section")
            .with(|ctx, a| { let (x, y, z) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(ops::replace_str(ctx, &x, &y, &z, ops::Area::Headers)?)) }),
        // --- substitutions ---
        f("subst", &[K::Str], any, "sed-style /re/repl/flags on the message after the first line")
            .fixup(|a| subst_at(a, 0)).with(|ctx, a| Ok(RetCode(ops::subst(ctx, subst(a, 0)?, ops::Area::Msg)?))),
        f("subst_uri", &[K::Str], rofb, "sed-style substitution on the R-URI")
            .fixup(|a| subst_at(a, 0)).with(|ctx, a| Ok(RetCode(ops::subst_uri(ctx, subst(a, 0)?)))),
        f("subst_user", &[K::Str], rofb, "sed-style substitution on the user part of the R-URI")
            .fixup(|a| subst_at(a, 0)).with(|ctx, a| Ok(RetCode(ops::subst_user(ctx, subst(a, 0)?)))),
        f("subst_body", &[K::Str], any, "sed-style substitution on the body")
            .fixup(|a| subst_at(a, 0)).with(|ctx, a| Ok(RetCode(ops::subst(ctx, subst(a, 0)?, ops::Area::Body)?))),
        f("subst_hf", &[K::Str, K::Str, K::Str], any, "sed-style substitution on header bodies (flags f=first, l=last, a=all)")
            .fixup(|a| subst_at(a, 1))
            .with(|ctx, a| { let (n, fl) = (s(ctx, a, 0), s(ctx, a, 2)); Ok(RetCode(ops::subst_hf(ctx, &n, subst(a, 1)?, &fl)?)) }),
        f("subst_v", &[K::Spve, K::Spve, K::VarW], any, "sed-style substitution on a text, result into a variable")
            .with(|ctx, a| {
                let (t, e) = (s(ctx, a, 0), s(ctx, a, 1));
                let se = match Subst::parse(&String::from_utf8_lossy(&e)) { Ok(x) => x, Err(m) => { ctx.log_error(&m); return Ok(RetCode::FALSE); } };
                let ruri = ctx.ruri();
                let Some(out) = se.apply(&t, &ruri) else { return Ok(RetCode::FALSE) };
                set_var(ctx, a.get(2), Value::Str(out))?;
                Ok(RetCode::TRUE)
            }),
        // --- bodies ---
        f("set_body", &[K::Spve, K::Spve], rofb, "replace the body and its Content-Type")
            .with(|ctx, a| { let (b, t) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(ops::set_body(ctx, &b, &t)?)) }),
        f("set_body_hex", &[K::Spve, K::Spve], rofb, "set_body with a hex-encoded body")
            .with(|ctx, a| { let (b, t) = (s(ctx, a, 0), s(ctx, a, 1)); let Some(b) = unhex(&b) else { ctx.log_error("invalid hex body"); return Ok(RetCode::FALSE) }; Ok(RetCode(ops::set_body(ctx, &b, &t)?)) }),
        f("set_reply_body", &[K::Spve, K::Spve], rfb, "body and Content-Type for local replies to this request")
            .with(|ctx, a| { let (b, t) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(ops::set_reply_body(ctx, &b, &t))) }),
        f("set_reply_body_hex", &[K::Spve, K::Spve], rfb, "set_reply_body with a hex-encoded body")
            .with(|ctx, a| { let (b, t) = (s(ctx, a, 0), s(ctx, a, 1)); let Some(b) = unhex(&b) else { ctx.log_error("invalid hex body"); return Ok(RetCode::FALSE) }; Ok(RetCode(ops::set_reply_body(ctx, &b, &t))) }),
        f("filter_body", &[K::Str], any, "keep only the content of the first part of that type of a multipart/mixed body")
            .with(|ctx, a| { let t = s(ctx, a, 0); Ok(RetCode(multipart::filter_body(ctx, &t)?)) }),
        f("set_body_multipart", &[], rfb, "turn the body into multipart/mixed (old body as the part)")
            .with(|ctx, _| Ok(RetCode(multipart::set_multipart(ctx, b"", b"", b"")?))),
        f("set_body_multipart", &[K::Spve], rfb, "turn the body into multipart/mixed with this boundary")
            .with(|ctx, a| { let b = s(ctx, a, 0); Ok(RetCode(multipart::set_multipart(ctx, b"", b"", &b)?)) }),
        f("set_body_multipart", &[K::Spve, K::Spve], rfb, "multipart/mixed body with this part (text, type)")
            .with(|ctx, a| { let (t, c) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(multipart::set_multipart(ctx, &t, &c, b"")?)) }),
        f("set_body_multipart", &[K::Spve, K::Spve, K::Spve], rfb, "multipart/mixed body with this part and boundary")
            .with(|ctx, a| { let (t, c, b) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(multipart::set_multipart(ctx, &t, &c, &b)?)) }),
        f("append_body_part", &[K::Spve, K::Spve], rfb, "add a part to a multipart/mixed body")
            .with(|ctx, a| { let (t, c) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(multipart::append_part(ctx, &t, &c, b"")?)) }),
        f("append_body_part", &[K::Spve, K::Spve, K::Spve], rfb, "add a part with a Content-Disposition")
            .with(|ctx, a| { let (t, c, d) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(multipart::append_part(ctx, &t, &c, &d)?)) }),
        f("append_body_part_hex", &[K::Spve, K::Spve], rfb, "append_body_part with a hex-encoded text")
            .with(|ctx, a| { let (t, c) = (s(ctx, a, 0), s(ctx, a, 1)); let Some(t) = unhex(&t) else { return Ok(RetCode::FALSE) }; Ok(RetCode(multipart::append_part(ctx, &t, &c, b"")?)) }),
        f("append_body_part_hex", &[K::Spve, K::Spve, K::Spve], rfb, "append_body_part_hex with a Content-Disposition")
            .with(|ctx, a| { let (t, c, d) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); let Some(t) = unhex(&t) else { return Ok(RetCode::FALSE) }; Ok(RetCode(multipart::append_part(ctx, &t, &c, &d)?)) }),
        f("remove_body_part", &[K::Spve], rfb, "remove the part of that content type (through its boundary line)")
            .with(|ctx, a| { let t = s(ctx, a, 0); Ok(RetCode(multipart::remove_part(ctx, &t)?)) }),
        f("get_body_part", &[K::Spve, K::VarW], rofb, "content of the part of that type into a variable (whole body without boundary)")
            .with(|ctx, a| { let t = s(ctx, a, 0); let v = multipart::part(ctx, &t, multipart::PartMode::Content); Ok(RetCode(multipart::store(ctx, v, a.get(1))?)) }),
        f("get_body_part_raw", &[K::Spve, K::VarW], rofb, "the part of that type with its Content-Type line and boundary line")
            .with(|ctx, a| { let t = s(ctx, a, 0); let v = multipart::part(ctx, &t, multipart::PartMode::Raw); Ok(RetCode(multipart::store(ctx, v, a.get(1))?)) }),
        f("has_body", &[], any, "true if Content-Length is present and not 0")
            .with(|ctx, _| Ok(RetCode(ops::has_body(ctx, None)))),
        f("has_body", &[K::Str], any, "has_body and the Content-Type (type/subtype) is the given one")
            .fixup(|a| match a.first() { Some(Arg::Str(t)) if t.contains(&b'/') => Ok(()), _ => Err("content type must be type/subtype".into()) })
            .with(|ctx, a| { let t = s(ctx, a, 0); Ok(RetCode(ops::has_body(ctx, Some(&t)))) }),
        f("is_audio_on_hold", &[], any, "true if an SDP audio stream is on hold (sendonly/inactive or 0.0.0.0)")
            .with(|ctx, _| Ok(RetCode(ops::is_audio_on_hold(ctx)))),
        // --- replies ---
        f("append_to_reply", &[K::Spve], rfb, "add a header to local replies to this request")
            .with(|ctx, a| { let t = s(ctx, a, 0); if t.is_empty() { return Ok(RetCode::FALSE) } crate::sl::reply_lumps::add_header(ctx, &t); Ok(RetCode::TRUE) }),
        f("append_time", &[], rfb, "add a Date header (now, GMT) to local replies")
            .with(|ctx, _| { let d = ops::date_header(std::time::SystemTime::now()); crate::sl::reply_lumps::add_header(ctx, d.as_bytes()); Ok(RetCode::TRUE) }),
        f("append_time_to_request", &[], any, "add a Date header (now, GMT) after the first header of the request")
            .with(|ctx, _| Ok(RetCode(ops::append_time_to_request(ctx, std::time::SystemTime::now())?))),
        // --- headers ---
        f("append_hf", &[K::Spve], any, "add a header after the last one")
            .with(|ctx, a| { let t = s(ctx, a, 0); Ok(RetCode(ops::add_hf(ctx, &t, None, ops::Mode::Append)?)) }),
        f("append_hf", &[K::Spve, K::Str], any, "add a header after the last header with the given name")
            .with(|ctx, a| { let (t, n) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(ops::add_hf(ctx, &t, Some(&n), ops::Mode::Append)?)) }),
        f("insert_hf", &[K::Spve], any, "add a header before the first one")
            .with(|ctx, a| { let t = s(ctx, a, 0); Ok(RetCode(ops::add_hf(ctx, &t, None, ops::Mode::Insert)?)) }),
        f("insert_hf", &[K::Spve, K::Str], any, "add a header before the first header with the given name")
            .with(|ctx, a| { let (t, n) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(ops::add_hf(ctx, &t, Some(&n), ops::Mode::Insert)?)) }),
        f("append_urihf", &[K::Str, K::Str], rfb, "add a header: prefix, the received R-URI, suffix")
            .with(|ctx, a| {
                let (p, x) = (s(ctx, a, 0), s(ctx, a, 1));
                let mut t = p;
                t.extend_from_slice(ctx.original_ruri());
                t.extend_from_slice(&x);
                Ok(RetCode(ops::add_hf(ctx, &t, None, ops::Mode::Append)?))
            }),
        f("is_present_hf", &[K::Str], any, "true if a header with this name exists")
            .with(|ctx, a| { let n = s(ctx, a, 0); Ok(RetCode(ops::is_present_hf(ctx, &n))) }),
        f("is_present_hf_pv", &[K::Spve], any, "is_present_hf with a variable name")
            .with(|ctx, a| { let n = s(ctx, a, 0); Ok(RetCode(ops::is_present_hf(ctx, &n))) }),
        f("is_present_hf_re", &[K::Str], any, "true if a header name matches the regex").fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| Ok(RetCode(ops::is_present_hf_re(ctx, re(a, 0)?)))),
        f("is_present_hf_re_pv", &[K::Spve], any, "is_present_hf_re with a variable regex")
            .with(|ctx, a| { let r = s(ctx, a, 0); Ok(RetCode(match rt_re(ctx, &r) { Some(r) => ops::is_present_hf_re(ctx, &r), None => -1 })) }),
        f("remove_hf", &[K::Str], any, "remove every header with this name")
            .with(|ctx, a| { let n = s(ctx, a, 0); Ok(RetCode(ops::remove_hf(ctx, &n)?)) }),
        f("remove_hf_pv", &[K::Spve], any, "remove_hf with a variable name")
            .with(|ctx, a| { let n = s(ctx, a, 0); Ok(RetCode(ops::remove_hf(ctx, &n)?)) }),
        f("remove_hf_re", &[K::Str], any, "remove every header whose name matches the regex").fixup(|a| regex_at(a, &[0]))
            .with(|ctx, a| Ok(RetCode(ops::remove_hf_exp(ctx, re(a, 0)?, None)?))),
        f("remove_hf_re_pv", &[K::Spve], any, "remove_hf_re with a variable regex")
            .with(|ctx, a| { let r = s(ctx, a, 0); match rt_re(ctx, &r) { Some(r) => Ok(RetCode(ops::remove_hf_exp(ctx, &r, None)?)), None => Ok(RetCode::FALSE) } }),
        f("remove_hf_exp", &[K::Str, K::Str], any, "remove headers whose name matches the first regex and not the second").fixup(|a| regex_at(a, &[0, 1]))
            .with(|ctx, a| { let skip = re(a, 1)?; Ok(RetCode(ops::remove_hf_exp(ctx, re(a, 0)?, Some(skip))?)) }),
        f("remove_hf_exp_pv", &[K::Spve, K::Spve], any, "remove_hf_exp with variable regexes")
            .with(|ctx, a| {
                let (x, y) = (s(ctx, a, 0), s(ctx, a, 1));
                match (rt_re(ctx, &x), rt_re(ctx, &y)) { (Some(m), Some(k)) => Ok(RetCode(ops::remove_hf_exp(ctx, &m, Some(&k))?)), _ => Ok(RetCode::FALSE) }
            }),
        f("remove_hf_idx", &[K::Spve, K::IntOrVar], any, "remove the header of this name at the index (negative: from the end)")
            .with(|ctx, a| { let n = s(ctx, a, 0); let i = int(ctx, a, 1)?; Ok(RetCode(ops::remove_hf_idx(ctx, &n, i)?)) }),
        f("remove_hf_match", &[K::Spve, K::Spve, K::Spve], any, "remove headers of this name whose body is eq/ne/in(contains)/re the expression")
            .with(|ctx, a| { let (n, o, e) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(ops::remove_hf_match(ctx, &n, &o, &e)?)) }),
        f("via_param_rm", &[K::Spve, K::IntOrVar], any, "remove a parameter from the Via at the index")
            .with(|ctx, a| { let n = s(ctx, a, 0); let i = int(ctx, a, 1)?; Ok(RetCode(ops::via_param_rm(ctx, &n, i)?)) }),
        // --- tests on the message ---
        f("is_method", &[K::Str], any, "true if the method (CSeq method for replies) is in the |-list")
            .fixup(method_fixup)
            .with(|ctx, a| Ok(RetCode(is_method(ctx, a.first())))),
        f("is_privacy", &[K::Str], any, "true if the Privacy header has the value (header, session, user, none, critical, id, history)")
            .fixup(|a| match a.first() { Some(Arg::Str(v)) if privacy_bit(v).is_some() => Ok(()), _ => Err("bad privacy value".into()) })
            .with(|ctx, a| { let v = s(ctx, a, 0); Ok(RetCode(ops::is_privacy(ctx, &v))) }),
        // --- string tests ---
        f("in_list", &[K::Spve, K::Spve, K::Str], any, "true if the subject is an item of the separated list")
            .fixup(sep_fixup)
            .with(|ctx, a| { let (x, l, sp) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(in_list(&x, &l, &sp, false))) }),
        f("in_list_prefix", &[K::Spve, K::Spve, K::Str], any, "true if an item of the list is a prefix of the subject")
            .fixup(sep_fixup)
            .with(|ctx, a| { let (x, l, sp) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2)); Ok(RetCode(in_list(&x, &l, &sp, true))) }),
        f("cmp_str", &[K::Spve, K::Spve], any, "1 if equal, -1 if the first is greater, -2 if smaller")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(cmp(&x, &y, false))) }),
        f("cmp_istr", &[K::Spve, K::Spve], any, "cmp_str ignoring ASCII case")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(cmp(&x, &y, true))) }),
        f("starts_with", &[K::Spve, K::Spve], any, "true if the first starts with the second")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(starts_with(&x, &y))) }),
        f("ends_with", &[K::Spve, K::Spve], any, "true if the first ends with the second")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(ends_with(&x, &y))) }),
        f("str_find", &[K::Spve, K::Spve], any, "1-based position of the second in the first, or -1")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(str_find(&x, &y, false))) }),
        f("str_ifind", &[K::Spve, K::Spve], any, "str_find ignoring ASCII case")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(str_find(&x, &y, true))) }),
        f("str_any_in", &[K::Spve, K::Spve], any, "true if any character of the second occurs in the first")
            .with(|ctx, a| { let (x, y) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode::from_bool(!x.is_empty() && x.iter().any(|c| y.contains(c)))) }),
        f("regex_substring", &[K::Spve, K::Spve, K::IntOrVar, K::IntOrVar, K::VarW], rofb, "store group N of the regex match in a variable")
            .with(|ctx, a| {
                let (t, r) = (s(ctx, a, 0), s(ctx, a, 1));
                let (idx, n) = (int(ctx, a, 2)?, int(ctx, a, 3)?);
                if idx > n - 1 { return Ok(RetCode::FALSE) }
                let re = match Re::compile(&String::from_utf8_lossy(&r), false, false) { Ok(x) => x, Err(e) => { ctx.log_error(&e); return Ok(RetCode::FALSE) } };
                let t = re::c_str(&t).to_vec();
                let Some(caps) = re.captures_at(&t, 0) else { return Ok(RetCode(-2)) };
                let Some(Some((st, en))) = usize::try_from(idx).ok().and_then(|i| caps.get(i).copied()) else { return Ok(RetCode::FALSE) };
                if st == en { return Ok(RetCode::FALSE) }
                set_var(ctx, a.get(4), Value::Str(t.get(st..en).unwrap_or_default().to_vec()))?;
                Ok(RetCode::TRUE)
            }),
    ];
    m.transforms = vec![TransformExport {
        class: "re",
        doc: "{re.subst,/re/repl/flags}: sed-style substitution on the value",
        parse: Arc::new(|text: &str, _reg: &ferrosip_api::Registry| {
            let expr = text
                .strip_prefix("subst,")
                .ok_or_else(|| format!("unknown re transformation `{text}`"))?;
            let se = Subst::parse(expr)?;
            Ok(Arc::new(move |ctx: &mut Ctx<'_>, v: Value| {
                let input = v.into_bytes();
                let ruri = ctx.ruri();
                Ok(Value::Str(se.apply(&input, &ruri).unwrap_or(input)))
            }))
        }),
    }];
    m
}

/// Kamailio's `in_list` / `in_list_prefix`: items split at the one-character separator, blanks
/// (space, tab, CR, LF) around items ignored.
pub fn in_list(subject: &[u8], list: &[u8], sep: &[u8], prefix: bool) -> i64 {
    let Some(&sep) = sep.first() else { return -1 };
    if subject.is_empty() || list.is_empty() {
        return -1;
    }
    let blank = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    for item in list.split(|c| *c == sep) {
        let start = item.iter().position(|c| !blank(c)).unwrap_or(item.len());
        let end = item
            .iter()
            .rposition(|c| !blank(c))
            .map_or(start, |e| e + 1);
        let item = item.get(start..end.max(start)).unwrap_or_default();
        let hit = if prefix {
            !item.is_empty() && subject.starts_with(item)
        } else {
            item == subject
        };
        if hit {
            return 1;
        }
    }
    -1
}

/// `cmp_str`/`cmp_istr`: 1 equal, -1 first greater, -2 first smaller (Kamailio's `cmp_str`
/// compares the common prefix, then the lengths).
pub fn cmp(a: &[u8], b: &[u8], icase: bool) -> i64 {
    let lower = |x: &[u8]| -> Vec<u8> { x.to_ascii_lowercase() };
    let (a, b) = if icase {
        (lower(a), lower(b))
    } else {
        (a.to_vec(), b.to_vec())
    };
    match a.cmp(&b) {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => -1,
        std::cmp::Ordering::Less => -2,
    }
}

/// `starts_with`: 1, or -1/-2 by the comparison of the prefix (as Kamailio's `strncmp`).
pub fn starts_with(a: &[u8], b: &[u8]) -> i64 {
    if a.len() < b.len() {
        return -1;
    }
    match a.get(..b.len()).unwrap_or_default().cmp(b) {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => -1,
        std::cmp::Ordering::Less => -2,
    }
}

/// `ends_with`: 1, or -1/-2 by the comparison of the suffix.
pub fn ends_with(a: &[u8], b: &[u8]) -> i64 {
    if a.len() < b.len() {
        return -1;
    }
    match a.get(a.len() - b.len()..).unwrap_or_default().cmp(b) {
        std::cmp::Ordering::Equal => 1,
        std::cmp::Ordering::Greater => -1,
        std::cmp::Ordering::Less => -2,
    }
}

/// `str_find`/`str_ifind`: 1-based position, -1 when absent.
pub fn str_find(hay: &[u8], needle: &[u8], icase: bool) -> i64 {
    if needle.len() > hay.len() {
        return -1;
    }
    if needle.is_empty() {
        return 1;
    }
    hay.windows(needle.len())
        .position(|w| {
            if icase {
                w.eq_ignore_ascii_case(needle)
            } else {
                w == needle
            }
        })
        .map_or(-1, |p| i64::try_from(p).unwrap_or(i64::MAX - 1) + 1)
}

/// The bit of a Privacy value (Kamailio's `parse_priv_value`).
pub fn privacy_bit(v: &[u8]) -> Option<u32> {
    use ferrosip_sipmsg::headers::misc::privacy as p;
    let values: [(&[u8], u8); 7] = [
        (b"user", p::USER),
        (b"header", p::HEADER),
        (b"session", p::SESSION),
        (b"none", p::NONE),
        (b"critical", p::CRITICAL),
        (b"id", p::ID),
        (b"history", p::HISTORY),
    ];
    values
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(v))
        .map(|(_, b)| u32::from(*b))
}

// ---- internals ----

/// A prepared `is_method` list: known methods as Kamailio's bits, or one extension name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MethodSet {
    Bits(i64),
    Name(Vec<u8>),
}

fn method_fixup(a: &mut [Arg]) -> Result<(), String> {
    let Some(x) = a.first_mut() else {
        return Ok(());
    };
    let Arg::Str(list) = x else { return Ok(()) };
    let names: Vec<&[u8]> = list.split(|c| *c == b'|').collect();
    let mut bits = 0i64;
    for n in &names {
        match Method::from_token(n) {
            Method::Other if names.len() == 1 && !n.is_empty() => {
                *x = Arg::Custom(Arc::new(MethodSet::Name(n.to_vec())));
                return Ok(());
            }
            Method::Other => {
                return Err(format!(
                    "unknown method `{}` in a method list",
                    String::from_utf8_lossy(n)
                ))
            }
            m => bits |= crate::xlog::method_bit_of(m),
        }
    }
    *x = Arg::Custom(Arc::new(MethodSet::Bits(bits)));
    Ok(())
}

fn is_method(ctx: &Ctx<'_>, a: Option<&Arg>) -> i64 {
    let Some(Arg::Custom(c)) = a else { return -1 };
    let Some(set) = c.downcast_ref::<MethodSet>() else {
        return -1;
    };
    let (method, token): (Method, &[u8]) = match ctx.msg.request_line() {
        Some(rl) => (rl.method, rl.method_span.of(ctx.msg.buf())),
        None => match ctx.msg.cseq() {
            Ok(c) => (c.method, c.method_span.of(ctx.msg.buf())),
            Err(_) => return -1,
        },
    };
    let hit = match set {
        MethodSet::Bits(b) => {
            method != Method::Other && crate::xlog::method_bit_of(method) & b != 0
        }
        MethodSet::Name(n) => method == Method::Other && token.eq_ignore_ascii_case(n),
    };
    if hit {
        1
    } else {
        -1
    }
}

fn sep_fixup(a: &mut [Arg]) -> Result<(), String> {
    match a.get(2) {
        Some(Arg::Str(s)) if s.len() == 1 => Ok(()),
        _ => Err("the separator must be one character".into()),
    }
}

/// Compiles the constant regexes at `idx` with textops' flags.
fn regex_at(a: &mut [Arg], idx: &[usize]) -> Result<(), String> {
    for &i in idx {
        if let Some(x) = a.get_mut(i) {
            if let Arg::Str(p) = x {
                *x = Re::textops(&String::from_utf8_lossy(p))?.into_arg();
            }
        }
    }
    Ok(())
}

fn subst_at(a: &mut [Arg], i: usize) -> Result<(), String> {
    if let Some(x) = a.get_mut(i) {
        if let Arg::Str(p) = x {
            *x = Arg::Custom(Arc::new(Subst::parse(&String::from_utf8_lossy(p))?));
        }
    }
    Ok(())
}

fn re(a: &[Arg], i: usize) -> Result<&Re, Error> {
    a.get(i)
        .and_then(Re::from_arg)
        .ok_or_else(|| Error::Runtime(format!("parameter {} is not a compiled regex", i + 1)))
}

fn subst(a: &[Arg], i: usize) -> Result<&Subst, Error> {
    match a.get(i) {
        Some(Arg::Custom(c)) => c
            .downcast_ref::<Subst>()
            .ok_or_else(|| Error::Runtime("not a subst expression".into())),
        _ => Err(Error::Runtime("not a subst expression".into())),
    }
}

/// A regex given at run time (the `_pv` variants): textops' flags; a bad one is logged.
fn rt_re(ctx: &mut Ctx<'_>, p: &[u8]) -> Option<Re> {
    match Re::textops(&String::from_utf8_lossy(p)) {
        Ok(r) => Some(r),
        Err(e) => {
            ctx.log_error(&e);
            None
        }
    }
}

pub(crate) fn s(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Vec<u8> {
    a.get(i).map(|x| x.bytes(ctx)).unwrap_or_default()
}

pub(crate) fn int(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<i64, Error> {
    a.get(i)
        .ok_or_else(|| Error::Runtime(format!("missing parameter {}", i + 1)))?
        .int(ctx)
}

pub(crate) fn set_var(ctx: &mut Ctx<'_>, a: Option<&Arg>, v: Value) -> Result<(), Error> {
    match a {
        Some(Arg::Var(p)) => p.set(ctx, v),
        _ => Err(Error::Runtime("output parameter is not a variable".into())),
    }
}

/// Hex text to bytes (`set_body_hex`): pairs of hex digits, whitespace ignored.
pub fn unhex(h: &[u8]) -> Option<Vec<u8>> {
    let digits: Vec<u8> = h
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_tests() {
        let cases: &[(&str, &str, i64, i64, i64, i64)] = &[
            // a, b, cmp_str, starts_with, ends_with, str_find
            ("abc", "abc", 1, 1, 1, 1),
            ("abc", "ab", -1, 1, -1, 1),
            ("ab", "abc", -2, -1, -1, -1),
            ("xbc", "bc", -1, -1, 1, 2),
            ("abc", "b", -2, -2, -1, 2),
        ];
        for (a, b, c, sw, ew, f) in cases {
            let (a, b) = (a.as_bytes(), b.as_bytes());
            assert_eq!(cmp(a, b, false), *c, "cmp {a:?} {b:?}");
            assert_eq!(starts_with(a, b), *sw, "starts {a:?} {b:?}");
            assert_eq!(ends_with(a, b), *ew, "ends {a:?} {b:?}");
            assert_eq!(str_find(a, b, false), *f, "find {a:?} {b:?}");
        }
        assert_eq!(cmp(b"ABC", b"abc", true), 1);
        assert_eq!(str_find(b"xABc", b"bc", true), 3);
    }

    #[test]
    fn lists() {
        let cases: &[(&str, &str, &str, bool, i64)] = &[
            ("b", "a, b ,c", ",", false, 1),
            ("d", "a,b,c", ",", false, -1),
            ("b", "a|b", "|", false, 1),
            ("", "a,b", ",", false, -1),
            ("+4912", "+43, +49", ",", true, 1),
            ("+4412", "+43, +49", ",", true, -1),
        ];
        for (x, l, sep, p, want) in cases {
            assert_eq!(
                in_list(x.as_bytes(), l.as_bytes(), sep.as_bytes(), *p),
                *want,
                "{x} in {l}"
            );
        }
        assert_eq!(unhex(b"41 42"), Some(b"AB".to_vec()));
        assert_eq!(unhex(b"4"), None);
        assert_eq!(privacy_bit(b"ID"), Some(32));
    }
}

//! Kamailio's `textopsx` module: applying the recorded edits to the message
//! (`msg_apply_changes`), replacing the buffer (`msg_set_buffer`), reply status changes, body
//! removal, `keep_hf`, `fnmatch`, the header value editors (`*_hf_value*`, in `hfvalue.rs`), and the
//! header and body-line iterators with their variables (`$hfitname`, `$hfitbody`, `$blitval`).
//!
//! Iterators are kept per message (Kamailio keeps them per process; they are restarted with
//! `*_iterator_start` before use anyway), in the message's state.
//!
//! Refused at load (see docs/modules-1.md): `msg_changed_route` (needs to run a route on a copy of
//! the message, which the module API cannot do yet).

use std::sync::Arc;

use ferrosip_api::export::{Arg, FnExport, ParamKind as K, PvExport, PvNameRule};
use ferrosip_api::pv::{PvInner, PvName};
use ferrosip_api::{Ctx, Error, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::build::kamailio_body;
use ferrosip_sipmsg::edit::{At, Edits};
use ferrosip_sipmsg::{HeaderKind, Msg};

mod hfvalue;

use self::hfvalue::{hf_value_op, hname_fixup, incexc, plain_hname, IncExc, Oper};
use crate::textops::re::Re;
use crate::textops::{int, s};

/// The `textopsx` export table.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("textopsx");
    let any = RouteMask::ANY;
    let req_rpl = RouteMask::REQUEST.or(RouteMask::ONREPLY);
    let hfv = RouteMask::REQUEST
        .or(RouteMask::ONREPLY)
        .or(RouteMask::FAILURE)
        .or(RouteMask::BRANCH);
    let f = FnExport::new;
    m.functions = vec![
        f(
            "msg_apply_changes",
            &[],
            req_rpl,
            "apply the recorded edits: the script sees the changed message from now on",
        )
        .with(|ctx, _| Ok(RetCode(apply_changes(ctx)))),
        f(
            "msg_changed_route",
            &[K::Spve],
            any,
            "run a route on the changed copy: refused, the module API cannot run routes yet",
        ),
        f(
            "msg_set_buffer",
            &[K::Spve],
            req_rpl,
            "replace the whole message with the given text",
        )
        .with(|ctx, a| {
            let b = s(ctx, a, 0);
            Ok(RetCode(set_buffer(ctx, b)))
        }),
        f(
            "change_reply_status",
            &[K::IntOrVar, K::Spve],
            RouteMask::ONREPLY,
            "change code and reason of a received reply (the class of 1xx/2xx cannot change)",
        )
        .with(|ctx, a| {
            let c = int(ctx, a, 0)?;
            let r = s(ctx, a, 1);
            Ok(RetCode(change_reply_status(ctx, c, Some(&r))?))
        }),
        f(
            "change_reply_status_code",
            &[K::IntOrVar],
            RouteMask::ONREPLY,
            "change the code of a received reply",
        )
        .with(|ctx, a| {
            let c = int(ctx, a, 0)?;
            Ok(RetCode(change_reply_status(ctx, c, None)?))
        }),
        f("remove_body", &[], any, "remove the body").with(|ctx, _| Ok(RetCode(remove_body(ctx)?))),
        // Kamailio declares a zero-parameter form, but its regex fixup fails for it, so a config
        // using `keep_hf()` does not load there; refused here the same way.
        f(
            "keep_hf",
            &[],
            any,
            "refused at load, as in Kamailio (its fixup rejects the form without a regex)",
        )
        .fixup(|_| {
            Err(
                "keep_hf() needs a regular expression (Kamailio refuses the form without one too)"
                    .into(),
            )
        })
        .with(|ctx, _| Ok(RetCode(keep_hf(ctx, None)?))),
        f(
            "keep_hf",
            &[K::Str],
            any,
            "remove every header but the mandatory ones and those whose name matches",
        )
        .fixup(|a| {
            if let Some(x) = a.first_mut() {
                if let Arg::Str(p) = x {
                    *x = Re::textops(&String::from_utf8_lossy(p))?.into_arg();
                }
            }
            Ok(())
        })
        .with(|ctx, a| {
            let re = a
                .first()
                .and_then(Re::from_arg)
                .ok_or_else(|| Error::Runtime("keep_hf: no regex".into()))?;
            Ok(RetCode(keep_hf(ctx, Some(re))?))
        }),
        f(
            "fnmatch",
            &[K::Spve, K::Spve],
            any,
            "true if the value matches the shell pattern",
        )
        .with(|ctx, a| {
            let (v, p) = (s(ctx, a, 0), s(ctx, a, 1));
            Ok(RetCode::from_bool(fnmatch(&p, &v, false)))
        }),
        f(
            "fnmatch",
            &[K::Spve, K::Spve, K::Spve],
            any,
            "fnmatch with flags (i = ignore case)",
        )
        .with(|ctx, a| {
            let (v, p, fl) = (s(ctx, a, 0), s(ctx, a, 1), s(ctx, a, 2));
            Ok(RetCode::from_bool(fnmatch(
                &p,
                &v,
                matches!(fl.first(), Some(b'i' | b'I')),
            )))
        }),
        f("append_hf_value", &[K::Str, K::Spve], hfv, "add a header, or a value after value [idx] (HF[idx]; no .param)")
            .fixup(|a| hname_fixup(a, Oper::Append))
            .with(|ctx, a| { let v = s(ctx, a, 1); hf_value_op(ctx, a.first(), Some(&v)) }),
        f("insert_hf_value", &[K::Str, K::Spve], hfv, "add a header before the first one, or a value before value [idx]")
            .fixup(|a| hname_fixup(a, Oper::Insert))
            .with(|ctx, a| { let v = s(ctx, a, 1); hf_value_op(ctx, a.first(), Some(&v)) }),
        f("remove_hf_value", &[K::Str], hfv, "remove value [idx] (default 1) of the comma lists, or every header with [*]")
            .fixup(|a| hname_fixup(a, Oper::Remove))
            .with(|ctx, a| hf_value_op(ctx, a.first(), None)),
        f("remove_hf_value2", &[K::Str], hfv, "remove header [idx] (default 1), commas not being separators")
            .fixup(|a| hname_fixup(a, Oper::Remove2))
            .with(|ctx, a| hf_value_op(ctx, a.first(), None)),
        f("assign_hf_value", &[K::Str, K::Spve], hfv, "replace value [idx] (default 1) of the comma lists")
            .fixup(|a| hname_fixup(a, Oper::Assign))
            .with(|ctx, a| { let v = s(ctx, a, 1); hf_value_op(ctx, a.first(), Some(&v)) }),
        f("assign_hf_value2", &[K::Str, K::Spve], hfv, "replace the body of header [idx] (default 1)")
            .fixup(|a| hname_fixup(a, Oper::Assign2))
            .with(|ctx, a| { let v = s(ctx, a, 1); hf_value_op(ctx, a.first(), Some(&v)) }),
        f("include_hf_value", &[K::Str, K::Spve], hfv, "add the value to the comma list of the header (or add the header) unless present")
            .fixup(plain_hname)
            .with(|ctx, a| { let (n, v) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(incexc(ctx, &n, &v, IncExc::Include)?)) }),
        f("exclude_hf_value", &[K::Str, K::Spve], hfv, "remove the value from the comma lists of the header (the header when it was the only value)")
            .fixup(plain_hname)
            .with(|ctx, a| { let (n, v) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(incexc(ctx, &n, &v, IncExc::Exclude)?)) }),
        f("hf_value_exists", &[K::Str, K::Spve], hfv, "true if the value is in the comma list of the header (ASCII case-insensitive)")
            .fixup(plain_hname)
            .with(|ctx, a| { let (n, v) = (s(ctx, a, 0), s(ctx, a, 1)); Ok(RetCode(incexc(ctx, &n, &v, IncExc::Exists)?)) }),
        f(
            "hf_iterator_start",
            &[K::Spve],
            any,
            "start a header iterator (before the first header)",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(hf_start(ctx, &n)))
        }),
        f(
            "hf_iterator_next",
            &[K::Spve],
            any,
            "move the header iterator to the next header; -1 at the end",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(hf_step(ctx, &n, true)))
        }),
        f(
            "hf_iterator_prev",
            &[K::Spve],
            any,
            "move the header iterator back",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(hf_step(ctx, &n, false)))
        }),
        f(
            "hf_iterator_end",
            &[K::Spve],
            any,
            "stop the header iterator",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(it_end(ctx, HF, &n)))
        }),
        f(
            "hf_iterator_rm",
            &[K::Spve],
            any,
            "remove the current header",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(hf_edit(ctx, &n, HfEdit::Remove, b"")?))
        }),
        f(
            "hf_iterator_append",
            &[K::Spve, K::Spve],
            any,
            "add text after the current header",
        )
        .with(|ctx, a| {
            let (n, t) = (s(ctx, a, 0), s(ctx, a, 1));
            Ok(RetCode(hf_edit(ctx, &n, HfEdit::After, &t)?))
        }),
        f(
            "hf_iterator_insert",
            &[K::Spve, K::Spve],
            any,
            "add text before the current header",
        )
        .with(|ctx, a| {
            let (n, t) = (s(ctx, a, 0), s(ctx, a, 1));
            Ok(RetCode(hf_edit(ctx, &n, HfEdit::Before, &t)?))
        }),
        f(
            "bl_iterator_start",
            &[K::Spve],
            any,
            "start a body-line iterator",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(bl_start(ctx, &n)))
        }),
        f(
            "bl_iterator_next",
            &[K::Spve],
            any,
            "move to the next body line (line end included); -1 at the end",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(bl_next(ctx, &n)))
        }),
        f(
            "bl_iterator_end",
            &[K::Spve],
            any,
            "stop the body-line iterator",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(it_end(ctx, BL, &n)))
        }),
        f(
            "bl_iterator_rm",
            &[K::Spve],
            any,
            "remove the current body line",
        )
        .with(|ctx, a| {
            let n = s(ctx, a, 0);
            Ok(RetCode(bl_edit(ctx, &n, HfEdit::Remove, b"")?))
        }),
        f(
            "bl_iterator_append",
            &[K::Spve, K::Spve],
            any,
            "add text after the current body line",
        )
        .with(|ctx, a| {
            let (n, t) = (s(ctx, a, 0), s(ctx, a, 1));
            Ok(RetCode(bl_edit(ctx, &n, HfEdit::After, &t)?))
        }),
        f(
            "bl_iterator_insert",
            &[K::Spve, K::Spve],
            any,
            "add text before the current body line",
        )
        .with(|ctx, a| {
            let (n, t) = (s(ctx, a, 0), s(ctx, a, 1));
            Ok(RetCode(bl_edit(ctx, &n, HfEdit::Before, &t)?))
        }),
    ];
    m.pvs = vec![
        iter_pv(
            "hfitname",
            "name of the current header of iterator",
            |ctx, n| hf_current(ctx, n).map(|h| Value::Str(ctx.msg.slice(h.name).to_vec())),
        ),
        iter_pv(
            "hfitbody",
            "body of the current header of iterator",
            |ctx, n| {
                hf_current(ctx, n).map(|h| Value::Str(kamailio_body(ctx.msg.buf(), &h).to_vec()))
            },
        ),
        iter_pv(
            "blitval",
            "current body line of iterator (line end included)",
            |ctx, n| {
                bl_current(ctx, n).map(|(st, en)| {
                    Value::Str(ctx.msg.buf().get(st..en).unwrap_or_default().to_vec())
                })
            },
        ),
    ];
    m
}

/// Kamailio's `fnmatch(3)` without flags: `*`, `?`, bracket expressions (`[a-z]`, `[!x]`, `[^x]`)
/// and backslash escapes; a `/` is an ordinary character.
pub fn fnmatch(pat: &[u8], s: &[u8], icase: bool) -> bool {
    let eq = |a: u8, b: u8| {
        if icase {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    };
    let (mut p, mut i) = (0usize, 0usize);
    let (mut star_p, mut star_i) = (None::<usize>, 0usize);
    while i < s.len() {
        let c = s[i]; // i < s.len()
        let step = match pat.get(p) {
            Some(b'*') => {
                star_p = Some(p);
                star_i = i;
                p += 1;
                continue;
            }
            Some(b'?') => Some(p + 1),
            Some(b'[') => match bracket(pat, p + 1, c, icase) {
                Some((true, next)) => Some(next),
                Some((false, _)) => None,
                None => eq(b'[', c).then_some(p + 1),
            },
            Some(b'\\') => match pat.get(p + 1) {
                Some(&x) if eq(x, c) => Some(p + 2),
                Some(_) => None,
                None => eq(b'\\', c).then_some(p + 1),
            },
            Some(&x) => eq(x, c).then_some(p + 1),
            None => None,
        };
        match step {
            Some(np) => {
                p = np;
                i += 1;
            }
            None => match star_p {
                Some(sp) => {
                    p = sp + 1;
                    star_i += 1;
                    i = star_i;
                }
                None => return false,
            },
        }
    }
    pat.get(p..).unwrap_or_default().iter().all(|c| *c == b'*')
}

// ---- internals ----

/// A bracket expression starting after `[`: (matched, index after `]`), `None` when unterminated.
fn bracket(pat: &[u8], mut p: usize, c: u8, icase: bool) -> Option<(bool, usize)> {
    let neg = matches!(pat.get(p), Some(b'!' | b'^'));
    if neg {
        p += 1;
    }
    let norm = |x: u8| if icase { x.to_ascii_lowercase() } else { x };
    let c = norm(c);
    let mut hit = false;
    let mut first = true;
    loop {
        let x = *pat.get(p)?;
        if x == b']' && !first {
            return Some((hit != neg, p + 1));
        }
        first = false;
        if pat.get(p + 1) == Some(&b'-') && pat.get(p + 2).is_some_and(|y| *y != b']') {
            let hi = *pat.get(p + 2)?;
            if norm(x) <= c && c <= norm(hi) {
                hit = true;
            }
            p += 3;
        } else {
            if norm(x) == c {
                hit = true;
            }
            p += 1;
        }
    }
}

fn iter_pv(
    name: &'static str,
    doc: &'static str,
    get: fn(&Ctx<'_>, &[u8]) -> Option<Value>,
) -> PvExport {
    PvExport {
        name,
        doc,
        inner: PvNameRule::Required,
        indexed: false,
        parse: None,
        get: Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
            let name = match &n.inner {
                PvInner::Str(s) => s.clone(),
                _ => n.name_bytes(ctx),
            };
            Ok(get(ctx, &name).unwrap_or(Value::Null))
        }),
        set: None,
    }
}

/// `msg_apply_changes()`: builds the message with the edits (and a changed R-URI) and makes it the
/// message the script sees; the edit list starts empty again.
fn apply_changes(ctx: &mut Ctx<'_>) -> i64 {
    if ctx.edits.is_empty() && ctx.state.new_uri.is_none() {
        return 1;
    }
    let new_uri = if ctx.msg.is_request() {
        ctx.state.new_uri.clone()
    } else {
        None
    };
    let buf = match ferrosip_sipmsg::build::apply_changes(
        ctx.msg,
        &ctx.edits,
        None,
        new_uri.as_deref(),
    ) {
        Ok(b) => b,
        Err(e) => {
            ctx.log_error(&format!("cannot apply the changes: {e}"));
            return -1;
        }
    };
    if new_uri.is_some() {
        ctx.state.new_uri = None;
    }
    set_buffer(ctx, buf)
}

/// Replaces the message with `buf` (parsed with the same options); -1 when it does not parse.
fn set_buffer(ctx: &mut Ctx<'_>, buf: Vec<u8>) -> i64 {
    let opts = *ctx.msg.options();
    let parsed = Msg::parse_with(buf, opts).and_then(|m| m.headers().map(|_| ()).map(|_| m));
    let m = match parsed {
        Ok(m) => m,
        Err(e) => {
            ctx.log_error(&format!("new message buffer does not parse: {e}"));
            return -1;
        }
    };
    let edits = match Edits::new(m.buf().len()) {
        Ok(e) => e,
        Err(e) => {
            ctx.log_error(&e.to_string());
            return -1;
        }
    };
    *ctx.msg = m;
    ctx.edits = edits;
    clear_iterators(ctx);
    1
}

fn change_reply_status(ctx: &mut Ctx<'_>, code: i64, reason: Option<&[u8]>) -> Result<i64, Error> {
    let Some(sl) = ctx.msg.status_line().copied() else {
        return Ok(-1);
    };
    if reason.is_some_and(<[u8]>::is_empty) || !(100..=699).contains(&code) {
        return Ok(-1);
    }
    let old = i64::from(sl.status);
    if (code < 300 || old < 300) && code / 100 != old / 100 {
        ctx.log_error("the class of provisional or positive final replies cannot be changed");
        return Ok(-1);
    }
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    ctx.edits
        .replace(
            sl.status_span.start as usize,
            sl.status_span.len(),
            format!("{code:03}").as_bytes(),
        )
        .map_err(e)?;
    if let Some(r) = reason {
        ctx.edits
            .replace(sl.reason.start as usize, sl.reason.len(), r)
            .map_err(e)?;
    }
    Ok(1)
}

fn remove_body(ctx: &mut Ctx<'_>) -> Result<i64, Error> {
    let Ok(b) = ctx.msg.body_span() else {
        return Ok(1);
    };
    if b.is_empty() {
        return Ok(1);
    }
    ctx.edits
        .delete(b.start as usize, b.len())
        .map_err(|e| Error::Runtime(e.to_string()))?;
    Ok(1)
}

/// `keep_hf`: Kamailio's helper ends with `return -1` whatever it did; kept for compatibility.
fn keep_hf(ctx: &mut Ctx<'_>, re: Option<&Re>) -> Result<i64, Error> {
    let Ok(hs) = ctx.msg.headers() else {
        return Ok(-1);
    };
    let buf = ctx.msg.buf();
    let doomed: Vec<(usize, usize)> = hs
        .iter()
        .filter(|h| {
            !matches!(
                h.kind,
                HeaderKind::From
                    | HeaderKind::To
                    | HeaderKind::CallId
                    | HeaderKind::CSeq
                    | HeaderKind::Via
                    | HeaderKind::Contact
                    | HeaderKind::ContentLength
                    | HeaderKind::ContentType
                    | HeaderKind::Route
                    | HeaderKind::RecordRoute
                    | HeaderKind::MaxForwards
            )
        })
        .filter(|h| !re.is_some_and(|r| r.is_match(h.name.of(buf))))
        .map(|h| (h.span.start as usize, h.span.len()))
        .collect();
    for (st, len) in doomed {
        ctx.edits
            .delete(st, len)
            .map_err(|e| Error::Runtime(e.to_string()))?;
    }
    Ok(-1)
}

// Iterators: per message, in an XAVP whose name starts with NUL (no config can spell it).
const HF: &[u8] = b"\0textopsx_hf";
const BL: &[u8] = b"\0textopsx_bl";

/// Iterator position: `Int(-1)` started, `Int(n)` at header n / at body offset n with its length
/// under the `len` field, `Int(-2)` ended.
fn it_get(ctx: &Ctx<'_>, kind: &[u8], name: &[u8]) -> Option<(i64, i64)> {
    let rec = ctx.state.xavps.get(kind)?.first()?;
    let pos = rec
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.to_int())?;
    let mut lk = b"len:".to_vec();
    lk.extend_from_slice(name);
    let len = rec
        .iter()
        .find(|(n, _)| *n == lk)
        .map_or(0, |(_, v)| v.to_int());
    Some((pos, len))
}

fn it_set(ctx: &mut Ctx<'_>, kind: &[u8], name: &[u8], pos: i64, len: i64) {
    let list = ctx.state.xavps.entry(kind.to_vec()).or_default();
    if list.is_empty() {
        list.push(Vec::new());
    }
    let mut lk = b"len:".to_vec();
    lk.extend_from_slice(name);
    if let Some(rec) = list.first_mut() {
        rec.retain(|(n, _)| n != name && *n != lk);
        rec.push((name.to_vec(), Value::Int(pos)));
        rec.push((lk, Value::Int(len)));
    }
}

fn it_end(ctx: &mut Ctx<'_>, kind: &[u8], name: &[u8]) -> i64 {
    if it_get(ctx, kind, name).is_none() {
        return -1;
    }
    it_set(ctx, kind, name, -1, 0);
    1
}

fn clear_iterators(ctx: &mut Ctx<'_>) {
    ctx.state.xavps.remove(HF);
    ctx.state.xavps.remove(BL);
}

fn hf_start(ctx: &mut Ctx<'_>, name: &[u8]) -> i64 {
    if name.is_empty() || !ctx.msg.headers().is_ok_and(|h| !h.is_empty()) {
        return -1;
    }
    it_set(ctx, HF, name, -1, 0);
    1
}

fn hf_step(ctx: &mut Ctx<'_>, name: &[u8], forward: bool) -> i64 {
    let Some((pos, _)) = it_get(ctx, HF, name) else {
        return -1;
    };
    let count = ctx.msg.headers().map_or(0, |h| h.len());
    let count = i64::try_from(count).unwrap_or(i64::MAX);
    if pos == -2 {
        return -1;
    }
    let next = if forward {
        pos + 1
    } else if pos <= 0 {
        // back from the first header (or before it): restart, as Kamailio does
        return hf_start(ctx, name);
    } else {
        pos - 1
    };
    if next >= count {
        it_set(ctx, HF, name, -2, 0);
        return -1;
    }
    it_set(ctx, HF, name, next, 0);
    1
}

fn hf_current(ctx: &Ctx<'_>, name: &[u8]) -> Option<ferrosip_sipmsg::Header> {
    let (pos, _) = it_get(ctx, HF, name)?;
    let i = usize::try_from(pos).ok()?;
    ctx.msg.headers().ok()?.get(i).copied()
}

#[derive(Clone, Copy)]
enum HfEdit {
    Remove,
    After,
    Before,
}

fn hf_edit(ctx: &mut Ctx<'_>, name: &[u8], what: HfEdit, text: &[u8]) -> Result<i64, Error> {
    let Some(h) = hf_current(ctx, name) else {
        return Ok(-1);
    };
    edit_range(
        ctx,
        (h.span.start as usize, h.span.end as usize),
        what,
        text,
    )
}

fn edit_range(
    ctx: &mut Ctx<'_>,
    (st, en): (usize, usize),
    what: HfEdit,
    text: &[u8],
) -> Result<i64, Error> {
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    match what {
        HfEdit::Remove => {
            ctx.edits.delete(st, en - st).map_err(e)?;
        }
        HfEdit::After => {
            let a = ctx.edits.anchor(en).map_err(e)?;
            ctx.edits.insert(At::Before(a), text).map_err(e)?;
        }
        HfEdit::Before => {
            let a = ctx.edits.anchor(st).map_err(e)?;
            ctx.edits.insert(At::Before(a), text).map_err(e)?;
        }
    }
    Ok(1)
}

fn bl_start(ctx: &mut Ctx<'_>, name: &[u8]) -> i64 {
    if name.is_empty() || ctx.msg.body_span().is_err() {
        return -1;
    }
    it_set(ctx, BL, name, -1, 0);
    1
}

fn bl_next(ctx: &mut Ctx<'_>, name: &[u8]) -> i64 {
    let Some((pos, len)) = it_get(ctx, BL, name) else {
        return -1;
    };
    if pos == -2 {
        return -1;
    }
    let Ok(b) = ctx.msg.body_span() else {
        return -1;
    };
    let (bs, be) = (b.start as usize, b.end as usize);
    let start = if pos < 0 {
        bs
    } else {
        usize::try_from(pos + len).unwrap_or(be)
    };
    if start >= be {
        it_set(ctx, BL, name, -2, 0);
        return -1;
    }
    let rest = ctx.msg.buf().get(start..be).unwrap_or_default();
    let l = rest
        .iter()
        .position(|c| *c == b'\n')
        .map_or(rest.len(), |p| p + 1);
    it_set(
        ctx,
        BL,
        name,
        i64::try_from(start).unwrap_or(-2),
        i64::try_from(l).unwrap_or(0),
    );
    1
}

fn bl_current(ctx: &Ctx<'_>, name: &[u8]) -> Option<(usize, usize)> {
    let (pos, len) = it_get(ctx, BL, name)?;
    let st = usize::try_from(pos).ok()?;
    let l = usize::try_from(len).ok().filter(|l| *l > 0)?;
    Some((st, st + l))
}

fn bl_edit(ctx: &mut Ctx<'_>, name: &[u8], what: HfEdit, text: &[u8]) -> Result<i64, Error> {
    let Some(r) = bl_current(ctx, name) else {
        return Ok(-1);
    };
    edit_range(ctx, r, what, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_table() {
        let cases: &[(&str, &str, bool, bool)] = &[
            ("*", "", false, true),
            ("a*c", "abbbc", false, true),
            ("a*c", "abbbd", false, false),
            ("a?c", "abc", false, true),
            ("a?c", "ac", false, false),
            ("[a-c]x", "bx", false, true),
            ("[!a-c]x", "bx", false, false),
            ("[^a-c]x", "dx", false, true),
            ("sip:*@example.com", "sip:alice@example.com", false, true),
            ("SIP:*", "sip:x", false, false),
            ("SIP:*", "sip:x", true, true),
            ("a\\*", "a*", false, true),
            ("a\\*", "ab", false, false),
            ("[", "[", false, true),
            ("*a*b", "xaxxb", false, true),
        ];
        for (p, s, i, want) in cases {
            assert_eq!(fnmatch(p.as_bytes(), s.as_bytes(), *i), *want, "{p} ~ {s}");
        }
    }
}

//! textopsx's header value editors: `append_hf_value`, `insert_hf_value`, `remove_hf_value[2]`,
//! `assign_hf_value[2]` on `HFNAME[idx][.param]` expressions, and `include_hf_value`, `exclude_hf_value`,
//! `hf_value_exists` on plain names. Values are split as Kamailio's `find_next_value` does (commas
//! outside double quotes), counted over all headers of the name; the removal range of a value runs
//! from the end of the previous comma through its own comma, so the bytes match Kamailio's lumps.

use std::sync::Arc;

use ferrosip_api::export::Arg;
use ferrosip_api::{Ctx, Error, RetCode};
use ferrosip_sipmsg::build::kamailio_body;

/// Which `*_hf_value` editor a prepared header expression is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Oper {
    Append,
    Insert,
    Remove,
    Remove2,
    Assign,
    Assign2,
}

/// A prepared `HFNAME[idx]` expression (Kamailio's `hname_data`, without `.param`).
#[derive(Debug, Clone)]
struct HName {
    name: Vec<u8>,
    /// `[...]` was given.
    has_idx: bool,
    /// `[*]`.
    all: bool,
    /// 1-based; negative from the end; defaults per operation as Kamailio's fixups set them.
    idx: i64,
    oper: Oper,
    /// `.param`: a header parameter of the value (empty = the value itself).
    param: Vec<u8>,
}

/// Kamailio caps negative indexes at its value stack size.
const MAX_HF_VALUE_STACK: i64 = 10;

pub(super) fn hname_fixup(a: &mut [Arg], oper: Oper) -> Result<(), String> {
    let Some(x) = a.first_mut() else {
        return Ok(());
    };
    let Arg::Str(text) = x else {
        return Err("the header expression must be a constant".into());
    };
    let t = String::from_utf8_lossy(text).trim().to_string();
    let bad = || format!("bad header expression `{t}` (HFNAME[idx])");
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(t.len());
    let (name, rest) = t.split_at(name_end);
    if name.is_empty() {
        return Err(bad());
    }
    let mut rest = rest.trim_start();
    let (mut has_idx, mut all, mut idx) = (false, false, 0i64);
    if let Some(r) = rest.strip_prefix('[') {
        has_idx = true;
        let (inner, after) = r.split_once(']').ok_or_else(bad)?;
        let inner = inner.trim();
        if inner == "*" {
            all = true;
        } else if !inner.is_empty() {
            idx = inner.parse().map_err(|_| bad())?;
        }
        rest = after.trim_start();
    }
    let mut param = Vec::new();
    if let Some(r) = rest.strip_prefix('.') {
        let r = r.trim_start();
        let end = r
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            .unwrap_or(r.len());
        if end == 0 {
            return Err(bad());
        }
        param = r.get(..end).unwrap_or_default().as_bytes().to_vec();
        rest = r.get(end..).unwrap_or_default();
    }
    if !rest.is_empty() {
        return Err(bad());
    }
    match oper {
        Oper::Append | Oper::Insert if all => {
            return Err(format!("`[*]` is not allowed here (`{t}`)"))
        }
        Oper::Append | Oper::Insert if !param.is_empty() => {
            return Err(format!("a parameter is not allowed here (`{t}`)"))
        }
        Oper::Assign | Oper::Assign2 if all && param.is_empty() => {
            return Err(format!("`[*]` needs a parameter here (`{t}`)"))
        }
        _ => {}
    }
    if !has_idx || idx == 0 {
        idx = if oper == Oper::Append { -1 } else { 1 };
        if matches!(
            oper,
            Oper::Remove | Oper::Remove2 | Oper::Assign | Oper::Assign2
        ) {
            has_idx = true;
        }
    }
    if idx < -MAX_HF_VALUE_STACK {
        return Err(format!("index too small in `{t}`"));
    }
    *x = Arg::Custom(Arc::new(HName {
        name: name.as_bytes().to_vec(),
        has_idx,
        all,
        idx,
        oper,
        param,
    }));
    Ok(())
}

/// One value of a header: the header, the value range and the removal range (absolute offsets).
#[derive(Debug, Clone, Copy)]
struct Found {
    h: ferrosip_sipmsg::Header,
    val: (usize, usize),
    lump: (usize, usize),
    body: (usize, usize),
}

/// Kamailio's `find_hf_value_idx`: the idx-th value (or header when `by_header`) counted over all
/// headers of the name; negative from the end.
fn find_idx(ctx: &Ctx<'_>, hn: &HName, by_header: bool) -> Option<Found> {
    let hs: Vec<ferrosip_sipmsg::Header> = ctx.msg.headers_named(&hn.name).ok()?.copied().collect();
    let mut all = Vec::new();
    for h in hs {
        let body = kamailio_body(ctx.msg.buf(), &h);
        let off = h.value.start as usize;
        let b = (off, off + body.len());
        if by_header {
            all.push(Found {
                h,
                val: b,
                lump: b,
                body: b,
            });
            continue;
        }
        for ((vs, ve), (ls, le)) in hf_values(body) {
            all.push(Found {
                h,
                val: (off + vs, off + ve),
                lump: (off + ls, off + le),
                body: b,
            });
        }
    }
    let i = if hn.idx > 0 {
        usize::try_from(hn.idx - 1).ok()?
    } else {
        let n = i64::try_from(all.len()).ok()?;
        usize::try_from(n + hn.idx).ok()?
    };
    all.get(i).copied()
}

pub(super) fn hf_value_op(
    ctx: &mut Ctx<'_>,
    a: Option<&Arg>,
    val: Option<&[u8]>,
) -> Result<RetCode, Error> {
    let Some(Arg::Custom(c)) = a else {
        return Err(Error::Runtime("not a header expression".into()));
    };
    let Some(hn) = c.downcast_ref::<HName>().cloned() else {
        return Err(Error::Runtime("not a header expression".into()));
    };
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    let val = val.unwrap_or_default();
    let new_header = |name: &[u8]| {
        let mut t = name.to_vec();
        t.extend_from_slice(b": ");
        t.extend_from_slice(val);
        t.extend_from_slice(b"\r\n");
        t
    };
    let Ok(eoh) = ctx.msg.headers_end() else {
        return Ok(RetCode::FALSE);
    };
    match hn.oper {
        Oper::Append => {
            if !hn.has_idx {
                ctx.edits.insert_at(eoh, &new_header(&hn.name)).map_err(e)?;
                return Ok(RetCode::TRUE);
            }
            match find_idx(ctx, &hn, false) {
                Some(f) => {
                    let pos = f.lump.1;
                    let t = value_text(val, pos == f.body.1);
                    ctx.edits.insert_at(pos, &t).map_err(e)?;
                }
                None => {
                    ctx.edits.insert_at(eoh, &new_header(&hn.name)).map_err(e)?;
                }
            }
            Ok(RetCode::TRUE)
        }
        Oper::Insert => match find_idx(ctx, &hn, false) {
            Some(f) if !hn.has_idx => {
                ctx.edits
                    .insert_at(f.h.span.start as usize, &new_header(&hn.name))
                    .map_err(e)?;
                Ok(RetCode::TRUE)
            }
            Some(f) => {
                let t = value_text(val, f.lump.0 == f.body.1);
                ctx.edits.insert_at(f.lump.0, &t).map_err(e)?;
                Ok(RetCode::TRUE)
            }
            None if hn.idx == 1 => {
                ctx.edits.insert_at(eoh, &new_header(&hn.name)).map_err(e)?;
                Ok(RetCode::TRUE)
            }
            None => Ok(RetCode::FALSE),
        },
        Oper::Remove | Oper::Assign if !hn.param.is_empty() => {
            let value = (hn.oper == Oper::Assign).then_some(val);
            if hn.all {
                let hs: Vec<ferrosip_sipmsg::Header> = match ctx.msg.headers_named(&hn.name) {
                    Ok(it) => it.copied().collect(),
                    Err(_) => return Ok(RetCode::FALSE),
                };
                let mut fl = -1;
                for h in hs {
                    let off = h.value.start as usize;
                    let body = kamailio_body(ctx.msg.buf(), &h).to_vec();
                    for ((vs, ve), _) in hf_values(&body) {
                        if process_params(ctx, &hn.param, (off + vs, off + ve), value)? > 0 {
                            fl = 1;
                        }
                    }
                }
                return Ok(RetCode(fl));
            }
            let Some(f) = find_idx(ctx, &hn, false) else {
                return Ok(RetCode::FALSE);
            };
            Ok(RetCode(process_params(ctx, &hn.param, f.val, value)?))
        }
        Oper::Remove2 | Oper::Assign2 if !hn.param.is_empty() => {
            let value = (hn.oper == Oper::Assign2).then_some(val);
            let hs: Vec<(usize, usize)> = if hn.all {
                match ctx.msg.headers_named(&hn.name) {
                    Ok(it) => it
                        .map(|h| {
                            let off = h.value.start as usize;
                            (off, off + kamailio_body(ctx.msg.buf(), h).len())
                        })
                        .collect(),
                    Err(_) => return Ok(RetCode::FALSE),
                }
            } else {
                match find_idx(ctx, &hn, true) {
                    Some(f) => vec![f.body],
                    None => return Ok(RetCode::FALSE),
                }
            };
            let mut fl = if hn.all { -1 } else { 0 };
            for b in hs {
                let r = process2_params(ctx, &hn.param, b, value)?;
                if hn.all {
                    if r > 0 {
                        fl = 1;
                    }
                } else {
                    fl = r;
                }
            }
            Ok(RetCode(fl))
        }
        Oper::Remove | Oper::Remove2 | Oper::Assign | Oper::Assign2 if hn.all => {
            // only the removals reach here (the fixup refuses `[*]` for assignments)
            let hs: Vec<ferrosip_sipmsg::Header> = match ctx.msg.headers_named(&hn.name) {
                Ok(it) => it.copied().collect(),
                Err(_) => return Ok(RetCode::FALSE),
            };
            for h in &hs {
                ctx.edits
                    .delete(h.span.start as usize, h.span.len())
                    .map_err(e)?;
            }
            Ok(RetCode::from_bool(!hs.is_empty()))
        }
        Oper::Remove | Oper::Assign => {
            let Some(f) = find_idx(ctx, &hn, false) else {
                return Ok(RetCode::FALSE);
            };
            if hn.oper == Oper::Remove {
                let (mut ls, le) = f.lump;
                if le == f.body.1 && ls > f.body.0 {
                    ls -= 1; // the last value takes the comma before it
                }
                if ls == f.body.0 && le == f.body.1 {
                    ctx.edits
                        .delete(f.h.span.start as usize, f.h.span.len())
                        .map_err(e)?;
                } else {
                    ctx.edits.delete(ls, le - ls).map_err(e)?;
                }
            } else {
                ctx.edits
                    .replace(f.val.0, f.val.1 - f.val.0, val)
                    .map_err(e)?;
            }
            Ok(RetCode::TRUE)
        }
        Oper::Remove2 | Oper::Assign2 => {
            let Some(f) = find_idx(ctx, &hn, true) else {
                return Ok(RetCode::FALSE);
            };
            if hn.oper == Oper::Remove2 {
                ctx.edits
                    .delete(f.h.span.start as usize, f.h.span.len())
                    .map_err(e)?;
            } else {
                ctx.edits
                    .replace(f.body.0, f.body.1 - f.body.0, val)
                    .map_err(e)?;
            }
            Ok(RetCode::TRUE)
        }
    }
}

/// Kamailio's `assign_hf_process_params`: in the value at `val` (absolute range), after the
/// display name and URI, remove every `;param[=v]` (`value` = None) or set the first one to
/// `value` (adding `;param[=value]` at the end when absent). 1 done, -1 nothing to remove.
fn process_params(
    ctx: &mut Ctx<'_>,
    param: &[u8],
    val: (usize, usize),
    value: Option<&[u8]>,
) -> Result<i64, Error> {
    let area = ctx.msg.buf().get(val.0..val.1).unwrap_or_default().to_vec();
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    let mut p = skip_until_params(&area);
    let mut res = 0;
    loop {
        let (found, upd, del) = find_param(&area, p, param);
        let r2 = if found {
            let (s, l) = if value.is_some() { upd } else { del };
            if l > s {
                ctx.edits.delete(val.0 + s, l - s).map_err(e)?;
            }
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                let mut t = b"=".to_vec();
                t.extend_from_slice(v);
                ctx.edits.insert_at(val.0 + upd.0, &t).map_err(e)?;
            }
            1
        } else if let Some(v) = value {
            let mut t = b";".to_vec();
            t.extend_from_slice(param);
            if !v.is_empty() {
                t.push(b'=');
                t.extend_from_slice(v);
            }
            ctx.edits.insert_at(val.0 + del.0, &t).map_err(e)?;
            1
        } else {
            -1
        };
        if res == 0 {
            res = r2;
        }
        if found && value.is_none() {
            p = del.1;
        } else {
            return Ok(res);
        }
    }
}

/// Kamailio's `assign_hf_process2_params`: Authorization-style `name=value` lists in the whole
/// header body (`a=1, b="x"`).
fn process2_params(
    ctx: &mut Ctx<'_>,
    param: &[u8],
    body: (usize, usize),
    value: Option<&[u8]>,
) -> Result<i64, Error> {
    let area = ctx
        .msg
        .buf()
        .get(body.0..body.1)
        .unwrap_or_default()
        .to_vec();
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    let mut p = 0;
    let mut res = 0;
    loop {
        let (found, upd, del, delim) = find_param2(&area, p, param);
        let r2 = if found {
            let (s, l) = if value.is_some() { upd } else { del };
            if l > s {
                ctx.edits.delete(body.0 + s, l - s).map_err(e)?;
            }
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                let mut t = b"=".to_vec();
                t.extend_from_slice(v);
                ctx.edits.insert_at(body.0 + upd.0, &t).map_err(e)?;
            }
            1
        } else if let Some(v) = value {
            let mut t = Vec::new();
            if delim != 0 {
                t.push(delim);
            }
            t.extend_from_slice(param);
            if !v.is_empty() {
                t.push(b'=');
                t.extend_from_slice(v);
            }
            ctx.edits.insert_at(body.0 + del.0, &t).map_err(e)?;
            1
        } else {
            -1
        };
        if res == 0 {
            res = r2;
        }
        if found && value.is_none() {
            p = del.1;
        } else {
            return Ok(res);
        }
    }
}

fn is_alphanum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-'
}

/// Kamailio's `find_hf_value2_param`: (found, update range = from after the name's blanks to the
/// end of the value, delete range = from the previous position through a following comma, the
/// delimiter to use when adding: `,` after a `name=value`, ` ` after a bare token, none).
fn find_param2(s: &[u8], start: usize, name: &[u8]) -> (bool, (usize, usize), (usize, usize), u8) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let n = s.len();
    let mut i = start;
    let mut delim = 0u8;
    while i < n {
        let del_s = i;
        while i < n && is_space(at(i)) {
            i += 1;
        }
        let comma = i < n && at(i) == b',';
        if comma {
            i += 1;
        }
        while i < n && is_space(at(i)) {
            i += 1;
        }
        if i < n && is_alphanum(at(i)) {
            let j = i;
            if delim == 0 {
                delim = b' ';
            }
            while i < n && is_alphanum(at(i)) {
                i += 1;
            }
            let k = i;
            while i < n && is_space(at(i)) {
                i += 1;
            }
            let upd_s = i;
            if i < n && at(i) == b'=' {
                delim = b',';
                i += 1;
                let found = s.get(j..k).is_some_and(|x| x.eq_ignore_ascii_case(name));
                while i < n && is_space(at(i)) {
                    i += 1;
                }
                if i < n {
                    if at(i) == b'"' {
                        i += 1;
                        while i < n {
                            if at(i) == b'"' {
                                i += 1;
                                break;
                            }
                            i += 1;
                        }
                    } else {
                        while i < n && !is_space(at(i)) && at(i) != b',' {
                            i += 1;
                        }
                    }
                }
                if found {
                    let upd = (upd_s, i);
                    let mut del_e = i;
                    while i < n && is_space(at(i)) {
                        i += 1;
                    }
                    if !comma && i < n && at(i) == b',' {
                        i += 1;
                        del_e = i;
                    }
                    return (true, upd, (del_s, del_e), delim);
                }
            }
            while i < n && is_space(at(i)) {
                i += 1;
            }
        } else {
            while i < n && !is_space(at(i)) && at(i) != b',' {
                i += 1;
            }
            if i < n && at(i) == b',' {
                i += 1;
            }
        }
    }
    (false, (i, i), (i, i), delim)
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Kamailio's `get_uri_and_skip_until_params`: the offset of the first `;` after the display name
/// and the URI (quotes and `<...>` respected), or the end.
fn skip_until_params(s: &[u8]) -> usize {
    let at = |i: usize| s.get(i).copied().unwrap_or(b';');
    let mut i = 0;
    while i < s.len() && at(i) != b';' {
        let mut quoted = false;
        while i < s.len() {
            let c = at(i);
            if !quoted {
                if c == b'"' {
                    quoted = true;
                } else if c == b'<' || c == b';' || is_space(c) {
                    break;
                }
            } else if c == b'"' && i > 0 && at(i - 1) != b'\\' {
                quoted = false;
            }
            i += 1;
        }
        while i < s.len() && is_space(at(i)) {
            i += 1;
        }
        if i < s.len() && at(i) == b'<' {
            let mut quoted = false;
            while i < s.len() {
                let c = at(i);
                if !quoted {
                    if c == b'"' {
                        quoted = true;
                    } else if c == b'>' {
                        break;
                    }
                } else if c == b'"' && i > 0 && at(i - 1) != b'\\' {
                    quoted = false;
                }
                i += 1;
            }
            if i < s.len() && at(i) == b'>' {
                // Kamailio leaves its index on the `>`; the name scan then runs to the `;`.
                i += 1;
            }
        }
    }
    i.min(s.len())
}

/// Kamailio's `find_hf_value_param` from `start`: (found, update range = after the name to the end
/// of the value, delete range = from before the `;` to the end of the value); when not found the
/// delete range is empty at the end of the parameters.
fn find_param(s: &[u8], start: usize, name: &[u8]) -> (bool, (usize, usize), (usize, usize)) {
    let at = |i: usize| s.get(i).copied().unwrap_or(0);
    let n = s.len();
    let mut i = start;
    loop {
        let del_s = i;
        while i < n && is_space(at(i)) {
            i += 1;
        }
        if !(i < n && at(i) == b';') {
            return (false, (del_s, del_s), (del_s, del_s));
        }
        i += 1;
        while i < n && is_space(at(i)) {
            i += 1;
        }
        let j = i;
        while i < n && !is_space(at(i)) && at(i) != b'=' && at(i) != b';' {
            i += 1;
        }
        let found = s.get(j..i).is_some_and(|x| x.eq_ignore_ascii_case(name));
        let upd_s = i;
        while i < n && is_space(at(i)) {
            i += 1;
        }
        if i < n && at(i) == b'=' {
            i += 1;
            while i < n && is_space(at(i)) {
                i += 1;
            }
            if i < n {
                if at(i) == b'"' {
                    i += 1;
                    while i < n {
                        if at(i) == b'"' {
                            i += 1;
                            break;
                        }
                        i += 1;
                    }
                } else {
                    while i < n && !is_space(at(i)) && at(i) != b';' {
                        i += 1;
                    }
                }
            }
        }
        if found {
            return (true, (upd_s, i), (del_s, i));
        }
    }
}

/// Kamailio's `insert_value_lump` text: `,v` at the end of a header body, `v,` elsewhere.
fn value_text(val: &[u8], at_end: bool) -> Vec<u8> {
    let mut t = Vec::with_capacity(val.len() + 1);
    if at_end {
        t.push(b',');
        t.extend_from_slice(val);
    } else {
        t.extend_from_slice(val);
        t.push(b',');
    }
    t
}

/// What `incexc` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IncExc {
    Include,
    Exclude,
    Exists,
}

/// include/exclude/exists take a plain header name (no `[idx]`, no `.param`), as Kamailio's fixup.
pub(super) fn plain_hname(a: &mut [Arg]) -> Result<(), String> {
    match a.first() {
        Some(Arg::Str(n))
            if !n.is_empty()
                && n.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_') =>
        {
            Ok(())
        }
        _ => {
            Err("the header must be a plain name (neither index nor parameter may be given)".into())
        }
    }
}

/// The comma-separated values of a header body as Kamailio's `find_next_value` splits them:
/// (value range, removal range), both relative to the body. The removal range starts where the
/// previous value's comma ended and takes the value's own comma.
fn hf_values(body: &[u8]) -> Vec<((usize, usize), (usize, usize))> {
    let sp = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let mut out = Vec::new();
    let mut p = 0;
    let end = body.len();
    loop {
        let lump_start = p;
        while p < end && body.get(p).is_some_and(|c| sp(*c)) {
            p += 1;
        }
        let vs = p;
        let mut quoted = false;
        while p < end {
            let c = body.get(p).copied().unwrap_or(b',');
            if c == b',' && !quoted {
                break;
            }
            if c == b'"' && (!quoted || body.get(p.wrapping_sub(1)) != Some(&b'\\')) {
                quoted = !quoted;
            }
            p += 1;
        }
        let mut ve = p;
        while ve > vs && body.get(ve - 1).is_some_and(|c| sp(*c)) {
            ve -= 1;
        }
        if p < end {
            p += 1; // the comma
        }
        out.push(((vs, ve), (lump_start, p)));
        if p >= end {
            break;
        }
    }
    out
}

pub(super) fn incexc(ctx: &mut Ctx<'_>, name: &[u8], val: &[u8], op: IncExc) -> Result<i64, Error> {
    if val.is_empty() {
        return Ok(-1);
    }
    let hs: Vec<ferrosip_sipmsg::Header> = match ctx.msg.headers_named(name) {
        Ok(it) => it.copied().collect(),
        Err(_) => return Ok(-1),
    };
    let e = |x: ferrosip_sipmsg::edit::EditError| Error::Runtime(x.to_string());
    for h in &hs {
        let body = kamailio_body(ctx.msg.buf(), h).to_vec();
        let off = h.value.start as usize;
        for ((vs, ve), (ls, le)) in hf_values(&body) {
            let v = body.get(vs..ve).unwrap_or_default();
            if v.is_empty() || !v.eq_ignore_ascii_case(val) {
                continue;
            }
            match op {
                IncExc::Include | IncExc::Exists => return Ok(1),
                IncExc::Exclude => {
                    // the last value of a header takes the comma before it
                    let ls = if le == body.len() && ls > 0 {
                        ls - 1
                    } else {
                        ls
                    };
                    if ls == 0 && le == body.len() {
                        ctx.edits
                            .delete(h.span.start as usize, h.span.len())
                            .map_err(e)?;
                    } else {
                        ctx.edits.delete(off + ls, le - ls).map_err(e)?;
                    }
                }
            }
        }
    }
    match op {
        IncExc::Exists => Ok(-1),
        IncExc::Exclude => Ok(1),
        IncExc::Include => {
            if let Some(h) = hs.first() {
                let end = h.value.start as usize + kamailio_body(ctx.msg.buf(), h).len();
                let mut t = b",".to_vec();
                t.extend_from_slice(val);
                ctx.edits.insert_at(end, &t).map_err(e)?;
            } else {
                let Ok(eoh) = ctx.msg.headers_end() else {
                    return Ok(-1);
                };
                let mut t = name.to_vec();
                t.extend_from_slice(b": ");
                t.extend_from_slice(val);
                t.extend_from_slice(b"\r\n");
                ctx.edits.insert_at(eoh, &t).map_err(e)?;
            }
            Ok(1)
        }
    }
}

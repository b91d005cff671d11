//! textops' operations on the message: every change is an edit recorded against the received bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::{Ctx, Error};
use ferrosip_sipmsg::build::kamailio_body;
use ferrosip_sipmsg::edit::At;
use ferrosip_sipmsg::{Header, HeaderKind};

use super::re::{c_str, Re, Subst};

/// Which part of the message an operation looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// From the end of the first line to the end of the message (Kamailio's `get_header()`).
    Msg,
    /// From the end of the first line to the end of the header section.
    Headers,
    /// The body (an empty body fails).
    Body,
    /// The body, for `replace_body_atonce` (`^` only at the start of the body).
    BodyAtOnce,
}

/// Where `add_hf` puts the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `append_hf`: after the last header (of the name).
    Append,
    /// `insert_hf`: before the first header (of the name).
    Insert,
}

/// `search(re)`: the whole message, first line included.
pub fn search(ctx: &Ctx<'_>, re: &Re) -> i64 {
    bool_rc(re.is_match(c_str(ctx.msg.buf())))
}

/// `search_body(re)`.
pub fn search_body(ctx: &Ctx<'_>, re: &Re) -> i64 {
    match area(ctx, Area::Body) {
        Some((s, e)) => bool_rc(re.is_match(c_str(slice(ctx, s, e)))),
        None => -1,
    }
}

/// `search_hf(name, re, flags)`: `f` = only the first header of the name, `l` = only the last,
/// anything else = any of them.
pub fn search_hf(ctx: &Ctx<'_>, name: &[u8], re: &Re, flags: &[u8]) -> i64 {
    let hs = named(ctx, name);
    let buf = ctx.msg.buf();
    let test = |h: &Header| re.is_match(c_str(kamailio_body(buf, h)));
    match flags.first() {
        Some(b'f') => hs.first().map_or(-1, |h| bool_rc(test(h))),
        Some(b'l') => hs.last().map_or(-1, |h| bool_rc(test(h))),
        _ => bool_rc(hs.iter().any(test)),
    }
}

/// `search_append(re, txt)` / `search_append_body`: `txt` after the first match.
pub fn search_append(ctx: &mut Ctx<'_>, re: &Re, txt: &[u8], a: Area) -> Result<i64, Error> {
    let Some((s, e)) = area(ctx, a) else {
        return Ok(-1);
    };
    let Some((_, me)) = re.find_at(c_str(slice(ctx, s, e)), 0) else {
        return Ok(-1);
    };
    let anchor = ctx.edits.anchor(s + me).map_err(edit_err)?;
    ctx.edits.insert(At::After(anchor), txt).map_err(edit_err)?;
    Ok(1)
}

/// `replace*`: the first match, or all of them; an empty match in the "all" loop fails, as in
/// Kamailio (`matched string is empty`).
pub fn replace(ctx: &mut Ctx<'_>, re: &Re, txt: &[u8], a: Area, all: bool) -> Result<i64, Error> {
    let Some((s, e)) = area(ctx, a) else {
        return Ok(-1);
    };
    let hay = c_str(slice(ctx, s, e)).to_vec();
    let mut pos = 0;
    let mut rc = -1;
    while pos < hay.len() || (pos == 0 && hay.is_empty()) {
        let Some((ms, me)) = re.find_at(&hay, pos) else {
            break;
        };
        if all && ms == me {
            ctx.log_error("matched string is empty... invalid regexp?");
            return Ok(-1);
        }
        ctx.edits.replace(s + ms, me - ms, txt).map_err(edit_err)?;
        rc = 1;
        if !all || me == pos && ms == me {
            break;
        }
        pos = me;
    }
    Ok(rc)
}

/// `replace_str` & co: plain string, mode `f`/`F` (or empty) = first, anything else = all. An
/// empty area or key counts as success, as in Kamailio.
pub fn replace_str(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    val: &[u8],
    mode: &[u8],
    a: Area,
) -> Result<i64, Error> {
    let Some((s, e)) = area(ctx, a) else {
        return Ok(-1);
    };
    if key.is_empty() || s >= e {
        return Ok(1);
    }
    let first = matches!(mode.first(), None | Some(b'f') | Some(b'F'));
    let hay = slice(ctx, s, e).to_vec();
    let mut pos = 0;
    while let Some(p) = hay
        .get(pos..)
        .and_then(|h| h.windows(key.len()).position(|w| w == key))
    {
        ctx.edits
            .replace(s + pos + p, key.len(), val)
            .map_err(edit_err)?;
        if first {
            break;
        }
        pos += p + key.len();
    }
    Ok(1)
}

/// `subst` / `subst_body`.
pub fn subst(ctx: &mut Ctx<'_>, se: &Subst, a: Area) -> Result<i64, Error> {
    let Some((s, e)) = area(ctx, a) else {
        return Ok(-1);
    };
    let ruri = ctx.ruri();
    let reps = se.run(slice(ctx, s, e), &ruri);
    if reps.is_empty() {
        return Ok(-1);
    }
    for r in reps {
        ctx.edits
            .replace(s + r.start, r.end - r.start, &r.text)
            .map_err(edit_err)?;
    }
    Ok(1)
}

/// `subst_uri`: the R-URI (as changed by the script) is replaced by the result.
pub fn subst_uri(ctx: &mut Ctx<'_>, se: &Subst) -> i64 {
    if !ctx.msg.is_request() {
        return -1;
    }
    let ruri = ctx.ruri();
    match se.apply(&ruri, &ruri) {
        Some(new) => {
            ctx.state.new_uri = Some(new);
            1
        }
        None => -1,
    }
}

/// `subst_user`: the user part of the R-URI (empty when there is none) is replaced by the result.
pub fn subst_user(ctx: &mut Ctx<'_>, se: &Subst) -> i64 {
    if !ctx.msg.is_request() {
        return -1;
    }
    let ruri = ctx.ruri();
    let Some(parts) = split_user(&ruri) else {
        ctx.log_error("failed to parse the R-URI");
        return -1;
    };
    let user = ruri.get(parts.user.0..parts.user.1).unwrap_or_default();
    let Some(new_user) = se.apply(user, &ruri) else {
        return -1;
    };
    ctx.state.new_uri = Some(set_user(&ruri, &parts, &new_user));
    1
}

/// `subst_hf(name, subst, flags)`: on the bodies of the headers of that name (`f` first, `l` last,
/// anything else all).
pub fn subst_hf(ctx: &mut Ctx<'_>, name: &[u8], se: &Subst, flags: &[u8]) -> Result<i64, Error> {
    let hs = named(ctx, name);
    let chosen: Vec<Header> = match flags.first() {
        Some(b'f') => hs.first().copied().into_iter().collect(),
        Some(b'l') => hs.last().copied().into_iter().collect(),
        _ => hs,
    };
    let ruri = ctx.ruri();
    let mut rc = -1;
    for h in chosen {
        let body = kamailio_body(ctx.msg.buf(), &h);
        let off = h.value.start as usize;
        let reps = se.run(body, &ruri);
        for r in reps {
            ctx.edits
                .replace(off + r.start, r.end - r.start, &r.text)
                .map_err(edit_err)?;
            rc = 1;
        }
    }
    Ok(rc)
}

/// `append_hf` / `insert_hf`, with an optional anchor header name.
pub fn add_hf(
    ctx: &mut Ctx<'_>,
    txt: &[u8],
    anchor: Option<&[u8]>,
    mode: Mode,
) -> Result<i64, Error> {
    let Ok(hdrs) = ctx.msg.headers() else {
        return Ok(-1);
    };
    let Some(first) = hdrs.first().copied() else {
        return Ok(-1);
    };
    let Ok(eoh) = ctx.msg.headers_end() else {
        return Ok(-1);
    };
    if txt.is_empty() {
        return Ok(-1);
    }
    let hs = anchor.map(|n| named(ctx, n)).unwrap_or_default();
    let at = match mode {
        Mode::Append => hs.last().map_or(eoh, |h| h.span.end as usize),
        Mode::Insert => hs
            .first()
            .map_or(first.span.start as usize, |h| h.span.start as usize),
    };
    ctx.edits.insert_at(at, txt).map_err(edit_err)?;
    Ok(1)
}

/// `is_present_hf(name)`.
pub fn is_present_hf(ctx: &Ctx<'_>, name: &[u8]) -> i64 {
    bool_rc(!named(ctx, name).is_empty())
}

/// `is_present_hf_re(re)`: a header name matches.
pub fn is_present_hf_re(ctx: &Ctx<'_>, re: &Re) -> i64 {
    let buf = ctx.msg.buf();
    let Ok(hs) = ctx.msg.headers() else { return -1 };
    bool_rc(hs.iter().any(|h| re.is_match(h.name.of(buf))))
}

/// `remove_hf(name)`: 1 when at least one was removed.
pub fn remove_hf(ctx: &mut Ctx<'_>, name: &[u8]) -> Result<i64, Error> {
    let hs = named(ctx, name);
    for h in &hs {
        delete(ctx, h)?;
    }
    Ok(bool_rc(!hs.is_empty()))
}

/// `remove_hf_re(re)` / `remove_hf_exp(match, skip)`: headers whose name matches `m` (and not
/// `skip`).
pub fn remove_hf_exp(ctx: &mut Ctx<'_>, m: &Re, skip: Option<&Re>) -> Result<i64, Error> {
    let buf = ctx.msg.buf();
    let Ok(hs) = ctx.msg.headers() else {
        return Ok(-1);
    };
    let chosen: Vec<Header> = hs
        .iter()
        .filter(|h| {
            let n = h.name.of(buf);
            m.is_match(n) && !skip.is_some_and(|k| k.is_match(n))
        })
        .copied()
        .collect();
    for h in &chosen {
        delete(ctx, h)?;
    }
    Ok(bool_rc(!chosen.is_empty()))
}

/// `remove_hf_idx(name, idx)`: 1 when removed (or nothing to do for a negative index beyond the
/// start), 2 when a non-negative index is past the end — Kamailio's codes.
pub fn remove_hf_idx(ctx: &mut Ctx<'_>, name: &[u8], idx: i64) -> Result<i64, Error> {
    let hs = named(ctx, name);
    let n = i64::try_from(hs.len()).unwrap_or(i64::MAX);
    let pos = if idx >= 0 { idx } else { n + idx };
    if idx >= 0 && pos >= n {
        return Ok(2);
    }
    if pos < 0 {
        return Ok(1);
    }
    if let Some(h) = usize::try_from(pos).ok().and_then(|p| hs.get(p)) {
        delete(ctx, h)?;
    }
    Ok(1)
}

/// `remove_hf_match(name, op, expr)`: op `eq`, `ne`, `in` (body contains), `re` (regex, textops
/// flags). -2 when nothing matched, -1 on a bad operator or regex.
pub fn remove_hf_match(
    ctx: &mut Ctx<'_>,
    name: &[u8],
    op: &[u8],
    expr: &[u8],
) -> Result<i64, Error> {
    let re = if op.eq_ignore_ascii_case(b"re") {
        match Re::textops(&String::from_utf8_lossy(expr)) {
            Ok(r) => Some(r),
            Err(e) => {
                ctx.log_error(&e);
                return Ok(-1);
            }
        }
    } else {
        None
    };
    let op = op.to_ascii_lowercase();
    if !matches!(op.as_slice(), b"eq" | b"ne" | b"in" | b"re") {
        return Ok(-1);
    }
    let buf = ctx.msg.buf();
    let chosen: Vec<Header> = named(ctx, name)
        .into_iter()
        .filter(|h| {
            let body = kamailio_body(buf, h);
            match op.as_slice() {
                b"eq" => body == expr,
                b"ne" => body != expr,
                b"in" => !expr.is_empty() && body.windows(expr.len()).any(|w| w == expr),
                _ => re.as_ref().is_some_and(|r| r.is_match(body)),
            }
        })
        .collect();
    for h in &chosen {
        delete(ctx, h)?;
    }
    Ok(if chosen.is_empty() { -2 } else { 1 })
}

/// `via_param_rm(name, idx)`: removes `;name[=value]` from the Via at `idx` (0 = top).
pub fn via_param_rm(ctx: &mut Ctx<'_>, name: &[u8], idx: i64) -> Result<i64, Error> {
    let Ok(vias) = ctx.msg.vias() else {
        return Ok(-1);
    };
    let Some(via) = usize::try_from(idx).ok().and_then(|i| vias.get(i)) else {
        return Ok(-1);
    };
    let buf = ctx.msg.buf();
    let Some(span) = via.params.get(buf, name).map(|p| p.span) else {
        return Ok(-1);
    };
    // the span starts at the `;` before the name: removing it removes the parameter
    ctx.edits
        .delete(span.start as usize, span.len())
        .map_err(edit_err)?;
    Ok(1)
}

/// `has_body()` / `has_body(type)`: needs a Content-Length header with a value above 0; with a
/// type, the Content-Type (application/sdp when absent) must be that type/subtype.
pub fn has_body(ctx: &Ctx<'_>, mime: Option<&[u8]>) -> i64 {
    match ctx.msg.content_length() {
        Ok(Some(cl)) if cl.value > 0 => {}
        _ => return -1,
    }
    let Some(mime) = mime else { return 1 };
    let (t, s) = match mime.iter().position(|c| *c == b'/') {
        Some(p) => (
            mime.get(..p).unwrap_or_default(),
            mime.get(p + 1..).unwrap_or_default(),
        ),
        None => return -1,
    };
    let buf = ctx.msg.buf();
    match ctx.msg.content_type() {
        Ok(Some(ct)) => bool_rc(ct.is(buf, t, s)),
        Ok(None) => {
            bool_rc(t.eq_ignore_ascii_case(b"application") && s.eq_ignore_ascii_case(b"sdp"))
        }
        Err(_) => -1,
    }
}

/// `is_audio_on_hold()`: 1 for `c=0.0.0.0` (RFC 2543 hold), 2 for `sendonly`/`inactive` (RFC 3264
/// hold) on an audio stream; -1 otherwise (Kamailio returns the hold type).
pub fn is_audio_on_hold(ctx: &Ctx<'_>) -> i64 {
    let Ok(Some(sdp)) = ctx.msg.sdp() else {
        return -1;
    };
    let buf = ctx.msg.buf();
    let held = |name: &[u8]| {
        name.eq_ignore_ascii_case(b"sendonly") || name.eq_ignore_ascii_case(b"inactive")
    };
    let session_hold = sdp.attributes(buf, None).any(|(n, _)| held(n.of(buf)));
    for (i, m) in sdp.media.iter().enumerate() {
        if !m.media.of(buf).eq_ignore_ascii_case(b"audio") {
            continue;
        }
        if session_hold || sdp.attributes(buf, Some(i)).any(|(n, _)| held(n.of(buf))) {
            return 2;
        }
        let conn = m.connection.or(sdp.connection);
        if conn.is_some_and(|c| c.address.of(buf) == b"0.0.0.0") {
            return 1;
        }
    }
    -1
}

/// `is_privacy(value)`: the first Privacy header has the value.
pub fn is_privacy(ctx: &Ctx<'_>, v: &[u8]) -> i64 {
    let Some(bit) = super::privacy_bit(v) else {
        return -1;
    };
    match ctx.msg.privacy() {
        Ok(Some(bits)) => bool_rc(u32::from(bits) & bit != 0),
        _ => -1,
    }
}

/// `set_body(body, type)`: Kamailio's layout — old body deleted, `Content-Type` replaced when it
/// differs, `Content-Length` added when absent (both at the end of the headers), new body written
/// at the body start.
pub fn set_body(ctx: &mut Ctx<'_>, body: &[u8], ctype: &[u8]) -> Result<i64, Error> {
    if body.is_empty() || ctype.is_empty() {
        return Ok(-1);
    }
    let (Ok(eoh), Ok(bspan)) = (ctx.msg.headers_end(), ctx.msg.body_span()) else {
        return Ok(-1);
    };
    let cl = ctx
        .msg
        .header(HeaderKind::ContentLength)
        .ok()
        .flatten()
        .copied();
    let ct = ctx
        .msg
        .header(HeaderKind::ContentType)
        .ok()
        .flatten()
        .copied();
    let bstart = bspan.start as usize;
    if cl.is_some() && !bspan.is_empty() {
        ctx.edits.delete(bstart, bspan.len()).map_err(edit_err)?;
    }
    let anchor = ctx.edits.anchor(eoh).map_err(edit_err)?;
    if cl.is_none() {
        let t = format!("Content-Length: {}\r\n", body.len());
        ctx.edits
            .insert(At::After(anchor), t.as_bytes())
            .map_err(edit_err)?;
    }
    let same = ct.is_some_and(|h| kamailio_body(ctx.msg.buf(), &h) == ctype);
    if !same {
        if let Some(h) = ct {
            delete(ctx, &h)?;
        }
        let mut t = b"Content-Type: ".to_vec();
        t.extend_from_slice(ctype);
        t.extend_from_slice(b"\r\n");
        ctx.edits.insert(At::After(anchor), &t).map_err(edit_err)?;
    }
    let banchor = ctx.edits.anchor(bstart).map_err(edit_err)?;
    ctx.edits
        .insert(At::After(banchor), body)
        .map_err(edit_err)?;
    Ok(1)
}

/// `set_reply_body(body, type)`: a second call fails (one body per reply).
pub fn set_reply_body(ctx: &mut Ctx<'_>, body: &[u8], ctype: &[u8]) -> i64 {
    if body.is_empty() || ctype.is_empty() {
        return -1;
    }
    if !crate::sl::reply_lumps::set_body(ctx, body) {
        ctx.log_error("a reply body is already set");
        return -1;
    }
    let mut h = b"Content-Type: ".to_vec();
    h.extend_from_slice(ctype);
    h.extend_from_slice(b"\r\n");
    crate::sl::reply_lumps::add_header(ctx, &h);
    1
}

/// `append_time_to_request()`: `Date:` right after the first header, as Kamailio does.
pub fn append_time_to_request(ctx: &mut Ctx<'_>, now: SystemTime) -> Result<i64, Error> {
    let Some(first) = ctx.msg.headers().ok().and_then(|h| h.first().copied()) else {
        return Ok(-1);
    };
    let a = ctx
        .edits
        .anchor(first.span.end as usize)
        .map_err(edit_err)?;
    ctx.edits
        .insert(At::After(a), date_header(now).as_bytes())
        .map_err(edit_err)?;
    Ok(1)
}

/// `Date: Www, DD Mmm YYYY HH:MM:SS GMT\r\n` for `t` (Kamailio's `TIME_FORMAT`, C locale).
pub fn date_header(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, mo, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MON: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let wd = WD
        .get(usize::try_from(days.rem_euclid(7)).unwrap_or(0))
        .unwrap_or(&"Thu");
    let mon = MON
        .get(usize::try_from(mo - 1).unwrap_or(0))
        .unwrap_or(&"Jan");
    format!(
        "Date: {wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT\r\n",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

// ---- internals ----

fn bool_rc(b: bool) -> i64 {
    if b {
        1
    } else {
        -1
    }
}

fn edit_err(e: ferrosip_sipmsg::edit::EditError) -> Error {
    Error::Runtime(e.to_string())
}

fn slice<'m>(ctx: &'m Ctx<'_>, s: usize, e: usize) -> &'m [u8] {
    ctx.msg.buf().get(s..e).unwrap_or_default()
}

/// Byte range of an area, `None` when it does not exist (an empty body).
fn area(ctx: &Ctx<'_>, a: Area) -> Option<(usize, usize)> {
    let len = ctx.msg.buf().len();
    let after_first = ctx.msg.first_line_span().end as usize;
    match a {
        Area::Msg => Some((after_first.min(len), len)),
        Area::Headers => {
            let eoh = ctx.msg.headers_end().ok()?;
            Some((after_first.min(eoh), eoh))
        }
        Area::Body | Area::BodyAtOnce => {
            let b = ctx.msg.body_span().ok()?;
            if b.is_empty() {
                None
            } else {
                Some((b.start as usize, b.end as usize))
            }
        }
    }
}

/// Headers of a name (compact forms and known kinds included), in order.
fn named(ctx: &Ctx<'_>, name: &[u8]) -> Vec<Header> {
    match ctx.msg.headers_named(name) {
        Ok(it) => it.copied().collect(),
        Err(_) => Vec::new(),
    }
}

fn delete(ctx: &mut Ctx<'_>, h: &Header) -> Result<(), Error> {
    ctx.edits
        .delete(h.span.start as usize, h.span.len())
        .map(|_| ())
        .map_err(edit_err)
}

/// Offsets of the user part of a SIP URI text.
struct UserParts {
    /// Byte range of the user (empty range after the scheme when there is no user).
    user: (usize, usize),
    /// True when the URI has a userinfo (`@`).
    has_at: bool,
    /// End of the userinfo (password included) = position of `@`.
    at: usize,
}

fn split_user(uri: &[u8]) -> Option<UserParts> {
    let colon = uri.iter().position(|c| *c == b':')?;
    let start = colon + 1;
    let rest = uri.get(start..)?;
    // the userinfo ends at the last `@` before any `;`, `?` or `>`
    let stop = rest
        .iter()
        .position(|c| matches!(c, b';' | b'?' | b'>'))
        .unwrap_or(rest.len());
    match rest.get(..stop)?.iter().rposition(|c| *c == b'@') {
        Some(at) => {
            let info = rest.get(..at)?;
            let uend = info.iter().position(|c| *c == b':').unwrap_or(at);
            Some(UserParts {
                user: (start, start + uend),
                has_at: true,
                at: start + at,
            })
        }
        None => Some(UserParts {
            user: (start, start),
            has_at: false,
            at: start,
        }),
    }
}

/// Kamailio's `SET_USER_T`: the user replaced (password kept); an empty user drops the userinfo.
fn set_user(uri: &[u8], p: &UserParts, user: &[u8]) -> Vec<u8> {
    let mut out = uri.get(..p.user.0).unwrap_or_default().to_vec();
    if user.is_empty() {
        if p.has_at {
            // keep a password only when there is a user to carry it; Kamailio drops both
            out.extend_from_slice(uri.get(p.at + 1..).unwrap_or_default());
        } else {
            out.extend_from_slice(uri.get(p.user.0..).unwrap_or_default());
        }
        return out;
    }
    out.extend_from_slice(user);
    if p.has_at {
        out.extend_from_slice(uri.get(p.user.1..).unwrap_or_default());
    } else {
        out.push(b'@');
        out.extend_from_slice(uri.get(p.user.0..).unwrap_or_default());
    }
    out
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's civil-from-days).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates() {
        let cases = [
            (0u64, "Date: Thu, 01 Jan 1970 00:00:00 GMT\r\n"),
            (951_782_400, "Date: Tue, 29 Feb 2000 00:00:00 GMT\r\n"),
            (1_764_145_506, "Date: Wed, 26 Nov 2025 08:25:06 GMT\r\n"),
        ];
        for (s, want) in cases {
            assert_eq!(date_header(UNIX_EPOCH + Duration::from_secs(s)), want);
        }
    }

    #[test]
    fn user_rewrite() {
        let cases: &[(&str, &str, &str)] = &[
            ("sip:alice@h", "bob", "sip:bob@h"),
            ("sip:alice:pw@h;x=1", "bob", "sip:bob:pw@h;x=1"),
            ("sip:h;x=a@b", "bob", "sip:bob@h;x=a@b"),
            ("sip:alice@h", "", "sip:h"),
            ("tel:+123", "+456", "tel:+456@+123"),
        ];
        for (uri, user, want) in cases {
            let p = split_user(uri.as_bytes()).unwrap_or_else(|| panic!("{uri}"));
            assert_eq!(
                String::from_utf8_lossy(&set_user(uri.as_bytes(), &p, user.as_bytes())),
                *want,
                "{uri}"
            );
        }
    }
}

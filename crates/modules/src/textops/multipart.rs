//! textops' multipart body functions that read or cut existing parts: `filter_body`,
//! `get_body_part`, `get_body_part_raw`, `remove_body_part`.
//!
//! They follow Kamailio's text scan rather than a MIME parser, because their results depend on it:
//! a part is found by a `Content-Type:` line (long or compact name) whose value starts with the
//! wanted type and is followed directly by CRLF; it ends at the next line that starts with
//! `--boundary`. `get_body_part_raw` therefore returns from that Content-Type line to the end of
//! the boundary line, and `get_body_part` from after the Content-Type line to before the boundary.

use ferrosip_api::{Ctx, Error, Value};

/// `filter_body(ct)`: keeps only the content of the first part of that type (multipart/mixed only);
/// the message's Content-Type header is left as it is, as in Kamailio.
pub fn filter_body(ctx: &mut Ctx<'_>, ct: &[u8]) -> Result<i64, Error> {
    let Some((base, body)) = body(ctx) else {
        return Ok(-1);
    };
    let buf = ctx.msg.buf();
    let mixed = matches!(ctx.msg.content_type(), Ok(Some(t)) if t.is(buf, b"multipart", b"mixed"));
    if !mixed {
        return Ok(-1);
    }
    let Some(bnd) = boundary(ctx) else {
        return Ok(-1);
    };
    let mut start = 0;
    while let Some((_, vs)) = find_ct_line(&body, start) {
        start = vs;
        if body.len() - vs <= ct.len() + 2 {
            return Ok(-1);
        }
        if !starts_with_ic(body.get(vs..).unwrap_or_default(), ct) {
            continue;
        }
        let mut s = vs + ct.len();
        if body.get(s..s + 2) != Some(b"\r\n") {
            return Ok(-1);
        }
        s += 2;
        while matches!(body.get(s), Some(b'\r' | b'\n')) {
            s += 1;
        }
        let Some(bs) = find_line_start(&body, s, &bnd) else {
            return Ok(-1);
        };
        ctx.edits.delete(base, s).map_err(err)?;
        let cut = bs.saturating_sub(2);
        ctx.edits
            .delete(base + cut, body.len() - cut)
            .map_err(err)?;
        return Ok(1);
    }
    Ok(-1)
}

/// What [`part`] returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartMode {
    /// `get_body_part_raw`: Content-Type line to the end of the boundary line.
    Raw,
    /// `get_body_part`: after the Content-Type line to the boundary line.
    Content,
}

/// `get_body_part[_raw](ct, var)`: the part's text, or the whole body when there is no boundary
/// (Kamailio's behaviour); `None` when not found.
pub fn part(ctx: &Ctx<'_>, ct: &[u8], mode: PartMode) -> Option<Vec<u8>> {
    let (_, body) = body(ctx)?;
    let Some(bnd) = boundary(ctx) else {
        return Some(body);
    };
    let (ls, he, bs, end) = locate(&body, ct, &bnd)?;
    let r = match mode {
        PartMode::Raw => body.get(ls..end),
        PartMode::Content => body.get(he..bs),
    };
    r.map(<[u8]>::to_vec)
}

/// `remove_body_part(ct)`: deletes the part from its Content-Type line through the next boundary
/// line.
pub fn remove_part(ctx: &mut Ctx<'_>, ct: &[u8]) -> Result<i64, Error> {
    let Some((base, body)) = body(ctx) else {
        return Ok(-1);
    };
    let Some(bnd) = boundary(ctx) else {
        return Ok(-1);
    };
    let Some((ls, _, bs, end)) = locate(&body, ct, &bnd) else {
        return Ok(-1);
    };
    let mut closing = bnd.clone();
    closing.extend_from_slice(b"--");
    let last = body.get(bs..).is_some_and(|r| r.starts_with(&closing));
    if last && ls >= 2 && body.get(ls - 2..ls) == Some(b"\r\n") {
        // Removing the last part: Kamailio deletes through the closing delimiter line and its
        // sender (`check_boundaries`, triggered by FL_BODY_MULTIPART) turns the boundary line
        // before the part into the closing one. Same bytes: keep `--b` and the closing `--\r\n`.
        ctx.edits
            .delete(base + ls - 2, bs + bnd.len() - (ls - 2))
            .map_err(err)?;
    } else {
        ctx.edits.delete(base + ls, end - ls).map_err(err)?;
    }
    Ok(1)
}

/// Stores a part in a variable (`Null` result = not found).
pub fn store(
    ctx: &mut Ctx<'_>,
    v: Option<Vec<u8>>,
    out: Option<&ferrosip_api::export::Arg>,
) -> Result<i64, Error> {
    match v {
        Some(b) => {
            crate::textops::set_var(ctx, out, Value::Str(b))?;
            Ok(1)
        }
        None => Ok(-1),
    }
}

// ---- internals ----

fn err(e: ferrosip_sipmsg::edit::EditError) -> Error {
    Error::Runtime(e.to_string())
}

fn body(ctx: &Ctx<'_>) -> Option<(usize, Vec<u8>)> {
    let b = ctx.msg.body_span().ok()?;
    if b.is_empty() {
        return None;
    }
    Some((b.start as usize, ctx.msg.slice(b).to_vec()))
}

/// `--` + the boundary parameter of Content-Type (quotes removed).
fn boundary(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    let buf = ctx.msg.buf();
    let ct = ctx.msg.content_type().ok()??;
    let p = ct.params.get(buf, b"boundary")?;
    let v = p.unquoted(buf).or(p.value)?;
    let mut out = b"--".to_vec();
    out.extend_from_slice(v.of(buf));
    Some(out)
}

/// (Content-Type line start, end of that line, boundary line start, end of boundary line).
fn locate(body: &[u8], ct: &[u8], bnd: &[u8]) -> Option<(usize, usize, usize, usize)> {
    let mut start = 0;
    while let Some((ls, vs)) = find_ct_line(body, start) {
        if body.len() - vs <= ct.len() + 2 {
            return None;
        }
        if starts_with_ic(body.get(vs..)?, ct) {
            let e = vs + ct.len();
            if body.get(e..e + 2) != Some(b"\r\n") {
                return None;
            }
            let he = e + 2;
            let bs = find_line_start(body, he, bnd)?;
            let after = bs + bnd.len();
            let t = body.get(after..)?.iter().position(|c| *c == b'\n')? + 1;
            return Some((ls, he, bs, after + t));
        }
        start = vs;
    }
    None
}

fn starts_with_ic(s: &[u8], p: &[u8]) -> bool {
    s.get(..p.len()).is_some_and(|x| x.eq_ignore_ascii_case(p))
}

/// The next line (from `start`, which is treated as a line start) whose header name is
/// Content-Type (`Content-Type` or `c`): (line start, value start). Lines must end in CRLF.
fn find_ct_line(body: &[u8], mut start: usize) -> Option<(usize, usize)> {
    const MIN: usize = 14; // Kamailio scans with the length of "Content-Type: "
    while body.len().saturating_sub(start) >= MIN {
        let line = body.get(start..)?;
        if is_ct_name(line) {
            let colon = line
                .get(..line.len() - 1)?
                .iter()
                .position(|c| *c == b':')?;
            let mut v = colon + 1;
            while matches!(line.get(v), Some(b' ' | b'\t')) {
                v += 1;
            }
            if v >= line.len() {
                return None;
            }
            return Some((start, start + v));
        }
        let scan = line.get(..line.len() - 1)?;
        let cr = scan.iter().position(|c| *c == b'\r')?;
        if line.get(cr + 1) != Some(&b'\n') {
            return None;
        }
        start += cr + 2;
    }
    None
}

fn is_ct_name(line: &[u8]) -> bool {
    let Some(colon) = line.iter().take(14).position(|c| *c == b':') else {
        return false;
    };
    let name = line.get(..colon).unwrap_or_default();
    let name = match name.iter().rposition(|c| !matches!(c, b' ' | b'\t')) {
        Some(e) => name.get(..=e).unwrap_or_default(),
        None => return false,
    };
    name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"c")
}

/// Kamailio's `find_line_start`: a line starting with `text`, from `start` (taken as a line start).
fn find_line_start(body: &[u8], mut start: usize, text: &[u8]) -> Option<usize> {
    while body.len().saturating_sub(start) >= text.len() {
        let rest = body.get(start..)?;
        if rest.starts_with(text) {
            return Some(start);
        }
        let scan = rest.get(..rest.len().saturating_sub(1))?;
        let cr = scan.iter().position(|c| *c == b'\r')?;
        if rest.get(cr + 1) != Some(&b'\n') {
            return None;
        }
        start += cr + 2;
    }
    None
}

/// `set_body_multipart([txt, ct][, boundary])`: makes the body multipart/mixed. Without a text the
/// old body becomes the only part (with its Content-Type); the Content-Type header becomes
/// `multipart/mixed;boundary="…"` and `Mime-Version: 1.0` is added. The last delimiter stays `--b`
/// (not closed) for a converted body and is closed (`--b--`) when the body was multipart already —
/// the bytes Kamailio's sender produces in both cases.
pub fn set_multipart(ctx: &mut Ctx<'_>, txt: &[u8], ct: &[u8], delim: &[u8]) -> Result<i64, Error> {
    let ct: &[u8] = if ct.is_empty() { b"text/plain" } else { ct };
    let delim: &[u8] = if delim.is_empty() {
        b"unique-boundary-1"
    } else {
        delim
    };
    let buf = ctx.msg.buf();
    let mixed = matches!(ctx.msg.content_type(), Ok(Some(t)) if t.is(buf, b"multipart", b"mixed"));
    if mixed && txt.is_empty() {
        return Ok(1);
    }
    if mixed
        && boundary(ctx)
            .as_deref()
            .map(|b| b.get(2..).unwrap_or_default())
            != Some(delim)
    {
        // Kamailio would keep the old Content-Type and fail to fix the boundaries when sending.
        ctx.log_error(
            "set_body_multipart: the boundary differs from the one of the multipart body",
        );
        return Ok(-1);
    }
    let (Ok(eoh), Ok(bspan)) = (ctx.msg.headers_end(), ctx.msg.body_span()) else {
        return Ok(-1);
    };
    let old_ct = ctx
        .msg
        .header(ferrosip_sipmsg::HeaderKind::ContentType)
        .ok()
        .flatten()
        .copied();
    let has_cl = matches!(
        ctx.msg.header(ferrosip_sipmsg::HeaderKind::ContentLength),
        Ok(Some(_))
    );
    let old_body = ctx.msg.slice(bspan).to_vec();
    let (part_txt, part_ct): (Vec<u8>, Vec<u8>) = if !txt.is_empty() {
        (txt.to_vec(), ct.to_vec())
    } else {
        let t = old_ct
            .map(|h| ferrosip_sipmsg::build::kamailio_body(ctx.msg.buf(), &h).to_vec())
            .unwrap_or_else(|| ct.to_vec());
        (old_body.clone(), t)
    };
    if part_txt.is_empty() {
        return Ok(-1);
    }
    let base = bspan.start as usize;
    if !old_body.is_empty() {
        ctx.edits.delete(base, old_body.len()).map_err(err)?;
    }
    let mut nbb = Vec::new();
    generate(&mut nbb, &part_txt, &part_ct, b"", delim, true);
    let a = ctx.edits.anchor(eoh).map_err(err)?;
    if !has_cl {
        let t = format!("Content-Length: {}\r\n", nbb.len());
        ctx.edits
            .insert(ferrosip_sipmsg::edit::At::After(a), t.as_bytes())
            .map_err(err)?;
    }
    if !mixed {
        if let Some(h) = old_ct {
            ctx.edits
                .delete(h.span.start as usize, h.span.len())
                .map_err(err)?;
        }
        let mut t = b"Content-Type: multipart/mixed;boundary=\"".to_vec();
        t.extend_from_slice(delim);
        t.extend_from_slice(b"\"\r\n");
        ctx.edits
            .insert(ferrosip_sipmsg::edit::At::After(a), &t)
            .map_err(err)?;
        ctx.edits
            .insert_at(eoh, b"Mime-Version: 1.0\r\n")
            .map_err(err)?;
    }
    if mixed {
        // Kamailio's sender fixes the delimiters (`check_boundaries`) only when the received
        // Content-Type already had this boundary; a converted body keeps its open last delimiter.
        close_last(&mut nbb, delim);
    }
    let b = ctx.edits.anchor(base).map_err(err)?;
    ctx.edits
        .insert(ferrosip_sipmsg::edit::At::After(b), &nbb)
        .map_err(err)?;
    Ok(1)
}

/// `append_body_part(txt, ct[, cd])`: adds a part at the end of a multipart/mixed body; the old
/// closing delimiter becomes an ordinary one and the new part is closed, as Kamailio's sender
/// (`check_boundaries`) leaves it.
pub fn append_part(ctx: &mut Ctx<'_>, txt: &[u8], ct: &[u8], cd: &[u8]) -> Result<i64, Error> {
    if txt.is_empty() || ct.is_empty() {
        return Ok(-1);
    }
    let Some((base, body)) = body(ctx) else {
        return Ok(-1);
    };
    let buf = ctx.msg.buf();
    let mixed = matches!(ctx.msg.content_type(), Ok(Some(t)) if t.is(buf, b"multipart", b"mixed"));
    if !mixed {
        return Ok(-1);
    }
    let Some(bnd) = boundary(ctx) else {
        return Ok(-1);
    };
    let delim = bnd.get(2..).unwrap_or_default().to_vec();
    // the last line that starts with --boundary: from there to the end becomes the new tail
    let mut last = None;
    let mut pos = 0;
    while let Some(p) = find_line_start(&body, pos, &bnd) {
        last = Some(p);
        match body
            .get(p..)
            .and_then(|r| r.iter().position(|c| *c == b'\n'))
        {
            Some(n) => pos = p + n + 1,
            None => break,
        }
    }
    let Some(last) = last else { return Ok(-1) };
    let line_end = body
        .get(last..)
        .and_then(|r| r.iter().position(|c| *c == b'\n'))
        .map_or(body.len(), |n| last + n + 1);
    let mut line = bnd.clone();
    line.extend_from_slice(b"\r\n");
    ctx.edits
        .replace(base + last, line_end - last, &line)
        .map_err(err)?;
    let mut part = Vec::new();
    generate(&mut part, txt, ct, cd, &delim, false);
    close_last(&mut part, &delim);
    let a = ctx.edits.anchor(base + body.len()).map_err(err)?;
    ctx.edits
        .insert(ferrosip_sipmsg::edit::At::After(a), &part)
        .map_err(err)?;
    Ok(1)
}

/// Kamailio's `generate_boundary`: [`--d` CRLF] `Content-Type: ct` CRLF [`Content-Disposition:`]
/// CRLF text [CRLF unless it ends in an empty line] `--d` CRLF.
fn generate(out: &mut Vec<u8>, txt: &[u8], ct: &[u8], cd: &[u8], delim: &[u8], initial: bool) {
    if initial {
        out.extend_from_slice(b"--");
        out.extend_from_slice(delim);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Type: ");
    out.extend_from_slice(ct);
    out.extend_from_slice(b"\r\n");
    if !cd.is_empty() {
        out.extend_from_slice(b"Content-Disposition: ");
        out.extend_from_slice(cd);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(txt);
    if !txt.ends_with(b"\r\n\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(delim);
    out.extend_from_slice(b"\r\n");
}

/// Turns the final `--d` CRLF into the closing `--d--` CRLF.
fn close_last(out: &mut Vec<u8>, delim: &[u8]) {
    let n = delim.len() + 4;
    if out.len() >= n {
        out.truncate(out.len() - 2);
        out.extend_from_slice(b"--\r\n");
    }
}

//! Operations of the pv module's XAVP functions (`xavp_rm`, `xavp_child_seti`, `xavp_params_explode`,
//! `xavp_copy`, `xavp_lshift`, `pv_xavp_print` …) on the per-message XAVP map, with Kamailio's
//! list semantics: a root name holds a stack of records (index 0 the newest), a record holds its
//! fields in list order (index 0 the newest field added).
//!
//! The layout is the one of [`super::containers`]: `$xavu`/`$xavi` roots live under the prefixed
//! keys [`root_key`] makes; `$xavi` roots are keyed lowercased, their field names are kept as
//! written and compared without case. Roots whose key starts with a NUL
//! byte and is not one of these prefixes are other modules' hidden per-message state and are never
//! printed.

use ferrosip_api::ctx::XavpRecord;
use ferrosip_api::{Ctx, LogLine, Value};

/// Which of Kamailio's three lists a function works on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XKind {
    /// `$xavp`.
    Xavp,
    /// `$xavu` (one value per name).
    Xavu,
    /// `$xavi` (case-insensitive names).
    Xavi,
}

impl XKind {
    fn prefix(self) -> &'static [u8] {
        match self {
            XKind::Xavp => b"",
            XKind::Xavu => b"\0u:",
            XKind::Xavi => b"\0i:",
        }
    }

    /// The label Kamailio's list printer uses.
    pub fn label(self) -> &'static str {
        match self {
            XKind::Xavp => "XAVP",
            XKind::Xavu => "XAVU",
            XKind::Xavi => "XAVI",
        }
    }

    /// A root name as keyed: `$xavi` roots are keyed lowercased.
    pub fn norm(self, name: &[u8]) -> Vec<u8> {
        if self == XKind::Xavi {
            name.to_ascii_lowercase()
        } else {
            name.to_vec()
        }
    }

    /// Field names match exactly, or without case for `$xavi` (stored as written).
    pub fn same(self, a: &[u8], b: &[u8]) -> bool {
        if self == XKind::Xavi {
            a.eq_ignore_ascii_case(b)
        } else {
            a == b
        }
    }
}

/// Hidden per-message record: `$xavi` root names as last written when a record was added, for
/// the printer (Kamailio prints each entry's name as given; the map keys are lowercased).
const XAVI_NAMES: &[u8] = b"\0pv:xavi_names";

/// Remembers how a `$xavi` root was spelled when a record was added to it.
pub fn remember_xavi_name(ctx: &mut Ctx<'_>, shown: &[u8]) {
    let lower = shown.to_ascii_lowercase();
    let rec = ctx
        .state
        .xavps
        .entry(XAVI_NAMES.to_vec())
        .or_insert_with(|| vec![Vec::new()]);
    if let Some(r) = rec.first_mut() {
        r.retain(|(k, _)| *k != lower);
        r.push((lower, Value::Str(shown.to_vec())));
    }
}

fn xavi_shown(ctx: &Ctx<'_>, lower: &[u8]) -> Vec<u8> {
    ctx.state
        .xavps
        .get(XAVI_NAMES)
        .and_then(|r| r.first())
        .and_then(|r| r.iter().find(|(k, _)| k == lower))
        .map(|(_, v)| v.to_bytes().into_owned())
        .unwrap_or_else(|| lower.to_vec())
}

/// The map key of root `name` in list `kind`.
pub fn root_key(kind: XKind, name: &[u8]) -> Vec<u8> {
    let mut k = kind.prefix().to_vec();
    k.extend_from_slice(&kind.norm(name));
    k
}

/// True when the record is a plain value (`$xavp(x) = 1`), not a list of fields.
fn is_plain(r: &XavpRecord) -> bool {
    matches!(r.as_slice(), [(k, _)] if k.is_empty())
}

/// `xavp_rm` / `xavi_rm`: removes the newest record of `root` (Kamailio removes index 0 only).
pub fn rm(ctx: &mut Ctx<'_>, kind: XKind, root: &[u8]) {
    let key = root_key(kind, root);
    if let Some(recs) = ctx.state.xavps.get_mut(&key) {
        if !recs.is_empty() {
            recs.remove(0);
        }
        if recs.is_empty() {
            ctx.state.xavps.remove(&key);
        }
    }
}

/// `xavp_child_rm` / `xavi_child_rm`: removes the first field `child` of the newest record.
pub fn child_rm(ctx: &mut Ctx<'_>, kind: XKind, root: &[u8], child: &[u8]) {
    let key = root_key(kind, root);
    if let Some(rec) = ctx.state.xavps.get_mut(&key).and_then(|r| r.first_mut()) {
        if is_plain(rec) {
            return;
        }
        if let Some(p) = rec.iter().position(|(k, _)| kind.same(k, child)) {
            rec.remove(p);
        }
    }
}

/// `xavp_child_seti/sets`: sets the first field `child` of the newest record (replacing the
/// first field of that name and putting the new one first). A missing root, or a root whose
/// newest record is a plain value, gets a new record holding only this field.
pub fn child_set(ctx: &mut Ctx<'_>, kind: XKind, root: &[u8], child: &[u8], v: Value) {
    let key = root_key(kind, root);
    let recs = ctx.state.xavps.entry(key).or_default();
    let child = child.to_vec();
    match recs.first_mut() {
        Some(rec) if !is_plain(rec) => {
            if let Some(p) = rec.iter().position(|(k, _)| kind.same(k, &child)) {
                rec.remove(p);
            }
            rec.insert(0, (child, v));
            return;
        }
        Some(_) => {
            recs.remove(0);
            recs.insert(0, vec![(child, v)]);
        }
        None => recs.insert(0, vec![(child, v)]),
    }
    if kind == XKind::Xavi {
        remember_xavi_name(ctx, root);
    }
}

/// Splits `a=1;b="x y";c` into (name, value) pairs the way Kamailio's parameter parser does:
/// one trailing separator is dropped, names and values are trimmed, a quoted value loses its
/// quotes. `None` for an empty list or an empty name (Kamailio's parser refuses those).
pub fn parse_params(text: &[u8], sep: u8) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let text = text.strip_suffix(&[sep]).unwrap_or(text);
    if text.trim_ascii().is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for item in text.split(|c| *c == sep) {
        let item = item.trim_ascii();
        let (n, v) = match item.iter().position(|c| *c == b'=') {
            Some(i) => (
                item.get(..i).unwrap_or_default().trim_ascii(),
                item.get(i + 1..).unwrap_or_default().trim_ascii(),
            ),
            None => (item, &b""[..]),
        };
        if n.is_empty() {
            return None;
        }
        let v = match v {
            [b'"', inner @ .., b'"'] => inner,
            v => v,
        };
        out.push((n.to_vec(), v.to_vec()));
    }
    Some(out)
}

/// `xavp_params_explode` / `xavp_xparams_explode`: a new newest record of `root` with one string
/// field per parameter, in the order written (Kamailio's parser lists them backwards and each is
/// then added in front). `xavu_params_explode`: the `$xavu` root is replaced, one field per name
/// (a repeated name keeps its place and takes the last value). False when the text holds no
/// parameter.
pub fn params_explode(ctx: &mut Ctx<'_>, kind: XKind, text: &[u8], sep: u8, root: &[u8]) -> bool {
    if root.is_empty() {
        return false;
    }
    let Some(params) = parse_params(text, sep) else {
        return false;
    };
    let mut rec: XavpRecord = Vec::new();
    for (n, v) in params {
        match rec.iter_mut().find(|(k, _)| *k == n) {
            Some(slot) if kind == XKind::Xavu => slot.1 = Value::Str(v),
            _ => rec.push((n, Value::Str(v))),
        }
    }
    let recs = ctx.state.xavps.entry(root_key(kind, root)).or_default();
    if kind == XKind::Xavu {
        recs.clear();
    }
    recs.insert(0, rec);
    true
}

/// `xavp_params_implode[_qval]` / `xavu_params_implode`: the fields of the newest record as
/// `name=value;` in list order (integers as unsigned numbers, empty strings as `name;`, string
/// values in double quotes with `qval`). `None` when there is nothing to write (Kamailio's -1).
pub fn params_implode(ctx: &Ctx<'_>, kind: XKind, root: &[u8], qval: bool) -> Option<Vec<u8>> {
    let rec = ctx.state.xavps.get(&root_key(kind, root))?.first()?;
    if is_plain(rec) {
        return None;
    }
    let mut out = Vec::new();
    for (k, v) in rec {
        match v {
            Value::Int(i) => {
                out.extend_from_slice(k);
                // Kamailio prints the value through `%lu`.
                out.extend_from_slice(format!("={};", *i as u64).as_bytes());
            }
            Value::Str(s) if s.is_empty() => {
                out.extend_from_slice(k);
                out.push(b';');
            }
            Value::Str(s) => {
                out.extend_from_slice(k);
                out.push(b'=');
                if qval {
                    out.push(b'"');
                }
                out.extend_from_slice(s);
                if qval {
                    out.push(b'"');
                }
                out.push(b';');
            }
            Value::Null => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// `xavp_slist_explode`: splits `list` at any byte of `seps`, trims the tokens with mode `t`,
/// drops empty ones, and adds a newest record of `root` whose fields `v` hold them in order.
/// False on empty arguments (Kamailio's "invalid parameters").
pub fn slist_explode(
    ctx: &mut Ctx<'_>,
    list: &[u8],
    seps: &[u8],
    mode: &[u8],
    root: &[u8],
) -> bool {
    if list.is_empty() || seps.is_empty() || root.is_empty() {
        return false;
    }
    let trim = mode.first() == Some(&b't');
    let rec: XavpRecord = list
        .split(|c| seps.contains(c))
        .map(|t| if trim { t.trim_ascii() } else { t })
        .filter(|t| !t.is_empty())
        .map(|t| (b"v".to_vec(), Value::Str(t.to_vec())))
        .collect();
    ctx.state
        .xavps
        .entry(root_key(XKind::Xavp, root))
        .or_default()
        .insert(0, rec);
    true
}

/// Why `xavp_copy` failed (logged by the caller as Kamailio logs it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopyError {
    /// No record at the source index.
    NoSource,
    /// The source record has no field that can be copied.
    Empty,
    /// No record at the destination index.
    NoDestination,
}

/// `xavp_copy(src, sidx, dst[, didx])`: a copy of record `sidx` of `src` is appended after the
/// last record of `dst` (or becomes its only record), or with `didx` replaces record `didx`.
pub fn copy(
    ctx: &mut Ctx<'_>,
    src: &[u8],
    sidx: i64,
    dst: &[u8],
    didx: Option<i64>,
) -> Result<(), CopyError> {
    let rec = usize::try_from(sidx)
        .ok()
        .and_then(|i| ctx.state.xavps.get(&root_key(XKind::Xavp, src))?.get(i))
        .cloned()
        .ok_or(CopyError::NoSource)?;
    if rec.is_empty() {
        return Err(CopyError::Empty);
    }
    let key = root_key(XKind::Xavp, dst);
    match didx {
        None => ctx.state.xavps.entry(key).or_default().push(rec),
        Some(d) => {
            let slot = usize::try_from(d)
                .ok()
                .and_then(|i| ctx.state.xavps.get_mut(&key)?.get_mut(i))
                .ok_or(CopyError::NoDestination)?;
            *slot = rec;
        }
    }
    Ok(())
}

/// `xavp_lshift(name, idx)`: rotates the records so that record `idx` (modulo their number;
/// negative counts from the end) comes first. False when `name` has no record (Kamailio's -2).
pub fn lshift(ctx: &mut Ctx<'_>, root: &[u8], idx: i64) -> bool {
    let Some(recs) = ctx.state.xavps.get_mut(&root_key(XKind::Xavp, root)) else {
        return false;
    };
    let n = recs.len() as i64;
    if n == 0 {
        return false;
    }
    let k = idx.rem_euclid(n) as usize;
    recs.rotate_left(k);
    true
}

/// The fields `uri`, `dsturi` and `socket` of the newest record of `root`, for `xavp_push_dst`
/// (string values only, as Kamailio reads them). `None` when the root is missing or a plain
/// value.
pub fn dst_fields(ctx: &Ctx<'_>, root: &[u8]) -> Option<[Option<Vec<u8>>; 3]> {
    let rec = ctx.state.xavps.get(&root_key(XKind::Xavp, root))?.first()?;
    if is_plain(rec) {
        return None;
    }
    let field = |name: &[u8]| {
        rec.iter()
            .find(|(k, _)| k == name)
            .and_then(|(_, v)| match v {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
    };
    Some([field(b"uri"), field(b"dsturi"), field(b"socket")])
}

/// Kamailio's `get_hash1_raw` (and `get_hash1_case_raw` for `$xavi`): the id its list printer
/// shows for a name. Four bytes at a time, big-endian, `h += v ^ (v >> 3)`, then the final mix.
pub fn name_id(name: &[u8], case_insensitive: bool) -> u32 {
    let mut h: u32 = 0;
    let mut chunks = name.chunks_exact(4);
    let fold = |c: u8| if case_insensitive { c | 0x20 } else { c };
    for c in &mut chunks {
        let v = c
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(fold(*b)));
        h = h.wrapping_add(v ^ (v >> 3));
    }
    let v = chunks
        .remainder()
        .iter()
        .fold(0u32, |acc, b| (acc << 8) | u32::from(fold(*b)));
    h = h.wrapping_add(v ^ (v >> 3));
    h.wrapping_add(h >> 11)
        .wrapping_add((h >> 13).wrapping_add(h >> 23))
}

/// Where the printer's lines come from (the place Kamailio's own printer logs from).
const ORIGIN: &str = "<core> [core/xavp.c:590]: xavx_print_list_content(): ";

/// `pv_xavp_print` / `pv_xavu_print` / `pv_xavi_print`: the whole list at `L_INFO`, line by line in
/// the layout of Kamailio's `xavx_print_list_content`. ferrosip has no list addresses: the
/// `%p` places show stable made-up addresses. Roots are printed by name (Kamailio prints them
/// newest first across names; ferrosip keeps no order between names). `$xavi` names are shown
/// as written when the root's newest record was added.
pub fn print(ctx: &mut Ctx<'_>, kind: XKind) {
    if !ctx.server.log_enabled(ferrosip_api::L_INFO) {
        return;
    }
    let prefix = kind.prefix();
    let mut roots: Vec<(Vec<u8>, Vec<XavpRecord>)> = ctx
        .state
        .xavps
        .iter()
        .filter_map(|(k, recs)| {
            let name = k.strip_prefix(prefix)?;
            // Other lists and other modules' hidden state start with NUL.
            if kind == XKind::Xavp && k.first() == Some(&0) {
                return None;
            }
            Some((name.to_vec(), recs.clone()))
        })
        .collect();
    if kind == XKind::Xavi {
        for (name, _) in roots.iter_mut() {
            *name = xavi_shown(ctx, name);
        }
    }
    roots.sort_by(|a, b| a.0.cmp(&b.0));
    let mut lines = Vec::new();
    let mut addr = Addr(0);
    let entries: Vec<(Vec<u8>, Value, Option<&XavpRecord>)> = roots
        .iter()
        .flat_map(|(name, recs)| {
            recs.iter().map(move |r| match r.as_slice() {
                [(k, v)] if k.is_empty() => (name.clone(), v.clone(), None),
                _ => (name.clone(), Value::Null, Some(r)),
            })
        })
        .collect();
    let start = (!entries.is_empty()).then(|| addr.next());
    print_level(&mut lines, &mut addr, kind, &entries, start, None, 0);
    for l in lines {
        ctx.log_line(&LogLine {
            level: ferrosip_api::L_INFO,
            facility: None,
            prefix: Some(ORIGIN),
            text: &l,
        });
    }
}

/// Made-up addresses for the printer's `%p` places, in the range Kamailio's shared memory uses.
struct Addr(u64);

impl Addr {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("{:#x}", 0x7f00_0000_0000u64 + self.0 * 0x88)
    }
}

fn print_level(
    lines: &mut Vec<String>,
    addr: &mut Addr,
    kind: XKind,
    entries: &[(Vec<u8>, Value, Option<&XavpRecord>)],
    start: Option<String>,
    head: Option<&str>,
    level: u32,
) {
    let label = kind.label();
    let start = start.unwrap_or_else(|| "(nil)".to_string());
    lines.push(format!(
        "+++++ start {label} list: {start} ({}) (level={level})\n",
        head.unwrap_or("(nil)")
    ));
    for (i, (name, v, sub)) in entries.iter().enumerate() {
        let me = if i == 0 { start.clone() } else { addr.next() };
        let name_s = String::from_utf8_lossy(name);
        lines.push(format!(
            "     *** (l:{level} - {me}) {label} name: {name_s}\n"
        ));
        lines.push(format!(
            "     {label} id: {}\n",
            name_id(name, kind == XKind::Xavi)
        ));
        match sub {
            Some(rec) => {
                lines.push(format!("     {label} value type: 5\n"));
                let inner = (!rec.is_empty()).then(|| addr.next());
                let shown = inner.clone().unwrap_or_else(|| "(nil)".to_string());
                lines.push(format!("     {label} value: <xavp:{shown}>\n"));
                let fields: Vec<(Vec<u8>, Value, Option<&XavpRecord>)> = rec
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone(), None))
                    .collect();
                // The head pointer is the value slot inside the parent entry.
                let head = addr.next();
                print_level(lines, addr, kind, &fields, inner, Some(&head), level + 1);
            }
            None => match v {
                Value::Null => {
                    lines.push(format!("     {label} value type: 0\n"));
                    lines.push(format!("     {label} value: <null>\n"));
                }
                Value::Int(n) => {
                    lines.push(format!("     {label} value type: 1\n"));
                    lines.push(format!("     {label} value (long): {n}\n"));
                }
                Value::Str(s) => {
                    lines.push(format!("     {label} value type: 2\n"));
                    lines.push(format!(
                        "     {label} value (str): {}\n",
                        String::from_utf8_lossy(s)
                    ));
                }
            },
        }
        lines.push(format!("     *** (l:{level} - {me}) end\n"));
    }
    lines.push(format!("----- end {label} list: {start} (level={level})\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_ids_are_kamailios() {
        // Values printed by Kamailio 5.6.3's pv_xavi_print / pv_xavp_print.
        let cases: &[(&str, bool, u32)] = &[("FOO", true, 6_992_683), ("val", true, 7_913_499)];
        for (name, ci, want) in cases {
            assert_eq!(name_id(name.as_bytes(), *ci), *want, "{name}");
        }
    }

    #[test]
    fn params_are_split_like_kamailio() {
        type P = Option<Vec<(&'static str, &'static str)>>;
        let cases: &[(&str, u8, P)] = &[
            (
                "a=b;c=d;e=f",
                b';',
                Some(vec![("a", "b"), ("c", "d"), ("e", "f")]),
            ),
            ("a=b;c=d;", b';', Some(vec![("a", "b"), ("c", "d")])),
            (
                " a = \"x y\" ; flag",
                b';',
                Some(vec![("a", "x y"), ("flag", "")]),
            ),
            ("a=1,b=2", b',', Some(vec![("a", "1"), ("b", "2")])),
            ("", b';', None),
            (";", b';', None),
            ("=x", b';', None),
        ];
        for (text, sep, want) in cases {
            let got = parse_params(text.as_bytes(), *sep);
            let want = want.as_ref().map(|v| {
                v.iter()
                    .map(|(a, b)| (a.as_bytes().to_vec(), b.as_bytes().to_vec()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{text}");
        }
    }
}

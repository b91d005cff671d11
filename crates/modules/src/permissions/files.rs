//! The allow/deny rule files (Kamailio's "call routing", "registration" and "URI" permissions):
//! `allow_routing`, `allow_register`, `allow_register_include_port`, `allow_uri` and the
//! `permissions.allowUri` / `permissions.testUri` RPC.
//!
//! A file holds one rule per line, `FROM_LIST : REQUEST_URI_LIST`, each list a comma-separated
//! list of POSIX extended regular expressions (matched case-insensitively, anywhere in the text)
//! or `ALL`, optionally followed by ` EXCEPT ` and a list of exceptions; `#` starts a comment,
//! double quotes protect commas, colons and `#`. A line that cannot be read (no colon, an empty
//! side, a bad expression) is dropped with an error line; a missing file is an empty rule set.
//!
//! The file table follows Kamailio's numbering exactly: files are read at load (the default pair
//! at init, the others when a call is prepared), the default pair is entry 0, and each prepared
//! call refers to one entry whose allow and deny files it checks. Kamailio files an allow file
//! and a deny file in two tables with one shared counter that only a deny file advances, and a
//! call keeps the entry of its first file (two-file forms) or of its deny file (basename forms);
//! reusing an allow file with another deny file therefore checks the first pairing's deny file,
//! and that is what happens here too ([`FileTable::load`]).

use std::sync::Arc;

use ferrosip_api::export::{Arg, RpcFault, RpcValue};
use ferrosip_api::{posix, Ctx, Value};
use ferrosip_sipmsg::{HeaderKind, Span, Uri};

/// Longest expression, and longest text matched (Kamailio's `EXPRESSION_LENGTH`).
pub(super) const EXPRESSION_LENGTH: usize = 256;
/// Kamailio reads files with `fgets` into a buffer of this size: longer lines come in pieces.
const LINE_LENGTH: usize = 500;
/// Most entries of the file table (Kamailio's `MAX_RULE_FILES`).
pub(super) const MAX_RULE_FILES: usize = 64;
/// Longest basename + allow suffix of the RPC (Kamailio's `MAX_FILE_LEN`).
const MAX_FILE_LEN: usize = 128;
/// Longest contact of the RPC (Kamailio's `MAX_URI_SIZE`).
const MAX_URI_SIZE: usize = 1024;

/// A compiled expression (the `regex` value moved into a closure: this crate does not name the
/// `regex` crate).
type Regex = Box<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// One side of a rule: `None` is `ALL`.
type Side = Option<Vec<Regex>>;

/// One rule line.
pub(super) struct Rule {
    left: Side,
    left_except: Vec<Regex>,
    right: Side,
    right_except: Vec<Regex>,
}

fn any_match(list: &[Regex], text: &[u8]) -> bool {
    list.iter().any(|r| r(text))
}

impl Rule {
    fn matches(&self, left: &[u8], right: &[u8]) -> bool {
        self.left.as_ref().is_none_or(|l| any_match(l, left))
            && !any_match(&self.left_except, left)
            && self.right.as_ref().is_none_or(|r| any_match(r, right))
            && !any_match(&self.right_except, right)
    }
}

/// The rules of one file (empty: no file, or nothing readable in it).
#[derive(Default)]
pub(super) struct Rules(Vec<Rule>);

impl std::fmt::Debug for Rules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Rules({})", self.0.len())
    }
}

impl Rules {
    /// True when a rule matches the pair. Texts stop at a NUL, as Kamailio's C strings do.
    pub fn matches(&self, left: &[u8], right: &[u8]) -> bool {
        let cut = |t: &[u8]| -> usize { t.iter().position(|&c| c == 0).unwrap_or(t.len()) };
        let (left, right) = (&left[..cut(left)], &right[..cut(right)]);
        self.0.iter().any(|r| r.matches(left, right))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a rule file's text; the second value lists the lines dropped, with the reason.
    pub fn parse(text: &[u8]) -> (Rules, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for line in fgets_lines(text) {
            match parse_line(line) {
                Ok(Some(r)) => rules.push(r),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
        (Rules(rules), errors)
    }

    /// Reads a rule file; a file that cannot be read is an empty rule set (logged at info level,
    /// as Kamailio does).
    pub fn read(path: &str) -> Rules {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(_) => {
                tracing::info!("permissions: file not found: {path}");
                return Rules::default();
            }
        };
        let (rules, errors) = Rules::parse(&text);
        for e in errors {
            tracing::error!("permissions: {e}");
        }
        if rules.is_empty() {
            tracing::info!("permissions: file ({path}) not parsed properly => empty rule set");
        }
        rules
    }
}

/// The pieces `fgets(buf, LINE_LENGTH, f)` returns: up to and including a newline, at most
/// `LINE_LENGTH - 1` bytes.
fn fgets_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let max = rest.len().min(LINE_LENGTH - 1);
        let n = rest[..max]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(max, |p| p + 1);
        let (line, tail) = rest.split_at(n);
        rest = tail;
        Some(line)
    })
}

/// One line: `Ok(None)` for a blank or comment line.
fn parse_line(line: &[u8]) -> Result<Option<Rule>, String> {
    let shown = || String::from_utf8_lossy(line).trim_end().to_string();
    let (mut quoted, mut colon, mut eval) = (false, None, false);
    let mut end = line.len();
    for (i, &c) in line.iter().enumerate() {
        match c {
            b'"' => {
                quoted = !quoted;
                eval = true;
            }
            b':' => {
                if !quoted {
                    colon = Some(i);
                }
                eval = true;
            }
            b'#' if quoted => {}
            b'#' | b'\n' | 0 => {
                end = i;
                break;
            }
            b' ' | b'\t' => {}
            _ => eval = true,
        }
    }
    if !eval {
        return Ok(None);
    }
    let colon = match colon {
        Some(c) if c > 0 && c + 1 < end => c,
        _ => return Err(format!("failed to parse line: {}", shown())),
    };
    let (left, left_except) = parse_expression(&line[..colon])
        .map_err(|e| format!("failed to parse line-left: {} ({e})", shown()))?;
    let (right, right_except) = parse_expression(&line[colon + 1..end])
        .map_err(|e| format!("failed to parse line-right: {} ({e})", shown()))?;
    Ok(Some(Rule {
        left,
        left_except,
        right,
        right_except,
    }))
}

/// `LIST [ EXCEPT LIST]`, where the first list may be `ALL`.
fn parse_expression(s: &[u8]) -> Result<(Side, Vec<Regex>), String> {
    const EXCEPT: &[u8] = b" EXCEPT ";
    let (main, except) = match s.windows(EXCEPT.len()).position(|w| w == EXCEPT) {
        Some(p) => (&s[..p], parse_list(&s[p + EXCEPT.len()..])?),
        None => (s, Vec::new()),
    };
    // C's isspace: blank, tab, newline, vertical tab, form feed, carriage return.
    let space = |c: &u8| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r');
    let start = main.iter().position(|c| !space(c)).unwrap_or(main.len());
    let stop = main
        .iter()
        .rposition(|c| !space(c))
        .map_or(start, |p| p + 1);
    let main = &main[start..stop.max(start)];
    if main == b"ALL" {
        return Ok((None, except));
    }
    Ok((Some(parse_list(main)?), except))
}

/// A comma-separated list of expressions, each trimmed of blanks and tabs and of one pair of
/// double quotes (Kamailio's `parse_expression_list`, including its rule that a word's end is
/// never trimmed back to the list's first byte).
fn parse_list(s: &[u8]) -> Result<Vec<Regex>, String> {
    let blank = |c: Option<&u8>| matches!(c, Some(b' ' | b'\t'));
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0usize, false);
    for i in 0..=s.len() {
        match s.get(i) {
            Some(b'"') => quoted = !quoted,
            Some(b',') if quoted => {}
            Some(b',') | None => {
                let mut from = start;
                while blank(s.get(from)) {
                    from += 1;
                }
                if s.get(from) == Some(&b'"') {
                    from += 1;
                }
                // `to` is one past the word's last byte; index 0 is never trimmed.
                let mut to = i;
                while to > 1 && blank(s.get(to - 1)) {
                    to -= 1;
                }
                if to > 1 && s.get(to - 1) == Some(&b'"') {
                    to -= 1;
                }
                if from >= to {
                    return Err("empty expression".into());
                }
                let word = &s[from..to];
                if word.len() >= EXPRESSION_LENGTH {
                    return Err(format!(
                        "expression too long <{}>({})",
                        String::from_utf8_lossy(word),
                        word.len()
                    ));
                }
                out.push(compile(word)?);
                start = i + 1;
            }
            Some(_) => {}
        }
    }
    Ok(out)
}

/// A POSIX extended expression, case-insensitive (`REG_EXTENDED | REG_ICASE`).
fn compile(word: &[u8]) -> Result<Regex, String> {
    let text = String::from_utf8_lossy(word);
    if let Some(n) = back_reference(&text) {
        return Err(format!(
            "bad regular expression: {text} (back-reference \\{n} is not supported)"
        ));
    }
    let re =
        posix::compile(&text, true).map_err(|e| format!("bad regular expression: {text} ({e})"))?;
    Ok(Box::new(move |t: &[u8]| re.is_match(t)))
}

/// The first back-reference (`\1`…`\9`) outside bracket expressions, which glibc's extended
/// syntax accepts and the `regex` crate has no equivalent for.
fn back_reference(p: &str) -> Option<char> {
    let mut it = p.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\\' => {
                if let Some(n @ '1'..='9') = it.next() {
                    return Some(n);
                }
            }
            '[' => {
                // Skip the bracket expression: `]` first (after `^`) is a member.
                if it.peek() == Some(&'^') {
                    it.next();
                }
                if it.peek() == Some(&']') {
                    it.next();
                }
                let mut prev = '[';
                for b in it.by_ref() {
                    if b == ']' && prev != ':' && prev != '.' && prev != '=' {
                        break;
                    }
                    prev = b;
                }
            }
            _ => {}
        }
    }
    None
}

/// One entry of a file table: the file's full name (`None` for an unused default) and rules.
#[derive(Debug, Clone, Default)]
struct Entry {
    path: Option<String>,
    rules: Arc<Rules>,
}

/// Kamailio's `perm_allow` / `perm_deny` tables and their shared counter.
#[derive(Debug, Default)]
pub(super) struct FileTable {
    allow: Vec<Entry>,
    deny: Vec<Entry>,
    /// Entries in use (Kamailio's `perm_rules_num`).
    used: usize,
}

impl FileTable {
    /// The table after module init: entry 0 holds the default files (`None` when that back end is
    /// off in `load_backends`).
    pub fn with_defaults(allow: Option<String>, deny: Option<String>) -> FileTable {
        let entry = |p: Option<String>| Entry {
            rules: Arc::new(p.as_deref().map(Rules::read).unwrap_or_default()),
            path: p,
        };
        FileTable {
            allow: vec![entry(allow)],
            deny: vec![entry(deny)],
            used: 1,
        }
    }

    /// Kamailio's `load_fixup`: the entry of an allow file (`deny` false) or deny file already
    /// read, else the next entry, where the file is read; only a new deny file moves the counter
    /// on, so a new allow file whose deny partner was read before is overwritten by the next new
    /// pair (as in Kamailio).
    pub fn load(&mut self, path: String, deny: bool) -> Result<usize, String> {
        let used = self.used;
        let table = if deny {
            &mut self.deny
        } else {
            &mut self.allow
        };
        if let Some(i) = find(table, used, &path) {
            return Ok(i);
        }
        if used >= MAX_RULE_FILES {
            return Err(format!(
                "too many allow/deny rule files (at most {MAX_RULE_FILES})"
            ));
        }
        let rules = Arc::new(Rules::read(&path));
        if table.len() <= used {
            table.resize_with(used + 1, Entry::default);
        }
        table[used] = Entry {
            path: Some(path),
            rules,
        };
        if deny {
            self.used += 1;
        }
        Ok(used)
    }

    /// The allow and deny rules of an entry.
    pub fn pair(&self, idx: usize) -> (Arc<Rules>, Arc<Rules>) {
        let get = |t: &[Entry]| t.get(idx).map(|e| Arc::clone(&e.rules)).unwrap_or_default();
        (get(&self.allow), get(&self.deny))
    }

    /// The entry whose allow file is `path` (the RPC's lookup).
    pub fn find_allow(&self, path: &str) -> Option<usize> {
        find(&self.allow, self.used, path)
    }
}

fn find(table: &[Entry], used: usize, path: &str) -> Option<usize> {
    table
        .iter()
        .take(used)
        .position(|e| e.path.as_deref() == Some(path))
}

/// Kamailio's `get_pathname`: a name with a `/` anywhere is used as it is (relative to the working
/// directory when it does not start with one), any other name is read from the config file's
/// folder.
pub(super) fn pathname(cfg_file: Option<&str>, name: &str) -> String {
    if name.contains('/') {
        return name.to_string();
    }
    match cfg_file.and_then(|f| f.rfind('/').map(|i| &f[..=i])) {
        Some(dir) => format!("{dir}{name}"),
        None => name.to_string(),
    }
}

/// The verdict of an allow/deny pair for one pair of texts: allowed when an allow rule matches,
/// denied when a deny rule matches, allowed when neither does.
fn verdict(allow: &Rules, deny: &Rules, left: &[u8], right: &[u8]) -> bool {
    allow.matches(left, right) || !deny.matches(left, right)
}

/// `sip:user@host` of a URI, `sip:host` without a user; `:port` added when asked for and written.
/// `None` when the URI cannot be parsed or the result is longer than [`EXPRESSION_LENGTH`].
fn plain_uri(uri: &[u8], with_port: bool) -> Option<Vec<u8>> {
    let u = Uri::parse(uri, Span::new(0, uri.len())).ok()?;
    let mut out = b"sip:".to_vec();
    if let Some(user) = u.user.filter(|s| !s.is_empty()) {
        out.extend_from_slice(user.of(uri));
        out.push(b'@');
    }
    out.extend_from_slice(u.host.of(uri));
    if with_port {
        if let Some(p) = u.port_span.filter(|s| !s.is_empty()) {
            out.push(b':');
            out.extend_from_slice(p.of(uri));
        }
    }
    (out.len() <= EXPRESSION_LENGTH).then_some(out)
}

/// The From URI (at most [`EXPRESSION_LENGTH`] bytes), or the error line.
fn from_uri(ctx: &Ctx<'_>) -> Result<Vec<u8>, String> {
    let na = ctx
        .msg
        .from()
        .map_err(|_| "permissions: failed to parse From body".to_string())?;
    let uri = ctx.msg.slice(na.uri);
    if uri.len() > EXPRESSION_LENGTH {
        return Err(format!(
            "permissions: From header field is too long: {} chars",
            uri.len()
        ));
    }
    Ok(uri.to_vec())
}

/// `allow_routing`: the From URI against `sip:user@host` of the R-URI and, with
/// `check_all_branches`, of every branch.
pub(super) fn check_routing(
    ctx: &mut Ctx<'_>,
    allow: &Rules,
    deny: &Rules,
    all_branches: bool,
) -> i64 {
    if allow.is_empty() && deny.is_empty() {
        return 1;
    }
    let from = match from_uri(ctx) {
        Ok(f) => f,
        Err(e) => {
            ctx.log_error(&e);
            return -1;
        }
    };
    let ruri = ctx.ruri();
    let Ok(u) = Uri::parse(&ruri, Span::new(0, ruri.len())) else {
        ctx.log_error("permissions: uri parsing failed");
        return -1;
    };
    let user = u.user.map_or(&[][..], |s| s.of(&ruri));
    let host = u.host.of(&ruri);
    // Here the `@` is written even without a user, as Kamailio does.
    let len = user.len() + host.len() + 5;
    if len > EXPRESSION_LENGTH {
        ctx.log_error(&format!(
            "permissions: Request URI is too long: {len} chars"
        ));
        return -1;
    }
    let mut plain = b"sip:".to_vec();
    plain.extend_from_slice(user);
    plain.push(b'@');
    plain.extend_from_slice(host);
    if allow.matches(&from, &plain) {
        if !all_branches {
            return 1;
        }
    } else if deny.matches(&from, &plain) {
        return -1;
    } else if !all_branches {
        return 1;
    }
    let uris: Vec<Vec<u8>> = ctx.state.branches.iter().map(|b| b.uri.clone()).collect();
    for uri in uris {
        let Some(p) = plain_uri(&uri, false) else {
            ctx.log_error("permissions: failed to extract plain URI");
            return -1;
        };
        if !verdict(allow, deny, &from, &p) {
            return -1;
        }
    }
    1
}

/// `allow_register`: the To URI against each Contact's `sip:user@host[:port]`.
pub(super) fn check_register(
    ctx: &mut Ctx<'_>,
    allow: &Rules,
    deny: &Rules,
    all_branches: bool,
    with_port: bool,
) -> i64 {
    if allow.is_empty() && deny.is_empty() {
        return 1;
    }
    let first = ctx
        .msg
        .headers_of(HeaderKind::Contact)
        .map(|mut it| it.next().map(|h| h.value));
    let first = match first {
        Ok(f) => f,
        Err(_) => {
            ctx.log_error("permissions: failed to parse headers");
            return -1;
        }
    };
    let Some(first) = first else {
        // Without a Contact a REGISTER changes nothing: allowed.
        return 1;
    };
    if ctx.msg.slice(first) == b"*" {
        return 1;
    }
    let contacts = match ctx.msg.contacts() {
        Ok(c) => c.list.iter().map(|c| c.addr.uri).collect::<Vec<_>>(),
        Err(_) => {
            ctx.log_error("permissions: failed to parse Contact HF");
            return -1;
        }
    };
    let to = match ctx.msg.to() {
        Ok(na) => ctx.msg.slice(na.uri).to_vec(),
        Err(_) => {
            ctx.log_error("permissions: failed to parse To body");
            return -1;
        }
    };
    if to.len() > EXPRESSION_LENGTH {
        ctx.log_error(&format!(
            "permissions: To header field is too long: {} chars",
            to.len()
        ));
        return -1;
    }
    for span in contacts {
        let Some(c) = plain_uri(ctx.msg.slice(span), with_port) else {
            ctx.log_error("permissions: can't extract plain Contact URI");
            return -1;
        };
        // Without check_all_branches an allow rule does not spare the deny file (Kamailio).
        if all_branches && allow.matches(&to, &c) {
            continue;
        }
        if deny.matches(&to, &c) {
            return -1;
        }
    }
    1
}

/// `allow_uri`: the From URI against a variable's value.
pub(super) fn check_uri(ctx: &mut Ctx<'_>, allow: &Rules, deny: &Rules, var: &Arg) -> i64 {
    if allow.is_empty() && deny.is_empty() {
        return 1;
    }
    let from = match from_uri(ctx) {
        Ok(f) => f,
        Err(e) => {
            ctx.log_error(&e);
            return -1;
        }
    };
    let uri = match var.value(ctx) {
        Value::Str(s) => s,
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Null => {
            ctx.log_error("permissions: pseudo variable value is not string");
            return -1;
        }
    };
    if uri.len() > EXPRESSION_LENGTH {
        ctx.log_error(&format!(
            "permissions: pseudo variable value is too long: {} chars",
            uri.len()
        ));
        return -1;
    }
    if verdict(allow, deny, &from, &uri) {
        1
    } else {
        -1
    }
}

/// `permissions.allowUri` / `permissions.testUri` (basename, URI, contact): "Allowed" or "Denied"
/// by the entry whose allow file is `basename` + `allow_suffix` (not loaded: "Denied").
pub(super) fn rpc_allow_uri(
    args: &[RpcValue],
    table: &FileTable,
    cfg_file: Option<&str>,
    allow_suffix: &str,
) -> Result<RpcValue, RpcFault> {
    let arg = |i: usize| match args.get(i) {
        Some(RpcValue::Str(s)) => Ok(s.clone()),
        Some(RpcValue::Int(n)) => Ok(n.to_string()),
        _ => Err(RpcFault {
            code: 500,
            message: "Not enough parameters (basename, URI and contact)".into(),
        }),
    };
    let (base, uri, contact) = (arg(0)?, arg(1)?, arg(2)?);
    let too_long = |m: &str| RpcFault {
        code: 500,
        message: m.into(),
    };
    if contact.len() > MAX_URI_SIZE {
        return Err(too_long("Contact is too long"));
    }
    if base.len() + allow_suffix.len() + 1 > MAX_FILE_LEN {
        return Err(too_long("Basename is too long"));
    }
    let path = pathname(cfg_file, &format!("{base}{allow_suffix}"));
    let allowed = match table.find_allow(&path) {
        None => {
            tracing::error!("permissions: File <{path}> has not been loaded");
            false
        }
        Some(i) => {
            let (allow, deny) = table.pair(i);
            (allow.is_empty() && deny.is_empty())
                || verdict(&allow, &deny, uri.as_bytes(), contact.as_bytes())
        }
    };
    Ok(RpcValue::Str(
        if allowed { "Allowed" } else { "Denied" }.into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> Rules {
        let (r, errors) = Rules::parse(text.as_bytes());
        assert!(errors.is_empty(), "{errors:?}");
        r
    }

    #[test]
    fn rule_lines() {
        let r = rules(
            "# comment\n\
             \n\
             ALL : \"^sip:.*@gw\\.example\\.com$\"\n\
             \"^sip:alice@\", \"^sip:bob@\" : ALL EXCEPT \"^sip:900\"\n\
             \"^sip:carol@\" : \"^sip:1[0-9]+@\" , \"^sip:2\"  # trailing comment\n\
             ALL EXCEPT \"^sip:mallory@\" : \"^sip:3\"\r\n",
        );
        let cases: [(&str, &str, bool); 12] = [
            ("sip:x@y", "sip:1@GW.example.com", true),
            ("sip:x@y", "sip:1@gw.example.com.evil", false),
            ("sip:alice@a", "sip:5@b", true),
            ("sip:BOB@a", "sip:5@b", true),
            ("sip:alice@a", "sip:900@b", false),
            ("sip:carol@c", "sip:12@d", true),
            ("sip:carol@c", "sip:1x@d", false),
            ("sip:carol@c", "sip:2@d", true),
            ("sip:dave@c", "sip:3@d", true),
            ("sip:mallory@c", "sip:3@d", false),
            ("sip:dave@c", "sip:4@d", false),
            ("sip:carol@c", "sip:4@d", false),
        ];
        for (l, rr, want) in cases {
            assert_eq!(r.matches(l.as_bytes(), rr.as_bytes()), want, "{l} : {rr}");
        }
    }

    #[test]
    fn dropped_lines() {
        // Each line is dropped: no colon, colon first, empty right side, empty word, bad regex,
        // back-reference, lowercase `except` is part of a regex (kept: it is a valid line).
        let text = "just words\n:x\nx:\nx : a,,b\nx : a(\nx : (a)\\1\nx except y : z\n";
        let (r, errors) = Rules::parse(text.as_bytes());
        assert_eq!(errors.len(), 6, "{errors:?}");
        assert_eq!(r.0.len(), 1);
        assert!(r.matches(b"x except y", b"z"));
        assert!(!r.matches(b"x", b"z"));
    }

    #[test]
    fn quotes_protect_separators() {
        let r = rules("\"a:b\" : \"c#d\", \"e,f\"\n");
        assert!(r.matches(b"a:b", b"c#d"));
        assert!(r.matches(b"a:b", b"e,f"));
        assert!(!r.matches(b"a:b", b"e"));
        // Unquoted, the last colon splits the line: `sip:` in a pattern must be quoted.
        let r = rules("^sip:a@ : ^sip:b@\n");
        assert!(!r.matches(b"sip:a@x", b"sip:b@y"));
        let r = rules("sip:a@ : sip:b@\n");
        assert!(r.matches(b"sip:a@ : sip", b"b@"));
        assert!(!r.matches(b"sip:a@x", b"sip:b@y"));
    }

    #[test]
    fn long_lines_come_in_pieces() {
        // fgets with a 500-byte buffer: the first 499 bytes are one line, the rest another.
        let long = format!("a : {}\nb : c\n", "x".repeat(600));
        let pieces: Vec<usize> = fgets_lines(long.as_bytes()).map(<[u8]>::len).collect();
        assert_eq!(pieces, [499, 106, 6]);
    }

    #[test]
    fn table_numbering_as_kamailio() {
        let mut t = FileTable::with_defaults(None, None);
        let dir = std::env::temp_dir().join(format!("perm-files-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let p = |n: &str| dir.join(n).display().to_string();
        // A new pair takes entry 1; the same pair again finds it.
        assert_eq!(t.load(p("a.allow"), false), Ok(1));
        assert_eq!(t.load(p("a.deny"), true), Ok(1));
        assert_eq!(t.load(p("a.allow"), false), Ok(1));
        assert_eq!(t.load(p("a.deny"), true), Ok(1));
        // A known allow file with a new deny file: the call keeps entry 1 (the first pairing).
        assert_eq!(t.load(p("a.allow"), false), Ok(1));
        assert_eq!(t.load(p("b.deny"), true), Ok(2));
        // A new allow file with a known deny file: entry 3 is not kept, the next pair takes it.
        assert_eq!(t.load(p("c.allow"), false), Ok(3));
        assert_eq!(t.load(p("a.deny"), true), Ok(1));
        assert_eq!(t.load(p("d.allow"), false), Ok(3));
        assert_eq!(t.find_allow(&p("c.allow")), None);
        assert_eq!(t.find_allow(&p("a.allow")), Some(1));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn pathnames() {
        let cfg = Some("/etc/kamailio/kamailio.cfg");
        assert_eq!(pathname(cfg, "x.allow"), "/etc/kamailio/x.allow");
        assert_eq!(pathname(cfg, "sub/x.allow"), "sub/x.allow");
        assert_eq!(pathname(cfg, "/a/x.allow"), "/a/x.allow");
        assert_eq!(pathname(Some("-"), "x.allow"), "x.allow");
    }

    #[test]
    fn plain_uris() {
        let cases: [(&str, bool, Option<&str>); 5] = [
            (
                "sip:alice:pw@example.com:5080;transport=udp",
                false,
                Some("sip:alice@example.com"),
            ),
            (
                "sip:alice@example.com:5080",
                true,
                Some("sip:alice@example.com:5080"),
            ),
            ("sips:example.com", true, Some("sip:example.com")),
            (
                "sip:[2001:db8::1]:5060",
                true,
                Some("sip:[2001:db8::1]:5060"),
            ),
            ("nonsense", false, None),
        ];
        for (u, port, want) in cases {
            let got = plain_uri(u.as_bytes(), port);
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{u}");
        }
    }
}

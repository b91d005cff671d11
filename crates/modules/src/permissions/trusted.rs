//! The `trusted` table: rules (source IP, protocol, From pattern, R-URI pattern, tag, priority)
//! cached in memory (`db_mode` 1) or fetched per call (`db_mode` 0), and the matching of
//! `allow_trusted`.
//!
//! Patterns are POSIX *basic* regular expressions: Kamailio compiles them with `regcomp(…,
//! REG_NOSUB)` without `REG_EXTENDED`, so `+ ? ( ) { } |` are plain characters and `\( \) \{ \}
//! \| \+ \?` the operators. [`bre_to_ere`] rewrites one into the extended syntax that
//! [`ferrosip_api::posix`] compiles.

use std::collections::HashMap;

use ferrosip_api::export::RpcValue;
use ferrosip_api::{posix, Proto};
use ferrosip_db::Value as DbValue;
use std::sync::Arc;

/// A rule's protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RuleProto {
    /// "any".
    Any,
    /// One protocol.
    Is(Proto),
    /// "none" or a name no request has: matches only a call that asks for "any" (in the
    /// per-call query; the cache drops such rows).
    Other,
}

/// A compiled matcher (the regex moved into a closure).
pub(super) type Matcher = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// A compiled pattern, or the reason it did not compile (such a rule never matches).
#[derive(Clone)]
pub(super) struct Pattern {
    pub text: String,
    pub re: Result<Matcher, String>,
}

impl std::fmt::Debug for Pattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Pattern({:?})", self.text)
    }
}

impl Pattern {
    pub fn new(text: &str) -> Pattern {
        let re = bre_to_ere(text)
            .and_then(|e| posix::compile(&e, false))
            .map(|re| Arc::new(move |t: &[u8]| re.is_match(t)) as Matcher);
        Pattern {
            text: text.to_string(),
            re,
        }
    }
}

/// One rule.
#[derive(Debug, Clone)]
pub(super) struct Rule {
    pub src_ip: String,
    pub proto: RuleProto,
    pub from: Option<Pattern>,
    pub ruri: Option<Pattern>,
    pub tag: Option<String>,
    pub priority: i64,
}

/// What one call matches against.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'a> {
    /// Protocol of the request (`None`: "any" was given).
    pub proto: Option<Proto>,
    pub from_uri: &'a [u8],
    pub ruri: &'a [u8],
}

/// Outcome of matching: the tags to add (in order) and the return code (1, the number of
/// matches with `peer_tag_mode` 1, or -1). Invalid patterns are reported in `errors`.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Matched {
    pub tags: Vec<String>,
    pub rc: i64,
    pub errors: Vec<String>,
}

/// Kamailio's protocol names of the `proto` column (ASCII case-insensitive); `None` for a name it
/// does not know.
pub(super) fn rule_proto(s: &str) -> Option<RuleProto> {
    if s.eq_ignore_ascii_case("any") {
        return Some(RuleProto::Any);
    }
    if s.eq_ignore_ascii_case("none") {
        return Some(RuleProto::Other);
    }
    Proto::from_name(s.as_bytes()).map(RuleProto::Is)
}

/// The cached table: rules per source IP, highest priority first (rows of equal priority in load
/// order, as Kamailio's insertion keeps them).
#[derive(Debug, Default)]
pub(super) struct Cache {
    by_ip: HashMap<String, Vec<Rule>>,
    order: Vec<String>,
}

impl Cache {
    /// Builds the cache from result rows (src_ip, proto, from, ruri, tag, priority).
    pub fn build(rows: &[Vec<DbValue>]) -> Result<Cache, String> {
        let mut c = Cache::default();
        for (i, r) in rows.iter().enumerate() {
            let [src, proto, from, ruri, tag, prio] = r.as_slice() else {
                return Err(format!("row {i}: {} columns, expected 6", r.len()));
            };
            let (Some(src), Some(proto)) = (src.as_str(), proto.as_str()) else {
                return Err(format!("row {i}: src_ip and proto must be strings"));
            };
            let opt = |v: &DbValue, what: &str| -> Result<Option<String>, String> {
                match v {
                    DbValue::Null => Ok(None),
                    DbValue::Str(s) => Ok(Some(s.clone())),
                    _ => Err(format!("row {i}: {what} must be a string")),
                }
            };
            let from = opt(from, "from pattern")?;
            let ruri = opt(ruri, "ruri pattern")?;
            let tag = opt(tag, "tag")?;
            let priority = prio.as_i64().unwrap_or(0);
            // "none" rows are not loaded; an unknown name fails the load, as in Kamailio.
            let proto = match rule_proto(proto) {
                Some(RuleProto::Other) => continue,
                Some(p) => p,
                None => return Err(format!("row {i}: unknown protocol {proto}")),
            };
            let rule = Rule {
                src_ip: src.to_string(),
                proto,
                from: from.as_deref().map(Pattern::new),
                ruri: ruri.as_deref().map(Pattern::new),
                tag,
                priority,
            };
            let list = c.by_ip.entry(rule.src_ip.clone()).or_insert_with(|| {
                c.order.push(src.to_string());
                Vec::new()
            });
            let at = list.partition_point(|r| r.priority >= priority);
            list.insert(at, rule);
        }
        Ok(c)
    }

    /// Matches a request from `src_ip`.
    pub fn matches(&self, src_ip: &str, req: Request<'_>, all: bool) -> Matched {
        let rules = self.by_ip.get(src_ip).map(Vec::as_slice).unwrap_or(&[]);
        match_rules(rules.iter(), req, all)
    }

    /// `permissions.trustedDump`: one struct whose `table`/`item` members repeat.
    pub fn dump(&self) -> RpcValue {
        let mut members = Vec::new();
        let mut i = 0i64;
        for ip in &self.order {
            for r in self.by_ip.get(ip).map(Vec::as_slice).unwrap_or(&[]) {
                members.push(("table".into(), RpcValue::Int(i)));
                members.push(("item".into(), rule_struct(r)));
                i += 1;
            }
        }
        RpcValue::Struct(members)
    }
}

fn rule_struct(r: &Rule) -> RpcValue {
    let text = |p: &Option<Pattern>| RpcValue::Str(p.as_ref().map_or("NULL", |p| &p.text).into());
    RpcValue::Struct(vec![
        ("ip".into(), RpcValue::Str(r.src_ip.clone())),
        (
            "proto".into(),
            RpcValue::Int(match r.proto {
                RuleProto::Is(p) => p.number(),
                _ => 0,
            }),
        ),
        ("pattern".into(), text(&r.from)),
        ("ruri_pattern".into(), text(&r.ruri)),
        (
            "tag".into(),
            RpcValue::Str(r.tag.clone().unwrap_or_else(|| "NULL".into())),
        ),
        ("priority".into(), RpcValue::Int(r.priority)),
    ])
}

/// Rules from a per-call query (columns proto, from, ruri, tag; ordered by the database). Rows
/// that do not have the expected types are skipped, as Kamailio's `match_res` skips them.
pub(super) fn rules_of_query(
    src_ip: &str,
    rows: &[Vec<DbValue>],
    compile: &mut dyn FnMut(&str) -> Pattern,
) -> Vec<Rule> {
    let mut out = Vec::new();
    for r in rows {
        let [proto, from, ruri, tag] = r.as_slice() else {
            continue;
        };
        let text = |v: &DbValue| match v {
            DbValue::Null => Some(None),
            DbValue::Str(s) => Some(Some(s.clone())),
            _ => None,
        };
        let (Some(proto), Some(from), Some(ruri), Some(tag)) =
            (proto.as_str(), text(from), text(ruri), text(tag))
        else {
            continue;
        };
        let proto = rule_proto(proto).unwrap_or(RuleProto::Other);
        out.push(Rule {
            src_ip: src_ip.to_string(),
            proto,
            from: from.as_deref().map(&mut *compile),
            ruri: ruri.as_deref().map(&mut *compile),
            tag,
            priority: 0,
        });
    }
    out
}

/// Compiled patterns of the per-call query (`db_mode` 0), by text: Kamailio compiles each row's
/// patterns on every call; compiling is most of the cost here (a regex costs far more to build
/// than to run), so compiled patterns are kept, up to [`PatternCache::MAX`] of them (then the
/// cache starts over).
#[derive(Debug, Default)]
pub(super) struct PatternCache {
    map: std::sync::Mutex<HashMap<String, Pattern>>,
}

impl PatternCache {
    pub const MAX: usize = 4096;

    pub fn get(&self, text: &str) -> Pattern {
        let mut m = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(p) = m.get(text) {
            return p.clone();
        }
        if m.len() >= Self::MAX {
            m.clear();
        }
        let p = Pattern::new(text);
        m.insert(text.to_string(), p.clone());
        p
    }
}

/// Matches rules in order; the first match only unless `all` (`peer_tag_mode` 1).
pub(super) fn match_rules<'r>(
    rules: impl Iterator<Item = &'r Rule>,
    req: Request<'_>,
    all: bool,
) -> Matched {
    let mut m = Matched::default();
    let mut count = 0i64;
    for r in rules {
        let proto_ok = match (r.proto, req.proto) {
            (_, None) | (RuleProto::Any, _) => true,
            (RuleProto::Is(a), Some(b)) => a == b,
            (RuleProto::Other, Some(_)) => false,
        };
        if !proto_ok {
            continue;
        }
        if !pattern_ok(&r.from, req.from_uri, &mut m.errors)
            || !pattern_ok(&r.ruri, req.ruri, &mut m.errors)
        {
            continue;
        }
        if let Some(t) = &r.tag {
            m.tags.push(t.clone());
        }
        count += 1;
        if !all {
            break;
        }
    }
    m.rc = if count == 0 {
        -1
    } else if all {
        count
    } else {
        1
    };
    m
}

fn pattern_ok(p: &Option<Pattern>, text: &[u8], errors: &mut Vec<String>) -> bool {
    match p {
        None => true,
        Some(Pattern { re: Ok(re), .. }) => re(text),
        Some(Pattern { re: Err(e), .. }) => {
            errors.push(format!("invalid regular expression: {e}"));
            false
        }
    }
}

/// Rewrites a POSIX basic regular expression (with the GNU operators `\| \+ \?`) into the
/// extended syntax. Back-references have no equivalent and are refused.
pub(super) fn bre_to_ere(p: &str) -> Result<String, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 4);
    let mut i = 0;
    // True where a `*` is literal and a `^` is an anchor: at the start, after `\(`, `\|`, `^`.
    let mut at_start = true;
    while let Some(&ch) = c.get(i) {
        let was_start = at_start;
        at_start = false;
        match ch {
            '\\' => {
                let Some(&n) = c.get(i + 1) else {
                    return Err(format!("trailing backslash in `{p}`"));
                };
                i += 2;
                match n {
                    '(' | '|' => {
                        out.push(n);
                        at_start = true;
                    }
                    ')' | '{' | '}' | '+' | '?' => out.push(n),
                    '1'..='9' => return Err(format!("back-reference \\{n} in `{p}`")),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
                continue;
            }
            '[' => {
                // A bracket expression is copied as is: its syntax is the same in both.
                let start = i;
                i += 1;
                if c.get(i) == Some(&'^') {
                    i += 1;
                }
                if c.get(i) == Some(&']') {
                    i += 1;
                }
                while let Some(&b) = c.get(i) {
                    if b == '[' && matches!(c.get(i + 1), Some(':' | '.' | '=')) {
                        let close = c.get(i + 1).copied().unwrap_or(':');
                        i += 2;
                        while i + 1 < c.len()
                            && (c.get(i), c.get(i + 1)) != (Some(&close), Some(&']'))
                        {
                            i += 1;
                        }
                        i += 2;
                        continue;
                    }
                    if b == ']' {
                        break;
                    }
                    i += 1;
                }
                if i >= c.len() {
                    return Err(format!("unmatched [ in `{p}`"));
                }
                i += 1;
                out.extend(c.get(start..i).unwrap_or_default());
                continue;
            }
            '*' if was_start => out.push_str("\\*"),
            '^' if was_start => {
                out.push('^');
                at_start = true;
            }
            '^' => out.push_str("\\^"),
            '$' => {
                let rest = c.get(i + 1..).unwrap_or_default();
                let anchor = rest.is_empty()
                    || rest.starts_with(&['\\', ')'])
                    || rest.starts_with(&['\\', '|']);
                out.push_str(if anchor { "$" } else { "\\$" });
            }
            '(' | ')' | '{' | '}' | '|' | '+' | '?' => {
                out.push('\\');
                out.push(ch);
            }
            _ => out.push(ch),
        }
        i += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bre_translation() {
        let cases = [
            ("^sip:.*@example\\.com$", Some("^sip:.*@example\\.com$")),
            ("a+b?", Some("a\\+b\\?")),
            ("\\(ab\\)\\{2\\}", Some("(ab){2}")),
            ("a\\|b", Some("a|b")),
            ("*x", Some("\\*x")),
            ("^*x", Some("^\\*x")),
            ("a^b$c", Some("a\\^b\\$c")),
            ("[^]a+]x", Some("[^]a+]x")),
            ("[[:digit:]]+", Some("[[:digit:]]\\+")),
            ("(x)|{y}", Some("\\(x\\)\\|\\{y\\}")),
            ("\\(a\\)\\1", None),
            ("abc\\", None),
            ("[abc", None),
            ("[[:dig", None),
            ("[[:digit:]", None),
        ];
        for (bre, want) in cases {
            assert_eq!(bre_to_ere(bre).ok().as_deref(), want, "{bre}");
        }
    }

    fn row(
        src: &str,
        proto: &str,
        from: Option<&str>,
        tag: Option<&str>,
        prio: i32,
    ) -> Vec<DbValue> {
        vec![
            src.into(),
            proto.into(),
            from.into(),
            DbValue::Null,
            tag.into(),
            prio.into(),
        ]
    }

    fn req<'a>(proto: Option<Proto>, from: &'a str) -> Request<'a> {
        Request {
            proto,
            from_uri: from.as_bytes(),
            ruri: b"sip:bob@example.com",
        }
    }

    #[test]
    fn cache_order_and_matching() {
        let rows = vec![
            row("10.0.0.1", "udp", Some("^sip:alice@"), Some("low"), 1),
            row("10.0.0.1", "any", None, Some("high"), 9),
            row("10.0.0.1", "tcp", None, Some("tcp-only"), 5),
            row("10.0.0.1", "none", None, Some("never"), 99),
            row("10.0.0.2", "UDP", Some("(paren)+"), None, 0),
        ];
        let c = Cache::build(&rows).unwrap_or_else(|e| panic!("{e}"));
        let udp = Some(Proto::Udp);
        let m = c.matches("10.0.0.1", req(udp, "sip:alice@x"), false);
        assert_eq!(
            (m.rc, m.tags.as_slice()),
            (1, ["high".to_string()].as_slice())
        );
        let m = c.matches("10.0.0.1", req(udp, "sip:alice@x"), true);
        assert_eq!(m.rc, 2);
        assert_eq!(m.tags, ["high", "low"]);
        let m = c.matches("10.0.0.1", req(Some(Proto::Tcp), "sip:carol@x"), true);
        assert_eq!(m.tags, ["high", "tcp-only"]);
        let m = c.matches("10.0.0.1", req(None, "sip:carol@x"), true);
        assert_eq!(m.tags, ["high", "tcp-only"], "proto any matches every rule");
        assert_eq!(c.matches("10.0.0.9", req(udp, "x"), false).rc, -1);
        // A BRE: the parentheses and + are literal.
        assert_eq!(
            c.matches("10.0.0.2", req(udp, "sip:(paren)+@h"), false).rc,
            1
        );
        assert_eq!(
            c.matches("10.0.0.2", req(udp, "sip:parenn@h"), false).rc,
            -1
        );
        assert!(Cache::build(&[row("1.1.1.1", "quic", None, None, 0)]).is_err());
    }

    #[test]
    fn per_call_rules_skip_odd_rows() {
        let rows = vec![
            vec!["udp".into(), DbValue::Null, DbValue::Null, "a".into()],
            vec![DbValue::Null, DbValue::Null, DbValue::Null, "b".into()],
            vec!["none".into(), DbValue::Null, DbValue::Null, "c".into()],
            vec!["any".into(), DbValue::Null, "^sip:bob@".into(), "d".into()],
        ];
        let rules = rules_of_query("1.2.3.4", &rows, &mut Pattern::new);
        assert_eq!(rules.len(), 3);
        let m = match_rules(rules.iter(), req(None, "sip:x@y"), true);
        assert_eq!(
            m.tags,
            ["a", "c", "d"],
            "\"none\" rows match a call for any protocol"
        );
        let m = match_rules(rules.iter(), req(Some(Proto::Udp), "sip:x@y"), true);
        assert_eq!(m.tags, ["a", "d"]);
        let m = match_rules(rules.iter(), req(Some(Proto::Tcp), "sip:x@y"), true);
        assert_eq!(m.tags, ["d"]);
    }
}

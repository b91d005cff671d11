//! `#!ifexp` / `#!defexp` expressions with snexpr semantics (the small expression library Kamailio
//! embeds): values are numbers (doubles) or strings; a binary operator converts its right operand to the
//! type of its left one; `+` concatenates strings; comparisons of strings use `strcmp`; a define with
//! a value is that value as a string (enclosing quotes removed), a define without value is 1, an
//! undefined name is 0.
//!
//! Precedence, tightest first (snexpr's table): unary `- ! ~`; `** * / %`; `+ -`; `<< >>`;
//! `< <= > >= == !=`; `&`; `|`; `^`; `&&`; `||`.

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Num(f64),
    Str(String),
}

impl Value {
    pub fn truthy(&self) -> bool {
        match self {
            Value::Num(n) => *n != 0.0,
            Value::Str(s) => !s.is_empty(),
        }
    }

    fn num(&self) -> f64 {
        match self {
            Value::Num(n) => *n,
            Value::Str(s) => leading_number(s),
        }
    }

    /// Text form: integers without a fractional part (as Kamailio's `int2str` of the result).
    pub fn text(&self) -> String {
        match self {
            Value::Num(n) => format_num(*n),
            Value::Str(s) => s.clone(),
        }
    }
}

fn format_num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e18 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

/// `strtod`-like: the longest numeric prefix, 0 when none.
fn leading_number(s: &str) -> f64 {
    let t = s.trim_start();
    let mut end = 0;
    let b = t.as_bytes();
    if end < b.len() && (b[end] == b'-' || b[end] == b'+') {
        end += 1;
    }
    while end < b.len() && (b[end].is_ascii_digit() || b[end] == b'.') {
        end += 1;
    }
    t.get(..end).and_then(|x| x.parse().ok()).unwrap_or(0.0)
}

#[derive(Debug, Clone, PartialEq)]
enum T {
    Num(f64),
    Str(String),
    Id(String),
    Op(&'static str),
}

const OPS: [&str; 22] = [
    "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "+", "-", "*", "/", "%", "<", ">", "&",
    "|", "^", "!", "~", "(",
];

fn lex(src: &str) -> Result<Vec<T>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit()
            || (c == b'.' && b.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'.') {
                i += 1;
            }
            let t = &src[s..i];
            let v = if let Some(h) = t.strip_prefix("0x") {
                i64::from_str_radix(h, 16).map(|v| v as f64).ok()
            } else {
                t.parse::<f64>().ok()
            };
            out.push(T::Num(v.ok_or_else(|| format!("bad number `{t}`"))?));
        } else if c == b'"' || c == b'\'' {
            let s = i + 1;
            i += 1;
            while i < b.len() && b[i] != c {
                i += 1;
            }
            if i >= b.len() {
                return Err("unterminated string".into());
            }
            out.push(T::Str(src[s..i].to_string()));
            i += 1;
        } else if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(T::Id(src[s..i].to_string()));
        } else if c == b')' {
            out.push(T::Op(")"));
            i += 1;
        } else if let Some(op) = OPS.iter().find(|o| src[i..].starts_with(**o)) {
            out.push(T::Op(op));
            i += op.len();
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(format!("unexpected character `{ch}`"));
        }
    }
    Ok(out)
}

fn binding(op: &str) -> Option<u8> {
    // Larger binds tighter (snexpr's table inverted).
    Some(match op {
        "**" | "*" | "/" | "%" => 10,
        "+" | "-" => 9,
        "<<" | ">>" => 8,
        "<" | "<=" | ">" | ">=" | "==" | "!=" => 7,
        "&" => 6,
        "|" => 5,
        "^" => 4,
        "&&" => 3,
        "||" => 2,
        _ => return None,
    })
}

struct P<'a, F: Fn(&str) -> Value> {
    toks: Vec<T>,
    pos: usize,
    lookup: &'a F,
    /// Nesting of parentheses and unary operators, bounded (hostile input must not exhaust the stack).
    depth: usize,
}

impl<F: Fn(&str) -> Value> P<'_, F> {
    fn primary(&mut self) -> Result<Value, String> {
        if self.depth >= 200 {
            return Err("expression nested too deeply".into());
        }
        self.depth += 1;
        let r = self.primary_inner();
        self.depth -= 1;
        r
    }

    fn primary_inner(&mut self) -> Result<Value, String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        match t {
            Some(T::Num(n)) => Ok(Value::Num(n)),
            Some(T::Str(s)) => Ok(Value::Str(s)),
            Some(T::Id(id)) => Ok((self.lookup)(&id)),
            Some(T::Op("(")) => {
                let v = self.expr(0)?;
                if self.toks.get(self.pos) != Some(&T::Op(")")) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(v)
            }
            Some(T::Op(op @ ("-" | "!" | "~"))) => {
                let v = self.primary()?;
                Ok(match op {
                    "-" => Value::Num(-v.num()),
                    "!" => Value::Num(if v.truthy() { 0.0 } else { 1.0 }),
                    _ => Value::Num(!(v.num() as i64) as f64),
                })
            }
            Some(T::Op(op)) => Err(format!("unexpected `{op}`")),
            None => Err("unexpected end of expression".into()),
        }
    }

    fn expr(&mut self, min: u8) -> Result<Value, String> {
        let mut left = self.primary()?;
        while let Some(T::Op(op)) = self.toks.get(self.pos).cloned() {
            let Some(bp) = binding(op) else { break };
            if bp <= min {
                break;
            }
            self.pos += 1;
            let right = self.expr(bp)?;
            left = apply(op, left, right);
        }
        Ok(left)
    }
}

fn apply(op: &str, l: Value, r: Value) -> Value {
    let b = |x: bool| Value::Num(if x { 1.0 } else { 0.0 });
    match op {
        "&&" => return b(l.truthy() && r.truthy()),
        "||" => return b(l.truthy() || r.truthy()),
        _ => {}
    }
    if let Value::Str(ls) = &l {
        // Right operand converted to string.
        let rs = r.text();
        return match op {
            "+" => Value::Str(format!("{ls}{rs}")),
            "==" => b(*ls == rs),
            "!=" => b(*ls != rs),
            "<" => b(ls.as_str() < rs.as_str()),
            "<=" => b(ls.as_str() <= rs.as_str()),
            ">" => b(ls.as_str() > rs.as_str()),
            ">=" => b(ls.as_str() >= rs.as_str()),
            _ => apply_num(op, l.num(), leading_number(&rs)),
        };
    }
    apply_num(op, l.num(), r.num())
}

fn apply_num(op: &str, a: f64, c: f64) -> Value {
    let b = |x: bool| Value::Num(if x { 1.0 } else { 0.0 });
    let (ia, ic) = (a as i64, c as i64);
    match op {
        "+" => Value::Num(a + c),
        "-" => Value::Num(a - c),
        "*" => Value::Num(a * c),
        "/" => Value::Num(if c == 0.0 { 0.0 } else { a / c }),
        "%" => Value::Num(if ic == 0 { 0.0 } else { (ia % ic) as f64 }),
        "**" => Value::Num(a.powf(c)),
        "<<" => Value::Num(ia.checked_shl(ic as u32).unwrap_or(0) as f64),
        ">>" => Value::Num(ia.checked_shr(ic as u32).unwrap_or(0) as f64),
        "&" => Value::Num((ia & ic) as f64),
        "|" => Value::Num((ia | ic) as f64),
        "^" => Value::Num((ia ^ ic) as f64),
        "==" => b(a == c),
        "!=" => b(a != c),
        "<" => b(a < c),
        "<=" => b(a <= c),
        ">" => b(a > c),
        ">=" => b(a >= c),
        _ => Value::Num(0.0),
    }
}

/// Evaluates an expression; `lookup` gives the value of an identifier.
pub(crate) fn eval(src: &str, lookup: &impl Fn(&str) -> Value) -> Result<Value, String> {
    let toks = lex(src)?;
    if toks.is_empty() {
        return Err("empty expression".into());
    }
    let mut p = P {
        toks,
        pos: 0,
        lookup,
        depth: 0,
    };
    let v = p.expr(0)?;
    if p.pos < p.toks.len() {
        return Err("unexpected text after the expression".into());
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn look(id: &str) -> Value {
        match id {
            "KAMAILIO_VERSION" => Value::Str("6000007".into()),
            "WITH_NAT" => Value::Num(1.0),
            "OS_NAME" => Value::Str("linux".into()),
            "IPADDR" => Value::Str("127.0.0.1".into()),
            _ => Value::Num(0.0),
        }
    }

    #[test]
    fn snexpr_semantics() {
        let cases: [(&str, Value); 16] = [
            ("1 + \"20\"", Value::Num(21.0)),
            ("\"1\" + 20", Value::Str("120".into())),
            ("4 > \"20\"", Value::Num(0.0)),
            ("\"4\" > 20", Value::Num(1.0)),
            ("KAMAILIO_VERSION >= 5006000", Value::Num(1.0)),
            ("WITH_NAT && WITH_RTPENGINE", Value::Num(0.0)),
            ("WITH_NAT || WITH_RTPENGINE", Value::Num(1.0)),
            ("OS_NAME == \"linux\"", Value::Num(1.0)),
            (
                "\"sip:\" + IPADDR + \":5060\"",
                Value::Str("sip:127.0.0.1:5060".into()),
            ),
            ("2 + 3 * 4", Value::Num(14.0)),
            ("(2 + 3) * 4", Value::Num(20.0)),
            ("1 << 4 | 1", Value::Num(17.0)),
            ("!UNDEF", Value::Num(1.0)),
            ("~0 & 7", Value::Num(7.0)),
            ("10 % 4 - -1", Value::Num(3.0)),
            ("'a' + 'b'", Value::Str("ab".into())),
        ];
        for (src, want) in cases {
            assert_eq!(eval(src, &look), Ok(want), "{src}");
        }
        for bad in ["", "1 +", "(1", "1 2", "#"] {
            assert!(eval(bad, &look).is_err(), "{bad}");
        }
    }
}

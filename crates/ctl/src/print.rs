//! Printing a JSON-RPC result the way kamcmd prints the equivalent BINRPC reply (Kamailio's ctl
//! sends arrays as structs, so both print as `{ … }` blocks).

use serde_json::Value;

/// The whole result: a top-level array is a sequence of values (one per line, like successive
/// BINRPC records); an empty object is Kamailio's "nothing added" and prints nothing.
pub fn result(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Array(a) => {
            for x in a {
                value(x, None, 0, &mut out);
            }
        }
        Value::Object(m) if m.is_empty() => {}
        other => value(other, None, 0, &mut out),
    }
    out
}

/// A scalar as kamcmd prints it: integers as `%d`, other doubles as `%f`, strings raw.
pub fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "<null string>".into(),
        Value::Bool(b) => i32::from(*b).to_string(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => format!("{}", f as i64),
            (None, Some(f)) => format!("{f:.6}"),
            (None, None) => n.to_string(),
        },
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

fn tabs(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push('\t');
    }
}

fn value(v: &Value, name: Option<&str>, depth: usize, out: &mut String) {
    tabs(depth, out);
    if let Some(n) = name {
        out.push_str(n);
        out.push_str(": ");
    }
    match v {
        Value::Object(m) => {
            out.push_str("{\n");
            for (k, x) in m {
                value(x, Some(k), depth + 1, out);
            }
            tabs(depth, out);
            out.push_str("}\n");
        }
        Value::Array(a) => {
            out.push_str("{\n");
            for x in a {
                value(x, None, depth + 1, out);
            }
            tabs(depth, out);
            out.push_str("}\n");
        }
        s => {
            out.push_str(&scalar(s));
            out.push('\n');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_like_kamcmd() {
        // (result JSON, kamcmd-style text)
        let cases = [
            (r#""kamailio 5.6.3 ""#, "kamailio 5.6.3 \n"),
            (r#"["a","b"]"#, "a\nb\n"),
            (r#"{}"#, ""),
            (r#"{"x":1,"y":0.5,"z":2.0}"#, "{\n\tx: 1\n\ty: 0.500000\n\tz: 2\n}\n"),
            (
                r#"[{"socket":{"proto":"udp","port":"5060"}}]"#,
                "{\n\tsocket: {\n\t\tproto: udp\n\t\tport: 5060\n\t}\n}\n",
            ),
            (r#"{"items":[1,[2],{"k":"v"}],"e":[]}"#, "{\n\titems: {\n\t\t1\n\t\t{\n\t\t\t2\n\t\t}\n\t\t{\n\t\t\tk: v\n\t\t}\n\t}\n\te: {\n\t}\n}\n"),
        ];
        for (json, want) in cases {
            let v: Value = serde_json::from_str(json).expect(json);
            assert_eq!(result(&v), want, "{json}");
        }
    }
}

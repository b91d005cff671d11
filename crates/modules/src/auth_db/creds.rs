//! `load_credentials`: `credential (';' credential)*`, each `column` or `$avp(name)=column`, and
//! copying a found row's values into those AVPs (Kamailio's `parse_aaa_pvs` + `db_val2pv_spec`).

use ferrosip_api::{Ctx, Value};
use ferrosip_db::Value as DbValue;

/// One credential to load: a column and the AVP that receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cred {
    pub column: String,
    pub avp: Vec<u8>,
}

/// Parses the parameter. The list comes back in reverse order, as Kamailio builds it (each new
/// element is put first), so AVPs are added in Kamailio's order.
pub(super) fn parse(def: &str) -> Result<Vec<Cred>, String> {
    let mut out = Vec::new();
    if def.is_empty() {
        return Ok(out);
    }
    for (i, item) in def.split(';').enumerate() {
        // A trailing ';' ends the list; an empty element elsewhere is an error, as in Kamailio.
        if item.trim().is_empty() {
            if i > 0 && def.trim_end().ends_with(';') && def.split(';').count() == i + 1 {
                break;
            }
            return Err(format!("empty element in \"{def}\""));
        }
        // The PV may contain '=': the column is after the last one.
        let (pv, column) = match item.rsplit_once('=') {
            Some((pv, col)) => (Some(pv.trim()), col.trim()),
            None => (None, item.trim()),
        };
        if column.is_empty() || !super::is_ident(column) {
            return Err(format!("bad column name \"{column}\" in \"{def}\""));
        }
        let avp = match pv {
            // Kamailio reads a bare column as `$avp(column)`.
            None => avp_key(column)?,
            Some("") => return Err(format!("empty variable before \"={column}\"")),
            Some(spec) => match spec.strip_prefix("$avp(").and_then(|r| r.strip_suffix(')')) {
                Some(inner) if !inner.contains(['$', '(', ')']) => avp_key(inner)?,
                Some(_) => {
                    return Err(format!(
                        "{spec}: AVP names built at run time are not supported in load_credentials"
                    ))
                }
                None => {
                    return Err(format!(
                        "{spec}: only $avp(…) targets are implemented for load_credentials (Kamailio also takes other writable variables)"
                    ))
                }
            },
        };
        out.push(Cred {
            column: column.to_string(),
            avp,
        });
    }
    out.reverse();
    Ok(out)
}

/// The key of a literal `$avp` name (`x`, `s:x`, `i:5`, `t.x`, `fu.x` …) as the `$avp` variable
/// stores it (`pv::containers::avp_key`): the list a value is added to.
fn avp_key(inner: &str) -> Result<Vec<u8>, String> {
    crate::pv::containers::avp_key(inner).map(String::into_bytes)
}

/// Adds the row's values (one per credential, same order) to their AVPs. NULL adds nothing;
/// a double has no script type in Kamailio's conversion and is skipped too.
pub(super) fn load(ctx: &mut Ctx<'_>, creds: &[Cred], values: &[DbValue]) {
    for (c, v) in creds.iter().zip(values) {
        let v = match v {
            DbValue::Null | DbValue::Double(_) => continue,
            DbValue::Int(i) => Value::Int(i64::from(*i)),
            DbValue::BigInt(i) | DbValue::DateTime(i) => Value::Int(*i),
            DbValue::Str(s) => Value::Str(s.as_bytes().to_vec()),
            DbValue::Blob(b) => Value::Str(b.clone()),
        };
        ctx.state.avps.add(&c.avp, v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(column: &str, avp: &str) -> Cred {
        Cred {
            column: column.into(),
            avp: avp.as_bytes().to_vec(),
        }
    }

    #[test]
    fn parse_cases() {
        let ok: &[(&str, Vec<Cred>)] = &[
            ("", vec![]),
            ("rpid", vec![c("rpid", "rpid")]),
            (
                "$avp(i:123)=rpid;email_address",
                vec![c("email_address", "email_address"), c("rpid", "\0i:123")],
            ),
            (
                "$avp(t.r)=rpid;$avp(fu.e)=email_address;$avp(f.x)=a",
                vec![
                    c("a", "x"),
                    c("email_address", "\0fu.e"),
                    c("rpid", "\0t.r"),
                ],
            ),
            ("$avp(s:x) = rpid ;", vec![c("rpid", "x")]),
            ("a;b;c", vec![c("c", "c"), c("b", "b"), c("a", "a")]),
        ];
        for (def, want) in ok {
            assert_eq!(parse(def).as_ref(), Ok(want), "{def}");
        }
        let bad = [
            "$var(x)=rpid",
            "=rpid",
            "$avp(x)=",
            "a;;b",
            "bad-col",
            "$avp($var(n))=rpid",
            "$avp(g.x)=rpid",
            "$avp(zz.x)=rpid",
        ];
        for def in bad {
            assert!(parse(def).is_err(), "{def}");
        }
    }
}

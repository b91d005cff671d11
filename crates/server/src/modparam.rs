//! The `--modparam=modname:paramname:type:value` command-line argument.
//!
//! As Kamailio's `set_mod_param_serialized`: the module and parameter names end at the first two
//! colons, the type is `s`/`S` (string) or `i`/`I` (integer), the value is everything after the third
//! colon (it may contain colons). The whole argument must be shorter than 256 bytes. The module part
//! may be an alternation `acc|auth_db` (Kamailio treats it as a regular expression); other regular
//! expression syntax is refused here because each name is checked against the module registry.

use crate::Error;

/// The value of a `--modparam`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModparamValue {
    Str(String),
    Int(i32),
}

/// One `--modparam`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Modparam {
    /// The module names (more than one for `a|b`).
    pub modules: Vec<String>,
    pub param: String,
    pub value: ModparamValue,
}

/// Longest accepted argument, in bytes (Kamailio's buffer is 256 bytes with the terminator).
pub const MAX_LEN: usize = 255;

/// Parses a `--modparam` argument.
pub fn parse_modparam(arg: &str) -> Result<Modparam, Error> {
    let bad = |why: &str| Error::Modparam {
        arg: arg.to_string(),
        why: why.to_string(),
    };
    if arg.len() > MAX_LEN {
        return Err(bad("argument is too long"));
    }
    let (module, rest) = arg.split_once(':').ok_or_else(|| bad("invalid format"))?;
    let (param, rest) = rest.split_once(':').ok_or_else(|| bad("invalid format"))?;
    let (kind, value) = rest.split_once(':').ok_or_else(|| bad("invalid format"))?;
    let modules: Vec<String> = module.split('|').map(str::to_string).collect();
    if modules
        .iter()
        .any(|m| m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    {
        return Err(bad("module name must be a name or names joined by '|'"));
    }
    if param.is_empty() {
        return Err(bad("empty parameter name"));
    }
    let value = match kind {
        "s" | "S" => ModparamValue::Str(value.to_string()),
        "i" | "I" => {
            let n = parse_int(value).ok_or_else(|| bad("invalid integer value"))?;
            ModparamValue::Int(n)
        }
        _ => return Err(bad("type must be 's' or 'i'")),
    };
    Ok(Modparam {
        modules,
        param: param.to_string(),
        value,
    })
}

/// Decimal, or hexadecimal with `0x`, optionally signed (what Kamailio's `strz2sint` reads).
fn parse_int(s: &str) -> Option<i32> {
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let v = match digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        Some(hex) if !hex.is_empty() => i64::from_str_radix(hex, 16).ok()?,
        Some(_) => return None,
        None if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            digits.parse().ok()?
        }
        None => return None,
    };
    i32::try_from(if neg { -v } else { v }).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp(mods: &[&str], param: &str, value: ModparamValue) -> Modparam {
        Modparam {
            modules: mods.iter().map(|s| s.to_string()).collect(),
            param: param.into(),
            value,
        }
    }

    #[test]
    fn accepted() {
        use ModparamValue::*;
        let table = [
            (
                "corex:alias_subdomains:s:kamailio.org",
                mp(&["corex"], "alias_subdomains", Str("kamailio.org".into())),
            ),
            ("tm:fr_timer:i:30000", mp(&["tm"], "fr_timer", Int(30000))),
            ("tm:fr_timer:I:-1", mp(&["tm"], "fr_timer", Int(-1))),
            ("tm:x:i:0x10", mp(&["tm"], "x", Int(16))),
            (
                "acc|auth_db:db_url:S:mysql://u:p@h/db",
                mp(
                    &["acc", "auth_db"],
                    "db_url",
                    Str("mysql://u:p@h/db".into()),
                ),
            ),
            ("sl:p:s:", mp(&["sl"], "p", Str(String::new()))),
        ];
        for (arg, want) in table {
            assert_eq!(parse_modparam(arg).ok(), Some(want), "{arg}");
        }
    }

    #[test]
    fn refused() {
        let long = format!("tm:p:s:{}", "x".repeat(300));
        let table = [
            "tm",
            "tm:fr_timer",
            "tm:fr_timer:i",
            "tm:fr_timer:x:1",
            "tm:fr_timer:i:",
            "tm:fr_timer:i:12a",
            "tm:fr_timer:i:99999999999",
            "tm:fr_timer:is:1",
            ":p:s:v",
            "tm::s:v",
            "t.*:p:s:v",
            long.as_str(),
        ];
        for arg in table {
            assert!(parse_modparam(arg).is_err(), "{arg} should be refused");
        }
    }
}

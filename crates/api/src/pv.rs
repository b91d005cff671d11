//! Pseudo-variables resolved at load: the parsed reference ([`PvSpec`]), its inner name and index
//! ([`PvName`]), strings with embedded variables ([`Format`]) and the parser for the `$…` syntax
//! inside strings.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::export::{PvGet, PvSet, Transform};
use crate::value::Value;
use crate::Error;

/// The inner name of a PV (`x` in `$var(x)`), as the PV's parser made it.
#[derive(Clone, Default)]
pub enum PvInner {
    /// No inner name (`$rm`).
    #[default]
    None,
    /// A literal name.
    Str(Vec<u8>),
    /// An integer name (`$avp(i:3)` style).
    Int(i64),
    /// A name computed per message (`$avp($var(n))`).
    Fmt(Format),
    /// A PV-specific prepared form.
    Custom(Arc<dyn Any + Send + Sync>),
}

impl fmt::Debug for PvInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PvInner::None => write!(f, "None"),
            PvInner::Str(s) => write!(f, "{:?}", String::from_utf8_lossy(s)),
            PvInner::Int(i) => write!(f, "{i}"),
            PvInner::Fmt(x) => write!(f, "{x:?}"),
            PvInner::Custom(_) => write!(f, "Custom"),
        }
    }
}

/// The index of a PV (`[n]`, `[-1]`, `[*]`, `[$var(i)]`).
#[derive(Debug, Clone, Default)]
pub enum PvIndex {
    /// No index.
    #[default]
    None,
    /// A constant position (negative counts from the end).
    At(i64),
    /// `[*]`: all values.
    All,
    /// A position read from a variable per message.
    Var(Box<PvSpec>),
}

/// An index after evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Idx {
    /// None given.
    None,
    /// Position.
    At(i64),
    /// All.
    All,
}

/// Inner name plus index: what getters and setters receive.
#[derive(Debug, Clone, Default)]
pub struct PvName {
    /// Inner name.
    pub inner: PvInner,
    /// Index.
    pub index: PvIndex,
}

impl PvName {
    /// The literal inner name, or the rendered dynamic one.
    pub fn name_bytes(&self, ctx: &mut Ctx<'_>) -> Vec<u8> {
        match &self.inner {
            PvInner::None | PvInner::Custom(_) => Vec::new(),
            PvInner::Str(s) => s.clone(),
            PvInner::Int(i) => i.to_string().into_bytes(),
            PvInner::Fmt(f) => f.render(ctx),
        }
    }

    /// The index, evaluated.
    pub fn idx(&self, ctx: &mut Ctx<'_>) -> Idx {
        match &self.index {
            PvIndex::None => Idx::None,
            PvIndex::At(i) => Idx::At(*i),
            PvIndex::All => Idx::All,
            PvIndex::Var(p) => Idx::At(p.get(ctx).to_int()),
        }
    }
}

/// A resolved variable reference: the class's getter/setter, its parsed name and its transformations.
/// Cheap to clone.
#[derive(Clone)]
pub struct PvSpec(Arc<SpecInner>);

struct SpecInner {
    text: String,
    class: String,
    name: PvName,
    get: PvGet,
    set: Option<PvSet>,
    transforms: Vec<Transform>,
}

impl fmt::Debug for PvSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.text)
    }
}

impl PvSpec {
    /// Builds a spec (used by the registry's resolver).
    pub fn new(
        text: String,
        class: String,
        name: PvName,
        get: PvGet,
        set: Option<PvSet>,
        transforms: Vec<Transform>,
    ) -> PvSpec {
        PvSpec(Arc::new(SpecInner {
            text,
            class,
            name,
            get,
            set,
            transforms,
        }))
    }

    /// The class name (`var`, `avp`, `ru` …).
    pub fn name(&self) -> &str {
        &self.0.class
    }

    /// The text as written (`$var(x)`).
    pub fn text(&self) -> &str {
        &self.0.text
    }

    /// Parsed name and index.
    pub fn pv_name(&self) -> &PvName {
        &self.0.name
    }

    /// True when the class has a setter and no transformation is applied.
    pub fn is_writable(&self) -> bool {
        self.0.set.is_some() && self.0.transforms.is_empty()
    }

    /// True when transformations are attached.
    pub fn has_transforms(&self) -> bool {
        !self.0.transforms.is_empty()
    }

    /// Reads the value; a getter or transformation error is logged at `L_ERR` and reads as `Null`
    /// (what an expression or a function parameter sees). [`PvSpec::try_get`] keeps the error.
    pub fn get(&self, ctx: &mut Ctx<'_>) -> Value {
        match self.try_get(ctx) {
            Ok(v) => v,
            Err(e) => {
                ctx.log_error(&e.to_string());
                Value::Null
            }
        }
    }

    /// Reads the value, keeping a failed read apart from an undefined value: Kamailio's
    /// `pv_printf` prints nothing for a failed read (`{s.int}` on "12a") but `<null>` for `$null`.
    pub fn try_get(&self, ctx: &mut Ctx<'_>) -> Result<Value, Error> {
        let mut v = (self.0.get)(ctx, &self.0.name)
            .map_err(|e| Error::Runtime(format!("failed to get {}: {e}", self.0.text)))?;
        for t in &self.0.transforms {
            v = t(ctx, v).map_err(|e| {
                Error::Runtime(format!("transformation failed on {}: {e}", self.0.text))
            })?;
        }
        Ok(v)
    }

    /// Writes the value (`Null` deletes).
    pub fn set(&self, ctx: &mut Ctx<'_>, v: Value) -> Result<(), Error> {
        match &self.0.set {
            Some(set) => set(ctx, &self.0.name, v),
            None => Err(Error::Runtime(format!("{} is read-only", self.0.text))),
        }
    }
}

/// A string with embedded variables, prepared at load (Kamailio's `pv_elem_t` list).
#[derive(Clone, Default)]
pub struct Format {
    parts: Vec<FmtPart>,
}

#[derive(Clone)]
enum FmtPart {
    Lit(Vec<u8>),
    Pv(PvSpec),
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"")?;
        for p in &self.parts {
            match p {
                FmtPart::Lit(l) => write!(f, "{}", String::from_utf8_lossy(l))?,
                FmtPart::Pv(p) => write!(f, "{}", p.text())?,
            }
        }
        write!(f, "\"")
    }
}

impl Format {
    /// The variable, when the format is exactly one variable and no text (`"$var(port)"`):
    /// what Kamailio's `fixup_igp`/`fixup_spve` treat as that variable.
    pub fn single_pv(&self) -> Option<&PvSpec> {
        match self.parts.as_slice() {
            [FmtPart::Pv(p)] => Some(p),
            _ => None,
        }
    }

    /// An empty format.
    pub fn new() -> Format {
        Format::default()
    }

    /// Appends literal text.
    pub fn push_lit(&mut self, s: &[u8]) {
        if let Some(FmtPart::Lit(l)) = self.parts.last_mut() {
            l.extend_from_slice(s);
        } else if !s.is_empty() {
            self.parts.push(FmtPart::Lit(s.to_vec()));
        }
    }

    /// Appends a variable.
    pub fn push_pv(&mut self, p: PvSpec) {
        self.parts.push(FmtPart::Pv(p));
    }

    /// The literal text when the format has no variable.
    pub fn as_constant(&self) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                FmtPart::Lit(l) => out.extend_from_slice(l),
                FmtPart::Pv(_) => return None,
            }
        }
        Some(out)
    }

    /// Renders per message. An undefined variable prints as `<null>`, a failed read (getter or
    /// transformation error) prints nothing, as Kamailio's `pv_printf` (checked against 5.6.3:
    /// `{s.int}` on "12a", `{s.substr}` out of range). The failure is logged at `L_DBG` only, as
    /// Kamailio shows nothing for it at the usual levels.
    pub fn render(&self, ctx: &mut Ctx<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        for p in &self.parts {
            match p {
                FmtPart::Lit(l) => out.extend_from_slice(l),
                FmtPart::Pv(pv) => match pv.try_get(ctx) {
                    Ok(Value::Null) => out.extend_from_slice(b"<null>"),
                    Ok(Value::Int(i)) => out.extend_from_slice(i.to_string().as_bytes()),
                    Ok(Value::Str(s)) => out.extend_from_slice(&s),
                    Err(e) => ctx.log(crate::L_DBG, &e.to_string()),
                },
            }
        }
        out
    }
}

/// One PV reference found in text, split into its parts (the same parts the config AST gives for PVs
/// written outside strings).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PvRef {
    /// As written.
    pub text: String,
    /// Class name.
    pub name: String,
    /// Inner name, if any.
    pub inner: Option<String>,
    /// Index text, if any.
    pub index: Option<String>,
    /// Transformations, each as the text inside the braces (`s.len`, `s.substr,1,2`).
    pub transforms: Vec<String>,
}

/// Characters allowed in a PV class name (Kamailio's `is_pv_valid_char`).
fn is_name_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'?'
}

/// Finds the byte after the `close` that balances an `open` already consumed at `start - 1`.
fn balanced(s: &[u8], start: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 1usize;
    let mut i = start;
    while let Some(&b) = s.get(i) {
        if b == open {
            depth += 1;
        } else if b == close {
            depth -= 1;
            if depth == 0 {
                return Some(i + 1);
            }
        }
        i += 1;
    }
    None
}

/// Parses one PV at the start of `s` (which starts with `$`). Returns the reference and the number of
/// bytes it used, or a message when the text is not a valid PV.
pub fn parse_pv_ref(s: &[u8]) -> Result<(PvRef, usize), String> {
    let text_of = |n: usize| String::from_utf8_lossy(s.get(..n).unwrap_or(s)).into_owned();
    let lossy =
        |a: usize, b: usize| String::from_utf8_lossy(s.get(a..b).unwrap_or_default()).into_owned();
    if s.first() != Some(&b'$') {
        return Err("a variable starts with `$`".into());
    }
    if s.get(1) == Some(&b'(') {
        // $(name(inner)[index]{tr}…)
        let end = balanced(s, 2, b'(', b')').ok_or("unbalanced `$(`")?;
        let body = s.get(2..end - 1).unwrap_or_default();
        let mut i = 0;
        while body.get(i).is_some_and(|b| is_name_char(*b)) {
            i += 1;
        }
        if i == 0 {
            return Err(format!("bad variable name in `{}`", text_of(end)));
        }
        let name = String::from_utf8_lossy(&body[..i]).into_owned();
        let mut inner = None;
        if body.get(i) == Some(&b'(') {
            let e = balanced(body, i + 1, b'(', b')').ok_or("unbalanced `(` in variable")?;
            inner = Some(String::from_utf8_lossy(&body[i + 1..e - 1]).into_owned());
            i = e;
        }
        let mut index = None;
        if body.get(i) == Some(&b'[') {
            let e = balanced(body, i + 1, b'[', b']').ok_or("unbalanced `[` in variable")?;
            index = Some(String::from_utf8_lossy(&body[i + 1..e - 1]).into_owned());
            i = e;
        }
        let mut transforms = Vec::new();
        while body.get(i) == Some(&b'{') {
            let e = balanced(body, i + 1, b'{', b'}').ok_or("unbalanced `{` in variable")?;
            transforms.push(String::from_utf8_lossy(&body[i + 1..e - 1]).into_owned());
            i = e;
        }
        if i != body.len() {
            return Err(format!("unexpected text in variable `{}`", text_of(end)));
        }
        return Ok((
            PvRef {
                text: text_of(end),
                name,
                inner,
                index,
                transforms,
            },
            end,
        ));
    }
    let mut i = 1;
    while s.get(i).is_some_and(|b| is_name_char(*b)) {
        i += 1;
    }
    if i == 1 {
        return Err("`$` without a variable name".into());
    }
    let name = lossy(1, i);
    let mut inner = None;
    if s.get(i) == Some(&b'(') {
        let e = balanced(s, i + 1, b'(', b')').ok_or("unbalanced `(` in variable")?;
        inner = Some(lossy(i + 1, e - 1));
        i = e;
    }
    Ok((
        PvRef {
            text: text_of(i),
            name,
            inner,
            index: None,
            transforms: Vec::new(),
        },
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pv_syntax() {
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<&'a str>,
            Option<&'a str>,
            &'a [&'a str],
            usize,
        );
        let cases: &[Case] = &[
            ("$rm", "rm", None, None, &[], 3),
            ("$rm is", "rm", None, None, &[], 3),
            ("$var(x)y", "var", Some("x"), None, &[], 7),
            ("$avp(a(b))", "avp", Some("a(b)"), None, &[], 10),
            ("$(avp(x)[*])", "avp", Some("x"), Some("*"), &[], 12),
            (
                "$(ru{s.len}{s.int})",
                "ru",
                None,
                None,
                &["s.len", "s.int"],
                19,
            ),
            ("$?", "?", None, None, &[], 2),
            (
                "$(var(x){s.substr,1,2})!",
                "var",
                Some("x"),
                None,
                &["s.substr,1,2"],
                23,
            ),
        ];
        for (text, name, inner, index, trs, used) in cases {
            let (r, n) = parse_pv_ref(text.as_bytes()).unwrap();
            assert_eq!(r.name, *name, "{text}");
            assert_eq!(r.inner.as_deref(), *inner, "{text}");
            assert_eq!(r.index.as_deref(), *index, "{text}");
            assert_eq!(r.transforms, *trs, "{text}");
            assert_eq!(n, *used, "{text}");
        }
        for bad in ["$", "$(", "$(x", "$var(x", "$((x))", "x"] {
            assert!(parse_pv_ref(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}

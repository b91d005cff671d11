//! Diagnostics: an [`Error`] with a primary span and optional notes, rendered rustc-style
//! (`error: …`, ` --> file:line:col`, the line, a caret under the span).

use crate::span::{SourceMap, Span};

/// What went wrong, by phase. The message is the user-visible text; the phase lets callers and tests
/// tell a lexical error from a preprocessor or grammar error without matching on text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bad characters, unterminated strings or comments, malformed numbers.
    #[error("{0}")]
    Lexical(String),
    /// `#!` directives: unbalanced conditionals, bad defines, missing include files, bad `#!subst`.
    #[error("{0}")]
    Preprocessor(String),
    /// The token sequence does not fit the grammar.
    #[error("{0}")]
    Syntax(String),
    /// Well-formed but not accepted: unknown core parameter, bad value for a parameter, bad listen
    /// address, bad pseudo-variable or transformation.
    #[error("{0}")]
    Semantic(String),
}

/// How serious a diagnostic is. Errors make [`crate::load`] fail; warnings travel in
/// [`crate::Loaded::warnings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// A secondary message, optionally pointing at another place (e.g. where a define was defined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub span: Option<Span>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    severity: Severity,
    pub error: Error,
    /// Where the problem is; `None` for problems without a place (e.g. a bad `-A` on the command line).
    pub span: Option<Span>,
    pub notes: Vec<Note>,
}

impl Diagnostic {
    pub fn error(error: Error, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            error,
            span,
            notes: Vec::new(),
        }
    }

    pub fn warning(error: Error, span: Option<Span>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            error,
            span,
            notes: Vec::new(),
        }
    }

    pub fn with_note(mut self, span: Option<Span>, message: impl Into<String>) -> Diagnostic {
        self.notes.push(Note {
            span,
            message: message.into(),
        });
        self
    }

    /// The same diagnostic pointing elsewhere.
    pub fn with_span(mut self, span: Span) -> Diagnostic {
        self.span = Some(span);
        self
    }

    pub fn severity(&self) -> Severity {
        self.severity
    }

    pub fn message(&self) -> String {
        self.error.to_string()
    }

    /// Renders like rustc / starlark-rust:
    ///
    /// ```text
    /// error: unknown core parameter `foo`
    ///  --> kamailio.cfg:3:1
    ///   |
    /// 3 | foo=1
    ///   | ^^^
    ///   = note: …
    /// ```
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let head = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        out.push_str(&format!("{head}: {}\n", self.error));
        if let Some(span) = self.span {
            render_snippet(&mut out, sources, span);
        }
        for note in &self.notes {
            match note.span {
                Some(span) => {
                    let loc = sources.locate(span);
                    out.push_str(&format!(
                        "  = note: {} ({}:{}:{})\n",
                        note.message, loc.file_name, loc.line, loc.column
                    ));
                }
                None => out.push_str(&format!("  = note: {}\n", note.message)),
            }
        }
        out
    }
}

fn render_snippet(out: &mut String, sources: &SourceMap, span: Span) {
    let loc = sources.locate(span);
    let line_no = loc.line.to_string();
    let pad = " ".repeat(line_no.len());
    out.push_str(&format!(
        "{pad}--> {}:{}:{}\n",
        loc.file_name, loc.line, loc.column
    ));
    out.push_str(&format!("{pad} |\n"));
    out.push_str(&format!("{line_no} | {}\n", loc.line_text));
    // Caret under the span, limited to the first line; tabs are kept so the caret lines up.
    let prefix: String = loc
        .line_text
        .chars()
        .take(loc.column.saturating_sub(1))
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let text = sources.snippet(span);
    let first_line = text.split('\n').next().unwrap_or("");
    let width = first_line.chars().count().max(1);
    let avail = loc
        .line_text
        .chars()
        .count()
        .saturating_sub(loc.column.saturating_sub(1))
        .max(1);
    out.push_str(&format!(
        "{pad} | {prefix}{}\n",
        "^".repeat(width.min(avail))
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_has_location_and_caret() {
        let mut sm = SourceMap::new();
        let f = sm.add("k.cfg", "debug=3\nfoo = 1\n".to_string());
        let d = Diagnostic::error(
            Error::Semantic("unknown core parameter `foo`".into()),
            Some(Span::new(f, 8, 11)),
        )
        .with_note(None, "hint");
        assert_eq!(
            d.render(&sm),
            "error: unknown core parameter `foo`\n --> k.cfg:2:1\n  |\n2 | foo = 1\n  | ^^^\n  = note: hint\n"
        );
        assert_eq!(d.severity(), Severity::Error);
    }
}

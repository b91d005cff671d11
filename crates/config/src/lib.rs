//! The kamailio.cfg front end: preprocessor, lexer, parser, AST with byte spans, diagnostics.
//!
//! It knows nothing of SIP or of modules: it turns text into a syntax tree whose every node carries the
//! span of the source it came from (surviving `#!define` expansion and `include_file`), or into
//! diagnostics that name file, line and column. It performs no I/O itself: files and environment
//! variables are read through the [`Host`] trait the caller supplies. It does not resolve module
//! functions, modparams or module pseudo-variables (the script compiler does), and it holds no state
//! between calls.
//!
//! Map: `span` (source map), `lexer` (tokens, directive lines), `pp` + `ppexpr` + `re` (preprocessor,
//! `#!ifexp` expressions, `#!subst` regexes), `parser` + `stmt` + `expr` + `listen` + `params` (grammar),
//! `validate` (placement rules on the tree), `print` (`--cfg-print`), `diag` (errors and rendering).
//! Design notes and the Kamailio comparisons: `docs/config-frontend.md`.

pub mod ast;
mod diag;
mod expr;
mod lexer;
mod listen;
pub mod params;
mod parser;
mod pp;
mod ppexpr;
mod print;
mod re;
mod span;
mod stmt;
mod validate;

pub use diag::{Diagnostic, Error, Note, Severity};
pub use listen::parse_listen_arg;
pub use pp::KAMAILIO_VERSION;
pub use span::{FileId, Location, SourceMap, Span};

// Contract with the binary (`src/main.rs`, `crates/server`): these names and shapes are what callers
// code against.

/// The outside world as the front end sees it. The binary passes a real one; tests and the fuzzer an
/// in-memory one.
pub trait Host {
    /// Reads a whole file (for `include_file` / `import_file`). `path` is as the front end resolved it.
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>>;
    /// An environment variable (for `#!defenv` and friends, and `$env()` folding at load).
    fn env(&self, name: &str) -> Option<String>;
}

/// How the command line feeds the preprocessor (`-A`, `--subst`, `--substdef`, `--substdefs`), in the
/// order given.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-A NAME`, `-A NAME=value`, `-A 'NAME="str"'`, raw as typed.
    pub defines: Vec<String>,
    /// `--subst`, `--substdef`, `--substdefs`, in command-line order.
    pub substs: Vec<(SubstKind, String)>,
    /// Value of the predefined `OS_NAME` (the binary passes the running OS, e.g. `linux`).
    pub os_name: String,
}

/// Which of the three substitution directives a command-line expression came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubstKind {
    Subst,
    SubstDef,
    SubstDefs,
}

/// A config that loaded: the tree, the texts it came from, and warnings (no errors).
#[derive(Debug)]
pub struct Loaded {
    pub sources: SourceMap,
    pub config: ast::Config,
    pub warnings: Vec<Diagnostic>,
    /// The preprocessor's defines at the end of the file, in definition order (predefined ones,
    /// the command line's `-A`, `#!define`/`#!substdef` lines and `MOD_<name>` of each
    /// `loadmodule`, as Kamailio's `core.ppdefines` lists them), with their values.
    pub defines: Vec<(String, Option<String>)>,
}

/// A config that did not load: every diagnostic found (errors first, in file order of discovery,
/// then warnings), and the texts needed to render them.
#[derive(Debug)]
pub struct Failure {
    pub sources: SourceMap,
    pub diagnostics: Vec<Diagnostic>,
}

impl Failure {
    /// All diagnostics rendered, separated by blank lines.
    pub fn render(&self) -> String {
        self.diagnostics
            .iter()
            .map(|d| d.render(&self.sources))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

fn read_entry(entry: &str, host: &dyn Host) -> Result<String, Failure> {
    match host.read_file(entry) {
        Ok(b) => Ok(String::from_utf8_lossy(&b).into_owned()),
        Err(e) => Err(Failure {
            sources: SourceMap::new(),
            diagnostics: vec![Diagnostic::error(
                Error::Preprocessor(format!("cannot open config file `{entry}`: {e}")),
                None,
            )],
        }),
    }
}

fn split(diags: Vec<Diagnostic>) -> (Vec<Diagnostic>, Vec<Diagnostic>) {
    diags
        .into_iter()
        .partition(|d| d.severity() == Severity::Error)
}

/// Preprocesses and parses `entry` (read through `host`).
pub fn load(entry: &str, opts: &LoadOptions, host: &dyn Host) -> Result<Loaded, Failure> {
    let text = read_entry(entry, host)?;
    load_text(entry, text, opts, host)
}

/// Like [`load`] with the entry file's text given (tests, fuzzing, `-f -`).
pub fn load_text(
    name: &str,
    text: String,
    opts: &LoadOptions,
    host: &dyn Host,
) -> Result<Loaded, Failure> {
    let mut pp = pp::Preprocessor::new(host, opts);
    pp.run_entry(name, text);
    let tokens = std::mem::take(&mut pp.out);
    let defines = pp.ordered_defines();
    if tokens.is_empty() && !pp.diags.iter().any(|d| d.severity() == Severity::Error) {
        // Kamailio's grammar needs at least one statement.
        let len = pp.sources.text(FileId(0)).len();
        pp.diags.push(Diagnostic::error(
            Error::Syntax("the configuration has no statement (empty after preprocessing)".into()),
            Some(Span::new(FileId(0), len, len)),
        ));
    }
    let sources = std::mem::take(&mut pp.sources);
    let entry_len = sources.text(FileId(0)).len();
    let eof = Span::new(FileId(0), entry_len, entry_len);
    let (mut errors, mut warnings) = split(std::mem::take(&mut pp.diags));
    let mut parser = parser::Parser::new(tokens, &sources, eof);
    let config = if errors.len() < pp::MAX_ERRORS {
        parser.config()
    } else {
        ast::Config::default()
    };
    let mut parse_diags = std::mem::take(&mut parser.diags);
    if parse_diags.is_empty() {
        parse_diags = validate::check(&config);
    }
    let (mut e2, w2) = split(parse_diags);
    drop(parser);
    // After an unterminated string the rest of the file is gone: the parser's complaints about the
    // end of file are consequences, not news.
    if errors
        .iter()
        .any(|d| d.message().starts_with("unterminated"))
    {
        e2.retain(|d| !d.message().contains("end of file"));
    }
    errors.extend(e2);
    // Report in source order (preprocessor and parser errors interleaved).
    errors.sort_by_key(|d| d.span.map(|s| (s.file, s.begin)));
    if errors.len() >= pp::MAX_ERRORS {
        errors.truncate(pp::MAX_ERRORS);
        errors.push(Diagnostic::error(
            Error::Syntax(format!("too many errors: stopped after {}", pp::MAX_ERRORS)),
            None,
        ));
    }
    warnings.extend(w2);
    if errors.is_empty() {
        Ok(Loaded {
            sources,
            config,
            warnings,
            defines,
        })
    } else {
        errors.extend(warnings);
        Err(Failure {
            sources,
            diagnostics: errors,
        })
    }
}

/// The preprocessed config as `kamailio --cfg-print -f entry` prints it.
pub fn cfg_print(entry: &str, opts: &LoadOptions, host: &dyn Host) -> Result<String, Failure> {
    let text = read_entry(entry, host)?;
    let mut p = print::Printer::new(host, opts);
    p.run_entry(entry, text);
    let (errors, _) = split(std::mem::take(&mut p.diags));
    if !errors.is_empty() {
        return Err(Failure {
            sources: std::mem::take(&mut p.sources),
            diagnostics: errors,
        });
    }
    Ok(String::from_utf8_lossy(&p.out).into_owned())
}

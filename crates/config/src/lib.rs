//! The kamailio.cfg front end: preprocessor, lexer, parser, AST with byte spans, diagnostics.
//!
//! It knows nothing of SIP or of modules: it turns text into a syntax tree whose every node carries the
//! span of the source it came from (surviving `#!define` expansion and `include_file`), or into
//! diagnostics that name file, line and column. It performs no I/O itself: files and environment
//! variables are read through the [`Host`] trait the caller supplies.

// Contract with the binary (`src/main.rs`, `crates/server`). The bodies are filled in by the front end;
// the signatures are what callers code against.

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

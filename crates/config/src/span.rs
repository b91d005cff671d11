//! Source files and byte spans.
//!
//! Every token and AST node carries a [`Span`]: a file id plus a byte range in that file's text. The
//! [`SourceMap`] owns the texts and turns spans back into file name, line, column and line text for
//! diagnostics. Spans of tokens produced by a `#!define` expansion point at the use site (the define's
//! name in the text), which is what a user can find in the file.

/// Identifies one file loaded into a [`SourceMap`] (the entry file is always `FileId(0)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct FileId(pub u32);

/// A byte range `begin..end` in one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub begin: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, begin: usize, end: usize) -> Span {
        Span {
            file,
            begin: clamp_u32(begin),
            end: clamp_u32(end),
        }
    }

    /// The smallest span covering both (when they are in the same file; otherwise `self`).
    pub fn to(self, other: Span) -> Span {
        if self.file != other.file {
            return self;
        }
        Span {
            file: self.file,
            begin: self.begin.min(other.begin),
            end: self.end.max(other.end),
        }
    }
}

fn clamp_u32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// A resolved position, 1-based line and column (column counts characters, tabs count as one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location<'a> {
    pub file_name: &'a str,
    pub line: usize,
    pub column: usize,
    pub line_text: &'a str,
}

#[derive(Debug, Clone)]
struct SourceFile {
    name: String,
    text: String,
    line_starts: Vec<usize>,
}

/// All texts the front end read, in load order (entry file first, then includes, then synthetic
/// sources such as command-line defines).
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> SourceMap {
        SourceMap::default()
    }

    /// Adds a file; invalid UTF-8 is replaced (Kamailio treats the config as bytes, we as text).
    pub fn add(&mut self, name: &str, text: String) -> FileId {
        let mut line_starts = vec![0];
        for (i, b) in text.bytes().enumerate() {
            if b == b'\n' {
                line_starts.push(i + 1);
            }
        }
        self.files.push(SourceFile {
            name: name.to_string(),
            text,
            line_starts,
        });
        FileId(clamp_u32(self.files.len() - 1))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn name(&self, file: FileId) -> &str {
        self.files
            .get(file.0 as usize)
            .map(|f| f.name.as_str())
            .unwrap_or("<unknown>")
    }

    pub fn text(&self, file: FileId) -> &str {
        self.files
            .get(file.0 as usize)
            .map(|f| f.text.as_str())
            .unwrap_or("")
    }

    /// The source text a span covers ("" when out of range).
    pub fn snippet(&self, span: Span) -> &str {
        self.text(span.file)
            .get(span.begin as usize..span.end as usize)
            .unwrap_or("")
    }

    /// File name, line, column and line text of the start of `span`.
    pub fn locate(&self, span: Span) -> Location<'_> {
        let Some(f) = self.files.get(span.file.0 as usize) else {
            return Location {
                file_name: "<unknown>",
                line: 0,
                column: 0,
                line_text: "",
            };
        };
        let pos = (span.begin as usize).min(f.text.len());
        let line_idx = match f.line_starts.binary_search(&pos) {
            Ok(i) => i,
            Err(i) => i.saturating_sub(1),
        };
        let start = f.line_starts.get(line_idx).copied().unwrap_or(0);
        let end = f
            .line_starts
            .get(line_idx + 1)
            .map(|e| e.saturating_sub(1))
            .unwrap_or(f.text.len());
        let line_text = f.text.get(start..end).unwrap_or("");
        let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
        let column = f
            .text
            .get(start..pos)
            .map(|s| s.chars().count())
            .unwrap_or(0)
            + 1;
        Location {
            file_name: &f.name,
            line: line_idx + 1,
            column,
            line_text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_lines_and_columns() {
        let mut sm = SourceMap::new();
        let f = sm.add("a.cfg", "ab\ncd\r\n\nxyz".to_string());
        let cases = [
            (0, 1, 1, "ab"),
            (1, 1, 2, "ab"),
            (3, 2, 1, "cd"),
            (4, 2, 2, "cd"),
            (7, 3, 1, ""),
            (10, 4, 3, "xyz"),
            (99, 4, 4, "xyz"),
        ];
        for (off, line, col, text) in cases {
            let loc = sm.locate(Span::new(f, off, off + 1));
            assert_eq!(
                (loc.line, loc.column, loc.line_text),
                (line, col, text),
                "offset {off}"
            );
            assert_eq!(loc.file_name, "a.cfg");
        }
    }
}

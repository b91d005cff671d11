//! Byte spans into a message buffer.

use std::ops::Range;

/// A half-open byte range `start..end` into a message buffer.
///
/// `u32` offsets keep header-index entries small (messages are bounded far below 4 GiB by
/// `Msg::parse`); the type is `Copy`, unlike `Range<usize>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// A span from `usize` offsets. Callers guarantee `start <= end <= u32::MAX`
    /// (`Msg::parse` refuses larger buffers), so the casts cannot truncate.
    #[inline]
    pub fn new(start: usize, end: usize) -> Span {
        debug_assert!(start <= end);
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// An empty span at `at`.
    #[inline]
    pub fn empty(at: usize) -> Span {
        Span::new(at, at)
    }

    /// Length in bytes.
    #[inline]
    pub fn len(&self) -> usize {
        (self.end - self.start) as usize
    }

    /// True when the span covers no byte.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// As a `Range<usize>`.
    #[inline]
    pub fn range(&self) -> Range<usize> {
        self.start as usize..self.end as usize
    }

    /// The bytes of `buf` under this span; empty if the span lies outside `buf`
    /// (never panics).
    #[inline]
    pub fn of<'a>(&self, buf: &'a [u8]) -> &'a [u8] {
        buf.get(self.range()).unwrap_or(&[])
    }

    /// Case-insensitive ASCII comparison of the spanned bytes with `other`.
    #[inline]
    pub fn eq_ignore_case(&self, buf: &[u8], other: &[u8]) -> bool {
        self.of(buf).eq_ignore_ascii_case(other)
    }
}

impl From<Span> for Range<usize> {
    fn from(s: Span) -> Range<usize> {
        s.range()
    }
}

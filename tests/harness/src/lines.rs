//! Serial bytes to lines.  `Lines` cuts the chunks `process::run` delivers
//! into complete lines (test mode).  `Echo` copies them to a terminal as
//! they arrive, partial lines included so prompts show, and adds each
//! line's annotation (a backtrace symbol from `symbolize.rs`) just before
//! its newline (run mode).

use std::io::{self, Write};

/// Assembles complete lines from arbitrary chunks.  Line ends are `\n` or
/// `\r\n`; the text handed out has neither.
#[derive(Debug, Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Calls `on_line` for each line that `chunk` completes, in order.
    pub fn feed(&mut self, chunk: &[u8], on_line: &mut dyn FnMut(&str)) {
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            self.pending.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                on_line(&line_text(&self.pending));
                self.pending.clear();
            }
        }
    }

    /// Hands out a final line that never got its newline.
    pub fn finish(&mut self, on_line: &mut dyn FnMut(&str)) {
        if !self.pending.is_empty() {
            on_line(&line_text(&self.pending));
            self.pending.clear();
        }
    }
}

/// The text of a raw line, without its terminator; invalid UTF-8 (a
/// corrupted serial byte) becomes U+FFFD instead of an error.
fn line_text(raw: &[u8]) -> String {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
    String::from_utf8_lossy(raw).into_owned()
}

/// Echoes output live, appending `annotate(line)` to each complete line.
pub struct Echo<W: Write, A: Fn(&str) -> Option<String>> {
    out: W,
    annotate: A,
    pending: Vec<u8>,
    /// How much of `pending` is already on the terminal.
    shown: usize,
}

impl<W: Write, A: Fn(&str) -> Option<String>> Echo<W, A> {
    pub fn new(out: W, annotate: A) -> Self {
        Echo {
            out,
            annotate,
            pending: Vec::new(),
            shown: 0,
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) -> io::Result<()> {
        for piece in chunk.split_inclusive(|&b| b == b'\n') {
            self.pending.extend_from_slice(piece);
            if piece.ends_with(b"\n") {
                self.end_line()?;
            }
        }
        // Show the partial line now, but hold back a trailing `\r`: if it
        // is half of `\r\n`, the annotation must go before it, or it would
        // overwrite the start of the line on a terminal.
        let visible = self.pending.len() - usize::from(self.pending.ends_with(b"\r"));
        if visible > self.shown {
            self.out.write_all(&self.pending[self.shown..visible])?;
            self.shown = visible;
        }
        self.out.flush()
    }

    pub fn finish(&mut self) -> io::Result<()> {
        if !self.pending.is_empty() {
            self.pending.push(b'\n');
            self.end_line()?;
        }
        self.out.flush()
    }

    fn end_line(&mut self) -> io::Result<()> {
        let text = line_text(&self.pending);
        let body_len = self.pending.len()
            - if self.pending.ends_with(b"\r\n") {
                2
            } else {
                1
            };
        if body_len > self.shown {
            self.out.write_all(&self.pending[self.shown..body_len])?;
        }
        if let Some(annotation) = (self.annotate)(&text) {
            self.out.write_all(annotation.as_bytes())?;
        }
        // Keep the guest's own line end: the terminal may be in raw mode.
        self.out.write_all(&self.pending[body_len..])?;
        self.pending.clear();
        self.shown = 0;
        Ok(())
    }

    #[cfg(test)]
    fn into_inner(self) -> W {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(chunks: &[&[u8]]) -> Vec<String> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for chunk in chunks {
            lines.feed(chunk, &mut |l| out.push(l.to_string()));
        }
        lines.finish(&mut |l| out.push(l.to_string()));
        out
    }

    #[test]
    fn lines_across_chunk_boundaries() {
        assert_eq!(
            collect(&[b"ab", b"c\nde", b"f\r", b"\ng"]),
            ["abc", "def", "g"]
        );
        assert_eq!(collect(&[b"\n\n"]), ["", ""]);
        assert_eq!(collect(&[b"x\r\n"]), ["x"]);
        assert!(collect(&[]).is_empty());
    }

    #[test]
    fn invalid_utf8_is_replaced_not_fatal() {
        assert_eq!(collect(&[b"a\xffb\n"]), ["a\u{fffd}b"]);
    }

    fn echo(chunks: &[&[u8]]) -> (String, Vec<String>) {
        // The annotator flags lines starting with '#', and records calls.
        let seen = std::cell::RefCell::new(Vec::new());
        let mut echo = Echo::new(Vec::new(), |line: &str| {
            seen.borrow_mut().push(line.to_string());
            line.starts_with('#').then(|| " <sym>".to_string())
        });
        for chunk in chunks {
            echo.feed(chunk).unwrap();
        }
        echo.finish().unwrap();
        let out = String::from_utf8(echo.into_inner()).unwrap();
        (out, seen.into_inner())
    }

    #[test]
    fn echo_annotates_before_the_newline() {
        let (out, seen) = echo(&[b"boot\n#0 0x1", b"2\r", b"\nlast"]);
        assert_eq!(out, "boot\n#0 0x12 <sym>\r\nlast\n");
        assert_eq!(seen, ["boot", "#0 0x12", "last"]);
    }

    #[test]
    fn echo_shows_partial_lines_immediately() {
        let mut echo = Echo::new(Vec::new(), |_: &str| None);
        echo.feed(b"login: ").unwrap();
        assert_eq!(echo.out, b"login: ");
        echo.feed(b"\r").unwrap();
        assert_eq!(echo.out, b"login: ", "a trailing CR is held back");
        echo.feed(b"\n").unwrap();
        assert_eq!(echo.out, b"login: \r\n");
    }
}

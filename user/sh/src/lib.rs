//! The shell's command-line parser, kept apart from the program so the
//! host can test it.  No allocation: words are unquoted into a scratch
//! buffer the caller owns, and a [`Pipeline`] names them by range.
//!
//! The grammar, a small subset of the POSIX shell's:
//!
//! ```text
//! pipeline := stage ( '|' stage )*
//! stage    := word+ ( '<' word )?       (the '<' may come anywhere after the first word)
//! word     := ( plain | '...' | "..." | \c )+
//! ```
//!
//! Single quotes keep everything; inside double quotes a backslash escapes
//! `"` and `\`; elsewhere a backslash escapes any character.  `#` at the
//! start of a word begins a comment.
#![cfg_attr(not(test), no_std)]

/// The most stages a pipeline may have.
pub const MAX_STAGES: usize = 8;
/// The most words one stage may have (the program included).
pub const MAX_WORDS: usize = 32;

/// Why a line does not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// A `|` with no command on one side.
    EmptyStage,
    /// A `<` not followed by a file name, or given twice.
    BadRedirect,
    /// A quote with no closing quote.
    UnterminatedQuote,
    TooManyStages,
    TooManyWords,
    /// The words do not fit the scratch buffer.
    TooLong,
}

impl ParseError {
    pub fn message(self) -> &'static str {
        match self {
            Self::EmptyStage => "a `|` with no command beside it",
            Self::BadRedirect => "`<` needs one file name",
            Self::UnterminatedQuote => "a quote is not closed",
            Self::TooManyStages => "too many `|` stages",
            Self::TooManyWords => "too many words in one command",
            Self::TooLong => "the line is too long",
        }
    }
}

/// Where a word lies in the scratch buffer (NUL not included).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Span {
    start: u16,
    len: u16,
}

#[derive(Clone, Copy, Debug, Default)]
struct StageSpans {
    words: [Span; MAX_WORDS],
    count: usize,
    input: Option<Span>,
}

/// A parsed line: zero stages for a blank line or a comment.
pub struct Pipeline<'s> {
    scratch: &'s [u8],
    stages: [StageSpans; MAX_STAGES],
    count: usize,
}

/// One command of a pipeline.
#[derive(Clone, Copy)]
pub struct Stage<'s> {
    scratch: &'s [u8],
    spans: &'s StageSpans,
}

impl<'s> Stage<'s> {
    fn text(&self, span: Span) -> &'s str {
        let bytes = &self.scratch[span.start as usize..(span.start + span.len) as usize];
        // The words are copied from a `&str` whole characters at a time.
        core::str::from_utf8(bytes).unwrap_or("")
    }

    /// The words, the program first.
    pub fn words(&self) -> impl Iterator<Item = &'s str> + '_ {
        self.spans.words[..self.spans.count]
            .iter()
            .map(|&span| self.text(span))
    }

    pub fn program(&self) -> &'s str {
        self.text(self.spans.words[0])
    }

    /// The file after `<`, if any.
    pub fn input(&self) -> Option<&'s str> {
        self.spans.input.map(|span| self.text(span))
    }

    /// The words as PROCESS_SPAWN's argv block (each NUL-terminated, back
    /// to back) in `out`; its length, or `None` if `out` is too short.
    pub fn argv_block(&self, out: &mut [u8]) -> Option<usize> {
        let mut used = 0;
        for word in self.words() {
            let end = used + word.len() + 1;
            if end > out.len() {
                return None;
            }
            out[used..end - 1].copy_from_slice(word.as_bytes());
            out[end - 1] = 0;
            used = end;
        }
        Some(used)
    }
}

impl<'s> Pipeline<'s> {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn stage(&self, index: usize) -> Stage<'_> {
        Stage {
            scratch: self.scratch,
            spans: &self.stages[index],
        }
    }

    pub fn stages(&self) -> impl Iterator<Item = Stage<'_>> {
        (0..self.count).map(|index| self.stage(index))
    }
}

enum Token {
    Word(Span),
    Pipe,
    Input,
}

struct Lexer<'a, 's> {
    line: &'a [u8],
    at: usize,
    scratch: &'s mut [u8],
    used: usize,
}

impl Lexer<'_, '_> {
    fn push(&mut self, byte: u8) -> Result<(), ParseError> {
        // One byte is kept for the word's NUL.
        if self.used + 1 >= self.scratch.len() || self.used + 1 > u16::MAX as usize {
            return Err(ParseError::TooLong);
        }
        self.scratch[self.used] = byte;
        self.used += 1;
        Ok(())
    }

    fn next(&mut self) -> Result<Option<Token>, ParseError> {
        while self.at < self.line.len() && self.line[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
        let Some(&first) = self.line.get(self.at) else {
            return Ok(None);
        };
        match first {
            b'#' => {
                self.at = self.line.len();
                return Ok(None);
            }
            b'|' => {
                self.at += 1;
                return Ok(Some(Token::Pipe));
            }
            b'<' => {
                self.at += 1;
                return Ok(Some(Token::Input));
            }
            _ => {}
        }
        let start = self.used;
        while let Some(&byte) = self.line.get(self.at) {
            match byte {
                b' ' | b'\t' | b'\n' | b'\r' | b'|' | b'<' => break,
                b'\'' => {
                    self.at += 1;
                    loop {
                        match self.line.get(self.at) {
                            None => return Err(ParseError::UnterminatedQuote),
                            Some(b'\'') => break,
                            Some(&inner) => self.push(inner)?,
                        }
                        self.at += 1;
                    }
                }
                b'"' => {
                    self.at += 1;
                    loop {
                        match self.line.get(self.at) {
                            None => return Err(ParseError::UnterminatedQuote),
                            Some(b'"') => break,
                            Some(b'\\')
                                if matches!(self.line.get(self.at + 1), Some(b'"' | b'\\')) =>
                            {
                                self.at += 1;
                                self.push(self.line[self.at])?;
                            }
                            Some(&inner) => self.push(inner)?,
                        }
                        self.at += 1;
                    }
                }
                b'\\' if self.at + 1 < self.line.len() => {
                    self.at += 1;
                    self.push(self.line[self.at])?;
                }
                _ => self.push(byte)?,
            }
            self.at += 1;
        }
        let span = Span {
            start: start as u16,
            len: (self.used - start) as u16,
        };
        self.push(0)?;
        Ok(Some(Token::Word(span)))
    }
}

/// Parses `line`, unquoting its words into `scratch`.
pub fn parse<'s>(line: &str, scratch: &'s mut [u8]) -> Result<Pipeline<'s>, ParseError> {
    let mut stages = [StageSpans::default(); MAX_STAGES];
    let mut count = 0;
    let mut current = StageSpans::default();
    let mut lexer = Lexer {
        line: line.as_bytes(),
        at: 0,
        scratch,
        used: 0,
    };
    let mut any = false;
    loop {
        let token = lexer.next()?;
        match token {
            Some(Token::Word(span)) => {
                if current.count == MAX_WORDS {
                    return Err(ParseError::TooManyWords);
                }
                current.words[current.count] = span;
                current.count += 1;
                any = true;
            }
            Some(Token::Input) => {
                any = true;
                match lexer.next()? {
                    Some(Token::Word(span)) if current.input.is_none() => {
                        current.input = Some(span)
                    }
                    _ => return Err(ParseError::BadRedirect),
                }
            }
            Some(Token::Pipe) | None => {
                if current.count == 0 {
                    if token.is_none() && !any {
                        break; // a blank line
                    }
                    return Err(if current.input.is_some() {
                        ParseError::BadRedirect
                    } else {
                        ParseError::EmptyStage
                    });
                }
                if count == MAX_STAGES {
                    return Err(ParseError::TooManyStages);
                }
                stages[count] = current;
                count += 1;
                current = StageSpans::default();
                if token.is_none() {
                    break;
                }
            }
        }
    }
    Ok(Pipeline {
        scratch: lexer.scratch,
        stages,
        count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Result<Vec<Vec<String>>, ParseError> {
        let mut scratch = [0u8; 256];
        let pipeline = parse(line, &mut scratch)?;
        Ok(pipeline
            .stages()
            .map(|stage| stage.words().map(String::from).collect())
            .collect())
    }

    #[test]
    fn words_split_on_blanks() {
        assert_eq!(words("  cat  etc/motd\n").unwrap(), [["cat", "etc/motd"]]);
    }

    #[test]
    fn a_blank_line_or_a_comment_is_no_command() {
        assert!(words("   \n").unwrap().is_empty());
        assert!(words("# nothing | here").unwrap().is_empty());
        assert_eq!(words("echo a # b").unwrap(), [["echo", "a"]]);
    }

    #[test]
    fn pipes_split_stages_even_without_blanks() {
        assert_eq!(
            words("echo hi|cat | cat").unwrap(),
            [vec!["echo", "hi"], vec!["cat"], vec!["cat"]]
        );
    }

    #[test]
    fn quotes_and_backslashes_keep_blanks_and_operators() {
        assert_eq!(
            words(r#"echo 'a | b' "c \"d\"" e\ f g\<"#).unwrap(),
            [["echo", "a | b", "c \"d\"", "e f", "g<"]]
        );
        assert_eq!(words("echo ''").unwrap(), [["echo", ""]]);
    }

    #[test]
    fn input_redirection_is_not_a_word() {
        let mut scratch = [0u8; 256];
        let pipeline = parse("cat < etc/motd | cat -", &mut scratch).unwrap();
        assert_eq!(pipeline.len(), 2);
        assert_eq!(pipeline.stage(0).input(), Some("etc/motd"));
        assert_eq!(pipeline.stage(0).words().count(), 1);
        assert_eq!(pipeline.stage(1).input(), None);
    }

    #[test]
    fn the_argv_block_is_nul_terminated_words_back_to_back() {
        let mut scratch = [0u8; 256];
        let pipeline = parse("echo a 'b c'", &mut scratch).unwrap();
        let mut out = [0u8; 32];
        let len = pipeline.stage(0).argv_block(&mut out).unwrap();
        assert_eq!(&out[..len], b"echo\0a\0b c\0");
        assert_eq!(pipeline.stage(0).argv_block(&mut [0u8; 4]), None);
    }

    #[test]
    fn malformed_lines_are_errors_not_panics() {
        assert_eq!(words("| cat").unwrap_err(), ParseError::EmptyStage);
        assert_eq!(words("cat |").unwrap_err(), ParseError::EmptyStage);
        assert_eq!(words("cat || cat").unwrap_err(), ParseError::EmptyStage);
        assert_eq!(words("cat <").unwrap_err(), ParseError::BadRedirect);
        assert_eq!(words("cat < a < b").unwrap_err(), ParseError::BadRedirect);
        assert_eq!(words("< a").unwrap_err(), ParseError::BadRedirect);
        assert_eq!(
            words("echo 'abc").unwrap_err(),
            ParseError::UnterminatedQuote
        );
        assert_eq!(
            words("echo \"abc").unwrap_err(),
            ParseError::UnterminatedQuote
        );
        assert_eq!(
            words(&"a|".repeat(MAX_STAGES + 1)[..2 * MAX_STAGES + 1]).unwrap_err(),
            ParseError::TooManyStages
        );
        assert_eq!(
            words(&"w ".repeat(MAX_WORDS + 1)).unwrap_err(),
            ParseError::TooManyWords
        );
        let mut tiny = [0u8; 4];
        assert_eq!(parse("abcdef", &mut tiny).err(), Some(ParseError::TooLong));
    }

    #[test]
    fn a_trailing_backslash_is_kept_as_itself() {
        assert_eq!(words("echo a\\").unwrap(), [["echo", "a\\"]]);
    }

    #[test]
    fn every_short_line_of_shell_characters_parses_or_fails_cleanly() {
        // Every line of up to 4 characters from the shell's alphabet.
        let alphabet = [b'a', b' ', b'|', b'<', b'\'', b'"', b'\\', b'#'];
        let mut line = Vec::new();
        for length in 0..=4u32 {
            for mut index in 0..alphabet.len().pow(length) {
                line.clear();
                for _ in 0..length {
                    line.push(alphabet[index % alphabet.len()]);
                    index /= alphabet.len();
                }
                let text = core::str::from_utf8(&line).unwrap();
                let mut scratch = [0u8; 16];
                if let Ok(pipeline) = parse(text, &mut scratch) {
                    for stage in pipeline.stages() {
                        assert!(stage.words().count() >= 1, "{text:?}");
                    }
                }
            }
        }
    }
}

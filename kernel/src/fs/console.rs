//! The console's input side: a line discipline in the spirit of a Unix
//! terminal in canonical mode.
//!
//! The UART's receive interrupt feeds each byte to [`LineDiscipline::input`]
//! (`arch::serial`), which edits the line being typed and echoes it; a
//! READ of the console gets whole lines once Enter is pressed:
//!
//! | key | effect |
//! |---|---|
//! | Enter (CR or LF) | the line and a `\n` become readable |
//! | Backspace / DEL | erases the last character |
//! | Ctrl-U | erases the line |
//! | Ctrl-C | drops the line, echoes `^C` |
//! | Ctrl-D | on an empty line: end of file (one READ gets 0); else sends the line without `\n` |
//! | ESC sequences (arrow keys) | ignored |
//!
//! A READ returns at most one line, as a terminal does.  Input typed while
//! nothing reads waits in a bounded buffer; past it, keys are dropped.

use alloc::collections::VecDeque;
use alloc::vec::Vec;

/// The longest line being edited.
pub const MAX_LINE: usize = 1024;
/// The most finished input held for readers.
pub const MAX_READY: usize = 4096;

const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const CTRL_U: u8 = 0x15;
const ESCAPE: u8 = 0x1b;

pub struct LineDiscipline {
    /// The line being typed.
    line: Vec<u8>,
    /// Finished input: lines, and where end-of-file marks fall.
    ready: VecDeque<Item>,
    ready_bytes: usize,
    /// Inside an escape sequence (swallowed up to its final byte).
    escape: Escape,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Escape {
    None,
    /// Just saw ESC.
    Start,
    /// In a CSI sequence (`ESC [`), up to a byte in `0x40..=0x7e`.
    Csi,
}

enum Item {
    Line(Vec<u8>),
    EndOfFile,
}

/// What a READ found.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Bytes of one line (or a part of it, if the reader asked for less).
    Bytes(Vec<u8>),
    /// End of file: Ctrl-D on an empty line.
    EndOfFile,
    /// Nothing yet.
    Empty,
}

impl Default for LineDiscipline {
    fn default() -> Self {
        Self::new()
    }
}

impl LineDiscipline {
    pub const fn new() -> Self {
        Self {
            line: Vec::new(),
            ready: VecDeque::new(),
            ready_bytes: 0,
            escape: Escape::None,
        }
    }

    /// Takes one received byte; appends what the terminal should echo to
    /// `echo`.  Returns whether input became readable.
    pub fn input(&mut self, byte: u8, echo: &mut Vec<u8>) -> bool {
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' {
                    Escape::Csi
                } else {
                    Escape::None
                };
                return false;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::None;
                }
                return false;
            }
            Escape::None => {}
        }
        match byte {
            b'\r' | b'\n' => {
                echo.push(b'\n');
                let mut line = core::mem::take(&mut self.line);
                line.push(b'\n');
                self.finish(Item::Line(line))
            }
            BACKSPACE | DELETE => {
                if self.erase_char() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                false
            }
            CTRL_U => {
                while self.erase_char() {
                    echo.extend_from_slice(b"\x08 \x08");
                }
                false
            }
            CTRL_C => {
                self.line.clear();
                echo.extend_from_slice(b"^C\n");
                false
            }
            CTRL_D if self.line.is_empty() => self.finish(Item::EndOfFile),
            CTRL_D => {
                let line = core::mem::take(&mut self.line);
                self.finish(Item::Line(line))
            }
            ESCAPE => {
                self.escape = Escape::Start;
                false
            }
            b'\t' | 0x20.. => {
                if self.line.len() < MAX_LINE {
                    self.line.push(byte);
                    echo.push(byte);
                }
                false
            }
            _ => false,
        }
    }

    /// Erases the last character (all bytes of a UTF-8 sequence); whether
    /// there was one.
    fn erase_char(&mut self) -> bool {
        while let Some(byte) = self.line.pop() {
            // Continuation bytes are 0b10xx_xxxx: keep going to the lead byte.
            if byte & 0xc0 != 0x80 {
                return true;
            }
        }
        false
    }

    fn finish(&mut self, item: Item) -> bool {
        let bytes = match &item {
            Item::Line(line) => line.len(),
            Item::EndOfFile => 0,
        };
        if self.ready_bytes + bytes > MAX_READY || self.ready.len() >= MAX_READY {
            return false;
        }
        self.ready_bytes += bytes;
        self.ready.push_back(item);
        true
    }

    /// Takes at most `max` bytes of the first finished line.
    pub fn read(&mut self, max: usize) -> Input {
        match self.ready.front_mut() {
            None => Input::Empty,
            Some(Item::EndOfFile) => {
                self.ready.pop_front();
                Input::EndOfFile
            }
            Some(Item::Line(line)) => {
                let count = max.min(line.len());
                let taken: Vec<u8> = line.drain(..count).collect();
                if line.is_empty() {
                    self.ready.pop_front();
                }
                self.ready_bytes -= count;
                Input::Bytes(taken)
            }
        }
    }
}

#[cfg(not(test))]
pub use device::read;

#[cfg(not(test))]
mod device {
    use super::{Input, LineDiscipline};
    use alloc::vec::Vec;
    use executor::Event;
    use spin::Mutex;

    /// Taken with interrupts off everywhere: the receive interrupt feeds it.
    static DISCIPLINE: Mutex<LineDiscipline> = Mutex::new(LineDiscipline::new());
    static READABLE: Event = Event::new();

    /// Feeds received bytes (called by the UART's interrupt handler, with
    /// interrupts off) and echoes them.
    pub fn receive(bytes: &[u8]) {
        let mut echo = Vec::new();
        let mut readable = false;
        {
            let mut discipline = DISCIPLINE.lock();
            for &byte in bytes {
                readable |= discipline.input(byte, &mut echo);
            }
        }
        crate::arch::serial::write_bytes(&echo);
        if readable {
            READABLE.wake_all();
        }
    }

    fn try_read(max: usize) -> Input {
        let _guard = crate::arch::InterruptGuard::new();
        DISCIPLINE.lock().read(max)
    }

    /// Waits for a line and takes at most `max` bytes of it; empty at end
    /// of file.
    pub async fn read(max: usize) -> Vec<u8> {
        let mut result = Vec::new();
        READABLE
            .wait_until(|| match try_read(max) {
                Input::Bytes(bytes) => {
                    result = bytes;
                    true
                }
                Input::EndOfFile => true,
                Input::Empty => max == 0,
            })
            .await;
        result
    }
}

#[cfg(not(test))]
pub use device::receive;

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(discipline: &mut LineDiscipline, bytes: &[u8]) -> Vec<u8> {
        let mut echo = Vec::new();
        for &byte in bytes {
            discipline.input(byte, &mut echo);
        }
        echo
    }

    #[test]
    fn a_line_is_readable_only_after_enter() {
        let mut tty = LineDiscipline::default();
        assert_eq!(feed(&mut tty, b"ls"), b"ls");
        assert_eq!(tty.read(100), Input::Empty);
        assert_eq!(feed(&mut tty, b"\r"), b"\n");
        assert_eq!(tty.read(100), Input::Bytes(b"ls\n".to_vec()));
        assert_eq!(tty.read(100), Input::Empty);
    }

    #[test]
    fn backspace_erases_a_whole_utf8_character_and_echoes_the_erase() {
        let mut tty = LineDiscipline::default();
        feed(&mut tty, "aé".as_bytes());
        assert_eq!(feed(&mut tty, &[DELETE]), b"\x08 \x08");
        assert_eq!(feed(&mut tty, &[DELETE, DELETE]), b"\x08 \x08");
        feed(&mut tty, b"b\n");
        assert_eq!(tty.read(100), Input::Bytes(b"b\n".to_vec()));
    }

    #[test]
    fn a_read_returns_at_most_one_line_and_at_most_max_bytes() {
        let mut tty = LineDiscipline::default();
        feed(&mut tty, b"one\ntwo\n");
        assert_eq!(tty.read(2), Input::Bytes(b"on".to_vec()));
        assert_eq!(tty.read(100), Input::Bytes(b"e\n".to_vec()));
        assert_eq!(tty.read(100), Input::Bytes(b"two\n".to_vec()));
    }

    #[test]
    fn ctrl_d_on_an_empty_line_is_one_end_of_file() {
        let mut tty = LineDiscipline::default();
        feed(&mut tty, &[CTRL_D]);
        feed(&mut tty, b"x\n");
        assert_eq!(tty.read(100), Input::EndOfFile);
        assert_eq!(tty.read(100), Input::Bytes(b"x\n".to_vec()));
    }

    #[test]
    fn ctrl_d_after_text_sends_the_text_without_a_newline() {
        let mut tty = LineDiscipline::default();
        feed(&mut tty, b"ab");
        feed(&mut tty, &[CTRL_D]);
        assert_eq!(tty.read(100), Input::Bytes(b"ab".to_vec()));
    }

    #[test]
    fn ctrl_c_and_ctrl_u_drop_the_line() {
        let mut tty = LineDiscipline::default();
        feed(&mut tty, b"abc");
        assert_eq!(feed(&mut tty, &[CTRL_C]), b"^C\n");
        feed(&mut tty, b"de");
        feed(&mut tty, &[CTRL_U]);
        feed(&mut tty, b"f\n");
        assert_eq!(tty.read(100), Input::Bytes(b"f\n".to_vec()));
    }

    #[test]
    fn arrow_keys_are_swallowed() {
        let mut tty = LineDiscipline::default();
        assert_eq!(feed(&mut tty, b"a\x1b[A\x1b[1;5Cb\n"), b"ab\n");
        assert_eq!(tty.read(100), Input::Bytes(b"ab\n".to_vec()));
    }

    #[test]
    fn input_past_the_limits_is_dropped_not_grown() {
        let mut tty = LineDiscipline::default();
        let long = alloc::vec![b'x'; MAX_LINE + 100];
        feed(&mut tty, &long);
        feed(&mut tty, b"\n");
        assert_eq!(
            tty.read(usize::MAX),
            Input::Bytes([&long[..MAX_LINE], b"\n"].concat())
        );
        for _ in 0..MAX_READY {
            feed(&mut tty, b"y\n");
        }
        assert!(tty.ready_bytes <= MAX_READY);
    }
}

//! Backtrace symbolization.  `parse_frame` recognises a frame line
//! (`#<index> 0x<16 hex digits>`), and `Symbolizer`, built from the kernel
//! ELF's `.symtab` with goblin, names the address as
//! `<demangled path>+0x<offset>`.  Both the live echo (`lines.rs`) and the
//! failure transcripts (`suite.rs`) go through `Symbolizer::annotation`.
//! Only kernel frames (16 hex digits) are named here: the user frames of
//! a crash report are shorter and already named by the kernel, which
//! knows each program's load bias (`proc::crash_report`).

use std::fmt::Write as _;

use goblin::elf::Elf;
use goblin::elf::section_header::SHF_EXECINSTR;
use goblin::elf::sym::{STT_FUNC, STT_NOTYPE};

/// One frame of a backtrace line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    pub index: u32,
    pub address: u64,
}

/// Finds `#<index> 0x<16 hex digits>` in `line`.  The kernel prints frames
/// at the start of a line, possibly indented; a `#` preceded by whitespace
/// is accepted too, so a frame printed behind a log prefix still counts.
pub fn parse_frame(line: &str) -> Option<Frame> {
    line.match_indices('#').find_map(|(at, _)| {
        let before = &line[..at];
        if !before.is_empty() && !before.ends_with(char::is_whitespace) {
            return None;
        }
        frame_at(&line[at + 1..])
    })
}

/// Parses `<index> 0x<16 hex>` at the start of `rest`.
fn frame_at(rest: &str) -> Option<Frame> {
    let digits_len = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    let index = rest[..digits_len].parse().ok()?;
    let rest = &rest[digits_len..];
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.len() == rest.len() {
        return None;
    }
    let hex = trimmed.strip_prefix("0x")?;
    let hex_len = hex
        .find(|c: char| !c.is_ascii_hexdigit())
        .unwrap_or(hex.len());
    if hex_len != 16 {
        return None;
    }
    let address = u64::from_str_radix(&hex[..16], 16).ok()?;
    Some(Frame { index, address })
}

/// A code symbol: `[start, start + size)`, or just a label when size is 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub start: u64,
    pub size: u64,
    /// Demangled, without the `::h<16 hex>` hash.
    pub name: String,
}

/// An address-sorted table of the kernel's code symbols.
#[derive(Debug, Default)]
pub struct Symbolizer {
    /// Functions with a size (what rustc emits), sorted by start.
    functions: Vec<Symbol>,
    /// Size-less code labels (global_asm entry points), sorted by start.
    labels: Vec<Symbol>,
}

impl Symbolizer {
    /// Builds the table from raw symbols, demangling each name.
    pub fn from_symbols(symbols: impl IntoIterator<Item = Symbol>) -> Self {
        let mut table = Symbolizer::default();
        for mut symbol in symbols {
            symbol.name = demangle(&symbol.name);
            if symbol.size > 0 {
                table.functions.push(symbol);
            } else {
                table.labels.push(symbol);
            }
        }
        table.functions.sort_by_key(|s| s.start);
        table.labels.sort_by_key(|s| s.start);
        table
    }

    /// Reads the function symbols (and size-less labels in executable
    /// sections) from an ELF image's `.symtab`.
    pub fn from_elf(bytes: &[u8]) -> Result<Self, String> {
        let elf = Elf::parse(bytes).map_err(|e| format!("not a readable ELF file: {e}"))?;
        if elf.syms.is_empty() {
            return Err("the ELF file has no .symtab (was it stripped?)".into());
        }
        let is_code_section = |index: usize| {
            elf.section_headers
                .get(index)
                .is_some_and(|s| s.sh_flags & u64::from(SHF_EXECINSTR) != 0)
        };
        let symbols = elf.syms.iter().filter_map(|sym| {
            let kind = sym.st_type();
            let wanted = kind == STT_FUNC || (kind == STT_NOTYPE && is_code_section(sym.st_shndx));
            let name = elf.strtab.get_at(sym.st_name)?;
            (wanted && sym.st_value != 0 && !name.is_empty() && !name.starts_with(".L")).then(
                || Symbol {
                    start: sym.st_value,
                    size: sym.st_size,
                    name: name.to_string(),
                },
            )
        });
        Ok(Symbolizer::from_symbols(symbols.collect::<Vec<_>>()))
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && self.labels.is_empty()
    }

    /// The symbol covering `address` and the offset into it.
    pub fn lookup(&self, address: u64) -> Option<(&Symbol, u64)> {
        // A return address can sit just past the end of a function that
        // ends in a call to a `-> !` function, so `address - 1` is tried too.
        self.lookup_exact(address)
            .or_else(|| self.lookup_exact(address.checked_sub(1)?))
            .map(|s| (s, address - s.start))
    }

    fn lookup_exact(&self, address: u64) -> Option<&Symbol> {
        let function = preceding(&self.functions, address);
        if let Some(f) = function.filter(|f| address - f.start < f.size) {
            return Some(f);
        }
        // A label only names code after the last function that starts
        // before the address; otherwise it belongs to some other code.
        preceding(&self.labels, address)
            .filter(|label| function.is_none_or(|f| label.start >= f.start))
    }

    /// The symbol of the frame on `line`, if the line is a frame and its
    /// address is known.
    pub fn frame_symbol(&self, line: &str) -> Option<(&Symbol, u64)> {
        self.lookup(parse_frame(line)?.address)
    }

    /// What to append to `line`: ` <symbol>+0x<offset>` for a frame line,
    /// ` ??` for a frame nobody knows, nothing for other lines.
    pub fn annotation(&self, line: &str) -> Option<String> {
        let frame = parse_frame(line)?;
        let mut suffix = String::from(" ");
        match self.lookup(frame.address) {
            Some((symbol, offset)) => write!(suffix, "{}+{offset:#x}", symbol.name).ok()?,
            None => suffix.push_str("??"),
        }
        Some(suffix)
    }

    /// `line` with its annotation, for transcripts shown after the fact.
    pub fn annotate(&self, line: &str) -> String {
        match self.annotation(line) {
            Some(suffix) => format!("{line}{suffix}"),
            None => line.to_string(),
        }
    }
}

/// The last symbol of a sorted `table` that starts at or before `address`.
fn preceding(table: &[Symbol], address: u64) -> Option<&Symbol> {
    let after = table.partition_point(|s| s.start <= address);
    after.checked_sub(1).map(|i| &table[i])
}

/// `{:#}` is rustc-demangle's alternate form, which leaves the hash off.
fn demangle(name: &str) -> String {
    format!("{:#}", rustc_demangle::demangle(name))
}

#[cfg(test)]
#[path = "symbolize_tests.rs"]
mod tests;

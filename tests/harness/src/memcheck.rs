//! The kernel's leak checks: pairs each `memcheck: end LABEL NUMBERS` line
//! with the `memcheck: begin LABEL NUMBERS` before it and reports every
//! pair whose numbers differ (frames in use, slab objects per class; see
//! the kernel's `mm::memcheck`).  Checks nest (a test program that runs
//! others may print its own), so an `end` closes the innermost open
//! `begin` of its label.

const MARKER: &str = "memcheck: ";

/// One `memcheck:` line: `begin` or `end`, its label and its numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<'a> {
    pub begin: bool,
    pub label: &'a str,
    pub numbers: &'a str,
}

/// Reads the `memcheck:` line on `line`, if it is one.
pub fn parse(line: &str) -> Option<Line<'_>> {
    let at = line.find(MARKER)?;
    let mut words = line[at + MARKER.len()..].trim_end().splitn(3, ' ');
    let begin = match words.next()? {
        "begin" => true,
        "end" => false,
        _ => return None,
    };
    let label = words.next()?;
    let numbers = words.next()?.trim();
    Some(Line {
        begin,
        label,
        numbers,
    })
}

/// Every leak the transcript shows, and every `end` without its `begin`;
/// empty if none.  A `begin` left open (the boot died inside the check) is
/// not a leak: whatever ended the boot is reported elsewhere.
pub fn problems(lines: &[String]) -> Vec<String> {
    let mut open: Vec<Line<'_>> = Vec::new();
    let mut problems = Vec::new();
    for line in lines.iter().filter_map(|line| parse(line)) {
        if line.begin {
            open.push(line);
            continue;
        }
        match open.iter().rposition(|begin| begin.label == line.label) {
            None => problems.push(format!(
                "memcheck: `end {}` without its `begin`",
                line.label
            )),
            Some(at) => {
                let begin = open.remove(at);
                if begin.numbers != line.numbers {
                    problems.push(format!(
                        "memcheck: {} leaked: {} before, {} after",
                        line.label,
                        begin.numbers,
                        differences(begin.numbers, line.numbers)
                    ));
                }
            }
        }
    }
    problems
}

/// What is wrong with a boot's leak checks: the leaks, or, for a boot
/// that injects one (`leak=` on the kernel command line), that none was
/// reported.
pub fn judge(injects_leak: bool, lines: &[String]) -> Vec<String> {
    let found = problems(lines);
    match (injects_leak, found.is_empty()) {
        (false, _) => found,
        (true, true) => vec!["the boot leaked on purpose, but no leak check reported it".into()],
        (true, false) => Vec::new(),
    }
}

/// `after`, with each field that differs from `before` marked `<-`.
fn differences(before: &str, after: &str) -> String {
    let old: Vec<&str> = before.split(' ').collect();
    after
        .split(' ')
        .enumerate()
        .map(|(index, field)| match old.get(index) {
            Some(&same) if same == field => field.to_string(),
            _ => format!("{field}<-"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
#[path = "memcheck_tests.rs"]
mod tests;

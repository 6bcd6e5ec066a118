//! Path normalisation, applied alike to the names stored in the archive and
//! to the paths looked up in it, so the two always agree.
//!
//! ```text
//! "/bin/sh", "./bin/sh", "bin/sh", "bin/sh/"  ->  "bin/sh"
//! "", "/", ".", "./", "/."                    ->  ""  (the root)
//! "a//b", "a/./b", "a/..", "../a"             ->  BadPath (no "."/".." walking)
//! ```
//!
//! `..` is refused rather than resolved: the initfs is flat data, and a name
//! that climbs out of its directory is a malformed archive, not a feature.

use super::error::CpioError;
use super::newc::PATH_MAX;

/// Strips every leading `/` and `./` and every trailing `/`; `.` alone is
/// the root, which normalises to `""`.  The remaining components must be
/// non-empty and neither `.` nor `..`.
pub fn normalize(path: &str) -> Result<&str, CpioError> {
    // Room for a NUL, as for a name stored in the archive.
    if path.len() >= PATH_MAX {
        return Err(CpioError::NameTooLong);
    }
    let mut rest = path;
    while let Some(stripped) = rest.strip_prefix('/').or_else(|| rest.strip_prefix("./")) {
        rest = stripped;
    }
    if rest == "." {
        return Ok("");
    }
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Ok(rest);
    }
    if rest
        .split('/')
        .any(|component| matches!(component, "" | "." | ".."))
    {
        return Err(CpioError::BadPath);
    }
    Ok(rest)
}

/// The directory holding `name` (a normalised, non-root name); `""` is the
/// root.
pub fn parent(name: &str) -> &str {
    name.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// The last component of a normalised name.
pub fn file_name(name: &str) -> &str {
    name.rsplit_once('/').map_or(name, |(_, last)| last)
}

/// Whether `name` is directly inside the directory `dir` (both normalised).
pub fn is_child(name: &str, dir: &str) -> bool {
    below(name, dir).is_some_and(|rest| !rest.contains('/'))
}

/// Whether `name` is inside the directory `dir` at any depth.
pub fn is_descendant(name: &str, dir: &str) -> bool {
    below(name, dir).is_some()
}

/// Whether `name` sorts before every path inside `dir` (`dir` + `/` + ...),
/// so the entries inside `dir` are a contiguous run of a name-sorted list.
pub fn sorts_before_contents(name: &str, dir: &str) -> bool {
    if dir.is_empty() {
        return false;
    }
    name.bytes().lt(dir.bytes().chain(*b"/"))
}

/// What is left of `name` below `dir`: `c/d` for `a/b/c/d` below `a/b`.
fn below<'n>(name: &'n str, dir: &str) -> Option<&'n str> {
    let rest = if dir.is_empty() {
        name
    } else {
        name.strip_prefix(dir)?.strip_prefix('/')?
    };
    (!rest.is_empty()).then_some(rest)
}

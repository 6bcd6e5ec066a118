//! The initfs image: a cpio "newc" archive (the Linux initramfs format)
//! that QEMU passes to the kernel with `-initrd`.
//!
//! It holds every user program (`user/<name>/src/main.rs` becomes
//! `bin/<name>`) and, as they are, the files under `user/initfs/`.
//!
//! ```text
//! newc entry: "070701" + 13 fields of 8 hex digits (110 bytes)
//!             name + NUL, padded to 4 bytes; data, padded to 4 bytes
//! the archive ends with the entry "TRAILER!!!"
//! ```

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// The user programs of the workspace: every `user/<name>` with a
/// `src/main.rs`, sorted by name.
pub fn user_programs(workspace: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in fs::read_dir(workspace.join("user"))? {
        let entry = entry?;
        if entry.path().join("src/main.rs").is_file() {
            names.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// One file or directory of the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

const DIRECTORY: u32 = 0o040_755;
const EXECUTABLE: u32 = 0o100_755;
const REGULAR: u32 = 0o100_644;

/// Gathers the members: `bin/<program>` from `release_dir`, then the tree
/// under `extra_root`, with a directory entry before the files in it.
pub fn gather(
    programs: &[String],
    release_dir: &Path,
    extra_root: &Path,
) -> io::Result<Vec<Member>> {
    let mut members = vec![Member {
        name: "bin".into(),
        mode: DIRECTORY,
        data: Vec::new(),
    }];
    for program in programs {
        let data = fs::read(release_dir.join(program))?;
        members.push(Member {
            name: format!("bin/{program}"),
            mode: EXECUTABLE,
            data,
        });
    }
    if extra_root.is_dir() {
        add_tree(extra_root, String::new(), &mut members)?;
    }
    Ok(members)
}

fn add_tree(dir: &Path, prefix: String, members: &mut Vec<Member>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
        let path = entry.path();
        if path.is_dir() {
            members.push(Member {
                name: name.clone(),
                mode: DIRECTORY,
                data: Vec::new(),
            });
            add_tree(&path, format!("{name}/"), members)?;
        } else {
            members.push(Member {
                name,
                mode: REGULAR,
                data: fs::read(&path)?,
            });
        }
    }
    Ok(())
}

/// Encodes `members` as a newc archive.
pub fn encode(members: &[Member]) -> Vec<u8> {
    let mut out = Vec::new();
    for (index, member) in members.iter().enumerate() {
        push_entry(
            &mut out,
            index as u32 + 1,
            member.mode,
            &member.name,
            &member.data,
        );
    }
    push_entry(&mut out, 0, 0, "TRAILER!!!", &[]);
    out
}

fn push_entry(out: &mut Vec<u8>, ino: u32, mode: u32, name: &str, data: &[u8]) {
    let nlink = if mode & 0o170_000 == 0o040_000 { 2 } else { 1 };
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        0,
        0,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    out.extend_from_slice(data);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Builds the archive for the workspace and writes it to `target`.
pub fn write(workspace: &Path, release_dir: &Path, target: &Path) -> io::Result<PathBuf> {
    let programs = user_programs(workspace)?;
    let members = gather(&programs, release_dir, &workspace.join("user/initfs"))?;
    fs::write(target, encode(&members))?;
    Ok(target.to_path_buf())
}

#[cfg(test)]
#[path = "initfs_tests.rs"]
mod tests;

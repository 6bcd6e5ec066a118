//! The kernel image on the host: where the workspace and the built ELF
//! are (`Paths`), building it with cargo (`build_kernel`), and loading its
//! symbols for `symbolize.rs` (`load_symbols`).

use std::env;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::symbolize::Symbolizer;

/// The locations the harness works with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    pub workspace: PathBuf,
    pub kernel: PathBuf,
    /// The initfs archive built next to the kernel (`initfs.rs`).
    pub initfs: PathBuf,
}

impl Paths {
    /// The workspace is two levels above this crate (tests/harness); the
    /// image is `<target dir>/release/kernel`, where the target dir is
    /// CARGO_TARGET_DIR when set (relative to the workspace, where cargo
    /// runs) and `<workspace>/target` otherwise.
    pub fn discover() -> Self {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = manifest.join("../..");
        let workspace = workspace.canonicalize().unwrap_or(workspace);
        Paths::with_target_dir(
            workspace,
            env::var_os("CARGO_TARGET_DIR").map(PathBuf::from),
        )
    }

    pub fn with_target_dir(workspace: PathBuf, target_dir: Option<PathBuf>) -> Self {
        let target = match target_dir {
            Some(dir) if !dir.as_os_str().is_empty() => workspace.join(dir),
            _ => workspace.join("target"),
        };
        Paths {
            kernel: target.join("release").join("kernel"),
            initfs: target.join("release").join("initfs.cpio"),
            workspace,
        }
    }

    /// The image path as the user would type it from the workspace root.
    pub fn kernel_for_display(&self) -> PathBuf {
        self.kernel
            .strip_prefix(&self.workspace)
            .map(Path::to_path_buf)
            .unwrap_or_else(|_| self.kernel.clone())
    }
}

/// Why the image could not be built.
#[derive(Debug)]
pub enum BuildError {
    Spawn(std::io::Error),
    Failed(std::process::ExitStatus),
    Missing(PathBuf),
    Initfs(std::io::Error),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::Spawn(e) => write!(f, "could not run cargo: {e}"),
            BuildError::Failed(status) => {
                write!(
                    f,
                    "`cargo build --release` of the kernel and user programs failed ({status})"
                )
            }
            BuildError::Initfs(e) => write!(f, "could not build the initfs: {e}"),
            BuildError::Missing(path) => {
                write!(f, "the kernel image {} does not exist", path.display())
            }
        }
    }
}

/// Runs `cargo build --release` for the kernel and every user program
/// from the workspace root, its output going to our stderr, packs the
/// initfs, and checks that both images exist.
pub fn build_kernel(paths: &Paths) -> Result<(), BuildError> {
    let programs = crate::initfs::user_programs(&paths.workspace).map_err(BuildError::Initfs)?;
    let mut args = vec![
        "build".to_string(),
        "--release".into(),
        "-p".into(),
        "kernel".into(),
    ];
    for program in &programs {
        args.extend(["-p".to_string(), program.clone()]);
    }
    // Under `cargo run`, CARGO names the cargo that started us.
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(&args)
        .current_dir(&paths.workspace)
        .status()
        .map_err(BuildError::Spawn)?;
    if !status.success() {
        return Err(BuildError::Failed(status));
    }
    let release_dir = paths.kernel.parent().unwrap_or(Path::new("."));
    crate::initfs::write(&paths.workspace, release_dir, &paths.initfs)
        .map_err(BuildError::Initfs)?;
    require_image(paths)
}

/// For `--no-build`: the images must already be there.
pub fn require_image(paths: &Paths) -> Result<(), BuildError> {
    for image in [&paths.kernel, &paths.initfs] {
        if !image.is_file() {
            return Err(BuildError::Missing(image.clone()));
        }
    }
    Ok(())
}

/// Finds QEMU, then builds the kernel (or, with `no_build`, checks that
/// an image exists).  Returns QEMU's path and the image paths.
pub fn ready(no_build: bool) -> Result<(PathBuf, Paths), String> {
    let qemu = crate::qemu::find_qemu()?;
    let paths = Paths::discover();
    let built = if no_build {
        require_image(&paths)
    } else {
        build_kernel(&paths)
    };
    built.map_err(|e| e.to_string())?;
    Ok((qemu, paths))
}

/// The image's symbols; on failure, a warning and an empty table, since
/// the boot itself does not need them.
pub fn load_symbols(paths: &Paths) -> Symbolizer {
    let loaded = std::fs::read(&paths.kernel)
        .map_err(|e| e.to_string())
        .and_then(|bytes| Symbolizer::from_elf(&bytes))
        .and_then(|symbols| match symbols.is_empty() {
            true => Err("its .symtab has no function symbols".into()),
            false => Ok(symbols),
        });
    match loaded {
        Ok(symbols) => symbols,
        Err(e) => {
            eprintln!(
                "harness: warning: no symbols from {}: {e}",
                paths.kernel.display()
            );
            Symbolizer::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_dir_resolution() {
        let root = PathBuf::from("/w");
        assert_eq!(
            Paths::with_target_dir(root.clone(), None).kernel,
            Path::new("/w/target/release/kernel")
        );
        assert_eq!(
            Paths::with_target_dir(root.clone(), Some("/tmp/t".into())).kernel,
            Path::new("/tmp/t/release/kernel")
        );
        assert_eq!(
            Paths::with_target_dir(root.clone(), Some("out".into())).kernel,
            Path::new("/w/out/release/kernel")
        );
        assert_eq!(
            Paths::with_target_dir(root, Some("".into())).kernel,
            Path::new("/w/target/release/kernel")
        );
    }

    #[test]
    fn discovered_workspace_holds_the_harness() {
        let paths = Paths::discover();
        assert!(
            paths.workspace.join("tests/harness/Cargo.toml").is_file(),
            "{paths:?}"
        );
        assert!(paths.kernel.ends_with("release/kernel"));
    }

    #[test]
    fn display_path_is_relative_to_the_workspace() {
        let paths = Paths::with_target_dir("/w".into(), None);
        assert_eq!(
            paths.kernel_for_display(),
            Path::new("target/release/kernel")
        );
    }
}

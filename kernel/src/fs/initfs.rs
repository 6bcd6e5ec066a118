//! The initfs: the cpio archive the boot protocol passed as the initrd,
//! parsed once at boot and read-only for the kernel's life.  A malformed
//! archive is reported at boot and the kernel carries on without one.

use super::{Archive, CpioError};

static INITFS: spin::Once<Archive<'static>> = spin::Once::new();

/// What `init` found.
pub enum Found {
    Archive(&'static Archive<'static>),
    Missing,
    Malformed(CpioError),
}

/// Parses the initrd, if the boot protocol passed one.
pub fn init() -> Found {
    let Some(bytes) = crate::mm::init::initrd_bytes() else {
        return Found::Missing;
    };
    match Archive::parse(bytes) {
        Ok(archive) => Found::Archive(INITFS.call_once(|| archive)),
        Err(error) => Found::Malformed(error),
    }
}

/// The initfs, when boot found a valid one.
pub fn get() -> Option<&'static Archive<'static>> {
    INITFS.get()
}

crate::ktest!(
    fn the_initfs_holds_the_user_programs() {
        let archive = get().ok_or("no initfs (the harness always passes one)")?;
        let program = archive
            .lookup("bin/true")
            .map_err(|e| alloc::format!("bin/true: {e}"))?;
        crate::ensure!(
            program.data.starts_with(b"\x7fELF"),
            "bin/true is not an ELF file"
        );
        let motd = archive
            .lookup("/etc/motd")
            .map_err(|e| alloc::format!("etc/motd: {e}"))?;
        crate::ensure!(
            motd.data.starts_with(b"Welcome."),
            "etc/motd holds {:?}",
            core::str::from_utf8(motd.data)
        );
        crate::ensure!(
            archive.lookup("bin/no-such-program").is_err(),
            "a missing file was found"
        );
        Ok(())
    }
);

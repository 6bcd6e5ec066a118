//! Starting a program from the initfs: find it, check and plan its ELF
//! image at the load bias of its randomized layout (`mm::aslr`), build an
//! address space with its segments, relocated, and a stack holding
//! `argc`, `argv`, an empty environment and an auxiliary vector, and queue
//! its first thread.
//!
//! ```text
//! STACK_TOP ─┐  argument strings, NUL-terminated
//!            │  (padding to 16 bytes)
//!            │  auxv: AT_NULL
//!            │  envp: NULL
//!            │  argv[0..argc], NULL
//!   rsp ───> │  argc
//! ```

use super::elf;
use super::process::{Process, THREAD_STACK_AREA, THREAD_STACK_AREA_BYTES};
use crate::arch::user::UserRegisters;
use crate::mm::region::RegionFlags;
use crate::mm::space::{Protection, Space};
use crate::proc::handles::{Handle, HandleTable, PARENT_RING, STDIO};
use crate::ring::Ring;
use crate::sched::thread::{self, Thread};
use abi::Errno;
use abi::auxv::{AT_PAGESZ, AT_RING_ADDR, AT_RING_BYTES};
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;

/// One page below the top of the user half; the page above stays unmapped.
/// Address-space randomization moves each process's stack down from here.
pub const STACK_TOP: u64 = 0x0000_7fff_ffff_f000;
pub const STACK_BYTES: u64 = 64 * 1024;
/// The most argument bytes (strings and pointers) a program gets.
pub const MAX_ARGUMENT_BYTES: usize = 16 * 1024;
/// Where the ring mapping goes (announced in the auxiliary vector).
pub const RING_ADDR: u64 = 0x0000_7ff0_0000_0000;
/// SQ entries of a process's ring.
pub const RING_SQ_ENTRIES: u32 = 64;

/// Starts `path` with `arguments` (argv, argv[0] included), its standard
/// input, output and error on the console.
pub fn spawn(path: &str, arguments: &[&str]) -> Result<Arc<Process>, Errno> {
    spawn_child(
        path,
        arguments,
        None,
        [Handle::Console, Handle::Console, Handle::Console],
    )
}

/// Like [`spawn`], for a process started by another: the child gets
/// `stdio` as handles 0, 1 and 2, and finds `parent_ring` as handle 3
/// ([`PARENT_RING`]) from its first instruction.
pub fn spawn_child(
    path: &str,
    arguments: &[&str],
    parent_ring: Option<Arc<Ring>>,
    stdio: [Handle; STDIO],
) -> Result<Arc<Process>, Errno> {
    let archive = crate::fs::initfs::get().ok_or(Errno::ENOENT)?;
    let file = archive.lookup(path).map_err(|error| error.errno())?;
    if file.kind != crate::fs::EntryKind::File {
        return Err(Errno::EACCES);
    }
    let layout = crate::mm::aslr::next_layout();
    let plan = elf::plan(file.data, layout.load_bias()).map_err(|error| {
        crate::debug!("{path}: {error}");
        error.errno()
    })?;
    let stack_top = STACK_TOP - layout.stack_shift;
    let mut space = Space::new()?;
    space.randomize_mmap(layout.mmap_shift);
    space.load(file.data, &plan)?;
    space.keep_image(file.data, plan.load_bias)?;
    space.map_zeroed_as(
        stack_top - STACK_BYTES,
        STACK_BYTES,
        Protection {
            writable: true,
            executable: false,
        },
        RegionFlags::STACK,
    )?;
    // Where the kernel maps thread stacks: one stack region for all.
    space.reserve_area(
        THREAD_STACK_AREA,
        THREAD_STACK_AREA_BYTES,
        Protection {
            writable: true,
            executable: false,
        },
        RegionFlags::STACK,
    )?;
    let ring = map_ring(&mut space)?;
    let auxv = [
        (AT_PAGESZ, 4096),
        (AT_RING_ADDR, RING_ADDR),
        (AT_RING_BYTES, ring.total_bytes() as u64),
    ];
    let (image, rsp) = initial_stack(arguments, &auxv, stack_top)?;
    space.write(rsp, &image)?;

    let name = String::from(file.file_name());
    let process = Arc::new(Process::new(
        name,
        space,
        ring,
        HandleTable::with_stdio(stdio),
    ));
    if let Some(parent_ring) = parent_ring {
        let handle = process.handles.lock().insert(Handle::Ring(parent_ring))?;
        debug_assert_eq!(handle, PARENT_RING);
    }
    let regs = UserRegisters::starting_at(plan.entry, rsp);
    let main = process.add_thread(|index| Thread::new(process.clone(), regs, index, None))?;
    thread::make_runnable(main);
    Ok(process)
}

/// Starts a `SPACE_CLONE` child of `parent`: `space` (the copy-on-write
/// image of the parent's) with a ring of its own at [`RING_ADDR`], a copy
/// of the parent's handles (streams, files and rings; not its children or
/// threads), and one thread with `regs`.
pub fn spawn_clone(
    parent: &Process,
    mut space: Space,
    regs: UserRegisters,
) -> Result<Arc<Process>, Errno> {
    let ring = map_ring(&mut space)?;
    let handles = parent.handles.lock().for_child();
    let process = Arc::new(Process::new(parent.name.clone(), space, ring, handles));
    process.continue_stacks_of(parent);
    let main = process.add_thread(|index| Thread::new(process.clone(), regs, index, None))?;
    thread::make_runnable(main);
    Ok(process)
}

/// A new ring for a process, mapped at [`RING_ADDR`] in its `space`.
fn map_ring(space: &mut Space) -> Result<Arc<Ring>, Errno> {
    let ring = Arc::new(Ring::new(RING_SQ_ENTRIES)?);
    let (ring_frames, ring_pages) = ring.frames();
    space.map_borrowed(
        RING_ADDR,
        ring_frames,
        ring_pages,
        Protection {
            writable: true,
            executable: false,
        },
    )?;
    Ok(ring)
}

/// The bytes from the initial RSP up to `stack_top`, and that RSP.
fn initial_stack(
    arguments: &[&str],
    auxv: &[(u64, u64)],
    stack_top: u64,
) -> Result<(Vec<u8>, u64), Errno> {
    let strings: usize = arguments.iter().map(|argument| argument.len() + 1).sum();
    // argc, argv, NULL, envp's NULL, the auxv pairs and AT_NULL's pair.
    let words = 1 + arguments.len() + 1 + 1 + 2 * auxv.len() + 2;
    if strings + 8 * words > MAX_ARGUMENT_BYTES {
        return Err(Errno::E2BIG);
    }
    let strings_start = stack_top - strings as u64;
    let rsp = (strings_start - 8 * words as u64) & !15;
    let mut image = alloc::vec![0u8; (stack_top - rsp) as usize];
    let mut put = |at: u64, bytes: &[u8]| {
        let offset = (at - rsp) as usize;
        image[offset..offset + bytes.len()].copy_from_slice(bytes);
    };
    put(rsp, &(arguments.len() as u64).to_le_bytes());
    let mut string_at = strings_start;
    for (index, argument) in arguments.iter().enumerate() {
        put(rsp + 8 * (1 + index as u64), &string_at.to_le_bytes());
        put(string_at, argument.as_bytes());
        string_at += argument.len() as u64 + 1; // the NUL is already zero
    }
    // argv's NULL and envp's NULL are zero already; then the auxv pairs,
    // and AT_NULL's pair, zero as well.
    let auxv_at = rsp + 8 * (1 + arguments.len() as u64 + 2);
    for (index, &(kind, value)) in auxv.iter().enumerate() {
        put(auxv_at + 16 * index as u64, &kind.to_le_bytes());
        put(auxv_at + 16 * index as u64 + 8, &value.to_le_bytes());
    }
    Ok((image, rsp))
}

#[cfg(not(test))]
mod ktests {
    use super::*;
    use crate::ensure_eq;
    use crate::proc::process::ExitStatus;

    crate::ktest!(
        async fn true_exits_with_status_zero_and_frees_its_frames() {
            // A first run lets the heap grow to what a spawn needs; the second
            // must return every frame.
            let warm = spawn("bin/true", &["true"]).map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(warm.wait().await, ExitStatus::Exited(0));
            let baseline = crate::mm::frame::global::free_frames();
            let process =
                spawn("/bin/true", &["true", "an argument"]).map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(process.wait().await, ExitStatus::Exited(0));
            // The space goes at exit; the ring (which in-flight operations
            // may still hold) with the last reference to the process.
            drop(process);
            ensure_eq!(crate::mm::frame::global::free_frames(), baseline);
            Ok(())
        }
    );

    crate::ktest!(
        async fn a_faulting_program_is_killed_and_the_kernel_lives() {
            let process = spawn("bin/fault", &["fault"]).map_err(|e| alloc::format!("{e}"))?;
            match process.wait().await {
                ExitStatus::Killed(fault) => {
                    ensure_eq!(fault.vector, 14);
                    ensure_eq!(fault.address, 0);
                    // A user-mode read of a page that is not present.
                    ensure_eq!(fault.error_code & 0b111, 0b100);
                }
                other => return Err(alloc::format!("expected a page-fault kill, got {other:?}")),
            }
            // The kernel still runs programs afterwards.
            let again = spawn("bin/true", &["true"]).map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(again.wait().await, ExitStatus::Exited(0));
            Ok(())
        }
    );

    crate::ktest!(
        async fn each_process_gets_its_own_randomized_load_address_stack_and_mmap_area() {
            use crate::mm::aslr::{LOAD_BASE, LOAD_PAGES};
            use crate::mm::space::MMAP_AREA;
            // `cat` with no input blocks on the console, so its space stays
            // to be looked at; it is then told to end.
            let mut layouts = Vec::new();
            for _ in 0..4 {
                let process = spawn("bin/cat", &["cat"]).map_err(|e| alloc::format!("{e}"))?;
                let layout = process.with_space(|space| {
                    let records = space.query(usize::MAX).unwrap_or_default();
                    let stack = records
                        .iter()
                        .filter(|r| r.flags & abi::file::VM_STACK != 0)
                        .map(|r| r.end)
                        .max();
                    let image = records
                        .iter()
                        .find(|r| r.flags & abi::file::VM_USER_ACCESSIBLE == 0)
                        .map(|r| r.start);
                    // The code: the executable region the program runs in.
                    let code = records
                        .iter()
                        .find(|r| r.prot & abi::ProtFlags::EXEC.bits() != 0)
                        .map(|r| (r.start, r.end));
                    (stack, image, code, space.load_bias())
                });
                process.begin_exit(ExitStatus::Exited(0));
                process.wait().await;
                layouts.push(layout.ok_or("the space was gone")?);
            }
            for &(_, _, code, bias) in &layouts {
                let (start, end) = code.ok_or("no executable region")?;
                // `cat` is linked at 0: its code starts at the bias.
                ensure_eq!(start, bias);
                crate::ensure!(
                    (LOAD_BASE..LOAD_BASE + LOAD_PAGES * crate::mm::PAGE_SIZE).contains(&bias)
                        && end <= MMAP_AREA.start(),
                    "the program lies out of bounds: {start:#x}-{end:#x}"
                );
            }
            if crate::mm::aslr::next_layout() == crate::mm::aslr::Layout::default() {
                // Booted with aslr=off: the fixed load address.
                crate::ensure!(layouts.iter().all(|layout| layout.3 == LOAD_BASE));
                return Ok(());
            }
            for (index, one) in layouts.iter().enumerate() {
                crate::ensure!(
                    layouts[index + 1..]
                        .iter()
                        .all(|other| other.0 != one.0 && other.1 != one.1 && other.3 != one.3),
                    "two processes share a stack top, an mmap placement or a load \
                     address: {layouts:x?}"
                );
            }
            Ok(())
        }
    );

    crate::ktest!(
        fn bad_spawns_fail_with_the_right_errno() {
            let errno = |path: &str, arguments: &[&str]| spawn(path, arguments).err();
            ensure_eq!(errno("bin/no-such-program", &["x"]), Some(Errno::ENOENT));
            ensure_eq!(errno("etc/motd", &["motd"]), Some(Errno::ENOEXEC));
            ensure_eq!(errno("bin", &["bin"]), Some(Errno::EACCES));
            ensure_eq!(errno("../bin/true", &["true"]), Some(Errno::EINVAL));
            let long = alloc::string::String::from_utf8(alloc::vec![b'a'; MAX_ARGUMENT_BYTES])
                .map_err(|e| alloc::format!("{e}"))?;
            ensure_eq!(errno("bin/true", &["true", &long]), Some(Errno::E2BIG));
            Ok(())
        }
    );

    crate::ktest!(
        async fn many_processes_run_across_the_cpus() {
            let processes: Vec<_> = (0..24)
                .map(|_| spawn("bin/true", &["true"]))
                .collect::<Result<_, _>>()
                .map_err(|e| alloc::format!("{e}"))?;
            for process in processes {
                ensure_eq!(process.wait().await, ExitStatus::Exited(0));
            }
            ensure_eq!(crate::sched::thread::runnable_count(), 0);
            Ok(())
        }
    );
}

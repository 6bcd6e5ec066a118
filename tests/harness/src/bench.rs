//! `harness bench`: this kernel and a Linux guest on the same workloads
//! under the same QEMU settings (issue 6).  `scripts/bench` fetches the
//! Linux kernel and builds its `/init` (tests/bench/linux/bench.c); this
//! boots both, reads the numbers (`bench_rows`), prints the table, and
//! writes `tests/bench/results.md` and the chart (gnuplot).
//!
//! ```text
//! boot            CPUs  icount  this kernel                 Linux
//! icount           1     yes    init=bin/bench -- icount    /init icount
//! maxthreads       1     no     bench maxthreads            /init maxthreads
//! nopscale N     1,2,4   yes    bench nopscale N            (none)
//! smp x rounds     2     no     bench smp   <- alternating -> /init smp
//! ```
//!
//! Every boot gets 1 GiB.  Benchmarks never fail on timing: a number that
//! could not be read shows as a dash, and the run still writes its table.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use crate::args::BenchOptions;
use crate::bench_rows::{self, Boot, Measured, ROWS};
use crate::image;
use crate::initfs::{self, Member};
use crate::lines::Lines;
use crate::process::{self, Io};
use crate::qemu::QemuConfig;

const MEMORY: &str = "1G";
/// The Linux command line (issue 6): the serial console, no mitigations;
/// words after `--` are /init's arguments.
const LINUX_APPEND: &str = "console=ttyS0 mitigations=off quiet --";
/// Per boot; a boot that takes longer leaves its numbers as dashes.
const BOOT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which kernel a boot runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Ours,
    Linux,
}

struct Setup {
    qemu: PathBuf,
    kernel: PathBuf,
    initfs: PathBuf,
    linux_kernel: PathBuf,
    linux_initrd: PathBuf,
    logs: PathBuf,
    started: Instant,
    boots_done: usize,
    boots_total: usize,
}

impl Setup {
    /// Boots `side` with `cpus` CPUs in `mode` (`bench`'s and /init's
    /// first argument, plus `extra`) and returns the transcript.
    fn boot(&mut self, side: Side, cpus: u32, icount: bool, mode: &str) -> Vec<String> {
        self.boots_done += 1;
        let label = format!(
            "{} {mode}, {cpus} CPU{}{}",
            match side {
                Side::Ours => "this kernel",
                Side::Linux => "Linux",
            },
            if cpus == 1 { "" } else { "s" },
            if icount { ", icount" } else { "" }
        );
        progress(&format!(
            "[{}/{}] {label} ({:.0} s so far)",
            self.boots_done,
            self.boots_total,
            self.started.elapsed().as_secs_f64()
        ));
        let (kernel, initrd, append) = match side {
            Side::Ours => (
                &self.kernel,
                &self.initfs,
                format!("init=bin/bench -- {mode}"),
            ),
            Side::Linux => (
                &self.linux_kernel,
                &self.linux_initrd,
                format!("{LINUX_APPEND} {mode}"),
            ),
        };
        let mut config = QemuConfig::new(kernel, cpus, MEMORY, &append);
        config.initrd = Some(initrd.clone());
        config.icount = icount;
        let mut transcript = Vec::new();
        let mut lines = Lines::default();
        let mut keep = |line: &str| transcript.push(line.to_string());
        let finished = process::run(
            config.command(&self.qemu),
            Io::Batch {
                input: b"",
                prompt: b"",
            },
            Some(BOOT_TIMEOUT),
            &mut |chunk| lines.feed(chunk, &mut keep),
        );
        lines.finish(&mut keep);
        match finished {
            Ok(finished) => {
                if let process::Ending::TimedOut(after) = finished.ending {
                    progress(&format!("    timed out after {} s", after.as_secs()));
                }
            }
            Err(e) => progress(&format!("    could not start QEMU: {e}")),
        }
        for line in transcript.iter().filter(|line| line.contains("FAIL")) {
            progress(&format!("    {line}"));
        }
        let name = label.replace([' ', ','], "-").replace("--", "-");
        let _ = fs::write(self.logs.join(format!("{name}.log")), transcript.join("\n"));
        transcript
    }
}

fn progress(line: &str) {
    eprintln!("bench: {line}");
    let _ = io::stderr().flush();
}

pub fn bench(options: &BenchOptions) -> ExitCode {
    match run(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("harness: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The Linux initramfs: `/init` and the mount points it uses.
fn write_linux_initrd(init: &Path, target: &Path) -> Result<(), String> {
    let data = fs::read(init).map_err(|e| format!("{}: {e}", init.display()))?;
    let dir = |name: &str| Member {
        name: name.into(),
        mode: 0o040_755,
        data: Vec::new(),
    };
    let members = [
        dir("proc"),
        dir("tmp"),
        Member {
            name: "init".into(),
            mode: 0o100_755,
            data,
        },
    ];
    fs::write(target, initfs::encode(&members)).map_err(|e| format!("{}: {e}", target.display()))
}

fn run(options: &BenchOptions) -> Result<(), String> {
    let (qemu, paths) = image::ready(options.no_build)?;
    let out_dir = paths.workspace.join("tests/bench");
    let logs = paths.kernel.with_file_name("bench-logs");
    fs::create_dir_all(&logs).map_err(|e| format!("{}: {e}", logs.display()))?;
    let linux_initrd = logs.join("linux-initrd.cpio");
    write_linux_initrd(&options.linux_init, &linux_initrd)?;
    let scale_cpus = [1, 2, 4];
    let mut setup = Setup {
        qemu,
        kernel: paths.kernel.clone(),
        initfs: paths.initfs.clone(),
        linux_kernel: options.linux_kernel.clone(),
        linux_initrd,
        logs,
        started: Instant::now(),
        boots_done: 0,
        boots_total: 4 + scale_cpus.len() + 2 * options.rounds as usize,
    };

    let icount = [
        setup.boot(Side::Ours, 1, true, "icount"),
        setup.boot(Side::Linux, 1, true, "icount"),
    ];
    let max_threads = [
        setup.boot(Side::Ours, 1, false, "maxthreads"),
        setup.boot(Side::Linux, 1, false, "maxthreads"),
    ];
    let scale: Vec<(u32, Vec<String>)> = scale_cpus
        .iter()
        .map(|&cpus| {
            (
                cpus,
                setup.boot(Side::Ours, cpus, true, &format!("nopscale {cpus}")),
            )
        })
        .collect();
    // A B A B: the host's load drifts, so each pair is taken close together.
    let smp: Vec<[Vec<String>; 2]> = (0..options.rounds)
        .map(|_| {
            [
                setup.boot(Side::Ours, 2, false, "smp"),
                setup.boot(Side::Linux, 2, false, "smp"),
            ]
        })
        .collect();

    let read = |lines: &[String], anchor| bench_rows::number_after(lines, anchor);
    let measured: Vec<Measured> = ROWS
        .iter()
        .map(|row| match row.boot {
            Boot::Icount => Measured::single(
                *row,
                read(&icount[0], row.anchor),
                read(&icount[1], row.anchor),
            ),
            Boot::MaxThreads => Measured::single(
                *row,
                read(&max_threads[0], row.anchor),
                read(&max_threads[1], row.anchor),
            ),
            Boot::NopScale(cpus) => {
                let lines = scale
                    .iter()
                    .find(|(n, _)| *n == cpus)
                    .map(|(_, lines)| lines);
                Measured::single(*row, lines.and_then(|lines| read(lines, row.anchor)), None)
            }
            Boot::Smp => {
                let pairs: Vec<_> = smp
                    .iter()
                    .map(|[ours, linux]| (read(ours, row.anchor), read(linux, row.anchor)))
                    .collect();
                Measured::paired(*row, &pairs)
            }
        })
        .collect();

    let table = bench_rows::markdown_table(&measured);
    println!("\n{table}");
    let elapsed = setup.started.elapsed().as_secs_f64();
    println!("{} boots in {elapsed:.0} s", setup.boots_done);
    write_results(options, &out_dir, &table, &measured, elapsed)
}

/// `tests/bench/results.md` and the chart next to it.
fn write_results(
    options: &BenchOptions,
    out_dir: &Path,
    table: &str,
    measured: &[Measured],
    elapsed_secs: f64,
) -> Result<(), String> {
    fs::create_dir_all(out_dir).map_err(|e| format!("{}: {e}", out_dir.display()))?;
    let qemu_version = Command::new(crate::qemu::QEMU)
        .arg("--version")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.lines().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into());
    let chart = match write_chart(out_dir, measured) {
        Ok(()) => "![ratios](ratios.svg)\n".to_string(),
        Err(e) => {
            progress(&format!("no chart: {e}"));
            format!("(no chart: {e})\n")
        }
    };
    let results = format!(
        "# Benchmarks: this kernel and Linux in the same QEMU\n\n\
         Regenerated by `{command}` on {date} ({elapsed_secs:.0} s on this machine).\n\n\
         - QEMU: {qemu_version}, TCG, `-machine q35 -cpu max -m {MEMORY}`.\n\
         - Linux: {linux}, booted with `-kernel`, an initramfs whose `/init` is \
         `tests/bench/linux/bench.c` (static, liburing), and `{LINUX_APPEND}`.\n\
         - Rows 1-5, 7, 9, 12 (and 11): one CPU under `-icount shift=0,sleep=off`, \
         so a tick is one guest instruction and the counts repeat run to run.\n\
         - Rows 8 and 10 need two CPUs, which Linux cannot bring up under icount: \
         both kernels run without icount on two CPUs, alternating, {rounds} pairs; \
         the numbers are medians and the ratio is the median of the pairs' ratios. \
         Their ticks are the host's time, so only the ratio means much.\n\
         - Row 6 runs without icount (it counts, it does not time).\n\
         - Ratio = this kernel / Linux. Lower is better, except row 6.\n\n\
         {table}\n{chart}\n\
         What each row measures, and the words the guests print, are in \
         `tests/harness/src/bench_rows.rs`; the guests' transcripts of the last run \
         are in `target/release/bench-logs/`.\n",
        command = options.command,
        date = options.date,
        linux = options.linux_name,
        rounds = options.rounds,
    );
    let path = out_dir.join("results.md");
    fs::write(&path, results).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {}", path.display());
    Ok(())
}

/// `ratios.svg`: a bar per row on a log scale, with the parity line.
fn write_chart(out_dir: &Path, measured: &[Measured]) -> Result<(), String> {
    let data_path = out_dir.join("ratios.dat");
    fs::write(&data_path, bench_rows::chart_data(measured)).map_err(|e| e.to_string())?;
    let script = format!(
        "set terminal svg size 900,520 dynamic font 'sans,11'\n\
         set output '{svg}'\n\
         set title 'this kernel / Linux, same QEMU (lower is better, except max threads)'\n\
         set logscale y\n\
         set yrange [0.01:100]\n\
         set ylabel 'ratio (log scale)'\n\
         set style fill solid 0.6\n\
         set boxwidth 0.7\n\
         set xtics rotate by -35 font ',9' nomirror\n\
         set grid ytics\n\
         set bmargin 12\n\
         unset key\n\
         plot '{data}' using 0:2:xtic(1) with boxes lc rgb '#3a6ea5', 1 lc rgb '#aa0000' lw 2\n",
        svg = out_dir.join("ratios.svg").display(),
        data = data_path.display(),
    );
    let script_path = out_dir.join("ratios.gp");
    fs::write(&script_path, script).map_err(|e| e.to_string())?;
    let status = Command::new("gnuplot")
        .arg(&script_path)
        .status()
        .map_err(|e| format!("could not run gnuplot: {e}"));
    let _ = fs::remove_file(&data_path);
    let _ = fs::remove_file(&script_path);
    let status = status?;
    match status.success() {
        true => Ok(()),
        false => Err(format!("gnuplot failed ({status})")),
    }
}

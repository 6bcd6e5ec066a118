// The Linux side of `scripts/bench`: the same workloads as this kernel's
// `bench`, `nopbench`, `faults` and `shootdown` programs, through io_uring
// (liburing) where the operation is a ring op, printed in the same words so
// one parser reads both transcripts.  It runs as `/init` of an initramfs,
// mounts /proc and a tmpfs itself, and powers the machine off at the end.
//
//   init icount       the rows measured under -icount at one CPU
//   init maxthreads   blocked threads until creation fails (1 GiB guest)
//   init smp          the rows that need two CPUs (shootdown, cross-CPU wake)
//
// Built by scripts/bench with `gcc -static -O2 ... -luring -lpthread`.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

// The same counts as this kernel's programs (user/bench, user/nopbench,
// user/faults, user/shootdown).
#define BATCH 32
#define NOP_ROUNDS 200
#define ENTER_ROUNDS 10000
#define SPAWN_ROUNDS 200
#define BLOCKED_THREADS 10000
#define FAULT_PAGES 1024
#define FAULT_ROUNDS 8
#define READ_ROUNDS 200
#define FILE_BYTES 65536
#define SHOOTDOWN_ROUNDS 500
#define WAKE_ROUNDS 2000
#define PAGE 4096

static struct io_uring ring;

static uint64_t ticks(void) { return __rdtsc(); }

static void say_fail(const char *what) {
    printf("bench: FAIL: %s: %s\n", what, strerror(errno));
    fflush(stdout);
}

// --- NOPs ---------------------------------------------------------------

static int nop_round(unsigned batch) {
    for (unsigned i = 0; i < batch; i++) {
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        if (!sqe) return -1;
        io_uring_prep_nop(sqe);
        sqe->user_data = i;
    }
    if (io_uring_submit_and_wait(&ring, batch) != (int)batch) return -1;
    unsigned head, reaped = 0;
    struct io_uring_cqe *cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
        if (cqe->res != 0 || cqe->user_data != reaped) return -1;
        reaped++;
    }
    io_uring_cq_advance(&ring, reaped);
    return reaped == batch ? 0 : -1;
}

static long nop_measure(unsigned batch) {
    for (int i = 0; i < 10; i++)
        if (nop_round(batch)) return -1;
    uint64_t start = ticks();
    for (int i = 0; i < NOP_ROUNDS; i++)
        if (nop_round(batch)) return -1;
    return (long)((ticks() - start) / ((uint64_t)NOP_ROUNDS * batch));
}

// --- kernel entry, thread create -----------------------------------------

static void *returns(void *argument) { return argument; }

static long thread_create_join(void) {
    uint64_t start = 0;
    for (int i = -10; i < SPAWN_ROUNDS; i++) {
        if (i == 0) start = ticks();
        pthread_t thread;
        if (pthread_create(&thread, NULL, returns, NULL) || pthread_join(thread, NULL))
            return -1;
    }
    return (long)((ticks() - start) / SPAWN_ROUNDS);
}

// --- blocked threads -------------------------------------------------------

static _Atomic uint32_t gate;
static _Atomic uint32_t parked;

static void futex_wait(_Atomic uint32_t *word, uint32_t expected) {
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void *blocks(void *unused) {
    (void)unused;
    atomic_fetch_add(&parked, 1);
    while (atomic_load(&gate) == 0) futex_wait(&gate, 0);
    return NULL;
}

// A thread whose user stack is the smallest glibc allows, with no guard
// page: only the page the thread touches at its top is ever resident.
static int start_blocked(pthread_t *thread) {
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, PTHREAD_STACK_MIN);
    pthread_attr_setguardsize(&attr, 0);
    int error = pthread_create(thread, &attr, blocks, NULL);
    pthread_attr_destroy(&attr);
    return error;
}

// /proc/meminfo's KernelStack + Slab + PageTables, in bytes.
static long kernel_bytes(void) {
    FILE *meminfo = fopen("/proc/meminfo", "r");
    if (!meminfo) return -1;
    char line[128];
    long total = 0;
    while (fgets(line, sizeof line, meminfo)) {
        long kib;
        if (sscanf(line, "KernelStack: %ld kB", &kib) == 1 ||
            sscanf(line, "Slab: %ld kB", &kib) == 1 ||
            sscanf(line, "PageTables: %ld kB", &kib) == 1)
            total += kib * 1024;
    }
    fclose(meminfo);
    return total;
}

// Waits until every started thread has reached its futex wait.
static void settle(uint32_t count) {
    while (atomic_load(&parked) < count) sched_yield();
    for (int i = 0; i < 100; i++) sched_yield();
}

static long blocked_thread_bytes(void) {
    static pthread_t threads[BLOCKED_THREADS];
    long before = kernel_bytes();
    for (int i = 0; i < BLOCKED_THREADS; i++) {
        if (start_blocked(&threads[i])) {
            errno = ENOMEM;
            return -1;
        }
    }
    settle(BLOCKED_THREADS);
    long after = kernel_bytes();
    atomic_store(&gate, 1);
    futex_wake_all(&gate);
    for (int i = 0; i < BLOCKED_THREADS; i++) pthread_join(threads[i], NULL);
    atomic_store(&gate, 0);
    atomic_store(&parked, 0);
    return (after - before) / BLOCKED_THREADS;
}

// --- faults and reads -------------------------------------------------------

static long fault_per_page(void) {
    uint64_t total = 0;
    for (int round = 0; round < FAULT_ROUNDS; round++) {
        size_t len = (size_t)FAULT_PAGES * PAGE;
        volatile uint8_t *pages =
            mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (pages == MAP_FAILED) return -1;
        // 4 KiB pages on both sides: no transparent huge page.
        madvise((void *)pages, len, MADV_NOHUGEPAGE);
        uint64_t start = ticks();
        for (size_t page = 0; page < FAULT_PAGES; page++) pages[page * PAGE] = 1;
        total += ticks() - start;
        munmap((void *)pages, len);
    }
    return (long)(total / (FAULT_ROUNDS * FAULT_PAGES));
}

static double read_ticks_per_byte(int fd, unsigned bytes) {
    static uint8_t buffer[FILE_BYTES];
    uint64_t start = 0;
    for (int i = -10; i < READ_ROUNDS; i++) {
        if (i == 0) start = ticks();
        struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
        io_uring_prep_read(sqe, fd, buffer, bytes, 0);
        struct io_uring_cqe *cqe;
        if (io_uring_submit_and_wait(&ring, 1) != 1 || io_uring_wait_cqe(&ring, &cqe))
            return -1;
        int res = cqe->res;
        io_uring_cqe_seen(&ring, cqe);
        if (res != (int)bytes) return -1;
    }
    return (double)(ticks() - start) / ((double)READ_ROUNDS * bytes);
}

static int reads(void) {
    static uint8_t contents[FILE_BYTES];
    for (size_t i = 0; i < sizeof contents; i++) contents[i] = (uint8_t)(i * 7);
    int fd = open("/tmp/64k", O_CREAT | O_RDWR | O_TRUNC, 0644);
    if (fd < 0 || write(fd, contents, sizeof contents) != (ssize_t)sizeof contents) return -1;
    double small = read_ticks_per_byte(fd, 4096);
    double large = read_ticks_per_byte(fd, FILE_BYTES);
    close(fd);
    if (small < 0 || large < 0) return -1;
    printf("bench: READ 4 KiB: %.3f ticks per byte\n", small);
    printf("bench: READ 64 KiB: %.3f ticks per byte\n", large);
    return 0;
}

static int icount_rows(void) {
    long batched = nop_measure(BATCH), single = nop_measure(1);
    if (batched < 0 || single < 0) return say_fail("NOP"), 1;
    printf("nopbench: %ld ticks per NOP in batches of %d, %ld ticks per NOP one at a time\n",
           batched, BATCH, single);

    uint64_t start = ticks();
    for (int i = 0; i < ENTER_ROUNDS; i++) syscall(SYS_getppid);
    printf("bench: kernel entry and exit: %lu ticks (getppid)\n",
           (unsigned long)((ticks() - start) / ENTER_ROUNDS));

    long spawn = thread_create_join();
    if (spawn < 0) return say_fail("thread create"), 1;
    printf("bench: thread create and join: %ld ticks\n", spawn);

    long bytes = blocked_thread_bytes();
    if (bytes < 0) return say_fail("blocked threads"), 1;
    printf("bench: blocked thread: %ld kernel bytes each (KernelStack + Slab + PageTables over "
           "%d threads)\n",
           bytes, BLOCKED_THREADS);

    long fault = fault_per_page();
    if (fault < 0) return say_fail("faults"), 1;
    printf("faults: %ld ticks per page, zeroing included (%d pages, %d rounds)\n", fault,
           FAULT_PAGES, FAULT_ROUNDS);

    if (reads()) return say_fail("READ"), 1;
    return 0;
}

// --- as many blocked threads as memory allows --------------------------------

// In a child, so that when the OOM killer ends it, init lives to report the
// count the child left in shared memory.
static int max_threads(void) {
    _Atomic long *count =
        mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (count == MAP_FAILED) return say_fail("mmap"), 1;
    pid_t child = fork();
    if (child == 0) {
        for (;;) {
            pthread_t thread;
            if (start_blocked(&thread)) _exit(0);
            atomic_fetch_add(count, 1);
        }
    }
    int status;
    waitpid(child, &status, 0);
    printf("bench: max blocked threads: %ld (%s)\n", atomic_load(count),
           WIFSIGNALED(status) ? "until the OOM killer ended them" : "until creation failed");
    return 0;
}

// --- two CPUs ------------------------------------------------------------

static void pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(0, sizeof set, &set);
}

static _Atomic int spinning;

static void *spin(void *unused) {
    (void)unused;
    pin_to(1);
    atomic_store(&spinning, 1);
    while (atomic_load(&spinning)) {
    }
    return NULL;
}

static long shootdown(void) {
    pthread_t other;
    pthread_create(&other, NULL, spin, NULL);
    while (atomic_load(&spinning) == 0) sched_yield();
    uint64_t start = 0;
    for (int i = -10; i < SHOOTDOWN_ROUNDS; i++) {
        if (i == 0) start = ticks();
        volatile uint8_t *page =
            mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (page == MAP_FAILED) return -1;
        *page = 1;
        munmap((void *)page, PAGE);
    }
    long result = (long)((ticks() - start) / SHOOTDOWN_ROUNDS);
    atomic_store(&spinning, 0);
    pthread_join(other, NULL);
    return result;
}

static _Atomic uint32_t ball;

// Thread on CPU 1: waits for an odd ball, answers with the next even one.
static void *pong(void *unused) {
    (void)unused;
    pin_to(1);
    for (uint32_t i = 0; i <= WAKE_ROUNDS; i++) {
        uint32_t want = 2 * i + 1;
        while (atomic_load(&ball) != want) futex_wait(&ball, want - 1);
        atomic_store(&ball, want + 1);
        futex_wake_all(&ball);
    }
    return NULL;
}

static long cross_cpu_wake(void) {
    pthread_t other;
    pthread_create(&other, NULL, pong, NULL);
    uint64_t start = 0;
    for (uint32_t i = 0; i <= WAKE_ROUNDS; i++) {
        if (i == 1) start = ticks();
        atomic_store(&ball, 2 * i + 1);
        futex_wake_all(&ball);
        while (atomic_load(&ball) != 2 * i + 2) futex_wait(&ball, 2 * i + 1);
    }
    long result = (long)((ticks() - start) / WAKE_ROUNDS);
    pthread_join(other, NULL);
    return result;
}

static int smp_rows(void) {
    pin_to(0);
    long cost = shootdown();
    if (cost < 0) return say_fail("shootdown"), 1;
    printf("shootdown: %ld ticks per mmap+touch+munmap of a page, another thread of the space "
           "running on CPU 1\n",
           cost);
    long wake = cross_cpu_wake();
    printf("bench: cross-CPU wake: %ld ticks per futex round trip\n", wake);
    return 0;
}

static void set_sysctl(const char *path, const char *value) {
    int fd = open(path, O_WRONLY);
    if (fd < 0 || write(fd, value, strlen(value)) < 0) say_fail(path);
    if (fd >= 0) close(fd);
}

int main(int argc, char **argv) {
    uint64_t first = ticks();
    printf("bench: first user instruction at tick %lu\n", (unsigned long)first);
    mkdir("/proc", 0555);
    mkdir("/tmp", 01777);
    if (mount("proc", "/proc", "proc", 0, NULL)) say_fail("mount /proc");
    if (mount("tmpfs", "/tmp", "tmpfs", 0, NULL)) say_fail("mount /tmp");
    // Lift the caps Linux derives from a 1 GiB machine (threads-max is
    // about 7,800 there): the limits measured are memory, not defaults.
    set_sysctl("/proc/sys/kernel/threads-max", "4000000");
    set_sysctl("/proc/sys/kernel/pid_max", "4194304");
    set_sysctl("/proc/sys/vm/max_map_count", "16000000");
    if (io_uring_queue_init(64, &ring, 0)) {
        errno = ENOSYS;
        say_fail("io_uring_queue_init");
    }
    const char *mode = argc > 1 ? argv[1] : "icount";
    int failed;
    if (!strcmp(mode, "maxthreads"))
        failed = max_threads();
    else if (!strcmp(mode, "smp"))
        failed = smp_rows();
    else
        failed = icount_rows();
    printf("bench: done%s\n", failed ? " (with failures)" : "");
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    return 0;
}

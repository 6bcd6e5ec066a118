//! The COM1 serial console: 115200 8N1, polled output, and the raw byte
//! path that panics and exception reports use when the lock may be held.

use core::fmt;
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
const LINE_STATUS_TX_EMPTY: u8 = 1 << 5;

/// One 16550 UART.
pub struct Serial {
    base: u16,
}

impl Serial {
    const fn new(base: u16) -> Self {
        Self { base }
    }

    fn out(&self, offset: u16, value: u8) {
        // SAFETY: `base` is the UART's I/O range; writing its registers has
        // no memory effects.
        unsafe { Port::new(self.base + offset).write(value) }
    }

    fn input(&self, offset: u16) -> u8 {
        // SAFETY: as in `out`; reading a UART register has no memory effects.
        unsafe { Port::new(self.base + offset).read() }
    }

    fn init(&self) {
        self.out(1, 0x00); // interrupts off
        self.out(3, 0x80); // DLAB on
        self.out(0, 0x01); // divisor 1: 115200 baud
        self.out(1, 0x00);
        self.out(3, 0x03); // 8N1, DLAB off
        self.out(2, 0xc7); // FIFO on, cleared, 14-byte threshold
        self.out(4, 0x0b); // DTR, RTS, OUT2
    }

    fn write_byte(&self, byte: u8) {
        while self.input(5) & LINE_STATUS_TX_EMPTY == 0 {
            core::hint::spin_loop();
        }
        self.out(0, byte);
    }
}

impl fmt::Write for Serial {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        for byte in text.bytes() {
            if byte == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(byte);
        }
        Ok(())
    }
}

static CONSOLE: Mutex<Serial> = Mutex::new(Serial::new(COM1));

/// Programs COM1.  Output works without it in QEMU, but real UARTs need it.
pub fn init() {
    CONSOLE.lock().init();
}

/// Writes formatted text as one unit: lines from different CPUs never mix.
pub fn write_fmt(args: fmt::Arguments<'_>) {
    let _guard = crate::arch::InterruptGuard::new();
    let _ = fmt::Write::write_fmt(&mut *CONSOLE.lock(), args);
}

/// Writes raw bytes (a user program's output) as one unit.
pub fn write_bytes(bytes: &[u8]) {
    let _guard = crate::arch::InterruptGuard::new();
    let console = CONSOLE.lock();
    for &byte in bytes {
        if byte == b'\n' {
            console.write_byte(b'\r');
        }
        console.write_byte(byte);
    }
}

/// Writes without taking the console lock.  Only for the panic and fatal
/// exception paths, where the lock may be held by the CPU that failed.
pub fn write_fmt_unlocked(args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut Serial::new(COM1), args);
}

//! The COM1 serial console: 115200 8N1, polled output, the raw byte path
//! that panics and exception reports use when the lock may be held, and
//! interrupt-driven input, which goes to the console's line discipline
//! (`fs::console`).

use core::fmt;
use spin::Mutex;
use x86_64::instructions::port::Port;

const COM1: u16 = 0x3f8;
const LINE_STATUS_TX_EMPTY: u8 = 1 << 5;
const LINE_STATUS_DATA_READY: u8 = 1 << 0;
/// COM1's ISA interrupt line.
const COM1_IRQ: u8 = 4;
/// The vector COM1's receive interrupt arrives on.
pub const INPUT_VECTOR: u8 = 0x24;

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
        // FIFOs off.  Turning them on clears them, which would lose what
        // was typed before boot; and with one holding register the sender
        // (QEMU) waits for each byte to be read, so input is never dropped.
        self.out(2, 0x00);
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
    write_pieces(|put| put(bytes));
}

/// Writes the pieces `pieces` hands to `put` as one unit: nothing else
/// reaches the console between them.
pub fn write_pieces(pieces: impl FnOnce(&mut dyn FnMut(&[u8]))) {
    let _guard = crate::arch::InterruptGuard::new();
    let console = CONSOLE.lock();
    pieces(&mut |bytes| {
        for &byte in bytes {
            if byte == b'\n' {
                console.write_byte(b'\r');
            }
            console.write_byte(byte);
        }
    });
}

/// Turns on COM1's receive interrupt, routed to this CPU.  From then on
/// typed bytes reach `fs::console`; a byte typed before now raises the
/// interrupt at once (type-ahead is kept).
pub fn enable_input() -> Result<(), abi::Errno> {
    super::trap::register(INPUT_VECTOR, on_receive);
    super::ioapic::route_isa(COM1_IRQ, INPUT_VECTOR, super::apic::id())?;
    let _guard = crate::arch::InterruptGuard::new();
    CONSOLE.lock().out(1, 0x01); // IER: received data available
    Ok(())
}

/// COM1's receive interrupt: every byte the UART holds goes to the line
/// discipline.  Only this handler reads the receive register, so it needs
/// no lock of its own.
fn on_receive(_frame: &mut super::trap::TrapFrame) {
    let uart = Serial::new(COM1);
    let mut bytes = [0u8; 16];
    let mut count = 0;
    while count < bytes.len() && uart.input(5) & LINE_STATUS_DATA_READY != 0 {
        bytes[count] = uart.input(0);
        count += 1;
    }
    crate::fs::console::receive(&bytes[..count]);
}

/// Writes without taking the console lock.  Only for the panic and fatal
/// exception paths, where the lock may be held by the CPU that failed.
pub fn write_fmt_unlocked(args: fmt::Arguments<'_>) {
    let _ = fmt::Write::write_fmt(&mut Serial::new(COM1), args);
}

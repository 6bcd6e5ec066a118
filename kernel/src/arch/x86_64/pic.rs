//! The legacy 8259 PICs.  The kernel uses the APICs, so the PICs are
//! remapped out of the exception range (a spurious IRQ 7 or 15 would
//! otherwise arrive as #DF or #GP's neighbour) and masked.

use x86_64::instructions::port::Port;

const FIRST_VECTOR: u8 = 0x30;

/// Remaps both PICs to vectors 0x30..0x40 and masks every line.
pub fn disable() {
    let write = |port: u16, value: u8| {
        // SAFETY: the 8259 command and data ports; no memory effects.
        unsafe { Port::<u8>::new(port).write(value) }
    };
    write(0x20, 0x11); // ICW1: init, ICW4 follows
    write(0xa0, 0x11);
    write(0x21, FIRST_VECTOR); // ICW2: vector base
    write(0xa1, FIRST_VECTOR + 8);
    write(0x21, 4); // ICW3: slave on IRQ 2
    write(0xa1, 2);
    write(0x21, 1); // ICW4: 8086 mode
    write(0xa1, 1);
    write(0x21, 0xff); // mask everything
    write(0xa1, 0xff);
}

/// Whether `vector` belongs to the (masked) legacy PICs: only spurious
/// interrupts arrive there, and they take no EOI.
pub fn is_legacy_vector(vector: usize) -> bool {
    (usize::from(FIRST_VECTOR)..usize::from(FIRST_VECTOR) + 16).contains(&vector)
}

//! The shared ring: one mapping holding a header, an SQE array and a CQE
//! array (drawn in [`layout`]).
//!
//! - [`layout`]: [`RingHeader`] and [`RingLayout`], where everything is;
//! - [`index`]: free-running index arithmetic;
//! - [`RawRing`]: atomic access to a mapping the peer may change at will;
//! - kernel side: [`SqConsumer`], [`CqProducer`];
//! - user side: [`SqProducer`], [`CqConsumer`].

pub mod index;
mod kernel_side;
pub mod layout;
mod raw;
mod user_side;

pub use kernel_side::{CqFull, CqProducer, SqConsumer};
pub use layout::{RingHeader, RingLayout};
pub use raw::RawRing;
pub use user_side::{CqConsumer, SqFull, SqProducer};

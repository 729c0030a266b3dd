//! The simulation kernel: virtual time, the event queue, seeded random streams and hard limits.
//! It knows nothing of Kafka.

pub mod queue;
pub mod rng;
pub mod time;

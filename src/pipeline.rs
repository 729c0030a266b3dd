//! Consume-transform-produce: what a group member and its own producer (one process) tell each
//! other. They are separate components; the world passes these notes between them at once (an
//! in-process call, no network).

use crate::ids::{ConsumerId, ProducerId};

/// From the member to its producer.
#[derive(Debug, Clone)]
pub enum PipelineWork {
    /// The process started: `initTransactions()` (exactly-once) before the first poll's output.
    Start,
    /// The process died: the producer dies with it.
    Crash,
    /// One poll's output, one record per input record: (input partition, input offset, value
    /// bytes, when processing it ends and the application calls `send()`).
    Output { records: Vec<(u32, u64, u32, u64)> },
    /// The poll's records are processed: flush and hand back for the commit (at-least-once),
    /// or commit the transaction (exactly-once).
    Commit,
    /// Exactly-once: the member's TxnOffsetCommit was accepted (true) or refused (false, KIP-447
    /// fencing): commit or abort.
    OffsetsSent { accepted: bool },
}

/// From the producer to its member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipelineNote {
    /// Every output record is acknowledged. Exactly-once: send the offsets in the transaction
    /// with this producer id and epoch.
    Flushed { producer_id: u64, epoch: u16 },
    /// The transaction committed: the offsets sent in it are committed.
    Committed,
    /// The transaction was aborted (or the producer fenced): the member goes back to its
    /// committed offsets.
    Aborted,
}

/// Which producer belongs to which member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipelineLink {
    pub consumer: ConsumerId,
    pub producer: ProducerId,
    pub exactly_once: bool,
}

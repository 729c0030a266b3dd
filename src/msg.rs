//! Kafka's RPCs as messages between components, with the fields the model needs and a size in
//! bytes for the network. Contents are never modelled, only identities and sizes.

use crate::broker::log::LogBatch;
use crate::ids::{ConsumerId, ProducerId, TopicPartition};
use crate::producer::batch::BatchData;
use crate::scenario::model::Acks;

/// Fixed framing of a request or response (header, client id, api key and version), in bytes.
const HEADER_BYTES: u64 = 64;
/// Per-partition framing inside a produce or fetch request or response, in bytes.
const PARTITION_FRAMING_BYTES: u64 = 24;

/// Kafka error codes the model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorCode {
    NotLeaderOrFollower,
    NotEnoughReplicas,
    RequestTimedOut,
    MessageTooLarge,
    /// The client's view of a connection that was closed (request timeout or a dropped link).
    NetworkException,
}

impl ErrorCode {
    /// Whether Kafka's producer retries this error.
    pub fn is_retriable(self) -> bool {
        !matches!(self, ErrorCode::MessageTooLarge)
    }
}

#[derive(Debug, Clone)]
pub enum Message {
    ProduceRequest(ProduceRequest),
    ProduceResponse(ProduceResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
}

#[derive(Debug, Clone)]
pub struct ProduceRequest {
    pub request_id: u64,
    pub producer: ProducerId,
    pub acks: Acks,
    pub timeout_ns: u64,
    pub batches: Vec<BatchData>,
}

#[derive(Debug, Clone)]
pub struct ProduceResponse {
    pub request_id: u64,
    /// One result per batch of the request, in the request's order: the base offset, or an error.
    pub results: Vec<(TopicPartition, Result<u64, ErrorCode>)>,
}

#[derive(Debug, Clone)]
pub struct FetchPartition {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub request_id: u64,
    pub consumer: ConsumerId,
    /// The consumer's group (index in the scenario), so the broker knows what may be trimmed.
    pub group: usize,
    pub max_wait_ns: u64,
    pub min_bytes: u64,
    pub max_bytes: u64,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub tp: TopicPartition,
    pub high_watermark: u64,
    pub batches: Vec<LogBatch>,
}

#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub request_id: u64,
    pub partitions: Vec<FetchedPartition>,
}

impl Message {
    /// Bytes on the wire, which the network turns into transmission time.
    pub fn size_bytes(&self) -> u64 {
        match self {
            Message::ProduceRequest(request) => {
                let data: u64 = request.batches.iter().map(|batch| batch.wire_bytes).sum();
                HEADER_BYTES + data + PARTITION_FRAMING_BYTES * request.batches.len() as u64
            }
            Message::ProduceResponse(response) => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES * response.results.len() as u64
            }
            Message::FetchRequest(request) => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES * request.partitions.len() as u64
            }
            Message::FetchResponse(response) => {
                let data: u64 = response
                    .partitions
                    .iter()
                    .flat_map(|partition| partition.batches.iter())
                    .map(|batch| batch.data.wire_bytes)
                    .sum();
                HEADER_BYTES + data + PARTITION_FRAMING_BYTES * response.partitions.len() as u64
            }
        }
    }
}

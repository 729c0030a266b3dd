//! Kafka's RPCs as messages between components, with the fields the model needs and a size in
//! bytes for the network. Contents are never modelled, only identities and sizes.

use crate::assignor::AssignorName;
use crate::broker::log::LogBatches;
use crate::ids::{BrokerId, ConsumerId, ProducerId, TopicPartition};
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
    NotEnoughReplicasAfterAppend,
    RequestTimedOut,
    MessageTooLarge,
    OutOfOrderSequenceNumber,
    InvalidProducerEpoch,
    /// The AlterPartition was based on a stale leader or partition epoch.
    InvalidUpdateVersion,
    /// The AlterPartition adds a replica whose broker epoch is not its current registration.
    IneligibleReplica,
    /// The client's view of a connection that was closed (request timeout or a dropped link).
    NetworkException,
}

/// Transaction coordinator error codes the model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnError {
    /// The broker does not (or no longer) coordinate this transactional id.
    NotCoordinator,
    /// The transaction is completing (markers being written): retry after `retry.backoff.ms`.
    ConcurrentTransactions,
    /// A newer producer epoch exists: this producer is a zombie (fatal for it).
    ProducerFenced,
}

/// One request to a transaction coordinator.
#[derive(Debug, Clone)]
pub struct TxnRequest {
    pub request_id: u64,
    /// The transactional id's index in the world.
    pub txn: usize,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub body: TxnRequestBody,
}

#[derive(Debug, Clone)]
pub enum TxnRequestBody {
    /// `initTransactions()`: get the producer id and a new epoch (fencing older ones).
    InitProducerId {
        transaction_timeout_ns: u64,
    },
    /// AddPartitionsToTxn (and AddOffsetsToTxn for `group`).
    AddPartitions {
        partitions: Vec<TopicPartition>,
        group: Option<usize>,
    },
    EndTxn {
        commit: bool,
    },
}

#[derive(Debug, Clone)]
pub struct TxnResponse {
    pub request_id: u64,
    pub error: Option<TxnError>,
    /// InitProducerId: the producer id and epoch granted.
    pub granted: Option<(u64, u16)>,
}

/// The coordinator's WriteTxnMarkers to one partition leader (or to a group's coordinator, for
/// the transaction's offsets).
#[derive(Debug, Clone)]
pub struct TxnMarkers {
    /// Identifies the coordinator load that sent it (stale answers are dropped).
    pub request_id: u64,
    pub txn: usize,
    pub producer_id: u64,
    pub producer_epoch: u16,
    pub commit: bool,
    pub partitions: Vec<TopicPartition>,
    /// The transaction's consumer group, whose pending offsets the marker settles.
    pub group: Option<usize>,
}

impl ErrorCode {
    /// Whether Kafka's producer retries this error.
    pub fn is_retriable(self) -> bool {
        !matches!(
            self,
            ErrorCode::MessageTooLarge
                | ErrorCode::InvalidProducerEpoch
                | ErrorCode::InvalidUpdateVersion
        )
    }

    /// Errors after which Kafka's clients refresh their metadata.
    pub fn needs_metadata(self) -> bool {
        matches!(
            self,
            ErrorCode::NotLeaderOrFollower | ErrorCode::NetworkException
        )
    }
}

#[derive(Debug, Clone)]
pub enum Message {
    ProduceRequest(ProduceRequest),
    ProduceResponse(ProduceResponse),
    FetchRequest(FetchRequest),
    FetchResponse(FetchResponse),
    /// A consumer's request to its group coordinator (JoinGroup, SyncGroup, Heartbeat,
    /// LeaveGroup, OffsetCommit, OffsetFetch).
    Group(Box<GroupRequest>),
    /// The coordinator's answer, echoing the request id.
    GroupReply(Box<GroupResponse>),
    ReplicaFetchRequest(ReplicaFetchRequest),
    ReplicaFetchResponse(ReplicaFetchResponse),
    /// A partition leader asks the controller to change the ISR: the proposed state, and the
    /// broker epoch each ISR member fetched with (KIP-903).
    AlterPartition(Box<PartitionState>, Vec<(BrokerId, u32)>),
    AlterPartitionResponse(TopicPartition, Result<PartitionState, ErrorCode>),
    /// A broker's heartbeat, with its incarnation (how many times its process started).
    BrokerHeartbeat(BrokerId, u32),
    /// The controller accepted a restarted broker process's registration; until then that
    /// process acts on no metadata.
    BrokerRegistered,
    /// The controller pushes partition states, and the brokers it has fenced, to brokers.
    MetadataUpdate(Vec<PartitionState>, Vec<BrokerId>),
    MetadataRequest,
    MetadataResponse(Vec<PartitionState>),
    /// A consumer asks any broker which broker coordinates its group.
    FindCoordinator {
        request_id: u64,
        group: usize,
    },
    /// The group's coordinator, or None for COORDINATOR_NOT_AVAILABLE (the group's
    /// `__consumer_offsets` partition has no leader).
    FindCoordinatorReply {
        request_id: u64,
        coordinator: Option<BrokerId>,
    },
    /// A transactional producer asks any broker which broker coordinates its transactional id.
    FindTxnCoordinator {
        request_id: u64,
        txn: usize,
    },
    FindTxnCoordinatorReply {
        request_id: u64,
        coordinator: Option<BrokerId>,
    },
    Txn(TxnRequest),
    TxnReply(TxnResponse),
    WriteTxnMarkers(TxnMarkers),
    /// Per partition (and for the group, `None`), whether the marker was written.
    WriteTxnMarkersReply {
        request_id: u64,
        txn: usize,
        failed: Vec<TopicPartition>,
        group_failed: bool,
    },
}

/// A message's variant without its contents: what the run statistics count events by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    ProduceRequest,
    ProduceResponse,
    FetchRequest,
    FetchResponse,
    Group,
    GroupReply,
    ReplicaFetchRequest,
    ReplicaFetchResponse,
    AlterPartition,
    AlterPartitionResponse,
    BrokerHeartbeat,
    BrokerRegistered,
    MetadataUpdate,
    MetadataRequest,
    MetadataResponse,
    FindCoordinator,
    FindCoordinatorReply,
    FindTxnCoordinator,
    FindTxnCoordinatorReply,
    Txn,
    TxnReply,
    WriteTxnMarkers,
    WriteTxnMarkersReply,
}

impl MessageKind {
    /// Anchored on the last variant: a new kind goes before `WriteTxnMarkersReply`.
    pub const COUNT: usize = MessageKind::WriteTxnMarkersReply as usize + 1;
}

impl Message {
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::ProduceRequest { .. } => MessageKind::ProduceRequest,
            Message::ProduceResponse { .. } => MessageKind::ProduceResponse,
            Message::FetchRequest { .. } => MessageKind::FetchRequest,
            Message::FetchResponse { .. } => MessageKind::FetchResponse,
            Message::Group { .. } => MessageKind::Group,
            Message::GroupReply { .. } => MessageKind::GroupReply,
            Message::ReplicaFetchRequest { .. } => MessageKind::ReplicaFetchRequest,
            Message::ReplicaFetchResponse { .. } => MessageKind::ReplicaFetchResponse,
            Message::AlterPartition { .. } => MessageKind::AlterPartition,
            Message::AlterPartitionResponse { .. } => MessageKind::AlterPartitionResponse,
            Message::BrokerHeartbeat { .. } => MessageKind::BrokerHeartbeat,
            Message::BrokerRegistered => MessageKind::BrokerRegistered,
            Message::MetadataUpdate { .. } => MessageKind::MetadataUpdate,
            Message::MetadataRequest => MessageKind::MetadataRequest,
            Message::MetadataResponse { .. } => MessageKind::MetadataResponse,
            Message::FindCoordinator { .. } => MessageKind::FindCoordinator,
            Message::FindCoordinatorReply { .. } => MessageKind::FindCoordinatorReply,
            Message::FindTxnCoordinator { .. } => MessageKind::FindTxnCoordinator,
            Message::FindTxnCoordinatorReply { .. } => MessageKind::FindTxnCoordinatorReply,
            Message::Txn { .. } => MessageKind::Txn,
            Message::TxnReply { .. } => MessageKind::TxnReply,
            Message::WriteTxnMarkers { .. } => MessageKind::WriteTxnMarkers,
            Message::WriteTxnMarkersReply { .. } => MessageKind::WriteTxnMarkersReply,
        }
    }
}

/// A partition's state as the controller commits it (KRaft `PartitionRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionState {
    pub tp: TopicPartition,
    /// None while the partition is offline.
    pub leader: Option<BrokerId>,
    pub leader_epoch: u32,
    /// Bumped on every change, so stale AlterPartition requests are refused.
    pub partition_epoch: u32,
    pub isr: Vec<BrokerId>,
    pub replicas: Vec<BrokerId>,
}

#[derive(Debug, Clone)]
pub struct ReplicaFetchPartition {
    pub tp: TopicPartition,
    pub fetch_offset: u64,
    /// Epoch of the follower's last batch (KIP-595 divergence check).
    pub last_fetched_epoch: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct ReplicaFetchRequest {
    pub replica: BrokerId,
    /// The follower process's incarnation (Kafka's broker epoch, KIP-903).
    pub broker_epoch: u32,
    /// The fetcher's fetch session with this leader (KIP-227).
    pub session_id: u32,
    /// A full request starts the session and names every followed partition; an incremental
    /// one names only the partitions whose position changed.
    pub full: bool,
    pub partitions: Vec<ReplicaFetchPartition>,
    /// Partitions the fetcher no longer fetches here (incremental requests).
    pub forgotten: Vec<TopicPartition>,
}

#[derive(Debug, Clone)]
pub struct ReplicaFetched {
    pub tp: TopicPartition,
    pub high_watermark: u64,
    /// The leader's log start: followers trim up to it (and their high watermark).
    pub log_start_offset: u64,
    pub batches: LogBatches,
    /// The follower's log diverges: truncate to the end offset of this epoch.
    pub diverging: Option<(u32, u64)>,
    pub error: Option<ErrorCode>,
}

#[derive(Debug, Clone)]
pub struct ReplicaFetchResponse {
    /// The requester's broker epoch: an answer to an earlier incarnation went to a connection
    /// that died with that process.
    pub broker_epoch: u32,
    /// The session of the request answered.
    pub session_id: u32,
    /// FETCH_SESSION_ID_NOT_FOUND: the leader has no such session (it restarted); the fetcher
    /// starts a new one.
    pub session_error: bool,
    pub partitions: Vec<ReplicaFetched>,
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
    /// `isolation.level=read_committed`: read up to the last stable offset.
    pub read_committed: bool,
    pub partitions: Vec<FetchPartition>,
}

#[derive(Debug, Clone)]
pub struct FetchedPartition {
    pub tp: TopicPartition,
    /// `NOT_LEADER_OR_FOLLOWER` when this broker does not lead the partition.
    pub error: Option<ErrorCode>,
    pub high_watermark: u64,
    /// The last stable offset (read_committed fetches read up to it).
    pub last_stable_offset: u64,
    pub batches: LogBatches,
    /// read_committed: the aborted transactions overlapping the returned batches, as
    /// (producer id, first offset), which the consumer drops (Kafka's `AbortedTransaction`).
    pub aborted: Vec<(u64, u64)>,
}

#[derive(Debug, Clone)]
pub struct FetchResponse {
    pub request_id: u64,
    pub partitions: Vec<FetchedPartition>,
}

/// A fetch response's size: its batches plus per-partition framing.
fn data_bytes<'a>(batches: impl Iterator<Item = &'a LogBatches>, partitions: usize) -> u64 {
    let data: u64 = batches.flatten().map(|batch| batch.data.wire_bytes).sum();
    HEADER_BYTES + data + PARTITION_FRAMING_BYTES * partitions as u64
}

/// Classic group protocol error codes the model produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupError {
    /// KIP-394: a new dynamic member must rejoin with the id the coordinator gave it.
    MemberIdRequired,
    UnknownMemberId,
    IllegalGeneration,
    RebalanceInProgress,
    /// KIP-848: the member's epoch is not the coordinator's; it must rejoin with epoch 0.
    FencedMemberEpoch,
    /// KIP-848: an offset commit carried an older member epoch.
    StaleMemberEpoch,
    /// KIP-848: a static member joined while the member of its instance id is still active.
    UnreleasedInstanceId,
    /// The broker does not (or no longer) coordinate this group.
    NotCoordinator,
    /// KIP-447: an OffsetFetch for partitions with offsets pending in an open transaction.
    UnstableOffsetCommit,
}

/// One request to a group coordinator: who sends it, for which group, and what it asks.
#[derive(Debug, Clone)]
pub struct GroupRequest {
    pub request_id: u64,
    /// The group's index in the scenario.
    pub group: usize,
    pub consumer: ConsumerId,
    pub member_id: String,
    pub generation: i32,
    pub body: GroupRequestBody,
}

#[derive(Debug, Clone)]
pub enum GroupRequestBody {
    Join(JoinGroup),
    /// The leader sends every member's assignment; followers send none.
    Sync(Vec<(String, Vec<TopicPartition>)>),
    Heartbeat,
    Leave,
    OffsetCommit(Vec<(TopicPartition, u64)>),
    OffsetFetch(Vec<TopicPartition>),
    /// TxnOffsetCommit: offsets held pending until the producer's transaction ends (KIP-447:
    /// checked against the member id and generation like a commit).
    TxnOffsetCommit {
        producer_id: u64,
        producer_epoch: u16,
        offsets: Vec<(TopicPartition, u64)>,
    },
    /// KIP-848's only membership RPC; the request's `generation` carries the member epoch
    /// (0 to join, -1 to leave, -2 for a static member's temporary leave).
    ConsumerHeartbeat(ConsumerHeartbeat),
}

/// The fields of a ConsumerGroupHeartbeat the model needs.
#[derive(Debug, Clone)]
pub struct ConsumerHeartbeat {
    pub instance_id: Option<String>,
    /// `max.poll.interval.ms`: the coordinator's revocation deadline for this member.
    pub rebalance_timeout_ns: u64,
    /// Subscribed topics (by name).
    pub topics: Vec<String>,
    /// `group.remote.assignor`, if the member set one.
    pub server_assignor: Option<String>,
    /// The partitions the member owns now (it revoked everything else).
    pub owned: Vec<TopicPartition>,
}

#[derive(Debug, Clone)]
pub struct JoinGroup {
    pub instance_id: Option<String>,
    pub session_timeout_ns: u64,
    /// `max.poll.interval.ms`, as Kafka's consumer sends it.
    pub rebalance_timeout_ns: u64,
    /// `partition.assignment.strategy` in preference order.
    pub protocols: Vec<AssignorName>,
    /// Owned partitions (cooperative) or the last assignment (sticky user data under eager).
    pub owned: Vec<TopicPartition>,
    /// Whether the member rebalances cooperatively. Not on Kafka's wire (it is implied by the
    /// assignors); the coordinator reads it only to assert KIP-429's invariant.
    pub cooperative: bool,
}

/// One member as the leader sees it in a JoinGroup response.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinedMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub owned: Vec<TopicPartition>,
    pub generation: i32,
}

#[derive(Debug, Clone)]
pub struct GroupResponse {
    pub request_id: u64,
    pub error: Option<GroupError>,
    pub body: GroupResponseBody,
}

#[derive(Debug, Clone)]
pub enum GroupResponseBody {
    Join {
        generation: i32,
        member_id: String,
        leader: String,
        protocol: Option<AssignorName>,
        /// Filled for the leader only.
        members: Vec<JoinedMember>,
        /// KIP-814: a static leader rejoining a stable group must not reassign.
        skip_assignment: bool,
    },
    Sync(Vec<TopicPartition>),
    Heartbeat,
    Leave,
    OffsetCommit,
    /// The committed offset of each asked partition, if any.
    OffsetFetch(Vec<(TopicPartition, Option<u64>)>),
    ConsumerHeartbeat {
        member_id: String,
        member_epoch: i32,
        heartbeat_interval_ns: u64,
        /// The partitions the member may own at `member_epoch`, when they changed.
        assignment: Option<Vec<TopicPartition>>,
    },
}

/// Bytes of one member id or instance id on the wire (a client id and a UUID).
const MEMBER_ID_BYTES: u64 = 60;
/// Bytes per partition in group payloads (ownership lists, assignments, offsets).
const GROUP_PARTITION_BYTES: u64 = 12;

fn group_request_bytes(request: &GroupRequest) -> u64 {
    let body = match &request.body {
        GroupRequestBody::Join(join) => {
            32 * join.protocols.len() as u64 + GROUP_PARTITION_BYTES * join.owned.len() as u64
        }
        GroupRequestBody::Sync(assignment) => assignment
            .iter()
            .map(|(_, tps)| MEMBER_ID_BYTES + GROUP_PARTITION_BYTES * tps.len() as u64)
            .sum(),
        GroupRequestBody::Heartbeat | GroupRequestBody::Leave => 0,
        GroupRequestBody::OffsetCommit(offsets)
        | GroupRequestBody::TxnOffsetCommit { offsets, .. } => {
            GROUP_PARTITION_BYTES * offsets.len() as u64
        }
        GroupRequestBody::OffsetFetch(tps) => GROUP_PARTITION_BYTES * tps.len() as u64,
        GroupRequestBody::ConsumerHeartbeat(heartbeat) => {
            32 * heartbeat.topics.len() as u64
                + GROUP_PARTITION_BYTES * heartbeat.owned.len() as u64
        }
    };
    HEADER_BYTES + MEMBER_ID_BYTES + body
}

fn group_response_bytes(response: &GroupResponse) -> u64 {
    let body = match &response.body {
        GroupResponseBody::Join { members, .. } => members
            .iter()
            .map(|member| MEMBER_ID_BYTES + GROUP_PARTITION_BYTES * member.owned.len() as u64)
            .sum(),
        GroupResponseBody::Sync(tps) => GROUP_PARTITION_BYTES * tps.len() as u64,
        GroupResponseBody::OffsetFetch(offsets) => GROUP_PARTITION_BYTES * offsets.len() as u64,
        GroupResponseBody::ConsumerHeartbeat {
            assignment: Some(tps),
            ..
        } => GROUP_PARTITION_BYTES * tps.len() as u64,
        _ => 0,
    };
    HEADER_BYTES + MEMBER_ID_BYTES + body
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
                let batches = response
                    .partitions
                    .iter()
                    .map(|partition| &partition.batches);
                data_bytes(batches, response.partitions.len())
            }
            Message::Group(request) => group_request_bytes(request),
            Message::FindCoordinator { .. } | Message::FindCoordinatorReply { .. } => {
                HEADER_BYTES + MEMBER_ID_BYTES
            }
            Message::GroupReply(response) => group_response_bytes(response),
            Message::ReplicaFetchRequest(request) => {
                let listed = request.partitions.len() + request.forgotten.len();
                HEADER_BYTES + PARTITION_FRAMING_BYTES * listed as u64
            }
            Message::ReplicaFetchResponse(response) => {
                let batches = response
                    .partitions
                    .iter()
                    .map(|partition| &partition.batches);
                data_bytes(batches, response.partitions.len())
            }
            Message::AlterPartition(..) | Message::AlterPartitionResponse(..) => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES
            }
            Message::BrokerHeartbeat(..) | Message::BrokerRegistered | Message::MetadataRequest => {
                HEADER_BYTES
            }
            Message::FindTxnCoordinator { .. } | Message::FindTxnCoordinatorReply { .. } => {
                HEADER_BYTES + MEMBER_ID_BYTES
            }
            Message::Txn(request) => {
                let partitions = match &request.body {
                    TxnRequestBody::AddPartitions { partitions, .. } => partitions.len() as u64,
                    _ => 0,
                };
                HEADER_BYTES + MEMBER_ID_BYTES + GROUP_PARTITION_BYTES * partitions
            }
            Message::TxnReply(_) => HEADER_BYTES + 16,
            Message::WriteTxnMarkers(markers) => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES * (markers.partitions.len() as u64 + 1) + 78
            }
            Message::WriteTxnMarkersReply { failed, .. } => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES * failed.len() as u64
            }
            Message::MetadataUpdate(states, _) | Message::MetadataResponse(states) => {
                HEADER_BYTES + PARTITION_FRAMING_BYTES * states.len() as u64
            }
        }
    }
}

#[cfg(test)]
mod size_tests {
    /// Every event is moved by value into and out of the queue (a few times per event): the
    /// rare, large messages (group requests and replies, ISR changes) are boxed so they do not
    /// set the size of all the others.
    #[test]
    fn events_stay_small() {
        assert!(std::mem::size_of::<super::Message>() <= 80);
        assert!(std::mem::size_of::<crate::world::Event>() <= 104);
    }
}

//! The resolved scenario: what the simulation reads. Every default is filled, every unit converted
//! (times in ns, sizes in bytes), every cross-field rule checked. Only `scenario::resolve` builds it.

use serde::Serialize;

/// One fully resolved scenario (one variant, overrides applied).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// The seed from the file; the CLI's `--seed` replaces it.
    pub seed: u64,
    /// The variant this scenario was resolved for, if any.
    pub variant: Option<String>,
    pub duration_ns: u64,
    /// Width of one time-series bucket in metrics.json (`metrics_interval_ms`, default 1000).
    pub metrics_interval_ns: u64,
    pub cluster: Cluster,
    pub topics: Vec<Topic>,
    pub producers: Vec<ProducerSpec>,
    pub consumer_groups: Vec<GroupSpec>,
    pub timeline: Vec<TimelineEvent>,
    pub limits: Limits,
}

/// Hard limits that stop a run with a clear error instead of letting it hang (style.md habit 10).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Limits {
    pub events_max: u64,
    pub pending_events_max: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            events_max: 2_000_000_000,
            pending_events_max: 10_000_000,
        }
    }
}

/// A random distribution, its values already in the target unit (ns for times, bytes for sizes).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum Dist {
    Fixed {
        value: f64,
    },
    Uniform {
        min: f64,
        max: f64,
    },
    Exponential {
        mean: f64,
    },
    /// Log-normal given by its median and 99th percentile (p99 ≥ p50 > 0).
    Lognormal {
        p50: f64,
        p99: f64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    pub brokers: u32,
    pub network: Network,
    pub costs: BrokerCosts,
    pub config: BrokerConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Network {
    /// One-way latency of one message, drawn per message (ns).
    pub latency_ns: Dist,
    /// Each node's NIC speed; a message of B bytes holds the sender's link for B / this.
    pub bandwidth_bytes_per_sec: u64,
}

/// The broker's request-handling cost model (not Kafka configs: our calibration knobs).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerCosts {
    /// Fixed time an I/O thread spends on one request (ns), drawn per request.
    pub request_ns: Dist,
    /// Extra I/O-thread time per KiB of records appended or read (ns).
    pub per_kib_ns: u64,
}

/// Broker configs (Kafka names in the file), with Kafka 4.x defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BrokerConfig {
    /// `num.io.threads` (8): request handler threads; requests queue FIFO for them.
    pub num_io_threads: u32,
    /// `message.max.bytes` (1048588): largest batch a broker accepts.
    pub message_max_bytes: u64,
    /// `replica.lag.time.max.ms` (30000).
    pub replica_lag_time_max_ns: u64,
    /// `unclean.leader.election.enable` (false).
    pub unclean_leader_election_enable: bool,
    /// `min.insync.replicas` (1): the cluster default; topics may override.
    pub min_insync_replicas: u32,
    /// `group.initial.rebalance.delay.ms` (3000).
    pub group_initial_rebalance_delay_ns: u64,
    /// `group.min.session.timeout.ms` (6000).
    pub group_min_session_timeout_ns: u64,
    /// `group.max.session.timeout.ms` (1800000).
    pub group_max_session_timeout_ns: u64,
    /// `group.consumer.heartbeat.interval.ms` (5000): KIP-848 members heartbeat this often.
    pub group_consumer_heartbeat_interval_ns: u64,
    /// `group.consumer.session.timeout.ms` (45000): a KIP-848 member silent this long is fenced.
    pub group_consumer_session_timeout_ns: u64,
    /// `group.consumer.assignors` ("uniform,range"): server-side assignors, the first the default.
    pub group_consumer_assignors: Vec<String>,
    /// `replica.fetch.wait.max.ms` (500): a follower fetch's long-poll wait.
    pub replica_fetch_wait_max_ns: u64,
    /// `replica.fetch.min.bytes` (1).
    pub replica_fetch_min_bytes: u64,
    /// `replica.fetch.max.bytes` (1048576): per partition.
    pub replica_fetch_max_bytes: u64,
    /// `replica.fetch.response.max.bytes` (10485760).
    pub replica_fetch_response_max_bytes: u64,
    /// `replica.fetch.backoff.ms` (1000): wait after a fetch error.
    pub replica_fetch_backoff_ns: u64,
    /// `replica.socket.timeout.ms` (30000): an unanswered follower fetch is abandoned then.
    pub replica_socket_timeout_ns: u64,
    /// Test-only planted bug (the `check` canary): leaders ignore producer ids and sequences,
    /// so a retried idempotent batch is appended again. No scenario field sets it.
    #[serde(skip)]
    pub canary_skip_sequence_check: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    pub name: String,
    pub partitions: u32,
    pub replication_factor: u32,
    /// `min.insync.replicas` for this topic (the broker default unless set).
    pub min_insync_replicas: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Evenly spaced: one record every 1/rate seconds.
    Constant,
    /// Exponential gaps with mean 1/rate.
    Poisson,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "dist", rename_all = "lowercase")]
pub enum Keys {
    /// Null keys: the built-in sticky partitioner spreads them.
    Null,
    /// Keys drawn uniformly from `count` distinct keys.
    Uniform { count: u64 },
    /// Keys drawn from `count` keys with Zipf(exponent) popularity (hot keys).
    Zipf { count: u64, exponent: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerSpec {
    pub name: String,
    /// Identical producer processes, each with its own id, RNG streams and connections.
    pub instances: u32,
    /// Index into `Scenario::topics`.
    pub topic: usize,
    /// Records per second for each instance.
    pub rate_per_sec: f64,
    pub arrivals: Arrivals,
    /// Serialized value size (bytes).
    pub record_bytes: Dist,
    /// Serialized key size when keys are not null (bytes; default 16).
    pub key_bytes: u32,
    pub keys: Keys,
    /// The producer starts sending at this time (0 unless a timeline `producer-start` says later).
    pub start_ns: u64,
    /// Compressed size / uncompressed size of this workload's batches per codec.
    pub compression_ratio: CompressionRatios,
    pub config: ProducerConfig,
    /// With `transactional.id`: when each transaction ends (default: 100 records).
    pub transaction: Option<TransactionSpec>,
}

/// A transactional producer's transactions: commit after `records` records or `duration_ns`
/// after the first (whichever comes first; 0 turns a limit off), aborting instead with
/// `abort_probability`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TransactionSpec {
    pub records: u64,
    pub duration_ns: u64,
    pub abort_probability: f64,
}

/// A consume-transform-produce group's output topic and its members' producer configs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OutputSpec {
    /// Index into `Scenario::topics`.
    pub topic: usize,
    /// With `transactional.id` (a prefix: member i uses `PREFIX-i`): exactly-once, the output
    /// and the consumed offsets in one transaction; without: at-least-once (produce, flush,
    /// then commitSync).
    pub config: ProducerConfig,
}

/// Per-codec compression ratio for the scenario's data (compressed / uncompressed bytes).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompressionRatios {
    pub gzip: f64,
    pub snappy: f64,
    pub lz4: f64,
    pub zstd: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Acks {
    /// `acks=0`: no response.
    Zero,
    /// `acks=1`: the leader's append.
    One,
    /// `acks=all` (`-1`): the high watermark passes the batch.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Partitioner {
    /// No `partitioner.class`: murmur2 for keys, built-in uniform sticky for null keys.
    BuiltIn,
    /// `org.apache.kafka.clients.producer.RoundRobinPartitioner`.
    RoundRobin,
}

/// Producer configs (Kafka names in the file), with Kafka 4.x defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProducerConfig {
    pub acks: Acks,
    /// `enable.idempotence` after Kafka's rules (silently off on conflicts unless set explicitly).
    pub enable_idempotence: bool,
    pub retries: u32,
    pub batch_size_bytes: u32,
    pub linger_ns: u64,
    pub buffer_memory_bytes: u64,
    pub max_block_ns: u64,
    pub max_request_size_bytes: u32,
    pub max_in_flight_requests_per_connection: u32,
    pub request_timeout_ns: u64,
    pub delivery_timeout_ns: u64,
    pub retry_backoff_ns: u64,
    pub retry_backoff_max_ns: u64,
    pub compression_type: Compression,
    pub partitioner: Partitioner,
    pub partitioner_ignore_keys: bool,
    pub partitioner_adaptive_partitioning_enable: bool,
    pub partitioner_availability_timeout_ns: u64,
    pub metadata_max_age_ns: u64,
    /// `transactional.id` (None: not transactional).
    pub transactional_id: Option<String>,
    pub transaction_timeout_ns: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CommitPolicy {
    /// `enable.auto.commit`: offsets of records returned by earlier polls, committed inside poll.
    Auto,
    SyncAfterPoll,
    AsyncAfterPoll,
    /// Commit before processing: at-most-once.
    BeforeProcessing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetReset {
    Earliest,
    Latest,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupProtocol {
    Classic,
    Consumer,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupSpec {
    pub group_id: String,
    /// Members at the start.
    pub members: u32,
    /// Indexes into `Scenario::topics`.
    pub topics: Vec<usize>,
    /// Processing time of one record (ns).
    pub processing_ns_per_record: Dist,
    pub commit: CommitPolicy,
    pub config: ConsumerConfig,
    pub output: Option<OutputSpec>,
}

/// Consumer configs (Kafka names in the file), with Kafka 4.x defaults.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerConfig {
    pub group_protocol: GroupProtocol,
    /// `partition.assignment.strategy`, Kafka names (`range`, `cooperative-sticky`, …) in order.
    pub partition_assignment_strategy: Vec<String>,
    pub session_timeout_ns: u64,
    pub heartbeat_interval_ns: u64,
    pub max_poll_interval_ns: u64,
    pub max_poll_records: u32,
    pub fetch_min_bytes: u32,
    pub fetch_max_bytes: u32,
    pub fetch_max_wait_ns: u64,
    pub max_partition_fetch_bytes: u32,
    pub enable_auto_commit: bool,
    pub auto_commit_interval_ns: u64,
    pub auto_offset_reset: OffsetReset,
    /// `group.instance.id` prefix: member i gets `<prefix>-<i>` (static membership) when set.
    pub group_instance_id: Option<String>,
    pub request_timeout_ns: u64,
    pub retry_backoff_ns: u64,
    /// `group.remote.assignor` (KIP-848 only): `uniform` or `range`; null means the brokers'
    /// first `group.consumer.assignors`.
    pub group_remote_assignor: Option<String>,
    /// `isolation.level=read_committed`.
    pub isolation_level_read_committed: bool,
    /// `metadata.max.age.ms` (300000): the consumer refreshes metadata at least this often.
    pub metadata_max_age_ns: u64,
}

/// A node name as the scenario writes it: `broker-0`, `producer:NAME:I`, `consumer:GROUP:I`, `controller`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum NodeRef {
    Broker(u32),
    /// (producer spec index, instance)
    Producer(usize, u32),
    /// (group index, member)
    Consumer(usize, u32),
    Controller,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineEvent {
    pub at_ns: u64,
    /// The run's seed moves the event to a time drawn uniformly in `[at_ns, at_ns + jitter_ns]`
    /// (`World::build`); validation keeps the window short of the next entry, so the order holds.
    pub jitter_ns: u64,
    pub action: Action,
}

/// Timeline actions (interface.md). Each names resolved indexes, checked against the scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Action {
    ProducerStart {
        producer: usize,
        instance: Option<u32>,
    },
    ProducerStop {
        producer: usize,
        instance: Option<u32>,
    },
    ProducerRestart {
        producer: usize,
        instance: Option<u32>,
    },
    /// The producer process dies (mid-transaction, for a transactional producer) and stays down.
    ProducerCrash {
        producer: usize,
        instance: Option<u32>,
    },
    ConsumerJoin {
        group: usize,
    },
    ConsumerLeave {
        group: usize,
        member: u32,
    },
    ConsumerCrash {
        group: usize,
        member: u32,
    },
    ConsumerRestart {
        group: usize,
        member: u32,
    },
    ConsumerPause {
        group: usize,
        member: u32,
        duration_ns: u64,
    },
    ConsumerSlow {
        group: usize,
        member: u32,
        factor: f64,
        duration_ns: u64,
    },
    BrokerCrash {
        broker: u32,
        /// A power loss: what the broker appended in this window before the crash is lost
        /// (never flushed from the page cache). None: a process crash, the page cache survives.
        lose_unflushed_ns: Option<u64>,
    },
    BrokerRestart {
        broker: u32,
    },
    BrokerStall {
        broker: u32,
        duration_ns: u64,
    },
    NetworkPartition {
        between: [Vec<NodeRef>; 2],
        duration_ns: u64,
    },
    NetworkDelay {
        nodes: Vec<NodeRef>,
        extra_ns: u64,
        duration_ns: u64,
    },
    NetworkLoss {
        nodes: Vec<NodeRef>,
        probability: f64,
        duration_ns: u64,
    },
    AddPartitions {
        topic: usize,
        partitions: u32,
    },
}

//! kafkasim: a deterministic discrete-event simulator of Apache Kafka producers, brokers and
//! consumer groups. Scenario in, metrics out; same scenario and seed, same bytes.

pub mod assignor;
pub mod bitset;
pub mod broker;
pub mod broker_map;
pub mod check;
pub mod cli;
pub mod codec;
pub mod consumer;
pub mod controller;
pub mod error;
pub mod event_counts;
pub mod group;
pub mod ids;
pub mod metrics;
pub mod msg;
pub mod net;
pub mod partition_map;
pub mod pipeline;
pub mod producer;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod txn;
pub mod world;

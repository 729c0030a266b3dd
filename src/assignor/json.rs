//! The `kafkasim assign` file format: JSON in (assignor, topics, members), JSON out
//! (`{"assignment": …}` with members and topics sorted and partitions ascending). It turns
//! serde's and the validator's complaints into errors naming the field, the value and what is
//! allowed; the assignment itself is left to [`super::assign`].

use super::types::{Assignment, AssignorName, MemberSubscription, TopicPartitions};
use crate::error::UserError;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInput {
    assignor: String,
    topics: BTreeMap<String, i64>,
    #[serde(default)]
    members: Vec<RawMember>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMember {
    member_id: String,
    #[serde(default)]
    group_instance_id: Option<String>,
    #[serde(default)]
    topics: Vec<String>,
    #[serde(default)]
    owned: Option<BTreeMap<String, Vec<i64>>>,
    #[serde(default)]
    generation: Option<i64>,
    #[serde(default)]
    rack: Option<String>,
}

/// A parsed and range-checked `kafkasim assign` input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignInput {
    pub assignor: AssignorName,
    pub topics: BTreeMap<String, u32>,
    pub members: Vec<MemberSubscription>,
}

/// `kafkasim assign`: parse the input, run the assignor, render the output.
pub fn assign_json(input: &str) -> Result<String, UserError> {
    let parsed = parse_input(input)?;
    let assignment = super::assign(parsed.assignor, &parsed.topics, &parsed.members)?;
    Ok(render_output(&assignment))
}

/// Parses the input format; numbers are checked here, cross-references in [`super::assign`].
pub fn parse_input(input: &str) -> Result<AssignInput, UserError> {
    let raw: RawInput = serde_json::from_str(input)
        .map_err(|error| UserError::new(format!("assignment input is not valid: {error}")))?;
    let assignor = AssignorName::parse(&raw.assignor)?;
    let mut topics = BTreeMap::new();
    for (topic, count) in raw.topics {
        let count = u32::try_from(count)
            .ok()
            .filter(|&count| count <= super::PARTITIONS_PER_TOPIC_MAX)
            .ok_or_else(|| {
                let allowed = format!(
                    "a partition count from 0 to {}",
                    super::PARTITIONS_PER_TOPIC_MAX
                );
                UserError::field(&format!("topics.{topic}"), count, &allowed)
            })?;
        topics.insert(topic, count);
    }
    let mut members = Vec::with_capacity(raw.members.len());
    for (index, raw_member) in raw.members.into_iter().enumerate() {
        members.push(convert_member(index, raw_member)?);
    }
    Ok(AssignInput {
        assignor,
        topics,
        members,
    })
}

fn convert_member(index: usize, raw: RawMember) -> Result<MemberSubscription, UserError> {
    let mut owned = TopicPartitions::new();
    for (topic, partitions) in raw.owned.unwrap_or_default() {
        let mut converted = Vec::with_capacity(partitions.len());
        for partition in partitions {
            let value = u32::try_from(partition).map_err(|_| {
                let path = format!("members[{index}].owned.{topic}");
                UserError::field(&path, partition, "a partition number of 0 or more")
            })?;
            converted.push(value);
        }
        owned.insert(topic, converted);
    }
    let generation = match raw.generation {
        None => None,
        Some(value) => Some(i32::try_from(value).map_err(|_| {
            let path = format!("members[{index}].generation");
            UserError::field(&path, value, "a generation from -1 to 2147483647")
        })?),
    };
    Ok(MemberSubscription {
        member_id: raw.member_id,
        group_instance_id: raw.group_instance_id,
        topics: raw.topics,
        owned,
        generation,
        rack: raw.rack,
    })
}

/// `{"assignment": {member: {topic: [partitions]}}}`, sorted, one member per input member.
pub fn render_output(assignment: &Assignment) -> String {
    let mut members = serde_json::Map::new();
    for (member_id, partitions) in assignment {
        let mut per_topic = serde_json::Map::new();
        for (topic, list) in partitions {
            if list.is_empty() {
                continue;
            }
            let mut sorted = list.clone();
            sorted.sort_unstable();
            per_topic.insert(topic.clone(), serde_json::Value::from(sorted));
        }
        members.insert(member_id.clone(), serde_json::Value::Object(per_topic));
    }
    let mut root = serde_json::Map::new();
    root.insert("assignment".to_string(), serde_json::Value::Object(members));
    let mut text = serde_json::to_string_pretty(&serde_json::Value::Object(root))
        .unwrap_or_else(|error| panic!("serializing plain maps cannot fail: {error}"));
    text.push('\n');
    text
}

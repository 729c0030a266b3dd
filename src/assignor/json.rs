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

/// `{"assignment": {member: {topic: [partitions]}}}`, sorted, one member per input member and
/// one line per member, so a group of fifty stays readable.
pub fn render_output(assignment: &Assignment) -> String {
    let quote = |text: &str| {
        serde_json::to_string(text)
            .unwrap_or_else(|error| panic!("serializing a string cannot fail: {error}"))
    };
    let mut lines = Vec::with_capacity(assignment.len());
    for (member_id, partitions) in assignment {
        let topics: Vec<String> = partitions
            .iter()
            .filter(|(_, list)| !list.is_empty())
            .map(|(topic, list)| {
                let mut sorted = list.clone();
                sorted.sort_unstable();
                let numbers: Vec<String> = sorted.iter().map(u32::to_string).collect();
                format!("{}: [{}]", quote(topic), numbers.join(", "))
            })
            .collect();
        let body = if topics.is_empty() {
            "{}".to_string()
        } else {
            format!("{{ {} }}", topics.join(", "))
        };
        lines.push(format!("    {}: {body}", quote(member_id)));
    }
    if lines.is_empty() {
        return "{\n  \"assignment\": {}\n}\n".to_string();
    }
    format!(
        "{{\n  \"assignment\": {{\n{}\n  }}\n}}\n",
        lines.join(",\n")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_valid_sorted_json() {
        let input = r#"{"assignor": "range", "topics": {"t2": 2, "t1": 3},
            "members": [{"member_id": "c2", "topics": ["t1"]},
                        {"member_id": "c1", "topics": ["t1", "t2"], "owned": {"t1": [0]}},
                        {"member_id": "c3", "topics": []}]}"#;
        let output = assign_json(input).expect("valid input");
        let value: serde_json::Value = serde_json::from_str(&output).expect("valid JSON");
        let expected = serde_json::json!({"assignment": {
            "c1": {"t1": [0, 1], "t2": [0, 1]}, "c2": {"t1": [2]}, "c3": {}}});
        assert_eq!(value, expected);
        assert!(
            output.find("\"c1\"") < output.find("\"c2\""),
            "members sorted"
        );
    }

    #[test]
    fn errors_name_field_value_and_allowed() {
        let cases = [
            (
                r#"{"assignor": "rnage", "topics": {}}"#,
                "did you mean \"range\"",
            ),
            (
                r#"{"assignor": "range", "topics": {"t": -1}}"#,
                "topics.t: -1",
            ),
            (
                r#"{"assignor": "range", "topics": {"t": 1},
                    "members": [{"member_id": "a", "topics": ["u"]}]}"#,
                "members[0].topics[0]: \"u\"",
            ),
            (
                r#"{"assignor": "range", "topics": {},
                    "members": [{"member_id": "a"}, {"member_id": "a"}]}"#,
                "members[1].member_id: \"a\"",
            ),
            (
                r#"{"assignor": "range", "topics": {"t": 1},"#,
                "line 1 column",
            ),
            (
                r#"{"assignor": "uniform", "topics": {"t": 2}, "members": [
                    {"member_id": "a", "topics": ["t"], "owned": {"t": [0]}},
                    {"member_id": "b", "topics": ["t"], "owned": {"t": [0]}}]}"#,
                "members[1].owned.t: 0",
            ),
            (
                r#"{"assignor": "sticky", "topics": {"t": 2}, "members": [
                    {"member_id": "a", "topics": ["t"], "owned": {"t": [5]}}]}"#,
                "members[0].owned.t: 5",
            ),
        ];
        for (input, expected) in cases {
            let error = assign_json(input).expect_err(input);
            assert!(
                error.message.contains(expected),
                "{} lacks {expected}",
                error.message
            );
        }
    }
}

package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** One assignor input in kafkasim's terms: topics with partition counts and members in order. */
final class Case {
    /** Topic name to partition count, sorted by name. */
    final TreeMap<String, Integer> topics = new TreeMap<>();
    /** Members in input order: the order in which they are put into Kafka's hash maps. */
    final List<Member> members = new ArrayList<>();

    static final class Member {
        String memberId;
        String instanceId;
        List<String> topics = new ArrayList<>();
        /** Owned partitions per topic, topics sorted by name, partitions in stored order. */
        TreeMap<String, List<Integer>> owned = new TreeMap<>();
        Integer generation;
        String rack;

        Member copy() {
            Member copy = new Member();
            copy.memberId = memberId;
            copy.instanceId = instanceId;
            copy.topics = new ArrayList<>(topics);
            for (Map.Entry<String, List<Integer>> entry : owned.entrySet()) {
                copy.owned.put(entry.getKey(), new ArrayList<>(entry.getValue()));
            }
            copy.generation = generation;
            copy.rack = rack;
            return copy;
        }
    }

    static Case fromJson(JsonNode node) {
        Case input = new Case();
        Iterator<Map.Entry<String, JsonNode>> topics = node.get("topics").fields();
        while (topics.hasNext()) {
            Map.Entry<String, JsonNode> topic = topics.next();
            input.topics.put(topic.getKey(), topic.getValue().asInt());
        }
        for (JsonNode raw : node.get("members")) {
            Member member = new Member();
            member.memberId = raw.get("member_id").asText();
            member.instanceId = text(raw, "group_instance_id");
            for (JsonNode topic : raw.get("topics")) {
                member.topics.add(topic.asText());
            }
            JsonNode owned = raw.get("owned");
            if (owned != null && !owned.isNull()) {
                Iterator<Map.Entry<String, JsonNode>> entries = owned.fields();
                while (entries.hasNext()) {
                    Map.Entry<String, JsonNode> entry = entries.next();
                    List<Integer> partitions = new ArrayList<>();
                    for (JsonNode partition : entry.getValue()) {
                        partitions.add(partition.asInt());
                    }
                    member.owned.put(entry.getKey(), partitions);
                }
            }
            JsonNode generation = raw.get("generation");
            member.generation = generation == null || generation.isNull() ? null : generation.asInt();
            member.rack = text(raw, "rack");
            input.members.add(member);
        }
        return input;
    }

    private static String text(JsonNode node, String field) {
        JsonNode value = node.get(field);
        return value == null || value.isNull() ? null : value.asText();
    }

    /**
     * The input as kafkasim reads it, except, to keep the committed files small, that each member
     * is a tuple {@code [member_id, group_instance_id, topics, owned, generation, rack]} (null
     * or left out at the end when absent) and partition lists are compact strings.
     */
    ObjectNode toJson(ObjectMapper mapper, String assignor) {
        ObjectNode root = mapper.createObjectNode();
        root.put("assignor", assignor);
        ObjectNode topicCounts = mapper.createObjectNode();
        topics.forEach(topicCounts::put);
        root.set("topics", topicCounts);
        ArrayNode memberArray = mapper.createArrayNode();
        for (Member member : members) {
            ArrayNode tuple = mapper.createArrayNode();
            tuple.add(member.memberId);
            tuple.add(member.instanceId);
            tuple.add(Harness.array(mapper, member.topics.iterator()));
            ObjectNode owned = mapper.createObjectNode();
            for (Map.Entry<String, List<Integer>> entry : member.owned.entrySet()) {
                if (!entry.getValue().isEmpty()) {
                    owned.put(entry.getKey(), compact(entry.getValue()));
                }
            }
            tuple.add(owned);
            if (member.generation == null) {
                tuple.addNull();
            } else {
                tuple.add(member.generation);
            }
            tuple.add(member.rack);
            // Trailing absent values are left out: [id, null, topics] is a fresh dynamic member.
            while (tuple.size() > 3 && (tuple.get(tuple.size() - 1).isNull()
                    || (tuple.get(tuple.size() - 1).isObject() && tuple.get(tuple.size() - 1).isEmpty()))) {
                tuple.remove(tuple.size() - 1);
            }
            memberArray.add(tuple);
        }
        root.set("members", memberArray);
        return root;
    }

    /** "0-3,7,9-10": runs of consecutive values in the given order (a sorted list is smallest). */
    static String compact(List<Integer> values) {
        StringBuilder text = new StringBuilder();
        int index = 0;
        while (index < values.size()) {
            int start = values.get(index);
            int end = start;
            while (index + 1 < values.size() && values.get(index + 1) == end + 1) {
                index++;
                end++;
            }
            if (text.length() > 0) {
                text.append(',');
            }
            text.append(start);
            if (end != start) {
                text.append('-').append(end);
            }
            index++;
        }
        return text.toString();
    }

    static Map<String, List<Integer>> sortedCopy(Map<String, List<Integer>> assignment) {
        Map<String, List<Integer>> copy = new LinkedHashMap<>();
        for (Map.Entry<String, List<Integer>> entry : new TreeMap<>(assignment).entrySet()) {
            List<Integer> partitions = new ArrayList<>(entry.getValue());
            partitions.sort(null);
            copy.put(entry.getKey(), partitions);
        }
        return copy;
    }
}

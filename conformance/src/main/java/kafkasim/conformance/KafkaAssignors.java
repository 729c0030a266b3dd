package kafkasim.conformance;

import org.apache.kafka.clients.consumer.ConsumerGroupMetadata;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Assignment;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.GroupSubscription;
import org.apache.kafka.clients.consumer.ConsumerPartitionAssignor.Subscription;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.RangeAssignor;
import org.apache.kafka.clients.consumer.RoundRobinAssignor;
import org.apache.kafka.clients.consumer.StickyAssignor;
import org.apache.kafka.common.Cluster;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.coordinator.group.api.assignor.ConsumerGroupPartitionAssignor;
import org.apache.kafka.coordinator.group.api.assignor.GroupAssignment;
import org.apache.kafka.coordinator.group.api.assignor.MemberAssignment;
import org.apache.kafka.coordinator.group.api.assignor.SubscribedTopicDescriber;
import org.apache.kafka.coordinator.group.api.assignor.SubscriptionType;
import org.apache.kafka.coordinator.group.assignor.UniformAssignor;
import org.apache.kafka.coordinator.group.modern.GroupSpecImpl;
import org.apache.kafka.coordinator.group.modern.MemberSubscriptionAndAssignmentImpl;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Calls Kafka's assignors the way production calls them: client assignors through
 * {@code assign(Cluster, GroupSubscription)} with subscriptions built as {@code ConsumerCoordinator}
 * builds them, server assignors through a {@code GroupSpecImpl} as {@code TargetAssignmentBuilder}
 * builds it. Members go into Kafka's hash maps in input order, as kafkasim's emulation assumes.
 */
final class KafkaAssignors {
    private static final Node NODE = new Node(0, "broker-0", 9092);
    private static final String GROUP = "conformance";

    private KafkaAssignors() { }

    /** Per-case limit (-Dkafkasim.timeout.ms): some inputs make Kafka loop forever. */
    private static final long TIMEOUT_MS = Long.getLong("kafkasim.timeout.ms", 30_000L);

    /**
     * {@link #run} on a worker thread, stopped if it exceeds the limit, so a stress run records
     * a Kafka livelock as an error case instead of hanging.
     */
    @SuppressWarnings({"deprecation", "removal"})
    static Map<String, Map<String, List<Integer>>> runBounded(String assignor, Case input) {
        Object[] result = new Object[1];
        Thread worker = new Thread(() -> {
            try {
                result[0] = run(assignor, input);
            } catch (RuntimeException | StackOverflowError error) {
                result[0] = error;
            }
        }, "kafka-assignor");
        worker.setDaemon(true);
        worker.start();
        try {
            worker.join(TIMEOUT_MS);
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
        if (worker.isAlive()) {
            // Kafka's loop never checks for interruption; Java 17 can still stop the thread.
            worker.stop();
            throw new IllegalStateException("Kafka did not finish within " + TIMEOUT_MS + " ms");
        }
        if (result[0] instanceof RuntimeException) {
            throw (RuntimeException) result[0];
        }
        if (result[0] instanceof Error) {
            throw (Error) result[0];
        }
        @SuppressWarnings("unchecked")
        Map<String, Map<String, List<Integer>>> output = (Map<String, Map<String, List<Integer>>>) result[0];
        return output;
    }

    static Map<String, Map<String, List<Integer>>> run(String assignor, Case input) {
        Map<String, Map<String, List<Integer>>> result = new TreeMap<>();
        for (Case.Member member : input.members) {
            result.put(member.memberId, new TreeMap<>());
        }
        switch (assignor) {
            case "range":
            case "roundrobin":
            case "sticky":
            case "cooperative-sticky":
                runClient(assignor, input, result);
                break;
            case "uniform":
                runServer(new UniformAssignor(), input, result);
                break;
            case "server-range":
                runServer(new org.apache.kafka.coordinator.group.assignor.RangeAssignor(), input, result);
                break;
            default:
                throw new IllegalArgumentException("unknown assignor " + assignor);
        }
        for (Map.Entry<String, Map<String, List<Integer>>> member : result.entrySet()) {
            member.setValue(Case.sortedCopy(member.getValue()));
        }
        return result;
    }

    private static void runClient(String name, Case input, Map<String, Map<String, List<Integer>>> result) {
        Map<String, Subscription> subscriptions = new HashMap<>();
        for (Case.Member member : input.members) {
            List<TopicPartition> owned = new ArrayList<>();
            member.owned.forEach((topic, partitions) -> partitions.forEach(p -> owned.add(new TopicPartition(topic, p))));
            int generation = member.generation == null ? -1 : member.generation;
            ByteBuffer userData = null;
            List<TopicPartition> subscriptionOwned = owned;
            ConsumerGroupMetadata metadata =
                new ConsumerGroupMetadata(GROUP, generation, member.memberId, Optional.ofNullable(member.instanceId));
            if (name.equals("sticky")) {
                // Eager: the consumer revoked everything before joining, so ownership travels only
                // in the user data that StickyAssignor itself wrote after the last assignment.
                StickyAssignor own = new StickyAssignor();
                if (!owned.isEmpty() || member.generation != null) {
                    own.onAssignment(new Assignment(owned), metadata);
                }
                userData = own.subscriptionUserData(new HashSet<>(member.topics));
                subscriptionOwned = Collections.emptyList();
            } else if (name.equals("cooperative-sticky")) {
                CooperativeStickyAssignor own = new CooperativeStickyAssignor();
                if (member.generation != null) {
                    own.onAssignment(new Assignment(owned), metadata);
                }
                userData = own.subscriptionUserData(new HashSet<>(member.topics));
            }
            Subscription subscription = new Subscription(
                new ArrayList<>(member.topics), userData, subscriptionOwned, generation, Optional.ofNullable(member.rack));
            subscription.setGroupInstanceId(Optional.ofNullable(member.instanceId));
            subscriptions.put(member.memberId, subscription);
        }
        List<PartitionInfo> partitions = new ArrayList<>();
        input.topics.forEach((topic, count) -> {
            for (int p = 0; p < count; p++) {
                partitions.add(new PartitionInfo(topic, p, NODE, new Node[] {NODE}, new Node[] {NODE}));
            }
        });
        Cluster cluster = new Cluster("kafkasim", List.of(NODE), partitions, Set.of(), Set.of());
        ConsumerPartitionAssignor assignor;
        switch (name) {
            case "range": assignor = new RangeAssignor(); break;
            case "roundrobin": assignor = new RoundRobinAssignor(); break;
            case "sticky": assignor = new StickyAssignor(); break;
            default: assignor = new CooperativeStickyAssignor(); break;
        }
        ConsumerPartitionAssignor.GroupAssignment assignment =
            assignor.assign(cluster, new GroupSubscription(subscriptions));
        assignment.groupAssignment().forEach((memberId, memberAssignment) -> {
            Map<String, List<Integer>> perTopic = result.computeIfAbsent(memberId, k -> new TreeMap<>());
            for (TopicPartition tp : memberAssignment.partitions()) {
                perTopic.computeIfAbsent(tp.topic(), k -> new ArrayList<>()).add(tp.partition());
            }
        });
    }

    /** Topic ids are derived from the topic's rank by name, so kafkasim can hash them the same way. */
    static Uuid topicId(int rank) {
        return new Uuid(0L, rank + 1L);
    }

    private static void runServer(ConsumerGroupPartitionAssignor assignor, Case input,
                                  Map<String, Map<String, List<Integer>>> result) {
        Map<String, Uuid> ids = new HashMap<>();
        Map<Uuid, String> names = new HashMap<>();
        Map<Uuid, Integer> counts = new HashMap<>();
        int rank = 0;
        for (Map.Entry<String, Integer> topic : input.topics.entrySet()) {
            Uuid id = topicId(rank++);
            ids.put(topic.getKey(), id);
            names.put(id, topic.getKey());
            counts.put(id, topic.getValue());
        }
        Map<String, MemberSubscriptionAndAssignmentImpl> members = new HashMap<>();
        Map<Uuid, Map<Integer, String>> inverted = new HashMap<>();
        Map<String, Integer> subscriberCounts = new HashMap<>();
        for (Case.Member member : input.members) {
            Set<Uuid> subscribed = new HashSet<>();
            for (String topic : member.topics) {
                subscribed.add(ids.get(topic));
                subscriberCounts.merge(topic, 1, Integer::sum);
            }
            Map<Uuid, Set<Integer>> target = new HashMap<>();
            for (Map.Entry<String, List<Integer>> owned : member.owned.entrySet()) {
                if (owned.getValue().isEmpty()) {
                    continue;
                }
                Uuid id = ids.get(owned.getKey());
                target.put(id, new HashSet<>(owned.getValue()));
                for (int partition : owned.getValue()) {
                    inverted.computeIfAbsent(id, k -> new HashMap<>()).put(partition, member.memberId);
                }
            }
            members.put(member.memberId, new MemberSubscriptionAndAssignmentImpl(
                Optional.ofNullable(member.rack),
                Optional.ofNullable(member.instanceId),
                subscribed,
                new org.apache.kafka.coordinator.group.modern.Assignment(target)));
        }
        // As ModernGroup.subscriptionType: homogeneous when every subscribed topic has every member.
        SubscriptionType type = SubscriptionType.HOMOGENEOUS;
        for (int subscribers : subscriberCounts.values()) {
            if (subscribers != input.members.size()) {
                type = SubscriptionType.HETEROGENEOUS;
            }
        }
        SubscribedTopicDescriber describer = new SubscribedTopicDescriber() {
            @Override
            public int numPartitions(Uuid topicId) {
                return counts.getOrDefault(topicId, -1);
            }

            @Override
            public Set<String> racksForPartition(Uuid topicId, int partition) {
                return Set.of();
            }
        };
        GroupAssignment assignment = assignor.assign(
            new GroupSpecImpl(Collections.unmodifiableMap(members), type, inverted), describer);
        for (Map.Entry<String, MemberAssignment> member : assignment.members().entrySet()) {
            Map<String, List<Integer>> perTopic = result.computeIfAbsent(member.getKey(), k -> new TreeMap<>());
            member.getValue().partitions().forEach((id, partitions) ->
                perTopic.computeIfAbsent(names.get(id), k -> new ArrayList<>()).addAll(partitions));
        }
    }
}

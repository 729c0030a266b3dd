package kafkasim.conformance;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;

/**
 * Seeded generator of assignor inputs: scenarios of successive rounds of one group, where each
 * round's ownership is Kafka's answer to the previous round, perturbed the way real groups are:
 * members join and leave, static members come back under new member ids, some members report a
 * stale generation, two members claim the same partition, subscriptions and partition counts
 * change. Deterministic: java.util.Random's sequence is specified by the JDK.
 */
final class Generator {
    static final class Round {
        final String name;
        final Case input;

        Round(String name, Case input) {
            this.name = name;
            this.input = input;
        }
    }

    private final String assignor;
    private final Random random;
    private final boolean serverSide;
    private final boolean usesOwnership;
    private int scenario = 0;
    private int memberCounter = 0;

    Generator(String assignor, long seed) {
        this.assignor = assignor;
        this.random = new Random(seed);
        this.serverSide = assignor.equals("uniform") || assignor.equals("server-range");
        this.usesOwnership = !assignor.equals("range") && !assignor.equals("roundrobin")
            && !assignor.equals("server-range");
    }

    /** A skewed draw in [1, max]: small values are common, as in real groups, large ones occur. */
    private int skewed(int max, double exponent) {
        return 1 + (int) Math.floor(Math.pow(random.nextDouble(), exponent) * max);
    }

    List<Round> nextScenario(int roundsLeft) {
        scenario++;
        List<Round> rounds = new ArrayList<>();
        Case current = new Case();
        // Most real groups share one subscription; unequal ones need at least two topics.
        boolean equalSubscriptions = random.nextInt(10) < 4;
        int topicCount = skewed(20, 6.0);
        if (!equalSubscriptions && topicCount < 2) {
            topicCount = 2 + random.nextInt(4);
        }
        int total = 0;
        for (int t = 0; t < topicCount; t++) {
            int partitions = Math.min(200, skewed(200, 7.0));
            if (total + partitions > 250) {
                partitions = Math.max(1, 250 - total);
            }
            total += partitions;
            current.topics.put("t" + t, partitions);
        }
        // Members times topics is capped so the committed vectors stay a few megabytes.
        int memberCount = Math.min(Math.min(50, skewed(50, 8.0)), Math.max(1, 160 / topicCount));
        for (int m = 0; m < memberCount; m++) {
            current.members.add(newMember(current, equalSubscriptions));
        }
        if (usesOwnership && random.nextInt(4) == 0) {
            randomOwnership(current);
        }
        int roundCount = Math.min(roundsLeft, 1 + random.nextInt(5));
        for (int r = 0; r < roundCount; r++) {
            rounds.add(new Round("gen:" + scenario + ":" + r, strip(current)));
            Map<String, Map<String, List<Integer>>> output;
            if (Harness.TRACE) {
                System.err.println(rounds.get(rounds.size() - 1).name + " "
                    + current.toJson(new com.fasterxml.jackson.databind.ObjectMapper(), assignor));
            }
            try {
                output = KafkaAssignors.runBounded(assignor, current);
            } catch (RuntimeException error) {
                break;
            }
            current = nextRound(current, output, r + 1, equalSubscriptions);
        }
        return rounds;
    }

    private Case strip(Case input) {
        Case copy = new Case();
        copy.topics.putAll(input.topics);
        for (Case.Member member : input.members) {
            Case.Member stripped = member.copy();
            if (!usesOwnership) {
                stripped.owned.clear();
            }
            copy.members.add(stripped);
        }
        return copy;
    }

    private Case.Member newMember(Case group, boolean equalSubscriptions) {
        Case.Member member = new Case.Member();
        member.memberId = newMemberId();
        if (random.nextInt(10) < 3) {
            member.instanceId = "i" + Integer.toString(memberCounter, 36);
        }
        if (random.nextInt(10) == 0) {
            member.rack = "r" + random.nextInt(3);
        }
        member.topics = subscription(group, equalSubscriptions);
        return member;
    }

    /** Short ids with a random letter, so Java's hash order of members is not their counter order. */
    private String newMemberId() {
        memberCounter++;
        return "c" + Integer.toString(memberCounter, 36) + (char) ('a' + random.nextInt(26));
    }

    private List<String> subscription(Case group, boolean equalSubscriptions) {
        List<String> topics = new ArrayList<>();
        if (equalSubscriptions && !group.members.isEmpty()) {
            topics.addAll(group.members.get(0).topics);
        } else if (equalSubscriptions) {
            topics.addAll(group.topics.keySet());
        } else {
            for (String topic : group.topics.keySet()) {
                if (random.nextBoolean()) {
                    topics.add(topic);
                }
            }
            if (topics.isEmpty()) {
                List<String> all = new ArrayList<>(group.topics.keySet());
                topics.add(all.get(random.nextInt(all.size())));
            }
        }
        Collections.shuffle(topics, random);
        return topics;
    }

    /** A group that starts from arbitrary claims: overlapping, partial, across generations. */
    private void randomOwnership(Case group) {
        for (Case.Member member : group.members) {
            member.generation = 1 + random.nextInt(3);
            for (String topic : member.topics) {
                int count = group.topics.get(topic);
                for (int p = 0; p < count; p++) {
                    if (random.nextInt(group.members.size() + 1) == 0) {
                        member.owned.computeIfAbsent(topic, k -> new ArrayList<>()).add(p);
                    }
                }
            }
        }
        if (serverSide) {
            dedupe(group);
        }
    }

    private Case nextRound(Case previous, Map<String, Map<String, List<Integer>>> output, int generation,
                           boolean equalSubscriptions) {
        Case next = new Case();
        next.topics.putAll(previous.topics);
        for (Case.Member old : previous.members) {
            Case.Member member = old.copy();
            member.owned = new TreeMap<>();
            output.getOrDefault(old.memberId, Map.of()).forEach((topic, partitions) -> {
                if (!partitions.isEmpty()) {
                    member.owned.put(topic, new ArrayList<>(partitions));
                }
            });
            member.generation = generation;
            next.members.add(member);
        }
        // Members leave, but the group never empties.
        for (int index = next.members.size() - 1; index >= 0 && next.members.size() > 1; index--) {
            if (random.nextInt(100) < 12) {
                next.members.remove(index);
            }
        }
        // Static members restart with a new member id and keep what they owned.
        for (Case.Member member : next.members) {
            if (member.instanceId != null && random.nextInt(10) == 0) {
                member.memberId = newMemberId();
            }
        }
        if (random.nextInt(10) == 0) {
            List<String> names = new ArrayList<>(next.topics.keySet());
            String topic = names.get(random.nextInt(names.size()));
            next.topics.put(topic, Math.min(200, next.topics.get(topic) + 1 + random.nextInt(10)));
        }
        if (random.nextInt(10) == 0 && !equalSubscriptions) {
            Case.Member member = next.members.get(random.nextInt(next.members.size()));
            member.topics = subscription(next, false);
        }
        if (usesOwnership) {
            perturbClaims(next, generation);
        }
        if (random.nextInt(10) < 3) {
            int joining = 1 + random.nextInt(2);
            int memberMax = Math.min(50, Math.max(2, 160 / next.topics.size()));
            for (int j = 0; j < joining && next.members.size() < memberMax; j++) {
                next.members.add(newMember(next, equalSubscriptions));
            }
        }
        if (serverSide) {
            dedupe(next);
        }
        return next;
    }

    /** Stale generations and double claims, which the sticky assignors must arbitrate. */
    private void perturbClaims(Case group, int generation) {
        if (group.members.size() < 2) {
            return;
        }
        if (random.nextInt(5) == 0) {
            Case.Member stale = group.members.get(random.nextInt(group.members.size()));
            stale.generation = Math.max(0, generation - 1 - random.nextInt(2));
        }
        if (random.nextInt(3) == 0) {
            Case.Member from = group.members.get(random.nextInt(group.members.size()));
            Case.Member to = group.members.get(random.nextInt(group.members.size()));
            if (from != to) {
                int copies = 1 + random.nextInt(3);
                for (Map.Entry<String, List<Integer>> entry : from.owned.entrySet()) {
                    for (int partition : entry.getValue()) {
                        if (copies > 0 && random.nextBoolean()) {
                            List<Integer> list = to.owned.computeIfAbsent(entry.getKey(), k -> new ArrayList<>());
                            if (!list.contains(partition)) {
                                list.add(partition);
                                list.sort(null);
                                copies--;
                            }
                        }
                    }
                }
            }
        }
    }

    /** Server-side ownership is a target assignment: one owner per partition, the first keeps it. */
    private static void dedupe(Case group) {
        Map<String, List<Integer>> seen = new HashMap<>();
        for (Case.Member member : group.members) {
            for (Map.Entry<String, List<Integer>> entry : member.owned.entrySet()) {
                List<Integer> taken = seen.computeIfAbsent(entry.getKey(), k -> new ArrayList<>());
                entry.getValue().removeIf(taken::contains);
                taken.addAll(entry.getValue());
            }
            member.owned.values().removeIf(List::isEmpty);
        }
    }
}

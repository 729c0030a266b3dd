package kafkasim.live;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One consumer group of the scenario: a Member process per slot (the initial members, then one
 * per consumer-join), and the figures computed from the events they print.
 */
final class GroupRunner {
    /** One line a member printed, parsed. */
    private record Event(int member, char kind, int generation, long atMicros, TreeSet<Integer> partitions) {}

    private record Processed(int partition, long offset, long createdMicros, long doneMicros) {}

    final String groupId;
    private final JsonNode spec;
    private final String bootstrap;
    private final File work;
    private final int initialMembers;
    private final int slots;
    private final boolean cooperative;
    private final List<Process> processes = new ArrayList<>();
    private final List<OutputStream> inputs = new ArrayList<>();
    private final List<Event> events = new ArrayList<>();
    private final List<Processed> processed = new ArrayList<>();
    private final Map<Integer, Long> crashedAtMicros = new TreeMap<>();
    private int started;

    GroupRunner(JsonNode spec, String bootstrap, File work, int joins) {
        this.spec = spec;
        this.groupId = spec.path("group.id").asText();
        this.bootstrap = bootstrap;
        this.work = work;
        this.initialMembers = spec.path("members").asInt(1);
        this.slots = initialMembers + joins;
        String strategy = spec.path("config").path("partition.assignment.strategy").asText("range");
        String protocol = spec.path("config").path("group.protocol").asText("classic");
        // Cooperative members revoke after the round that took the partitions away (counted in
        // that round); eager members revoke before joining the next round.
        this.cooperative = strategy.startsWith("cooperative") || protocol.equals("consumer");
    }

    /** Starts every slot's JVM (they wait for "start"), so a join at time t costs no JVM start-up. */
    void launch() throws Exception {
        String javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        String commit = spec.path("commit").asText("auto");
        JsonNode processing = spec.path("processing_ms_per_record");
        double processingMs = processing.has("value") ? processing.path("value").asDouble()
                : processing.path("mean").asDouble(processing.path("p50").asDouble(0.0));
        String topic = spec.path("topics").path(0).asText();
        CountDownLatch ready = new CountDownLatch(slots);
        for (int slot = 0; slot < slots; slot++) {
            Properties p = new Properties();
            p.putAll(Live.configOf(spec.get("config")));
            p.setProperty("bootstrap.servers", bootstrap);
            p.setProperty("group.id", groupId);
            p.setProperty("client.id", groupId + "-" + slot);
            p.setProperty("enable.auto.commit", Boolean.toString(commit.equals("auto")));
            p.setProperty("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
            p.setProperty("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
            if (p.containsKey("partition.assignment.strategy")) {
                p.setProperty("partition.assignment.strategy", assignorClasses(p.getProperty("partition.assignment.strategy")));
            }
            if (p.containsKey("group.instance.id")) {
                // kafkasim: member i of a static group is <group.instance.id>-<i>.
                p.setProperty("group.instance.id", p.getProperty("group.instance.id") + "-" + slot);
            }
            File props = new File(work, groupId + "-member-" + slot + ".properties");
            try (FileOutputStream out = new FileOutputStream(props)) {
                p.store(out, "kafkasim live member");
            }
            ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xms32m", "-Xmx192m", "-XX:+UseSerialGC",
                    "-XX:TieredStopAtLevel=1", "-cp", System.getProperty("java.class.path"), "kafkasim.live.Member",
                    props.getAbsolutePath(), topic, Double.toString(processingMs * 1000.0), commit);
            pb.redirectError(ProcessBuilder.Redirect.appendTo(new File(work, groupId + "-member-" + slot + ".log")));
            Process process = pb.start();
            Files.writeString(new File(work, groupId + "-member-" + slot + ".pid").toPath(),
                    Long.toString(process.pid()));
            processes.add(process);
            inputs.add(process.getOutputStream());
            int member = slot;
            Thread reader = new Thread(() -> read(member, process, ready), groupId + "-reader-" + slot);
            reader.setDaemon(true);
            reader.start();
        }
        if (!ready.await(120, TimeUnit.SECONDS)) {
            throw new IllegalStateException("group " + groupId + ": members not ready within 120 s");
        }
    }

    /** kafkasim's short assignor names (range, cooperative-sticky, ...) as the client's class names. */
    private static String assignorClasses(String names) {
        List<String> out = new ArrayList<>();
        for (String name : names.split(",")) {
            switch (name.trim()) {
                case "range" -> out.add("org.apache.kafka.clients.consumer.RangeAssignor");
                case "roundrobin" -> out.add("org.apache.kafka.clients.consumer.RoundRobinAssignor");
                case "sticky" -> out.add("org.apache.kafka.clients.consumer.StickyAssignor");
                case "cooperative-sticky" -> out.add("org.apache.kafka.clients.consumer.CooperativeStickyAssignor");
                default -> out.add(name.trim());
            }
        }
        return String.join(",", out);
    }

    private void read(int member, Process process, CountDownLatch ready) {
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(),
                StandardCharsets.UTF_8))) {
            String line;
            while ((line = in.readLine()) != null) {
                String[] f = line.split(" ");
                switch (f[0]) {
                    case "READY":
                        ready.countDown();
                        break;
                    case "P":
                        synchronized (this) {
                            processed.add(new Processed(Integer.parseInt(f[1]), Long.parseLong(f[2]),
                                    Long.parseLong(f[3]), Long.parseLong(f[4])));
                        }
                        break;
                    case "A":
                    case "R":
                    case "C":
                    case "L": {
                        TreeSet<Integer> partitions = new TreeSet<>();
                        if (!f[3].equals("-")) {
                            for (String part : f[3].split(",")) {
                                partitions.add(Integer.parseInt(part));
                            }
                        }
                        synchronized (this) {
                            events.add(new Event(member, f[0].charAt(0), Integer.parseInt(f[1]), Long.parseLong(f[2]),
                                    partitions));
                        }
                        Live.log(groupId + " member " + member + ": " + line);
                        break;
                    }
                    default:
                        break;
                }
            }
        } catch (IOException e) {
            // The process was killed.
        }
    }

    private void send(int member, String command) throws IOException {
        OutputStream in = inputs.get(member);
        in.write((command + "\n").getBytes(StandardCharsets.UTF_8));
        in.flush();
    }

    void startInitial(long t0Micros) throws IOException {
        for (; started < initialMembers; started++) {
            send(started, "start");
        }
    }

    void perform(String kind, int member) throws Exception {
        switch (kind) {
            case "consumer-join":
                if (started < slots) {
                    send(started++, "start");
                }
                break;
            case "consumer-leave":
                send(member, "close");
                break;
            case "consumer-restart":
                send(member, "restart");
                break;
            case "consumer-crash": {
                long at = Member.micros();
                processes.get(member).destroyForcibly();
                synchronized (this) {
                    crashedAtMicros.put(member, at);
                }
                break;
            }
            default:
                break;
        }
    }

    void killAll() {
        for (Process process : processes) {
            process.destroyForcibly();
        }
        for (Process process : processes) {
            try {
                process.waitFor(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    synchronized List<Double> endToEndMs(long endMicros) {
        List<Double> out = new ArrayList<>();
        for (Processed p : processed) {
            if (p.doneMicros() <= endMicros) {
                out.add((p.doneMicros() - p.createdMicros()) / 1000.0);
            }
        }
        return out;
    }

    synchronized long duplicatesProcessed(long endMicros) {
        TreeSet<Long> distinct = new TreeSet<>();
        long total = 0;
        for (Processed p : processed) {
            if (p.doneMicros() <= endMicros) {
                total++;
                distinct.add(((long) p.partition() << 40) | p.offset());
            }
        }
        return total - distinct.size();
    }

    /** One rebalance as the members saw it. */
    private static final class Round {
        long startMicros = Long.MAX_VALUE;
        long endMicros = Long.MIN_VALUE;
        final Map<Integer, Integer> assignedByMember = new TreeMap<>();
        int revoked;
    }

    synchronized ObjectNode toJson(long t0Micros, long endMicros) {
        TreeMap<Integer, Round> rounds = new TreeMap<>();
        long revokedTotal = 0;
        for (Event e : events) {
            if (e.atMicros() > endMicros) {
                continue;
            }
            if (e.kind() == 'A') {
                Round round = rounds.computeIfAbsent(e.generation(), g -> new Round());
                // A static member that restarts gets its assignment again in the same generation: no rebalance.
                if (!round.assignedByMember.containsKey(e.member())) {
                    round.assignedByMember.put(e.member(), e.partitions().size());
                    round.startMicros = Math.min(round.startMicros, e.atMicros());
                    round.endMicros = Math.max(round.endMicros, e.atMicros());
                }
            } else if (e.kind() == 'R' || e.kind() == 'C') {
                revokedTotal += e.partitions().size();
                if (e.kind() == 'R') {
                    int generation = cooperative ? e.generation() : e.generation() + 1;
                    Round round = rounds.computeIfAbsent(generation, g -> new Round());
                    round.revoked += e.partitions().size();
                    round.startMicros = Math.min(round.startMicros, e.atMicros());
                }
            }
        }
        ArrayNode list = Live.JSON.createArrayNode();
        long startupEndMicros = 0;
        double latencyTotalMs = 0;
        for (Map.Entry<Integer, Round> entry : rounds.entrySet()) {
            Round round = entry.getValue();
            if (round.assignedByMember.isEmpty()) {
                continue; // Revocations of a round that did not finish within the run.
            }
            ObjectNode r = list.addObject();
            r.put("generation", entry.getKey());
            r.put("start_ms", Live.round3((round.startMicros - t0Micros) / 1000.0));
            r.put("end_ms", Live.round3((round.endMicros - t0Micros) / 1000.0));
            r.put("members", round.assignedByMember.size());
            r.put("revoked", round.revoked);
            r.put("assigned", round.assignedByMember.values().stream().mapToInt(Integer::intValue).sum());
            latencyTotalMs += (round.endMicros - round.startMicros) / 1000.0;
            if (startupEndMicros == 0 && round.assignedByMember.size() >= initialMembers) {
                startupEndMicros = round.endMicros;
            }
        }
        ObjectNode node = Live.JSON.createObjectNode();
        node.put("rebalance-total", list.size());
        node.put("rebalance-latency-avg", Live.round3(list.isEmpty() ? 0.0 : latencyTotalMs / list.size()));
        node.put("partition_pause_ms", Live.round3(pauseMicros(startupEndMicros, endMicros) / 1000.0));
        long records = processed.stream().filter(p -> p.doneMicros() <= endMicros).count();
        node.put("records-processed", records);
        node.put("revoked_total", revokedTotal);
        node.put("duplicates_processed", duplicatesProcessed(endMicros));
        node.set("rebalances", list);
        return node;
    }

    /**
     * kafkasim's partition_pause_ms: per partition, the time no member owned it, from its first
     * ownership (or the end of start-up, if later) to the end of the run.
     */
    private long pauseMicros(long startupEndMicros, long endMicros) {
        // Ownership spans per partition, from the events of each member in time order.
        Map<Integer, List<long[]>> spans = new TreeMap<>();
        List<Event> sorted = new ArrayList<>(events);
        sorted.sort((a, b) -> Long.compare(a.atMicros(), b.atMicros()));
        for (int member = 0; member < slots; member++) {
            Map<Integer, Long> owned = new TreeMap<>();
            for (Event e : sorted) {
                if (e.member() != member) {
                    continue;
                }
                if (e.kind() == 'A') {
                    for (int p : e.partitions()) {
                        owned.putIfAbsent(p, e.atMicros());
                    }
                    for (Integer p : new ArrayList<>(owned.keySet())) {
                        if (!e.partitions().contains(p)) {
                            spans.computeIfAbsent(p, k -> new ArrayList<>()).add(new long[] {owned.remove(p), e.atMicros()});
                        }
                    }
                } else {
                    for (int p : e.partitions()) {
                        Long from = owned.remove(p);
                        if (from != null) {
                            spans.computeIfAbsent(p, k -> new ArrayList<>()).add(new long[] {from, e.atMicros()});
                        }
                    }
                }
            }
            long until = crashedAtMicros.getOrDefault(member, endMicros);
            for (Map.Entry<Integer, Long> o : owned.entrySet()) {
                spans.computeIfAbsent(o.getKey(), k -> new ArrayList<>()).add(new long[] {o.getValue(), until});
            }
        }
        long paused = 0;
        for (List<long[]> intervals : spans.values()) {
            intervals.sort((a, b) -> Long.compare(a[0], b[0]));
            long first = intervals.get(0)[0];
            long covered = Math.min(Math.max(first, startupEndMicros), endMicros);
            for (long[] span : intervals) {
                paused += Math.max(0, Math.min(span[0], endMicros) - covered);
                covered = Math.max(covered, Math.min(span[1], endMicros));
            }
            paused += Math.max(0, endMicros - covered);
        }
        return paused;
    }
}

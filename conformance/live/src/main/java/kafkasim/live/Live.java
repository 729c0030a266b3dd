package kafkasim.live;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;

/**
 * Plays one kafkasim scenario against a real Kafka cluster on loopback and writes a metrics.json
 * with the figures a real cluster shows (kafkasim's schema, a subset of its keys).
 *
 * <p>Usage: Live SCENARIO.json OUT_DIR WORK_DIR
 */
public final class Live {
    static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    private static long t0Micros;

    static void log(String message) {
        long at = t0Micros == 0 ? 0 : (Member.micros() - t0Micros) / 1000;
        System.err.println("live [" + at + " ms] " + message);
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: Live SCENARIO.json OUT_DIR WORK_DIR");
            System.exit(2);
        }
        JsonNode scenario = JSON.readTree(new File(args[0]));
        File out = new File(args[1]);
        File work = new File(args[2]);
        out.mkdirs();
        work.mkdirs();
        Live live = new Live(scenario, work);
        Runtime.getRuntime().addShutdownHook(new Thread(live::killEverything));
        int status = 0;
        try {
            ObjectNode metrics = live.run();
            JSON.writeValue(new File(out, "metrics.json"), metrics);
            log("wrote " + new File(out, "metrics.json"));
        } catch (Exception e) {
            e.printStackTrace();
            status = 1;
        } finally {
            live.shutDown();
        }
        System.exit(status);
    }

    private final JsonNode scenario;
    private final File work;
    private final long durationMs;
    private Cluster cluster;
    private final List<ProducerRunner> producers = new ArrayList<>();
    private final List<GroupRunner> groups = new ArrayList<>();
    /** Record ids per partition in log order, from the final log scan. */
    private final Map<String, List<Long>> logOrder = new TreeMap<>();

    private Live(JsonNode scenario, File work) {
        this.scenario = scenario;
        this.work = work;
        this.durationMs = scenario.path("duration_ms").asLong(60_000);
    }

    static Map<String, String> configOf(JsonNode config) {
        Map<String, String> out = new TreeMap<>();
        if (config != null) {
            for (Iterator<Map.Entry<String, JsonNode>> it = config.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                out.put(e.getKey(), e.getValue().isTextual() ? e.getValue().asText() : e.getValue().toString());
            }
        }
        return out;
    }

    private ObjectNode run() throws Exception {
        JsonNode clusterNode = scenario.path("cluster");
        int brokers = clusterNode.path("brokers").asInt(1);
        cluster = new Cluster(work, brokers, configOf(clusterNode.get("config")));
        long clusterStart = System.currentTimeMillis();
        cluster.start();
        log("cluster of " + brokers + " broker(s) up in " + (System.currentTimeMillis() - clusterStart) + " ms at "
                + cluster.bootstrap());
        createTopics();
        warmUp();
        for (JsonNode group : scenario.path("consumer_groups")) {
            GroupRunner runner = new GroupRunner(group, cluster.bootstrap(), work, countJoins(group));
            groups.add(runner);
            runner.launch();
        }
        int instanceBase = 0;
        for (JsonNode producer : scenario.path("producers")) {
            int instances = producer.path("instances").asInt(1);
            for (int i = 0; i < instances; i++) {
                producers.add(new ProducerRunner(producer, i, instanceBase + i, cluster.bootstrap(), scenario.path("seed")
                        .asLong(1), timelineWindow(producer.path("name").asText(), i)));
            }
            instanceBase += instances;
        }
        t0Micros = Member.micros();
        log("scenario " + scenario.path("name").asText() + " starts");
        for (GroupRunner group : groups) {
            group.startInitial(t0Micros);
        }
        for (ProducerRunner producer : producers) {
            producer.start(t0Micros);
        }
        List<JsonNode> timeline = new ArrayList<>();
        scenario.path("timeline").forEach(timeline::add);
        timeline.sort((a, b) -> Long.compare(a.path("at_ms").asLong(), b.path("at_ms").asLong()));
        for (JsonNode action : timeline) {
            sleepUntil(t0Micros + action.path("at_ms").asLong() * 1000);
            perform(action);
        }
        long endMicros = t0Micros + durationMs * 1000;
        sleepUntil(endMicros);
        log("scenario ends");
        ObjectNode metrics = JSON.createObjectNode();
        metrics.put("schema_version", 1);
        metrics.put("scenario", scenario.path("name").asText());
        metrics.put("variant", "live");
        metrics.put("seed", scenario.path("seed").asLong(1));
        metrics.put("duration_ms", durationMs);
        metrics.put("source", "real Kafka 4.1.0 on loopback");
        metrics.set("producer", ProducerRunner.producerMetrics(producers));
        for (ProducerRunner producer : producers) {
            producer.stop();
        }
        for (GroupRunner group : groups) {
            group.killAll();
        }
        Map<Long, Integer> finalLog = readFinalLog();
        ObjectNode latency = metrics.putObject("latency_ms");
        List<Double> produce = new ArrayList<>();
        for (ProducerRunner producer : producers) {
            produce.addAll(producer.produceLatenciesMs());
        }
        latency.set("produce", percentiles(produce));
        List<Double> e2e = new ArrayList<>();
        for (GroupRunner group : groups) {
            e2e.addAll(group.endToEndMs(endMicros));
        }
        latency.set("end_to_end", percentiles(e2e));
        ObjectNode delivery = metrics.putObject("delivery");
        long sent = 0;
        long acked = 0;
        long failed = 0;
        long lost = 0;
        for (ProducerRunner producer : producers) {
            sent += producer.sent();
            acked += producer.acked().size();
            failed += producer.failed();
            for (long id : producer.acked()) {
                if (!finalLog.containsKey(id)) {
                    lost++;
                }
            }
        }
        long duplicatesInLog = 0;
        for (int copies : finalLog.values()) {
            duplicatesInLog += copies - 1;
        }
        long duplicatesProcessed = 0;
        for (GroupRunner group : groups) {
            duplicatesProcessed += group.duplicatesProcessed(endMicros);
        }
        delivery.put("sent", sent);
        delivery.put("acked", acked);
        delivery.put("failed", failed);
        delivery.put("duplicates_processed", duplicatesProcessed);
        delivery.put("lost_acked", lost);
        delivery.put("duplicates_in_log", duplicatesInLog);
        delivery.put("reordered", reordered());
        ObjectNode groupsNode = metrics.putObject("groups");
        for (GroupRunner group : groups) {
            groupsNode.set(group.groupId, group.toJson(t0Micros, endMicros));
        }
        return metrics;
    }

    /**
     * Warms the JIT of the brokers and of this JVM's client code before the measured run: a cold
     * broker answers its first thousands of requests many times slower than a warm one.
     */
    private void warmUp() throws Exception {
        long warmupMs = Long.parseLong(System.getProperty("live.warmup.ms", "8000"));
        if (warmupMs <= 0) {
            return;
        }
        String topic = "kafkasim-live-warmup";
        int brokers = scenario.path("cluster").path("brokers").asInt(1);
        Properties admin = new Properties();
        admin.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
        try (Admin client = Admin.create(admin)) {
            client.createTopics(List.of(new NewTopic(topic, brokers * 2, (short) Math.min(3, brokers)))).all()
                    .get(60, TimeUnit.SECONDS);
        }
        ObjectNode spec = JSON.createObjectNode();
        spec.put("name", "warmup");
        spec.put("topic", topic);
        spec.put("rate_per_sec", 3000);
        spec.put("arrivals", "poisson");
        spec.putObject("record_bytes").put("dist", "fixed").put("value", 512);
        spec.putObject("config").put("linger.ms", 1).put("acks", "all");
        ProducerRunner warm = new ProducerRunner(spec, 0, 1000, cluster.bootstrap(), 7, new long[] {0, warmupMs});
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", cluster.bootstrap());
        p.setProperty("group.id", "kafkasim-live-warmup");
        p.setProperty("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        p.setProperty("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        p.setProperty("group.protocol", "classic");
        long start = System.currentTimeMillis();
        warm.start(Member.micros());
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            consumer.subscribe(List.of(topic));
            while (System.currentTimeMillis() - start < warmupMs) {
                consumer.poll(Duration.ofMillis(100));
            }
        }
        warm.stop();
        log("warm-up: " + warm.sent() + " records in " + (System.currentTimeMillis() - start) + " ms");
    }

    private int countJoins(JsonNode group) {
        int joins = 0;
        for (JsonNode action : scenario.path("timeline")) {
            if (action.path("action").asText().equals("consumer-join")
                    && action.path("group").asText().equals(group.path("group.id").asText())) {
                joins++;
            }
        }
        return joins;
    }

    /** [start_ms, stop_ms) of one producer instance from its producer-start / producer-stop actions. */
    private long[] timelineWindow(String producer, int instance) {
        long start = 0;
        long stop = Long.MAX_VALUE;
        boolean first = true;
        List<JsonNode> timeline = new ArrayList<>();
        scenario.path("timeline").forEach(timeline::add);
        timeline.sort((a, b) -> Long.compare(a.path("at_ms").asLong(), b.path("at_ms").asLong()));
        for (JsonNode action : timeline) {
            String kind = action.path("action").asText();
            if (!kind.startsWith("producer-") || !action.path("producer").asText().equals(producer)) {
                continue;
            }
            if (action.has("instance") && action.path("instance").asInt() != instance) {
                continue;
            }
            if (kind.equals("producer-start") && first) {
                start = action.path("at_ms").asLong();
            } else if (kind.equals("producer-stop")) {
                stop = Math.min(stop, action.path("at_ms").asLong());
            }
            first = false;
        }
        return new long[] {start, stop};
    }

    private void createTopics() throws Exception {
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, cluster.bootstrap());
        try (Admin admin = Admin.create(p)) {
            List<NewTopic> topics = new ArrayList<>();
            List<String> names = new ArrayList<>();
            for (JsonNode topic : scenario.path("topics")) {
                NewTopic t = new NewTopic(topic.path("name").asText(), topic.path("partitions").asInt(1),
                        (short) topic.path("replication.factor").asInt(1));
                t.configs(configOf(topic.get("config")));
                topics.add(t);
                names.add(topic.path("name").asText());
            }
            admin.createTopics(topics).all().get(60, TimeUnit.SECONDS);
            // Wait until every partition has a leader and a full ISR.
            long deadline = System.currentTimeMillis() + 60_000;
            while (true) {
                boolean ready = true;
                try {
                    Map<String, TopicDescription> described = admin.describeTopics(names).allTopicNames().get(30,
                            TimeUnit.SECONDS);
                    for (TopicDescription d : described.values()) {
                        for (TopicPartitionInfo info : d.partitions()) {
                            ready &= info.leader() != null && info.isr().size() == info.replicas().size();
                        }
                    }
                } catch (java.util.concurrent.ExecutionException e) {
                    // The broker that answered has not seen the new topic in its metadata yet.
                    ready = false;
                }
                if (ready) {
                    break;
                }
                if (System.currentTimeMillis() > deadline) {
                    throw new IllegalStateException("topics not ready within 60 s");
                }
                Thread.sleep(100);
            }
        }
    }

    private void perform(JsonNode action) throws Exception {
        String kind = action.path("action").asText();
        log("timeline: " + action);
        switch (kind) {
            case "consumer-join":
            case "consumer-leave":
            case "consumer-crash":
            case "consumer-restart": {
                for (GroupRunner group : groups) {
                    if (group.groupId.equals(action.path("group").asText())) {
                        group.perform(kind, action.path("member").asInt(-1));
                    }
                }
                break;
            }
            case "broker-crash":
                cluster.kill(action.path("broker").asInt());
                break;
            case "broker-restart":
                cluster.startNode(action.path("broker").asInt());
                break;
            case "producer-start":
            case "producer-stop":
                break; // Each producer thread keeps its own window.
            default:
                log("timeline action " + kind + " cannot be done on the real cluster: skipped");
        }
    }

    static void sleepUntil(long epochMicros) {
        while (true) {
            long left = epochMicros - Member.micros();
            if (left <= 0) {
                return;
            }
            LockSupport.parkNanos(Math.min(left, 100_000) * 1000);
        }
    }

    /** Reads every partition of every topic from the start: record id -> copies in the log. */
    private Map<Long, Integer> readFinalLog() {
        Map<Long, Integer> ids = new TreeMap<>();
        logOrder.clear();
        Properties p = new Properties();
        p.setProperty("bootstrap.servers", cluster.bootstrap());
        p.setProperty("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        p.setProperty("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
        p.setProperty("enable.auto.commit", "false");
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> all = new ArrayList<>();
            for (JsonNode topic : scenario.path("topics")) {
                for (int i = 0; i < topic.path("partitions").asInt(1); i++) {
                    all.add(new TopicPartition(topic.path("name").asText(), i));
                }
            }
            consumer.assign(all);
            consumer.seekToBeginning(all);
            Map<TopicPartition, Long> end = consumer.endOffsets(all, Duration.ofSeconds(30));
            long deadline = System.currentTimeMillis() + 60_000;
            while (System.currentTimeMillis() < deadline) {
                boolean done = true;
                for (TopicPartition tp : all) {
                    done &= consumer.position(tp, Duration.ofSeconds(10)) >= end.get(tp);
                }
                if (done) {
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> record : consumer.poll(Duration.ofMillis(500))) {
                    if (record.value() != null && record.value().length >= 8) {
                        long id = ByteBuffer.wrap(record.value()).getLong(0);
                        ids.merge(id, 1, Integer::sum);
                        logOrder.computeIfAbsent(record.topic() + "-" + record.partition(), k -> new ArrayList<>())
                                .add(id);
                    }
                }
            }
        }
        return ids;
    }

    /**
     * kafkasim's `reordered`: records that appear in a partition log before a record the same
     * producer sent earlier (ids carry the producer instance in their high bits and the send order
     * in the low 40).
     */
    private long reordered() {
        long count = 0;
        for (List<Long> order : logOrder.values()) {
            Map<Long, Long> minSeqAfter = new TreeMap<>();
            for (int i = order.size() - 1; i >= 0; i--) {
                long producer = order.get(i) >>> 40;
                long seq = order.get(i) & ((1L << 40) - 1);
                Long min = minSeqAfter.get(producer);
                if (min != null && min < seq) {
                    count++;
                } else {
                    minSeqAfter.put(producer, seq);
                }
            }
        }
        return count;
    }

    static ObjectNode percentiles(List<Double> values) {
        ObjectNode node = JSON.createObjectNode();
        if (values.isEmpty()) {
            return node;
        }
        Collections.sort(values);
        node.put("p50", round3(at(values, 0.50)));
        node.put("p99", round3(at(values, 0.99)));
        node.put("p999", round3(at(values, 0.999)));
        node.put("max", round3(values.get(values.size() - 1)));
        return node;
    }

    private static double at(List<Double> sorted, double q) {
        int index = (int) Math.ceil(q * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
    }

    static double round3(double value) {
        return Math.round(value * 1000.0) / 1000.0;
    }

    private void shutDown() {
        for (ProducerRunner producer : producers) {
            producer.stop();
        }
        for (GroupRunner group : groups) {
            group.killAll();
        }
        if (cluster != null) {
            cluster.stop();
        }
        log("cluster stopped");
    }

    private void killEverything() {
        for (GroupRunner group : groups) {
            group.killAll();
        }
        if (cluster != null) {
            cluster.killAll();
        }
    }
}

package kafkasim.live;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;

/**
 * One producer instance of the scenario: a real KafkaProducer fed by one thread at the scenario's
 * rate. Each value starts with the record's id (8 bytes) and its creation time (epoch µs, 8 bytes),
 * so consumers measure end-to-end latency and the final log scan finds lost records.
 */
final class ProducerRunner {
    private final JsonNode spec;
    private final String topic;
    private final int globalIndex;
    private final long startMs;
    private final long stopMs;
    private final KafkaProducer<byte[], byte[]> producer;
    private final Random random;
    private final Set<Long> acked = ConcurrentHashMap.newKeySet();
    private final List<Double> produceLatencyMs = Collections.synchronizedList(new ArrayList<>());
    private final AtomicLong sent = new AtomicLong();
    private final AtomicLong failed = new AtomicLong();
    private volatile boolean stopping;
    private Thread thread;
    private boolean closed;

    ProducerRunner(JsonNode spec, int instance, int globalIndex, String bootstrap, long seed, long[] window) {
        this.spec = spec;
        this.topic = spec.path("topic").asText();
        this.globalIndex = globalIndex;
        this.startMs = window[0];
        this.stopMs = window[1];
        this.random = new Random(seed * 1_000_003L + globalIndex);
        Properties p = new Properties();
        p.putAll(Live.configOf(spec.get("config")));
        p.setProperty("bootstrap.servers", bootstrap);
        p.setProperty("client.id", spec.path("name").asText() + "-" + instance);
        p.setProperty("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        p.setProperty("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
        // One sample window longer than the run: the *-avg metrics then average the whole run, as
        // kafkasim's do, instead of Kafka's default last 30-60 s.
        p.setProperty("metrics.sample.window.ms", "3600000");
        this.producer = new KafkaProducer<>(p);
    }

    private double sample(JsonNode dist) {
        String kind = dist.path("dist").asText("fixed");
        switch (kind) {
            case "uniform":
                return dist.path("min").asDouble() + random.nextDouble() * (dist.path("max").asDouble()
                        - dist.path("min").asDouble());
            case "exponential":
                return -Math.log(1.0 - random.nextDouble()) * dist.path("mean").asDouble();
            case "lognormal": {
                double mu = Math.log(dist.path("p50").asDouble());
                double sigma = (Math.log(dist.path("p99").asDouble()) - mu) / 2.326347874;
                return Math.exp(mu + sigma * random.nextGaussian());
            }
            default:
                return dist.path("value").asDouble();
        }
    }

    void start(long t0Micros) {
        thread = new Thread(() -> loop(t0Micros), "producer-" + globalIndex);
        thread.setDaemon(true);
        thread.start();
    }

    private void loop(long t0Micros) {
        double rate = spec.path("rate_per_sec").asDouble();
        double gapMicros = 1_000_000.0 / rate;
        boolean poisson = spec.path("arrivals").asText("poisson").equals("poisson");
        JsonNode keys = spec.get("keys");
        long keyCount = keys == null || keys.isNull() ? 0 : keys.path("count").asLong();
        int keyBytes = spec.path("key_bytes").asInt(16);
        double next = startMs * 1000.0;
        for (long k = 0; !stopping; k++) {
            if (poisson) {
                next += -Math.log(1.0 - random.nextDouble()) * gapMicros;
            } else {
                next = startMs * 1000.0 + k * gapMicros;
            }
            if (next >= stopMs * 1000.0) {
                return;
            }
            long created = t0Micros + (long) next;
            Live.sleepUntil(created);
            int size = Math.max(16, (int) Math.round(sample(spec.path("record_bytes"))));
            byte[] value = new byte[size];
            long id = ((long) globalIndex << 40) | k;
            ByteBuffer.wrap(value).putLong(id).putLong(created);
            byte[] key = null;
            if (keyCount > 0) {
                long index = (long) (random.nextDouble() * keyCount);
                String text = String.format("%0" + keyBytes + "d", index);
                key = text.getBytes(StandardCharsets.UTF_8);
            }
            sent.incrementAndGet();
            producer.send(new ProducerRecord<>(topic, null, created / 1000, key, value), (metadata, error) -> {
                if (error == null) {
                    acked.add(id);
                    produceLatencyMs.add((Member.micros() - created) / 1000.0);
                } else {
                    failed.incrementAndGet();
                }
            });
        }
    }

    long sent() {
        return sent.get();
    }

    long failed() {
        return failed.get();
    }

    Set<Long> acked() {
        return acked;
    }

    List<Double> produceLatenciesMs() {
        synchronized (produceLatencyMs) {
            return new ArrayList<>(produceLatencyMs);
        }
    }

    private double metric(String name) {
        for (Map.Entry<MetricName, ? extends Metric> e : producer.metrics().entrySet()) {
            if (e.getKey().name().equals(name) && e.getKey().group().equals("producer-metrics")) {
                Object value = e.getValue().metricValue();
                if (value instanceof Number) {
                    double v = ((Number) value).doubleValue();
                    return Double.isNaN(v) ? 0.0 : v;
                }
            }
        }
        return 0.0;
    }

    synchronized void stop() {
        if (closed) {
            return;
        }
        closed = true;
        stopping = true;
        if (thread != null) {
            try {
                thread.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        producer.close(Duration.ofSeconds(5));
    }

    /** The producer section of metrics.json: Kafka's own producer metrics, weighted by records sent. */
    static ObjectNode producerMetrics(List<ProducerRunner> producers) {
        ObjectNode node = Live.JSON.createObjectNode();
        String[] averages = {"batch-size-avg", "records-per-request-avg", "record-queue-time-avg", "request-latency-avg"};
        double total = 0;
        double retries = 0;
        double errors = 0;
        double[] weighted = new double[averages.length];
        for (ProducerRunner p : producers) {
            double records = p.metric("record-send-total");
            total += records;
            retries += p.metric("record-retry-total");
            errors += p.metric("record-error-total");
            for (int i = 0; i < averages.length; i++) {
                weighted[i] += records * p.metric(averages[i]);
            }
        }
        node.put("record-send-total", (long) total);
        node.put("record-error-total", (long) errors);
        node.put("record-retry-total", (long) retries);
        for (int i = 0; i < averages.length; i++) {
            node.put(averages[i], Live.round3(total == 0 ? 0.0 : weighted[i] / total));
        }
        return node;
    }
}

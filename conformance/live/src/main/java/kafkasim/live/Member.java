package kafkasim.live;

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;

/**
 * One consumer group member in its own JVM, so that a crash is a real process kill (no LeaveGroup,
 * no heartbeat thread left behind). The driver talks to it over stdin (commands: start, close,
 * restart) and reads one event per stdout line:
 *
 * <pre>
 * READY
 * A gen epochMicros assignment                    onPartitionsAssigned (the whole assignment after it)
 * R gen epochMicros partitions                    onPartitionsRevoked during a rebalance
 * C gen epochMicros partitions                    onPartitionsRevoked while closing
 * L gen epochMicros partitions                    onPartitionsLost
 * P partition offset createdMicros doneMicros     one record processed
 * CLOSED
 * </pre>
 *
 * Arguments: consumer.properties topic processingMicrosPerRecord commit
 * (commit: auto | sync-after-poll | async-after-poll | before-processing).
 */
public final class Member {
    private static final PrintStream OUT =
            new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);

    static long micros() {
        java.time.Instant now = java.time.Instant.now();
        return now.getEpochSecond() * 1_000_000L + now.getNano() / 1000L;
    }

    private static synchronized void emit(String line) {
        OUT.println(line);
        OUT.flush();
    }

    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        try (FileInputStream in = new FileInputStream(args[0])) {
            props.load(in);
        }
        String topic = args[1];
        long processingNanos = (long) (Double.parseDouble(args[2]) * 1000.0);
        String commit = args[3];
        AtomicReference<String> command = new AtomicReference<>(null);
        BufferedReader stdin = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        // Load the client's classes and connect before the driver's go, so a join at time t
        // is not delayed by JVM warm-up.
        KafkaConsumer<byte[], byte[]> warm = new KafkaConsumer<>(props);
        warm.partitionsFor(topic, Duration.ofSeconds(60));
        emit("READY");
        // Wait for the driver's go: the JVM starts well before the scenario's join time.
        String first = stdin.readLine();
        if (first == null || !first.equals("start")) {
            return;
        }
        AtomicReference<KafkaConsumer<byte[], byte[]>> current = new AtomicReference<>();
        Thread reader = new Thread(() -> {
            try {
                String line;
                while ((line = stdin.readLine()) != null) {
                    command.set(line.trim());
                    KafkaConsumer<byte[], byte[]> c = current.get();
                    if (c != null) {
                        c.wakeup();
                    }
                }
            } catch (Exception e) {
                // The driver went away: the poll loop ends at its next command check.
            }
        }, "stdin");
        reader.setDaemon(true);
        reader.start();
        boolean running = true;
        while (running) {
            running = runOnce(warm, props, topic, processingNanos, commit, command, current);
            warm = null;
        }
        emit("CLOSED");
        System.exit(0);
    }

    /** Runs one consumer until close or restart; returns true to start another. */
    private static boolean runOnce(KafkaConsumer<byte[], byte[]> made, Properties props, String topic, long processingNanos, String commit,
            AtomicReference<String> command, AtomicReference<KafkaConsumer<byte[], byte[]>> current) {
        KafkaConsumer<byte[], byte[]> consumer = made != null ? made : new KafkaConsumer<>(props);
        current.set(consumer);
        boolean[] closing = {false};
        consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty()) {
                    emit((closing[0] ? "C " : "R ") + consumer.groupMetadata().generationId() + " " + micros() + " "
                            + list(partitions));
                }
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                emit("A " + consumer.groupMetadata().generationId() + " " + micros() + " "
                        + list(consumer.assignment()));
            }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> partitions) {
                if (!partitions.isEmpty()) {
                    emit("L " + consumer.groupMetadata().generationId() + " " + micros() + " " + list(partitions));
                }
            }
        });
        String seen = command.get();
        while (seen == null) {
            try {
                pollOnce(consumer, processingNanos, commit);
            } catch (WakeupException e) {
                // A command arrived: handled below.
            }
            seen = command.get();
        }
        command.set(null);
        closing[0] = true;
        consumer.close();
        current.set(null);
        return "restart".equals(seen);
    }

    /** Partition numbers joined by commas ("-" when empty); the group reads one topic. */
    private static String list(Collection<TopicPartition> partitions) {
        if (partitions.isEmpty()) {
            return "-";
        }
        StringBuilder out = new StringBuilder();
        for (TopicPartition tp : partitions) {
            if (out.length() > 0) {
                out.append(',');
            }
            out.append(tp.partition());
        }
        return out.toString();
    }

    private static void pollOnce(KafkaConsumer<byte[], byte[]> consumer, long processingNanos, String commit) {
            ConsumerRecords<byte[], byte[]> records = consumer.poll(Duration.ofMillis(100));
            if (commit.equals("before-processing") && !records.isEmpty()) {
                consumer.commitSync();
            }
            for (ConsumerRecord<byte[], byte[]> record : records) {
                if (processingNanos > 0) {
                    long until = System.nanoTime() + processingNanos;
                    LockSupport.parkNanos(processingNanos);
                    while (System.nanoTime() < until) {
                        Thread.onSpinWait();
                    }
                }
                long created = record.value().length >= 16 ? ByteBuffer.wrap(record.value()).getLong(8) : 0L;
                emit("P " + record.partition() + " " + record.offset() + " " + created + " " + micros());
            }
            if (!records.isEmpty()) {
                if (commit.equals("sync-after-poll")) {
                    consumer.commitSync();
                } else if (commit.equals("async-after-poll")) {
                    consumer.commitAsync();
                }
            }
    }
}

package kafkasim.conformance;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * Runs Kafka's own assignors on kafkasim's conformance inputs and writes Kafka's answers.
 *
 * Usage: {@code Harness VECTORS_DIR OUT_DIR}. Reads {@code VECTORS_DIR/kafka-tests.json} (cases
 * transcribed from Kafka's unit tests), adds the seeded generated cases of {@link Generator}, and
 * writes one {@code OUT_DIR/<assignor>.jsonl} per assignor: one line per case holding the input
 * and Kafka's expected assignment. Partition lists are written compactly ("0-3,7") to keep the
 * committed files small.
 */
public final class Harness {
    static final String[] ASSIGNORS = {
        "range", "roundrobin", "sticky", "cooperative-sticky", "uniform", "server-range"
    };
    /** Overridable with -Dkafkasim.cases=N for local stress runs; the committed vectors use 2000. */
    static final int GENERATED_CASES_PER_ASSIGNOR = Integer.getInteger("kafkasim.cases", 2000);
    /** -Dkafkasim.trace=true prints each generated input before Kafka runs it (to find hangs). */
    static final boolean TRACE = Boolean.getBoolean("kafkasim.trace");
    /** Overridable with -Dkafkasim.seed=S for local stress runs. */
    static final long SEED = Long.getLong("kafkasim.seed", 0x6b61666b6173696dL);

    private Harness() { }

    public static void main(String[] args) throws IOException {
        if (args.length != 2) {
            System.err.println("usage: Harness VECTORS_DIR OUT_DIR");
            System.exit(2);
        }
        Path vectors = Path.of(args[0]);
        Path out = Path.of(args[1]);
        Files.createDirectories(out);
        ObjectMapper mapper = new ObjectMapper();
        JsonNode handWritten = mapper.readTree(vectors.resolve("kafka-tests.json").toFile());
        String only = System.getProperty("kafkasim.only");
        for (int index = 0; index < ASSIGNORS.length; index++) {
            String assignor = ASSIGNORS[index];
            if (only != null && !only.equals(assignor)) {
                continue;
            }
            List<String> lines = new ArrayList<>();
            for (JsonNode testCase : handWritten) {
                if (!appliesTo(testCase, assignor)) {
                    continue;
                }
                Case input = Case.fromJson(testCase.get("input"));
                lines.add(line(mapper, "kafka:" + testCase.get("name").asText(), assignor, input));
            }
            Generator generator = new Generator(assignor, SEED + index);
            int generated = 0;
            while (generated < GENERATED_CASES_PER_ASSIGNOR) {
                for (Generator.Round round : generator.nextScenario(GENERATED_CASES_PER_ASSIGNOR - generated)) {
                    lines.add(line(mapper, round.name, assignor, round.input));
                    generated++;
                }
            }
            try (Writer writer = Files.newBufferedWriter(out.resolve(assignor + ".jsonl"), StandardCharsets.UTF_8)) {
                for (String line : lines) {
                    writer.write(line);
                    writer.write('\n');
                }
            }
        }
    }

    private static boolean appliesTo(JsonNode testCase, String assignor) {
        for (JsonNode name : testCase.get("assignors")) {
            if (name.asText().equals(assignor)) {
                return true;
            }
        }
        return false;
    }

    private static String line(ObjectMapper mapper, String name, String assignor, Case input) throws IOException {
        ObjectNode root = mapper.createObjectNode();
        root.put("name", name);
        root.set("input", input.toJson(mapper, assignor));
        try {
            Map<String, Map<String, List<Integer>>> expected = KafkaAssignors.runBounded(assignor, input);
            ObjectNode members = mapper.createObjectNode();
            for (Map.Entry<String, Map<String, List<Integer>>> member : new TreeMap<>(expected).entrySet()) {
                ObjectNode topics = mapper.createObjectNode();
                for (Map.Entry<String, List<Integer>> topic : new TreeMap<>(member.getValue()).entrySet()) {
                    if (!topic.getValue().isEmpty()) {
                        topics.put(topic.getKey(), Case.compact(topic.getValue()));
                    }
                }
                members.set(member.getKey(), topics);
            }
            root.set("expected", members);
        } catch (RuntimeException error) {
            // Kafka refuses some inputs (IllegalStateException in edge cases); record that instead.
            root.put("error", error.getClass().getSimpleName() + ": " + error.getMessage());
        }
        return mapper.writeValueAsString(root);
    }

    static ArrayNode array(ObjectMapper mapper, Iterator<String> values) {
        ArrayNode array = mapper.createArrayNode();
        values.forEachRemaining(array::add);
        return array;
    }
}

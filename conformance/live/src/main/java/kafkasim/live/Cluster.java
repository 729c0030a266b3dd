package kafkasim.live;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;

/**
 * A real Kafka cluster in KRaft mode on loopback, one JVM per node, so that a broker crash is a
 * process kill. One broker: a combined broker/controller (node 0). More: a dedicated controller
 * (node 1000, like kafkasim's separate controller) and brokers 0..n-1.
 */
final class Cluster {
    static final int CONTROLLER_ID = 1000;

    private final File dir;
    private final int brokers;
    private final Map<String, String> brokerConfig;
    private final Map<Integer, File> propsFiles = new TreeMap<>();
    private final Map<Integer, Process> processes = new TreeMap<>();
    private final List<Integer> brokerPorts = new ArrayList<>();
    private final String javaBin;
    private final String classPath;

    Cluster(File dir, int brokers, Map<String, String> brokerConfig) {
        this.dir = dir;
        this.brokers = brokers;
        this.brokerConfig = brokerConfig;
        this.javaBin = System.getProperty("java.home") + File.separator + "bin" + File.separator + "java";
        this.classPath = System.getProperty("java.class.path");
    }

    String bootstrap() {
        StringBuilder out = new StringBuilder();
        for (int port : brokerPorts) {
            if (out.length() > 0) {
                out.append(',');
            }
            out.append("127.0.0.1:").append(port);
        }
        return out.toString();
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Writes every node's server.properties, formats its storage and starts it. */
    void start() throws Exception {
        boolean combined = brokers == 1;
        int controllerPort = freePort();
        int controllerId = combined ? 0 : CONTROLLER_ID;
        String voters = controllerId + "@127.0.0.1:" + controllerPort;
        for (int b = 0; b < brokers; b++) {
            brokerPorts.add(freePort());
        }
        List<Integer> nodes = new ArrayList<>();
        if (!combined) {
            nodes.add(CONTROLLER_ID);
        }
        for (int b = 0; b < brokers; b++) {
            nodes.add(b);
        }
        String clusterId = Uuid.randomUuid().toString();
        for (int node : nodes) {
            File nodeDir = new File(dir, "node-" + node);
            Files.createDirectories(new File(nodeDir, "data").toPath());
            Properties p = new Properties();
            boolean isController = node == controllerId;
            boolean isBroker = node != CONTROLLER_ID;
            p.setProperty("node.id", Integer.toString(node));
            p.setProperty("process.roles", isBroker && isController ? "broker,controller" : isBroker ? "broker" : "controller");
            p.setProperty("controller.quorum.voters", voters);
            p.setProperty("controller.listener.names", "CONTROLLER");
            p.setProperty("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
            List<String> listeners = new ArrayList<>();
            if (isBroker) {
                listeners.add("PLAINTEXT://127.0.0.1:" + brokerPorts.get(node));
                p.setProperty("advertised.listeners", "PLAINTEXT://127.0.0.1:" + brokerPorts.get(node));
                p.setProperty("inter.broker.listener.name", "PLAINTEXT");
            }
            if (isController) {
                listeners.add("CONTROLLER://127.0.0.1:" + controllerPort);
            }
            p.setProperty("listeners", String.join(",", listeners));
            p.setProperty("log.dirs", new File(nodeDir, "data").getAbsolutePath());
            // A 2-core machine: few threads per node.
            p.setProperty("num.network.threads", "1");
            p.setProperty("num.io.threads", "2");
            p.setProperty("num.replica.fetchers", "1");
            p.setProperty("background.threads", "2");
            p.setProperty("log.cleaner.enable", "false");
            int rf = Math.min(3, brokers);
            p.setProperty("offsets.topic.replication.factor", Integer.toString(rf));
            p.setProperty("offsets.topic.num.partitions", "1");
            p.setProperty("transaction.state.log.replication.factor", Integer.toString(rf));
            p.setProperty("transaction.state.log.min.isr", "1");
            p.setProperty("auto.create.topics.enable", "false");
            for (Map.Entry<String, String> e : brokerConfig.entrySet()) {
                p.setProperty(e.getKey(), e.getValue());
            }
            File props = new File(nodeDir, "server.properties");
            try (FileOutputStream out = new FileOutputStream(props)) {
                p.store(out, "kafkasim live harness");
            }
            propsFiles.put(node, props);
            PrintStream log = new PrintStream(new FileOutputStream(new File(nodeDir, "format.log")), true,
                    StandardCharsets.UTF_8);
            int rc = kafka.tools.StorageTool.execute(
                    new String[] {"format", "-t", clusterId, "-c", props.getAbsolutePath()}, log);
            log.close();
            if (rc != 0) {
                throw new IllegalStateException("formatting node " + node + " failed: see " + nodeDir + "/format.log");
            }
        }
        for (int node : nodes) {
            startNode(node);
        }
        waitForBrokers(brokers, 120_000);
    }

    /** Starts (or restarts) one node's JVM. */
    synchronized void startNode(int node) throws IOException {
        File nodeDir = propsFiles.get(node).getParentFile();
        ProcessBuilder pb = new ProcessBuilder(javaBin, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC",
                "-XX:CICompilerCount=2", "-Djava.awt.headless=true", "-cp", classPath, "kafka.Kafka",
                propsFiles.get(node).getAbsolutePath());
        pb.redirectErrorStream(true);
        pb.redirectOutput(ProcessBuilder.Redirect.appendTo(new File(nodeDir, "server.log")));
        Process process = pb.start();
        processes.put(node, process);
        Files.writeString(new File(dir, "node-" + node + ".pid").toPath(), Long.toString(process.pid()));
        Live.log("node " + node + " started (pid " + process.pid() + ")");
    }

    /** A process crash: SIGKILL, no controlled shutdown. */
    synchronized void kill(int node) throws InterruptedException {
        Process process = processes.remove(node);
        if (process != null) {
            process.destroyForcibly();
            process.waitFor(30, TimeUnit.SECONDS);
            Live.log("node " + node + " killed");
        }
    }

    boolean isController(int node) {
        return node == CONTROLLER_ID;
    }

    private void waitForBrokers(int count, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        Properties p = new Properties();
        p.setProperty(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap());
        try (Admin admin = Admin.create(p)) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    int seen = admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).size();
                    if (seen >= count) {
                        return;
                    }
                } catch (Exception e) {
                    // Not up yet.
                }
                for (Map.Entry<Integer, Process> e : processes.entrySet()) {
                    if (!e.getValue().isAlive()) {
                        throw new IllegalStateException("node " + e.getKey() + " exited: see " + dir + "/node-"
                                + e.getKey() + "/server.log");
                    }
                }
                Thread.sleep(200);
            }
        }
        throw new IllegalStateException("the cluster did not come up within " + timeoutMs + " ms");
    }

    /**
     * Stops every node: SIGTERM (controlled shutdown), then SIGKILL for any still alive after 10 s
     * (brokers that all shut down at once wait for each other to take over their leaderships).
     */
    synchronized void stop() {
        // Brokers first, the controller last, so the brokers can shut down in a controlled way.
        List<Integer> order = new ArrayList<>(processes.keySet());
        order.sort((a, b) -> Boolean.compare(isController(a), isController(b)));
        for (int node : order) {
            processes.get(node).destroy();
        }
        for (int node : order) {
            Process process = processes.get(node);
            try {
                if (!process.waitFor(10, TimeUnit.SECONDS)) {
                    process.destroyForcibly();
                    process.waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                process.destroyForcibly();
            }
        }
        processes.clear();
    }

    /** For the shutdown hook: kill whatever is left. */
    synchronized void killAll() {
        for (Process process : processes.values()) {
            process.destroyForcibly();
        }
    }
}

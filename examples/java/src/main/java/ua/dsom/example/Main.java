package ua.dsom.example;

import java.io.File;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.generic.GenericRecordBuilder;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.Utils;

/**
 * A reference dsom client, written from docs/integration.md: sends every kind of event for one
 * source to its home partition, sends one record again, reads the receipts read_committed and
 * reconciles every event by (source_id, seq). Exits 1 on any mismatch.
 *
 * <p>Settings are environment variables (README.md): DSOM_BOOTSTRAP, DSOM_OPERATOR,
 * DSOM_KEYSTORE, DSOM_TRUSTSTORE, DSOM_STORE_PASSWORD, DSOM_LICENCE_ID, DSOM_SITE_ID, and
 * optionally DSOM_STORE_TYPE (PKCS12 or PEM), DSOM_PREFIX, DSOM_INGEST_PARTITIONS, DSOM_SCHEMAS, DSOM_SOURCE, DSOM_TIMEOUT_S.
 */
public final class Main {
    private static final long KOPECKS_PER_UAH = 100;

    /** What dsom must answer for one event: a status and, for a rejection, its reason. */
    record Expected(String status, String reason) {}

    /** One Kafka record we sent: where it landed, and the seqs it carried. */
    record Sent(int partition, long offset, List<Long> seqs) {}

    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        System.exit(run());
    }

    static String env(String name, String fallback) {
        String value = System.getenv(name);
        if (value != null && !value.isEmpty()) {
            return value;
        }
        if (fallback == null) {
            throw new IllegalArgumentException("set the environment variable " + name);
        }
        return fallback;
    }

    static int run() throws Exception {
        String bootstrap = env("DSOM_BOOTSTRAP", null);
        String operator = env("DSOM_OPERATOR", null);
        String prefix = env("DSOM_PREFIX", "dsom");
        int partitions = Integer.parseInt(env("DSOM_INGEST_PARTITIONS", "3"));
        File schemas = new File(env("DSOM_SCHEMAS", "../../schemas/avro"));
        String source = env("DSOM_SOURCE", "java-example-" + System.currentTimeMillis());
        String licence = env("DSOM_LICENCE_ID", null);
        String site = env("DSOM_SITE_ID", null);
        long timeoutMs = Long.parseLong(env("DSOM_TIMEOUT_S", "120")) * 1000;
        String ingest = prefix + ".ingest." + operator;
        String receiptsTopic = prefix + ".receipts." + operator;

        // Guide, step 5: parse Event first, EventBatch refers to it by name.
        Schema.Parser parser = new Schema.Parser();
        Schema event = parser.parse(new File(schemas, "ua.dsom.v1.Event.avsc"));
        Schema batchSchema = parser.parse(new File(schemas, "ua.dsom.v1.EventBatch.avsc"));
        Schema receiptSchema = new Schema.Parser().parse(new File(schemas, "ua.dsom.v1.ReceiptBatch.avsc"));
        System.out.printf("EventBatch fingerprint (Java parsingFingerprint64): 0x%016x%n",
                SchemaNormalization.parsingFingerprint64(batchSchema));
        BinaryMessageEncoder<GenericRecord> encoder = new BinaryMessageEncoder<>(GenericData.get(), batchSchema);
        BinaryMessageDecoder<GenericRecord> decoder = new BinaryMessageDecoder<>(GenericData.get(), receiptSchema);

        // Guide, step 6: every kind of event, and one that must be rejected.
        long now = System.currentTimeMillis() * 1000;
        String run = Long.toString(System.nanoTime(), 36);
        Map<Long, Expected> expected = new TreeMap<>();
        EventFactory f = new EventFactory(event, licence, site, now, run);
        List<GenericRecord> first = List.of(
                f.bet(1, "b1", 50 * KOPECKS_PER_UAH),
                f.win(2, "b1", 120 * KOPECKS_PER_UAH),
                f.bet(3, "b2", 200 * KOPECKS_PER_UAH),
                f.refund(4, "b2", 50 * KOPECKS_PER_UAH));
        List<GenericRecord> second = List.of(
                f.wallet(5, "DEPOSIT", 1000 * KOPECKS_PER_UAH),
                f.wallet(6, "WITHDRAWAL", 300 * KOPECKS_PER_UAH),
                f.win(7, "never-placed", 10 * KOPECKS_PER_UAH));
        for (long seq = 1; seq <= 6; seq++) {
            expected.put(seq, new Expected("ACCEPTED", null));
        }
        expected.put(7L, new Expected("REJECTED", "unknown_bet"));

        // Guide, step 4: the home partition, named explicitly.
        byte[] key = source.getBytes(StandardCharsets.UTF_8);
        int home = Utils.toPositive(Utils.murmur2(key)) % partitions;
        System.out.printf("source %s: home partition %d of %d%n", source, home, partitions);

        List<Sent> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(producerConfig(bootstrap))) {
            byte[] record1 = encode(encoder, batchSchema, operator, source, first);
            byte[] record2 = encode(encoder, batchSchema, operator, source, second);
            sent.add(send(producer, ingest, home, key, record1, first));
            sent.add(send(producer, ingest, home, key, record2, second));
            // Guide, step 8: a retry (as after a timeout) is the same bytes again: always safe.
            sent.add(send(producer, ingest, home, key, record1, first));
        }
        for (Sent s : sent) {
            System.out.printf("sent %d events to %s[%d] at offset %d%n", s.seqs().size(), ingest, s.partition(), s.offset());
        }

        // Guide, step 8: read receipts read_committed in our own group, until every event is decided.
        // Not until every record is answered: a retry whose events were all decided gets no receipt.
        Map<Long, List<String>> decisions = new TreeMap<>();
        Map<Long, Integer> duplicates = new HashMap<>();
        Map<String, Sent> records = new LinkedHashMap<>();
        for (Sent s : sent) {
            records.put(s.partition() + "/" + s.offset(), s);
        }
        int answered = 0;
        String group = prefix + ".operator." + operator + ".java-example";
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(consumerConfig(bootstrap, group))) {
            consumer.subscribe(List.of(receiptsTopic));
            long deadline = System.currentTimeMillis() + timeoutMs;
            while (!decisions.keySet().containsAll(expected.keySet()) && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> msg : consumer.poll(Duration.ofMillis(500))) {
                    GenericRecord batch = decoder.decode(msg.value());
                    String answers = batch.get("ingest_partition") + "/" + batch.get("ingest_offset");
                    if (!ingest.equals(batch.get("ingest_topic").toString()) || !records.containsKey(answers)) {
                        continue; // a receipt for a record of another run or another sender
                    }
                    answered++;
                    for (Object o : (List<?>) batch.get("receipts")) {
                        GenericRecord r = (GenericRecord) o;
                        String status = r.get("status").toString();
                        Object seqField = r.get("seq");
                        if (seqField == null) { // a record rejected whole: every event in it shares the fate
                            System.out.printf("record %s rejected whole: %s %s%n", answers, r.get("reason"), r.get("detail"));
                            for (Long seq : records.get(answers).seqs()) {
                                decisions.computeIfAbsent(seq, k -> new ArrayList<>()).add("REJECTED:" + r.get("reason"));
                            }
                            continue;
                        }
                        long seq = (Long) seqField;
                        if (status.equals("DUPLICATE")) { // already received: the first receipt stands
                            duplicates.merge(seq, 1, Integer::sum);
                            continue;
                        }
                        Object reason = r.get("reason");
                        decisions.computeIfAbsent(seq, k -> new ArrayList<>())
                                .add(status + (reason == null ? "" : ":" + reason));
                        System.out.printf("seq %d: %s %s%s%n", seq, status, r.get("receipt_id"),
                                reason == null ? "" : " " + reason + " (" + r.get("detail") + ")");
                    }
                }
            }
            consumer.commitSync();
        }

        // Guide, step 8.4: exactly one decision per (source_id, seq), the one expected.
        List<String> mismatches = new ArrayList<>();
        for (Map.Entry<Long, Expected> e : expected.entrySet()) {
            Expected want = e.getValue();
            String wanted = want.status() + (want.reason() == null ? "" : ":" + want.reason());
            List<String> got = decisions.getOrDefault(e.getKey(), List.of());
            if (got.isEmpty()) {
                mismatches.add("seq " + e.getKey() + ": no receipt within the timeout (not decided yet: send it again)");
            } else if (!got.equals(List.of(wanted))) {
                mismatches.add("seq " + e.getKey() + ": expected " + wanted + ", got " + got);
            }
        }
        for (Long seq : decisions.keySet()) {
            if (!expected.containsKey(seq)) {
                mismatches.add("seq " + seq + ": a receipt for an event never sent");
            }
        }
        for (String m : mismatches) {
            System.out.println("MISMATCH " + m);
        }
        long accepted = decisions.values().stream().filter(d -> d.equals(List.of("ACCEPTED"))).count();
        System.out.printf("reconciled %d events of source %s: %d accepted, %d rejected, %d duplicate receipts, "
                        + "%d of %d records answered, %d mismatches%n", expected.size(), source, accepted,
                decisions.size() - accepted, duplicates.values().stream().mapToInt(Integer::intValue).sum(),
                answered, records.size(), mismatches.size());
        return mismatches.isEmpty() ? 0 : 1;
    }

    static byte[] encode(BinaryMessageEncoder<GenericRecord> encoder, Schema batchSchema, String operator,
                         String source, List<GenericRecord> events) throws IOException {
        GenericRecord batch = new GenericRecordBuilder(batchSchema)
                .set("operator_id", operator)
                .set("source_id", source)
                .set("sent_at_us", System.currentTimeMillis() * 1000)
                .set("events", events)
                .build();
        ByteBuffer buffer = encoder.encode(batch); // C3 01 + fingerprint (little-endian) + body
        byte[] bytes = new byte[buffer.remaining()];
        buffer.get(bytes);
        return bytes;
    }

    static Sent send(KafkaProducer<byte[], byte[]> producer, String topic, int partition, byte[] key,
                     byte[] value, List<GenericRecord> events) throws Exception {
        RecordMetadata meta = producer.send(new ProducerRecord<>(topic, partition, key, value)).get();
        List<Long> seqs = events.stream().map(e -> (Long) e.get("seq")).toList();
        return new Sent(meta.partition(), meta.offset(), seqs);
    }

    static Properties tls(String bootstrap) {
        // Guide, step 2: PKCS12 stores (or PEM: <key>.pem and ca.crt); the broker's host name is verified.
        String type = env("DSOM_STORE_TYPE", "PKCS12");
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("security.protocol", "SSL");
        p.put("ssl.endpoint.identification.algorithm", "https");
        p.put("ssl.keystore.type", type);
        p.put("ssl.keystore.location", env("DSOM_KEYSTORE", null));
        p.put("ssl.truststore.type", type);
        p.put("ssl.truststore.location", env("DSOM_TRUSTSTORE", null));
        if (type.equals("PKCS12")) {
            p.put("ssl.keystore.password", env("DSOM_STORE_PASSWORD", null));
            p.put("ssl.truststore.password", env("DSOM_STORE_PASSWORD", null));
        }
        return p;
    }

    static Properties producerConfig(String bootstrap) {
        Properties p = tls(bootstrap);
        p.put("key.serializer", ByteArraySerializer.class.getName());
        p.put("value.serializer", ByteArraySerializer.class.getName());
        p.put("enable.idempotence", "true");
        p.put("acks", "all");
        p.put("compression.type", "lz4");
        return p;
    }

    static Properties consumerConfig(String bootstrap, String group) {
        Properties p = tls(bootstrap);
        p.put("key.deserializer", ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", ByteArrayDeserializer.class.getName());
        p.put("group.id", group);
        p.put("isolation.level", "read_committed");
        p.put("auto.offset.reset", "earliest");
        p.put("enable.auto.commit", "false");
        return p;
    }

    /** Events of one online-casino source on a website, per the guide's step 6. */
    static final class EventFactory {
        private final Schema schema;
        private final String licence;
        private final String site;
        private final long now;
        private final String run;

        EventFactory(Schema schema, String licence, String site, long now, String run) {
            this.schema = schema;
            this.licence = licence;
            this.site = site;
            this.now = now;
            this.run = run;
        }

        private GenericRecordBuilder base(long seq, String kind, long amount) {
            return new GenericRecordBuilder(schema)
                    .set("seq", seq)
                    .set("operator_ref", "tx-" + run + "-" + seq)
                    .set("kind", new GenericData.EnumSymbol(schema.getField("kind").schema(), kind))
                    .set("licence_id", licence)
                    .set("licence_kind", new GenericData.EnumSymbol(schema.getField("licence_kind").schema(), "ONLINE_CASINO"))
                    .set("channel", new GenericData.EnumSymbol(schema.getField("channel").schema(), "SITE"))
                    .set("site_id", site)
                    .set("player_ref", "p_JAVAEXAMPLE01")
                    .set("amount", amount)
                    .set("currency", "UAH")
                    .set("occurred_at_us", now + seq);
        }

        GenericRecord bet(long seq, String bet, long stake) {
            return base(seq, "BET", stake).set("bet_ref", run + "-" + bet).set("game_type", "slots").build();
        }

        GenericRecord win(long seq, String bet, long payout) {
            // The whole payout, with the taxes withheld from it: 18 % income tax, 5 % military levy.
            return base(seq, "WIN", payout).set("bet_ref", run + "-" + bet).set("game_type", "slots")
                    .set("tax_withheld_pit", payout * 18 / 100)
                    .set("tax_withheld_military", payout * 5 / 100).build();
        }

        GenericRecord refund(long seq, String bet, long amount) {
            return base(seq, "REFUND", amount).set("bet_ref", run + "-" + bet).set("game_type", "slots").build();
        }

        GenericRecord wallet(long seq, String kind, long amount) {
            return base(seq, kind, amount).build();
        }
    }
}

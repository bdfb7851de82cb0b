// A reference dsom client in Go (franz-go + hamba/avro), written from docs/integration.md:
// sends every kind of event for one source to its home partition, sends one record again,
// reads the receipts read_committed and reconciles every event by (source_id, seq).
// Exits 1 on any mismatch. Settings are environment variables (README.md).
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Event is ua.dsom.v1.Event; a pointer is a ["null", T] union, an enum is a string.
type Event struct {
	Seq                 int64   `avro:"seq"`
	OperatorRef         string  `avro:"operator_ref"`
	Kind                string  `avro:"kind"`
	LicenceID           string  `avro:"licence_id"`
	LicenceKind         string  `avro:"licence_kind"`
	Channel             string  `avro:"channel"`
	EstablishmentID     *string `avro:"establishment_id"`
	EquipmentID         *string `avro:"equipment_id"`
	SiteID              *string `avro:"site_id"`
	AppID               *string `avro:"app_id"`
	GameType            *string `avro:"game_type"`
	RoundRef            *string `avro:"round_ref"`
	BetRef              *string `avro:"bet_ref"`
	PlayerRef           string  `avro:"player_ref"`
	Amount              int64   `avro:"amount"`
	Currency            string  `avro:"currency"`
	OccurredAtUs        int64   `avro:"occurred_at_us"`
	TaxWithheldPit      *int64  `avro:"tax_withheld_pit"`
	TaxWithheldMilitary *int64  `avro:"tax_withheld_military"`
}

// EventBatch is ua.dsom.v1.EventBatch: one Kafka record.
type EventBatch struct {
	OperatorID string  `avro:"operator_id"`
	SourceID   string  `avro:"source_id"`
	SentAtUs   int64   `avro:"sent_at_us"`
	Events     []Event `avro:"events"`
}

// Receipt is one event's decision. Status is read as a string, so a status added later
// (DUPLICATE) decodes too.
type Receipt struct {
	Seq         *int64  `avro:"seq"`
	OperatorRef *string `avro:"operator_ref"`
	Status      string  `avro:"status"`
	ReceiptID   string  `avro:"receipt_id"`
	Reason      *string `avro:"reason"`
	Detail      *string `avro:"detail"`
}

// ReceiptBatch answers one ingest record (fields not needed here are skipped by hamba).
type ReceiptBatch struct {
	OperatorID      string    `avro:"operator_id"`
	SourceID        *string   `avro:"source_id"`
	IngestTopic     string    `avro:"ingest_topic"`
	IngestPartition int32     `avro:"ingest_partition"`
	IngestOffset    int64     `avro:"ingest_offset"`
	Receipts        []Receipt `avro:"receipts"`
}

func env(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	if fallback == "" {
		fmt.Fprintf(os.Stderr, "set the environment variable %s\n", name)
		os.Exit(2)
	}
	return fallback
}

// murmur2 is Kafka's Utils.murmur2 (guide, step 4).
func murmur2(data []byte) uint32 {
	const m, seed = 0x5bd1e995, 0x9747b28c
	length := len(data)
	h := uint32(seed) ^ uint32(length)
	for i := 0; i+4 <= length; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> 24
		k *= m
		h = h*m ^ k
	}
	tail := data[length-length%4:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// homePartition is the guide's rule: (murmur2(source_id) & 0x7fffffff) % ingest partitions.
func homePartition(source string, partitions int32) int32 {
	return int32(murmur2([]byte(source))&0x7fffffff) % partitions
}

func ptr[T any](v T) *T { return &v }

type expectation struct{ status, reason string }

type sent struct {
	partition int32
	offset    int64
	seqs      []int64
}

func main() {
	os.Exit(run())
}

func run() int {
	bootstrap := env("DSOM_BOOTSTRAP", "")
	operator := env("DSOM_OPERATOR", "")
	prefix := env("DSOM_PREFIX", "dsom")
	partitions, _ := strconv.Atoi(env("DSOM_INGEST_PARTITIONS", "3"))
	schemas := env("DSOM_SCHEMAS", "../../schemas/avro")
	source := env("DSOM_SOURCE", fmt.Sprintf("go-example-%d", time.Now().UnixMilli()))
	licence := env("DSOM_LICENCE_ID", "")
	site := env("DSOM_SITE_ID", "")
	timeoutS, _ := strconv.Atoi(env("DSOM_TIMEOUT_S", "120"))
	ingest := prefix + ".ingest." + operator
	receiptsTopic := prefix + ".receipts." + operator

	// Guide, step 5: parse Event first; EventBatch refers to it by name.
	batchSchema, err := avro.ParseFiles(filepath.Join(schemas, "ua.dsom.v1.Event.avsc"),
		filepath.Join(schemas, "ua.dsom.v1.EventBatch.avsc"))
	check(err)
	receiptSchema, err := avro.ParseFiles(filepath.Join(schemas, "ua.dsom.v1.ReceiptBatch.avsc"))
	check(err)
	// The single-object header: C3 01 and the fingerprint, little-endian (the wire order).
	fingerprint, err := batchSchema.FingerprintUsing(avro.CRC64AvroLE)
	check(err)
	header := append([]byte{0xc3, 0x01}, fingerprint...)
	fmt.Printf("EventBatch fingerprint (wire bytes): %x\n", fingerprint)
	receiptFingerprint, err := receiptSchema.FingerprintUsing(avro.CRC64AvroLE)
	check(err)

	// Guide, step 6: every kind of event, and one that must be rejected.
	now := time.Now().UnixMicro()
	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	base := func(seq int64, kind string, amount int64) Event {
		return Event{Seq: seq, OperatorRef: fmt.Sprintf("tx-%s-%d", run, seq), Kind: kind, LicenceID: licence,
			LicenceKind: "ONLINE_CASINO", Channel: "SITE", SiteID: ptr(site), PlayerRef: "p_GOEXAMPLE0001",
			Amount: amount, Currency: "UAH", OccurredAtUs: now + seq}
	}
	game := func(e Event, bet string) Event {
		e.BetRef, e.GameType = ptr(run+"-"+bet), ptr("slots")
		return e
	}
	win := func(seq int64, bet string, payout int64) Event {
		e := game(base(seq, "WIN", payout), bet)
		e.TaxWithheldPit, e.TaxWithheldMilitary = ptr(payout*18/100), ptr(payout*5/100) // 18 % and 5 % withheld
		return e
	}
	first := []Event{
		game(base(1, "BET", 5_000), "b1"),
		win(2, "b1", 12_000),
		game(base(3, "BET", 20_000), "b2"),
		game(base(4, "REFUND", 5_000), "b2"),
	}
	second := []Event{
		base(5, "DEPOSIT", 100_000),
		base(6, "WITHDRAWAL", 30_000),
		win(7, "never-placed", 1_000),
	}
	expected := map[int64]expectation{}
	for seq := int64(1); seq <= 6; seq++ {
		expected[seq] = expectation{"ACCEPTED", ""}
	}
	expected[7] = expectation{"REJECTED", "unknown_bet"}

	// Guide, step 2: our certificate, trust only the CA, verify the broker's host name.
	pair, err := tls.LoadX509KeyPair(env("DSOM_CERT", ""), env("DSOM_KEY", ""))
	check(err)
	caPEM, err := os.ReadFile(env("DSOM_CA", ""))
	check(err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		check(fmt.Errorf("no certificate in %s", os.Getenv("DSOM_CA")))
	}
	tlsCfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12}

	// Guide, step 4: the home partition, named explicitly.
	home := homePartition(source, int32(partitions))
	fmt.Printf("source %s: home partition %d of %d\n", source, home, partitions)
	producer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DialTLSConfig(tlsCfg),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.RequiredAcks(kgo.AllISRAcks()))
	check(err)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(timeoutS)*time.Second)
	defer cancel()
	encode := func(events []Event) []byte {
		body, err := avro.Marshal(batchSchema, EventBatch{operator, source, time.Now().UnixMicro(), events})
		check(err)
		return append(append([]byte{}, header...), body...)
	}
	var records []sent
	send := func(value []byte, events []Event) {
		rec := &kgo.Record{Topic: ingest, Partition: home, Key: []byte(source), Value: value}
		check(producer.ProduceSync(ctx, rec).FirstErr())
		seqs := make([]int64, len(events))
		for i, e := range events {
			seqs[i] = e.Seq
		}
		records = append(records, sent{rec.Partition, rec.Offset, seqs})
		fmt.Printf("sent %d events to %s[%d] at offset %d\n", len(events), ingest, rec.Partition, rec.Offset)
	}
	record1 := encode(first)
	send(record1, first)
	send(encode(second), second)
	send(record1, first) // guide, step 8: a retry is the same bytes again, always safe
	producer.Close()

	// Guide, step 8: read receipts read_committed in our own group until every event is decided
	// (not every record: a retry whose events were all decided gets no receipt batch).
	consumer, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.DialTLSConfig(tlsCfg),
		kgo.ConsumerGroup(prefix+".operator."+operator+".go-example"), kgo.ConsumeTopics(receiptsTopic),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit())
	check(err)
	defer consumer.Close()
	byRecord := map[string]sent{}
	for _, r := range records {
		byRecord[fmt.Sprintf("%d/%d", r.partition, r.offset)] = r
	}
	decisions := map[int64][]expectation{}
	duplicates, answered := 0, 0
	decided := func() bool {
		for seq := range expected {
			if len(decisions[seq]) == 0 {
				return false
			}
		}
		return true
	}
	for !decided() && ctx.Err() == nil {
		fetches := consumer.PollFetches(ctx)
		fetches.EachError(func(topic string, partition int32, err error) {
			if ctx.Err() == nil {
				fmt.Fprintf(os.Stderr, "fetch %s[%d]: %v\n", topic, partition, err)
			}
		})
		fetches.EachRecord(func(msg *kgo.Record) {
			if len(msg.Value) < 10 || msg.Value[0] != 0xc3 || msg.Value[1] != 0x01 ||
				!reflect.DeepEqual(msg.Value[2:10], receiptFingerprint) {
				fmt.Printf("a receipt batch of another schema version (fingerprint %x): update schemas/avro\n", msg.Value[2:10])
				return
			}
			var batch ReceiptBatch
			check(avro.Unmarshal(receiptSchema, msg.Value[10:], &batch))
			key := fmt.Sprintf("%d/%d", batch.IngestPartition, batch.IngestOffset)
			ours, ok := byRecord[key]
			if batch.IngestTopic != ingest || !ok {
				return // a record of another run or another sender
			}
			answered++
			for _, r := range batch.Receipts {
				reason := ""
				if r.Reason != nil {
					reason = *r.Reason
				}
				if r.Seq == nil { // a record rejected whole: every event in it shares the fate
					fmt.Printf("record %s rejected whole: %s\n", key, reason)
					for _, seq := range ours.seqs {
						decisions[seq] = append(decisions[seq], expectation{r.Status, reason})
					}
					continue
				}
				if r.Status == "DUPLICATE" { // already received: the first receipt stands
					duplicates++
					continue
				}
				decisions[*r.Seq] = append(decisions[*r.Seq], expectation{r.Status, reason})
				fmt.Printf("seq %d: %s %s %s\n", *r.Seq, r.Status, r.ReceiptID, reason)
			}
		})
	}
	if err := consumer.CommitUncommittedOffsets(context.Background()); err != nil {
		fmt.Fprintf(os.Stderr, "commit: %v\n", err)
	}

	// Guide, step 8.4: exactly one decision per (source_id, seq), the one expected.
	mismatches, accepted, rejected := 0, 0, 0
	for seq := int64(1); seq <= int64(len(expected)); seq++ {
		got := decisions[seq]
		switch {
		case len(got) == 0:
			fmt.Printf("MISMATCH seq %d: no receipt within the timeout (not decided yet: send it again)\n", seq)
			mismatches++
		case len(got) != 1 || got[0] != expected[seq]:
			fmt.Printf("MISMATCH seq %d: expected %v, got %v\n", seq, expected[seq], got)
			mismatches++
		case got[0].status == "ACCEPTED":
			accepted++
		default:
			rejected++
		}
	}
	for seq := range decisions {
		if _, ok := expected[seq]; !ok {
			fmt.Printf("MISMATCH seq %d: a receipt for an event never sent\n", seq)
			mismatches++
		}
	}
	fmt.Printf("reconciled %d events of source %s: %d accepted, %d rejected, %d duplicate receipts, "+
		"%d of %d records answered, %d mismatches\n", len(expected), source, accepted, rejected, duplicates,
		answered, len(records), mismatches)
	if mismatches > 0 {
		return 1
	}
	return 0
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(2)
	}
}

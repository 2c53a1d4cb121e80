//! Issue 14 (ingest): a hostile feed. Poison pills fed between thousands of good records to the
//! running ingest services end in the dead-letter topic with their class while every good
//! record lands exactly once (read back by Python `deltalake`) and no service restarts; a row
//! the writer refuses is isolated by bisecting its batch; Kafka offsets that ran ahead of the
//! lake skip nothing; `/healthz` says when the landing loop stalls.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream};
use civicpulse_tests::kafka::{Consumed, Position, Record, create_topic, produce, read_topic};
use civicpulse_tests::process::{ServiceProcess, wait_for};
use civicpulse_tests::s3::S3Server;
use civicpulse_tests::scenario::{ENV, Lake, Produced, runtime, start_service, wait_rows};
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use serde_json::{Map, Value, json};

/// Good records between two pills.
const GAP: u64 = 150;

/// A record that must not land, the class it must be dead-lettered under, and a value of it the
/// dead letter's message must not repeat.
struct Pill {
    what: &'static str,
    record: Record,
    class: &'static str,
    secret: Option<String>,
}

/// A pill made from good event `seq` of `stream` by `edit`.
fn pill(
    stream: Stream,
    seq: u64,
    what: &'static str,
    class: &'static str,
    edit: impl FnOnce(&mut Map<String, Value>),
) -> Pill {
    let mut v: Value = serde_json::from_slice(&EventFactory::new(stream).event(seq).2.payload)
        .expect("event is JSON");
    edit(v.as_object_mut().expect("object"));
    Pill {
        what,
        record: Record {
            key: None,
            payload: serde_json::to_vec(&v).expect("serialises"),
        },
        class,
        secret: None,
    }
}

/// A pill whose bytes are made from good event `seq`'s text by `edit` (what `serde_json` would
/// not write: lone surrogates, repeated keys, deep nesting).
fn raw_pill(
    stream: Stream,
    seq: u64,
    what: &'static str,
    class: &'static str,
    edit: impl FnOnce(String) -> String,
) -> Pill {
    let text = String::from_utf8(EventFactory::new(stream).event(seq).2.payload).unwrap();
    Pill {
        what,
        record: Record {
            key: None,
            payload: edit(text).into_bytes(),
        },
        class,
        secret: None,
    }
}

fn with_secret(mut p: Pill, secret: &str) -> Pill {
    p.secret = Some(secret.to_owned());
    p
}

const INVALID: &str = "schema_violation.invalid_value";

/// Every pill of `stream`, made from sequence numbers above the good ones.
fn pills(stream: Stream) -> Vec<Pill> {
    let s = 1_000_000;
    let set =
        |k: &'static str, v: Value| move |o: &mut Map<String, Value>| drop(o.insert(k.into(), v));
    let mut out = vec![
        pill(
            stream,
            s,
            "event_time in year 9999",
            INVALID,
            set("event_time", json!("9999-12-31T23:00:00Z")),
        ),
        pill(
            stream,
            s + 1,
            "event_time in year 0",
            INVALID,
            set("event_time", json!("0000-01-01T00:00:00+09:00")),
        ),
        pill(
            stream,
            s + 2,
            "ingest_time at the epoch",
            INVALID,
            set("ingest_time", json!("1970-01-01T00:00:00Z")),
        ),
        pill(
            stream,
            s + 6,
            "NUL in a string",
            INVALID,
            set("community_name", json!("二里庄\u{0}社区")),
        ),
        pill(
            stream,
            s + 7,
            "NUL in the source id",
            INVALID,
            set("source_record_id", json!("\u{0}")),
        ),
        pill(
            stream,
            s + 8,
            "a 800 kB text value",
            "oversized",
            set("community_name", json!("区".repeat(270_000))),
        ),
        with_secret(
            pill(
                stream,
                s + 9,
                "a 500 kB bad timestamp",
                INVALID,
                set("event_time", json!("13800138000".repeat(45_000))),
            ),
            "13800138000",
        ),
        with_secret(
            pill(
                stream,
                s + 10,
                "a phone number as the version",
                "schema_violation.wrong_type",
                set("schema_version", json!(13900139000u64)),
            ),
            "13900139000",
        ),
        raw_pill(stream, s + 11, "a lone surrogate", "not_json", |t| {
            t.replacen("\"district_name\":\"", "\"district_name\":\"\\ud800", 1)
        }),
        raw_pill(stream, s + 12, "a repeated key", INVALID, |t| {
            t.replacen('{', "{\"event_time\":\"2024-01-01T00:00:00Z\",", 1)
        }),
        raw_pill(stream, s + 13, "nesting 100,000 deep", "not_json", |t| {
            let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
            t.replacen('{', &format!("{{\"extra\":{deep},"), 1)
        }),
        raw_pill(stream, s + 14, "a 950 kB payload", "not_json", |t| {
            format!("{t}{}", " x".repeat(475_000))
        }),
    ];
    if stream != Stream::Renovation {
        // Renovation events carry no coordinates (unknown fields are ignored).
        out.extend([
            pill(
                stream,
                s + 4,
                "latitude off the globe",
                INVALID,
                set("lat", json!(91.5)),
            ),
            pill(
                stream,
                s + 5,
                "longitude 1e308",
                INVALID,
                set("lng", json!(1e308)),
            ),
        ]);
    }
    match stream {
        Stream::Facility => out.extend([
            pill(
                stream,
                s + 20,
                "opened_date in year 9999",
                INVALID,
                set("opened_date", json!("9999-12-31")),
            ),
            pill(
                stream,
                s + 21,
                "closed_date in year 1",
                INVALID,
                set("closed_date", json!("0001-01-01")),
            ),
            pill(
                stream,
                s + 22,
                "floor area past DECIMAL(12,2)",
                INVALID,
                set("floor_area_m2", json!(1e300)),
            ),
            pill(
                stream,
                s + 23,
                "infinite capacity",
                INVALID,
                set("other_capacity_value", json!("inf")),
            ),
            pill(
                stream,
                s + 24,
                "version past i32",
                INVALID,
                set("facility_version", json!(99_999_999_999u64)),
            ),
            pill(
                stream,
                s + 25,
                "NaN as a string",
                INVALID,
                set("floor_area_m2", json!("NaN")),
            ),
        ]),
        Stream::Renovation => out.extend([
            pill(
                stream,
                s + 20,
                "1e16 yuan: 19 digits of hundredths",
                INVALID,
                |o| {
                    o.insert("amount_unit_raw".into(), json!("元"));
                    o.insert("investment_planned_yuan".into(), json!(1e16));
                },
            ),
            pill(stream, s + 21, "1e9 亿元", INVALID, |o| {
                o.insert("amount_unit_raw".into(), json!("亿元"));
                o.insert("funding_central_yuan".into(), json!(1e9));
            }),
            pill(
                stream,
                s + 22,
                "status_date in year 1",
                INVALID,
                set("status_date", json!("0001-01-01")),
            ),
            pill(
                stream,
                s + 23,
                "planned_end_date in year 9999",
                INVALID,
                set("planned_end_date", json!("9999-12-31")),
            ),
            pill(
                stream,
                s + 24,
                "built in year -32768",
                INVALID,
                set("compound_built_year", json!(-32768)),
            ),
            pill(
                stream,
                s + 25,
                "progress of -inf percent",
                INVALID,
                set("progress_pct", json!("-inf")),
            ),
        ]),
        Stream::Hotline => out.extend([
            pill(
                stream,
                s + 20,
                "due_time in year 9999",
                INVALID,
                set("due_time", json!("9999-12-31T23:00:00Z")),
            ),
            pill(
                stream,
                s + 21,
                "received_time in year 1",
                INVALID,
                set("received_time", json!("0001-01-01T00:00:00Z")),
            ),
            pill(
                stream,
                s + 22,
                "closed_time in year 2101",
                INVALID,
                set("closed_time", json!("2101-06-01T00:00:00Z")),
            ),
            pill(
                stream,
                s + 23,
                "NUL in a tag",
                INVALID,
                set("tags", json!(["ok", "a\u{0}b"])),
            ),
            pill(
                stream,
                s + 24,
                "tags of 800 kB",
                "oversized",
                set("tags", json!(vec!["标签标签标签标签"; 34_000])),
            ),
            with_secret(
                pill(
                    stream,
                    s + 25,
                    "a phone number as the channel",
                    "schema_violation.unknown_enum_value",
                    set("channel", json!("13700137000")),
                ),
                "13700137000",
            ),
        ]),
    }
    out
}

/// What a stream was fed: good records (their truth) and where each pill went.
struct Fed {
    stream: Stream,
    good: Produced,
    pills: Vec<(Position, &'static str, &'static str, Option<String>)>,
    payloads: BTreeMap<Position, Vec<u8>>,
    total: usize,
}

/// Produces `GAP` good records before every pill and after the last, all in one run.
fn feed(rt: &tokio::runtime::Runtime, brokers: &str, stream: Stream, pills: Vec<Pill>) -> Fed {
    let factory = EventFactory::new(stream);
    let (mut records, mut meta, mut kinds) = (Vec::new(), Vec::new(), Vec::new());
    let mut seq = 0;
    for p in pills.into_iter().map(Some).chain([None]) {
        for _ in 0..GAP {
            let (id, district, record) = factory.event(seq);
            seq += 1;
            records.push(record);
            meta.push((id, district));
            kinds.push(None);
        }
        if let Some(p) = p {
            records.push(p.record.clone());
            kinds.push(Some(p));
        }
    }
    let total = records.len();
    let payloads: Vec<Vec<u8>> = records.iter().map(|r| r.payload.clone()).collect();
    let positions = rt.block_on(produce(brokers, stream.topic(), records));
    let mut fed = Fed {
        stream,
        good: Produced::new(),
        pills: Vec::new(),
        payloads: BTreeMap::new(),
        total,
    };
    let mut good_positions = Vec::new();
    for ((position, kind), payload) in positions.into_iter().zip(kinds).zip(payloads) {
        match kind {
            None => good_positions.push(position),
            Some(p) => {
                fed.pills.push((position, p.what, p.class, p.secret));
                fed.payloads.insert(position, payload);
            }
        }
    }
    fed.good.record(&good_positions, &meta);
    fed
}

/// Produces one record with `headers` (the harness's producer sends none).
fn produce_with_headers(
    rt: &tokio::runtime::Runtime,
    brokers: &str,
    topic: &str,
    payload: &[u8],
    headers: &[(String, Vec<u8>)],
) -> Position {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "4000000")
        .create()
        .expect("producer");
    let mut h = OwnedHeaders::new();
    for (key, value) in headers {
        h = h.insert(Header {
            key,
            value: Some(value),
        });
    }
    let record = FutureRecord::<[u8], [u8]>::to(topic)
        .payload(payload)
        .headers(h);
    let delivery = rt
        .block_on(producer.send(record, Duration::from_secs(30)))
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
    Position {
        partition: delivery.partition,
        offset: delivery.offset,
    }
}

/// Checks the dead letters of `topic` are exactly `want` (position → class) and that none of
/// them repeats a value or exceeds the header caps.
fn check_dead_letters(
    brokers: &str,
    topic: &str,
    want: &BTreeMap<Position, &str>,
    secrets: &[String],
) -> Vec<Consumed> {
    let dlq = read_topic(brokers, topic, want.len(), Duration::from_secs(60));
    let got: BTreeMap<Position, &str> = dlq
        .iter()
        .map(|m| {
            let at = Position {
                partition: m.headers["civicpulse.source.partition"].parse().unwrap(),
                offset: m.headers["civicpulse.source.offset"].parse().unwrap(),
            };
            (at, m.headers["civicpulse.error.class"].as_str())
        })
        .collect();
    assert_eq!(&got, want, "{topic}: dead letters by position and class");
    assert_eq!(
        dlq.len(),
        want.len(),
        "{topic}: a record dead-lettered twice"
    );
    for m in &dlq {
        let message = &m.headers["civicpulse.error.message"];
        assert!(
            !message.is_empty() && message.len() <= 1024,
            "{message:.200}"
        );
        for secret in secrets {
            assert!(
                !message.contains(secret.as_str()),
                "{topic}: message repeats a value: {message}"
            );
        }
        let size: usize = m.payload.len()
            + m.key.as_ref().map_or(0, Vec::len)
            + m.headers
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>();
        assert!(size < 1_000_000, "{topic}: a dead letter of {size} bytes");
    }
    dlq
}

/// Every poison pill of the three streams, between good records, to the three services at once.
#[test]
fn poison_pills_are_dead_lettered_and_every_good_record_lands_once() {
    let _heavy = civicpulse_tests::heavy();
    let started = Instant::now();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    let mut fed = Vec::new();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&brokers, stream.topic(), 2));
        rt.block_on(create_topic(
            &brokers,
            &format!("{}.dlq", stream.topic()),
            1,
        ));
        fed.push(feed(&rt, &brokers, stream, pills(stream)));
    }
    // A record whose own headers and payload fill what Kafka takes: its dead letter must still
    // fit (original headers capped, the rest counted in a header).
    let facility = &mut fed[1];
    let headers: Vec<(String, Vec<u8>)> = (0..30)
        .map(|i| (format!("trace-{i}"), vec![b'h'; 10_000]))
        .collect();
    let heavy_headers = produce_with_headers(
        &rt,
        &brokers,
        Stream::Facility.topic(),
        &vec![b'{'; 600_000],
        &headers,
    );
    facility
        .pills
        .push((heavy_headers, "300 kB of headers", "not_json", None));
    facility.total += 1;
    let mut services: Vec<ServiceProcess> = Stream::ALL
        .iter()
        .map(|s| start_service(*s, &brokers, &lake.root(), &lake.logs()))
        .collect();
    let pids: Vec<u32> = services.iter().map(ServiceProcess::pid).collect();
    for (i, f) in fed.iter_mut().enumerate() {
        let mut refs: Vec<&mut ServiceProcess> = services.iter_mut().collect();
        wait_rows(
            &lake.table(f.stream),
            f.good.keys.len() as u64,
            Duration::from_secs(300),
            &mut refs,
        );
        f.good.assert_landed_exactly(&lake.table(f.stream));
        let want: BTreeMap<Position, &str> = f.pills.iter().map(|(p, _, c, _)| (*p, *c)).collect();
        assert_eq!(want.len(), f.pills.len());
        let secrets: Vec<String> = f.pills.iter().filter_map(|p| p.3.clone()).collect();
        let dlq = check_dead_letters(
            &brokers,
            &format!("{}.dlq", f.stream.topic()),
            &want,
            &secrets,
        );
        for m in &dlq {
            let what = f
                .pills
                .iter()
                .find(|p| p.0 == m.position_of_source())
                .map(|p| p.1);
            match m.headers.get("civicpulse.payload.truncated_from") {
                Some(len) => {
                    let original = &f.payloads[&m.position_of_source()];
                    assert_eq!(*len, original.len().to_string(), "{what:?}");
                    assert!(original.starts_with(&m.payload), "{what:?}");
                }
                None if m.position_of_source() == heavy_headers => {
                    assert_eq!(m.headers["civicpulse.headers.dropped"], "24");
                    assert_eq!(m.payload.len(), 600_000);
                }
                None => assert_eq!(m.payload, f.payloads[&m.position_of_source()], "{what:?}"),
            }
        }
        // The same process read every record once: it never restarted.
        let s = &services[i];
        assert_eq!(s.pid(), pids[i]);
        assert_eq!(
            s.metric("civicpulse_records_consumed_total", "")
                .map(|v| v as usize),
            Some(f.total),
            "{}: records consumed by this process",
            f.stream.service()
        );
        assert_eq!(s.health().as_deref(), Some("ok"));
    }
    for (s, stream) in services.iter_mut().zip(Stream::ALL) {
        let status = s.terminate(Duration::from_secs(30)).expect("running");
        assert!(
            status.success(),
            "{}: {status}: {}",
            stream.service(),
            s.log()
        );
        assert!(
            !s.log().contains("13800138000"),
            "a log line repeats a value"
        );
    }
    eprintln!("poison pills: {:.1} s", started.elapsed().as_secs_f64());
}

trait SourcePosition {
    fn position_of_source(&self) -> Position;
}

impl SourcePosition for Consumed {
    fn position_of_source(&self) -> Position {
        Position {
            partition: self.headers["civicpulse.source.partition"].parse().unwrap(),
            offset: self.headers["civicpulse.source.offset"].parse().unwrap(),
        }
    }
}

/// The last line of defence: normalisation configured to let through a time whose month the
/// lake cannot name (`max_year = 10000`: 9999-12-31T23:00Z is month `10000-01` in Shanghai), so
/// the writer itself refuses the row. The batch is bisected: exactly that record is
/// dead-lettered as `unwritable`, every other lands once, the service keeps running.
#[test]
fn a_row_the_writer_refuses_is_isolated_by_bisection() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    let stream = Stream::Facility;
    rt.block_on(create_topic(&brokers, stream.topic(), 2));
    let refused = |seq, what| {
        pill(stream, seq, what, "unwritable", |o| {
            o.insert("event_time".into(), json!("9999-12-31T23:00:00Z"));
        })
    };
    let mut pills = vec![
        refused(2_000_000, "month 10000-01"),
        refused(2_000_001, "month 10000-01 again"),
    ];
    // A pill normalisation still catches, in the same batches.
    pills.push(pill(stream, 2_000_002, "year 0", INVALID, |o| {
        o.insert("event_time".into(), json!("0000-01-01T00:00:00+09:00"));
    }));
    let fed = feed(&rt, &brokers, stream, pills);
    let mut env = ENV.to_vec();
    env.push(("CIVICPULSE_LANDING__MAX_YEAR", "10000"));
    let mut service = ServiceProcess::start(
        stream.service(),
        &[
            "--brokers",
            &brokers,
            "--lake",
            lake.root().to_str().unwrap(),
        ],
        &env,
        &lake.logs(),
    );
    let mut good = fed.good;
    wait_rows(
        &lake.table(stream),
        good.keys.len() as u64,
        Duration::from_secs(300),
        &mut [&mut service],
    );
    good.assert_landed_exactly(&lake.table(stream));
    let want: BTreeMap<Position, &str> = fed.pills.iter().map(|(p, _, c, _)| (*p, *c)).collect();
    let dlq = check_dead_letters(&brokers, &format!("{}.dlq", stream.topic()), &want, &[]);
    for m in dlq
        .iter()
        .filter(|m| m.headers["civicpulse.error.class"] == "unwritable")
    {
        // The original record, read again from the source topic.
        assert_eq!(m.payload, fed.payloads[&m.position_of_source()]);
        assert!(
            m.headers["civicpulse.error.message"].contains("month"),
            "{:?}",
            m.headers
        );
    }
    assert!(
        service
            .metric("civicpulse_batch_bisections_total", "")
            .unwrap()
            >= 1.0
    );
    assert_eq!(
        service.metric("civicpulse_records_dead_lettered_total", "unwritable"),
        Some(2.0)
    );
    assert_eq!(service.health().as_deref(), Some("ok"));
    assert!(
        service
            .terminate(Duration::from_secs(30))
            .unwrap()
            .success(),
        "{}",
        service.log()
    );
}

/// No silent skip: the group's committed Kafka offsets run ahead of an empty lake (a reused
/// group, a lake replaced), yet every record lands, from the earliest offset.
#[test]
fn kafka_offsets_ahead_of_an_empty_lake_skip_nothing() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    let stream = Stream::Renovation;
    rt.block_on(create_topic(&brokers, stream.topic(), 3));
    let mut good = Produced::new();
    let factory = EventFactory::new(stream);
    civicpulse_tests::scenario::produce_events(
        &rt,
        &factory,
        &brokers,
        stream,
        0..3_000,
        &mut good,
    );
    // A plain consumer of the service's group commits offsets well into each partition
    // without landing anything.
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &brokers)
        .set("group.id", format!("civicpulse-{}", stream.service()))
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..3 {
        let (low, high) = consumer
            .fetch_watermarks(stream.topic(), p, Duration::from_secs(10))
            .unwrap();
        assert!(
            high - low > 10,
            "partition {p} holds {} records",
            high - low
        );
        tpl.add_partition_offset(
            stream.topic(),
            p,
            Offset::Offset(low + (high - low) * 2 / 3),
        )
        .unwrap();
    }
    consumer
        .commit(&tpl, CommitMode::Sync)
        .expect("commit offsets");
    let committed = consumer
        .committed_offsets(tpl.clone(), Duration::from_secs(10))
        .expect("committed offsets");
    assert_eq!(committed.elements().len(), 3);
    for e in committed.elements() {
        assert!(matches!(e.offset(), Offset::Offset(o) if o > 0), "{e:?}");
    }
    drop(consumer);
    let mut service = start_service(stream, &brokers, &lake.root(), &lake.logs());
    wait_rows(
        &lake.table(stream),
        good.keys.len() as u64,
        Duration::from_secs(300),
        &mut [&mut service],
    );
    good.assert_landed_exactly(&lake.table(stream));
    // The consumer was handed records at the group's offsets and went back to the start.
    let log = service.log();
    let sought_back = log.lines().filter(|l| {
        l.contains("resuming partition")
            && l.contains("committed=None next=0")
            && !l.contains("first_offset=0")
    });
    assert!(sought_back.count() >= 1, "{log}");
    assert!(
        service
            .terminate(Duration::from_secs(30))
            .unwrap()
            .success(),
        "{}",
        service.log()
    );
}

/// A TCP relay on loopback that can hold every byte while paused: a lake that hangs.
struct PausableRelay {
    port: u16,
    paused: Arc<AtomicBool>,
}

impl PausableRelay {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay port");
        let port = listener.local_addr().unwrap().port();
        let paused = Arc::new(AtomicBool::new(false));
        let flag = paused.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let flag = flag.clone();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 {
                                break;
                            }
                            while flag.load(Ordering::Relaxed) {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            if to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
            }
        });
        Self { port, paused }
    }

    fn pause(&self, paused: bool) {
        self.paused.store(paused, Ordering::Relaxed);
    }
}

/// `GET /healthz`: status code and body.
fn healthz(port: u16) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let code = head.split_whitespace().nth(1)?.parse().ok()?;
    Some((code, body.to_owned()))
}

/// `/healthz` answers 503 with a reason while the lake hangs with records waiting, and 200
/// again once it answers; the records then land, in the same process.
#[test]
fn healthz_reports_a_landing_loop_that_stalls() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let dir = tempfile::tempdir().unwrap();
    let s3 = S3Server::start(&dir.path().join("logs"));
    let moto_port: u16 = s3.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    let relay = PausableRelay::start(moto_port);
    let stream = Stream::Facility;
    rt.block_on(create_topic(&brokers, stream.topic(), 1));
    let http = civicpulse_tests::free_port();
    let relay_endpoint = format!("http://127.0.0.1:{}", relay.port);
    let mut env: Vec<(String, String)> = s3
        .lake_env()
        .into_iter()
        .map(|(k, v)| {
            if v == s3.endpoint() {
                (k, relay_endpoint.clone())
            } else {
                (k, v)
            }
        })
        .collect();
    env.push(("CIVICPULSE_LANDING__STALL_TIMEOUT_SECS".into(), "3".into()));
    env.extend(ENV.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let root = s3.root("stall");
    let mut service = ServiceProcess::start_without_http(
        stream.service(),
        &[
            "--brokers",
            &brokers,
            "--lake",
            &root,
            "--http",
            &format!("127.0.0.1:{http}"),
        ],
        &env,
        &dir.path().join("logs"),
    );
    let url = format!("{root}/{}", stream.table());
    let factory = EventFactory::new(stream);
    let mut good = Produced::new();
    let batch = |range: std::ops::Range<u64>, good: &mut Produced| {
        civicpulse_tests::scenario::produce_events(&rt, &factory, &brokers, stream, range, good);
    };
    batch(0..500, &mut good);
    wait_until(&mut service, "the first rows", || {
        s3.count_rows(&url) == Some(500)
    });
    assert_eq!(healthz(http).map(|h| h.0), Some(200));
    // The lake stops answering while records wait.
    relay.pause(true);
    let paused = Instant::now();
    batch(500..1_000, &mut good);
    let stalled = wait_for(Duration::from_secs(30), || {
        healthz(http).filter(|(code, _)| *code == 503)
    });
    relay.pause(false);
    let (_, reason) = stalled.unwrap_or_else(|| panic!("/healthz stayed 200: {}", service.log()));
    eprintln!(
        "/healthz 503 after {:.1} s: {reason}",
        paused.elapsed().as_secs_f64()
    );
    assert!(reason.contains("stalled"), "{reason}");
    wait_until(&mut service, "the rows held up", || {
        s3.count_rows(&url) == Some(1_000)
    });
    let healthy = wait_for(Duration::from_secs(30), || {
        healthz(http).filter(|(code, _)| *code == 200)
    });
    assert!(healthy.is_some(), "/healthz did not recover");
    assert!(service.exited().is_none());
    let summary = s3.read_table(&url, true);
    assert_eq!(summary.rows, 1_000);
    assert_eq!(summary.distinct_positions, 1_000);
    assert!(
        service
            .terminate(Duration::from_secs(30))
            .unwrap()
            .success(),
        "{}",
        service.log()
    );
}

fn wait_until(service: &mut ServiceProcess, what: &str, mut done: impl FnMut() -> bool) {
    let ok = wait_for(Duration::from_secs(120), || {
        if let Some(status) = service.exited() {
            panic!("service exited with {status}: {}", service.log());
        }
        done().then_some(())
    });
    assert!(ok.is_some(), "{what} did not land: {}", service.log());
}

/// The hotline text that made the phone/ID masker quadratic (`"1 "` × 300,000 in `content`)
/// lands between good records. Slow until the masker fix (issue 14 item 7, PII) is merged.
#[test]
fn hotline_text_that_made_the_masker_quadratic_lands() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let brokers = broker.brokers();
    let lake = Lake::new();
    let stream = Stream::Hotline;
    rt.block_on(create_topic(&brokers, stream.topic(), 1));
    let factory = EventFactory::new(stream);
    let mut good = Produced::new();
    civicpulse_tests::scenario::produce_events(
        &rt,
        &factory,
        &brokers,
        stream,
        0..1_000,
        &mut good,
    );
    let (id, district, mut record) = factory.event(1_000);
    let mut v: Value = serde_json::from_slice(&record.payload).unwrap();
    v["content"] = json!("1 ".repeat(300_000));
    record.payload = serde_json::to_vec(&v).unwrap();
    let at = rt.block_on(produce(&brokers, stream.topic(), vec![record]));
    good.record(&at, &[(id, district)]);
    civicpulse_tests::scenario::produce_events(
        &rt,
        &factory,
        &brokers,
        stream,
        1_001..10_000,
        &mut good,
    );
    let started = Instant::now();
    let mut service = start_service(stream, &brokers, &lake.root(), &lake.logs());
    wait_rows(
        &lake.table(stream),
        10_000,
        Duration::from_secs(900),
        &mut [&mut service],
    );
    eprintln!(
        "10,000 hotline records with the long content landed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    good.assert_landed_exactly(&lake.table(stream));
}

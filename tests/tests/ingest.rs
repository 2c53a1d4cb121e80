//! Issue 2's evidence: the ingest services, run as processes against a tansu broker process,
//! land every event exactly once, read back by Python's `deltalake` and polars.

use std::time::Duration;

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream, bad_examples};
use civicpulse_tests::kafka::{Record, create_topic, produce, read_topic};
use civicpulse_tests::process::ServiceProcess;
use civicpulse_tests::python;
use civicpulse_tests::scenario::{
    Lake, Produced, produce_events, runtime, start_service, wait_rows,
};

/// (a) ≥ 100k events on each topic land, equal to what was produced.
#[test]
fn every_event_of_three_topics_lands_once() {
    const N: u64 = 100_000;
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let lake = Lake::new();
    let mut services = Vec::new();
    let mut produced = Vec::new();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&broker.brokers(), stream.topic(), 3));
        let mut p = Produced::new();
        produce_events(
            &rt,
            &EventFactory::new(stream),
            &broker.brokers(),
            stream,
            0..N,
            &mut p,
        );
        produced.push(p);
        services.push(start_service(
            stream,
            &broker.brokers(),
            &lake.root(),
            &lake.logs(),
        ));
    }
    for (i, stream) in Stream::ALL.into_iter().enumerate() {
        let mut refs: Vec<&mut ServiceProcess> = services.iter_mut().collect();
        wait_rows(&lake.table(stream), N, Duration::from_secs(600), &mut refs);
        assert_eq!(refs[i].health().as_deref().map(str::trim), Some("ok"));
    }
    for (service, stream) in services.iter_mut().zip(Stream::ALL) {
        let status = service.terminate(Duration::from_secs(30)).expect("running");
        assert!(
            status.success(),
            "{} exit: {status}: {}",
            stream.service(),
            service.log()
        );
    }
    for (p, stream) in produced.iter_mut().zip(Stream::ALL) {
        p.assert_landed_exactly(&lake.table(stream));
    }
    let out = python::run_script(
        "read_delta.py",
        &[lake.table(Stream::Facility).to_str().unwrap(), "--polars"],
    );
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["polars_rows"].as_u64(), Some(N), "polars read_delta");
}

/// (e) each bad-input class ends in the DLQ with its class while good records keep landing.
#[test]
fn bad_records_go_to_the_dead_letter_topic_and_good_ones_land() {
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let lake = Lake::new();
    let brokers = broker.brokers();
    let mut services = Vec::new();
    for stream in Stream::ALL {
        rt.block_on(create_topic(&brokers, stream.topic(), 2));
        rt.block_on(create_topic(
            &brokers,
            &format!("{}.dlq", stream.topic()),
            1,
        ));
    }
    let mut expected_dlq = Vec::new();
    for stream in Stream::ALL {
        let bad = bad_examples(stream);
        assert!(!bad.is_empty());
        let factory = EventFactory::new(stream);
        let mut records = Vec::new();
        let mut meta = Vec::new();
        let mut kinds = Vec::new(); // None = good, Some(class) = bad
        // Good records before and after every bad one, twice over.
        for round in 0..2u64 {
            for (i, b) in bad.iter().enumerate() {
                for k in 0..50u64 {
                    let (id, d, r) = factory.event(round * 100_000 + i as u64 * 100 + k);
                    records.push(r);
                    meta.push((id, d));
                    kinds.push(None);
                }
                records.push(Record {
                    key: None,
                    payload: b.payload.clone(),
                });
                kinds.push(Some(b.class.clone()));
            }
        }
        let positions = rt.block_on(produce(&brokers, stream.topic(), records));
        let mut produced = Produced::new();
        let (mut good_pos, mut good_meta) = (Vec::new(), Vec::new());
        let mut metas = meta.into_iter();
        for (pos, kind) in positions.iter().zip(&kinds) {
            match kind {
                None => {
                    good_pos.push(*pos);
                    good_meta.push(metas.next().unwrap());
                }
                Some(class) => expected_dlq.push((stream, *pos, class.clone())),
            }
        }
        produced.record(&good_pos, &good_meta);
        services.push((
            stream,
            start_service(stream, &brokers, &lake.root(), &lake.logs()),
            produced,
        ));
    }
    for (stream, service, produced) in services.iter_mut() {
        let rows = produced.keys.len() as u64;
        wait_rows(
            &lake.table(*stream),
            rows,
            Duration::from_secs(300),
            &mut [service],
        );
        produced.assert_landed_exactly(&lake.table(*stream));
    }
    for stream in Stream::ALL {
        let want: Vec<_> = expected_dlq
            .iter()
            .filter(|(s, _, _)| *s == stream)
            .collect();
        let dlq = read_topic(
            &brokers,
            &format!("{}.dlq", stream.topic()),
            want.len(),
            Duration::from_secs(60),
        );
        assert_eq!(dlq.len(), want.len(), "{} dead letters", stream.topic());
        let mut got: Vec<(i32, i64, String)> = dlq
            .iter()
            .map(|m| {
                assert_eq!(m.headers["civicpulse.source.topic"], stream.topic());
                assert!(!m.headers["civicpulse.error.message"].is_empty());
                (
                    m.headers["civicpulse.source.partition"].parse().unwrap(),
                    m.headers["civicpulse.source.offset"].parse().unwrap(),
                    m.headers["civicpulse.error.class"].clone(),
                )
            })
            .collect();
        got.sort();
        let mut want: Vec<(i32, i64, String)> = want
            .iter()
            .map(|(_, p, c)| (p.partition, p.offset, c.clone()))
            .collect();
        want.sort();
        assert_eq!(
            got,
            want,
            "{} dead letters by position and class",
            stream.topic()
        );
        // The original bytes are kept (an oversized one as a prefix, its length in a header).
        let bad = bad_examples(stream);
        for m in &dlq {
            let kept =
                bad.iter().any(
                    |b| match m.headers.get("civicpulse.payload.truncated_from") {
                        None => b.payload == m.payload,
                        Some(len) => {
                            b.payload.starts_with(&m.payload) && *len == b.payload.len().to_string()
                        }
                    },
                );
            assert!(
                kept,
                "payload altered: {} bytes, headers {:?}",
                m.payload.len(),
                m.headers
            );
        }
    }
    // Nothing was written outside the lake root, whatever a district field said.
    let outside: Vec<_> = std::fs::read_dir(lake.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut outside = outside;
    outside.sort();
    assert_eq!(outside, ["lake", "logs"]);
}

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

/// Issue 15: with the lake's `communities` table loaded before they start, the ingest services
/// resolve names to codes (a 12345 export without codes), place a functional zone in its GB
/// district, move an 余杭 event of a street that went to 临平, land a Chongqing county, and
/// dead-letter what cannot be placed or resolved, each under its class.
#[test]
fn the_communities_table_in_the_lake_resolves_names_and_places_zones() {
    use serde_json::{Value, json};
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_memory();
    let lake = Lake::new();
    let brokers = broker.brokers();
    let csv = lake.dir.path().join("communities.csv");
    std::fs::write(
        &csv,
        "community_code,community_name,street_code,street_name,district_code,population,households,area_km2,under3_population,elderly_population,on_digital_platform,functional_zone,valid_from
110108012001,二里庄社区,110108012,学院路街道,110108,6200,2500,0.9,150,1300,true,,2020-01-01
110108012002,石板房社区,110108012,学院路街道,110108,4100,1700,0.6,90,800,false,,2020-01-01
110108013001,石板房社区,110108013,清河街道,110108,3800,1500,0.7,80,700,true,,2020-01-01
110115001001,荣华社区,110115001,荣华街道,110115,5300,2100,1.2,160,600,true,北京经济技术开发区,2020-01-01
330113001001,藕花洲社区,330113001,临平街道,330113,4000,1600,1.0,90,700,true,,2021-04-09
",
    )
    .unwrap();
    let out = std::process::Command::new(civicpulse_tests::process::binary("lake-maintain"))
        .arg("--lake")
        .arg(lake.root())
        .args(["load-reference", "--communities"])
        .arg(&csv)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Events: the committed examples with their division fields replaced (`null` removes one).
    let example = |name: &str, id: &str, fields: Value| -> Vec<u8> {
        let path = civicpulse_tests::workspace_root()
            .join("schemas/examples/valid")
            .join(name);
        let mut v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let o = v.as_object_mut().unwrap();
        o.insert("event_id".into(), id.into());
        for (k, value) in fields.as_object().unwrap() {
            if value.is_null() {
                o.remove(k);
            } else {
                o.insert(k.clone(), value.clone());
            }
        }
        serde_json::to_vec(&v).unwrap()
    };
    let no_codes = |city: &str, district: &str| {
        json!({"city_code": city, "district_code": district, "street_code": null,
               "community_code": null, "street_name": null, "community_name": null})
    };
    let merge = |mut a: Value, b: Value| {
        for (k, v) in b.as_object().unwrap() {
            a[k] = v.clone();
        }
        a
    };
    let facility = "facility_change--created.json";
    let hotline = "hotline_ticket--created-minimal-local-time.json";
    let events: Vec<(Stream, &str, Vec<u8>, Option<&str>)> = vec![
        (
            Stream::Facility,
            "f-names",
            example(
                facility,
                "f-names",
                merge(
                    no_codes("110000", "110108"),
                    json!({"street_name": "学院路", "community_name": "二里庄"}),
                ),
            ),
            None,
        ),
        (
            Stream::Facility,
            "f-ambiguous",
            example(
                facility,
                "f-ambiguous",
                merge(
                    no_codes("110000", "110108"),
                    json!({"community_name": "石板房社区"}),
                ),
            ),
            Some("unresolved_community"),
        ),
        (
            Stream::Facility,
            "f-unlisted",
            example(
                facility,
                "f-unlisted",
                json!({"street_code": "110108012", "community_code": "110108012099"}),
            ),
            Some("invalid_division_code"),
        ),
        (
            Stream::Hotline,
            "h-zone",
            example(
                hotline,
                "h-zone",
                merge(
                    no_codes("110000", ""),
                    json!({"district_name": "经开区", "community_name": "荣华社区"}),
                ),
            ),
            None,
        ),
        (
            Stream::Hotline,
            "h-county",
            example(
                hotline,
                "h-county",
                json!({"city_code": "500000", "district_code": "500236", "district_name": "奉节县"}),
            ),
            None,
        ),
        (
            Stream::Hotline,
            "h-moved",
            example(
                hotline,
                "h-moved",
                merge(
                    no_codes("330100", "330110"),
                    json!({"street_name": "临平街道", "community_name": "藕花洲社区"}),
                ),
            ),
            None,
        ),
        (
            Stream::Hotline,
            "h-ambiguous",
            example(
                hotline,
                "h-ambiguous",
                merge(
                    no_codes("110000", "110108"),
                    json!({"community_name": "石板房"}),
                ),
            ),
            None,
        ),
        (
            Stream::Hotline,
            "h-unplaced",
            example(
                hotline,
                "h-unplaced",
                merge(
                    no_codes("110000", "11E001"),
                    json!({"street_name": "无名街道"}),
                ),
            ),
            Some("unplaced_functional_zone"),
        ),
    ];
    let mut services = Vec::new();
    for stream in [Stream::Facility, Stream::Hotline] {
        rt.block_on(create_topic(&brokers, stream.topic(), 1));
        rt.block_on(create_topic(
            &brokers,
            &format!("{}.dlq", stream.topic()),
            1,
        ));
        let records = events
            .iter()
            .filter(|e| e.0 == stream)
            .map(|e| Record {
                key: Some(e.1.as_bytes().to_vec()),
                payload: e.2.clone(),
            })
            .collect();
        rt.block_on(produce(&brokers, stream.topic(), records));
        services.push(start_service(stream, &brokers, &lake.root(), &lake.logs()));
    }
    let mut refs: Vec<&mut ServiceProcess> = services.iter_mut().collect();
    for stream in [Stream::Facility, Stream::Hotline] {
        let good = events
            .iter()
            .filter(|e| e.0 == stream && e.3.is_none())
            .count();
        wait_rows(
            &lake.table(stream),
            good as u64,
            Duration::from_secs(120),
            &mut refs,
        );
        let bad: Vec<_> = events
            .iter()
            .filter(|e| e.0 == stream && e.3.is_some())
            .collect();
        let dlq = read_topic(
            &brokers,
            &format!("{}.dlq", stream.topic()),
            bad.len(),
            Duration::from_secs(60),
        );
        let mut got: Vec<_> = dlq
            .iter()
            .map(|m| m.headers["civicpulse.error.class"].clone())
            .collect();
        got.sort();
        let mut want: Vec<_> = bad.iter().map(|e| e.3.unwrap().to_owned()).collect();
        want.sort();
        assert_eq!(got, want, "{} dead letters", stream.topic());
    }
    for service in services.iter_mut() {
        assert!(
            service.log().contains("communities reference loaded"),
            "{}",
            service.log()
        );
    }
    // The landed codes, read back by Python's deltalake.
    let script = r#"
import json, sys
from deltalake import DeltaTable
rows = DeltaTable(sys.argv[1]).to_pyarrow_table(
    columns=["event_id", "district_code", "street_code", "community_code"]).to_pylist()
json.dump({r["event_id"]: [r["district_code"], r["street_code"], r["community_code"]] for r in rows},
          sys.stdout)
# Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
sys.stdout.flush()
import os
os._exit(0)
"#;
    let landed = |stream: Stream| -> Value {
        let out = std::process::Command::new(python::python())
            .args(["-c", script])
            .arg(lake.table(stream))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    assert_eq!(
        landed(Stream::Facility),
        json!({"f-names": ["110108", "110108012", "110108012001"]})
    );
    assert_eq!(
        landed(Stream::Hotline),
        json!({
            "h-zone": ["110115", "110115001", "110115001001"],
            "h-county": ["500236", null, null],
            "h-moved": ["330113", "330113001", "330113001001"],
            "h-ambiguous": ["110108", null, null],
        })
    );
}

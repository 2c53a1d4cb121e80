//! Issue 14 item 10's evidence: phone, ID-card and bank-card numbers in every written form and
//! callers' names, fed as hotline tickets through the real `hotline-ingest` with the broker,
//! are nowhere in the lake: Python reads every string column of every row back and searches it
//! (NFKC-folded, separators stripped, so a partly masked form is caught too). One caller's
//! number written in different forms hashes to one `caller_hash`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use civicpulse_tests::broker::TestBroker;
use civicpulse_tests::events::{EventFactory, Stream};
use civicpulse_tests::kafka::{Record, create_topic, produce};
use civicpulse_tests::python;
use civicpulse_tests::scenario::{Lake, runtime, start_service, wait_rows};
use serde_json::{Value, json};

/// One written secret: the free-text field it is written in, the text, and the secret as the
/// scan looks for it (digits, or a name).
struct Case {
    field: &'static str,
    text: &'static str,
    secret: &'static str,
    caller_name: Option<&'static str>,
    caller_phone: Option<&'static str>,
}

const fn case(field: &'static str, text: &'static str, secret: &'static str) -> Case {
    Case {
        field,
        text,
        secret,
        caller_name: None,
        caller_phone: None,
    }
}

const fn caller(
    field: &'static str,
    text: &'static str,
    secret: &'static str,
    name: &'static str,
    phone: Option<&'static str>,
) -> Case {
    Case {
        field,
        text,
        secret,
        caller_name: Some(name),
        caller_phone: phone,
    }
}

const MOBILE: &str = "13912345678";
const LANDLINE: &str = "62345678";

const CASES: &[Case] = &[
    // Mobiles: separators, country codes, trunk 0, glued to letters and CJK, full width.
    case("content", "来电人手机13912345678，", MOBILE),
    case("content", "号码139 1234 5678请回电", MOBILE),
    case("content", "号码139-1234-5678请回电", MOBILE),
    case("content", "号码139.1234.5678请回电", MOBILE),
    case("content", "号码+86 13912345678", MOBILE),
    case("content", "号码+86-139-1234-5678", MOBILE),
    case("content", "号码0086 139 1234 5678", MOBILE),
    case("content", "号码(+86)13912345678", MOBILE),
    case("content", "号码8613912345678", MOBILE),
    case("content", "号码013912345678", MOBILE),
    case("content", "TEL13912345678", MOBILE),
    case("content", "VX13912345678", MOBILE),
    case("content", "电话13912345678", MOBILE),
    case("content", "微信号13912345678", MOBILE),
    case("content", "手机１３９１２３４５６７８", MOBILE),
    case(
        "content",
        "手机１３９\u{3000}１２３４\u{3000}５６７８",
        MOBILE,
    ),
    case("content", "手机 1 3 9 1 2 3 4 5 6 7 8 ", MOBILE),
    case("content", "手机：139－1234－5678", MOBILE),
    case("title", "13912345678反映噪声", MOBILE),
    case("location_text", "3号楼（联系人13912345678）", MOBILE),
    case("reply_text", "已电话联系139 1234 5678", MOBILE),
    case("tags", "回访13912345678", MOBILE),
    // Landlines: with and without area code, brackets, extensions, 7-digit numbers.
    case("content", "座机62345678", LANDLINE),
    case("content", "座机6234-5678", LANDLINE),
    case("content", "座机010-62345678", LANDLINE),
    case("content", "座机(010)62345678", LANDLINE),
    case("content", "座机（010）6234 5678", LANDLINE),
    case("content", "座机010 6234 5678", LANDLINE),
    case("content", "座机+86 10 6234 5678", LANDLINE),
    case("content", "座机0086-10-62345678", LANDLINE),
    case("content", "座机010-62345678转123", LANDLINE),
    case("content", "座机010-62345678 ext. 12", LANDLINE),
    case("content", "杭州0571-87654321", "87654321"),
    case("content", "外地0913-7654321", "7654321"),
    case("content", "外地(0913) 765 4321", "7654321"),
    // ID cards: 18 digits, with X, grouped, full width, 15 digits.
    case("content", "身份证110108199001011234", "110108199001011234"),
    case("content", "身份证11010819900101123X", "11010819900101123X"),
    case("content", "身份证11010819900101123x", "11010819900101123X"),
    case(
        "content",
        "身份证 110108 19900101 1234",
        "110108199001011234",
    ),
    case(
        "content",
        "身份证１１０１０８１９９００１０１１２３Ｘ",
        "11010819900101123X",
    ),
    case("content", "老身份证110108900101123", "110108900101123"),
    // Bank cards: 16 and 19 digits, grouped by four.
    case("content", "卡号6222021234567890", "6222021234567890"),
    case("content", "卡号6222 0212 3456 7890", "6222021234567890"),
    case("content", "卡号6222-0212-3456-7890", "6222021234567890"),
    case("content", "卡号6222021234567890123", "6222021234567890123"),
    case(
        "content",
        "卡号6222 0212 3456 7890 123",
        "6222021234567890123",
    ),
    // The caller's own name (and own number where it passes for no phone number).
    caller("content", "市民张三反映楼道堆物", "张三", "张三", None),
    caller("content", "欧阳娜娜来电称", "欧阳娜娜", "欧阳娜娜", None),
    caller("content", "来电人李 四称", "李四", "李四", None),
    caller("reply_text", "已回复王小明", "王小明", "王小明", None),
    caller("title", "赵六投诉噪声", "赵六", "赵六", None),
    caller("tags", "孙七", "孙七", "孙七", None),
    caller(
        "content",
        "回电7654321",
        "7654321",
        "钱八",
        Some("0913-7654321"),
    ),
];

/// One caller's number written differently on different tickets: one hash each.
const SAME_CALLER: &[(&str, &[&str])] = &[
    (
        "mobile",
        &[
            "13800138000",
            "+86 138-0013-8000",
            "0086 13800138000",
            "8613800138000",
            "013800138000",
            "１３８００１３８０００",
            "(+86) 138 0013 8000",
            "138.0013.8000",
        ],
    ),
    (
        "landline",
        &[
            "62345678",
            "010-62345678",
            "(010)6234 5678",
            "+86 10 6234 5678",
            "0086-10-62345678",
            "010 6234 5678转123",
            "０１０－６２３４５６７８",
        ],
    ),
];

/// Numbers that are not personal and that the masked text keeps.
const KEPT: [&str; 3] = ["2024-06-10", "3000元", "3号楼2单元501室"];

fn ticket(factory: &EventFactory, seq: u64, edit: impl FnOnce(&mut Value)) -> Record {
    let (_, _, record) = factory.event(seq);
    let mut v: Value = serde_json::from_slice(&record.payload).expect("JSON");
    let o = v.as_object_mut().expect("object");
    for field in ["caller_name", "caller_phone"] {
        o.remove(field);
    }
    o.insert(
        "content".into(),
        "2024-06-10反映3号楼2单元501室维修费3000元。".into(),
    );
    edit(&mut v);
    Record {
        key: record.key,
        payload: serde_json::to_vec(&v).expect("JSON"),
    }
}

#[test]
fn no_written_form_of_a_personal_number_or_name_reaches_the_lake() {
    assert!(CASES.len() >= 40, "{} cases", CASES.len());
    let _heavy = civicpulse_tests::heavy();
    let rt = runtime();
    let broker = TestBroker::start_durable();
    let lake = Lake::new();
    let brokers = broker.brokers();
    rt.block_on(create_topic(&brokers, Stream::Hotline.topic(), 1));
    let factory = EventFactory::new(Stream::Hotline);
    let mut records = Vec::new();
    // First the record that kept the regex masker busy for minutes: "1 " × 300,000.
    records.push(ticket(&factory, 0, |v| {
        v["content"] = "1 ".repeat(300_000).into();
    }));
    let mut seq = 1;
    for c in CASES {
        records.push(ticket(&factory, seq, |v| {
            let text = format!("{}（{}）", c.text, KEPT.join("，"));
            v[c.field] = match c.field {
                "tags" => json!([text]),
                _ => text.into(),
            };
            if let Some(name) = c.caller_name {
                v["caller_name"] = name.into();
            }
            if let Some(phone) = c.caller_phone {
                v["caller_phone"] = phone.into();
            }
        }));
        seq += 1;
    }
    let mut hash_groups: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for (group, forms) in SAME_CALLER {
        for form in *forms {
            let (_, _, r) = factory.event(seq);
            let id: Value = serde_json::from_slice(&r.payload).expect("JSON");
            hash_groups
                .entry(group)
                .or_default()
                .push(id["ticket_id"].as_str().expect("ticket_id").to_owned());
            records.push(ticket(&factory, seq, |v| {
                v["caller_phone"] = (*form).into();
                v["caller_name"] = "周九".into();
            }));
            seq += 1;
        }
    }
    let total = records.len() as u64;
    rt.block_on(produce(&brokers, Stream::Hotline.topic(), records));
    let started = Instant::now();
    let mut service = start_service(Stream::Hotline, &brokers, &lake.root(), &lake.logs());
    wait_rows(
        &lake.table(Stream::Hotline),
        total,
        Duration::from_secs(180),
        &mut [&mut service],
    );
    println!(
        "{total} hotline tickets (one with \"1 \" × 300,000) landed {:?} after the service started",
        started.elapsed()
    );

    let mut secrets: Vec<&str> = CASES.iter().map(|c| c.secret).collect();
    secrets.extend(["13800138000", LANDLINE]);
    secrets.extend([
        "张三",
        "欧阳娜娜",
        "李四",
        "王小明",
        "赵六",
        "孙七",
        "钱八",
        "周九",
    ]);
    let secrets: BTreeSet<&str> = secrets.into_iter().collect();
    let out = python::run_script(
        "pii_scan.py",
        &[
            lake.table(Stream::Hotline).to_str().expect("UTF-8"),
            &serde_json::to_string(&secrets).expect("JSON"),
            &serde_json::to_string(&KEPT).expect("JSON"),
        ],
    );
    let scan: Value = serde_json::from_str(&out).expect("scan JSON");
    assert_eq!(scan["rows"].as_u64(), Some(total), "{scan}");
    let columns = scan["string_columns"].as_array().expect("columns");
    for column in [
        "content",
        "title",
        "location_text",
        "reply_text",
        "tags",
        "caller_hash",
    ] {
        assert!(
            columns.iter().any(|c| c == column),
            "{column} not scanned: {scan}"
        );
    }
    assert_eq!(
        scan["hits"].as_array().map(Vec::len),
        Some(0),
        "secrets found in the lake: {:#}",
        scan["hits"]
    );
    // Every ticket's content kept its dates, amounts and addresses.
    assert_eq!(scan["kept_missing"], json!([]), "{scan}");

    let hashes = scan["caller_hash"].as_object().expect("hashes");
    let mut distinct = BTreeSet::new();
    for (group, tickets) in &hash_groups {
        let of_group: BTreeSet<&str> = tickets
            .iter()
            .map(|t| hashes[t.as_str()].as_str().expect("a caller_hash"))
            .collect();
        assert_eq!(of_group.len(), 1, "{group}: {of_group:?}");
        distinct.extend(of_group);
    }
    assert_eq!(distinct.len(), hash_groups.len(), "{distinct:?}");
    let status = service.terminate(Duration::from_secs(30)).expect("running");
    assert!(
        status.success(),
        "hotline-ingest exit: {status}: {}",
        service.log()
    );
}

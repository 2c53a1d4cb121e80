//! The reference tables end to end: `lake-maintain load-reference` validates the city's files
//! and replaces the Delta tables in one commit each; a second reader (Python `deltalake`) sees
//! the rows; kpi-query answers from `dim_community`, `dim_street` and `dim_life_circle` without
//! a restart (and from the earlier version with `as_of`); DuckDB's views give the same rows; a
//! bad file writes nothing.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use civicpulse_tests::process::binary;
use civicpulse_tests::python;
use civicpulse_tests::query::KpiQuery;
use serde_json::{Value, json};

const HEADER: &str = "community_code,community_name,street_code,street_name,district_code,population,households,area_km2,under3_population,elderly_population,on_digital_platform,functional_zone,valid_from";

/// Two communities of one Haidian street, the first with a second version from 2025, and one
/// of the Beijing Economic-Technological Development Area (a functional zone).
const COMMUNITIES: &str = "\
110108001001,万柳社区,110108001,万柳地区,110108,5200,2100,0.8,130,980,true,,2024-01-01
110108001001,万柳社区,110108001,万柳地区,110108,5300,2150,0.8,140,990,true,,2025-01-01
110108001002,新街社区,110108001,万柳地区,110108,4100,1600,0.5,,,false,,2024-01-01
110115001001,博兴社区,110115001,荣华街道,110115,3000,1200,1.1,90,300,true,北京经济技术开发区,2024-01-01
";

const LIFE_CIRCLES: &str = "life_circle_id,name,level,district_code,valid_from
HD-15-001,万柳15分钟生活圈,15min,110108,2024-01-01
HD-15-001,万柳15分钟生活圈(扩),15min,110108,2025-03-01
";

const ASSESSMENTS: &str = "assessment_id,community_code,framework,score,passed,assessed_date
A-2024-001,110108001001,完整社区,86.5,true,2024-05-01
A-2024-002,110108001002,完整社区,,false,2024-05-01
";

/// Runs `lake-maintain --lake LAKE load-reference ARGS`: exit success and stdout + stderr.
fn load(lake: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(binary("lake-maintain"))
        .arg("--lake")
        .arg(lake)
        .arg("load-reference")
        .args(args)
        .env("CIVICPULSE_TELEMETRY__LOG_LEVEL", "warn")
        .output()
        .expect("lake-maintain runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The table as the Python `deltalake` package reads it: version, column types, rows.
fn second_reader(table: &Path) -> Value {
    let script = r#"
import json, sys
from deltalake import DeltaTable
t = DeltaTable(sys.argv[1])
data = t.to_pyarrow_table()
rows = [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        for r in data.to_pylist()]
json.dump({"version": t.version(),
           "types": {f.name: str(f.type) for f in data.schema},
           "rows": sorted(rows, key=lambda r: [str(v) for v in r.values()])},
          sys.stdout, ensure_ascii=False)
# Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
sys.stdout.flush()
import os
os._exit(0)
"#;
    let out = Command::new(python::python())
        .args(["-c", script])
        .arg(table)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "second reader: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

fn version(lake: &Path, table: &str) -> i64 {
    second_reader(&lake.join(table))["version"]
        .as_i64()
        .unwrap()
}

#[test]
fn reference_files_load_into_the_lake_and_both_engines() {
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let communities = write(
        &files,
        "communities.csv",
        &format!("{HEADER}\n{COMMUNITIES}"),
    );
    let circles = write(&files, "life_circles.csv", LIFE_CIRCLES);
    let assessments = write(&files, "assessments.csv", ASSESSMENTS);

    // kpi-query started before anything is loaded: the tables are there, empty.
    let kq = KpiQuery::start(&lake, &[], &dir.path().join("logs"));
    for table in ["communities", "life_circles", "community_assessments"] {
        assert_eq!(
            kq.rows(&format!("SELECT count(*) AS n FROM {table}")),
            vec![json!({"n": 0})],
            "{table}"
        );
    }
    assert_eq!(
        kq.rows("SELECT count(*) AS n FROM dim_street"),
        vec![json!({"n": 0})]
    );

    // 1. Load all three.
    let (ok, out) = load(
        &lake,
        &[
            "--communities",
            &communities,
            "--life-circles",
            &circles,
            "--assessments",
            &assessments,
        ],
    );
    assert!(ok, "{out}");
    assert!(out.contains("communities: 4 rows"), "{out}");

    // The second reader sees the rows and the contract's types.
    let c = second_reader(&lake.join("communities"));
    assert_eq!(c["version"], 1, "{c}");
    assert_eq!(c["rows"].as_array().unwrap().len(), 4);
    for (column, wanted) in [
        ("community_code", "string"),
        ("population", "int64"),
        ("area_km2", "double"),
        ("on_digital_platform", "bool"),
        ("valid_from", "date32[day]"),
    ] {
        assert_eq!(c["types"][column], wanted, "{column}: {c}");
    }
    let first = &c["rows"][0];
    assert_eq!(first["community_code"], "110108001001");
    assert_eq!(first["valid_from"], "2024-01-01");
    let xinjie = c["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["community_code"] == "110108001002")
        .unwrap();
    assert!(
        xinjie["under3_population"].is_null(),
        "an empty cell is NULL: {xinjie}"
    );
    let a = second_reader(&lake.join("community_assessments"));
    assert_eq!(a["rows"].as_array().unwrap().len(), 2, "{a}");

    // kpi-query answers from the new tables without a restart.
    let dim = "SELECT community_code, CAST(valid_from AS VARCHAR) AS valid_from, \
               CAST(valid_to AS VARCHAR) AS valid_to, population, functional_zone \
               FROM dim_community ORDER BY community_code, valid_from";
    let rows = kq.rows(dim);
    assert_eq!(
        rows,
        vec![
            json!({"community_code": "110108001001", "valid_from": "2024-01-01", "valid_to": "2025-01-01", "population": 5200, "functional_zone": null}),
            json!({"community_code": "110108001001", "valid_from": "2025-01-01", "valid_to": null, "population": 5300, "functional_zone": null}),
            json!({"community_code": "110108001002", "valid_from": "2024-01-01", "valid_to": null, "population": 4100, "functional_zone": null}),
            json!({"community_code": "110115001001", "valid_from": "2024-01-01", "valid_to": null, "population": 3000, "functional_zone": "北京经济技术开发区"}),
        ]
    );
    let streets = "SELECT street_code, street_name, district_code, functional_zone, communities, \
                   population, households FROM dim_street ORDER BY street_code";
    assert_eq!(
        kq.rows(streets),
        vec![
            json!({"street_code": "110108001", "street_name": "万柳地区", "district_code": "110108", "functional_zone": null, "communities": 2, "population": 9400, "households": 3750}),
            json!({"street_code": "110115001", "street_name": "荣华街道", "district_code": "110115", "functional_zone": "北京经济技术开发区", "communities": 1, "population": 3000, "households": 1200}),
        ]
    );
    let circles_sql = "SELECT life_circle_id, name, level, CAST(valid_from AS VARCHAR) AS valid_from, \
                       CAST(valid_to AS VARCHAR) AS valid_to FROM dim_life_circle \
                       ORDER BY life_circle_id, valid_from";
    let circle_rows = kq.rows(circles_sql);
    assert_eq!(circle_rows.len(), 2);
    assert_eq!(circle_rows[0]["valid_to"], "2025-03-01");

    // DuckDB over the same lake gives the same rows.
    let refdir = dir.path().join("reference");
    std::fs::create_dir_all(&refdir).unwrap();
    for table in ["calendar", "divisions", "kpi_weight_versions"] {
        let r = kq.sql(&format!("SELECT * FROM {table}"), "format=parquet");
        assert_eq!(r.status, 200, "{table}: {}", r.text());
        std::fs::write(refdir.join(format!("{table}.parquet")), &r.body).unwrap();
    }
    let duck = |sql: &str, lake: &Path| -> Vec<Value> {
        let script = civicpulse_tests::workspace_root().join("tests/python/duckdb_kpis.py");
        let out = Command::new(python::python())
            .arg(&script)
            .arg(lake)
            .arg(&refdir)
            .args(["--sql", sql])
            .output()
            .expect("python runs");
        assert!(
            out.status.success(),
            "duckdb_kpis.py --sql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout)
            .expect("JSON")
            .as_array()
            .unwrap()
            .clone()
    };
    assert_eq!(duck(dim, &lake), rows, "dim_community on DuckDB");
    assert_eq!(
        duck(streets, &lake),
        kq.rows(streets),
        "dim_street on DuckDB"
    );
    assert_eq!(
        duck(circles_sql, &lake),
        circle_rows,
        "dim_life_circle on DuckDB"
    );
    // On DuckDB too, a table not loaded yet is an empty table of its schema.
    let empty_lake = dir.path().join("empty-lake");
    std::fs::create_dir_all(&empty_lake).unwrap();
    assert_eq!(
        duck(
            "SELECT count(*) AS n, count(valid_to) AS v, sum(population) AS p FROM dim_community",
            &empty_lake
        ),
        vec![json!({"n": 0, "v": 0, "p": null})]
    );
    let described = duck(
        "SELECT column_name, column_type FROM (DESCRIBE communities)",
        &empty_lake,
    );
    let types: Vec<String> = described
        .iter()
        .map(|r| {
            format!(
                "{} {}",
                r["column_name"].as_str().unwrap(),
                r["column_type"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        types,
        [
            "community_code VARCHAR",
            "community_name VARCHAR",
            "street_code VARCHAR",
            "street_name VARCHAR",
            "district_code VARCHAR",
            "population BIGINT",
            "households BIGINT",
            "area_km2 DOUBLE",
            "under3_population BIGINT",
            "elderly_population BIGINT",
            "on_digital_platform BOOLEAN",
            "functional_zone VARCHAR",
            "valid_from DATE",
        ]
    );

    // 2. A second load replaces the first in one commit; the first stays readable (as_of).
    std::thread::sleep(Duration::from_millis(1_500));
    let before_second = kq.get("/tables").json();
    let t = civicpulse_tests::rfc3339_now();
    std::thread::sleep(Duration::from_millis(1_500));
    let smaller = write(
        &files,
        "communities-2.csv",
        &format!("{HEADER}\n{}", COMMUNITIES.lines().next().unwrap()),
    );
    let (ok, out) = load(&lake, &["--communities", &smaller]);
    assert!(ok, "{out}");
    let c = second_reader(&lake.join("communities"));
    assert_eq!(c["version"], 2);
    assert_eq!(c["rows"].as_array().unwrap().len(), 1, "{c}");
    assert_eq!(
        kq.rows("SELECT count(*) AS n FROM dim_community"),
        vec![json!({"n": 1})]
    );
    let then = kq.sql(
        "SELECT count(*) AS n FROM dim_community",
        &format!("as_of={t}"),
    );
    assert_eq!(then.status, 200, "{}", then.text());
    assert_eq!(then.json(), json!([{"n": 4}]), "as of {t}");
    assert_ne!(kq.get("/tables").json(), before_second);
    // The other tables were not touched.
    assert_eq!(version(&lake, "life_circles"), 1);

    // 3. A bad file writes nothing, and names file, line and column.
    let bad = write(
        &files,
        "bad.csv",
        &format!(
            "{HEADER}\n{}110108002001,错社区,110108001,万柳地区,110108,1,1,,,,,,2024-01-01\n",
            COMMUNITIES
        ),
    );
    let (ok, out) = load(&lake, &["--communities", &bad]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(&format!(
            "{bad}: line 6, column 1 (community_code): community 110108002001 is not under street 110108001"
        )),
        "{out}"
    );
    // A good file loaded with a bad one is not written either.
    let bad_circles = write(
        &files,
        "bad_circles.csv",
        "life_circle_id,name,level,district_code,valid_from\nX,x,20min,110108,2024-01-01\n",
    );
    let (ok, out) = load(
        &lake,
        &[
            "--communities",
            &communities,
            "--life-circles",
            &bad_circles,
        ],
    );
    assert!(!ok, "{out}");
    assert!(out.contains("line 2, column 3 (level)"), "{out}");
    let duplicate = write(
        &files,
        "dup.csv",
        &format!(
            "{HEADER}\n{COMMUNITIES}{}\n",
            COMMUNITIES.lines().nth(2).unwrap()
        ),
    );
    let (ok, out) = load(&lake, &["--communities", &duplicate]);
    assert!(!ok, "{out}");
    assert!(
        out.contains("line 6: community_code 110108001002, valid_from 2024-01-01 repeats line 4"),
        "{out}"
    );
    // Assessments loaded alone name communities of the lake's table (now only 110108001001).
    let (ok, out) = load(&lake, &["--assessments", &assessments]);
    assert!(!ok, "{out}");
    assert!(
        out.contains(
            "line 3, column 2 (community_code): community 110108001002 is not in the communities"
        ),
        "{out}"
    );
    // --check validates and writes nothing.
    let (ok, out) = load(&lake, &["--communities", &communities, "--check"]);
    assert!(ok && out.contains("communities: 4 rows in"), "{out}");
    assert_eq!(version(&lake, "communities"), 2);
    assert_eq!(version(&lake, "life_circles"), 1);
    assert_eq!(
        kq.rows("SELECT count(*) AS n FROM dim_community"),
        vec![json!({"n": 1})]
    );
}

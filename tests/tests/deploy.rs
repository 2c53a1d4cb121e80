//! (issue 7) `deploy/` checked offline by `tests/python/check_deploy.py`: the Compose file
//! against the Compose Specification's JSON Schema, every Kubernetes manifest against
//! Kubernetes' schemas (kubernetes-validate), and the files against each other and the code
//! (configuration keys, bound ports, probes, Prometheus targets, the image's binaries). The
//! second test breaks one thing at a time in a copy of `deploy/` and expects the checker to
//! name it, so a checker that passes everything would fail here.

use std::path::Path;
use std::process::{Command, Output};

use civicpulse_tests::python::python;
use civicpulse_tests::workspace_root;

fn check(deploy: &Path) -> Output {
    let root = workspace_root();
    Command::new(python())
        .arg(root.join("tests/python/check_deploy.py"))
        .arg(&root)
        .arg("--deploy")
        .arg(deploy)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", python().display()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy file");
        }
    }
}

#[test]
fn deploy_files_pass_schema_and_consistency_checks() {
    let out = check(&workspace_root().join("deploy"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "check_deploy.py found problems:\n{stderr}"
    );
    let checked: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("check_deploy.py prints JSON");
    let names = |key: &str| -> Vec<String> {
        checked[key]
            .as_array()
            .unwrap_or_else(|| panic!("{key} in {checked}"))
            .iter()
            .map(|v| v.as_str().expect("string").to_owned())
            .collect()
    };
    let services = names("compose_services");
    let objects = names("k8s_objects");
    for service in [
        "hotline-ingest",
        "facility-ingest",
        "renovation-ingest",
        "lake-maintain",
        "kpi-query",
        "weekly-report",
    ] {
        assert!(services.iter().any(|s| s == service), "compose: {service}");
        assert!(
            objects
                .iter()
                .any(|o| *o == format!("Deployment/{service}")),
            "k8s: Deployment {service}"
        );
    }
    for service in ["kafka", "prometheus"] {
        assert!(services.iter().any(|s| s == service), "compose: {service}");
    }
    for object in [
        "Service/kpi-query",
        "ConfigMap/civicpulse-config",
        "Secret/civicpulse-secrets",
        "PersistentVolumeClaim/civicpulse-lake",
    ] {
        assert!(objects.iter().any(|o| o == object), "k8s: {object}");
    }
    let targets = names("scrape_targets");
    for target in [
        "hotline-ingest:9101",
        "facility-ingest:9102",
        "renovation-ingest:9103",
    ] {
        assert!(targets.iter().any(|t| t == target), "prometheus: {target}");
    }
    // Every environment variable and ConfigMap key went through the key check.
    assert!(checked["config_keys_checked"].as_u64().expect("count") >= 40);
    assert!(checked["configmap_keys"].as_u64().expect("count") >= 20);
}

/// One broken thing: in `file` (under deploy/), `from` becomes `to`; the checker must fail
/// and say `expected`.
struct Breakage {
    file: &'static str,
    from: &'static str,
    to: &'static str,
    expected: &'static str,
}

#[test]
fn checker_names_each_broken_file() {
    let cases = [
        Breakage {
            file: "Dockerfile",
            from: "WORKDIR /src\n",
            to: "WORKDIR src\n",
            expected: "hadolint DL3000 error: Use absolute WORKDIR",
        },
        Breakage {
            file: "Dockerfile",
            from: " lake-maintain kpi-query",
            to: " kpi-query",
            expected: "runs 'lake-maintain', which deploy/Dockerfile does not build",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "CIVICPULSE_MAINTAIN__INTERVAL_SECS",
            to: "CIVICPULSE_MAINTAIN__INTERVAL_SEC",
            expected: "maintain.interval_sec is not a configuration key",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "  stop_grace_period: 60s\n",
            to: "  stop_grace_period: 60s\n  restrt: always\n",
            expected: "Compose Specification: at services/hotline-ingest: Unevaluated properties are not allowed ('restrt'",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "http://127.0.0.1:9102/healthz",
            to: "http://127.0.0.1:9101/healthz",
            expected: "service facility-ingest: healthcheck asks port 9101, but the service binds [9102]",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "    depends_on: *kafka-ready\n",
            to: "    depends_on: [broker]\n",
            expected: "depends_on 'broker', which is not a service",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "CIVICPULSE_TELEMETRY__HTTP_ADDR: 0.0.0.0:9103",
            to: "CIVICPULSE_TELEMETRY__HTTP_ADDR: 127.0.0.1:9103",
            expected: "telemetry.http_addr = '127.0.0.1:9103' is loopback",
        },
        Breakage {
            file: "prometheus.yml",
            from: "port: 9103",
            to: "port: 9104",
            expected: "renovation-ingest serves /metrics on port 9103",
        },
        Breakage {
            file: "k8s/configmap.yaml",
            from: "    zstd_level = 3\n",
            to: "    zstd_level = \"3\"\n",
            expected: "landing.zstd_level is a str, its default a int",
        },
        Breakage {
            file: "k8s/configmap.yaml",
            from: "    tls = \"starttls\"\n",
            to: "    tls = \"starttls\"\n    password = \"hunter2\"\n",
            expected: "report.smtp.password is a secret: never in a file",
        },
        Breakage {
            file: "k8s/facility-ingest.yaml",
            from: "  replicas: 2\n",
            to: "  replicas: two\n",
            expected: "schema: at spec/replicas: 'two' is not of type 'integer'",
        },
        Breakage {
            file: "k8s/lake-maintain.yaml",
            from: "            periodSeconds: 30\n",
            to: "            periodSecond: 30\n",
            expected: "Additional properties are not allowed ('periodSecond' was unexpected)",
        },
        Breakage {
            file: "k8s/kpi-query.yaml",
            from: "          readinessProbe:\n",
            to: "          readinessProbeX:\n",
            expected: "container kpi-query: has no readinessProbe",
        },
        Breakage {
            file: "k8s/hotline-ingest.yaml",
            from: "key: CIVICPULSE_HASH_KEY",
            to: "key: HASH_KEY",
            expected: "no key HASH_KEY in Secret civicpulse-secrets",
        },
        Breakage {
            file: "k8s/secret.yaml",
            from: "CIVICPULSE_QUERY_TOKEN: EXAMPLE-ONLY-replace-with-openssl-rand-hex-32",
            to: "CIVICPULSE_QUERY_TOKEN: 6f1c0d9e8b7a",
            expected: "Secret civicpulse-secrets key CIVICPULSE_QUERY_TOKEN must hold a placeholder",
        },
    ];
    let dir = tempfile::tempdir().expect("temp dir");
    for case in &cases {
        let deploy = dir.path().join("deploy");
        let _ = std::fs::remove_dir_all(&deploy);
        copy_dir(&workspace_root().join("deploy"), &deploy);
        let path = deploy.join(case.file);
        let text = std::fs::read_to_string(&path).expect("read deploy file");
        assert!(
            text.contains(case.from),
            "{}: {:?} not found (update this test)",
            case.file,
            case.from
        );
        std::fs::write(&path, text.replacen(case.from, case.to, 1)).expect("write");
        let out = check(&deploy);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{}: {:?} → {:?} passed the checker",
            case.file,
            case.from,
            case.to
        );
        assert!(
            stderr.contains(case.expected),
            "{}: {:?} → {:?}: expected {:?} in:\n{stderr}",
            case.file,
            case.from,
            case.to,
            case.expected
        );
    }
}

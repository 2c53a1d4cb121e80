//! (issue 7) `deploy/` checked offline by `tests/python/check_deploy.py`: the Compose file
//! against the Compose Specification's JSON Schema, every Kubernetes manifest against
//! Kubernetes' schemas (kubernetes-validate), and the files against each other and the code
//! (configuration keys, bound ports, probes, Prometheus targets, the image's binaries). The
//! second test breaks one thing at a time in a copy of `deploy/` and expects the checker to
//! name it, so a checker that passes everything would fail here. (issue 14) The checker also
//! asserts the hardening (Compose limits, read_only, cap_drop ALL, no-new-privileges; every
//! container's securityContext and resources; NetworkPolicies), and every service refuses the
//! example secrets at start.

use std::path::Path;
use std::process::{Command, Output};

use civicpulse_tests::process::binary;
use civicpulse_tests::python::python;
use civicpulse_tests::workspace_root;

/// The civicpulse services deploy/ runs.
const SERVICES: [&str; 6] = [
    "hotline-ingest",
    "facility-ingest",
    "renovation-ingest",
    "lake-maintain",
    "kpi-query",
    "weekly-report",
];

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
    for service in SERVICES {
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
    // (issue 14) Every Compose service went through the hardening check; the policies exist.
    let mut hardened = names("compose_hardened");
    hardened.sort();
    let mut all = services.clone();
    all.sort();
    assert_eq!(hardened, all);
    let policies = names("network_policies");
    for policy in [
        "default-deny",
        "ingest",
        "kpi-query",
        "lake-maintain",
        "weekly-report",
    ] {
        assert!(
            policies.iter().any(|p| p == policy),
            "NetworkPolicy {policy}"
        );
    }
}

/// `NAME=value` secrets of `deploy/.env.example` (commented-out ones too) whose value is a
/// placeholder.
fn example_secrets() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(workspace_root().join("deploy/.env.example")).unwrap();
    text.lines()
        .map(|l| l.trim_start_matches(['#', ' ']))
        .filter_map(|l| l.split_once('='))
        .filter(|(name, value)| name.starts_with("CIVICPULSE_") && value.contains("EXAMPLE"))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

/// (issue 14) Every service refuses to start with a secret of the deploy examples: the message
/// names the variable and never repeats the value.
#[test]
fn services_refuse_the_example_secrets() {
    let secrets = example_secrets();
    // The hash key, kpi-query's token and password, the SMTP password (core's secret.rs tests
    // name them).
    assert!(secrets.len() >= 4, "{secrets:?}");
    let secret_yaml =
        std::fs::read_to_string(workspace_root().join("deploy/k8s/secret.yaml")).unwrap();
    let mut cases = secrets.clone();
    // An object-store key with AWS's documentation value, and a placeholder of one's own.
    cases.push((
        "CIVICPULSE_LAKE__STORAGE_OPTIONS__AWS_SECRET_ACCESS_KEY".into(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY".into(),
    ));
    cases.push((
        "CIVICPULSE_HASH_KEY".into(),
        "change-me-0123456789abcdef".into(),
    ));
    for (var, value) in secret_yaml
        .lines()
        .filter_map(|l| l.trim().split_once(": "))
        .filter(|(n, _)| n.starts_with("CIVICPULSE_"))
    {
        cases.push((var.to_owned(), value.to_owned()));
    }
    for service in SERVICES {
        for (var, value) in &cases {
            let out = Command::new(binary(service))
                .env(var, value)
                .env("CIVICPULSE_KAFKA__BROKERS", "127.0.0.1:9")
                .env("CIVICPULSE_LAKE__ROOT", "/nonexistent/civicpulse-lake")
                .output()
                .expect("run the service");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{service} with {var}: {stderr}");
            assert!(
                stderr.contains(&format!("{service}: {var} holds an example placeholder")),
                "{service} with {var}: {stderr}"
            );
            assert!(
                !stderr.contains(value.as_str()),
                "{service} echoes {var}: {stderr}"
            );
        }
    }
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
        // (issue 14) Hardening: Compose limits, read-only roots, capabilities; Kubernetes
        // securityContext and resources; NetworkPolicies.
        Breakage {
            file: "docker-compose.yml",
            from: "  read_only: true\n",
            to: "",
            expected: "service hotline-ingest: is not read_only: true",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "          memory: 3g\n",
            to: "",
            expected: "service lake-maintain: no memory limit",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "          cpus: \"4\"\n",
            to: "",
            expected: "service kpi-query: no CPU limit",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "    restart: unless-stopped\n    read_only: true\n    cap_drop: [ALL]\n",
            to: "    restart: unless-stopped\n    read_only: true\n    cap_drop: [NET_RAW]\n",
            expected: "service prometheus: does not cap_drop ALL",
        },
        Breakage {
            file: "docker-compose.yml",
            from: "    cap_drop: [ALL]\n    security_opt: [\"no-new-privileges:true\"]\n    deploy:\n      resources:\n        limits:\n          cpus: \"2\"\n          memory: 2g\n",
            to: "    cap_drop: [ALL]\n    deploy:\n      resources:\n        limits:\n          cpus: \"2\"\n          memory: 2g\n",
            expected: "service kafka: has no security_opt no-new-privileges:true",
        },
        Breakage {
            file: "k8s/kpi-query.yaml",
            from: "readOnlyRootFilesystem: true",
            to: "readOnlyRootFilesystem: false",
            expected: "container kpi-query: securityContext.readOnlyRootFilesystem is not true",
        },
        Breakage {
            file: "k8s/weekly-report.yaml",
            from: "drop: [\"ALL\"]",
            to: "drop: [\"NET_RAW\"]",
            expected: "container weekly-report: securityContext.capabilities.drop lacks ALL",
        },
        Breakage {
            file: "k8s/lake-maintain.yaml",
            from: "        runAsNonRoot: true\n",
            to: "",
            expected: "container lake-maintain: securityContext.runAsNonRoot is not true",
        },
        Breakage {
            file: "k8s/renovation-ingest.yaml",
            from: "allowPrivilegeEscalation: false",
            to: "allowPrivilegeEscalation: true",
            expected: "securityContext.allowPrivilegeEscalation is not false",
        },
        Breakage {
            file: "k8s/facility-ingest.yaml",
            from: "              memory: 1536Mi\n",
            to: "",
            expected: "container facility-ingest: no resources.limits.memory",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "  podSelector: {}\n  policyTypes: [Ingress, Egress]\n",
            to: "  podSelector: {}\n  policyTypes: [Ingress]\n",
            expected: "no default-deny NetworkPolicy",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "values: [hotline-ingest, facility-ingest, renovation-ingest]",
            to: "values: [hotline-ingest, facility-ingest]",
            expected: "Deployment renovation-ingest: no NetworkPolicy selects its pods",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "        - port: postgres\n",
            to: "",
            expected: "Deployment kpi-query: no NetworkPolicy admits ingress to port postgres (5433)",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "    - ports:\n        - port: 587\n",
            to: "    - ports:\n        - port: 25\n",
            expected: "Deployment weekly-report: no egress to SMTP (report.smtp.port 587)",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "    # The object store (lake.root = \"s3://…\").\n    - ports:\n        - port: 443\n",
            to: "    - {}\n",
            expected: "Deployment hotline-ingest: an egress rule without ports opens every port",
        },
        Breakage {
            file: "k8s/networkpolicy.yaml",
            from: "  name: lake-maintain\n  namespace: civicpulse\n  labels:\n    app.kubernetes.io/part-of: civicpulse\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: lake-maintain\n  policyTypes: [Ingress, Egress]\n  egress:\n",
            to: "  name: lake-maintain\n  namespace: civicpulse\n  labels:\n    app.kubernetes.io/part-of: civicpulse\nspec:\n  podSelector:\n    matchLabels:\n      app.kubernetes.io/name: lake-maintain\n  policyTypes: [Ingress, Egress]\n  egress:\n    - ports:\n        - port: 9092\n",
            expected: "Deployment lake-maintain: egress to the Kafka brokers (port 9092), which lake-maintain does not use",
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

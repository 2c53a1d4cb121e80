"""The KPI catalogue of sql/ run on DuckDB over a civicpulse lake: the second engine the tests
compare kpi-query (DataFusion) against.

usage: duckdb_kpis.py [--state MODE] LAKE REFDIR FROM TO GRAIN [KPI ...]
       duckdb_kpis.py [--state MODE] LAKE REFDIR --sql QUERY

LAKE holds the Delta tables (hotline_tickets, facility_changes, renovation_progress); each is
read as the active Parquet files of its current version (`DeltaTable.file_uris()`), with the
hive partition columns `district` and `month` as VARCHAR. The reference tables `lake-maintain
load-reference` writes (communities, life_circles, community_assessments) are read from LAKE the
same way; one not loaded yet is an empty table of its schema (REFERENCE_SCHEMAS, the contract of
civicpulse_core::reference). Each state table (STATE_TABLES: hotline_ticket_state, the one
row per ticket that views 30..34 project; hotline_ticket_reopens, each reopen event once, for
K30; facility_state and renovation_project_state, the histories views 10, 11, 20 and 21 project) is, with `--state auto` (the default), LAKE's Delta
table of that name when there is one (its active Parquet files, the hive partition column as
VARCHAR), else a view of its reference definition sql/state/NAME.sql over its event table;
`--state reference` always takes the reference (what the tests compare the kept tables with),
`--state lake` requires the Delta tables. `--state MODE` may stand anywhere among the arguments.
REFDIR holds the built-in reference tables as
kpi-query exports them: calendar.parquet, divisions.parquet, kpi_weight_versions.parquet.
FROM and TO are inclusive local dates (YYYY-MM-DD); GRAIN is week, month, quarter (kpi-query
accepts it too) or year. The views of sql/views are created in file-name order, then every KPI
of sql/kpis (or only the ids given) is run with its parameters put in as sql/README.md says.

Prints JSON {"K13": [{"district", "period": "YYYY-MM-DD", "item", "value", "numerator",
"denominator"}, ...], ...}, rows sorted by district, period, item (NULL first).
With DUCKDB_KPIS_TIMINGS=1 the seconds each KPI took go to stderr. With `--time N` (after
GRAIN) each KPI runs N times and the JSON is {"timings": {"K13": {"p50": s, "runs": [s, ...]}}}
instead (bench/run's query benchmark). With `--sql QUERY` it prints the rows of one query over
the same tables and views as a JSON list of objects (dates as YYYY-MM-DD).
"""
import datetime as dt
import json
import os
import re
import sys
import time

import duckdb
import pyarrow as pa
from deltalake import DeltaTable

SQL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "sql")
DELTA_TABLES = ("hotline_tickets", "facility_changes", "renovation_progress")
REF_TABLES = ("calendar", "divisions", "kpi_weight_versions")
# The state tables the state service keeps (services/state/src/lib.rs) and their partition
# columns; the views project them.
STATE_TABLES = {
    "hotline_ticket_state": "received_month",
    "hotline_ticket_reopens": "month",
    "facility_state": "district",
    "renovation_project_state": "district",
}
STATE_MODES = ("auto", "lake", "reference")
# The lake's reference tables and their schemas (services/core/src/reference.rs).
REFERENCE_SCHEMAS = {
    "communities": pa.schema([
        ("community_code", pa.string()),
        ("community_name", pa.string()),
        ("street_code", pa.string()),
        ("street_name", pa.string()),
        ("district_code", pa.string()),
        ("population", pa.int64()),
        ("households", pa.int64()),
        ("area_km2", pa.float64()),
        ("under3_population", pa.int64()),
        ("elderly_population", pa.int64()),
        ("on_digital_platform", pa.bool_()),
        ("functional_zone", pa.string()),
        ("valid_from", pa.date32()),
    ]),
    "life_circles": pa.schema([
        ("life_circle_id", pa.string()),
        ("name", pa.string()),
        ("level", pa.string()),
        ("district_code", pa.string()),
        ("valid_from", pa.date32()),
    ]),
    "community_assessments": pa.schema([
        ("assessment_id", pa.string()),
        ("community_code", pa.string()),
        ("framework", pa.string()),
        ("score", pa.float64()),
        ("passed", pa.bool_()),
        ("assessed_date", pa.date32()),
    ]),
}
GRAINS = ("week", "month", "quarter", "year")
COLUMNS = ("district", "period", "item", "value", "numerator", "denominator")


def quote(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def strip_sql(text: str) -> str:
    """The statement of a file without its trailing semicolon."""
    return text.strip().rstrip(";").strip()


def define_delta(con: duckdb.DuckDBPyConnection, name: str, path: str) -> bool:
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        print(f"duckdb_kpis: no Delta table {path}", file=sys.stderr)
        return False
    table = DeltaTable(path)
    files = table.file_uris()
    if not files:
        # No data yet: an empty table of the Delta schema (partition columns included).
        empty = pa.schema(table.schema().to_arrow()).empty_table()
        con.register(f"__empty_{name}", empty)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM __empty_{name}")
        con.unregister(f"__empty_{name}")
        return True
    listing = ", ".join(quote(f) for f in files)
    con.execute(
        f"CREATE VIEW {name} AS SELECT * FROM read_parquet([{listing}], "
        "hive_partitioning = true, union_by_name = true, "
        "hive_types = {'district': 'VARCHAR', 'month': 'VARCHAR'})"
    )
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall())
    if types.get("event_time") != "TIMESTAMP WITH TIME ZONE":
        raise SystemExit(f"duckdb_kpis: {name}.event_time is {types.get('event_time')}, "
                         "expected TIMESTAMP WITH TIME ZONE")
    for col in ("district", "month"):
        if types.get(col) != "VARCHAR":
            raise SystemExit(f"duckdb_kpis: {name}.{col} is {types.get(col)}, expected VARCHAR")
    return True


def define_reference(con: duckdb.DuckDBPyConnection, name: str, path: str) -> None:
    """A reference table of the lake: its active Parquet files, or an empty table of its schema
    when it has not been loaded (or has no files)."""
    files = []
    if os.path.isdir(os.path.join(path, "_delta_log")):
        files = DeltaTable(path).file_uris()
    if not files:
        con.register(f"__empty_{name}", REFERENCE_SCHEMAS[name].empty_table())
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM __empty_{name}")
        con.unregister(f"__empty_{name}")
        return
    listing = ", ".join(quote(f) for f in files)
    columns = ", ".join(REFERENCE_SCHEMAS[name].names)
    con.execute(
        f"CREATE VIEW {name} AS SELECT {columns} FROM read_parquet([{listing}], "
        "hive_partitioning = false, union_by_name = true)"
    )


def define_state(con: duckdb.DuckDBPyConnection, lake: str, mode: str = "auto") -> str:
    """Every state table: LAKE's Delta table (mode `lake`, or `auto` when it exists) or a view of
    its reference definition over its event table (mode `reference`, or `auto` without the
    table). Returns which the hotline state is: "lake" or "reference"."""
    if mode not in STATE_MODES:
        raise SystemExit(f"duckdb_kpis: --state must be one of {STATE_MODES}")
    kinds = {name: define_one_state(con, lake, name, partition, mode)
             for name, partition in STATE_TABLES.items()}
    return kinds["hotline_ticket_state"]


def define_one_state(con: duckdb.DuckDBPyConnection, lake: str, name: str, partition: str,
                     mode: str) -> str:
    path = os.path.join(lake, name)
    in_lake = os.path.isdir(os.path.join(path, "_delta_log"))
    if mode == "lake" and not in_lake:
        raise SystemExit(f"duckdb_kpis: --state lake: no Delta table {path}")
    if mode == "reference" or not in_lake:
        with open(os.path.join(SQL_DIR, "state", f"{name}.sql"), encoding="utf-8") as fh:
            body = strip_sql(fh.read())
        try:
            con.execute(f"CREATE VIEW {name} AS\n{body}")
        except duckdb.Error as e:
            # No event table: the views over this state are left out below.
            print(f"duckdb_kpis: view {name} not created: {e}", file=sys.stderr)
        return "reference"
    table = DeltaTable(path)
    files = table.file_uris()
    if not files:
        empty = pa.schema(table.schema().to_arrow()).empty_table()
        con.register(f"__empty_{name}", empty)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM __empty_{name}")
        con.unregister(f"__empty_{name}")
        return "lake"
    listing = ", ".join(quote(f) for f in files)
    # The table's column order (hive partitioning puts the partition column last).
    columns = ", ".join(f.name for f in table.schema().fields)
    con.execute(
        f"CREATE VIEW {name} AS SELECT {columns} FROM read_parquet([{listing}], "
        "hive_partitioning = true, union_by_name = true, "
        f"hive_types = {{'{partition}': 'VARCHAR'}})"
    )
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
    )
    if types.get(partition) != "VARCHAR":
        raise SystemExit(f"duckdb_kpis: {name}.{partition} is "
                         f"{types.get(partition)}, expected VARCHAR")
    return "lake"


def connect(lake: str, refdir: str, state: str = "auto") -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with the lake's tables, the reference tables and every view;
    the state tables as `state` says (define_state)."""
    con = duckdb.connect()
    # Casts of TIMESTAMP WITH TIME ZONE (e.g. to DATE) then work in UTC, as in DataFusion.
    con.execute("SET TimeZone = 'UTC'")
    for name in DELTA_TABLES:
        define_delta(con, name, os.path.join(lake, name))
    define_state(con, lake, state)
    for name in REFERENCE_SCHEMAS:
        define_reference(con, name, os.path.join(lake, name))
    for name in REF_TABLES:
        path = os.path.join(refdir, f"{name}.parquet")
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM read_parquet({quote(path)})")

    for f in sql_files("views"):
        view = re.sub(r"^\d+_", "", f[: -len(".sql")])
        with open(os.path.join(SQL_DIR, "views", f), encoding="utf-8") as fh:
            body = strip_sql(fh.read())
        try:
            con.execute(f"CREATE VIEW {view} AS\n{body}")
        except duckdb.Error as e:
            # A missing base table leaves its views out; KPIs on them fail below.
            print(f"duckdb_kpis: view {view} not created: {e}", file=sys.stderr)
    return con


def sql_files(sub: str) -> list[str]:
    d = os.path.join(SQL_DIR, sub)
    return sorted(f for f in os.listdir(d) if f.endswith(".sql"))


def substitute(text: str, start: dt.date, end: dt.date, grain: str) -> str:
    values = {
        "{from}": f"DATE '{start.isoformat()}'",
        "{to}": f"DATE '{end.isoformat()}'",
        "{grain}": f"'{grain}'",
    }
    return re.sub(r"\{from\}|\{to\}|\{grain\}", lambda m: values[m.group(0)], text)


def cell(v):
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def take_state(argv: list[str]) -> tuple[str, list[str]]:
    """`--state MODE` out of the arguments, wherever it stands."""
    if "--state" not in argv:
        return "auto", argv
    i = argv.index("--state")
    if i + 1 >= len(argv) or argv[i + 1] not in STATE_MODES:
        raise SystemExit(f"duckdb_kpis: --state must be one of {STATE_MODES}")
    return argv[i + 1], argv[:i] + argv[i + 2:]


def main() -> None:
    state, sys.argv[1:] = take_state(sys.argv[1:])
    if len(sys.argv) == 5 and sys.argv[3] == "--sql":
        cur = connect(sys.argv[1], sys.argv[2], state).execute(sys.argv[4])
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, (cell(v) for v in r))) for r in cur.fetchall()]
        json.dump(rows, sys.stdout, ensure_ascii=False)
        sys.stdout.write("\n")
        return
    if len(sys.argv) < 6:
        raise SystemExit(__doc__)
    lake, refdir = sys.argv[1], sys.argv[2]
    start = dt.date.fromisoformat(sys.argv[3])
    end = dt.date.fromisoformat(sys.argv[4])
    grain = sys.argv[5]
    if grain not in GRAINS:
        raise SystemExit(f"duckdb_kpis: grain must be one of {GRAINS}")
    wanted = sys.argv[6:]
    repeat = 0
    if wanted[:1] == ["--time"]:
        repeat, wanted = int(wanted[1]), wanted[2:]
    timings = os.environ.get("DUCKDB_KPIS_TIMINGS") == "1"

    con = connect(lake, refdir, state)

    kpis = {f[: -len(".sql")]: f for f in sql_files("kpis")}
    ids = wanted or sorted(kpis)
    unknown = [k for k in ids if k not in kpis]
    if unknown:
        raise SystemExit(f"duckdb_kpis: unknown KPI {', '.join(unknown)}")

    out, failed, bench = {}, [], {}
    for kpi in ids:
        with open(os.path.join(SQL_DIR, "kpis", kpis[kpi]), encoding="utf-8") as fh:
            body = substitute(strip_sql(fh.read()), start, end, grain)
        query = (
            f"SELECT {', '.join(COLUMNS)} FROM (\n{body}\n) AS kpi "
            "ORDER BY district, period, item NULLS FIRST"
        )
        runs = []
        try:
            for _ in range(max(repeat, 1)):
                t0 = time.perf_counter()
                rows = con.execute(query).fetchall()
                runs.append(time.perf_counter() - t0)
        except duckdb.Error as e:
            print(f"duckdb_kpis: {kpi} failed: {e}", file=sys.stderr)
            failed.append(kpi)
            continue
        bench[kpi] = {"p50": sorted(runs)[len(runs) // 2], "runs": runs}
        if timings:
            print(f"{kpi}\t{time.perf_counter() - t0:.3f}s\t{len(rows)} rows", file=sys.stderr)
        out[kpi] = [dict(zip(COLUMNS, (cell(v) for v in r))) for r in rows]

    json.dump({"timings": bench} if repeat else out, sys.stdout, ensure_ascii=False)
    sys.stdout.write("\n")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)

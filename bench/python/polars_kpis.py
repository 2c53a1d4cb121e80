"""The KPI catalogue of sql/ run by polars' SQL engine (`pl.SQLContext`) over a civicpulse lake:
bench/run's third query engine beside kpi-query and DuckDB.

usage: polars_kpis.py LAKE REFDIR FROM TO GRAIN --time N [KPI ...]

Each Delta table is `pl.scan_parquet` of the active Parquet files of its current version
(`DeltaTable.file_uris()`) with the hive partition columns `district` and `month` as strings;
REFDIR holds the reference tables as kpi-query exports them (calendar, divisions,
kpi_weight_versions). The views of sql/views are registered in file-name order as lazy frames,
then every KPI of sql/kpis (or the ids given) runs N times, unchanged except for its
parameters (as duckdb_kpis.py puts them in). Nothing is translated by hand: a view or KPI that
polars' SQL cannot run is reported with polars' own message.

Prints JSON {"timings": {"K13": {"p50": s, "runs": [s, ...], "rows": n}}, "errors": {"K25":
"message"}, "view_errors": {"hotline_ticket_latest": "message"}}.
"""
import datetime as dt
import json
import os
import re
import sys
import time

import polars as pl
from deltalake import DeltaTable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "python"))
from duckdb_kpis import (  # noqa: E402  (the same SQL files, parameters and column order)
    COLUMNS, DELTA_TABLES, GRAINS, REF_TABLES, REFERENCE_SCHEMAS, SQL_DIR, STATE_TABLES,
    sql_files, strip_sql, substitute,
)


def first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def main() -> None:
    if len(sys.argv) < 8 or sys.argv[6] != "--time":
        raise SystemExit(__doc__)
    lake, refdir = sys.argv[1], sys.argv[2]
    start = dt.date.fromisoformat(sys.argv[3])
    end = dt.date.fromisoformat(sys.argv[4])
    grain = sys.argv[5]
    if grain not in GRAINS:
        raise SystemExit(f"polars_kpis: grain must be one of {GRAINS}")
    repeat, wanted = int(sys.argv[7]), sys.argv[8:]

    ctx = pl.SQLContext()
    for name in DELTA_TABLES:
        files = DeltaTable(os.path.join(lake, name)).file_uris()
        ctx.register(name, pl.scan_parquet(
            files, hive_partitioning=True,
            hive_schema={"district": pl.String, "month": pl.String},
        ))
    for name in REF_TABLES:
        ctx.register(name, pl.scan_parquet(os.path.join(refdir, f"{name}.parquet")))
    # The lake's reference tables; one not loaded is an empty frame of its schema.
    for name, schema in REFERENCE_SCHEMAS.items():
        path = os.path.join(lake, name)
        files = DeltaTable(path).file_uris() if os.path.isdir(os.path.join(path, "_delta_log")) else []
        frame = (pl.scan_parquet(files).select(schema.names) if files
                 else pl.from_arrow(schema.empty_table()).lazy())
        ctx.register(name, frame)

    # The kept state tables (`lake-maintain state`; bench/run keeps them), which the views
    # project. polars cannot run their reference definitions, so without them those fail.
    for name, partition in STATE_TABLES.items():
        state = os.path.join(lake, name)
        if os.path.isdir(os.path.join(state, "_delta_log")):
            table = DeltaTable(state)
            ctx.register(name, pl.scan_parquet(
                table.file_uris(), hive_partitioning=True, hive_schema={partition: pl.String},
            ).select([f.name for f in table.schema().fields]))

    view_errors = {}
    for f in sql_files("views"):
        view = re.sub(r"^\d+_", "", f[: -len(".sql")])
        with open(os.path.join(SQL_DIR, "views", f), encoding="utf-8") as fh:
            body = strip_sql(fh.read())
        try:
            ctx.register(view, ctx.execute(body))
        except Exception as e:  # polars raises several exception types for unsupported SQL
            view_errors[view] = first_line(e)

    kpis = {f[: -len(".sql")]: f for f in sql_files("kpis")}
    timings, errors = {}, {}
    for kpi in wanted or sorted(kpis):
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
                rows = ctx.execute(query).collect().height
                runs.append(time.perf_counter() - t0)
        except Exception as e:
            errors[kpi] = first_line(e)
            continue
        timings[kpi] = {"p50": sorted(runs)[len(runs) // 2], "runs": runs, "rows": rows}

    json.dump({"timings": timings, "errors": errors, "view_errors": view_errors}, sys.stdout,
              ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    os._exit(0)

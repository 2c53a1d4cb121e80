"""The types an analyst gets from each Delta table of a civicpulse lake in pandas, pyarrow,
polars and DuckDB: the claim of the README's analysts' section, checked by
`tests/tests/analysts.rs`.

usage: lake_types.py LAKE

For each table (hotline_tickets, facility_changes, renovation_progress) prints, as JSON, the
table's partition columns and, per tool, the type of every timestamp, decimal and date column
of its Delta schema plus `district`:

{"hotline_tickets": {"partition_columns": ["district", "month"],
                     "columns": {"received_time": "timestamp"...},
                     "pyarrow": {"received_time": "timestamp[us, tz=UTC]", ...},
                     "pandas": {...}, "polars": {...}, "duckdb": {...}}, ...}

pandas keeps decimals as Python `decimal.Decimal` objects: such a column is reported as
`object/Decimal` (the dtype, then the type of its first non-null value), and `event_date` as
`object/date`.
"""
import json
import os
import sys

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

TABLES = ("hotline_tickets", "facility_changes", "renovation_progress")


def kind(t: pa.DataType) -> str | None:
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_decimal(t):
        return "decimal"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "string"
    return None


def pandas_type(series) -> str:
    dtype = str(series.dtype)
    if dtype != "object":
        return dtype
    values = series.dropna()
    return f"object/{type(values.iloc[0]).__name__}" if len(values) else "object/empty"


def describe(lake: str, name: str, con: duckdb.DuckDBPyConnection) -> dict:
    path = os.path.join(lake, name)
    table = DeltaTable(path)
    arrow_schema = pa.schema(table.schema().to_arrow())
    columns = {
        f.name: kind(f.type)
        for f in arrow_schema
        if kind(f.type) in ("timestamp", "decimal", "date") or f.name == "district"
    }
    names = list(columns)
    out = {
        "partition_columns": table.metadata().partition_columns,
        "columns": columns,
    }

    data = table.to_pyarrow_table(columns=names)
    if data.num_rows == 0:
        raise SystemExit(f"lake_types: {name} has no rows")
    out["pyarrow"] = {c: str(data.schema.field(c).type) for c in names}

    frame = table.to_pandas(columns=names)
    out["pandas"] = {c: pandas_type(frame[c]) for c in names}

    schema = pl.scan_delta(path).collect_schema()
    out["polars"] = {c: str(schema[c]) for c in names}

    files = table.file_uris()
    con.execute(
        f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet({files!r}, "
        "hive_partitioning = true, hive_types = {'district': 'VARCHAR', 'month': 'VARCHAR'})"
    )
    types = dict(
        con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {name})").fetchall()
    )
    out["duckdb"] = {c: types.get(c) for c in names}
    return out


def main() -> None:
    lake = sys.argv[1]
    con = duckdb.connect()
    json.dump({name: describe(lake, name, con) for name in TABLES}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)

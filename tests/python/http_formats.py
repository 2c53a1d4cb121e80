"""Reads one query's answer saved in several HTTP formats and prints each as the same plain rows.

usage: http_formats.py NAME=FILE... (the format is the file's extension: json, csv, arrow,
parquet)

Prints `{NAME: {"columns": [...], "rows": [[str|null, ...], ...]}}`. Values are normalised so
the formats compare: integers as decimal text, floats by `repr`, dates as ISO text, nulls (and
CSV's empty fields) as null. Arrow and Parquet are read with pyarrow, CSV with the `csv`
module, JSON with `json`.
"""
import csv
import io
import json
import os
import sys

import pyarrow as pa
import pyarrow.parquet as pq


def norm(value):
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    for parse in (int, float):
        try:
            return norm(parse(text))
        except ValueError:
            pass
    return text


def from_table(table: pa.Table):
    columns = table.column_names
    rows = [[norm(row[c]) for c in columns] for row in table.to_pylist()]
    return {"columns": columns, "rows": rows, "types": [str(t) for t in table.schema.types]}


def read(path: str):
    kind = path.rsplit(".", 1)[-1]
    with open(path, "rb") as f:
        data = f.read()
    if kind == "json":
        objects = json.loads(data.decode("utf-8"))
        columns = list(objects[0].keys()) if objects else []
        return {"columns": columns, "rows": [[norm(o[c]) for c in columns] for o in objects]}
    if kind == "csv":
        lines = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        return {"columns": lines[0], "rows": [[norm(v) for v in line] for line in lines[1:]]}
    if kind == "arrow":
        return from_table(pa.ipc.open_stream(data).read_all())
    if kind == "parquet":
        return from_table(pq.read_table(pa.BufferReader(data)))
    raise SystemExit(f"unknown format of {path}")


def main() -> None:
    out = {}
    for arg in sys.argv[1:]:
        name, path = arg.split("=", 1)
        out[name] = read(path)
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)

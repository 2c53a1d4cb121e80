"""A resend that takes an event over from another facility: the state service recomputes both.

usage: state_takeover.py LAKE WORK LAKE_MAINTAIN

LAKE holds a landed facility_changes table. Its rows are copied into a new lake under WORK at
Kafka partition 1, `LAKE_MAINTAIN --lake WORK/lake state --once` keeps facility_state, then a
copy of one facility's first event lands under another facility_id at partition 0: a lower
Kafka position, so the resend rule (facility_events: the row at the lowest position of each
(district, month, event_id)) gives the event to the new facility and takes it from the first.
After a second `state --once`, the kept facility_state must equal its reference definition
(sql/state/facility_state.sql on DuckDB over the same files) and show the takeover. Exits 1
otherwise. The ingest cannot produce this order by itself (`civicpulse land` writes partition 0
in order), hence the copy.
"""
import os
import subprocess
import sys

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import duckdb_kpis  # noqa: E402

TAKER = "TAKEOVER-FACILITY"


def keep_state(lake_maintain: str, lake: str) -> None:
    subprocess.run([lake_maintain, "--lake", lake, "state", "--once"], check=True,
                   stdout=subprocess.DEVNULL)


def with_column(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    source, work, lake_maintain = sys.argv[1:]
    lake = os.path.join(work, "lake")
    table = os.path.join(lake, "facility_changes")
    rows = DeltaTable(os.path.join(source, "facility_changes")).to_pyarrow_table()
    position = rows.schema.field("kafka_partition").type
    rows = with_column(rows, "kafka_partition", pa.array([1] * rows.num_rows, type=position))
    write_deltalake(table, rows, partition_by=["district", "month"])
    keep_state(lake_maintain, lake)

    counts = pc.value_counts(rows["facility_id"]).to_pylist()
    victim = next(c["values"] for c in counts if c["counts"] >= 2)
    first = rows.filter(pc.equal(rows["facility_id"], victim)).sort_by("kafka_offset").slice(0, 1)
    resend = with_column(first, "facility_id", pa.array([TAKER]))
    resend = with_column(resend, "kafka_partition", pa.array([0], type=position))
    write_deltalake(table, resend, mode="append", partition_by=["district", "month"])
    keep_state(lake_maintain, lake)

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    duckdb_kpis.define_delta(con, "facility_changes", table)
    duckdb_kpis.define_one_state(con, lake, "facility_state", "district", "lake")
    with open(os.path.join(duckdb_kpis.SQL_DIR, "state", "facility_state.sql"),
              encoding="utf-8") as f:
        con.execute(f"CREATE VIEW reference AS {duckdb_kpis.strip_sql(f.read())}")
    differ = con.execute(
        "SELECT 'kept only', facility_id, event_id FROM (SELECT * FROM facility_state "
        "EXCEPT SELECT * FROM reference) UNION ALL "
        "SELECT 'reference only', facility_id, event_id FROM (SELECT * FROM reference "
        "EXCEPT SELECT * FROM facility_state)").fetchall()
    if differ:
        raise SystemExit(f"facility_state differs from its reference after a takeover: {differ}")
    event = first["event_id"][0].as_py()
    owners = [r[0] for r in con.execute(
        "SELECT facility_id FROM facility_state WHERE event_id = ?", [event]).fetchall()]
    if owners != [TAKER]:
        raise SystemExit(f"event {event} belongs to {owners}, expected [{TAKER!r}]")
    print(f"takeover of {event} from {victim}: state equals its reference")


if __name__ == "__main__":
    main()

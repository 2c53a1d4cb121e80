"""Property test of hotline_ticket_state on DuckDB: the reference, the fold and the views.

usage: state_fold.py [--seed N] [--cases N] [--case K] [--verbose]

Each case makes the landed events of a few hotline tickets at random (resends of an event with
the same event_id at a later position, out-of-order, equal and tied versions and event_times,
missing and duplicate intakes, reopen → re-close → re-survey, valid, invalid and NULL-validity
surveys, surveys tied on event_time, intakes without a community then a dispatch with one, a
ticket moving, wc_category on some events, received_time or closed_time NULL, two Kafka
partitions, several months, times near local midnight), lands them in random consecutive
chunks and checks:

1. views: the views 30..34 as they were before hotline_ticket_state (tests/python/state_oracle/,
   over all the events) give the same columns (names, order, types) and rows as today's
   sql/views/30..34 over the reference sql/state/hotline_ticket_state.sql;
2. fold: the state kept by folding each chunk into the rows of the tickets it touches
   (sql/state/hotline_ticket_fold.sql with prior = those rows, tail = the chunk) equals the
   reference over every event landed so far, after every chunk, column by column (NULLs equal).
   Tickets with the one case the fold cannot decide (a tail valid survey with the prior
   survey's event_time and another event_id) are recomputed by the reference over all their
   events so far, as the state service does.

Exits 1 at the first mismatch, printing the case's number, its events and the differing
columns; `--case K` (with the same --seed) runs that case alone.
"""
import argparse
import datetime as dt
import os
import random
import re
import sys

import duckdb
import pyarrow as pa

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
SQL = os.path.join(ROOT, "sql")
ORACLE = os.path.join(HERE, "state_oracle")
VIEWS = (
    "30_hotline_ticket_latest",
    "31_hotline_ticket_received",
    "32_hotline_ticket_intake",
    "33_hotline_ticket_survey",
    "34_hotline_ticket_first_closure",
)
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
UTC = dt.timezone.utc

# hotline_tickets as landed (services/core/src/event/{mod,hotline}.rs): name, Arrow type.
TS = pa.timestamp("us", tz="UTC")
EVENT_SCHEMA = pa.schema([
    ("event_id", pa.string()), ("event_type", pa.string()), ("schema_version", pa.string()),
    ("source_system", pa.string()), ("source_record_id", pa.string()), ("event_time", TS),
    ("ingest_time", TS), ("city_code", pa.string()), ("district_code", pa.string()),
    ("district_name", pa.string()), ("street_code", pa.string()), ("street_name", pa.string()),
    ("community_code", pa.string()), ("community_name", pa.string()),
    ("event_date", pa.date32()), ("ticket_id", pa.string()), ("ticket_version", pa.int32()),
    ("channel", pa.string()), ("request_type", pa.string()), ("category_l1", pa.string()),
    ("category_l2", pa.string()), ("category_l3", pa.string()), ("wc_category", pa.string()),
    ("tags", pa.list_(pa.string())), ("title", pa.string()), ("content", pa.string()),
    ("ticket_nature", pa.string()), ("is_emergency_sensitive", pa.bool_()),
    ("intake_disposition", pa.string()), ("caller_hash", pa.string()),
    ("compound_name", pa.string()), ("location_text", pa.string()), ("lng", pa.float64()),
    ("lat", pa.float64()), ("coord_sys_raw", pa.string()), ("handling_unit", pa.string()),
    ("handling_unit_level", pa.string()), ("received_time", TS), ("dispatched_time", TS),
    ("accepted_time", TS), ("contacted_time", TS), ("due_time", TS), ("closed_time", TS),
    ("status", pa.string()), ("return_count", pa.int32()), ("reopen_count", pa.int32()),
    ("handling_result", pa.string()), ("reply_text", pa.string()),
    ("is_valid_visit", pa.bool_()), ("contacted", pa.bool_()), ("resolved", pa.bool_()),
    ("satisfaction", pa.string()), ("is_proactive", pa.bool_()),
    ("related_project_id", pa.string()), ("related_facility_id", pa.string()),
    ("district", pa.string()), ("month", pa.string()), ("kafka_partition", pa.int32()),
    ("kafka_offset", pa.int64()),
])
EVENT_COLUMNS = EVENT_SCHEMA.names

# The contract with the state service: hotline_ticket_state's columns, in order.
STATE_COLUMNS = EVENT_COLUMNS + [
    "first_event_date",
    "intake_event_id", "intake_ticket_version", "intake_event_time", "intake_event_date",
    "intake_district", "intake_district_code", "intake_month", "intake_received_time",
    "received_date", "intake_street_code", "intake_street_name", "intake_community_code",
    "intake_community_name", "intake_channel", "intake_request_type", "intake_category_l1",
    "intake_category_l2", "intake_category_l3", "intake_wc_category", "intake_is_proactive",
    "intake_intake_disposition", "intake_ticket_nature", "intake_due_time",
    "intake_kafka_partition", "intake_kafka_offset",
    "located_ticket_version", "located_event_time", "located_kafka_partition",
    "located_kafka_offset", "located_street_code", "located_street_name",
    "located_community_code", "located_community_name",
    "community_related",
    "survey_event_id", "survey_event_time", "survey_event_date", "survey_district",
    "survey_district_code", "survey_month", "survey_street_code", "survey_community_code",
    "survey_ticket_version", "survey_request_type", "survey_is_valid_visit", "survey_contacted",
    "survey_resolved", "survey_satisfaction", "survey_reopen_count", "survey_kafka_partition",
    "survey_kafka_offset",
    "closure_event_id", "closure_ticket_version", "closure_event_time", "closure_event_date",
    "closure_district", "closure_district_code", "closure_month", "closure_received_time",
    "closure_due_time", "closure_closed_time", "closed_on", "closure_kafka_partition",
    "closure_kafka_offset",
    "received_month",
]

# The tickets the fold cannot decide (sql/state/hotline_ticket_fold.sql's header).
UNDECIDABLE = """
SELECT DISTINCT t.ticket_id FROM tail t JOIN prior p ON p.ticket_id = t.ticket_id
WHERE t.event_type = 'hotline.ticket_surveyed' AND t.is_valid_visit
  AND t.event_time = p.survey_event_time AND t.event_id <> p.survey_event_id
"""


def read_sql(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read().strip().rstrip(";").strip()


# --- the random events ------------------------------------------------------------------------

DISTRICTS = (("110108", "海淀区"), ("110101", "东城区"), ("110105", "朝阳区"))
COMMUNITIES = {
    d: [(f"{d}00{s}", f"街道{d[-2:]}{s}", f"{d}00{s}{c:03d}", f"社区{d[-2:]}{s}{c}")
        for s in (1, 2) for c in (1, 2, 3)]
    for d, _ in DISTRICTS
}
WC = ("property_mgmt", "parking", "noise", "heating", None)
SATISFACTION = ("satisfied", "basic", "dissatisfied", None)
HOTLINE = "hotline.ticket_"


def maybe(rng, p, value):
    return value if rng.random() < p else None


def make_ticket(rng: random.Random, n: int) -> list[dict]:
    """The events of one ticket, in the order they happened (before landing)."""
    tid = f"T{n:03d}"
    district, dname = rng.choice(DISTRICTS)
    start = dt.datetime(2024, 1, 1, tzinfo=UTC) + dt.timedelta(
        days=rng.randrange(0, 110), minutes=rng.randrange(0, 24 * 60))
    if rng.random() < 0.3:
        # near local midnight (16:00 UTC): the local date differs from the UTC one
        start = start.replace(hour=rng.choice((15, 16)), minute=rng.choice((0, 59)))
    received = None if rng.random() < 0.15 else start - dt.timedelta(minutes=rng.randrange(0, 90))
    if received is not None and rng.random() < 0.3:
        received = received.replace(hour=rng.choice((15, 16)), minute=rng.choice((0, 59)))
    request_type = rng.choice(("consult", "help", "complaint", "report", "suggestion"))
    steps = ["created", "dispatched", "accepted", "caller_contacted", "closed", "surveyed"]
    for _ in range(rng.choice((0, 0, 1, 2))):
        steps += ["reopened", "closed", "surveyed"]
    if rng.random() < 0.4:
        steps.append("archived")
    if rng.random() < 0.2:
        steps.insert(rng.randrange(1, 4), "returned")
    if rng.random() < 0.3:
        steps = steps[: rng.randrange(1, len(steps) + 1)]  # still open
    if rng.random() < 0.2:
        steps.insert(rng.randrange(1, len(steps) + 1), "created")  # a second, distinct intake
    if rng.random() < 0.1 and len(steps) > 1:
        steps.remove("created")  # the intake never lands

    events = []
    t, v, reopen = start, 1, 0
    community = rng.choice(COMMUNITIES[district])
    intake_located = rng.random() < 0.5
    for k, step in enumerate(steps):
        if k:
            r = rng.random()
            if r < 0.15:
                pass  # the same event_time
            elif r < 0.25:
                t += dt.timedelta(days=rng.randrange(10, 40))  # into a later month
            elif r < 0.30:
                t -= dt.timedelta(minutes=rng.randrange(1, 60))  # earlier than the last one
            else:
                t += dt.timedelta(minutes=rng.randrange(1, 3000))
            r = rng.random()
            if r < 0.15:
                pass  # the same ticket_version
            elif r < 0.22:
                v = max(1, v - rng.randrange(1, 3))  # an older version
            else:
                v += rng.randrange(1, 3)
        if step == "reopened":
            reopen += 1
        if step in ("dispatched", "accepted") and rng.random() < 0.15:
            # the ticket moves to another community (maybe another district)
            if rng.random() < 0.3:
                district, dname = rng.choice(DISTRICTS)
            community = rng.choice(COMMUNITIES[district])
        located = intake_located if step == "created" else rng.random() < 0.8
        street = community if located or rng.random() < 0.3 else None
        local = t.astimezone(SHANGHAI).date()
        valid = None
        if step == "surveyed":
            valid = rng.choice((True, True, True, False, None))
        ev = {
            "event_type": HOTLINE + step if step != "caller_contacted" else "hotline.caller_contacted",
            "schema_version": "1.0",
            "source_system": "12345",
            "source_record_id": maybe(rng, 0.7, f"R{rng.randrange(10**6)}"),
            "event_time": t,
            "ingest_time": t + dt.timedelta(seconds=rng.randrange(0, 600)),
            "city_code": "110000",
            "district_code": district,
            "district_name": dname,
            "street_code": street[0] if street else None,
            "street_name": street[1] if street else None,
            "community_code": community[2] if located else None,
            "community_name": community[3] if located else None,
            "event_date": local,
            "ticket_id": tid,
            "ticket_version": v,
            "channel": rng.choice(("phone", "web", "app")),
            "request_type": request_type if rng.random() < 0.9 else rng.choice(("help", "report")),
            "category_l1": rng.choice(("城市管理", "住房", "交通")),
            "category_l2": maybe(rng, 0.8, rng.choice(("物业", "噪声", "停车"))),
            "category_l3": maybe(rng, 0.5, rng.choice(("a", "b", "c"))),
            "wc_category": rng.choice(WC) if rng.random() < 0.25 else None,
            "tags": rng.choice((None, [], ["x"], ["x", "y"])),
            "title": f"title {tid} {k}",
            "content": maybe(rng, 0.9, f"content {tid} {k} {rng.randrange(1000)}"),
            "ticket_nature": rng.choice(("normal", "urgent", None)),
            "is_emergency_sensitive": rng.choice((True, False, None)),
            "intake_disposition": rng.choice(("dispatched", "answered_directly")),
            "caller_hash": maybe(rng, 0.8, f"h{rng.randrange(100)}"),
            "compound_name": maybe(rng, 0.5, "小区"),
            "location_text": maybe(rng, 0.5, f"loc {k}"),
            "lng": maybe(rng, 0.8, 116.0 + rng.random()),
            "lat": maybe(rng, 0.8, 39.0 + rng.random()),
            "coord_sys_raw": rng.choice(("wgs84", "gcj02", None)),
            "handling_unit": maybe(rng, 0.7, f"unit {rng.randrange(5)}"),
            "handling_unit_level": rng.choice(("street", "district", None)),
            "received_time": received if rng.random() < 0.95 else None,
            "dispatched_time": maybe(rng, 0.5, t - dt.timedelta(minutes=5)),
            "accepted_time": maybe(rng, 0.4, t - dt.timedelta(minutes=3)),
            "contacted_time": maybe(rng, 0.4, t - dt.timedelta(minutes=2)),
            "due_time": maybe(rng, 0.7, start + dt.timedelta(days=rng.choice((1, 3, 7)))),
            "closed_time": (maybe(rng, 0.8, t.replace(hour=rng.choice((t.hour, 15, 16))))
                            if step == "closed" else maybe(rng, 0.1, t)),
            "status": step,
            "return_count": maybe(rng, 0.8, rng.randrange(0, 3)),
            "reopen_count": maybe(rng, 0.9, reopen),
            "handling_result": maybe(rng, 0.5, rng.choice(("resolved", "explained"))),
            "reply_text": maybe(rng, 0.5, f"reply {k}"),
            "is_valid_visit": valid if step == "surveyed" else maybe(rng, 0.05, True),
            "contacted": rng.choice((True, False, None)),
            "resolved": rng.choice((True, False, None)),
            "satisfaction": rng.choice(SATISFACTION),
            "is_proactive": rng.choice((True, False, None)),
            "related_project_id": maybe(rng, 0.1, "P1"),
            "related_facility_id": maybe(rng, 0.1, "F1"),
            "district": district,
            "month": local.strftime("%Y-%m"),
        }
        events.append(ev)
        if step == "surveyed" and rng.random() < 0.4:
            # another, distinct survey at the same event_time (same or another version)
            twin = dict(ev)
            twin["ticket_version"] = v if rng.random() < 0.5 else v + 1
            twin["is_valid_visit"] = rng.choice((True, True, False, None))
            twin["satisfaction"] = rng.choice(SATISFACTION)
            twin["contacted"] = rng.choice((True, False, None))
            twin["title"] = ev["title"] + " twin"
            events.append(twin)
    for k, ev in enumerate(events):
        ev["event_id"] = f"{tid}-E{k}"
    return events


def make_case(rng: random.Random) -> list[list[dict]]:
    """The landed rows of a case, in landing order, cut into consecutive chunks."""
    events = []
    for n in range(rng.randrange(1, 5)):
        events += make_ticket(rng, n)
    # landing order: roughly the order of events, with some overtaking
    noise = rng.choice((0.0, 1.0, 3.0, 100.0))
    order = sorted(range(len(events)), key=lambda i: i + rng.gauss(0, noise))
    landed = [dict(events[i]) for i in order]
    # resends: the same event again, later
    for i in range(len(landed)):
        if rng.random() < (0.4 if landed[i]["event_type"] == HOTLINE + "surveyed" else 0.15):
            for _ in range(rng.choice((1, 1, 2))):
                at = rng.randrange(i + 1, len(landed) + 1)
                landed.insert(at, dict(landed[i]))
    # positions: an event keeps its partition (a resend lands in the same one, later)
    partition_of, offset = {}, {0: rng.randrange(0, 50), 1: rng.randrange(0, 50)}
    for row in landed:
        p = partition_of.setdefault(row["event_id"], rng.choice((0, 1)))
        offset[p] += rng.randrange(1, 4)
        row["kafka_partition"], row["kafka_offset"] = p, offset[p]
    cuts = sorted(rng.sample(range(1, len(landed)), min(len(landed) - 1, rng.randrange(0, 6))))
    bounds = [0] + cuts + [len(landed)]
    return [landed[a:b] for a, b in zip(bounds, bounds[1:])]


# --- the checks -------------------------------------------------------------------------------

class Mismatch(Exception):
    pass


def setup() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET threads = 1")
    empty = EVENT_SCHEMA.empty_table()
    con.register("__empty_events", empty)
    for t in ("hotline_tickets", "tail"):
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM __empty_events")
    con.unregister("__empty_events")
    state_sql = read_sql(os.path.join(SQL, "state", "hotline_ticket_state.sql"))
    # the reference over the events so far; after each chunk it is materialised as the table
    # hotline_ticket_state, which today's views read
    con.execute(f"CREATE VIEW reference_state AS\n{state_sql}")
    con.execute("CREATE TABLE hotline_ticket_state AS SELECT * FROM reference_state LIMIT 0")
    names = [r[0] for r in con.execute("DESCRIBE SELECT * FROM reference_state").fetchall()]
    if names != STATE_COLUMNS:
        raise Mismatch("hotline_ticket_state.sql's columns are not the contract's:\n"
                       f"  got      {names}\n  expected {STATE_COLUMNS}")
    for t in ("state", "prior", "folded"):
        con.execute(f"CREATE TABLE {t} AS SELECT * FROM reference_state LIMIT 0")
    for v in VIEWS:
        name = re.sub(r"^\d+_", "", v)
        con.execute(f"CREATE VIEW {name} AS\n{read_sql(os.path.join(SQL, 'views', v + '.sql'))}")
        old = read_sql(os.path.join(ORACLE, v + ".sql"))
        # the oracle's views over the events (32 reads 31)
        old = re.sub(r"\bhotline_ticket_received\b", "old_hotline_ticket_received", old)
        con.execute(f"CREATE VIEW old_{name} AS\n{old}")
    fold = read_sql(os.path.join(SQL, "state", "hotline_ticket_fold.sql"))
    con.execute(f"CREATE VIEW fold AS\n{fold}")
    return con


def describe(con, rel: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()]


def check_types(con) -> None:
    """Column names and types: the new views = the oracle's, the fold = the reference."""
    for v in VIEWS:
        name = re.sub(r"^\d+_", "", v)
        old, new = describe(con, f"old_{name}"), describe(con, name)
        if old != new:
            raise Mismatch(f"{name}: columns differ\n  old {old}\n  new {new}")
    a, f = describe(con, "reference_state"), describe(con, "fold")
    if a != f:
        diff = [(x, y) for x, y in zip(a, f) if x != y]
        raise Mismatch(f"fold's columns differ from the reference's: {diff}")


def rows(con, rel: str, where: str = "") -> dict:
    # through Arrow: DuckDB's own conversion of TIMESTAMPTZ needs pytz
    table = con.sql(f"SELECT * FROM {rel} {where} ORDER BY ticket_id").to_arrow_table()
    out = {}
    for rec in table.to_pylist():
        if rec["ticket_id"] in out:
            raise Mismatch(f"{rel}: two rows for ticket {rec['ticket_id']}")
        out[rec["ticket_id"]] = rec
    return out


def compare(what: str, want: dict, got: dict) -> None:
    problems = []
    for tid in sorted(set(want) | set(got)):
        if tid not in got:
            problems.append(f"  {tid}: missing (expected event_id {want[tid].get('event_id')})")
        elif tid not in want:
            problems.append(f"  {tid}: unexpected row (event_id {got[tid].get('event_id')})")
        else:
            for col, w in want[tid].items():
                g = got[tid].get(col)
                if w != g or type(w) is not type(g):
                    problems.append(f"  {tid}.{col}: expected {w!r}, got {g!r}")
    if problems:
        raise Mismatch(f"{what}:\n" + "\n".join(problems[:40]))


def land(con, table: str, chunk: list[dict]) -> None:
    data = pa.Table.from_pylist(chunk, schema=EVENT_SCHEMA)
    con.register("__chunk", data)
    con.execute(f"INSERT INTO {table} SELECT * FROM __chunk")
    con.unregister("__chunk")


def same(con, what: str, want: str, got: str) -> None:
    """want's rows = got's (one row per ticket; NULLs equal), else Mismatch with the diff."""
    a = con.sql(f"SELECT * FROM {want} ORDER BY ticket_id").to_arrow_table()
    b = con.sql(f"SELECT * FROM {got} ORDER BY ticket_id").to_arrow_table()
    if not a.equals(b):
        compare(what, rows(con, want), rows(con, got))
        raise Mismatch(f"{what}: the Arrow tables differ\n  {a.schema}\n  {b.schema}")


def run_case(con, chunks: list[list[dict]], stats: dict) -> None:
    for t in ("hotline_tickets", "state", "hotline_ticket_state"):
        con.execute(f"DELETE FROM {t}")
    for chunk in chunks:
        for t in ("tail", "prior", "folded"):
            con.execute(f"DELETE FROM {t}")
        land(con, "tail", chunk)
        con.execute("INSERT INTO prior SELECT * FROM state "
                    "WHERE ticket_id IN (SELECT ticket_id FROM tail)")
        undecidable = [r[0] for r in con.execute(UNDECIDABLE).fetchall()]
        con.execute("INSERT INTO folded SELECT * FROM fold")
        land(con, "hotline_tickets", chunk)
        con.execute("DELETE FROM hotline_ticket_state")
        con.execute("INSERT INTO hotline_ticket_state SELECT * FROM reference_state")
        touched, n = con.execute("SELECT COUNT(DISTINCT ticket_id), COUNT(*) FROM folded "
                                 "WHERE ticket_id IN (SELECT ticket_id FROM tail)").fetchall()[0]
        tail = con.execute("SELECT COUNT(DISTINCT ticket_id) FROM tail").fetchall()[0][0]
        all_folded = con.execute("SELECT COUNT(*) FROM folded").fetchall()[0][0]
        if not touched == n == tail == all_folded:
            raise Mismatch(f"fold: {all_folded} rows ({touched} tickets of the tail) for a tail "
                           f"of {tail} tickets")
        ids = ", ".join(f"'{t}'" for t in undecidable) or "''"
        if undecidable:
            stats["recomputed"] += len(undecidable)
            f = rows(con, "folded", f"WHERE ticket_id IN ({ids})")
            r = rows(con, "hotline_ticket_state", f"WHERE ticket_id IN ({ids})")
            stats["fold_right_anyway"] += sum(f[t] == r[t] for t in undecidable)
        con.execute("DELETE FROM state WHERE ticket_id IN (SELECT ticket_id FROM tail)")
        con.execute(f"INSERT INTO state SELECT * FROM folded WHERE ticket_id NOT IN ({ids})")
        con.execute(f"INSERT INTO state SELECT * FROM hotline_ticket_state "
                    f"WHERE ticket_id IN ({ids})")
        stats["folds"] += 1
        same(con, "fold: the kept state differs from hotline_ticket_state.sql over the events so "
             "far (expected = reference)", "hotline_ticket_state", "state")
    for v in VIEWS:
        name = re.sub(r"^\d+_", "", v)
        same(con, f"{name}: today's view over hotline_ticket_state.sql differs from the old view "
             "(expected = old)", f"old_{name}", name)
        stats["view_rows"] += con.execute(f"SELECT COUNT(*) FROM old_{name}").fetchall()[0][0]
    stats["events"] += sum(len(c) for c in chunks)
    roles = con.execute("""
        SELECT COUNT(*), COUNT(intake_event_id), COUNT(survey_event_id), COUNT(closure_event_id),
               COUNT(*) FILTER (WHERE intake_event_id IS NOT NULL AND intake_community_code IS NULL
                                AND located_community_code IS NOT NULL),
               COUNT(*) FILTER (WHERE community_related)
        FROM state""").fetchall()[0]
    for k, n in zip(("tickets", "intakes", "surveys", "closures", "located_later",
                     "community_related"), roles):
        stats[k] += n


def dump(chunks: list[list[dict]]) -> str:
    out = []
    for i, chunk in enumerate(chunks):
        out.append(f"chunk {i}:")
        for r in chunk:
            out.append(
                f"  {r['event_id']:<9} {r['event_type'][8:]:<18} v{r['ticket_version']:<3} "
                f"{r['event_time']:%Y-%m-%d %H:%M} p{r['kafka_partition']}/{r['kafka_offset']:<4} "
                f"valid={r['is_valid_visit']} community={r['community_code']} "
                f"wc={r['wc_category']} received={r['received_time']}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--cases", type=int, default=2000)
    ap.add_argument("--case", type=int, default=None, help="run only this case")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    stats = dict.fromkeys(("events", "folds", "recomputed", "fold_right_anyway", "tickets",
                           "intakes", "surveys", "closures", "located_later",
                           "community_related", "view_rows"), 0)
    try:
        con = setup()
        check_types(con)
    except Mismatch as e:
        print(f"state_fold: {e}", file=sys.stderr)
        sys.exit(1)
    cases = range(args.cases) if args.case is None else [args.case]
    for case in cases:
        seed = args.seed * 1_000_003 + case
        chunks = make_case(random.Random(seed))
        try:
            run_case(con, chunks, stats)
        except Mismatch as e:
            print(f"state_fold: case {case} (--seed {args.seed}, case seed {seed}): {e}\n"
                  f"events in landing order:\n{dump(chunks)}", file=sys.stderr)
            sys.exit(1)
        if args.verbose and case % 100 == 99:
            print(f"{case + 1} cases", file=sys.stderr)
    print(f"state_fold: {len(cases)} cases clean (seed {args.seed}): "
          + ", ".join(f"{k} {v}" for k, v in stats.items()))


if __name__ == "__main__":
    main()

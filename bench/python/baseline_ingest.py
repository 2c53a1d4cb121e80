"""The Python baseline of bench/run's ingest benchmark: what a competent analyst writes instead of
hotline-ingest, with confluent-kafka and pyarrow.

usage: baseline_ingest.py --brokers HOST:PORT --topic T --group G --out DIR --max-records N

Reads topic T from the beginning with a fresh consumer group and does what hotline-ingest does to
each record, in plain Python:
- size limit (1 MiB), UTF-8, JSON object;
- `schema_version` 1.x, every required field present, every field of its JSON type, every enum
  value in its list, timestamps RFC 3339 (or Asia/Shanghai local time without an offset);
- district code: six digits, in the division table of schemas/divisions (retired codes mapped
  through the crosswalk), street and community codes nested under it;
- coordinates on the globe and converted to WGS84 (GCJ-02 and BD-09 inverted as the Rust code
  does), caller phone numbers replaced by their HMAC-SHA256 under CIVICPULSE_HASH_KEY, phone and
  ID-card numbers in free text masked;
- a record that fails goes to `T.dlq` with its key, payload and headers plus the reason headers
  hotline-ingest writes.
Valid rows are buffered and written every 200,000 rows or 5 seconds (hotline-ingest's defaults)
with `pyarrow.Table.from_pylist`, sorted by district, month, community and time, as a hive-
partitioned dataset `district=/month=` of zstd Parquet files (`pyarrow.parquet.write_to_dataset`);
then the dead letters are flushed and the consumer's offsets committed (at least once: no
exactly-once protocol, no Delta log). After N records the open batch is written and it exits.

Prints JSON {"records", "bytes" (payload bytes read), "rows", "dead_letters": {class: n}, "files",
"seconds", "peak_rss_kib"} (peak RSS from getrusage of this process).
"""
import argparse
import csv
import hashlib
import hmac
import json
import math
import os
import re
import resource
import sys
import time
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
MAX_RECORD_BYTES = 1024 * 1024
DLQ_MAX_PAYLOAD = 900 * 1024
DLQ_TRUNCATED_PAYLOAD = 64 * 1024
MAX_ROWS = 200_000
MAX_AGE_S = 5.0
# Asia/Shanghai has kept UTC+8 without daylight saving since 1991.
SHANGHAI = timezone(timedelta(hours=8))


class Reject(Exception):
    """A record that cannot land: its dead-letter class and reason."""

    def __init__(self, cls: str, message: str):
        super().__init__(message)
        self.cls = cls


def load_divisions():
    districts = {}
    with open(os.path.join(ROOT, "schemas/divisions/gb2260.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["level"] == "district":
                districts[row["code"]] = (row["city_code"], row["name_zh"])
    crosswalk = {}
    with open(os.path.join(ROOT, "schemas/divisions/crosswalk.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            crosswalk[row["old_code"]] = row["new_code"]
    return districts, crosswalk


DISTRICTS, CROSSWALK = load_divisions()

ENUMS = {
    "event_type": {
        "hotline.ticket_created", "hotline.ticket_dispatched", "hotline.ticket_accepted",
        "hotline.ticket_returned", "hotline.caller_contacted", "hotline.ticket_closed",
        "hotline.ticket_surveyed", "hotline.ticket_reopened", "hotline.ticket_archived",
    },
    "channel": {
        "phone", "web", "wechat", "app", "inspector", "province_transfer", "video", "email",
        "rating", "other",
    },
    "request_type": {"consult", "help", "complaint", "report", "suggestion"},
    "wc_category": {
        "property_mgmt", "parking", "charging", "old_compound_renovation", "elevator_retrofit",
        "aging_friendly", "noise", "heating", "utilities", "overhead_lines", "sanitation",
        "illegal_construction", "elderly_services", "childcare", "public_space",
    },
    "ticket_nature": {"normal", "urgent", "key", "supervised"},
    "intake_disposition": {"answered_directly", "dispatched", "transferred", "invalid"},
    "handling_unit_level": {
        "district", "street", "municipal_dept", "soe", "platform_company", "community",
        "property_company",
    },
    "status": {
        "received", "dispatched", "accepted", "in_progress", "returned", "closed", "surveyed",
        "reopened", "archived",
    },
    "handling_result": {"resolved", "partially", "explained", "unresolvable"},
    "satisfaction": {"satisfied", "basic", "dissatisfied"},
    "coord_sys_raw": {"WGS84", "CGCS2000", "GCJ02", "BD09"},
}

# Field kinds of schemas/hotline_ticket.v1.json: (name, kind, required).
FIELDS = [
    ("event_id", "str", True), ("event_type", "enum", True), ("schema_version", "str", True),
    ("source_system", "str", True), ("source_record_id", "str", False),
    ("event_time", "time", True), ("ingest_time", "time", True), ("city_code", "str", True),
    ("district_code", "str", True), ("district_name", "str", True),
    ("street_code", "str", False), ("street_name", "str", False),
    ("community_code", "str", False), ("community_name", "str", False),
    ("event_date", "str", False), ("ticket_id", "str", True), ("ticket_version", "int", True),
    ("channel", "enum", True), ("request_type", "enum", True), ("category_l1", "str", True),
    ("category_l2", "str", False), ("category_l3", "str", False),
    ("wc_category", "enum", False), ("tags", "strlist", False), ("title", "text", False),
    ("content", "text", False), ("ticket_nature", "enum", False),
    ("is_emergency_sensitive", "bool", False), ("intake_disposition", "enum", True),
    ("caller_phone", "str", False), ("caller_name", "str", False),
    ("compound_name", "str", False), ("location_text", "text", False),
    ("lng", "num", False), ("lat", "num", False), ("coord_sys_raw", "enum", False),
    ("handling_unit", "str", False), ("handling_unit_level", "enum", False),
    ("received_time", "time", True), ("dispatched_time", "time", False),
    ("accepted_time", "time", False), ("contacted_time", "time", False),
    ("due_time", "time", False), ("closed_time", "time", False), ("status", "enum", True),
    ("return_count", "int", False), ("reopen_count", "int", False),
    ("handling_result", "enum", False), ("reply_text", "text", False),
    ("is_valid_visit", "bool", False), ("contacted", "bool", False), ("resolved", "bool", False),
    ("satisfaction", "enum", False), ("is_proactive", "bool", False),
    ("related_project_id", "str", False), ("related_facility_id", "str", False),
]
# Fields never stored (the caller's number becomes caller_hash).
DROPPED = {"caller_phone", "caller_name", "event_date"}
TS = pa.timestamp("us", tz="UTC")
ARROW = {"str": pa.string(), "enum": pa.string(), "text": pa.string(), "time": TS,
         "int": pa.int32(), "bool": pa.bool_(), "num": pa.float64(),
         "strlist": pa.list_(pa.string())}
SCHEMA = pa.schema(
    [(n, ARROW[k]) for n, k, _ in FIELDS if n not in DROPPED]
    + [("caller_hash", pa.string()), ("event_date", pa.date32()), ("district", pa.string()),
       ("month", pa.string()), ("kafka_partition", pa.int32()), ("kafka_offset", pa.int64())]
)

# --- personal data -------------------------------------------------------------------------

NUMBER_RUN = re.compile(r"\+?[0-9](?:[ \-]?[0-9])*[Xx]?")


def normalise_phone(raw: str) -> str:
    digits = "".join(c for c in raw if c.isascii() and c.isdigit())
    for prefix in ("0086", "86"):
        rest = digits[len(prefix):]
        if digits.startswith(prefix) and len(rest) == 11 and rest[0] == "1":
            return rest
    return digits


def is_mobile(d: str) -> bool:
    return len(d) == 11 and d[0] == "1" and d[1] in "3456789"


def mask_whole(run: str):
    positions = [i for i, c in enumerate(run) if c.isdigit() or c in "Xx"]
    digits = "".join(run[i] for i in positions)
    n, has_x = len(digits), digits[-1:] in ("X", "x")
    if not has_x and n == 11 and is_mobile(digits):
        head, tail = 3, 4
    elif not has_x and n == 13 and digits.startswith("86") and is_mobile(digits[2:]):
        head, tail = 5, 4
    elif not has_x and n == 15 and digits.startswith("0086") and is_mobile(digits[4:]):
        head, tail = 7, 4
    elif n == 18 or (not has_x and n == 15 and not digits.startswith("0")):
        head, tail = 3, 2
    elif not has_x and 10 <= n <= 12 and digits.startswith("0"):
        head, tail = (3 if digits[:2] in ("01", "02") else 4), 2
    else:
        return None
    out = list(run)
    for i in positions[head:n - tail]:
        out[i] = "*"
    return "".join(out)


def mask_run(m: re.Match) -> str:
    text, run = m.string, m.group(0)
    before = text[m.start() - 1] if m.start() > 0 else ""
    after = text[m.end()] if m.end() < len(text) else ""
    if (before.isascii() and before.isalnum()) or (after.isascii() and after.isalnum()):
        return run
    masked = mask_whole(run)
    if masked is None:
        for i, c in enumerate(run):
            if c in " -":
                tail = mask_whole(run[i + 1:])
                if tail is not None:
                    return run[: i + 1] + tail
        return run
    return masked


def mask(text):
    return NUMBER_RUN.sub(mask_run, text) if text else text


# --- coordinates ---------------------------------------------------------------------------

AXIS, EE = 6378245.0, 0.006693421622965943
BD = math.pi * 3000.0 / 180.0


def wgs84_to_gcj02(lng, lat):
    if not (72.004 <= lng <= 137.8347 and 0.8293 <= lat <= 55.8271):
        return lng, lat
    x, y = lng - 105.0, lat - 35.0
    d_lat = (-100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
             + (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2 / 3
             + (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2 / 3)
    d_lng = (300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
             + (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2 / 3
             + (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2 / 3
             + (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2 / 3)
    rad = lat / 180.0 * math.pi
    magic = 1 - EE * math.sin(rad) ** 2
    sq = math.sqrt(magic)
    d_lat = (d_lat * 180.0) / ((AXIS * (1 - EE)) / (magic * sq) * math.pi)
    d_lng = (d_lng * 180.0) / (AXIS / sq * math.cos(rad) * math.pi)
    return lng + d_lng, lat + d_lat


def gcj02_to_wgs84(lng, lat):
    x, y = lng, lat
    for _ in range(30):
        gx, gy = wgs84_to_gcj02(x, y)
        dx, dy = gx - lng, gy - lat
        x, y = x - dx, y - dy
        if abs(dx) < 1e-10 and abs(dy) < 1e-10:
            break
    return x, y


def to_wgs84(sys_, lng, lat):
    if sys_ == "GCJ02":
        return gcj02_to_wgs84(lng, lat)
    if sys_ == "BD09":
        x, y = lng - 0.0065, lat - 0.006
        z = math.hypot(x, y) - 0.00002 * math.sin(y * BD)
        theta = math.atan2(y, x) - 0.000003 * math.cos(x * BD)
        return gcj02_to_wgs84(z * math.cos(theta), z * math.sin(theta))
    return lng, lat


# --- validation ----------------------------------------------------------------------------


def parse_time(name, v):
    try:
        t = datetime.fromisoformat(v)
    except ValueError:
        raise Reject("schema_violation.invalid_value", f"{name}: not a timestamp: {v[:40]!r}")
    return t.replace(tzinfo=SHANGHAI) if t.tzinfo is None else t


def check(name, kind, v):
    """The value to store for field `name` of `kind`, or Reject."""
    if kind in ("str", "text"):
        if not isinstance(v, str):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a string")
        return mask(v) if kind == "text" else v
    if kind == "enum":
        if not isinstance(v, str):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a string")
        if v not in ENUMS[name]:
            raise Reject("schema_violation.unknown_enum_value", f"{name}: unknown variant {v!r}")
        return v
    if kind == "time":
        if not isinstance(v, str):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a string")
        return parse_time(name, v)
    if kind == "int":
        if not isinstance(v, int) or isinstance(v, bool) or not -2**31 <= v < 2**31:
            raise Reject("schema_violation.wrong_type", f"{name}: expected i32")
        return v
    if kind == "bool":
        if not isinstance(v, bool):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a boolean")
        return v
    if kind == "num":
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a number")
        return float(v)
    if kind == "strlist":
        if not isinstance(v, list) or not all(isinstance(s, str) for s in v):
            raise Reject("schema_violation.wrong_type", f"{name}: expected a list of strings")
        return v
    raise AssertionError(kind)


def normalise(payload: bytes, hash_key: bytes, partition: int, offset: int) -> dict:
    """The landed row of one record, or Reject."""
    if len(payload) > MAX_RECORD_BYTES:
        raise Reject("oversized", f"record is {len(payload)} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as e:
        raise Reject("not_utf8", f"payload is not UTF-8: {e}")
    try:
        event = json.loads(text)
    except ValueError as e:
        raise Reject("not_json", f"payload is not JSON: {e}")
    if not isinstance(event, dict):
        raise Reject("schema_violation.wrong_type", "payload is not a JSON object")
    version = event.get("schema_version")
    if isinstance(version, str) and version.split(".")[0] != "1":
        raise Reject("unsupported_schema_version", f"schema_version {version!r} is not supported")
    row = {}
    get = event.get
    for name, kind, required in FIELDS:
        v = get(name)
        if v is None:
            if required:
                raise Reject("schema_violation.missing_field", f"missing field `{name}`")
            row[name] = None
        elif kind == "str" and v.__class__ is str:
            row[name] = v  # the common case, without a call
        else:
            row[name] = check(name, kind, v)

    raw_district = row["district_code"]
    if len(raw_district) != 6 or not raw_district.isdigit():
        raise Reject("invalid_district_code", f"not a district code: {raw_district[:20]!r}")
    code = CROSSWALK.get(raw_district, raw_district)
    if code not in DISTRICTS:
        raise Reject("unknown_district", f"unknown district {raw_district}")
    street, community = row["street_code"], row["community_code"]
    if street is not None and not (
        len(street) == 9 and street.isdigit()
        and (street.startswith(code) or street.startswith(raw_district))
    ):
        raise Reject("invalid_division_code", f"street {street[:20]!r} is not in {code}")
    if community is not None:
        nested = (community.startswith(street) if street is not None
                  else community.startswith(code) or community.startswith(raw_district))
        if not (len(community) == 12 and community.isdigit() and nested):
            raise Reject("invalid_division_code", f"community {community[:20]!r} misplaced")
    if not row["event_id"].strip():
        raise Reject("schema_violation.invalid_value", "event_id is empty")
    lng, lat = row["lng"], row["lat"]
    if (lng is None) != (lat is None):
        raise Reject("schema_violation.invalid_value", "lng and lat go together")
    if lng is not None:
        if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180
                and -90 <= lat <= 90):
            raise Reject("schema_violation.invalid_value", "coordinates off the globe")
        row["lng"], row["lat"] = to_wgs84(row["coord_sys_raw"] or "WGS84", lng, lat)

    phone = row.pop("caller_phone")
    row.pop("caller_name")
    row.pop("event_date")
    digits = normalise_phone(phone) if phone else ""
    row["caller_hash"] = (
        hmac.new(hash_key, digits.encode(), hashlib.sha256).hexdigest() if digits else None
    )
    city_code, name = DISTRICTS[code]
    row["district_code"], row["district_name"], row["city_code"] = code, name, city_code
    local = row["event_time"].astimezone(SHANGHAI)
    row["event_date"] = local.date()
    row["district"] = code
    row["month"] = f"{local.year:04d}-{local.month:02d}"
    row["kafka_partition"] = partition
    row["kafka_offset"] = offset
    return row


# --- the job -------------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--brokers", required=True)
    ap.add_argument("--topic", default="hotline.tickets")
    ap.add_argument("--group", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-records", type=int, required=True)
    args = ap.parse_args()
    hash_key = os.environ.get("CIVICPULSE_HASH_KEY", "").encode()
    if len(hash_key) < 16:
        raise SystemExit("baseline_ingest: set CIVICPULSE_HASH_KEY (at least 16 bytes)")
    started = time.perf_counter()
    dlq_topic = args.topic + ".dlq"
    admin = AdminClient({"bootstrap.servers": args.brokers})
    if dlq_topic not in admin.list_topics(timeout=10).topics:
        for f in admin.create_topics([NewTopic(dlq_topic, 1, 1)]).values():
            try:
                f.result()
            except Exception as e:  # another writer may have created it meanwhile
                if "TOPIC_ALREADY_EXISTS" not in str(e):
                    raise
    consumer = Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "fetch.wait.max.ms": 10,
        "session.timeout.ms": 6000,
    })
    producer = Producer({"bootstrap.servers": args.brokers, "linger.ms": 20,
                         "compression.type": "lz4", "message.max.bytes": 4000000})
    consumer.subscribe([args.topic])

    rows, dead, files = [], {}, 0
    seen, nbytes, landed, batch_no, opened = 0, 0, 0, 0, None

    def write_batch():
        nonlocal rows, files, landed, batch_no, opened
        if rows:
            table = pa.Table.from_pylist(rows, schema=SCHEMA).sort_by(
                [("district", "ascending"), ("month", "ascending"),
                 ("community_code", "ascending"), ("event_time", "ascending")])
            written = []
            pq.write_to_dataset(
                table, args.out, partition_cols=["district", "month"], compression="zstd",
                basename_template=f"part-{batch_no:05d}-{{i}}.zstd.parquet",
                existing_data_behavior="overwrite_or_ignore",
                file_visitor=lambda f: written.append(f.path),
            )
            files += len(written)
            landed += len(rows)
            batch_no += 1
        # Dead letters must be delivered before the offsets move past them.
        if producer.flush(30) != 0:
            raise SystemExit("baseline_ingest: dead letters not delivered")
        if seen:
            consumer.commit(asynchronous=False)
        rows, opened = [], None

    while seen < args.max_records:
        msgs = consumer.consume(num_messages=min(10_000, args.max_records - seen), timeout=0.2)
        for m in msgs:
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise SystemExit(f"baseline_ingest: {m.error()}")
            seen += 1
            payload = m.value() or b""
            nbytes += len(payload)
            try:
                rows.append(normalise(payload, hash_key, m.partition(), m.offset()))
                if opened is None:
                    opened = time.monotonic()
            except Reject as r:
                dead[r.cls] = dead.get(r.cls, 0) + 1
                headers = list(m.headers() or []) + [
                    ("civicpulse.error.class", r.cls.encode()),
                    ("civicpulse.error.message", str(r).encode()),
                    ("civicpulse.source.topic", args.topic.encode()),
                    ("civicpulse.source.partition", str(m.partition()).encode()),
                    ("civicpulse.source.offset", str(m.offset()).encode()),
                ]
                # A payload past Kafka's default limit keeps a prefix, as hotline-ingest does.
                value = payload
                if len(payload) > DLQ_MAX_PAYLOAD:
                    headers.append(("civicpulse.payload.truncated_from", str(len(payload)).encode()))
                    value = payload[:DLQ_TRUNCATED_PAYLOAD]
                producer.produce(dlq_topic, value=value, key=m.key(), headers=headers)
                producer.poll(0)
        if len(rows) >= MAX_ROWS or (opened is not None and time.monotonic() - opened >= MAX_AGE_S):
            write_batch()
    write_batch()
    consumer.close()
    json.dump({
        "records": seen,
        "bytes": nbytes,
        "rows": landed,
        "dead_letters": dead,
        "files": files,
        "seconds": time.perf_counter() - started,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    os._exit(0)

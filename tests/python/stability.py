"""Stability of published figures: a week's figure changes only when data about that week
arrives.

usage: stability.py --bin-dir DIR --sim DIR --work DIR --week1 YYYY-MM-DD

DIR of --sim holds citysim's `--out` files (events and the city's reference files) for the five
ISO weeks from --week1 (a Monday); the reference is loaded first. The events that arrived in weeks 1–4 (event_time before week 5)
are landed with `civicpulse land`; every KPI of the catalogue is asked of kpi-query week by week
over weeks 1–4 and recorded. Then week 5 lands: citysim's own week-5 events, plus the cases a
real feed sends late that this test writes itself: archives of tickets surveyed in week 4,
stock registrations (存量登记, opened years ago), a second completion event and a withdrawn
completion of renovation projects. The figures of weeks 1–4 are asked again: each one that
changed must be explained by a week-5 event that carries data about that district and week
(the rules are in `about()`). Prints a JSON summary; exits 1 on an unexplained change.
"""
import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from definitions import SHANGHAI, KpiQuery, FixtureError, run  # noqa: E402

STREAMS = {"hotline": "hotline.tickets.jsonl", "facility": "facility.changes.jsonl",
           "renovation": "renovation.progress.jsonl"}
KEY = {"hotline": "ticket_id", "facility": "facility_id", "renovation": "project_id"}
# Which streams a KPI reads: its figures may change only for data of these streams.
FACILITY = {"K01", "K02", "K03", "K04", "K05", "K06", "K08", "K09", "K10", "K11", "K12"}
RENOVATION = {"K13", "K14", "K15", "K16", "K17", "K18", "K19", "K20", "K21", "K22", "K33"}
HOTLINE = {"K23", "K24", "K25", "K26", "K27", "K28", "K29", "K30", "K34", "K35"}
RATES = {"K25", "K26", "K27", "K28"}
# Stocks (as at a week's end): data about a week reaches every later week's stock too.
STOCKS = {"K05", "K06", "K08", "K09", "K10", "K11", "K12", "K17", "K18", "K19", "K20", "K31",
          "K32", "K33"}
RANK = {"declared": 0, "approved": 1, "started": 2, "suspended": 2, "completed": 3,
        "accepted": 4, "cancelled": 5}


def local_day(ts):
    t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    return t.astimezone(SHANGHAI).date()


def monday(d):
    return d - dt.timedelta(days=d.weekday())


def day(value):
    if not value:
        return None
    if "T" in value:
        return local_day(value)
    return dt.date.fromisoformat(value)


def read(sim):
    events = {}
    for stream, name in STREAMS.items():
        with open(os.path.join(sim, name), encoding="utf-8") as f:
            events[stream] = [json.loads(line) for line in f if line.strip()]
    return events


def late_cases(before, week5):
    """Events a real feed sends in week 5 about earlier weeks, written by the test."""
    tue = week5 + dt.timedelta(days=1)
    at = dt.datetime.combine(tue, dt.time(10, 0), SHANGHAI).astimezone(dt.timezone.utc)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = {"hotline": [], "facility": [], "renovation": []}
    n = 0

    def new_id():
        nonlocal n
        n += 1
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"stability-{n}"))

    # Archives of tickets whose latest event is a survey in week 4.
    latest = {}
    for e in before["hotline"]:
        latest[e["ticket_id"]] = e
    week4 = week5 - dt.timedelta(days=7)
    for e in latest.values():
        if e["event_type"] == "hotline.ticket_surveyed" and monday(local_day(e["event_time"])) == week4:
            a = dict(e, event_id=new_id(), event_type="hotline.ticket_archived", status="archived",
                     ticket_version=e["ticket_version"] + 1, event_time=stamp, ingest_time=stamp,
                     event_date=tue.isoformat())
            extra["hotline"].append(a)
    # Stock registrations: facilities operating for years, loaded into the registry now.
    template = next(e for e in before["facility"] if e["event_type"] == "facility.created")
    for i, (ftype, fields) in enumerate([
        ("elderly_service_center", {}),
        ("elderly_care_station", {}),
        ("meal_assistance_point", {}),
        ("childcare_center", {"childcare_places": 40, "childcare_places_delta": 40,
                              "is_inclusive": True}),
        ("ev_charger", {"charging_points": 30, "charging_points_delta": 30}),
        ("parking_lot", {"parking_spaces": 120, "parking_spaces_delta": 120}),
        ("deliberation_hall", {}),
    ]):
        f = {k: v for k, v in template.items() if not k.endswith("_delta") and k not in (
            "childcare_places", "charging_points", "parking_spaces", "elderly_beds",
            "closed_date")}
        f.update(event_id=new_id(), event_type="facility.created", op="create",
                 facility_id=f"STOCK-{i}", facility_version=1, facility_type=ftype,
                 facility_name=f"存量设施{i}", status="operating", opened_date="2015-06-01",
                 change_reason="存量登记", event_time=stamp, ingest_time=stamp,
                 event_date=tue.isoformat(), **fields)
        f["aspect_code"] = template["aspect_code"] if ftype == template["facility_type"] else {
            "ev_charger": "municipal_infra", "parking_lot": "municipal_infra",
            "deliberation_hall": "governance"}.get(ftype, "basic_public_service")
        extra["facility"].append(f)
    # A second completion event, and a withdrawn completion, of projects completed earlier.
    completed = {}
    for e in before["renovation"]:
        if e["to_status"] == "completed":
            completed.setdefault(e["project_id"], e)
    projects = sorted(completed.values(), key=lambda e: e["event_time"])
    if projects:
        again = dict(projects[0], event_id=new_id(), event_time=stamp, ingest_time=stamp,
                     event_date=tue.isoformat())
        extra["renovation"].append(again)
    if len(projects) > 1:
        back = dict(projects[1], event_id=new_id(), event_type="renovation.started",
                    from_status="completed", to_status="started", status_date=tue.isoformat(),
                    event_time=stamp, ingest_time=stamp, event_date=tue.isoformat())
        extra["renovation"].append(back)
    return extra


def about(stream, e, history):
    """What a week-5 event may change, given the entity's events landed before it (`history`,
    oldest first): a set of (family, district, week), family naming the KPIs that read it."""
    d = e["district_code"]
    out = set()
    if stream == "facility":
        # A late entry (补录) or a late opening counts in its opening week; a closure, in its own.
        for field in ("opened_date", "closed_date"):
            if day(e.get(field)):
                out.add(("facility", monday(day(e[field]))))
    elif stream == "renovation":
        out.add(("renovation", monday(day(e["status_date"]))))
        prev = history[-1]["to_status"] if history else None
        if prev and RANK.get(e["to_status"], 0) < RANK.get(prev, 0):
            # A status going back withdraws what the earlier events counted.
            out |= {("renovation", monday(day(h["status_date"]))) for h in history}
    else:
        received = day(e.get("received_time"))
        prev = history[-1] if history else {}
        if received and prev.get("received_time") != e["received_time"]:
            # A ticket first seen now, or a corrected intake time: its intake week.
            out.add(("intake", monday(received)))
        if any(prev.get(f) != e.get(f) for f in
               ("wc_category", "community_code", "request_type", "is_proactive")) and received:
            # What the intake KPIs group or filter by changed.
            out.add(("intake", monday(received)))
        closures = {monday(day(h["closed_time"])) for h in history if h.get("closed_time")}
        if e.get("closed_time") and prev.get("closed_time") != e["closed_time"]:
            out.add(("closure", monday(day(e["closed_time"]))))
        if e["event_type"] == "hotline.ticket_reopened" or prev.get("due_time") != e.get("due_time"):
            # A reopen or a new due time is data about the ticket's closures.
            out |= {("closure", w) for w in closures}
        if e["event_type"] == "hotline.ticket_surveyed":
            # A new survey replaces the ticket's earlier ones in the rates.
            out |= {("survey", monday(local_day(h["event_time"]))) for h in history
                    if h["event_type"] == "hotline.ticket_surveyed"}
    return {(family, d, w) for family, w in out}


def figures(query, kpis, start, end):
    out = {}
    for kpi in kpis:
        for r in query.kpi(kpi, {"from": start, "to": end, "grain": "week"}):
            out[(kpi, r["district"], r["period"], r["item"])] = r["value"]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--sim", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--week1", required=True, help="the Monday of week 1 (citysim's --from)")
    args = ap.parse_args()
    events = read(args.sim)
    week1 = dt.date.fromisoformat(args.week1)
    if week1.weekday():
        raise SystemExit("--week1 must be a Monday")
    week5 = week1 + dt.timedelta(days=28)
    before = {s: [e for e in es if local_day(e["event_time"]) < week5] for s, es in events.items()}
    after = {s: [e for e in es if local_day(e["event_time"]) >= week5] for s, es in events.items()}
    extra = late_cases(before, week5)
    for s in after:
        after[s] += extra[s]

    lake = os.path.join(args.work, "lake")
    env = dict(os.environ, CIVICPULSE_HASH_KEY="stability-hash-key-0123456789abcdef")

    def land(batch, tag):
        files = []
        for s, es in batch.items():
            d = os.path.join(args.work, tag)
            os.makedirs(d, exist_ok=True)
            p = os.path.join(d, STREAMS[s])
            with open(p, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(e, ensure_ascii=False) + "\n" for e in es)
            files.append(p)
        run([os.path.join(args.bin_dir, "civicpulse"), "land", "--lake", lake, *files], env,
            f"civicpulse land ({tag})")

    # The city's reference (citysim writes it beside the events), loaded before any event.
    reference = [(flag, os.path.join(args.sim, name)) for flag, name in (
        ("--communities", "communities.csv"), ("--life-circles", "life_circles.csv"),
        ("--assessments", "community_assessments.csv"))]
    run([os.path.join(args.bin_dir, "lake-maintain"), "--lake", lake, "load-reference",
         *[x for flag, path in reference for x in (flag, path)]], env, "load-reference")
    land(before, "weeks1-4")
    query = KpiQuery(args.bin_dir, lake, os.path.join(args.work, "kpi-query.log"))
    try:
        status, body = query.get("/kpis")
        kpis = sorted(k["id"] for k in json.loads(body))
        start, end = week1.isoformat(), (week5 - dt.timedelta(days=1)).isoformat()
        was = figures(query, kpis, start, end)
        land(after, "week5")
        now = figures(query, kpis, start, end)
    finally:
        query.stop()

    allowed = set()
    for s in STREAMS:
        history = {}
        for e in before[s]:
            history.setdefault(e[KEY[s]], []).append(e)
        for e in after[s]:
            h = history.setdefault(e[KEY[s]], [])
            allowed |= about(s, e, h)
            h.append(e)

    def families(kpi):
        if kpi == "K07":
            return ("facility", "renovation")
        if kpi in FACILITY:
            return ("facility",)
        if kpi in RENOVATION:
            return ("renovation",)
        if kpi in RATES:
            return ("survey",)
        if kpi == "K30":
            return ("closure",)
        if kpi in HOTLINE:
            return ("intake",)
        return ()

    unexplained, explained = [], []
    for key in sorted(set(was) | set(now), key=str):
        a, b = was.get(key), now.get(key)
        if a == b or (a in (None, 0.0) and b in (None, 0.0)):
            continue
        kpi, district, period, _ = key
        w = dt.date.fromisoformat(period)
        if any((f, district, w) in allowed for f in families(kpi)) or kpi in STOCKS and any(
                f in families(kpi) and d == district and a <= w for f, d, a in allowed):
            explained.append({"figure": key, "before": a, "after": b})
        else:
            unexplained.append({"figure": key, "before": a, "after": b})
    summary = {
        "kpis": len(kpis), "figures": len(was), "changed_explained": len(explained), "explained": explained[:50],
        "unexplained": unexplained[:50], "unexplained_count": len(unexplained),
        "late_cases": {s: len(v) for s, v in extra.items()},
        "week5_events": {s: len(v) for s, v in after.items()},
    }
    print(json.dumps(summary, ensure_ascii=False, default=str, indent=1))
    sys.stdout.flush()
    os._exit(1 if unexplained else 0)


if __name__ == "__main__":
    try:
        main()
    except FixtureError as e:
        print(e, file=sys.stderr)
        os._exit(2)

"""Headline KPIs recomputed from a civicpulse lake (polars reads it, plain Python applies the
rules), the way citysim's ground truth defines them (`definitions` in its truth file), per
district over a period.

usage: lake_kpis.py LAKE FROM TO     (dates YYYY-MM-DD, inclusive, Asia/Shanghai)
Prints JSON: {"tables": {name: {"rows", "events"}}, "districts": {code: {kpi: value}}}.
Hotline KPIs follow the definitions of issue 15 (intake, last valid survey, first closure);
`hotline_requested_community_months` is K29's complement: Σ over the whole months of the range
of the communities with a complaint, help or report received that month.
"""
import datetime as dt
import json
import os
import sys

import polars as pl


def table(lake: str, name: str) -> pl.DataFrame | None:
    path = os.path.join(lake, name)
    if not os.path.isdir(os.path.join(path, "_delta_log")):
        return None
    return pl.read_delta(path)


def sums(df: pl.DataFrame, exprs: dict) -> dict:
    """{district: {kpi: value}} of `exprs` over `df` grouped by district."""
    if df.height == 0:
        return {}
    out = df.group_by("district").agg(**exprs)
    return {r.pop("district"): r for r in out.to_dicts()}


def once(df: pl.DataFrame) -> list[dict]:
    """Rows with an upstream resend counted once (its first landing, lowest Kafka position)."""
    position = pl.col("kafka_partition").cast(pl.Int64) * (1 << 40) + pl.col("kafka_offset")
    return (
        df.with_columns(position=position)
        .sort("position")
        .unique("event_id", keep="first", maintain_order=True)
        .to_dicts()
    )


def facility_kpis(rows: list[dict], start: dt.date, end: dt.date, cases: dict) -> dict:
    """K01–K04, K07 and K06's flow by the openings rule of the facility definitions: a
    facility opens at its first operating event (dated by its opened_date, else the event
    date), is new unless loaded as stock (first event 存量登记 while not planned or under
    construction) or opened before its district's registry start, and adds capacity beyond
    its high-water mark while operating (carried forward when an event leaves it out)."""
    out: dict = {}

    def add(district: str, kpi: str, day: dt.date, value: int = 1) -> None:
        if value and start <= day <= end:
            d = out.setdefault(district, {})
            d[kpi] = d.get(kpi, 0) + value

    registry_start: dict = {}
    for r in rows:
        d = r["district"]
        registry_start[d] = min(registry_start.get(d, r["event_date"]), r["event_date"])
    rows.sort(key=lambda r: (r["facility_id"], r["facility_version"], r["event_time"], r["position"]))
    opened_types = {
        "elderly_service_center": "elderly_service_centres_opened",
        "elderly_care_station": "elderly_care_stations_opened",
        "elderly_day_care": "elderly_care_stations_opened",
        "meal_assistance_point": "meal_points_opened",
        "community_canteen": "meal_points_opened",
    }
    state: dict = {}

    def case(name: str) -> None:
        cases[name] = cases.get(name, 0) + 1

    for r in rows:
        s = state.get(r["facility_id"])
        if s is None:
            loaded = r["change_reason"] == "存量登记" and r["status"] not in ("planned", "under_construction")
            s = state[r["facility_id"]] = {"loaded": loaded, "opened": False, "cap": {}, "inclusive": False, "hwm": {}}
            if loaded:
                case("stock_loaded")
            if r["status"] in ("planned", "under_construction"):
                case("registered_before_opening")
            if r["change_reason"] == "补录":
                case("late_entries")
        if r["status"] == "suspended":
            case("suspended_events")
        if r["source_record_id"] is not None and r["facility_type"] == "parking_lot":
            case("parking_lots_from_projects")
        if r["facility_version"] > 1 and all(
            r[c] is None for c in ("childcare_places", "parking_spaces", "charging_points", "floor_area_m2")
        ) and r["facility_type"] in ("childcare_center", "parking_lot", "ev_charger", "community_service_station"):
            case("capacity_left_out")
        for c in ("childcare_places", "parking_spaces", "charging_points"):
            if r[c] is not None:
                s["cap"][c] = r[c]
        if r["is_inclusive"] is not None:
            s["inclusive"] = r["is_inclusive"]
        district, day = r["district"], r["event_date"]
        if r["op"] == "create":
            add(district, "facilities_created", day)
        if r["op"] == "close":
            add(district, "facilities_closed", day)
        operating = r["status"] == "operating"
        opening = operating and not s["opened"]
        stock = False
        if opening:
            s["opened"] = True
            day = r["opened_date"] or day
            stock = s["loaded"] or day < registry_start[district]
            if s["loaded"] is False and r["facility_version"] > 1:
                case("opened_after_registration")
            if r["change_reason"] == "补录" and stock:
                case("late_entries_of_old_stock")
            if not stock and r["facility_type"] in opened_types:
                add(district, opened_types[r["facility_type"]], day)
        for c, kpi in (
            ("childcare_places", "inclusive_childcare_places_added"),
            ("parking_spaces", "parking_spaces_added"),
            ("charging_points", "charging_points_added"),
        ):
            a = s["cap"].get(c, 0) if operating else 0
            if c == "childcare_places" and not (r["facility_type"] == "childcare_center" and s["inclusive"]):
                a = 0
            grow = max(0, a - s["hwm"].get(c, 0))
            s["hwm"][c] = max(s["hwm"].get(c, 0), a)
            if not (opening and stock):
                add(district, kpi, day, grow)
    return out


def renovation_kpis(rows: list[dict], start: dt.date, end: dt.date, cases: dict) -> dict:
    """K13–K15 and the project counts by the renovation definitions: a project's counted
    completion is the first event of its final run of done statuses (none if its latest
    status is not done), its counted start the first 'started' after its last pre-start
    status; counts use the values carried forward to that event."""
    out: dict = {}

    def add(district: str, kpi: str, day: dt.date, value: int = 1) -> None:
        if value and start <= day <= end:
            d = out.setdefault(district, {})
            d[kpi] = d.get(kpi, 0) + value

    projects: dict = {}
    for r in rows:
        projects.setdefault(r["project_id"], []).append(r)
        if r["event_type"] == "renovation.declared":
            add(r["district"], "renovation_projects_declared", r["status_date"])
        if r["event_type"] == "renovation.cancelled":
            add(r["district"], "renovation_projects_cancelled", r["status_date"])
    done = ("completed", "accepted")

    def case(name: str) -> None:
        cases[name] = cases.get(name, 0) + 1

    for events in projects.values():
        events.sort(key=lambda r: (r["event_time"], r["position"]))
        for i, r in enumerate(events):
            if r["from_status"] is None and i > 0:
                case("from_status_absent")
            if r["investment_completed_cum_yuan"] is None or r["quantity_completed_cum"] is None:
                case("cumulative_left_out")
            if i > 0 and r["to_status"] == "completed" and events[i - 1]["to_status"] == "completed":
                case("second_completion")
            if i > 0 and r["to_status"] not in done and events[i - 1]["to_status"] in done:
                case("completion_withdrawn")
        cf: dict = {}
        for r in events:
            for c in ("elevators_count", "households_benefited"):
                if r[c] is not None:
                    cf[c] = r[c]
            r["cf"] = dict(cf)
        elevator = events[0]["project_type"] == "elevator_retrofit"
        start_event = None
        for i, r in enumerate(events):
            if r["to_status"] == "started" and (
                i > 0 and events[i - 1]["to_status"] in ("declared", "approved")
            ):
                start_event = r
            if r["to_status"] in ("declared", "approved"):
                start_event = None
        if start_event is not None and elevator:
            add(start_event["district"], "elevators_started", start_event["status_date"], start_event["cf"].get("elevators_count") or 0)
        if events[-1]["to_status"] not in done:
            continue
        i = len(events) - 1
        while i > 0 and events[i - 1]["to_status"] in done:
            i -= 1
        c = events[i]
        add(c["district"], "renovation_projects_completed", c["status_date"])
        if elevator:
            add(c["district"], "elevators_completed", c["status_date"], c["cf"].get("elevators_count") or 0)
        if c["project_type"] == "aging_friendly_retrofit":
            add(c["district"], "age_friendly_households", c["status_date"], c["cf"].get("households_benefited") or 0)
    return out


def main() -> None:
    lake = sys.argv[1]
    start = dt.date.fromisoformat(sys.argv[2])
    end = dt.date.fromisoformat(sys.argv[3])
    tables, districts = {}, {}

    def merge(part: dict) -> None:
        for district, kpis in part.items():
            districts.setdefault(district, {}).update(
                {k: (v if v is not None else 0) for k, v in kpis.items()}
            )

    facility = table(lake, "facility_changes")
    if facility is not None:
        tables["facility_changes"] = {
            "rows": facility.height,
            "events": facility["event_id"].n_unique(),
        }
        cases: dict = {}
        merge(facility_kpis(once(facility), start, end, cases))
        tables["facility_changes"]["cases"] = cases

    renovation = table(lake, "renovation_progress")
    if renovation is not None:
        tables["renovation_progress"] = {
            "rows": renovation.height,
            "events": renovation["event_id"].n_unique(),
        }
        cases = {}
        merge(renovation_kpis(once(renovation), start, end, cases))
        tables["renovation_progress"]["cases"] = cases

    hotline = table(lake, "hotline_tickets")
    if hotline is not None:
        tables["hotline_tickets"] = {
            "rows": hotline.height,
            "events": hotline["event_id"].n_unique(),
        }
        # An upstream resend counts once: its first landing (lowest Kafka position).
        position = pl.col("kafka_partition").cast(pl.Int64) * (1 << 40) + pl.col("kafka_offset")
        h = (
            hotline.with_columns(position=position)
            .sort("position")
            .unique("event_id", keep="first", maintain_order=True)
        )
        order = ["ticket_version", "event_time", "position"]
        etype = pl.col("event_type")

        def local_date(col: str) -> pl.Expr:
            c = pl.col(col)
            if h.schema[col].time_zone is None:
                c = c.dt.replace_time_zone("UTC")
            return c.dt.convert_time_zone("Asia/Shanghai").dt.date()

        # The intake of each ticket (its first hotline.ticket_created event); its community is
        # the intake's, else that of the ticket's first event carrying one (the dispatch).
        intake = h.filter(etype == "hotline.ticket_created").sort(order).group_by("ticket_id").first()
        located = (
            h.filter(pl.col("community_code").is_not_null())
            .sort(order)
            .group_by("ticket_id")
            .agg(first_community=pl.col("community_code").first())
        )
        related = h.group_by("ticket_id").agg(related=pl.col("wc_category").is_not_null().any())
        intake = (
            intake.join(located, on="ticket_id", how="left")
            .join(related, on="ticket_id", how="left")
            .with_columns(
                community=pl.coalesce("community_code", "first_community"),
                received_date=pl.coalesce(local_date("received_time"), pl.col("event_date")),
            )
        )
        received = intake.filter(pl.col("received_date").is_between(start, end))
        merge(sums(received, {
            "hotline_tickets_received": pl.len(),
            "hotline_wc_tickets_received": pl.col("related").sum(),
            "hotline_proactive_received": pl.col("is_proactive").fill_null(False).sum(),
        }))
        # K29: communities with a complaint, help or report received in each whole month.
        months = []
        m = dt.date(start.year, start.month, 1)
        while m <= end:
            nxt = dt.date(m.year + m.month // 12, m.month % 12 + 1, 1)
            if m >= start and nxt - dt.timedelta(days=1) <= end:
                months.append(m)
            m = nxt
        requests = intake.filter(
            pl.col("community").is_not_null()
            & pl.col("request_type").is_in(["complaint", "help", "report"])
            & pl.col("received_date").is_between(start, end)
        ).with_columns(month=pl.col("received_date").dt.truncate("1mo"))
        requests = requests.filter(pl.col("month").is_in(months)).unique(["district", "community", "month"])
        merge(sums(requests, {"hotline_requested_community_months": pl.len()}))
        # K25–K28: each ticket at its last valid survey, with that survey's answers.
        visits = (
            h.filter((etype == "hotline.ticket_surveyed") & pl.col("is_valid_visit").fill_null(False))
            .sort(["event_time", "position"])
            .group_by("ticket_id")
            .last()
            .filter(pl.col("event_date").is_between(start, end))
        )
        merge(sums(visits, {
            "hotline_valid_visits": pl.len(),
            "hotline_contacted": pl.col("contacted").fill_null(False).sum(),
            "hotline_resolved": pl.col("resolved").fill_null(False).sum(),
            "hotline_satisfied": (pl.col("satisfaction") == "satisfied").sum(),
            "hotline_basic_satisfied": (pl.col("satisfaction") == "basic").sum(),
        }))
        # K30: the first closure of each ticket, by its closed_time; reopen events by date.
        closures = (
            h.filter(etype == "hotline.ticket_closed")
            .sort(order)
            .group_by("ticket_id")
            .first()
            .with_columns(closed_on=pl.coalesce(local_date("closed_time"), pl.col("event_date")))
            .filter(pl.col("closed_on").is_between(start, end))
        )
        merge(sums(closures, {
            "hotline_closed": pl.len(),
            "hotline_closed_no_due": pl.col("due_time").is_null().sum(),
            "hotline_closed_on_time": (pl.col("closed_time") <= pl.col("due_time"))
            .fill_null(False).sum(),
        }))
        reopens = h.filter(
            (etype == "hotline.ticket_reopened") & pl.col("event_date").is_between(start, end)
        )
        merge(sums(reopens, {"hotline_reopened": pl.len()}))
        # The real-feed cases the definitions handle, counted over the whole table.
        per_ticket = h.sort(order).group_by("ticket_id").agg(
            surveys=(etype == "hotline.ticket_surveyed").sum(),
            last_type=etype.last(),
            reopens=(etype == "hotline.ticket_reopened").sum(),
            invalid=((etype == "hotline.ticket_surveyed") & ~pl.col("is_valid_visit").fill_null(True)).any(),
            dispatched=(etype == "hotline.ticket_dispatched").any(),
            no_due=pl.col("due_time").is_null().all(),
            intake_located=pl.col("community_code").first().is_not_null(),
            located=pl.col("community_code").is_not_null().any(),
            names_only=(pl.col("community_code").is_null() & pl.col("community_name").is_not_null()).any(),
            events=pl.len(),
            versions=pl.col("ticket_version").n_unique(),
        )
        count = lambda e: int(per_ticket.filter(e).height)
        tables["hotline_tickets"]["cases"] = {
            "resent_events": hotline.height - h.height,
            "archived_after_survey": count((pl.col("surveys") > 0) & (pl.col("last_type") == "hotline.ticket_archived")),
            "reopened_and_resurveyed": count((pl.col("reopens") > 0) & (pl.col("surveys") > 1)),
            "invalid_visits": count(pl.col("invalid")),
            "dispatched_without_due_time": count(pl.col("dispatched") & pl.col("no_due")),
            "located_by_dispatch": count(~pl.col("intake_located") & pl.col("located")),
            "names_only": count(pl.col("names_only")),
            "version_ties": count(pl.col("versions") < pl.col("events")),
            "proactive": int(intake["is_proactive"].fill_null(False).sum()),
            "consultations": int((intake["request_type"] == "consult").sum()),
        }

    json.dump({"tables": tables, "districts": districts}, sys.stdout, default=int)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)

"""Headline KPIs recomputed from a civicpulse lake with polars, the way citysim's ground truth
defines them (`definitions` in its truth file), per district over a period.

usage: lake_kpis.py LAKE FROM TO     (dates YYYY-MM-DD, inclusive, Asia/Shanghai)
Prints JSON: {"tables": {name: {"rows", "events"}}, "districts": {code: {kpi: value}}}.
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
        # An upstream resend repeats the event: count it once.
        f = facility.unique("event_id").filter(pl.col("event_date").is_between(start, end))
        created = (pl.col("op") == "create")
        t = pl.col("facility_type")
        merge(sums(f, {
            "elderly_service_centres_opened": (created & (t == "elderly_service_center")).sum(),
            "elderly_care_stations_opened": (
                created & t.is_in(["elderly_care_station", "elderly_day_care"])
            ).sum(),
            "meal_points_opened": (
                created & t.is_in(["meal_assistance_point", "community_canteen"])
            ).sum(),
            "inclusive_childcare_places_added": pl.when(
                (t == "childcare_center") & pl.col("is_inclusive").fill_null(False)
            ).then(pl.col("childcare_places_delta")).sum(),
            "parking_spaces_added": pl.when(t == "parking_lot")
            .then(pl.col("parking_spaces_delta")).sum(),
            "charging_points_added": pl.when(t == "ev_charger")
            .then(pl.col("charging_points_delta")).sum(),
            "facilities_created": created.sum(),
            "facilities_closed": (pl.col("op") == "close").sum(),
        }))

    renovation = table(lake, "renovation_progress")
    if renovation is not None:
        tables["renovation_progress"] = {
            "rows": renovation.height,
            "events": renovation["event_id"].n_unique(),
        }
        r = renovation.unique("event_id").filter(
            pl.col("status_date").is_between(start, end)
        )
        p, to = pl.col("project_type"), pl.col("to_status")
        merge(sums(r, {
            "elevators_completed": pl.when((p == "elevator_retrofit") & (to == "completed"))
            .then(pl.col("elevators_count")).sum(),
            "elevators_started": pl.when(
                (p == "elevator_retrofit")
                & (pl.col("event_type") == "renovation.started")
                & (pl.col("from_status") == "approved")
            ).then(pl.col("elevators_count")).sum(),
            "age_friendly_households": pl.when(
                (p == "aging_friendly_retrofit") & (to == "completed")
            ).then(pl.col("households_benefited")).sum(),
            "renovation_projects_declared": (
                pl.col("event_type") == "renovation.declared"
            ).sum(),
            "renovation_projects_completed": (to == "completed").sum(),
            "renovation_projects_cancelled": (
                pl.col("event_type") == "renovation.cancelled"
            ).sum(),
        }))

    hotline = table(lake, "hotline_tickets")
    if hotline is not None:
        tables["hotline_tickets"] = {
            "rows": hotline.height,
            "events": hotline["event_id"].n_unique(),
        }
        h = hotline.unique("event_id")
        created = h.filter(
            (pl.col("event_type") == "hotline.ticket_created")
            & pl.col("event_date").is_between(start, end)
        )
        merge(sums(created, {
            "hotline_tickets_received": pl.col("ticket_id").n_unique(),
            "hotline_wc_tickets_received": pl.col("ticket_id")
            .filter(pl.col("wc_category").is_not_null()).n_unique(),
        }))
        # hotline_ticket_latest: per ticket the event with the highest ticket_version.
        latest = h.sort("ticket_version").group_by("ticket_id").last()
        visits = latest.filter(
            pl.col("status").is_in(["surveyed", "archived"])
            & pl.col("is_valid_visit").fill_null(False)
            & pl.col("event_date").is_between(start, end)
        )
        merge(sums(visits, {
            "hotline_valid_visits": pl.len(),
            "hotline_contacted": pl.col("contacted").fill_null(False).sum(),
            "hotline_resolved": pl.col("resolved").fill_null(False).sum(),
            "hotline_satisfied": (pl.col("satisfaction") == "satisfied").sum(),
            "hotline_basic_satisfied": (pl.col("satisfaction") == "basic").sum(),
        }))

    json.dump({"tables": tables, "districts": districts}, sys.stdout, default=int)


if __name__ == "__main__":
    main()
    # Skip interpreter teardown: Arrow's native thread pools can abort there (delta-rs #2184).
    sys.stdout.flush()
    os._exit(0)

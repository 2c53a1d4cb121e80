//! Every valid event citysim sends lands through the ingest validator; every invalid one is
//! rejected for the class it was made for; and the ground truth equals the KPIs recomputed from
//! the landed rows the way the SQL of the domain reference computes them.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Datelike;
use citysim::clock;
use citysim::truth::{Kpis, PeriodTruth};
use citysim::{MemorySink, RecordKind, Topic};
use civicpulse_core::event::facility::FacilityChangeRow;
use civicpulse_core::event::hotline::HotlineTicketRow;
use civicpulse_core::event::renovation::RenovationProgressRow;
use civicpulse_core::row::Date;
use common::{Row, land, normaliser};

/// KPIs per (district, ISO week), recomputed from landed rows.
#[derive(Default, Debug, Clone, PartialEq)]
struct Recomputed {
    received: i64,
    received_wc: i64,
    proactive: i64,
    valid: i64,
    contacted: i64,
    resolved: i64,
    satisfied: i64,
    basic: i64,
    centres: i64,
    stations: i64,
    meals: i64,
    childcare: i64,
    parking: i64,
    charging: i64,
    elevators: i64,
    age_friendly: i64,
}

impl Recomputed {
    fn from_truth(k: &Kpis) -> Self {
        Self {
            received: k.hotline_tickets_received,
            received_wc: k.hotline_wc_tickets_received,
            proactive: k.hotline_proactive_received,
            valid: k.hotline_valid_visits,
            contacted: k.hotline_contacted,
            resolved: k.hotline_resolved,
            satisfied: k.hotline_satisfied,
            basic: k.hotline_basic_satisfied,
            centres: k.elderly_service_centres_opened,
            stations: k.elderly_care_stations_opened,
            meals: k.meal_points_opened,
            childcare: k.inclusive_childcare_places_added,
            parking: k.parking_spaces_added,
            charging: k.charging_points_added,
            elevators: k.elevators_completed,
            age_friendly: k.age_friendly_households,
        }
    }
}

fn week(d: chrono::NaiveDate) -> String {
    clock::iso_week(clock::day_of(d))
}

/// The period fields of K07 (renovation part), K16–K22 and K30 of one district, amounts in
/// hundredths, maps without zero entries.
#[derive(Default, Debug, Clone, PartialEq)]
struct PeriodFields {
    parking_renovation: i64,
    compounds: i64,
    compound_households: i64,
    by_status: BTreeMap<String, i64>,
    investment: i64,
    invested_communities: i64,
    build_days: i64,
    build_projects: i64,
    quantity: BTreeMap<String, i64>,
    closed: i64,
    closed_no_due: i64,
    closed_on_time: i64,
    reopened: i64,
    zero_request_months: i64,
}

impl PeriodFields {
    fn from_truth(p: &PeriodTruth) -> Self {
        let cents = |v: f64| (v * 100.0).round() as i64;
        Self {
            parking_renovation: p.parking_spaces_added_renovation * 100,
            compounds: p.old_compounds_completed,
            compound_households: p.old_compound_households_completed,
            by_status: p
                .projects_by_status_end
                .iter()
                .filter(|(_, v)| **v != 0)
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            investment: cents(p.investment_completed_end_yuan),
            invested_communities: p.communities_with_investment_end,
            build_days: p.build_days_sum,
            build_projects: p.build_projects,
            quantity: p
                .quantity_completed_by_unit
                .iter()
                .map(|(k, v)| (k.clone(), cents(*v)))
                .filter(|(_, v)| *v != 0)
                .collect(),
            closed: p.hotline_closed,
            closed_no_due: p.hotline_closed_no_due,
            closed_on_time: p.hotline_closed_on_time,
            reopened: p.hotline_reopened,
            zero_request_months: p.hotline_zero_request_community_months,
        }
    }
}

/// The rows of each project in event order (event_time, then event_id: sent in that order).
fn by_project(renovation: &[Box<RenovationProgressRow>]) -> Vec<Vec<&RenovationProgressRow>> {
    let mut projects: BTreeMap<&str, Vec<&RenovationProgressRow>> = BTreeMap::new();
    for r in renovation {
        projects.entry(&r.project_id).or_default().push(r);
    }
    let mut out: Vec<_> = projects.into_values().collect();
    for rows in &mut out {
        rows.sort_by(|a, b| (a.event_time, &a.event_id).cmp(&(b.event_time, &b.event_id)));
    }
    out
}

/// The counted completion of a project (the first row of its final run of done statuses, if
/// its latest row is done) and its counted start before it (the first 'started' after the
/// last pre-start status).
fn milestones(rows: &[&RenovationProgressRow]) -> (Option<usize>, Option<usize>) {
    let done = |r: &RenovationProgressRow| matches!(r.to_status.as_str(), "completed" | "accepted");
    let completion = rows.last().filter(|r| done(r)).map(|_| {
        let mut i = rows.len() - 1;
        while i > 0 && done(rows[i - 1]) {
            i -= 1;
        }
        i
    });
    let end = completion.unwrap_or(rows.len());
    let mut start = None;
    for i in 0..end {
        let pre =
            |r: &RenovationProgressRow| matches!(r.to_status.as_str(), "declared" | "approved");
        if pre(rows[i]) {
            start = None;
        } else if rows[i].to_status == "started" && i > 0 && pre(rows[i - 1]) {
            start = Some(i);
        }
    }
    (completion, start)
}

/// The last non-NULL value of `f` among `rows[..=i]`.
fn carried<'a, T: 'a>(
    rows: &[&'a RenovationProgressRow],
    i: usize,
    f: impl Fn(&'a RenovationProgressRow) -> Option<T>,
) -> Option<T> {
    rows[..=i].iter().rev().find_map(|r| f(r))
}

/// K13 and K15 per week by the counted completion, with the values carried forward to it.
fn recompute_completions(
    renovation: &[Box<RenovationProgressRow>],
    got: &mut BTreeMap<(String, String), Recomputed>,
) {
    for rows in by_project(renovation) {
        let (Some(c), _) = milestones(&rows) else {
            continue;
        };
        let r = rows[c];
        let e = got
            .entry((r.district.clone(), week(r.status_date.to_naive())))
            .or_default();
        match r.project_type.as_str() {
            "elevator_retrofit" => {
                e.elevators += i64::from(carried(&rows, c, |r| r.elevators_count).unwrap_or(0))
            }
            "aging_friendly_retrofit" => {
                e.age_friendly +=
                    i64::from(carried(&rows, c, |r| r.households_benefited).unwrap_or(0))
            }
            _ => {}
        }
    }
}

/// K01–K04, K07's facility part and K06's flow per week, by the facility definitions: a
/// facility opens at its first operating event (by version), dated by its opened_date (else
/// the event date), and is new unless loaded as stock (first event 存量登记, not planned or
/// being built) or opened before its district's first event date; capacities (carried
/// forward) add what grows beyond the facility's high-water mark while operating.
fn recompute_facilities(
    rows: &[Box<FacilityChangeRow>],
    got: &mut BTreeMap<(String, String), Recomputed>,
) {
    let mut start: HashMap<&str, Date> = HashMap::new();
    let mut by_facility: BTreeMap<&str, Vec<&FacilityChangeRow>> = BTreeMap::new();
    for r in rows {
        let s = start.entry(&r.district).or_insert(r.event_date);
        *s = (*s).min(r.event_date);
        by_facility.entry(&r.facility_id).or_default().push(r);
    }
    for rows in by_facility.values_mut() {
        rows.sort_by(|a, b| {
            (a.facility_version, a.event_time, &a.event_id).cmp(&(
                b.facility_version,
                b.event_time,
                &b.event_id,
            ))
        });
        let first = rows[0];
        let loaded = first.change_reason.as_deref() == Some("存量登记")
            && !matches!(first.status.as_str(), "planned" | "under_construction");
        let (mut opened, mut inclusive) = (false, false);
        let mut cap: [i64; 3] = [0; 3];
        let mut hwm: [i64; 3] = [0; 3];
        for r in rows.iter() {
            for (k, v) in [r.childcare_places, r.parking_spaces, r.charging_points]
                .into_iter()
                .enumerate()
            {
                if let Some(v) = v {
                    cap[k] = i64::from(v);
                }
            }
            if let Some(i) = r.is_inclusive {
                inclusive = i;
            }
            let t = r.facility_type.as_str();
            let operating = r.status == "operating";
            let opening = operating && !opened;
            let mut day = r.event_date;
            let mut stock = false;
            if opening {
                opened = true;
                day = r.opened_date.unwrap_or(r.event_date);
                stock = loaded || day < start[r.district.as_str()];
            }
            let e = got
                .entry((r.district.clone(), week(day.to_naive())))
                .or_default();
            if opening && !stock {
                e.centres += i64::from(t == "elderly_service_center");
                e.stations += i64::from(matches!(t, "elderly_care_station" | "elderly_day_care"));
                e.meals += i64::from(matches!(t, "meal_assistance_point" | "community_canteen"));
            }
            let available = [
                cap[0] * i64::from(operating && inclusive && t == "childcare_center"),
                cap[1] * i64::from(operating),
                cap[2] * i64::from(operating),
            ];
            for k in 0..3 {
                let add = (available[k] - hwm[k]).max(0);
                hwm[k] = hwm[k].max(available[k]);
                if opening && stock {
                    continue;
                }
                match k {
                    0 => e.childcare += add,
                    1 => e.parking += add,
                    _ => e.charging += add,
                }
            }
        }
    }
}

/// Recomputes [`PeriodFields`] per district from the distinct landed renovation rows and the
/// rows of every ticket (in send order: version, then time), by the renovation definitions (counted completions and starts,
/// figures carried forward); parking projects in `registry` (a parking lot's
/// source_record_id) are left out of K07.
fn recompute_period(
    renovation: &[Box<RenovationProgressRow>],
    registry: &HashSet<String>,
    tickets: &[Vec<&HotlineTicketRow>],
    community_counts: &BTreeMap<String, usize>,
    (from, to): (Date, Date),
) -> BTreeMap<String, PeriodFields> {
    let mut out: BTreeMap<String, PeriodFields> = BTreeMap::new();
    let mut compounds: BTreeMap<String, (Date, String)> = BTreeMap::new();
    let mut communities = HashSet::new();
    let in_period = |d: Date| (from..=to).contains(&d);
    for rows in by_project(renovation) {
        let district = rows[0].district.clone();
        let e = out.entry(district.clone()).or_default();
        let ptype = rows[0].project_type.as_str();
        let mut previous = 0;
        for (i, r) in rows.iter().enumerate() {
            let Some(q) = r.quantity_completed_cum.map(|d| d.0 as i64) else {
                continue;
            };
            let delta = q - previous;
            previous = q;
            if !in_period(r.status_date) {
                continue;
            }
            let unit = carried(&rows, i, |r| r.quantity_unit.as_deref()).unwrap_or_default();
            if matches!(
                ptype,
                "overhead_lines_burial" | "pipe_network" | "rain_sewage_separation"
            ) {
                *e.quantity.entry(unit.to_owned()).or_default() += delta;
            } else if ptype == "parking_facility"
                && unit == "个"
                && !registry.contains(&r.project_id)
            {
                e.parking_renovation += delta;
            }
        }
        let (completion, start) = milestones(&rows);
        if let Some(c) = completion {
            let r = rows[c];
            if ptype == "old_compound_renovation" {
                if in_period(r.status_date) {
                    e.compound_households +=
                        i64::from(carried(&rows, c, |r| r.households_benefited).unwrap_or(0));
                }
                let compound = carried(&rows, c, |r| r.compound_id.as_deref())
                    .unwrap_or(&r.project_id)
                    .to_owned();
                let earliest = compounds
                    .entry(compound)
                    .or_insert((r.status_date, district.clone()));
                if r.status_date < earliest.0 {
                    *earliest = (r.status_date, district.clone());
                }
            }
            if let Some(s) = start
                && in_period(r.status_date)
            {
                let days = i64::from(r.status_date.0 - rows[s].status_date.0);
                if days >= 0 {
                    e.build_days += days;
                    e.build_projects += 1;
                }
            }
        }
        if let Some(last) = rows.iter().rposition(|r| r.status_date <= to) {
            *e.by_status.entry(rows[last].to_status.clone()).or_default() += 1;
            let invested =
                carried(&rows, last, |r| r.investment_completed_cum_yuan).map_or(0, |d| d.0 as i64);
            e.investment += invested;
            if invested > 0 && communities.insert(rows[last].community_code.clone()) {
                e.invested_communities += 1;
            }
        }
    }
    for (day, district) in compounds.into_values() {
        if in_period(day) {
            out.entry(district).or_default().compounds += 1;
        }
    }
    // K30: each ticket's first closure by its closed_time (on time against its due_time, its
    // own count without one); reopen events by their date.
    let local = |t: civicpulse_core::row::Timestamp| Date(clock::local_day(t.0.div_euclid(1000)));
    for rows in tickets {
        if let Some(r) = rows
            .iter()
            .find(|r| r.event_type == "hotline.ticket_closed")
        {
            let closed = r.closed_time.expect("a closure has a closed_time");
            if in_period(local(closed)) {
                let e = out.entry(r.district.clone()).or_default();
                e.closed += 1;
                match r.due_time {
                    None => e.closed_no_due += 1,
                    Some(due) => e.closed_on_time += i64::from(closed <= due),
                }
            }
        }
        for r in rows
            .iter()
            .filter(|r| r.event_type == "hotline.ticket_reopened")
        {
            if in_period(r.event_date) {
                out.entry(r.district.clone()).or_default().reopened += 1;
            }
        }
    }
    // K29: community-months of the whole months of the period without a complaint, help or
    // report received there (community: the intake's, else the first one sent).
    let months: Vec<(i32, i32)> = (from.0..=to.0)
        .filter(|&d| clock::date(d).day() == 1)
        .map(|d| {
            (
                d,
                clock::day_of(
                    clock::date(d)
                        .checked_add_months(chrono::Months::new(1))
                        .unwrap(),
                ) - 1,
            )
        })
        .filter(|&(_, end)| end <= to.0)
        .collect();
    let mut requested: HashSet<(String, String, i32)> = HashSet::new();
    for rows in tickets {
        let intake = rows[0];
        assert_eq!(intake.event_type, "hotline.ticket_created");
        let Some(community) = rows.iter().find_map(|r| r.community_code.clone()) else {
            continue;
        };
        let day = local(intake.received_time).0;
        if matches!(
            intake.request_type.as_str(),
            "complaint" | "help" | "report"
        ) && let Some(&(month, _)) = months.iter().find(|(a, b)| (*a..=*b).contains(&day))
        {
            requested.insert((intake.district.clone(), community, month));
        }
    }
    for (district, &n) in community_counts {
        let zeros = months.len() as i64 * n as i64
            - requested.iter().filter(|r| &r.0 == district).count() as i64;
        out.entry(district.clone()).or_default().zero_request_months += zeros;
    }
    for e in out.values_mut() {
        e.quantity.retain(|_, v| *v != 0);
    }
    out.retain(|_, v| *v != PeriodFields::default());
    out
}

#[test]
fn valid_events_land_bad_ones_are_rejected_and_the_truth_matches_the_rows() {
    let mut config = common::config("chongqing", "2024-01-01", "2024-02-29", 0.004, 17);
    // Enough invalid records that even the small renovation stream gets every class (seed 17:
    // an old compound completes in these two months).
    config.bad_ratio = 0.1;
    let mut sink = MemorySink::default();
    let truth = common::run(config, &mut sink);
    let ctx = normaliser();

    let mut seen = HashSet::new();
    let mut by_class: BTreeMap<(Topic, String), u64> = BTreeMap::new();
    let mut counts: BTreeMap<Topic, (u64, u64)> = BTreeMap::new();
    let mut got: BTreeMap<(String, String), Recomputed> = BTreeMap::new();
    let mut tickets: HashMap<String, Vec<Box<HotlineTicketRow>>> = HashMap::new();
    let mut hashed = 0;
    let mut renovation = Vec::new();
    let mut facilities = Vec::new();
    for (topic, key, payload, kind) in &sink.records {
        let landed = land(&ctx, *topic, payload);
        match kind {
            RecordKind::Bad(class) => {
                let rejection = landed
                    .err()
                    .unwrap_or_else(|| panic!("{class:?} record landed"));
                assert_eq!(
                    rejection.class,
                    class.reject_class(),
                    "{class:?}: {rejection}"
                );
                *by_class
                    .entry((*topic, class.as_str().to_owned()))
                    .or_default() += 1;
                continue;
            }
            RecordKind::Duplicate | RecordKind::Valid => {}
        }
        let row = landed
            .unwrap_or_else(|e| panic!("{topic:?} {}: {e}", String::from_utf8_lossy(payload)));
        let c = counts.entry(*topic).or_default();
        let event_id = match &row {
            Row::Hotline(r) => r.event_id.clone(),
            Row::Facility(r) => r.event_id.clone(),
            Row::Renovation(r) => r.event_id.clone(),
        };
        let first = seen.insert(event_id);
        assert_eq!(
            first,
            *kind == RecordKind::Valid,
            "duplicates repeat an event id, valid events do not"
        );
        if !first {
            c.1 += 1;
            continue;
        }
        c.0 += 1;
        match row {
            Row::Hotline(r) => {
                assert_eq!(key, r.ticket_id.as_bytes());
                if r.caller_hash.is_some() {
                    hashed += 1;
                }
                let e = got
                    .entry((r.district.clone(), week(r.event_date.to_naive())))
                    .or_default();
                if r.event_type == "hotline.ticket_created" {
                    e.received += 1;
                    e.received_wc += i64::from(r.wc_category.is_some());
                    e.proactive += i64::from(r.is_proactive == Some(true));
                }
                let rows = tickets.entry(r.ticket_id.clone()).or_default();
                if let Some(last) = rows.last() {
                    // Some sources repeat a version: the event time breaks the tie.
                    assert!(
                        (last.ticket_version, last.event_time) < (r.ticket_version, r.event_time),
                        "versions, then times, increase in send order"
                    );
                }
                rows.push(r);
            }
            Row::Facility(r) => {
                assert_eq!(key, r.facility_id.as_bytes());
                facilities.push(r);
            }
            Row::Renovation(r) => {
                assert_eq!(key, r.project_id.as_bytes());
                renovation.push(r);
            }
        }
    }
    // K25–K28: each ticket at its last valid survey, with that survey's answers.
    let tickets: Vec<Vec<&HotlineTicketRow>> = tickets
        .values()
        .map(|rows| rows.iter().map(|r| &**r).collect())
        .collect();
    for rows in &tickets {
        if let Some(r) = rows
            .iter()
            .rev()
            .find(|r| r.event_type == "hotline.ticket_surveyed" && r.is_valid_visit == Some(true))
        {
            let e = got
                .entry((r.district.clone(), week(r.event_date.to_naive())))
                .or_default();
            e.valid += 1;
            e.contacted += i64::from(r.contacted == Some(true));
            e.resolved += i64::from(r.resolved == Some(true));
            e.satisfied += i64::from(r.satisfaction.as_deref() == Some("satisfied"));
            e.basic += i64::from(r.satisfaction.as_deref() == Some("basic"));
        }
    }
    recompute_facilities(&facilities, &mut got);
    recompute_completions(&renovation, &mut got);
    got.retain(|_, v| *v != Recomputed::default());

    // Every class was injected on every topic, and the truth counted the records sent.
    for topic in Topic::ALL {
        let t = &truth.topics[topic.topic()];
        let (valid, dups) = counts[&topic];
        assert_eq!((t.valid, t.duplicates), (valid, dups), "{topic:?}");
        for class in citysim::bad::BadClass::ALL {
            let n = by_class
                .get(&(topic, class.as_str().to_owned()))
                .copied()
                .unwrap_or(0);
            assert!(n >= 1, "{topic:?} has no {class:?} record");
            assert_eq!(t.bad_by_class.get(class.as_str()).copied().unwrap_or(0), n);
        }
    }
    assert!(
        truth.topics["hotline.tickets"].duplicates > 0,
        "some upstream duplicates"
    );
    assert!(hashed > 1000, "caller phone numbers land as hashes");

    let expected: BTreeMap<(String, String), Recomputed> = truth
        .districts
        .iter()
        .flat_map(|(code, d)| {
            d.weeks
                .iter()
                .flatten()
                .map(move |(w, k)| ((code.clone(), w.clone()), Recomputed::from_truth(k)))
        })
        .filter(|(_, v)| *v != Recomputed::default())
        .collect();
    assert_eq!(got.len(), expected.len());
    for (k, v) in &expected {
        assert_eq!(got.get(k), Some(v), "{k:?}");
    }

    // The period fields of K07 (renovation part) and K16–K22, K30.
    let day = |s: &str| Date::from_naive(s.parse().unwrap());
    let period = (day(&truth.run.from), day(&truth.run.to));
    let registry: HashSet<String> = facilities
        .iter()
        .filter(|r| r.facility_type == "parking_lot")
        .filter_map(|r| r.source_record_id.clone())
        .collect();
    let communities: BTreeMap<String, usize> = truth
        .districts
        .iter()
        .map(|(code, d)| (code.clone(), d.communities))
        .collect();
    let got = recompute_period(&renovation, &registry, &tickets, &communities, period);
    let expected: BTreeMap<String, PeriodFields> = truth
        .districts
        .iter()
        .map(|(code, d)| (code.clone(), PeriodFields::from_truth(&d.period)))
        .filter(|(_, v)| *v != PeriodFields::default())
        .collect();
    assert!(
        expected
            .values()
            .any(|v| v.compounds > 0 && v.build_projects > 0),
        "the run completes old compounds: {expected:?}"
    );
    assert_eq!(got, expected);

    // The three rates are plausible.
    let city = &truth.city.kpis;
    for rate in [
        city.response_rate,
        city.resolution_rate,
        city.satisfaction_rate,
    ] {
        let r = rate.unwrap();
        assert!((0.85..=0.99).contains(&r), "{r}");
    }
}

#[test]
fn hotline_volume_is_of_the_order_of_the_real_city() {
    // One January week of Beijing at 1 %, extrapolated to the year and the whole city.
    let mut config = common::config("beijing", "2024-01-08", "2024-01-14", 0.01, 3);
    config.streams = vec![Topic::Hotline];
    let mut sim = citysim::Simulation::new(config).unwrap();
    let share = sim.city().population() as f64 / citysim::profile::BEIJING.population() as f64;
    let mut sink = citysim::NullSink::default();
    let truth = sim
        .run(
            &mut sink,
            &mut citysim::sim::Quiet,
            &std::sync::atomic::AtomicBool::new(false),
        )
        .unwrap();
    let week = truth.city.kpis.hotline_tickets_received as f64;
    let per_year = week * 365.25 / 7.0 / 0.97 / share;
    assert!((17e6..23e6).contains(&per_year), "{per_year}");
    let events = truth.topics["hotline.tickets"].valid as f64 / week;
    assert!(
        (3.0..8.0).contains(&events),
        "{events} events per ticket within the week"
    );
}

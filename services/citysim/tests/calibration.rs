//! At scale 1.0 the generated programme reproduces the published figures within ±10 %
//! (facility and renovation streams; the hotline is not needed for them).

mod common;

use citysim::{NullSink, Topic};

fn within(name: &str, generated: f64, target: f64) {
    let dev = (generated - target) / target;
    assert!(
        dev.abs() <= 0.10,
        "{name}: generated {generated}, target {target} ({:+.1} %)",
        dev * 100.0
    );
}

#[test]
fn haidian_2024_reproduces_its_published_figures() {
    let mut c = common::config("beijing", "2024-01-01", "2024-12-31", 1.0, 7);
    c.streams = vec![Topic::Facility, Topic::Renovation];
    c.districts = Some(vec!["110108".into()]);
    let truth = common::run(c, &mut NullSink::default());
    let hd = &truth.districts["110108"].period;
    let k = &hd.kpis;
    within("elevators added", k.elevators_completed as f64, 280.0);
    within(
        "inclusive childcare places",
        k.inclusive_childcare_places_added as f64,
        4334.0,
    );
    within(
        "age-friendly households",
        k.age_friendly_households as f64,
        5410.0,
    );
    within(
        "elderly service centres",
        k.elderly_service_centres_opened as f64,
        15.0,
    );
    within(
        "elderly care stations",
        k.elderly_care_stations_opened as f64,
        25.0,
    );
    within("meal points", k.meal_points_opened as f64, 72.0);
    within(
        "EV charging points",
        hd.charging_points_stock_end as f64,
        45_000.0,
    );
    within(
        "deliberation halls",
        hd.facility_stock_end["deliberation_hall"] as f64,
        122.0,
    );
    assert!(
        truth.calibration.iter().all(|r| r.ok),
        "{:#?}",
        truth.calibration
    );
    // And the communities reference: 327 communities on 掌上海淀 (K31).
    within(
        "communities on the district app",
        hd.communities.communities_on_platform as f64,
        327.0,
    );
    assert_eq!(truth.calibration.len(), 9);
    // Haidian has about 600 communities of 1,000–15,000 residents.
    let d = &truth.districts["110108"];
    assert!((550..=650).contains(&d.communities), "{}", d.communities);
}

#[test]
fn chongqing_and_hangzhou_reproduce_their_rows() {
    for city in ["chongqing", "hangzhou"] {
        let mut c = common::config(city, "2024-01-01", "2024-12-31", 1.0, 7);
        c.streams = vec![Topic::Facility, Topic::Renovation];
        let truth = common::run(c, &mut NullSink::default());
        assert!(!truth.calibration.is_empty());
        for row in &truth.calibration {
            assert!(row.ok, "{city}: {row:#?}");
        }
    }
}

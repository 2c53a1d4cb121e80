//! Simulation time: milliseconds since the Unix epoch, Asia/Shanghai local days, the simulated
//! period, and the map from simulated to emitted time (identity, or the live clock).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use civicpulse_core::event::EventTime;

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;
/// Milliseconds in an hour.
pub const HOUR_MS: i64 = 3_600_000;
/// Milliseconds in a minute.
pub const MINUTE_MS: i64 = 60_000;
/// Asia/Shanghai is UTC+8 all year.
const SHANGHAI_MS: i64 = 8 * HOUR_MS;
/// Days from 0001-01-01 (CE day 1) to 1970-01-01.
const EPOCH_CE_DAYS: i32 = 719_163;

/// The Asia/Shanghai local day (days since 1970-01-01) of instant `ms`.
pub fn local_day(ms: i64) -> i32 {
    (ms + SHANGHAI_MS).div_euclid(DAY_MS) as i32
}

/// The instant local midnight of `day` begins.
pub fn day_start(day: i32) -> i64 {
    i64::from(day) * DAY_MS - SHANGHAI_MS
}

/// The local hour (0–23) of instant `ms`.
pub fn local_hour(ms: i64) -> i64 {
    (ms + SHANGHAI_MS).rem_euclid(DAY_MS) / HOUR_MS
}

/// The calendar date of local day `day`.
pub fn date(day: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(day + EPOCH_CE_DAYS).expect("day within chrono's range")
}

/// The local day of calendar date `d`.
pub fn day_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - EPOCH_CE_DAYS
}

/// Month 1–12 of local day `day`.
pub fn month(day: i32) -> u32 {
    date(day).month()
}

/// Weekday of local day `day`, Monday = 0.
pub fn weekday(day: i32) -> u32 {
    // 1970-01-01 was a Thursday.
    (day + 3).rem_euclid(7) as u32
}

/// Calendar year of local day `day`.
pub fn year(day: i32) -> i32 {
    date(day).year()
}

/// Day of the year (0-based) of local day `day`.
pub fn day_of_year(day: i32) -> u32 {
    date(day).ordinal0()
}

/// The ISO week of local day `day`, e.g. `2024-W01` (Monday to Sunday, Asia/Shanghai).
pub fn iso_week(day: i32) -> String {
    let w = date(day).iso_week();
    format!("{}-W{:02}", w.year(), w.week())
}

/// An event timestamp for instant `ms`.
pub fn event_time(ms: i64) -> EventTime {
    EventTime(DateTime::<Utc>::from_timestamp_millis(ms).expect("timestamp within range"))
}

/// The wall clock now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// The simulated period: every day from `from` to `to` inclusive, in Asia/Shanghai.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
}

impl Period {
    /// Local day of `from`.
    pub fn from_day(&self) -> i32 {
        day_of(self.from)
    }

    /// Local day of `to`.
    pub fn to_day(&self) -> i32 {
        day_of(self.to)
    }

    /// Number of days.
    pub fn days(&self) -> i32 {
        self.to_day() - self.from_day() + 1
    }

    /// The instant the period begins.
    pub fn start_ms(&self) -> i64 {
        day_start(self.from_day())
    }

    /// The instant just after the period ends.
    pub fn end_ms(&self) -> i64 {
        day_start(self.to_day() + 1)
    }

    /// Whether local day `day` is in the period.
    pub fn contains(&self, day: i32) -> bool {
        (self.from_day()..=self.to_day()).contains(&day)
    }

    /// Length in years, counting each calendar year's share of days (2024-01-01..2024-12-31
    /// is exactly 1.0), so annual targets scale exactly.
    pub fn years(&self) -> f64 {
        let mut years = 0.0;
        for y in self.from.year()..=self.to.year() {
            let start = NaiveDate::from_ymd_opt(y, 1, 1).expect("valid date");
            let next = NaiveDate::from_ymd_opt(y + 1, 1, 1).expect("valid date");
            let lo = start.max(self.from);
            let hi = next.min(self.to.succ_opt().expect("date after to"));
            let len = (next - start).num_days() as f64;
            years += ((hi - lo).num_days().max(0)) as f64 / len;
        }
        years
    }
}

/// Maps simulated instants to the instants written into events.
///
/// Batch runs write simulated time as is. Live runs ([`TimeMap::Live`]) stretch each window of
/// simulated time over the wall-clock span its events take at the requested rate, so events are
/// stamped "now" when sent while every earlier timestamp of an entity maps to the same value in
/// all its versions.
#[derive(Debug, Clone, Default)]
pub enum TimeMap {
    /// Simulated time is event time.
    #[default]
    Identity,
    /// Piecewise-linear map onto the wall clock.
    Live(LiveClock),
}

impl TimeMap {
    /// The emitted instant of simulated instant `sim`.
    pub fn ms(&self, sim: i64) -> i64 {
        match self {
            TimeMap::Identity => sim,
            TimeMap::Live(clock) => clock.map(sim),
        }
    }

    /// The emitted local day of simulated local day `day` (mapped at noon).
    pub fn day(&self, day: i32) -> i32 {
        match self {
            TimeMap::Identity => day,
            TimeMap::Live(_) => local_day(self.ms(day_start(day) + 12 * HOUR_MS)),
        }
    }
}

/// One linear piece of the live clock: from simulated `sim` on, wall = `wall + (t − sim) × slope`.
#[derive(Debug, Clone, Copy)]
struct Segment {
    sim: i64,
    wall: i64,
    slope: f64,
}

/// The live clock: the simulated instant each window began, the wall instant it was sent and
/// how fast it ran.
#[derive(Debug, Clone, Default)]
pub struct LiveClock {
    segments: Vec<Segment>,
}

impl LiveClock {
    /// A clock whose simulated instant `sim` is wall instant `wall`.
    pub fn new(sim: i64, wall: i64) -> Self {
        Self {
            segments: vec![Segment {
                sim,
                wall,
                slope: 1.0,
            }],
        }
    }

    /// Starts a window at simulated `sim` that lasts `sim_len` ms of simulated time and
    /// `wall_len` ms of wall time. Returns the window's first wall instant.
    pub fn push_window(&mut self, sim: i64, sim_len: i64, wall_len: f64) -> i64 {
        let wall = self.map(sim);
        let slope = if sim_len > 0 {
            wall_len / sim_len as f64
        } else {
            0.0
        };
        self.segments.push(Segment { sim, wall, slope });
        wall
    }

    /// The wall instant of simulated instant `t`. Before the first window time runs at real
    /// speed (history such as a project's declaration date keeps its real distance).
    fn map(&self, t: i64) -> i64 {
        let first = self.segments[0];
        if t < first.sim {
            return first.wall - (first.sim - t);
        }
        let i = self.segments.partition_point(|s| s.sim <= t) - 1;
        let s = self.segments[i];
        // A window past the last pushed one runs at the last known speed.
        s.wall + ((t - s.sim) as f64 * s.slope).round() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shanghai_days_and_weeks() {
        let d = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let day = day_of(d);
        assert_eq!(date(day), d);
        assert_eq!(weekday(day), 0);
        assert_eq!(iso_week(day), "2024-W01");
        assert_eq!(iso_week(day - 1), "2023-W52");
        // 2023-12-31T16:00Z is midnight 2024-01-01 in Shanghai.
        assert_eq!(day_start(day), 1_704_038_400_000);
        assert_eq!(local_day(day_start(day)), day);
        assert_eq!(local_day(day_start(day) - 1), day - 1);
        assert_eq!(local_hour(day_start(day) + 9 * HOUR_MS), 9);
    }

    #[test]
    fn period_years() {
        let p = Period {
            from: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2024, 12, 31).unwrap(),
        };
        assert_eq!(p.years(), 1.0);
        assert_eq!(p.days(), 366);
        let q = Period {
            from: NaiveDate::from_ymd_opt(2023, 1, 1).unwrap(),
            to: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap(),
        };
        assert!((q.years() - 3.0).abs() < 1e-12);
    }

    #[test]
    fn live_clock_is_monotone_and_consistent() {
        let mut c = LiveClock::new(1_000_000, 5_000);
        assert_eq!(c.push_window(1_000_000, 1000, 100.0), 5_000);
        assert_eq!(c.map(1_000_500), 5_050);
        assert_eq!(c.push_window(1_001_000, 1000, 10.0), 5_100);
        assert_eq!(c.map(1_000_500), 5_050);
        assert_eq!(c.map(1_001_500), 5_105);
        assert_eq!(c.map(999_000), 4_000);
    }
}

//! Report weeks: seven local days (Asia/Shanghai) starting on a configured weekday, named by the
//! ISO week of their first day (`2024-W23`).

use std::fmt;

use chrono::{DateTime, Datelike, Duration, FixedOffset, IsoWeek, NaiveDate, NaiveTime, Weekday};

use crate::ReportError;

/// Asia/Shanghai (UTC+8 all year; China has no daylight saving time).
pub fn shanghai() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// One report week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReportWeek {
    start: NaiveDate,
}

impl ReportWeek {
    /// The week named `2024-W23`: ISO week 23 of 2024 moved to start on `week_start` (on or
    /// after that ISO week's Monday).
    pub fn parse(id: &str, week_start: Weekday) -> Result<Self, ReportError> {
        let bad = || ReportError::Input(format!("week {id:?} is not an ISO week like 2024-W23"));
        // Exactly `YYYY-Www`: what Display prints back (no sign, spaces or extra digits).
        let (year, week) = id.split_once("-W").ok_or_else(bad)?;
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(year, 4) || !digits(week, 2) {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let week: u32 = week.parse().map_err(|_| bad())?;
        let monday = NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(bad)?;
        Ok(Self {
            start: monday + Duration::days(i64::from(week_start.num_days_from_monday())),
        })
    }

    /// The week that contains `day`.
    pub fn containing(day: NaiveDate, week_start: Weekday) -> Self {
        let back =
            (7 + day.weekday().num_days_from_monday() - week_start.num_days_from_monday()) % 7;
        Self {
            start: day - Duration::days(i64::from(back)),
        }
    }

    /// First day.
    pub fn start(&self) -> NaiveDate {
        self.start
    }

    /// Last day.
    pub fn end(&self) -> NaiveDate {
        self.start + Duration::days(6)
    }

    /// The weekday weeks start on.
    pub fn week_start(&self) -> Weekday {
        self.start.weekday()
    }

    /// `n` weeks later (earlier when negative).
    pub fn offset(&self, n: i64) -> Self {
        Self {
            start: self.start + Duration::weeks(n),
        }
    }

    /// The same week a year before: the same ISO week number of the previous ISO year (week 52
    /// when that year has no week 53).
    pub fn same_week_last_year(&self) -> Self {
        let iso = self.iso();
        let monday = NaiveDate::from_isoywd_opt(iso.year() - 1, iso.week(), Weekday::Mon)
            .or_else(|| NaiveDate::from_isoywd_opt(iso.year() - 1, 52, Weekday::Mon))
            .expect("week 52 exists");
        Self::containing(monday, self.week_start()).max_start_on_or_after(monday)
    }

    fn max_start_on_or_after(self, day: NaiveDate) -> Self {
        if self.start < day {
            self.offset(1)
        } else {
            self
        }
    }

    fn iso(&self) -> IsoWeek {
        self.start.iso_week()
    }

    /// When the week's figures are taken and the report is sent: `cutoff` local time on the day
    /// after the week ends.
    pub fn cutoff(&self, cutoff: NaiveTime) -> DateTime<FixedOffset> {
        (self.end() + Duration::days(1))
            .and_time(cutoff)
            .and_local_timezone(shanghai())
            .single()
            .expect("a fixed offset has no gaps")
    }

    /// The last week whose cut-off is at or before `now`.
    pub fn last_due(now: DateTime<FixedOffset>, week_start: Weekday, cutoff: NaiveTime) -> Self {
        let today = now.with_timezone(&shanghai()).date_naive();
        let mut week = Self::containing(today, week_start).offset(-1);
        while week.cutoff(cutoff) > now {
            week = week.offset(-1);
        }
        week
    }
}

impl fmt::Display for ReportWeek {
    /// `2024-W23`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let iso = self.iso();
        write!(f, "{}-W{:02}", iso.year(), iso.week())
    }
}

/// Parses `HH:MM`.
pub fn parse_time(value: &str) -> Result<NaiveTime, ReportError> {
    NaiveTime::parse_from_str(value.trim(), "%H:%M")
        .map_err(|_| ReportError::Input(format!("time {value:?} is not HH:MM")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn iso_weeks_and_other_starts() {
        let w = ReportWeek::parse("2024-W23", Weekday::Mon).unwrap();
        assert_eq!((w.start(), w.end()), (d("2024-06-03"), d("2024-06-09")));
        assert_eq!(w.to_string(), "2024-W23");
        assert_eq!(w.offset(-1).to_string(), "2024-W22");
        assert_eq!(w.same_week_last_year().start(), d("2023-06-05"));
        let f = ReportWeek::parse("2024-W23", Weekday::Fri).unwrap();
        assert_eq!((f.start(), f.end()), (d("2024-06-07"), d("2024-06-13")));
        assert_eq!(f.to_string(), "2024-W23");
        assert_eq!(ReportWeek::containing(d("2024-06-13"), Weekday::Fri), f);
        assert_eq!(
            ReportWeek::containing(d("2024-06-14"), Weekday::Fri),
            f.offset(1)
        );
        assert_eq!(f.same_week_last_year().week_start(), Weekday::Fri);
        // 2020 has a week 53, 2019 does not.
        let w53 = ReportWeek::parse("2020-W53", Weekday::Mon).unwrap();
        assert_eq!(w53.same_week_last_year().to_string(), "2019-W52");
        for bad in [
            "2024-23",
            "2024-W54",
            "x-W01",
            "2024-W",
            "2024-W00",
            "2024-W3",
            "2024-W023",
            "+2024-W23",
            " 2024-W23",
            "2024-W23/../..",
            "../2024-W23",
            "2024-W2\u{0}",
            "２０２４-W23",
        ] {
            assert!(ReportWeek::parse(bad, Weekday::Mon).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_due_week_waits_for_its_cutoff() {
        let noon = parse_time("12:00").unwrap();
        let w23 = ReportWeek::parse("2024-W23", Weekday::Mon).unwrap();
        assert_eq!(w23.cutoff(noon).to_rfc3339(), "2024-06-10T12:00:00+08:00");
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap();
        assert_eq!(
            ReportWeek::last_due(at("2024-06-10T11:59:00+08:00"), Weekday::Mon, noon),
            w23.offset(-1)
        );
        assert_eq!(
            ReportWeek::last_due(at("2024-06-10T12:00:00+08:00"), Weekday::Mon, noon),
            w23
        );
        assert_eq!(
            ReportWeek::last_due(at("2024-06-16T23:00:00+08:00"), Weekday::Mon, noon),
            w23
        );
    }
}

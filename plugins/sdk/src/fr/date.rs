//! Dates as partners write them, ISO weeks and RFC 3339 timestamps.
//! An impossible date (`31/02/2024`) is an error, never shifted.

use std::fmt;

use super::{ParseError, Parsed, is_missing};
use crate::model::Date;

pub fn is_leap_year(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1–12) of `year`; 0 for a month that does not exist.
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap_year(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// A checked date.
pub fn date(year: i32, month: u8, day: u8) -> Result<Date, ParseError> {
    if !(1..=12).contains(&month) {
        return Err(ParseError::new("month out of range"));
    }
    if day == 0 || day > days_in_month(year, month) {
        return Err(ParseError::new("day does not exist in that month"));
    }
    Ok(Date { year, month, day })
}

/// Days since 1970-01-01 (proleptic Gregorian).
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `days` after 1970-01-01.
pub fn civil_from_days(days: i64) -> Date {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Date {
        year: year as i32,
        month,
        day,
    }
}

/// 0 for Monday … 6 for Sunday.
pub fn weekday_from_monday(d: &Date) -> u8 {
    // 1970-01-01 was a Thursday.
    (days_from_civil(d.year, d.month, d.day) + 3).rem_euclid(7) as u8
}

/// An Excel serial day number, 1900 date system: 1 is 1900-01-01, 45292 is
/// 2024-01-01. Serial 60 is Excel's phantom 29/02/1900 and is refused.
pub fn excel_serial_date(serial: i64) -> Result<Date, ParseError> {
    match serial {
        1..=59 => Ok(civil_from_days(days_from_civil(1899, 12, 31) + serial)),
        60 => Err(ParseError::new(
            "Excel serial 60 is a date that does not exist",
        )),
        61..=2_958_465 => Ok(civil_from_days(days_from_civil(1899, 12, 30) + serial)),
        _ => Err(ParseError::new("Excel serial out of range")),
    }
}

fn number<T: std::str::FromStr>(s: &str, len: std::ops::RangeInclusive<usize>) -> Option<T> {
    if len.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) {
        s.parse().ok()
    } else {
        None
    }
}

/// A date in any of the partners' forms: `dd/mm/yyyy`, `dd/mm/yy` (`yy` < 70
/// is 20yy, otherwise 19yy), `dd-mm-yyyy`, `dd.mm.yyyy`, ISO `yyyy-mm-dd`, or an
/// Excel serial number of five digits (10000–99999, 1927–2173: a bare year or
/// a small number is refused rather than read as a serial). A time after the
/// date (`15/03/2024 00:00:00`, `2024-03-15T10:00:00`) is ignored.
pub fn parse_date(s: &str) -> Result<Parsed<Date>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let t = s.trim();
    let t = t.split([' ', 'T']).next().unwrap_or(t);
    // Excel serial, possibly with a fraction of a day.
    let int_part = t.split(['.', ',']).next().unwrap_or(t);
    if t.split(['.', ',']).count() <= 2
        && t.bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b',')
        && let Some(serial) = number::<i64>(int_part, 5..=5)
    {
        return excel_serial_date(serial).map(Parsed::Value);
    }
    let parts: Vec<&str> = t.split(['/', '-', '.']).collect();
    if parts.len() != 3 {
        return Err(ParseError::new("not a date"));
    }
    let bad = || ParseError::new("not a date");
    if parts[0].len() == 4 {
        let year = number::<i32>(parts[0], 4..=4).ok_or_else(bad)?;
        let month = number::<u8>(parts[1], 1..=2).ok_or_else(bad)?;
        let day = number::<u8>(parts[2], 1..=2).ok_or_else(bad)?;
        return date(year, month, day).map(Parsed::Value);
    }
    let day = number::<u8>(parts[0], 1..=2).ok_or_else(bad)?;
    let month = number::<u8>(parts[1], 1..=2).ok_or_else(bad)?;
    let year = match parts[2].len() {
        4 => number::<i32>(parts[2], 4..=4).ok_or_else(bad)?,
        2 => {
            let yy = number::<i32>(parts[2], 2..=2).ok_or_else(bad)?;
            if yy < 70 { 2000 + yy } else { 1900 + yy }
        }
        _ => return Err(bad()),
    };
    date(year, month, day).map(Parsed::Value)
}

/// An ISO 8601 week, such as `2024-W12`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u8,
}

impl IsoWeek {
    /// Number of ISO weeks of `year` (52 or 53).
    pub fn weeks_in_year(year: i32) -> u8 {
        // The week of 28 December is always the last one.
        let dec28 = Date {
            year,
            month: 12,
            day: 28,
        };
        let monday_w1 = Self::monday_of_week_one(year);
        let days = days_from_civil(dec28.year, dec28.month, dec28.day) - monday_w1;
        (days / 7 + 1) as u8
    }

    fn monday_of_week_one(year: i32) -> i64 {
        // Week 1 holds 4 January.
        let jan4 = Date {
            year,
            month: 1,
            day: 4,
        };
        days_from_civil(year, 1, 4) - i64::from(weekday_from_monday(&jan4))
    }

    /// The week's Monday.
    pub fn monday(&self) -> Date {
        civil_from_days(Self::monday_of_week_one(self.year) + 7 * (i64::from(self.week) - 1))
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

/// `2024-W12` (also `2024W12`, `2024-w12`, `2024-W1`); the week must exist in
/// that year (`2023-W53` does not).
pub fn parse_iso_week(s: &str) -> Result<Parsed<IsoWeek>, ParseError> {
    if is_missing(s) {
        return Ok(Parsed::Missing);
    }
    let t = s.trim();
    let bad = || ParseError::new("not an ISO week (yyyy-Www)");
    let (y, w) = t.split_once(['W', 'w']).ok_or_else(bad)?;
    let y = y.strip_suffix('-').unwrap_or(y);
    let year = number::<i32>(y, 4..=4).ok_or_else(bad)?;
    let week = number::<u8>(w, 1..=2).ok_or_else(bad)?;
    if week == 0 || week > IsoWeek::weeks_in_year(year) {
        return Err(ParseError::new("week does not exist in that year"));
    }
    Ok(Parsed::Value(IsoWeek { year, week }))
}

/// An RFC 3339 timestamp (`2024-03-18T09:00:00+01:00`, `…Z`, fractions of a
/// second dropped) as seconds since the epoch: compare instants, not strings.
pub fn parse_rfc3339(s: &str) -> Result<i64, ParseError> {
    let t = s.trim();
    let bad = || ParseError::new("not an RFC 3339 timestamp");
    if t.len() < 19 || !t.is_char_boundary(10) || !t.is_char_boundary(19) {
        return Err(bad());
    }
    let (d, rest) = t.split_at(10);
    let dp: Vec<&str> = d.split('-').collect();
    if dp.len() != 3 {
        return Err(bad());
    }
    let year = number::<i32>(dp[0], 4..=4).ok_or_else(bad)?;
    let month = number::<u8>(dp[1], 2..=2).ok_or_else(bad)?;
    let day = number::<u8>(dp[2], 2..=2).ok_or_else(bad)?;
    date(year, month, day)?;
    let mut chars = rest.chars();
    if !matches!(chars.next(), Some('T' | 't' | ' ')) {
        return Err(bad());
    }
    let rest = chars.as_str();
    let (hms, mut zone) = rest.split_at(8.min(rest.len()));
    let tp: Vec<&str> = hms.split(':').collect();
    if tp.len() != 3 {
        return Err(bad());
    }
    let h = number::<i64>(tp[0], 2..=2).ok_or_else(bad)?;
    let m = number::<i64>(tp[1], 2..=2).ok_or_else(bad)?;
    let sec = number::<i64>(tp[2], 2..=2).ok_or_else(bad)?;
    if h > 23 || m > 59 || sec > 60 {
        return Err(ParseError::new("time out of range"));
    }
    if let Some(frac) = zone.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        zone = &frac[digits..];
    }
    let offset = if zone == "Z" || zone == "z" {
        0
    } else {
        let sign = match zone.chars().next() {
            Some('+') => 1,
            Some('-') => -1,
            _ => return Err(bad()),
        };
        let z = &zone[1..];
        if !z.is_ascii() {
            return Err(bad());
        }
        let (oh, om) = match z.len() {
            5 if z.as_bytes()[2] == b':' => (&z[..2], &z[3..]),
            4 => (&z[..2], &z[2..]),
            2 => (z, "00"),
            _ => return Err(bad()),
        };
        let oh = number::<i64>(oh, 2..=2).ok_or_else(bad)?;
        let om = number::<i64>(om, 2..=2).ok_or_else(bad)?;
        if oh > 23 || om > 59 {
            return Err(ParseError::new("offset out of range"));
        }
        sign * (oh * 3600 + om * 60)
    };
    Ok(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset)
}

/// `2024-03-18T08:00:00Z`.
pub fn format_rfc3339_utc(ts: i64) -> String {
    let d = civil_from_days(ts.div_euclid(86_400));
    let s = ts.rem_euclid(86_400);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        d.year,
        d.month,
        d.day,
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ymd(s: &str) -> (i32, u8, u8) {
        match parse_date(s) {
            Ok(Parsed::Value(d)) => (d.year, d.month, d.day),
            other => panic!("{s:?}: {other:?}"),
        }
    }

    #[test]
    fn french_and_iso_dates() {
        assert_eq!(ymd("15/03/2024"), (2024, 3, 15));
        assert_eq!(ymd("5/3/2024"), (2024, 3, 5));
        assert_eq!(ymd("15-03-2024"), (2024, 3, 15));
        assert_eq!(ymd("15.03.2024"), (2024, 3, 15));
        assert_eq!(ymd("2024-03-15"), (2024, 3, 15));
        assert_eq!(ymd(" 2024-03-15 "), (2024, 3, 15));
        assert_eq!(ymd("15/03/2024 00:00:00"), (2024, 3, 15));
        assert_eq!(ymd("2024-03-15T10:00:00+01:00"), (2024, 3, 15));
        assert_eq!(ymd("29/02/2024"), (2024, 2, 29));
    }

    #[test]
    fn two_digit_years_pivot_at_70() {
        assert_eq!(ymd("15/03/24"), (2024, 3, 15));
        assert_eq!(ymd("01/01/00"), (2000, 1, 1));
        assert_eq!(ymd("31/12/69"), (2069, 12, 31));
        assert_eq!(ymd("01/01/70"), (1970, 1, 1));
        assert_eq!(ymd("15/03/99"), (1999, 3, 15));
    }

    #[test]
    fn impossible_dates_are_errors_not_shifted() {
        for s in [
            "31/02/2024",
            "29/02/2023",
            "31/04/2024",
            "00/01/2024",
            "32/01/2024",
            "15/13/2024",
            "15/00/2024",
            "2024-02-30",
            "2023-02-29",
            "31/02/24",
        ] {
            assert!(parse_date(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn garbage_and_missing() {
        for s in [
            "demain",
            "2024",
            "15/03",
            "15/03/2024/1",
            "1/2/345",
            "2024-3",
            "123",
            "45292abc",
        ] {
            assert!(parse_date(s).is_err(), "{s:?}");
        }
        for s in ["", "NC", "?", "-"] {
            assert_eq!(parse_date(s), Ok(Parsed::Missing));
        }
    }

    #[test]
    fn excel_serials() {
        assert_eq!(ymd("45292"), (2024, 1, 1));
        assert_eq!(ymd("45292.5"), (2024, 1, 1));
        assert_eq!(ymd("45351"), (2024, 2, 29));
        assert_eq!(ymd("43831"), (2020, 1, 1));
        let d = excel_serial_date(1).unwrap();
        assert_eq!((d.year, d.month, d.day), (1900, 1, 1));
        let d = excel_serial_date(59).unwrap();
        assert_eq!((d.year, d.month, d.day), (1900, 2, 28));
        assert!(excel_serial_date(60).is_err());
        let d = excel_serial_date(61).unwrap();
        assert_eq!((d.year, d.month, d.day), (1900, 3, 1));
        assert!(excel_serial_date(0).is_err());
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000, -1, 0, 1, 19_800, 2_932_896] {
            let d = civil_from_days(days);
            assert_eq!(days_from_civil(d.year, d.month, d.day), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(
            weekday_from_monday(&Date {
                year: 2024,
                month: 3,
                day: 18
            }),
            0
        );
    }

    #[test]
    fn iso_weeks() {
        let w = parse_iso_week("2024-W12").unwrap().value().unwrap();
        assert_eq!(
            w,
            IsoWeek {
                year: 2024,
                week: 12
            }
        );
        assert_eq!(
            w.monday(),
            Date {
                year: 2024,
                month: 3,
                day: 18
            }
        );
        assert_eq!(w.to_string(), "2024-W12");
        let w = parse_iso_week("2024w1").unwrap().value().unwrap();
        assert_eq!(w.to_string(), "2024-W01");
        assert_eq!(
            w.monday(),
            Date {
                year: 2024,
                month: 1,
                day: 1
            }
        );
        // Week 1 of 2021 starts on 4 January; 2020-W53 exists and starts in December.
        assert_eq!(
            parse_iso_week("2021-W01")
                .unwrap()
                .value()
                .unwrap()
                .monday(),
            Date {
                year: 2021,
                month: 1,
                day: 4
            }
        );
        assert_eq!(
            parse_iso_week("2020-W53")
                .unwrap()
                .value()
                .unwrap()
                .monday(),
            Date {
                year: 2020,
                month: 12,
                day: 28
            }
        );
        // Week 1 of 2025 starts in 2024.
        assert_eq!(
            parse_iso_week("2025-W01")
                .unwrap()
                .value()
                .unwrap()
                .monday(),
            Date {
                year: 2024,
                month: 12,
                day: 30
            }
        );
        assert_eq!(IsoWeek::weeks_in_year(2020), 53);
        assert_eq!(IsoWeek::weeks_in_year(2024), 52);
        assert_eq!(IsoWeek::weeks_in_year(2026), 53);
        for s in [
            "2023-W53", "2024-W00", "2024-W54", "2024-12", "24-W12", "2024-Wxx",
        ] {
            assert!(parse_iso_week(s).is_err(), "{s:?}");
        }
        assert_eq!(parse_iso_week(""), Ok(Parsed::Missing));
    }

    #[test]
    fn rfc3339_instants() {
        let a = parse_rfc3339("2024-03-18T09:00:00+01:00").unwrap();
        let b = parse_rfc3339("2024-03-18T08:00:00Z").unwrap();
        assert_eq!(a, b);
        assert_eq!(b, 1_710_748_800);
        assert_eq!(parse_rfc3339("2024-03-18T08:00:00.999Z").unwrap(), b);
        assert_eq!(parse_rfc3339("2024-03-18 03:00:00-05:00").unwrap(), b);
        assert_eq!(parse_rfc3339("2024-03-18T09:00:00+0100").unwrap(), b);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z").unwrap(), 0);
        // The string order differs from the instant order.
        let later = parse_rfc3339("2024-03-18T08:30:00+00:00").unwrap();
        let earlier = parse_rfc3339("2024-03-18T09:10:00+01:00").unwrap();
        assert!(earlier < later);
        for s in [
            "2024-03-18",
            "2024-03-18T09:00:00",
            "2024-02-30T00:00:00Z",
            "2024-03-18T25:00:00Z",
            "2024-03-18T09:00:00+1",
            "yesterday",
            "2024-03-18T09:00:00.Z",
            "2024-03-18é09:00:00Z",
        ] {
            assert!(parse_rfc3339(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(format_rfc3339_utc(1_710_748_800), "2024-03-18T08:00:00Z");
        assert_eq!(format_rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_utc(-1), "1969-12-31T23:59:59Z");
    }
}

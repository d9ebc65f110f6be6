//! The results folder of one run: `results/<UTC timestamp>-<scenario>/`, always new.

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Creates a new folder for this run under `parent`; an existing one is never reused.
pub fn create_run_folder(parent: &Path, scenario: &str, now: SystemTime) -> Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the results folder {}", parent.display()))?;
    let stamp = utc_stamp(now);
    let slug = slug(scenario);
    for attempt in 1.. {
        let name = if attempt == 1 {
            format!("{stamp}-{slug}")
        } else {
            format!("{stamp}-{slug}-{attempt}")
        };
        let dir = parent.join(name);
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", dir.display())),
        }
    }
    unreachable!("the attempts never run out")
}

/// A name made safe for a file name: ASCII letters, digits, `-` and `_` kept, anything else `-`.
pub fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// `YYYYMMDDTHHMMSSZ` for a time, in UTC.
pub fn utc_stamp(time: SystemTime) -> String {
    let t = UtcTime::of(time);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

/// `time` in UTC as ISO 8601 with milliseconds: `2026-12-02T13:16:14.123Z`.
pub fn utc_time(time: SystemTime) -> String {
    let t = UtcTime::of(time);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millisecond
    )
}

/// A point in time as a UTC calendar date and time of day.
struct UtcTime {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    millisecond: u32,
}

impl UtcTime {
    fn of(time: SystemTime) -> UtcTime {
        let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (year, month, day) = civil_from_days(days as i64);
        UtcTime {
            year,
            month,
            day,
            hour: rest / 3600,
            minute: rest % 3600 / 60,
            second: rest % 60,
            millisecond: since.subsec_millis(),
        }
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_are_iso_8601_utc_with_milliseconds() {
        assert_eq!(utc_time(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            utc_time(UNIX_EPOCH + Duration::from_millis(1_709_251_199_042)),
            "2024-02-29T23:59:59.042Z"
        );
    }

    #[test]
    fn stamps_are_utc_calendar_times() {
        assert_eq!(utc_stamp(UNIX_EPOCH), "19700101T000000Z");
        // 2024-02-29 23:59:59 UTC, a leap day.
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_709_251_199)),
            "20240229T235959Z"
        );
        assert_eq!(
            utc_stamp(UNIX_EPOCH + Duration::from_secs(1_795_828_357)),
            "20261128T011237Z"
        );
    }

    #[test]
    fn a_second_run_in_the_same_second_gets_its_own_folder() {
        let parent = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let a = create_run_folder(parent.path(), "my scenario", now).unwrap();
        let b = create_run_folder(parent.path(), "my scenario", now).unwrap();
        assert_ne!(a, b);
        assert!(a
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-my-scenario"));
        assert!(b
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("-my-scenario-2"));
    }
}

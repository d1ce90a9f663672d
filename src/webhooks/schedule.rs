//! The retry schedule: when the next attempt of a failed delivery happens, with jitter,
//! and what a `Retry-After` header asks for.

use chrono::{DateTime, Utc};
use rand::Rng;
use std::str::FromStr;
use std::time::Duration;

use crate::duration::parse_duration;

/// The longest `Retry-After` we honour; a receiver asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Delays before the 2nd, 3rd, … attempt. The Standard Webhooks suggestion (and the default)
/// is 5s, 5m, 30m, 2h, 5h, 10h, 10h: eight attempts over about a day and a half.
#[derive(Clone, Debug, PartialEq)]
pub struct RetrySchedule(pub Vec<Duration>);

impl FromStr for RetrySchedule {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let delays = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(parse_duration)
            .collect::<Result<Vec<_>, _>>()?;
        if delays.len() > 50 {
            return Err("at most 50 retries".into());
        }
        Ok(Self(delays))
    }
}

impl RetrySchedule {
    /// The delay after the `attempts`-th failed attempt of this round, with up to ±10 %
    /// jitter so that endpoints failing together do not retry in lockstep; None when the
    /// schedule is used up.
    pub fn delay_after(&self, attempts: usize) -> Option<Duration> {
        let base = *self.0.get(attempts.checked_sub(1)?)?;
        let spread = base.as_millis() as f64 * 0.1;
        let jitter = if spread >= 1.0 { rand::rng().random_range(-spread..spread) } else { 0.0 };
        Some(Duration::from_millis((base.as_millis() as f64 + jitter).max(0.0) as u64))
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP date; capped at a day.
pub fn retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?.with_timezone(&Utc);
            (at - now).to_std().unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_schedule_parses_and_runs_out() {
        let schedule: RetrySchedule = "5s,5m,30m,2h,5h,10h,10h".parse().unwrap();
        assert_eq!(schedule.0.len(), 7);
        let first = schedule.delay_after(1).unwrap();
        assert!(first >= Duration::from_millis(4500) && first <= Duration::from_millis(5500), "{first:?}");
        assert!(schedule.delay_after(7).unwrap() >= Duration::from_secs(9 * 3600));
        assert_eq!(schedule.delay_after(8), None);
        assert_eq!(schedule.delay_after(0), None);
    }

    #[test]
    fn durations_and_retry_after_parse() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(5 * 86400)));
        assert!(parse_duration("5 parsecs").is_err());
        let now = Utc::now();
        assert_eq!(retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(retry_after("99999999", now), Some(MAX_RETRY_AFTER));
        let later = (now + chrono::Duration::seconds(60)).to_rfc2822();
        assert!(retry_after(&later, now).unwrap() > Duration::from_secs(55));
        assert_eq!(retry_after("soon", now), None);
    }
}

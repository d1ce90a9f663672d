//! The reminder lead setting (`REMINDER_LEAD`): how long before an appointment starts its
//! APPOINTMENT_STARTING_SOON is sent, in the duration grammar.

use std::time::Duration;

/// The default `REMINDER_LEAD` (the flag's default, `30m`).
pub const DEFAULT_REMINDER_LEAD: Duration = Duration::from_secs(30 * 60);

/// Parses a lead time in the duration grammar (`30m`, `90s`, `1h30m`). Zero is refused: a
/// reminder due when the appointment starts would never be sent (reminders are not sent
/// once an appointment has started); at most a week.
pub fn parse_lead(text: &str) -> Result<Duration, String> {
    crate::duration::positive_up_to(
        text,
        "a lead time like 30m, 90s or 1h",
        Duration::from_secs(7 * 24 * 3600),
        "a week",
    )
}

#[cfg(test)]
mod tests {
    use super::parse_lead;
    use std::time::Duration;

    #[test]
    fn lead_times_read_like_people_write_them() {
        assert_eq!(parse_lead("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_lead("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_lead("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_lead("45m"), Ok(Duration::from_secs(2700)));
        assert_eq!(parse_lead("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "30", "m", "0m", "-5m", "30 minutes", "1.5h", "8d", "200h"] {
            assert!(parse_lead(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

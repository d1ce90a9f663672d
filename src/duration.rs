//! The one grammar of every duration setting: one or more `<number><unit>` parts, units
//! `d`, `h`, `m`, `s` and `ms`, summed (`90d`, `1h30m`, `250ms`, `1m30s`). Each setting
//! keeps its own bounds and error text where it is declared; this module only reads.
//!
//! Settings named `…_MS` and `…_SECS` (`WS_INIT_TIMEOUT_MS`, `RELAY_INTERVAL_MS`,
//! `SHUTDOWN_DEADLINE_SECS`, `USAGE_FLUSH_MS`, …) stay plain integers in the unit their
//! name says: those names are public, a `Config` field holds the integer, and a duration
//! string in a variable named `_MS` would read as a contradiction. They are the old
//! spelling, documented as such; new duration settings take this grammar.

use std::time::Duration;

/// Why a text is not a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// No parts, a part without a number (or with a sign, a dot, a space before its
    /// unit…) or a number without its unit.
    NotADuration,
    /// A part's unit is none of `d`, `h`, `m`, `s`, `ms`.
    UnknownUnit,
    /// More than `Duration` holds.
    TooLong,
}

/// The sum of `text`'s parts (surrounding whitespace ignored).
pub(crate) fn parse(text: &str) -> Result<Duration, Malformed> {
    let text = text.trim();
    if text.is_empty() {
        return Err(Malformed::NotADuration);
    }
    // Milliseconds in a u128: every part of a u64 number fits, so only a sum past what a
    // Duration holds is too long.
    let mut total_ms: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        let unit_len = rest[digits..].find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len() - digits);
        let (number, unit) = (&rest[..digits], &rest[digits..digits + unit_len]);
        if number.is_empty() || unit.is_empty() {
            return Err(Malformed::NotADuration);
        }
        let n: u64 = number.parse().map_err(|_| Malformed::TooLong)?;
        let unit_ms: u128 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            _ => return Err(Malformed::UnknownUnit),
        };
        total_ms = total_ms.checked_add(u128::from(n) * unit_ms).ok_or(Malformed::TooLong)?;
        rest = &rest[digits + unit_len..];
    }
    let secs = u64::try_from(total_ms / 1000).map_err(|_| Malformed::TooLong)?;
    Ok(Duration::new(secs, (total_ms % 1000) as u32 * 1_000_000))
}

/// The grammar, plus the old spelling of the webhook and bridge settings: a bare number is
/// seconds (`WEBHOOK_TIMEOUT=10`). At most `u64::MAX` milliseconds, so a setting can add a
/// margin to it without overflow.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    let parsed = if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        trimmed.parse::<u64>().map(Duration::from_secs).map_err(|_| Malformed::TooLong)
    } else {
        parse(trimmed)
    };
    match parsed {
        Ok(d) if d.as_millis() <= u128::from(u64::MAX) => Ok(d),
        Ok(_) | Err(Malformed::TooLong) => Err(format!("{trimmed:?} is too long")),
        Err(Malformed::UnknownUnit) => Err(format!("{trimmed:?}: the unit must be ms, s, m, h or d")),
        Err(Malformed::NotADuration) => Err(format!("{trimmed:?} is not a duration like 5s or 30m")),
    }
}

/// A setting's duration: more than zero and at most `max`, or why not. `what` is how the
/// setting's values look ("a timeout like 30s, 2m or 1m30s"); `longest` names `max` in
/// words ("an hour"). Each duration setting keeps its own bounds and words through this.
pub(crate) fn positive_up_to(text: &str, what: &str, max: Duration, longest: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not {what}");
    let total = parse(text).map_err(|_| bad())?;
    if total.is_zero() {
        return Err(bad());
    }
    if total > max {
        return Err(format!("{text:?} is longer than {longest}"));
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::{Malformed, parse, parse_duration};
    use std::time::Duration;

    #[test]
    fn parts_of_any_unit_add_up() {
        assert_eq!(parse("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse("1s250ms"), Ok(Duration::from_millis(1250)));
        assert_eq!(parse(" 250ms "), Ok(Duration::from_millis(250)));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        for bad in ["", "30", "m", "1h30", "-5m"] {
            assert_eq!(parse(bad), Err(Malformed::NotADuration), "{bad:?}");
        }
        for bad in ["30 minutes", "1.5h", "1H"] {
            assert_eq!(parse(bad), Err(Malformed::UnknownUnit), "{bad:?}");
        }
        assert_eq!(parse("5w"), Err(Malformed::UnknownUnit));
        assert_eq!(parse("99999999999999999999s"), Err(Malformed::TooLong));
        assert_eq!(parse(&format!("{}d", u64::MAX)), Err(Malformed::TooLong));
    }

    #[test]
    fn webhook_and_bridge_settings_also_take_bare_seconds() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("5 parsecs").unwrap_err().contains("unit"));
        assert!(parse_duration(&format!("{}s", u64::MAX)).unwrap_err().contains("too long"));
        assert!(parse_duration("").is_err());
    }
}

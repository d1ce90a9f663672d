//! The retention settings: how long events, webhook deliveries, idempotency keys and
//! audit rows are kept, in the duration grammar (`90d`, `12h`, `1d12h`).

use clap::Args;
use std::time::Duration;

/// What is pruned, and after how long: `90d`, `12h`, `30m`, `45s` or sums like `1d12h`.
#[derive(Debug, Clone, Args)]
pub struct RetentionArgs {
    /// Events older than this are pruned; a cursor before the oldest kept event answers
    /// CURSOR_EXPIRED.
    #[arg(long, env = "EVENT_RETENTION", default_value = "90d", value_parser = parse_retention)]
    pub event_retention: Duration,
    /// Finished webhook deliveries (and their attempts) older than this are pruned.
    #[arg(long, env = "WEBHOOK_RETENTION", default_value = "30d", value_parser = parse_retention)]
    pub webhook_retention: Duration,
    /// Idempotency keys older than this are forgotten (a retry after it runs anew).
    #[arg(long, env = "IDEMPOTENCY_RETENTION", default_value = "24h", value_parser = parse_retention)]
    pub idempotency_retention: Duration,
    /// Audit trail rows older than this are pruned; the default, six years, is the usual
    /// retention of health records.
    #[arg(long, env = "AUDIT_RETENTION", default_value = "2196d", value_parser = parse_retention)]
    pub audit_retention: Duration,
}

/// The longest retention: ten years.
const MAX_RETENTION: Duration = Duration::from_secs(10 * 366 * 86_400);

/// Parses a retention in the duration grammar. Zero is refused (it would prune what was
/// just written); at most ten years.
pub fn parse_retention(text: &str) -> Result<Duration, String> {
    crate::duration::positive_up_to(text, "a retention like 90d, 24h or 30m", MAX_RETENTION, "ten years")
}

#[cfg(test)]
mod tests {
    use super::parse_retention;
    use std::time::Duration;

    #[test]
    fn retentions_read_like_people_write_them() {
        assert_eq!(parse_retention("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_retention("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_retention("1d12h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_retention("45s"), Ok(Duration::from_secs(45)));
        for bad in ["", "90", "d", "0d", "-1d", "90 days", "1.5d", "4000d", "99999999999999999999d"] {
            assert!(parse_retention(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

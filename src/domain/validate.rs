//! Input rules shared by the aggregates. Each returns BAD_USER_INPUT naming the field.

use chrono::{DateTime, NaiveDate, Utc};
use std::str::FromStr;

use crate::error::{AppError, AppResult};

pub const MAX_NAME: usize = 200;
pub const MAX_TEXT: usize = 2000;
pub const MAX_ID: usize = 64;
pub const MAX_PAGE: i32 = 200;
pub const DEFAULT_PAGE: i32 = 50;
/// The largest single charge or payment: one million in the practice's currency.
pub const MAX_AMOUNT_CENTS: i64 = 100_000_000;

fn bad(field: &str, rule: &str) -> AppError {
    AppError::bad_input(format!("{field}: {rule}"))
}

/// A required, trimmed, printable name of at most `MAX_NAME` characters.
pub fn name(field: &str, value: &str) -> AppResult<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(bad(field, "must not be empty"));
    }
    text(field, value, MAX_NAME)
}

/// Free text without control characters (newlines and tabs allowed).
pub fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    if value.chars().count() > max {
        return Err(bad(field, &format!("must be at most {max} characters")));
    }
    if value.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(value.trim().to_string())
}

pub fn optional_text(field: &str, value: Option<&str>, max: usize) -> AppResult<Option<String>> {
    value.map(|v| text(field, v, max)).transpose().map(|v| v.filter(|s| !s.is_empty()))
}

pub fn email(value: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let valid = value.len() <= 254
        && !value.chars().any(|c| c.is_whitespace() || c.is_control())
        && value.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.contains('@')
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if !valid {
        return Err(bad("email", "must be an email address like name@example.com"));
    }
    Ok(Some(value.to_string()))
}

pub fn phone(value: Option<&str>) -> AppResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else { return Ok(None) };
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let allowed = value.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c));
    if !allowed || !(5..=20).contains(&digits) || value.len() > 32 {
        return Err(bad("phone", "must be a phone number of 5 to 20 digits"));
    }
    Ok(Some(value.to_string()))
}

pub fn timezone(value: &str) -> AppResult<String> {
    chrono_tz::Tz::from_str(value.trim())
        .map(|tz| tz.name().to_string())
        .map_err(|_| bad("timezone", "must be an IANA time zone such as America/New_York"))
}

pub fn currency(value: &str) -> AppResult<String> {
    let value = value.trim();
    if value.len() != 3 || !value.chars().all(|c| c.is_ascii_alphabetic()) {
        return Err(bad("currency", "must be a three-letter ISO 4217 code such as USD"));
    }
    Ok(value.to_ascii_uppercase())
}

pub fn amount_cents(value: i64) -> AppResult<i64> {
    if value <= 0 {
        return Err(bad("amountCents", "must be positive"));
    }
    if value > MAX_AMOUNT_CENTS {
        return Err(bad("amountCents", &format!("must be at most {MAX_AMOUNT_CENTS}")));
    }
    Ok(value)
}

/// A balance a charge or payment leads to: it is served as a GraphQL `Int`, which is 32-bit
/// signed, so a balance past that range would break typed clients.
pub fn balance_cents(value: i64) -> AppResult<i64> {
    if i32::try_from(value).is_err() {
        let (min, max) = (i32::MIN, i32::MAX);
        return Err(bad(
            "amountCents",
            &format!("the balance would be {value}, outside {min} to {max} (a GraphQL Int)"),
        ));
    }
    Ok(value)
}

/// Appointments last from 5 minutes to 12 hours.
pub fn duration_minutes(value: i32) -> AppResult<i32> {
    if !(5..=720).contains(&value) {
        return Err(bad("durationMinutes", "must be between 5 and 720"));
    }
    Ok(value)
}

/// Appointment times: within ten years of now either way.
pub fn starts_at(value: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
    let span = chrono::Duration::days(3653);
    if value < now - span || value > now + span {
        return Err(bad("startsAt", "must be within ten years of today"));
    }
    Ok(value)
}

pub fn date_of_birth(value: Option<NaiveDate>, today: NaiveDate) -> AppResult<Option<NaiveDate>> {
    match value {
        Some(d) if d > today => Err(bad("dateOfBirth", "must not be in the future")),
        Some(d) if d < NaiveDate::from_ymd_opt(1880, 1, 1).unwrap_or(NaiveDate::MIN) => {
            Err(bad("dateOfBirth", "must be after 1880"))
        }
        other => Ok(other),
    }
}

pub fn range(from: DateTime<Utc>, to: DateTime<Utc>) -> AppResult<()> {
    if to <= from {
        return Err(bad("to", "must be after from"));
    }
    if to - from > chrono::Duration::days(366) {
        return Err(bad("to", "the range may span at most 366 days"));
    }
    Ok(())
}

/// An id argument: oversized ids and ids with control characters (no id of ours has one,
/// and Postgres text cannot hold NUL) are bad input; well-formed unknown ids are NOT_FOUND.
pub fn id<'a>(field: &str, value: &'a str) -> AppResult<&'a str> {
    if value.is_empty() || value.len() > MAX_ID || value.chars().any(char::is_control) {
        return Err(bad(field, "is not a valid id"));
    }
    Ok(value)
}

pub fn idempotency_key(value: &str) -> AppResult<()> {
    if value.is_empty() || value.len() > 255 || value.chars().any(char::is_control) {
        return Err(bad("idempotencyKey", "must be 1 to 255 printable characters"));
    }
    Ok(())
}

/// A page size: `first` defaults to 50, at most 200.
pub fn page_size(first: Option<i32>) -> AppResult<u64> {
    match first {
        None => Ok(DEFAULT_PAGE as u64),
        Some(n) if (0..=MAX_PAGE).contains(&n) => Ok(n as u64),
        Some(_) => Err(bad("first", &format!("must be between 0 and {MAX_PAGE}"))),
    }
}

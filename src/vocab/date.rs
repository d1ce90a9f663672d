//! `Date`: a calendar date (`YYYY-MM-DD`) such as a date of birth.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// A calendar date; JSON and the schema's `Date` scalar (`graphql::types`) spell it
/// `YYYY-MM-DD`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Date(pub NaiveDate);

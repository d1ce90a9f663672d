//! The claims object: what a person's token grants, under the configured namespace
//! (`JWT_CLAIMS_NAMESPACE`, Hasura-style), as
//! `{"practice_id": "prc_…", "role": "BACKOFFICE", "patient_id": "pat_…"}`.

use serde::Deserialize;

use crate::auth::Grant;
use crate::vocab::Role;

/// The longest id the claims may carry (ids are far shorter; this only bounds what a
/// token can make the server hold).
const MAX_ID: usize = 128;

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct ClaimsObject {
    pub practice_id: Option<String>,
    pub role: Option<String>,
    pub patient_id: Option<String>,
}

impl ClaimsObject {
    /// What the object grants, or why it grants nothing (FORBIDDEN, with this reason).
    pub fn grant(&self) -> Result<Grant, String> {
        let Some(role) = self.role.as_deref() else {
            return Err("the token's claims name no role".into());
        };
        let role = Role::parse(role).ok_or_else(|| {
            format!("the token's role {role:?} is not one of ADMIN, BACKOFFICE, SUBSCRIBER or PATIENT")
        })?;
        let practice_id = self.practice_id.as_deref().map(|p| id("practice_id", p)).transpose()?;
        let patient_id = self.patient_id.as_deref().map(|p| id("patient_id", p)).transpose()?;
        match (role, practice_id, patient_id) {
            (Role::Admin, None, None) => Ok(Grant::Admin),
            (Role::Patient, Some(practice_id), Some(patient_id)) => Ok(Grant::Patient { practice_id, patient_id }),
            (Role::Patient, _, None) => Err("a PATIENT token must name its patient_id".into()),
            (Role::Patient, None, Some(_)) => Err("a PATIENT token must name its practice_id".into()),
            (_, _, Some(_)) => Err("only a PATIENT token names a patient_id".into()),
            (_, None, None) => Err(format!("a {} token must name its practice_id", role.as_str())),
            (role, Some(practice_id), None) => Ok(Grant::Practice { practice_id, role }),
        }
    }
}

fn id(name: &str, value: &str) -> Result<String, String> {
    let ok = !value.is_empty()
        && value.len() <= MAX_ID
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok { Ok(value.to_string()) } else { Err(format!("the token's {name} is not an id")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(practice: Option<&str>, role: Option<&str>, patient: Option<&str>) -> Result<Grant, String> {
        ClaimsObject {
            practice_id: practice.map(Into::into),
            role: role.map(Into::into),
            patient_id: patient.map(Into::into),
        }
        .grant()
    }

    #[test]
    fn each_role_needs_exactly_its_ids() {
        assert_eq!(claims(None, Some("ADMIN"), None), Ok(Grant::Admin));
        assert_eq!(
            claims(Some("prc_1"), Some("BACKOFFICE"), None),
            Ok(Grant::Practice { practice_id: "prc_1".into(), role: Role::Backoffice })
        );
        assert_eq!(
            claims(Some("prc_1"), Some("PATIENT"), Some("pat_1")),
            Ok(Grant::Patient { practice_id: "prc_1".into(), patient_id: "pat_1".into() })
        );
        assert!(claims(Some("prc_1"), Some("PATIENT"), None).unwrap_err().contains("patient_id"));
        assert!(claims(None, Some("PATIENT"), Some("pat_1")).unwrap_err().contains("practice_id"));
        assert!(claims(None, Some("SUBSCRIBER"), None).unwrap_err().contains("practice_id"));
        assert!(claims(Some("prc_1"), Some("SUBSCRIBER"), Some("pat_1")).unwrap_err().contains("only a PATIENT"));
        assert!(claims(Some("prc_1"), None, None).unwrap_err().contains("no role"));
        assert!(claims(Some("prc_1"), Some("root"), None).unwrap_err().contains("not one of"));
        assert!(claims(Some("prc 1"), Some("ADMIN"), None).unwrap_err().contains("not an id"));
        assert!(claims(Some(&"p".repeat(200)), Some("ADMIN"), None).is_err());
    }
}

//! Many resources of one kind by id, each only as the caller may see it: what a federation
//! gateway's entity references (`_entities`) resolve through, one query per kind and batch.
//! The checks are the ones `get` makes for one id, so a reference answers exactly what the
//! plain query would: another practice's id (or, for a patient, another patient's) is absent.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::HashMap;

use super::{Services, appointment_reads, billing, patients, practices, providers, validate};
use crate::auth::Principal;
use crate::db::entities::{appointment, charge, patient, payment, practice, provider};
use crate::error::AppResult;
use crate::vocab::{Appointment, Charge, Patient, Payment, Practice, Provider};

/// The resources a reference can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Practice,
    Provider,
    Patient,
    Appointment,
    Payment,
    Charge,
}

/// One resource found by reference.
#[derive(Clone, Debug)]
pub enum Record {
    Practice(Practice),
    Provider(Provider),
    Patient(Patient),
    // Boxed: an appointment carries its patient and provider.
    Appointment(Box<Appointment>),
    Payment(Payment),
    Charge(Charge),
}

/// The records of `kind` among `ids` that the caller may see, by id. An id that is
/// malformed, unknown or not the caller's to see is simply absent: the caller answers it
/// NOT_FOUND, as `get` would, without learning which of the three it was.
pub async fn visible(s: &Services, who: &Principal, kind: Kind, ids: &[String]) -> AppResult<HashMap<String, Record>> {
    let ids: Vec<&str> = ids.iter().filter_map(|id| validate::id("id", id).ok()).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let records: Vec<(String, Record)> = match kind {
        Kind::Practice => practice::Entity::find()
            .filter(practice::Column::Id.is_in(ids))
            .all(&s.db)
            .await?
            .into_iter()
            .filter(|row| who.read(&row.id, "practice").is_ok())
            .map(|row| (row.id.clone(), Record::Practice(practices::view(row))))
            .collect(),
        Kind::Provider => provider::Entity::find()
            .filter(provider::Column::Id.is_in(ids))
            .all(&s.db)
            .await?
            .into_iter()
            .filter(|row| who.read(&row.practice_id, "provider").is_ok())
            .map(|row| (row.id.clone(), Record::Provider(providers::view(row))))
            .collect(),
        Kind::Patient => patient::Entity::find()
            .filter(patient::Column::Id.is_in(ids))
            .all(&s.db)
            .await?
            .into_iter()
            .filter(|row| who.read_patient(&row.practice_id, &row.id, "patient").is_ok())
            .map(|row| (row.id.clone(), Record::Patient(patients::view(row))))
            .collect(),
        Kind::Appointment => appointments(s, who, ids).await?,
        Kind::Payment => payment::Entity::find()
            .filter(payment::Column::Id.is_in(ids))
            .all(&s.db)
            .await?
            .into_iter()
            .filter(|row| who.read_patient(&row.practice_id, &row.patient_id, "payment").is_ok())
            .map(|row| (row.id.clone(), Record::Payment(billing::payment_view(row))))
            .collect(),
        Kind::Charge => charge::Entity::find()
            .filter(charge::Column::Id.is_in(ids))
            .all(&s.db)
            .await?
            .into_iter()
            .filter(|row| who.read_patient(&row.practice_id, &row.patient_id, "charge").is_ok())
            .map(|row| (row.id.clone(), Record::Charge(billing::charge_view(row))))
            .collect(),
    };
    Ok(records.into_iter().collect())
}

/// Appointments carry their patient and provider: three queries for the whole batch.
async fn appointments(s: &Services, who: &Principal, ids: Vec<&str>) -> AppResult<Vec<(String, Record)>> {
    let rows: Vec<appointment::Model> = appointment::Entity::find()
        .filter(appointment::Column::Id.is_in(ids))
        .all(&s.db)
        .await?
        .into_iter()
        .filter(|row| who.read_patient(&row.practice_id, &row.patient_id, "appointment").is_ok())
        .collect();
    let appointment_reads::Parties { patients, providers } = appointment_reads::Parties::of(&s.db, &rows).await?;
    let mut found = Vec::with_capacity(rows.len());
    for row in rows {
        // Both always exist (foreign keys); one missing would be a row mid-delete: absent.
        let patient = patients.get(&row.patient_id).cloned();
        let provider = providers.get(&row.provider_id).cloned();
        if let (Some(patient), Some(provider)) = (patient, provider) {
            found
                .push((row.id.clone(), Record::Appointment(Box::new(appointment_reads::view(row, patient, provider)))));
        }
    }
    Ok(found)
}

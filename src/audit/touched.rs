//! The patients one operation touched, gathered by the resolvers of patients,
//! appointments, charges, payments and event snapshots into the request's data, and
//! written as one audit row when the operation ends.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

/// Clones share one set: a subscription that runs on its own keeps a clone to take what
/// each of its results touched.
#[derive(Clone, Default)]
pub struct Touched(Arc<Mutex<BTreeSet<(String, String)>>>);

impl Touched {
    /// `patient_id` of `practice_id` was read or changed.
    pub fn touch(&self, practice_id: &str, patient_id: &str) {
        let mut set = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if !set.iter().any(|(p, id)| p == practice_id && id == patient_id) {
            set.insert((practice_id.to_string(), patient_id.to_string()));
        }
    }

    /// The patients touched, per practice (in id order).
    pub fn take(&self) -> Vec<(String, Vec<String>)> {
        let set = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (practice, patient) in set {
            match out.last_mut() {
                Some((p, ids)) if *p == practice => ids.push(patient),
                _ => out.push((practice, vec![patient])),
            }
        }
        out
    }
}

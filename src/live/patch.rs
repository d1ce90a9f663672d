//! Deltas in the jsondiffpatch format that `@n1ru4l/json-patch-plus` applies (what
//! `@n1ru4l/graphql-live-query-patch-jsondiffpatch` reads): an object's changed members
//! by name, `[old, new]` for a replaced value, `[new]` for an added one, `[old, 0, 0]`
//! for a removed one, and for a list `{"_t": "a", "<i>": …}` by index: changed items in
//! place, items added at the end, items removed from the end.

use serde_json::{Map, Value, json};

/// The delta from `left` to `right`; None when they are equal.
pub fn diff(left: &Value, right: &Value) -> Option<Value> {
    if left == right {
        return None;
    }
    Some(match (left, right) {
        (Value::Object(l), Value::Object(r)) => {
            let mut delta = Map::new();
            for (name, old) in l {
                match r.get(name) {
                    Some(new) => {
                        if let Some(d) = diff(old, new) {
                            delta.insert(name.clone(), d);
                        }
                    }
                    None => {
                        delta.insert(name.clone(), json!([old, 0, 0]));
                    }
                }
            }
            for (name, new) in r {
                if !l.contains_key(name) {
                    delta.insert(name.clone(), json!([new]));
                }
            }
            Value::Object(delta)
        }
        (Value::Array(l), Value::Array(r)) => {
            let mut delta = Map::new();
            delta.insert("_t".into(), "a".into());
            for (i, (old, new)) in l.iter().zip(r).enumerate() {
                if let Some(d) = diff(old, new) {
                    delta.insert(i.to_string(), d);
                }
            }
            for (i, old) in l.iter().enumerate().skip(r.len()) {
                delta.insert(format!("_{i}"), json!([old, 0, 0]));
            }
            for (i, new) in r.iter().enumerate().skip(l.len()) {
                delta.insert(i.to_string(), json!([new]));
            }
            Value::Object(delta)
        }
        _ => json!([left, right]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deltas_name_only_what_changed() {
        let left = json!({ "patient": { "balanceCents": 10, "name": "A" }, "list": [1, 2, 3] });
        let right = json!({ "patient": { "balanceCents": 11, "name": "A" }, "list": [1, 5], "new": true });
        let delta = diff(&left, &right).unwrap();
        assert_eq!(
            delta,
            json!({
                "patient": { "balanceCents": [10, 11] },
                "list": { "_t": "a", "1": [2, 5], "_2": [3, 0, 0] },
                "new": [true],
            })
        );
        assert_eq!(diff(&left, &left), None);
        assert_eq!(diff(&json!(null), &json!({"a": 1})), Some(json!([null, {"a": 1}])));
    }
}

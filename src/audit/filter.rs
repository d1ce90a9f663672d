//! A subscription's filter as its audit rows keep it: the document and its variables,
//! whitespace folded, at most `MAX_FILTER` bytes.

/// The longest filter an audit row keeps.
const MAX_FILTER: usize = 2000;

pub fn filter(query: &str, variables: &impl serde::Serialize) -> String {
    let text = format!("{query} {}", serde_json::to_string(variables).unwrap_or_default());
    let mut filter = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if filter.len() > MAX_FILTER {
        let mut end = MAX_FILTER;
        while !filter.is_char_boundary(end) {
            end -= 1;
        }
        filter.truncate(end);
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_whitespace_and_cuts_long_filters_on_a_char_boundary() {
        let vars = serde_json::json!({});
        assert_eq!(filter("subscription {\n  events { seq }\n}", &vars), "subscription { events { seq } } {}");
        let long = format!("subscription {{ a(x: \"{}\") }}", "é".repeat(3000));
        let cut = filter(&long, &vars);
        assert!(cut.len() <= MAX_FILTER && cut.len() >= MAX_FILTER - 1, "{}", cut.len());
    }
}

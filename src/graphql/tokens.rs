//! Counting a document's lexical tokens before it is parsed (`MAX_QUERY_TOKENS`).
//!
//! Parsing costs far more than the bytes it reads: a 1 MB document of bare field names
//! takes the parser 1.4 s and 100 MB (release build), so the body limit alone lets one
//! unauthenticated request spend both. Counting tokens is a single pass over the bytes that
//! stops at the limit. The rules are GraphQL's lexical grammar (spec section 2.1): commas,
//! white space, line terminators, the byte order mark and comments are ignored; a name, a
//! number, a string or block string, `...` and every other punctuator is one token. Text
//! the grammar does not allow counts a token per character, so garbage cannot hide.

/// How many tokens `text` holds, counting no further than `stop_after + 1`.
pub fn count(text: &str, stop_after: usize) -> usize {
    let bytes = text.as_bytes();
    let (mut at, mut tokens) = (0, 0);
    while at < bytes.len() && tokens <= stop_after {
        let byte = bytes[at];
        at = match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => at + 1,
            b'#' => memchr_line_end(bytes, at),
            0xEF if bytes[at..].starts_with("\u{FEFF}".as_bytes()) => at + 3,
            _ => {
                tokens += 1;
                match byte {
                    b'"' if bytes[at..].starts_with(b"\"\"\"") => block_string_end(bytes, at + 3),
                    b'"' => string_end(bytes, at + 1),
                    b'.' if bytes[at..].starts_with(b"...") => at + 3,
                    b'_' | b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' => word_end(bytes, at + 1),
                    _ => at + 1,
                }
            }
        };
    }
    tokens
}

fn memchr_line_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..].iter().position(|&b| b == b'\n' || b == b'\r').map_or(bytes.len(), |i| from + i)
}

/// A name or a number: letters, digits, `_`, and the `.`, `+`, `-` of numbers.
fn word_end(bytes: &[u8], from: usize) -> usize {
    let rest = &bytes[from..];
    from + rest
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'+' | b'-')))
        .unwrap_or(rest.len())
}

/// Past the closing quote of a string whose body starts at `from` (or at a line end: the
/// grammar allows none inside, and the parser will refuse it).
fn string_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        match bytes[at] {
            b'\\' => at += 2,
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            _ => at += 1,
        }
    }
    bytes.len()
}

/// Past the closing `"""` of a block string whose body starts at `from`.
fn block_string_end(bytes: &[u8], mut at: usize) -> usize {
    while at < bytes.len() {
        if bytes[at..].starts_with(b"\\\"\"\"") {
            at += 4;
        } else if bytes[at..].starts_with(b"\"\"\"") {
            return at + 3;
        } else {
            at += 1;
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn tokens_are_counted_as_the_grammar_reads_them() {
        assert_eq!(count("{ a b }", 100), 4);
        assert_eq!(count("query Q($v: Int = -1.5e3) { f(x: $v) @skip(if: true) }", 100), 26);
        assert_eq!(count("{ a, b,,, c } # a comment { { {\n", 100), 5);
        assert_eq!(count(r#"{ f(s: "a \" { b", t: """ x \""" { """) }"#, 100), 11);
        assert_eq!(count("{ ...F ... on T { a } }", 100), 10);
        assert_eq!(count("\u{FEFF}{ a }", 100), 3);
        assert_eq!(count("{ ¤¤ }", 100), 2 + 4, "each byte of what the grammar does not allow");
    }

    #[test]
    fn counting_stops_past_the_limit() {
        assert_eq!(count(&"a ".repeat(1_000_000), 10), 11);
    }
}

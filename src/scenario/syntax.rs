//! Where a TOML syntax error is. A file that does not parse has no tree to ask, so these read the text.

use std::ops::Range;

/// A `[` or `{` value that the file never closes, open where a syntax error was found.
pub struct Unclosed {
    /// The key whose value it is: where the user must look.
    pub key: Range<usize>,
    /// "array" or "inline table".
    pub what: &'static str,
}

/// The outermost array or inline table open at `offset` that is still open at the end of the file, with
/// the key it is the value of. A missing `]` makes the parser read on into the next tables and stop lines
/// later; an error inside a value that does close is where the parser says.
pub fn never_closed(source: &str, offset: usize) -> Option<Unclosed> {
    let mut open: Vec<(char, Range<usize>)> = Vec::new();
    let mut outermost_at_offset = None;
    let mut key: Option<Range<usize>> = None;
    let mut line_start = true;
    let mut chars = source.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        if at >= offset && outermost_at_offset.is_none() {
            outermost_at_offset = Some(open.first().cloned());
        }
        match c {
            '#' => while chars.next_if(|&(_, c)| c != '\n').is_some() {},
            '"' | '\'' => skip_string(source, at, &mut chars),
            '\n' => {
                line_start = true;
                continue;
            }
            // A table header, at the start of a line outside any value.
            '[' if line_start && open.is_empty() => {
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
                key = None;
            }
            '[' | '{' => open.push((c, key.clone().unwrap_or(at..at + 1))),
            ']' | '}' => {
                open.pop();
            }
            '=' if open.is_empty() => {
                let line = source[..at].rfind('\n').map_or(0, |n| n + 1);
                let name = &source[line..at];
                let begin = line + (name.len() - name.trim_start().len());
                key = Some(begin..begin + name.trim().len());
            }
            _ => {}
        }
        if !c.is_whitespace() {
            line_start = false;
        }
    }
    // An error at the very end of the file is inside whatever is open there.
    let (bracket, key) = outermost_at_offset.unwrap_or_else(|| open.first().cloned())?;
    // Still open at the end: the same bracket stays at the bottom of the stack.
    open.first().filter(|(_, k)| *k == key)?;
    Some(Unclosed {
        key,
        what: if bracket == '[' {
            "array"
        } else {
            "inline table"
        },
    })
}

/// Moves `chars` past the string that starts at `at` (basic or literal, one line or three quotes).
fn skip_string(
    source: &str,
    at: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) {
    let quote = &source[at..at + 1];
    let triple = source[at..].starts_with(&quote.repeat(3));
    let basic = quote == "\"";
    if triple {
        chars.next();
        chars.next();
    }
    while let Some((i, c)) = chars.next() {
        if basic && c == '\\' {
            chars.next();
        } else if triple && source[i..].starts_with(&quote.repeat(3)) {
            chars.next();
            chars.next();
            return;
        } else if !triple && (source[i..].starts_with(quote) || c == '\n') {
            return;
        }
    }
}

/// The dotted name of the field a syntax error falls in: the last `key =` at or before `offset`, inside
/// the last table header before it. TOML that does not parse has no tree to ask, so this reads lines.
pub fn field_at(source: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut key = String::new();
    let mut start = 0;
    for line in source.split_inclusive('\n') {
        if start > offset {
            break;
        }
        let text = line.trim();
        // An error at the very start of a header is about the value before it (say, an unclosed array).
        let inside = start + (line.len() - line.trim_start().len()) < offset;
        if let Some(header) = text.strip_prefix('[').filter(|_| inside) {
            table = header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string();
            key.clear();
        } else if let Some((name, _)) = text.split_once('=') {
            let name = name.trim();
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.\"".contains(c))
            {
                key = name.to_string();
            }
        }
        start += line.len();
    }
    match (table.is_empty(), key.is_empty()) {
        (_, true) => table,
        (true, false) => key,
        (false, false) => format!("{table}.{key}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unclosed_key(source: &str, error_at: &str) -> Option<String> {
        let offset = source.find(error_at).unwrap();
        never_closed(source, offset).map(|open| source[open.key].to_string())
    }

    #[test]
    fn an_array_never_closed_is_found_at_its_key() {
        let source = "name = \"t\"\nthreads = [1,\n\n[[models]]\nname = \"m\"\n[models.input]\nshape = [1]\n";
        assert_eq!(unclosed_key(source, "name = \"m\""), Some("threads".into()));
        let inline = "[inputs]\nrandom = { count = 2, seed = 1\n[backends.tract]\n";
        assert_eq!(unclosed_key(inline, "[backends"), Some("random".into()));
        let at_the_end = "name = \"t\"\nthreads = [1,";
        assert_eq!(
            never_closed(at_the_end, at_the_end.len()).map(|open| &at_the_end[open.key]),
            Some("threads")
        );
    }

    #[test]
    fn an_error_inside_a_value_that_closes_stays_where_the_parser_says() {
        let source = "threads = [\n  1,\n  2 3\n]\nname = \"t\"\n";
        assert_eq!(unclosed_key(source, "3\n]"), None);
        // Brackets in strings and comments are not brackets.
        let quoted = "name = \"[[\" # ]]\nthreads = [1,\nother = 2\n";
        assert_eq!(unclosed_key(quoted, "other"), Some("threads".into()));
        let closed = "name = '[' # [\nthreads = [1]\nx = = 2\n";
        assert_eq!(unclosed_key(closed, "= 2"), None);
    }
}

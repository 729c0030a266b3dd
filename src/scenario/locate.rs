//! Where each field sits in the scenario text. serde_json gives a line and column but no field
//! path; our own checks give a path but no position. This module maps one to the other, so every
//! message can say both: `scenario.json:14:9: producers[0].config.linger.ms: ...`.
//! It runs only on text that serde_json has already parsed, so it can be a simple scanner; it
//! still never panics on bad input (it stops scanning instead).

/// The path of every object member and array element, with the byte offset where it starts (the
/// key's opening quote, or the element's first byte), in document order.
#[derive(Debug, Default)]
pub struct Positions {
    entries: Vec<Entry>,
    line_starts: Vec<usize>,
}

/// One step from a JSON value to a child: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Key(String),
    Index(usize),
}

#[derive(Debug)]
struct Entry {
    offset: usize,
    path: String,
    segments: Vec<Segment>,
}

impl Positions {
    pub fn scan(text: &str) -> Positions {
        let mut scanner = Scanner {
            bytes: text.as_bytes(),
            text,
            entries: Vec::new(),
        };
        let start = scanner.skip_whitespace(0);
        let _ = scanner.value(start, String::new(), Vec::new());
        let mut line_starts = vec![0];
        for (offset, byte) in text.bytes().enumerate() {
            if byte == b'\n' {
                line_starts.push(offset + 1);
            }
        }
        Positions {
            entries: scanner.entries,
            line_starts,
        }
    }

    /// Paths that appear more than once: a key repeated in one object, which JSON parsers
    /// resolve silently (the last one wins) but is almost always a mistake.
    pub fn duplicates(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = self.entries.iter().map(|e| e.path.as_str()).collect();
        seen.sort_unstable();
        let mut repeated: Vec<&str> = seen
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        repeated.dedup();
        repeated
    }

    /// `line:column` (both from 1, column in bytes as serde_json counts) of a path, if the text has it.
    pub fn line_column(&self, path: &str) -> Option<(usize, usize)> {
        let offset = self
            .entries
            .iter()
            .find(|e| e.path == path)
            .map(|e| e.offset)?;
        Some(self.offset_to_line_column(offset))
    }

    /// The path of the last field that starts before serde_json's error position: the field whose
    /// key or value the error is about.
    pub fn path_before(&self, line: usize, column: usize) -> Option<&str> {
        self.field_before(line, column).map(|(path, _)| path)
    }

    /// Like `path_before`, with the steps that lead to the field in the JSON tree.
    pub fn field_before(&self, line: usize, column: usize) -> Option<(&str, &[Segment])> {
        let line_start = *self.line_starts.get(line.checked_sub(1)?)?;
        let offset = line_start + column;
        self.entries
            .iter()
            .take_while(|e| e.offset < offset)
            .last()
            .map(|e| (e.path.as_str(), e.segments.as_slice()))
    }

    fn offset_to_line_column(&self, offset: usize) -> (usize, usize) {
        let line_index = match self.line_starts.binary_search(&offset) {
            Ok(index) => index,
            Err(index) => index.saturating_sub(1),
        };
        let line_start = self.line_starts.get(line_index).copied().unwrap_or(0);
        (line_index + 1, offset - line_start + 1)
    }
}

/// Joins a parent path and a key: `producers[0]` + `config` → `producers[0].config`.
pub fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Joins a parent path and an array index: `producers` + 0 → `producers[0]`.
pub fn element(path: &str, index: usize) -> String {
    format!("{path}[{index}]")
}

struct Scanner<'a> {
    bytes: &'a [u8],
    text: &'a str,
    entries: Vec<Entry>,
}

impl Scanner<'_> {
    fn skip_whitespace(&self, mut at: usize) -> usize {
        while self.bytes.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
            at += 1;
        }
        at
    }

    /// Scans one value starting at `at`; returns the offset just after it, or None if the text
    /// is not what valid JSON would be there.
    fn value(&mut self, at: usize, path: String, segments: Vec<Segment>) -> Option<usize> {
        match self.bytes.get(at)? {
            b'{' => self.object(at + 1, path, segments),
            b'[' => self.array(at + 1, path, segments),
            b'"' => self.string_end(at),
            _ => {
                let mut end = at;
                while self
                    .bytes
                    .get(end)
                    .is_some_and(|b| !b.is_ascii_whitespace() && !b",]}".contains(b))
                {
                    end += 1;
                }
                Some(end)
            }
        }
    }

    fn object(&mut self, mut at: usize, path: String, segments: Vec<Segment>) -> Option<usize> {
        loop {
            at = self.skip_whitespace(at);
            match self.bytes.get(at)? {
                b'}' => return Some(at + 1),
                b',' => at += 1,
                b'"' => {
                    let key_end = self.string_end(at)?;
                    let key: String = serde_json::from_str(self.text.get(at..key_end)?).ok()?;
                    let member_path = child(&path, &key);
                    let mut member_segments = segments.clone();
                    member_segments.push(Segment::Key(key));
                    self.entries.push(Entry {
                        offset: at,
                        path: member_path.clone(),
                        segments: member_segments.clone(),
                    });
                    at = self.skip_whitespace(key_end);
                    if self.bytes.get(at) != Some(&b':') {
                        return None;
                    }
                    at = self.skip_whitespace(at + 1);
                    at = self.value(at, member_path, member_segments)?;
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, mut at: usize, path: String, segments: Vec<Segment>) -> Option<usize> {
        let mut index = 0;
        loop {
            at = self.skip_whitespace(at);
            match self.bytes.get(at)? {
                b']' => return Some(at + 1),
                b',' => at += 1,
                _ => {
                    let element_path = element(&path, index);
                    let mut element_segments = segments.clone();
                    element_segments.push(Segment::Index(index));
                    self.entries.push(Entry {
                        offset: at,
                        path: element_path.clone(),
                        segments: element_segments.clone(),
                    });
                    at = self.value(at, element_path, element_segments)?;
                    index += 1;
                }
            }
        }
    }

    /// The offset just after the string that opens at `at`.
    fn string_end(&self, at: usize) -> Option<usize> {
        let mut position = at + 1;
        loop {
            match self.bytes.get(position)? {
                b'"' => return Some(position + 1),
                b'\\' => position += 2,
                _ => position += 1,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "{\n  \"name\": \"x\",\n  \"producers\": [\n    { \"config\": { \"linger.ms\": \"five\" } }\n  ]\n}\n";

    #[test]
    fn finds_paths_with_dotted_keys() {
        let positions = Positions::scan(TEXT);
        assert_eq!(positions.line_column("name"), Some((2, 3)));
        assert_eq!(
            positions.line_column("producers[0].config.linger.ms"),
            Some((4, 19))
        );
        assert_eq!(positions.line_column("topics"), None);
    }

    #[test]
    fn maps_serde_positions_back_to_paths() {
        let positions = Positions::scan(TEXT);
        // serde_json reports a wrong type just after the value.
        assert_eq!(
            positions.path_before(4, 37),
            Some("producers[0].config.linger.ms")
        );
    }

    #[test]
    fn finds_repeated_keys() {
        let positions = Positions::scan("{\"a\": 1, \"b\": [{\"c\": 1, \"c\": 2}], \"a\": 3}");
        assert_eq!(positions.duplicates(), ["a", "b[0].c"]);
    }

    #[test]
    fn survives_garbage() {
        let positions = Positions::scan("{\"a\": [1, {\"b\"");
        assert_eq!(positions.line_column("a[0]"), Some((1, 8)));
        assert_eq!(positions.path_before(99, 1), None);
    }
}

//! The policy's one JSON reader: single-pass and validating, over the request's text. The readers
//! built on it (`admission`, `pod`) walk the payload once, top-down, keeping only what the decision
//! needs (borrowed strings and byte positions) and skipping everything else without building
//! anything. The grammar is strict RFC 8259, as serde_json's: a text this reader accepts,
//! serde_json accepts too (tests/scan.rs holds it to that). A serde reader of the same skeleton
//! (derived structs over `&RawValue` spans) was measured 3× slower than the whole decision (docs/performance.md).

use std::borrow::Cow;

/// The text is not what the reader expected: where, and what it expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Invalid {
    pub at: usize,
    pub expected: &'static str,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "expected {} at byte {}", self.expected, self.at)
    }
}

pub type Read<T> = Result<T, Invalid>;

/// Where an object or a list is: the offsets of its opening and closing bracket, and how many
/// entries or items it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub open: usize,
    pub close: usize,
    pub count: usize,
}

impl Span {
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// The kind of the next value, named as the shape errors name it.
pub fn kind_name(first: u8) -> &'static str {
    match first {
        b'{' => "an object",
        b'[' => "a list",
        b'"' => "a string",
        b't' | b'f' => "a boolean",
        b'n' => "null",
        _ => "a number",
    }
}

/// The nesting serde_json allows when it builds a tree (128 levels for the whole payload, two of
/// them outside the object).
pub const MAX_DEPTH: usize = 126;

pub struct Scanner<'a> {
    text: &'a str,
    bytes: &'a [u8],
    at: usize,
    depth: usize,
    max_depth: usize,
    /// The open containers of the value [`Scanner::skip`] is in: `true` for an object.
    stack: Vec<bool>,
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            bytes: text.as_bytes(),
            at: 0,
            depth: 0,
            max_depth: 0,
            stack: Vec::new(),
        }
    }

    pub fn text(&self) -> &'a str {
        self.text
    }

    /// The offset of the next value (after whitespace).
    pub fn position(&mut self) -> usize {
        self.ws();
        self.at
    }

    /// The offset just after what was read last.
    pub fn offset(&self) -> usize {
        self.at
    }

    /// The deepest nesting seen since the last [`Scanner::restart_depth`].
    pub fn deepest(&self) -> usize {
        self.max_depth
    }

    /// Starts counting the deepest nesting afresh from here; returns the nesting here.
    pub fn restart_depth(&mut self) -> usize {
        self.max_depth = self.depth;
        self.depth
    }

    /// The error for what was expected at the cursor.
    pub fn fail<T>(&self, expected: &'static str) -> Read<T> {
        Err(Invalid {
            at: self.at,
            expected,
        })
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\t' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The first byte of the next value.
    pub fn peek(&mut self) -> Read<u8> {
        self.ws();
        match self.bytes.get(self.at) {
            Some(&byte) => Ok(byte),
            None => self.fail("a value"),
        }
    }

    fn consume(&mut self, byte: u8, expected: &'static str) -> Read<()> {
        match self.peek()? == byte {
            true => {
                self.at += 1;
                Ok(())
            }
            false => self.fail(expected),
        }
    }

    /// Nothing but whitespace is left.
    pub fn end(&mut self) -> Read<()> {
        self.ws();
        match self.at == self.bytes.len() {
            true => Ok(()),
            false => self.fail("the end of the text"),
        }
    }

    fn enter(&mut self) {
        self.depth += 1;
        self.max_depth = self.max_depth.max(self.depth);
    }

    /// The entries of the object that comes next: `entry` gets each key (`None` when its escapes do
    /// not decode) and must read its value.
    pub fn object(
        &mut self,
        mut entry: impl FnMut(&mut Self, Option<Cow<'a, str>>) -> Read<()>,
    ) -> Read<Span> {
        self.items([b'{', b'}'], ["an object", "',' or '}'"], |s| {
            let key = s.key()?;
            s.consume(b':', "':'")?;
            entry(s, key)
        })
    }

    /// The items of the list that comes next: `item` must read each one.
    pub fn list(&mut self, item: impl FnMut(&mut Self) -> Read<()>) -> Read<Span> {
        self.items([b'[', b']'], ["a list", "',' or ']'"], item)
    }

    /// An object or a list, each item (an entry) read by `item`.
    fn items(
        &mut self,
        [open_byte, close_byte]: [u8; 2],
        [what, separator]: [&'static str; 2],
        mut item: impl FnMut(&mut Self) -> Read<()>,
    ) -> Read<Span> {
        let start_at = self.position();
        self.consume(open_byte, what)?;
        self.enter();
        let mut count = 0;
        if self.peek()? != close_byte {
            loop {
                item(self)?;
                count += 1;
                match self.peek()? {
                    b',' => self.at += 1,
                    byte if byte == close_byte => break,
                    _ => return self.fail(separator),
                }
            }
        }
        let (open, close) = (start_at, self.at);
        self.at += 1;
        self.depth -= 1;
        Ok(Span { open, close, count })
    }

    fn key(&mut self) -> Read<Option<Cow<'a, str>>> {
        if self.peek()? != b'"' {
            return self.fail("a key (a string)");
        }
        self.string()
    }

    /// The string that comes next, decoded (`None` when its escapes do not decode to a string, such
    /// as a lone surrogate).
    pub fn string(&mut self) -> Read<Option<Cow<'a, str>>> {
        let start = self.position();
        let escaped = self.skip_string()?;
        let literal = self.text.get(start..self.at).unwrap_or_default();
        if !escaped {
            // Both quotes are one byte each.
            let content = literal.get(1..literal.len().saturating_sub(1));
            return Ok(Some(Cow::Borrowed(content.unwrap_or_default())));
        }
        Ok(serde_json::from_str::<String>(literal).ok().map(Cow::Owned))
    }

    /// The next value as a string when it is one (and decodes); any other value is skipped and
    /// reads as `None`.
    pub fn text_value(&mut self) -> Read<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string(),
            _ => self.skip().map(|_| None),
        }
    }

    /// Skips the string at the cursor; whether it had escapes.
    fn skip_string(&mut self) -> Read<bool> {
        self.consume(b'"', "a string")?;
        let mut escaped = false;
        loop {
            self.at = plain_run(self.bytes, self.at);
            let Some(&byte) = self.bytes.get(self.at) else {
                return self.fail("the end of the string");
            };
            self.at += 1;
            match byte {
                b'"' => return Ok(escaped),
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0..=0x1f => return self.fail("no control character in a string"),
                _ => {}
            }
        }
    }

    fn escape(&mut self) -> Read<()> {
        let byte = self.bytes.get(self.at).copied();
        self.at += 1;
        match byte {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => Ok(()),
            Some(b'u') => {
                let hex = self.bytes.get(self.at..self.at + 4).unwrap_or_default();
                if hex.len() < 4 || !hex.iter().all(u8::is_ascii_hexdigit) {
                    return self.fail("four hex digits");
                }
                self.at += 4;
                Ok(())
            }
            _ => self.fail("an escape"),
        }
    }

    /// Steps over the next byte when it is one of `bytes`.
    fn eat(&mut self, bytes: &[u8]) -> bool {
        let found = self.bytes.get(self.at).is_some_and(|b| bytes.contains(b));
        self.at += usize::from(found);
        found
    }

    fn digits(&mut self) -> Read<()> {
        let start = self.at;
        while let Some(b'0'..=b'9') = self.bytes.get(self.at) {
            self.at += 1;
        }
        match self.at > start {
            true => Ok(()),
            false => self.fail("a digit"),
        }
    }

    fn number(&mut self) -> Read<()> {
        self.eat(b"-");
        if !self.eat(b"0") {
            if !matches!(self.bytes.get(self.at), Some(b'1'..=b'9')) {
                return self.fail("a value");
            }
            self.digits()?;
        }
        if self.eat(b".") {
            self.digits()?;
        }
        if self.eat(b"eE") {
            self.eat(b"+-");
            self.digits()?;
        }
        Ok(())
    }

    /// A value that is not an object or a list.
    fn scalar(&mut self, first: u8) -> Read<()> {
        let word: &[u8] = match first {
            b'"' => return self.skip_string().map(drop),
            b't' => b"true",
            b'f' => b"false",
            b'n' => b"null",
            _ => return self.number(),
        };
        if self.bytes.get(self.at..self.at + word.len()) != Some(word) {
            return self.fail("a value");
        }
        self.at += word.len();
        Ok(())
    }

    /// Skips the next value, checking it; returns its first byte. Iterative, so that no nesting can
    /// exhaust the stack.
    pub fn skip(&mut self) -> Read<u8> {
        let first = self.peek()?;
        let base = self.stack.len();
        let mut byte = first;
        loop {
            match byte {
                b'{' | b'[' => {
                    self.at += 1;
                    self.enter();
                    let object = byte == b'{';
                    self.stack.push(object);
                    let close = if object { b'}' } else { b']' };
                    if self.peek()? != close {
                        if object {
                            self.skip_string()?;
                            self.consume(b':', "':'")?;
                        }
                        byte = self.peek()?;
                        continue;
                    }
                }
                _ => self.scalar(byte)?,
            }
            // After a value: close what ends here, then go on with the next one.
            loop {
                if self.stack.len() == base {
                    return Ok(first);
                }
                let object = self.stack.last().copied().unwrap_or(false);
                match (self.peek()?, object) {
                    (b',', true) => {
                        self.at += 1;
                        self.ws();
                        self.skip_string()?;
                        self.consume(b':', "':'")?;
                        break;
                    }
                    (b',', false) => {
                        self.at += 1;
                        break;
                    }
                    (b'}', true) | (b']', false) => {
                        self.at += 1;
                        self.depth -= 1;
                        self.stack.pop();
                    }
                    (_, true) => return self.fail("',' or '}'"),
                    (_, false) => return self.fail("',' or ']'"),
                }
            }
            byte = self.peek()?;
        }
    }

    /// Skips the next value; its text.
    pub fn raw(&mut self) -> Read<&'a str> {
        let start = self.position();
        self.skip()?;
        match self.text.get(start..self.at) {
            Some(raw) => Ok(raw),
            None => self.fail("a value"),
        }
    }
}

/// The index of the first byte from `at` on that ends a run of plain string content: a quote, a
/// backslash or a control character (or where fewer than eight bytes are left). Eight bytes at a
/// time: strings are most of the text.
fn plain_run(bytes: &[u8], mut at: usize) -> usize {
    const ONES: u64 = u64::from_le_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    // The lowest flagged byte is exact: the first byte below `n`.
    let below = |word: u64, n: u64| word.wrapping_sub(ONES * n) & !word & HIGH;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let Ok(word) = <[u8; 8]>::try_from(chunk) else {
            break;
        };
        let word = u64::from_le_bytes(word);
        let special = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if special != 0 {
            return at + (special.trailing_zeros() / 8) as usize;
        }
        at += 8;
    }
    at
}

/// Appends `s` as a JSON string literal (escaped as serde_json escapes).
pub fn push_quoted(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let plain = plain_run(bytes, 0);
    let tail = bytes.get(plain..).unwrap_or_default();
    if tail.iter().any(|&b| b == b'"' || b == b'\\' || b < 0x20) {
        out.push_str(&serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned()));
        return;
    }
    out.push('"');
    out.push_str(s);
    out.push('"');
}

//! JSON payloads in human format: syntax colour (keys, strings, numbers, literals) on one
//! line, or indented over several lines with `--pretty`.
//!
//! Only a text that is a whole JSON object or array is rendered this way; anything else is
//! shown as it came. The text is tokenized as it arrived (numbers and escapes keep their
//! spelling); strings are escaped like any remote text, and whitespace with control characters
//! in it becomes one space, so one message stays one line unless `--pretty` says otherwise.

use serde::de::{Deserialize, IgnoredAny};

use crate::term::escape;

/// How deep `--pretty` indents per level.
const INDENT: usize = 2;

/// ANSI colours: keys blue, strings green, numbers yellow, literals magenta.
const KEY: &str = "34";
const STRING: &str = "32";
const NUMBER: &str = "33";
const LITERAL: &str = "35";

/// Renders `text` into `out` if it is a JSON object or array and returns `true`; otherwise
/// leaves `out` alone and returns `false`. With `pretty`, continuation lines start with that
/// many spaces (the column where the payload starts) before their own indentation.
pub fn render(text: &str, pretty: Option<usize>, color: bool, out: &mut String) -> bool {
    if !is_json_container(text) {
        return false;
    }
    let mut depth = 0usize;
    let mut tokens = Tokens { rest: text }.peekable();
    let newline = |out: &mut String, depth: usize, column: usize| {
        out.push('\n');
        out.extend(std::iter::repeat_n(' ', column + depth * INDENT));
    };
    while let Some(token) = tokens.next() {
        match token {
            Token::Space(space) => {
                if pretty.is_none() {
                    if space.chars().any(char::is_control) {
                        out.push(' ');
                    } else {
                        out.push_str(space);
                    }
                }
            }
            Token::Open(c) => {
                out.push(c);
                depth += 1;
                let empty = matches!(next_solid(&tokens), Some(Token::Close(_)));
                if let (Some(column), false) = (pretty, empty) {
                    newline(out, depth, column);
                }
            }
            Token::Close(c) => {
                depth = depth.saturating_sub(1);
                if let (Some(column), false) = (pretty, out.ends_with(['{', '['])) {
                    newline(out, depth, column);
                }
                out.push(c);
            }
            Token::Comma => {
                out.push(',');
                if let Some(column) = pretty {
                    newline(out, depth, column);
                }
            }
            Token::Colon => {
                out.push(':');
                if pretty.is_some() {
                    out.push(' ');
                }
            }
            Token::String(s) => {
                let is_key = matches!(next_solid(&tokens), Some(Token::Colon));
                let code = if is_key { KEY } else { STRING };
                paint(out, code, &escape(s), color);
            }
            Token::Number(n) => paint(out, NUMBER, n, color),
            Token::Literal(l) => paint(out, LITERAL, l, color),
        }
    }
    true
}

fn paint(out: &mut String, code: &str, text: &str, color: bool) {
    if color {
        out.push_str("\x1b[");
        out.push_str(code);
        out.push('m');
        out.push_str(text);
        out.push_str("\x1b[0m");
    } else {
        out.push_str(text);
    }
}

/// The next token that is not whitespace, without consuming anything.
fn next_solid<'a>(tokens: &std::iter::Peekable<Tokens<'a>>) -> Option<Token<'a>> {
    tokens.clone().find(|t| !matches!(t, Token::Space(_)))
}

/// Whether `text` is one JSON object or array (and nothing else).
fn is_json_container(text: &str) -> bool {
    let first = text.trim_start().as_bytes().first();
    if !matches!(first, Some(b'{' | b'[')) {
        return false;
    }
    let mut de = serde_json::Deserializer::from_str(text);
    IgnoredAny::deserialize(&mut de).is_ok() && de.end().is_ok()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    Space(&'a str),
    Open(char),
    Close(char),
    Comma,
    Colon,
    /// A string with its quotes, as it was written.
    String(&'a str),
    Number(&'a str),
    Literal(&'a str),
}

/// The tokens of a text already known to be valid JSON.
#[derive(Clone)]
struct Tokens<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.rest.as_bytes();
        let first = *bytes.first()?;
        let len = match first {
            b'{' | b'[' | b'}' | b']' | b',' | b':' => 1,
            b'"' => {
                let mut i = 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                (i + 1).min(bytes.len())
            }
            b if b.is_ascii_whitespace() => bytes
                .iter()
                .position(|b| !b.is_ascii_whitespace())
                .unwrap_or(bytes.len()),
            _ => bytes
                .iter()
                .position(|b| b"{}[],: \t\r\n\"".contains(b))
                .unwrap_or(bytes.len()),
        };
        let (text, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(match first {
            b'{' | b'[' => Token::Open(first as char),
            b'}' | b']' => Token::Close(first as char),
            b',' => Token::Comma,
            b':' => Token::Colon,
            b'"' => Token::String(text),
            b if b.is_ascii_whitespace() => Token::Space(text),
            b't' | b'f' | b'n' => Token::Literal(text),
            _ => Token::Number(text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str, pretty: Option<usize>) -> Option<String> {
        let mut out = String::new();
        render(text, pretty, false, &mut out).then_some(out)
    }

    #[test]
    fn only_objects_and_arrays_are_json_here() {
        assert_eq!(plain("hello", None), None);
        assert_eq!(plain("42", None), None);
        assert_eq!(plain("\"s\"", None), None);
        assert_eq!(plain("{\"a\":1} trailing", None), None);
        assert_eq!(plain("{\"a\":", None), None);
        assert_eq!(
            plain("{\"a\": 1.50, \"b\": [true, null]}", None).as_deref(),
            Some("{\"a\": 1.50, \"b\": [true, null]}")
        );
    }

    #[test]
    fn one_line_stays_one_line() {
        assert_eq!(
            plain("{\n\t\"a\": 1\n}", None).as_deref(),
            Some("{ \"a\": 1 }")
        );
    }

    #[test]
    fn pretty_indents_under_the_payload_column() {
        let text = r#"{"a":1,"b":[true,{"c":null}],"d":{},"e":[]}"#;
        let expected = "{\n    \"a\": 1,\n    \"b\": [\n      true,\n      {\n        \"c\": null\n      }\n    ],\n    \"d\": {},\n    \"e\": []\n  }";
        assert_eq!(plain(text, Some(2)).as_deref(), Some(expected));
    }

    #[test]
    fn strings_keep_their_escapes_and_control_characters_stay_escaped() {
        let text = "[\"tab\\tand\\u001b\", \"del\u{7f}\"]";
        assert_eq!(
            plain(text, None).as_deref(),
            Some("[\"tab\\tand\\u001b\", \"del\\x7f\"]")
        );
    }

    #[test]
    fn colours_keys_strings_numbers_and_literals() {
        let mut out = String::new();
        assert!(render(
            r#"{"k":"v","n":-1e3,"t":true}"#,
            None,
            true,
            &mut out
        ));
        assert_eq!(
            out,
            "{\u{1b}[34m\"k\"\u{1b}[0m:\u{1b}[32m\"v\"\u{1b}[0m,\u{1b}[34m\"n\"\u{1b}[0m:\u{1b}[33m-1e3\u{1b}[0m,\u{1b}[34m\"t\"\u{1b}[0m:\u{1b}[35mtrue\u{1b}[0m}"
        );
    }
}

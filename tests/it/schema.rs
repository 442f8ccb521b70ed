//! A JSON Schema check for exactly the keywords docs/run.schema.json uses (draft 2020-12
//! semantics): `type`, `properties`, `required`, `additionalProperties`, `items`, `enum`,
//! `const`, `minimum`, `minLength`, `pattern`, `$ref` into `$defs`, and the annotations `$schema`,
//! `title`, `description`. Any other keyword is refused when the schema is read, so a schema
//! that grows a keyword this check does not know fails loudly instead of passing silently.
//! (It replaces the `jsonschema` crate, which brought ~50 crates into the test build.)

use serde_json::Value;

/// The keywords understood; everything else in a schema object is an error.
const KEYWORDS: &[&str] = &[
    "$schema",
    "title",
    "description",
    "$defs",
    "$ref",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minimum",
    "minLength",
    "pattern",
];

/// A schema, checked for unsupported keywords when read.
pub struct Schema {
    root: Value,
}

impl Schema {
    /// Reads `root`; panics naming the first keyword or construct this check does not support.
    pub fn new(root: Value) -> Schema {
        if let Err(e) = supported(&root, &root, "#") {
            panic!("docs/run.schema.json: {e} (tests/it/schema.rs checks only the keywords it knows)");
        }
        Schema { root }
    }

    /// Every place `v` breaks the schema, as "path: what".
    pub fn errors(&self, v: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(&self.root, v, "", &mut errors);
        errors
    }

    pub fn is_valid(&self, v: &Value) -> bool {
        self.errors(v).is_empty()
    }

    fn check(&self, s: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
        let Some(s) = s.as_object() else { return };
        if let Some(r) = s.get("$ref").and_then(Value::as_str) {
            let target = resolve(&self.root, r).expect("checked when read");
            self.check(target, v, path, errors);
        }
        let mut fail_here = Vec::new();
        if let Some(t) = s.get("type") {
            let types: Vec<&str> = match t {
                Value::String(t) => vec![t.as_str()],
                Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                _ => Vec::new(),
            };
            if !types.iter().any(|t| has_type(v, t)) {
                fail_here.push(format!("{v} is not of type {t}"));
            }
        }
        if let Some(options) = s.get("enum").and_then(Value::as_array)
            && !options.contains(v)
        {
            fail_here.push(format!("{v} is not one of {options:?}"));
        }
        if let Some(c) = s.get("const")
            && c != v
        {
            fail_here.push(format!("{v} is not {c}"));
        }
        if let (Some(min), Some(x)) = (s.get("minimum").and_then(Value::as_f64), v.as_f64())
            && x < min
        {
            fail_here.push(format!("{x} is less than the minimum {min}"));
        }
        if let (Some(min), Some(x)) = (s.get("minLength").and_then(Value::as_u64), v.as_str())
            && (x.chars().count() as u64) < min
        {
            fail_here.push(format!("{x:?} is shorter than {min}"));
        }
        if let (Some(p), Some(x)) = (s.get("pattern").and_then(Value::as_str), v.as_str())
            && !Pattern::parse(p).expect("checked when read").is_match(x)
        {
            fail_here.push(format!("{x:?} does not match {p:?}"));
        }
        let here = if path.is_empty() { "/" } else { path };
        errors.extend(fail_here.into_iter().map(|f| format!("{here}: {f}")));
        if let Some(obj) = v.as_object() {
            let props = s.get("properties").and_then(Value::as_object);
            for key in s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                if !obj.contains_key(key) {
                    errors.push(format!("{path}: the required property {key:?} is missing"));
                }
            }
            for (key, x) in obj {
                let at = format!("{path}/{key}");
                match (props.and_then(|p| p.get(key)), s.get("additionalProperties")) {
                    (Some(sub), _) => self.check(sub, x, &at, errors),
                    (None, Some(Value::Bool(false))) => errors.push(format!("{at}: the property is not allowed")),
                    (None, Some(sub @ Value::Object(_))) => self.check(sub, x, &at, errors),
                    (None, _) => {}
                }
            }
        }
        if let (Some(items), Some(xs)) = (s.get("items"), v.as_array()) {
            for (i, x) in xs.iter().enumerate() {
                self.check(items, x, &format!("{path}/{i}"), errors);
            }
        }
    }
}

fn has_type(v: &Value, t: &str) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        // 2020-12: a number with a zero fractional part is an integer.
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|x| x.fract() == 0.0),
        _ => false,
    }
}

/// `#/$defs/NAME` in `root`.
fn resolve<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    root.get("$defs")?.get(r.strip_prefix("#/$defs/")?)
}

/// Whether schema `s` (at `path`) uses only what `Schema::check` implements.
fn supported(root: &Value, s: &Value, path: &str) -> Result<(), String> {
    let Some(obj) = s.as_object() else {
        return if s.is_boolean() { Ok(()) } else { Err(format!("{path}: a schema must be an object")) };
    };
    for (k, v) in obj {
        let at = format!("{path}/{k}");
        if !KEYWORDS.contains(&k.as_str()) {
            return Err(format!("{at}: unsupported keyword {k:?}"));
        }
        match k.as_str() {
            "$defs" | "properties" => {
                for (name, sub) in v.as_object().ok_or(format!("{at}: not an object"))? {
                    supported(root, sub, &format!("{at}/{name}"))?;
                }
            }
            "items" | "additionalProperties" => supported(root, v, &at)?,
            "$ref" => {
                v.as_str().and_then(|r| resolve(root, r)).ok_or(format!("{at}: only #/$defs/NAME references"))?;
            }
            "type" => {
                let ok = |t: &Value| {
                    t.as_str().is_some_and(|t| {
                        ["null", "boolean", "object", "array", "string", "number", "integer"].contains(&t)
                    })
                };
                if !(ok(v) || v.as_array().is_some_and(|ts| ts.iter().all(ok))) {
                    return Err(format!("{at}: unknown type {v}"));
                }
            }
            "required" | "enum" if !v.is_array() => return Err(format!("{at}: not an array")),
            "minimum" if !v.is_number() => return Err(format!("{at}: not a number")),
            "minLength" if !v.is_u64() => return Err(format!("{at}: not a count")),
            "pattern" => {
                Pattern::parse(v.as_str().ok_or(format!("{at}: not a string"))?).map_err(|e| format!("{at}: {e}"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// The regular-expression subset the schema's patterns use: `^` and `$` at the ends, literal
/// characters, `\` escapes of punctuation, `.`, classes `[a-z0-9]`, and the quantifiers `+`,
/// `*`, `?`, `{n}`, `{n,m}`. Anything else is refused.
struct Pattern {
    start: bool,
    end: bool,
    parts: Vec<(Atom, usize, usize)>,
}

enum Atom {
    Any,
    Char(char),
    Class(Vec<(char, char)>),
}

impl Atom {
    fn matches(&self, c: char) -> bool {
        match self {
            Atom::Any => c != '\n',
            Atom::Char(x) => *x == c,
            Atom::Class(ranges) => ranges.iter().any(|&(a, b)| a <= c && c <= b),
        }
    }
}

impl Pattern {
    fn parse(p: &str) -> Result<Pattern, String> {
        let mut cs: Vec<char> = p.chars().collect();
        let start = cs.first() == Some(&'^');
        if start {
            cs.remove(0);
        }
        let end = cs.last() == Some(&'$') && !(cs.len() >= 2 && cs[cs.len() - 2] == '\\');
        if end {
            cs.pop();
        }
        let unsupported = |c: char| Err(format!("pattern {p:?}: `{c}` is not supported here"));
        let mut parts = Vec::new();
        let mut i = 0;
        while i < cs.len() {
            let atom = match cs[i] {
                '.' => Atom::Any,
                '\\' => {
                    i += 1;
                    match cs.get(i) {
                        Some(&c) if c.is_ascii_punctuation() => Atom::Char(c),
                        Some(&c) => return unsupported(c),
                        None => return Err(format!("pattern {p:?} ends in `\\`")),
                    }
                }
                '[' => {
                    let mut ranges = Vec::new();
                    i += 1;
                    if cs.get(i) == Some(&'^') {
                        return unsupported('^');
                    }
                    while i < cs.len() && cs[i] != ']' {
                        let a = cs[i];
                        if a == '\\' || a == '[' {
                            return unsupported(a);
                        }
                        if cs.get(i + 1) == Some(&'-') && cs.get(i + 2).is_some_and(|&b| b != ']') {
                            ranges.push((a, cs[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((a, a));
                            i += 1;
                        }
                    }
                    if i >= cs.len() {
                        return Err(format!("pattern {p:?}: unclosed `[`"));
                    }
                    Atom::Class(ranges)
                }
                c @ ('(' | ')' | '|' | '^' | '$' | '*' | '+' | '?' | '{' | '}' | ']') => return unsupported(c),
                c => Atom::Char(c),
            };
            i += 1;
            let (min, max) = match cs.get(i) {
                Some('+') => (1, usize::MAX),
                Some('*') => (0, usize::MAX),
                Some('?') => (0, 1),
                Some('{') => {
                    let close =
                        cs[i..].iter().position(|&c| c == '}').ok_or(format!("pattern {p:?}: unclosed `{{`"))?;
                    let inner: String = cs[i + 1..i + close].iter().collect();
                    let num = |s: &str| s.parse::<usize>().map_err(|_| format!("pattern {p:?}: bad count {{{inner}}}"));
                    let bounds = match inner.split_once(',') {
                        Some((a, b)) => (num(a)?, num(b)?),
                        None => (num(&inner)?, num(&inner)?),
                    };
                    i += close;
                    bounds
                }
                _ => {
                    parts.push((atom, 1, 1));
                    continue;
                }
            };
            i += 1;
            parts.push((atom, min, max));
        }
        Ok(Pattern { start, end, parts })
    }

    /// JSON Schema patterns search (they match anywhere unless anchored).
    fn is_match(&self, s: &str) -> bool {
        let cs: Vec<char> = s.chars().collect();
        let starts = if self.start { 0..=0 } else { 0..=cs.len() };
        starts.into_iter().any(|from| self.at(&cs, from, 0))
    }

    /// Backtracking: do parts `k..` match `cs` from `i`?
    fn at(&self, cs: &[char], i: usize, k: usize) -> bool {
        let Some((atom, min, max)) = self.parts.get(k) else { return !self.end || i == cs.len() };
        let mut n = 0;
        while n < *max && i + n < cs.len() && atom.matches(cs[i + n]) {
            n += 1;
        }
        (*min..=n).rev().any(|m| self.at(cs, i + m, k + 1))
    }
}

#[test]
fn the_patterns_of_the_run_schema_match_as_a_regular_expression_would() {
    let hash = Pattern::parse("^[0-9a-f]{16}$").expect("supported");
    assert!(hash.is_match("046c9ed6ff9fdddf"));
    assert!(
        !hash.is_match("046c9ed6ff9fdddf0") && !hash.is_match("046c9ed6ff9fddd") && !hash.is_match("046C9ED6FF9FDDDF")
    );
    let subtask = Pattern::parse(r"^.+\[[0-9]+\]$").expect("supported");
    assert!(subtask.is_match("count[1]") && subtask.is_match("(count+sink)[12]"));
    assert!(
        !subtask.is_match("[1]")
            && !subtask.is_match("count[]")
            && !subtask.is_match("count[1] ")
            && !subtask.is_match("count")
    );
    let unanchored = Pattern::parse("b+c?").expect("supported");
    assert!(unanchored.is_match("abbd") && !unanchored.is_match("acd"));
    for p in ["(a|b)", "a{2", r"\d", "[^a]", "a^"] {
        assert!(Pattern::parse(p).is_err(), "{p} is refused");
    }
}

#[test]
fn a_schema_with_a_keyword_the_check_does_not_know_is_refused() {
    for extra in [
        serde_json::json!({"oneOf": [{"type": "string"}]}),
        serde_json::json!({"properties": {"a": {"format": "date-time"}}}),
        serde_json::json!({"items": {"maxLength": 3}}),
        serde_json::json!({"$ref": "#/definitions/x"}),
        serde_json::json!({"pattern": "(a|b)"}),
    ] {
        let refused = std::panic::catch_unwind(|| Schema::new(extra.clone()));
        assert!(refused.is_err(), "{extra} is refused");
    }
}

//! `{…}` templates in scenario files: text with expressions that are filled in per user and
//! per request. Parsed when the file is loaded (so a misspelt variable is an error with its
//! line, not a surprise mid-run) and rendered without re-parsing.
//!
//! Expressions: a variable (`{token}`), a data column (`{row.email}`), a built-in (`{user}`,
//! `{iteration}`, `{run}`, `{seq}`, `{uuid}`) or a function (`{random_int(1, 100)}`,
//! `{random_float(-3, 3)}`, `{random_floats(20, -3, 3)}`, `{random_string(12)}`,
//! `{pick(video_ids)}`, `{pick_new(video_ids)}`). `{{` and `}}` are literal braces.

use std::fmt::Write as _;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::Value;

/// The longest array `random_floats` makes and the longest `random_string`: a template
/// cannot make a request body of unbounded size.
const MAX_GENERATED: usize = 10_000;

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
    /// As written in the file.
    source: String,
}

impl std::fmt::Display for Template {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.source)
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Expr(Expr),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A per-user variable: from `[variables]` or an `extract`.
    Var(String),
    /// A column of the user's data row.
    Row(String),
    /// The user's number, from 0.
    User,
    /// The user's iteration, from 0.
    Iteration,
    /// A tag unique to this run (users of two runs on one target do not collide).
    Run,
    /// A counter shared by every user of the run, from 0.
    Seq,
    Uuid,
    RandomInt(i64, i64),
    RandomFloat(f64, f64),
    RandomFloats(usize, f64, f64),
    RandomString(usize),
    /// A random element of an array variable (the value itself if it is no array).
    Pick(String),
    /// A random element this user has not had from `pick_new` before (e.g. a video it has
    /// not voted for); unset when none is left.
    PickNew(String),
}

/// What a template is rendered against.
pub trait Context {
    fn var(&self, name: &str) -> Option<&Value>;
    fn row(&self, column: &str) -> Option<&str>;
    fn user(&self) -> u64;
    fn iteration(&self) -> u64;
    fn run(&self) -> &str;
    /// The next value of the run's shared counter.
    fn next_seq(&self) -> u64;
    /// Whether `pick_new` gave this user `value` of `var` before.
    fn picked(&self, var: &str, value: &Value) -> bool;
    /// `pick_new` chose `value` of `var` for the request being made.
    fn note_pick(&self, var: &str, value: &Value);
}

/// A variable the template needs has no value yet (an `extract` that has not succeeded).
#[derive(Debug, Clone, PartialEq)]
pub struct Unset(pub String);

impl Template {
    /// Parses `text`; the error names the problem and the fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(at) = rest.find(['{', '}']) {
            literal.push_str(&rest[..at]);
            let tail = &rest[at..];
            if tail.starts_with("{{") || tail.starts_with("}}") {
                literal.push_str(&tail[..1]);
                rest = &tail[2..];
                continue;
            }
            if tail.starts_with('}') {
                return Err(format!(
                    "{text:?} has a '}}' that closes nothing; write }}}} for a literal brace"
                ));
            }
            let end = tail.find('}').ok_or_else(|| {
                format!("{text:?} has a '{{' that is never closed; write {{{{ for a literal brace")
            })?;
            if !literal.is_empty() {
                parts.push(Part::Text(std::mem::take(&mut literal)));
            }
            parts.push(Part::Expr(Expr::parse(&tail[1..end])?));
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self {
            parts,
            source: text.to_string(),
        })
    }

    /// The expressions, for checking that every variable they name exists.
    pub fn exprs(&self) -> impl Iterator<Item = &Expr> {
        self.parts.iter().filter_map(|p| match p {
            Part::Expr(e) => Some(e),
            Part::Text(_) => None,
        })
    }

    /// The text, when the template has no expression.
    pub fn literal(&self) -> Option<String> {
        match self.parts.as_slice() {
            [] => Some(String::new()),
            [Part::Text(text)] => Some(text.clone()),
            _ => None,
        }
    }

    /// As text: values that are not strings are written as JSON (`3`, `[1,2]`).
    pub fn render(&self, cx: &dyn Context, rng: &mut impl Rng) -> Result<String, Unset> {
        if let [Part::Text(text)] = self.parts.as_slice() {
            return Ok(text.clone());
        }
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr(expr) => match expr.value(cx, rng)? {
                    Value::String(s) => out.push_str(&s),
                    other => {
                        let _ = write!(out, "{other}");
                    }
                },
            }
        }
        Ok(out)
    }

    /// As a JSON value: a template that is one expression and nothing else keeps the
    /// expression's type (`"{random_floats(20, -3, 3)}"` is an array, `"{user}"` a number);
    /// any other is a string.
    pub fn render_json(&self, cx: &dyn Context, rng: &mut impl Rng) -> Result<Value, Unset> {
        match self.parts.as_slice() {
            [Part::Expr(expr)] => expr.value(cx, rng),
            _ => self.render(cx, rng).map(Value::String),
        }
    }
}

impl Expr {
    fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let Some((name, args)) = text.strip_suffix(')').and_then(|t| t.split_once('(')) else {
            return Self::name(text);
        };
        let args: Vec<&str> = args
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let shape = |expected: &str| format!("{{{text}}}: {} takes ({expected})", name.trim());
        let number = |arg: &str| {
            arg.parse::<f64>()
                .map_err(|_| format!("{{{text}}}: {arg:?} is not a number"))
        };
        let count = |arg: &str| {
            arg.parse::<usize>()
                .ok()
                .filter(|n| *n <= MAX_GENERATED)
                .ok_or_else(|| {
                    format!("{{{text}}}: {arg:?} must be a whole number up to {MAX_GENERATED}")
                })
        };
        let range = |low: f64, high: f64| {
            if low <= high {
                Ok((low, high))
            } else {
                Err(format!("{{{text}}}: the low bound is above the high one"))
            }
        };
        match (name.trim(), args.as_slice()) {
            ("random_int", [low, high]) => {
                let whole = |arg: &str| {
                    arg.parse::<i64>()
                        .map_err(|_| format!("{{{text}}}: {arg:?} is not a whole number"))
                };
                let (low, high) = (whole(low)?, whole(high)?);
                range(low as f64, high as f64)?;
                Ok(Self::RandomInt(low, high))
            }
            ("random_int", _) => Err(shape("low, high")),
            ("random_float", [low, high]) => {
                let (low, high) = range(number(low)?, number(high)?)?;
                Ok(Self::RandomFloat(low, high))
            }
            ("random_float", _) => Err(shape("low, high")),
            ("random_floats", [n, low, high]) => {
                let (low, high) = range(number(low)?, number(high)?)?;
                Ok(Self::RandomFloats(count(n)?, low, high))
            }
            ("random_floats", _) => Err(shape("count, low, high")),
            ("random_string", [n]) => Ok(Self::RandomString(count(n)?)),
            ("random_string", _) => Err(shape("length")),
            ("pick", [var]) if is_identifier(var) => Ok(Self::Pick(var.to_string())),
            ("pick", _) => Err(shape("variable")),
            ("pick_new", [var]) if is_identifier(var) => Ok(Self::PickNew(var.to_string())),
            ("pick_new", _) => Err(shape("variable")),
            (other, _) => Err(format!(
                "{{{text}}}: unknown function {other:?}; functions are random_int, random_float, \
                 random_floats, random_string, pick and pick_new"
            )),
        }
    }

    fn name(text: &str) -> Result<Self, String> {
        Ok(match text {
            "user" => Self::User,
            "iteration" => Self::Iteration,
            "run" => Self::Run,
            "seq" => Self::Seq,
            "uuid" => Self::Uuid,
            _ => match text.strip_prefix("row.") {
                Some(column) if !column.is_empty() => Self::Row(column.to_string()),
                _ if is_identifier(text) => Self::Var(text.to_string()),
                _ => {
                    return Err(format!(
                        "{{{text}}} is not an expression: write a variable ({{token}}), a data \
                         column ({{row.email}}), a built-in ({{user}}, {{iteration}}, {{run}}, \
                         {{seq}}, {{uuid}}) or a function ({{random_int(1, 10)}})"
                    ));
                }
            },
        })
    }

    fn value(&self, cx: &dyn Context, rng: &mut impl Rng) -> Result<Value, Unset> {
        Ok(match self {
            Self::Var(name) => cx.var(name).cloned().ok_or_else(|| Unset(name.clone()))?,
            Self::Row(column) => Value::String(
                cx.row(column)
                    .ok_or_else(|| Unset(format!("row.{column}")))?
                    .to_string(),
            ),
            Self::User => cx.user().into(),
            Self::Iteration => cx.iteration().into(),
            Self::Run => cx.run().into(),
            Self::Seq => cx.next_seq().into(),
            Self::Uuid => {
                let bits: u128 = rng.random();
                // Version 4, variant 10 (RFC 9562).
                let bits = (bits & !(0xf << 76) | (0x4 << 76)) & !(0x3 << 62) | (0x2 << 62);
                let hex = format!("{bits:032x}");
                format!(
                    "{}-{}-{}-{}-{}",
                    &hex[..8],
                    &hex[8..12],
                    &hex[12..16],
                    &hex[16..20],
                    &hex[20..]
                )
                .into()
            }
            Self::RandomInt(low, high) => rng.random_range(*low..=*high).into(),
            Self::RandomFloat(low, high) => float(rng, *low, *high),
            Self::RandomFloats(n, low, high) => {
                Value::Array((0..*n).map(|_| float(rng, *low, *high)).collect())
            }
            Self::RandomString(n) => rng
                .sample_iter(Alphanumeric)
                .take(*n)
                .map(char::from)
                .collect::<String>()
                .into(),
            Self::Pick(name) => match cx.var(name).ok_or_else(|| Unset(name.clone()))? {
                Value::Array(items) if items.is_empty() => return Err(Unset(name.clone())),
                Value::Array(items) => items[rng.random_range(0..items.len())].clone(),
                other => other.clone(),
            },
            Self::PickNew(name) => {
                let fresh: Vec<&Value> = match cx.var(name).ok_or_else(|| Unset(name.clone()))? {
                    Value::Array(items) => items.iter().filter(|v| !cx.picked(name, v)).collect(),
                    other => [other]
                        .into_iter()
                        .filter(|v| !cx.picked(name, v))
                        .collect(),
                };
                if fresh.is_empty() {
                    return Err(Unset(name.clone()));
                }
                let chosen = fresh[rng.random_range(0..fresh.len())].clone();
                cx.note_pick(name, &chosen);
                chosen
            }
        })
    }

    /// The variable this expression needs, if any (built-ins and functions need none).
    pub fn variable(&self) -> Option<&str> {
        match self {
            Self::Var(name) | Self::Pick(name) | Self::PickNew(name) => Some(name),
            _ => None,
        }
    }
}

fn float(rng: &mut impl Rng, low: f64, high: f64) -> Value {
    let x = if low == high {
        low
    } else {
        rng.random_range(low..high)
    };
    // Six decimals: what a feature vector needs, and a body a person can read.
    serde_json::Number::from_f64((x * 1e6).round() / 1e6).map_or(Value::Null, Value::Number)
}

pub fn is_identifier(text: &str) -> bool {
    let mut chars = text.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand::rngs::SmallRng;
    use std::cell::Cell;
    use std::collections::HashMap;

    struct Cx {
        vars: HashMap<String, Value>,
        seq: Cell<u64>,
    }

    impl Context for Cx {
        fn var(&self, name: &str) -> Option<&Value> {
            self.vars.get(name)
        }
        fn row(&self, column: &str) -> Option<&str> {
            (column == "email").then_some("ana@example.test")
        }
        fn user(&self) -> u64 {
            7
        }
        fn iteration(&self) -> u64 {
            3
        }
        fn run(&self) -> &str {
            "r1"
        }
        fn next_seq(&self) -> u64 {
            self.seq.replace(self.seq.get() + 1)
        }
        fn picked(&self, _: &str, value: &Value) -> bool {
            value == "a"
        }
        fn note_pick(&self, _: &str, _: &Value) {}
    }

    fn cx() -> Cx {
        Cx {
            vars: HashMap::from([
                ("token".to_string(), Value::from("abc")),
                ("ids".to_string(), serde_json::json!(["a", "b"])),
            ]),
            seq: Cell::new(0),
        }
    }

    fn render(text: &str) -> Result<String, Unset> {
        Template::parse(text)
            .unwrap()
            .render(&cx(), &mut SmallRng::seed_from_u64(1))
    }

    #[test]
    fn text_and_expressions_render() {
        assert_eq!(render("Bearer {token}").unwrap(), "Bearer abc");
        assert_eq!(render("u{user}-i{iteration}-{run}").unwrap(), "u7-i3-r1");
        assert_eq!(render("{row.email}").unwrap(), "ana@example.test");
        assert_eq!(render("{{literal}}").unwrap(), "{literal}");
        assert!(["a", "b"].contains(&render("{pick(ids)}").unwrap().as_str()));
        // "a" was picked before: only "b" is new.
        for _ in 0..10 {
            assert_eq!(render("{pick_new(ids)}").unwrap(), "b");
        }
        assert_eq!(render("/v/{missing}"), Err(Unset("missing".into())));
        let uuid = render("{uuid}").unwrap();
        assert_eq!((uuid.len(), &uuid[14..15]), (36, "4"), "{uuid}");
    }

    #[test]
    fn a_lone_expression_keeps_its_json_type() {
        let mut rng = SmallRng::seed_from_u64(1);
        let features = Template::parse("{random_floats(20, -3, 3)}")
            .unwrap()
            .render_json(&cx(), &mut rng)
            .unwrap();
        let values = features.as_array().unwrap();
        assert_eq!(values.len(), 20);
        assert!(
            values
                .iter()
                .all(|v| v.as_f64().is_some_and(|x| (-3.0..3.0).contains(&x)))
        );
        let user = Template::parse("{user}").unwrap();
        assert_eq!(user.render_json(&cx(), &mut rng).unwrap(), Value::from(7));
        let mixed = Template::parse("n{user}").unwrap();
        assert_eq!(
            mixed.render_json(&cx(), &mut rng).unwrap(),
            Value::from("n7")
        );
    }

    #[test]
    fn mistakes_are_named_with_the_fix() {
        for (text, hint) in [
            ("{token", "never closed"),
            ("a}", "closes nothing"),
            ("{random_int(1)}", "(low, high)"),
            ("{random_floats(99999, 0, 1)}", "up to 10000"),
            ("{random_int(5, 1)}", "above the high"),
            ("{rand()}", "unknown function"),
            ("{two words}", "not an expression"),
        ] {
            let e = Template::parse(text).unwrap_err();
            assert!(e.contains(hint), "{text}: {e}");
        }
    }

    proptest! {
        #[test]
        fn text_without_braces_renders_as_itself(text in "[^{}]*") {
            let out = Template::parse(&text).unwrap().render(&cx(), &mut SmallRng::seed_from_u64(0));
            prop_assert_eq!(out.unwrap(), text);
        }

        #[test]
        fn random_ints_stay_in_their_range(low in -1000i64..1000, span in 0i64..1000, seed: u64) {
            let t = Template::parse(&format!("{{random_int({low}, {})}}", low + span)).unwrap();
            let v = t.render_json(&cx(), &mut SmallRng::seed_from_u64(seed)).unwrap();
            let v = v.as_i64().unwrap();
            prop_assert!(low <= v && v <= low + span);
        }
    }
}

//! Scenarios as files: any HTTP API's traffic described in TOML, run as Goose scenarios
//! with everything loadgen has (profiles, models, thresholds, run directories).
//!
//! A file has steps (`[[steps]]`, the loop) and optional `[[on_start]]` steps (once per
//! user: sign up, log in), `[variables]`, a `[data]` CSV with a row per user, and
//! `[settings]` (think time, pacing, step order). The format is documented with complete
//! examples in `scenarios/examples/`. Everything is checked when the file is loaded, with
//! the line of each mistake: a run never starts on a file that cannot work.

mod spec;
pub mod template;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use http::header::HeaderName;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::http::{Multipart, Request};
use crate::record::{Answer, Exchange};
use crate::think::ThinkTime;
use template::{Context, Template, Unset};

pub use spec::FileError;

/// A loaded scenario file, shared by every user of a run.
#[derive(Debug)]
pub struct FileScenario {
    pub name: String,
    pub description: String,
    /// What the local stack runs when no `--host` is given (`[settings] app`): `anb` (the
    /// default) or `inference` (seed 000's service).
    pub app: Option<String>,
    /// The path the health check before a run asks for (`[settings] health`).
    pub health: String,
    /// Where it was loaded from (recorded in the run's manifest).
    pub source: PathBuf,
    on_start: Vec<Step>,
    steps: Vec<Step>,
    order: Order,
    /// The pause after each iteration (closed model), unless the command line gives one.
    pub think_time: Option<ThinkTime>,
    /// Each iteration starts at least this long after the last one started (closed model).
    pub pacing: Option<Duration>,
    variables: Vec<(String, Initial)>,
    data: Option<Data>,
    run_tag: String,
    seq: AtomicU64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Order {
    /// Each iteration runs one step, drawn by weight (Locust's tasks).
    Weighted { total: u32 },
    /// Each iteration runs every step in order (an Artillery flow, a k6 default function).
    Sequence,
}

/// A `[variables]` entry: a value each user starts with.
#[derive(Debug, Clone)]
enum Initial {
    Literal(Value),
    Template(Template),
}

#[derive(Debug)]
struct Data {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
    pick: RowPick,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RowPick {
    /// User n takes row n mod rows.
    RoundRobin,
    /// User n takes row n; users beyond the last row have none.
    Unique,
    Random,
}

#[derive(Debug)]
struct Step {
    /// The endpoint name in the run directory.
    name: &'static str,
    method: Method,
    path: Template,
    headers: Vec<(HeaderName, Template)>,
    body: BodySpec,
    weight: u32,
    check: Check,
    extract: Vec<(String, Extract, Keep)>,
    think_time: Option<ThinkTime>,
}

#[derive(Debug)]
enum BodySpec {
    None,
    Json(JsonTemplate),
    Form(Vec<(String, Template)>),
    Text {
        content_type: String,
        text: Template,
    },
    Multipart {
        fields: Vec<(String, Template)>,
        file: Option<FilePart>,
    },
}

#[derive(Debug)]
struct FilePart {
    field: String,
    file_name: String,
    content_type: String,
    /// Made once when the file is loaded and shared by every request (no copy).
    content: Bytes,
}

/// A JSON body whose strings are templates.
#[derive(Debug, Clone)]
enum JsonTemplate {
    Literal(Value),
    Text(Template),
    Array(Vec<JsonTemplate>),
    Object(Vec<(String, JsonTemplate)>),
}

#[derive(Debug, Default)]
struct Check {
    /// Statuses that pass; every 2xx when empty.
    status: Vec<u16>,
    json: Vec<(String, JsonCondition)>,
    body_contains: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum JsonCondition {
    Exists,
    Absent,
    Equals(Value),
}

/// What an extract does with the variable's old value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Keep {
    Replace,
    /// Appends to a list (the newest [`REMEMBERED`] kept), e.g. every video uploaded.
    Append,
}

/// The most values an `append` extract keeps.
const REMEMBERED: usize = 50;

#[derive(Debug, Clone)]
enum Extract {
    /// A JSON pointer; a `*` segment collects every match into an array.
    Json(String),
    Header(HeaderName),
}

/// A step's skip reason when a variable it needs has no value yet.
const SKIP_UNSET: &str = "a variable it uses has no value yet (its extract has not succeeded)";
/// An iteration that sent nothing waits this long before the next (no busy loop).
const IDLE_ITERATION: Duration = Duration::from_millis(100);

/// One user's state.
#[derive(Debug, Clone)]
pub struct FileUser {
    index: u64,
    iteration: u64,
    vars: HashMap<String, Value>,
    row: Option<usize>,
    rng: SmallRng,
    /// What `pick_new` gave this user, per variable.
    /// (JSON text, as a JSON value has no hash.)
    picked: HashMap<String, HashSet<String>>,
}

/// The read-only half of a user, which templates are rendered against (the rng is the
/// other half, borrowed mutably at the same time).
struct View<'a> {
    scenario: &'a FileScenario,
    user: &'a FileUser,
    /// `pick_new`'s choices for the request being made; the user keeps them once it is
    /// made (a request skipped for an unset variable uses up nothing).
    new_picks: RefCell<Vec<(String, Value)>>,
}

impl<'a> View<'a> {
    fn new(scenario: &'a FileScenario, user: &'a FileUser) -> Self {
        Self {
            scenario,
            user,
            new_picks: RefCell::new(Vec::new()),
        }
    }
}

impl Context for View<'_> {
    fn var(&self, name: &str) -> Option<&Value> {
        self.user.vars.get(name)
    }

    fn row(&self, column: &str) -> Option<&str> {
        let data = self.scenario.data.as_ref()?;
        let at = data.columns.iter().position(|c| c == column)?;
        Some(data.rows[self.user.row?][at].as_str())
    }

    fn user(&self) -> u64 {
        self.user.index
    }

    fn iteration(&self) -> u64 {
        self.user.iteration
    }

    fn run(&self) -> &str {
        &self.scenario.run_tag
    }

    fn next_seq(&self) -> u64 {
        self.scenario.seq.fetch_add(1, Ordering::Relaxed)
    }

    fn picked(&self, var: &str, value: &Value) -> bool {
        self.user
            .picked
            .get(var)
            .is_some_and(|p| p.contains(&value.to_string()))
            || self
                .new_picks
                .borrow()
                .iter()
                .any(|(v, p)| v == var && p == value)
    }

    fn note_pick(&self, var: &str, value: &Value) {
        self.new_picks
            .borrow_mut()
            .push((var.to_string(), value.clone()));
    }
}

impl FileScenario {
    /// Loads and checks `path`. `overrides` (`--param NAME=VALUE`) replace `[variables]`
    /// entries; `run_tag` is `{run}`.
    pub fn load(
        path: &Path,
        overrides: &[(String, String)],
        run_tag: &str,
    ) -> Result<Self, FileError> {
        spec::load(path, overrides, run_tag)
    }

    /// The endpoint names the file's requests are recorded under, in file order.
    pub fn endpoints(&self) -> Vec<&'static str> {
        self.on_start
            .iter()
            .chain(&self.steps)
            .map(|s| s.name)
            .collect()
    }

    /// Whether users have `[[on_start]]` steps to run before their first iteration.
    pub fn has_on_start(&self) -> bool {
        !self.on_start.is_empty()
    }

    /// The share of iterations each step gets: its weight over the total (weighted order),
    /// or 1 for every step (sequence).
    pub fn step_shares(&self) -> Vec<(&'static str, f64)> {
        self.steps
            .iter()
            .map(|s| match self.order {
                Order::Weighted { total } => (s.name, f64::from(s.weight) / f64::from(total)),
                Order::Sequence => (s.name, 1.0),
            })
            .collect()
    }

    /// Requests an iteration sends (skips aside): one step by weight, or all of them.
    pub fn requests_per_iteration(&self) -> f64 {
        match self.order {
            Order::Weighted { .. } => 1.0,
            Order::Sequence => self.steps.len() as f64,
        }
    }

    /// The steps' own think time, per request on average (the iteration's comes on top).
    pub fn step_think_per_request(&self) -> Duration {
        let mean = |s: &Step| s.think_time.map_or(0.0, |t| t.mean().as_secs_f64());
        let seconds = match self.order {
            Order::Weighted { total } => {
                self.steps
                    .iter()
                    .map(|s| mean(s) * f64::from(s.weight))
                    .sum::<f64>()
                    / f64::from(total)
            }
            Order::Sequence => self.steps.iter().map(mean).sum::<f64>() / self.steps.len() as f64,
        };
        Duration::from_secs_f64(seconds)
    }

    /// What the file will do, for `loadgen check`.
    pub fn describe(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}: scenario {:?}", self.source.display(), self.name);
        if !self.description.is_empty() {
            let _ = write!(out, " — {}", self.description);
        }
        out.push('\n');
        let line = |step: &Step| format!("{} {}", step.method, step.path);
        if !self.on_start.is_empty() {
            out.push_str("once per user, in order:\n");
            for step in &self.on_start {
                let _ = writeln!(out, "  {:<16} {}", step.name, line(step));
            }
        }
        match self.order {
            Order::Weighted { .. } => out.push_str("each iteration, one step by weight:\n"),
            Order::Sequence => out.push_str("each iteration, every step in order:\n"),
        }
        for (step, (_, share)) in self.steps.iter().zip(self.step_shares()) {
            let _ = write!(out, "  {:<16} {}", step.name, line(step));
            if matches!(self.order, Order::Weighted { .. }) {
                let _ = write!(out, "  ({:.1} % of iterations)", share * 100.0);
            }
            if let Some(think) = step.think_time {
                let _ = write!(out, ", then think {think}");
            }
            out.push('\n');
        }
        if let Some(data) = &self.data {
            let _ = writeln!(
                out,
                "data: {} rows of {} ({:?})",
                data.rows.len(),
                data.columns.join(", "),
                data.pick
            );
        }
        if !self.variables.is_empty() {
            let names: Vec<&str> = self.variables.iter().map(|(n, _)| n.as_str()).collect();
            let _ = writeln!(out, "variables: {}", names.join(", "));
        }
        let _ = writeln!(
            out,
            "think time after each iteration: {}; pacing: {}; health check: GET {}",
            self.think_time
                .map_or("none".to_string(), |t| t.to_string()),
            self.pacing.map_or("none".to_string(), |p| format!("{p:?}")),
            self.health
        );
        out
    }

    /// A new user: its variables and data row; nothing is sent.
    pub fn user(&self, index: u64) -> FileUser {
        let mut user = FileUser {
            index,
            iteration: 0,
            vars: HashMap::new(),
            row: None,
            rng: SmallRng::seed_from_u64(index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xf11e),
            picked: HashMap::new(),
        };
        if let Some(data) = &self.data {
            let rows = data.rows.len();
            user.row = match data.pick {
                RowPick::RoundRobin => Some(index as usize % rows),
                RowPick::Unique => Some(index as usize).filter(|row| *row < rows),
                RowPick::Random => Some(user.rng.random_range(0..rows)),
            };
        }
        for (name, initial) in &self.variables {
            let value = match initial {
                Initial::Literal(value) => Some(value.clone()),
                Initial::Template(template) => {
                    let mut rng = user.rng.clone();
                    let view = View::new(self, &user);
                    let value = template.render_json(&view, &mut rng).ok();
                    user.rng = rng;
                    value
                }
            };
            if let Some(value) = value {
                user.vars.insert(name.clone(), value);
            }
        }
        user
    }

    /// The `[[on_start]]` steps, in order.
    pub async fn setup(&self, ex: &mut Exchange<'_>, user: &mut FileUser) {
        if self
            .data
            .as_ref()
            .is_some_and(|d| d.pick == RowPick::Unique)
            && user.row.is_none()
        {
            ex.skip(
                "data",
                "no data row left for this user (pick = \"unique\" and more users than rows)",
            );
        }
        for step in &self.on_start {
            self.run_step(ex, user, step).await;
        }
    }

    /// One iteration: one step by weight, or every step in order.
    pub async fn iterate(&self, ex: &mut Exchange<'_>, user: &mut FileUser) {
        let sent = match self.order {
            Order::Weighted { total } => {
                let mut draw = user.rng.random_range(0..total);
                let step = self
                    .steps
                    .iter()
                    .find(|s| {
                        let hit = draw < s.weight;
                        draw = draw.saturating_sub(s.weight);
                        hit
                    })
                    .unwrap_or(&self.steps[0]);
                usize::from(self.run_step(ex, user, step).await)
            }
            Order::Sequence => {
                let mut sent = 0;
                for step in &self.steps {
                    sent += usize::from(self.run_step(ex, user, step).await);
                }
                sent
            }
        };
        user.iteration += 1;
        if sent == 0 {
            tokio::time::sleep(IDLE_ITERATION).await;
        }
    }

    /// Sends one step, checks and extracts; false when it was skipped.
    async fn run_step(&self, ex: &mut Exchange<'_>, user: &mut FileUser, step: &Step) -> bool {
        let (request, new_picks) = {
            let mut rng = user.rng.clone();
            let view = View::new(self, user);
            let request = step.request(&view, &mut rng, user.iteration);
            let new_picks = view.new_picks.into_inner();
            user.rng = rng;
            (request, new_picks)
        };
        let Ok(request) = request else {
            ex.skip(step.name, SKIP_UNSET);
            return false;
        };
        for (var, value) in new_picks {
            user.picked
                .entry(var)
                .or_default()
                .insert(value.to_string());
        }
        let mut json = None;
        let answer = ex
            .send_judged(step.name, request, |status, body| {
                step.check.passes(status, body, &mut json)
            })
            .await;
        if answer.success {
            step.extract_into(&answer, json, &mut user.vars);
        }
        if let Some(think) = step.think_time {
            tokio::time::sleep(think.sample(&mut user.rng)).await;
        }
        true
    }
}

impl Step {
    fn request(
        &self,
        cx: &dyn Context,
        rng: &mut SmallRng,
        iteration: u64,
    ) -> Result<Request, Unset> {
        let mut request = Request::new(self.method.clone(), self.path.render(cx, rng)?);
        for (name, value) in &self.headers {
            request = request.header(name.clone(), &value.render(cx, rng)?);
        }
        Ok(match &self.body {
            BodySpec::None => request,
            BodySpec::Json(json) => {
                let body = serde_json::to_vec(&json.render(cx, rng)?).unwrap_or_default();
                request.body("application/json", body)
            }
            BodySpec::Form(fields) => {
                let mut form = form_urlencoded::Serializer::new(String::new());
                for (name, value) in fields {
                    form.append_pair(name, &value.render(cx, rng)?);
                }
                request.body("application/x-www-form-urlencoded", form.finish())
            }
            BodySpec::Text { content_type, text } => {
                request.body(content_type, text.render(cx, rng)?)
            }
            BodySpec::Multipart { fields, file } => {
                let mut form = Multipart::new(iteration ^ rng.random::<u64>());
                for (name, value) in fields {
                    form = form.text(name, &value.render(cx, rng)?);
                }
                if let Some(file) = file {
                    form = form.file(
                        &file.field,
                        &file.file_name,
                        &file.content_type,
                        file.content.clone(),
                    );
                }
                request.multipart(form)
            }
        })
    }

    fn extract_into(
        &self,
        answer: &Answer,
        json: Option<Value>,
        vars: &mut HashMap<String, Value>,
    ) {
        if self.extract.is_empty() {
            return;
        }
        let json = json.or_else(|| answer.json());
        for (name, extract, keep) in &self.extract {
            let value = match extract {
                Extract::Json(pointer) => json.as_ref().and_then(|j| select(j, pointer)),
                Extract::Header(header) => answer
                    .headers
                    .get(header)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| Value::String(v.to_string())),
            };
            // A value that is not there leaves the variable as it was.
            let Some(value) = value else { continue };
            match keep {
                Keep::Replace => {
                    vars.insert(name.clone(), value);
                }
                Keep::Append => {
                    let list = vars
                        .entry(name.clone())
                        .or_insert_with(|| Value::Array(Vec::new()));
                    if !list.is_array() {
                        *list = Value::Array(vec![list.take()]);
                    }
                    if let Value::Array(items) = list {
                        match value {
                            Value::Array(values) => items.extend(values),
                            value => items.push(value),
                        }
                        let excess = items.len().saturating_sub(REMEMBERED);
                        items.drain(..excess);
                    }
                }
            }
        }
    }
}

impl Check {
    /// Whether an answer passes; the body's JSON, once parsed, is left in `json` for the
    /// extracts.
    fn passes(&self, status: u16, body: &[u8], json: &mut Option<Value>) -> bool {
        let status_ok = if self.status.is_empty() {
            (200..300).contains(&status)
        } else {
            self.status.contains(&status)
        };
        if !status_ok {
            return false;
        }
        if let Some(needle) = &self.body_contains
            && !body
                .windows(needle.len().max(1))
                .any(|w| w == needle.as_bytes())
        {
            return false;
        }
        if self.json.is_empty() {
            return true;
        }
        *json = serde_json::from_slice(body).ok();
        let Some(document) = json.as_ref() else {
            return false;
        };
        self.json.iter().all(|(pointer, condition)| {
            let found = select(document, pointer);
            match condition {
                JsonCondition::Exists => found.is_some(),
                JsonCondition::Absent => found.is_none(),
                JsonCondition::Equals(expected) => found.as_ref() == Some(expected),
            }
        })
    }
}

impl JsonTemplate {
    fn render(&self, cx: &dyn Context, rng: &mut SmallRng) -> Result<Value, Unset> {
        Ok(match self {
            Self::Literal(value) => value.clone(),
            Self::Text(template) => template.render_json(cx, rng)?,
            Self::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|item| item.render(cx, rng))
                    .collect::<Result<_, _>>()?,
            ),
            Self::Object(fields) => Value::Object(
                fields
                    .iter()
                    .map(|(key, value)| Ok((key.clone(), value.render(cx, rng)?)))
                    .collect::<Result<_, _>>()?,
            ),
        })
    }
}

/// The value at a JSON pointer; a `*` segment takes every element of an array (or value of
/// an object) and the result is the array of what was found under them (None when empty).
fn select(document: &Value, pointer: &str) -> Option<Value> {
    let Some((head, tail)) = pointer.split_once("/*") else {
        return document.pointer(pointer).cloned();
    };
    let items: Vec<&Value> = match document.pointer(head)? {
        Value::Array(items) => items.iter().collect(),
        Value::Object(fields) => fields.values().collect(),
        _ => return None,
    };
    let found: Vec<Value> = items
        .into_iter()
        .filter_map(|item| select(item, tail))
        .flat_map(|value| match value {
            // A second `*` below: its matches join the same list.
            Value::Array(inner) if tail.contains("/*") => inner,
            other => vec![other],
        })
        .collect();
    (!found.is_empty()).then_some(Value::Array(found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_star_collects_every_match() {
        let doc = json!({"items": [{"id": 1}, {"id": 2}, {"name": "x"}]});
        assert_eq!(select(&doc, "/items/*/id"), Some(json!([1, 2])));
        assert_eq!(select(&doc, "/items/0/id"), Some(json!(1)));
        assert_eq!(select(&doc, "/missing/*/id"), None);
        assert_eq!(select(&json!([]), "/*/id"), None);
        let nested = json!([{"tags": [{"t": "a"}]}, {"tags": [{"t": "b"}, {"t": "c"}]}]);
        assert_eq!(select(&nested, "/*/tags/*/t"), Some(json!(["a", "b", "c"])));
    }

    #[test]
    fn checks_judge_status_body_and_json() {
        let check = Check {
            status: vec![200],
            json: vec![
                ("/prediction".into(), JsonCondition::Exists),
                ("/error".into(), JsonCondition::Absent),
                ("/status".into(), JsonCondition::Equals(json!("ok"))),
            ],
            body_contains: Some("ok".into()),
        };
        let mut parsed = None;
        let good = br#"{"prediction": 1, "status": "ok"}"#;
        assert!(check.passes(200, good, &mut parsed));
        assert_eq!(parsed, Some(json!({"prediction": 1, "status": "ok"})));
        assert!(!check.passes(201, good, &mut None));
        assert!(!check.passes(200, br#"{"status": "ok"}"#, &mut None));
        assert!(!check.passes(
            200,
            br#"{"prediction": 1, "status": "ok", "error": 1}"#,
            &mut None
        ));
        assert!(!check.passes(200, b"ok, but no JSON", &mut None));
        let default = Check::default();
        assert!(default.passes(204, b"", &mut None));
        assert!(!default.passes(302, b"", &mut None));
    }
}

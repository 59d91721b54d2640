//! Reading a scenario file: the TOML's shape (serde, unknown keys refused) and the checks
//! serde cannot make, each error with its line and the fix.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use bytes::Bytes;
use http::Method;
use http::header::HeaderName;
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};
use serde::Deserialize;
use serde_json::Value;
use toml::Spanned;

use super::template::{Expr, Template, is_identifier};
use super::{
    BodySpec, Check, Data, Extract, FilePart, FileScenario, Initial, JsonCondition, JsonTemplate,
    Keep, Order, RowPick, Step,
};
use crate::think::ThinkTime;

/// The largest file payload a step may send from a size (`size = "…"`, `mp4 = "…"`):
/// made in memory once and shared.
const MAX_PAYLOAD: u64 = 1 << 30;
/// Endpoint names loadgen records under itself: an open-model arrival never sent (loadgen's
/// `engine::UNSENT`) and a user without a data row.
const RESERVED: [&str; 2] = ["unsent", "data"];

/// A scenario file that cannot be run: where (file and line) and why, with the fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    pub file: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.message),
            None => write!(f, "{}: {}", self.file.display(), self.message),
        }
    }
}

impl std::error::Error for FileError {}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<String>,
    #[serde(default)]
    description: String,
    #[serde(default)]
    settings: RawSettings,
    #[serde(default)]
    variables: BTreeMap<String, Spanned<toml::Value>>,
    data: Option<Spanned<RawData>>,
    #[serde(default)]
    on_start: Vec<Spanned<RawStep>>,
    #[serde(default)]
    steps: Vec<Spanned<RawStep>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    app: Option<Spanned<String>>,
    health: Option<Spanned<String>>,
    think_time: Option<Spanned<String>>,
    pacing: Option<Spanned<String>>,
    order: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    file: String,
    #[serde(default)]
    pick: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: Spanned<String>,
    #[serde(default)]
    method: Option<Spanned<String>>,
    path: Spanned<String>,
    weight: Option<Spanned<u32>>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    json: Option<toml::Value>,
    form: Option<BTreeMap<String, String>>,
    body: Option<String>,
    content_type: Option<String>,
    multipart: Option<RawMultipart>,
    #[serde(default)]
    check: RawCheck,
    #[serde(default)]
    extract: BTreeMap<String, RawExtract>,
    think_time: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMultipart {
    #[serde(default)]
    fields: BTreeMap<String, String>,
    file: Option<RawFilePart>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFilePart {
    field: String,
    name: Option<String>,
    content_type: Option<String>,
    /// Random bytes of this size.
    size: Option<String>,
    /// A valid MP4 of this size, made in-process.
    mp4: Option<String>,
    /// A file from disk (relative to the scenario file).
    path: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    status: Option<Vec<u16>>,
    #[serde(default)]
    json: BTreeMap<String, toml::Value>,
    body_contains: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtract {
    json: Option<String>,
    header: Option<String>,
    /// Append to a list instead of replacing the value.
    #[serde(default)]
    append: bool,
}

/// Turns byte offsets into line numbers.
struct Lines<'a> {
    file: &'a Path,
    text: &'a str,
}

impl Lines<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        self.text[..end].matches('\n').count() + 1
    }

    fn error(&self, span: Option<&Range<usize>>, message: impl Into<String>) -> FileError {
        FileError {
            file: self.file.to_path_buf(),
            line: span.map(|s| self.line(s)),
            message: message.into(),
        }
    }
}

pub(super) fn load(
    path: &Path,
    overrides: &[(String, String)],
    run_tag: &str,
) -> Result<FileScenario, FileError> {
    let text = std::fs::read_to_string(path).map_err(|e| FileError {
        file: path.to_path_buf(),
        line: None,
        message: format!("cannot read the scenario file: {e}"),
    })?;
    parse(&text, path, overrides, run_tag)
}

pub(super) fn parse(
    text: &str,
    path: &Path,
    overrides: &[(String, String)],
    run_tag: &str,
) -> Result<FileScenario, FileError> {
    let lines = Lines { file: path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        lines.error(
            e.span().as_ref(),
            format!(
                "{} (the format: scenarios/examples/README.md)",
                e.message().trim_end()
            ),
        )
    })?;
    let base = path.parent().unwrap_or(Path::new("."));

    let data = raw
        .data
        .as_ref()
        .map(|data| read_data(data, base, &lines))
        .transpose()?;

    // Every name a template may use: the variables, then each extract.
    let mut known: HashSet<String> = raw.variables.keys().cloned().collect();
    for step in raw.on_start.iter().chain(&raw.steps) {
        known.extend(step.get_ref().extract.keys().cloned());
    }
    let names = Names {
        known: &known,
        columns: data.as_ref().map(|d| d.columns.as_slice()),
    };

    let mut variables = Vec::new();
    for (name, value) in &raw.variables {
        let span = value.span();
        if !is_identifier(name) {
            return Err(lines.error(
                Some(&span),
                format!("variable {name:?}: a name is letters, digits and _ (not first)"),
            ));
        }
        let initial = match value.get_ref() {
            toml::Value::String(text) => {
                let template = Template::parse(text)
                    .map_err(|e| lines.error(Some(&span), format!("variable {name}: {e}")))?;
                if let Some(other) = template.exprs().find_map(Expr::variable) {
                    return Err(lines.error(
                        Some(&span),
                        format!(
                            "variable {name} uses the variable {other:?}: a variable's value can \
                             use built-ins, data columns and functions, not other variables"
                        ),
                    ));
                }
                names
                    .check(&template)
                    .map_err(|e| lines.error(Some(&span), format!("variable {name}: {e}")))?;
                Initial::Template(template)
            }
            other => Initial::Literal(to_json(other)),
        };
        variables.push((name.clone(), initial));
    }
    for (name, value) in overrides {
        let Some(slot) = variables.iter_mut().find(|(n, _)| n == name) else {
            let defined: Vec<&str> = variables.iter().map(|(n, _)| n.as_str()).collect();
            return Err(lines.error(
                None,
                format!(
                    "--param {name}: the file has no variable {name:?} ({}); --param sets a \
                     [variables] entry",
                    if defined.is_empty() {
                        "it has none".to_string()
                    } else {
                        format!("it has {}", defined.join(", "))
                    }
                ),
            ));
        };
        slot.1 = Initial::Literal(Value::String(value.clone()));
    }

    let order = match raw
        .settings
        .order
        .as_ref()
        .map(|o| (o.get_ref().as_str(), o.span()))
    {
        None | Some(("weighted", _)) => None,
        Some(("sequence", _)) => Some(super::Order::Sequence),
        Some((other, span)) => {
            return Err(lines.error(
                Some(&span),
                format!("order {other:?}: write \"weighted\" (one step per iteration, by weight) or \"sequence\" (every step, in order)"),
            ));
        }
    };
    let think_time = raw
        .settings
        .think_time
        .as_ref()
        .map(|t| ThinkTime::parse(t.get_ref()).map_err(|e| lines.error(Some(&t.span()), e)))
        .transpose()?;
    let pacing = raw
        .settings
        .pacing
        .as_ref()
        .map(|p| {
            rundir::parse_duration(p.get_ref())
                .map_err(|e| lines.error(Some(&p.span()), format!("pacing: {e}")))
        })
        .transpose()?;

    let health = match &raw.settings.health {
        None => "/health".to_string(),
        Some(path) if path.get_ref().starts_with('/') => path.get_ref().clone(),
        Some(path) => {
            return Err(lines.error(
                Some(&path.span()),
                format!("health {:?} must be a path starting with /", path.get_ref()),
            ));
        }
    };
    let app = match &raw.settings.app {
        None => None,
        Some(app) if ["anb", "inference"].contains(&app.get_ref().as_str()) => {
            Some(app.get_ref().clone())
        }
        Some(app) => {
            return Err(lines.error(
                Some(&app.span()),
                format!(
                    "app {:?}: the local stack runs \"anb\" (the video API) or \"inference\" \
                     (seed 000's service); with --host it is not used",
                    app.get_ref()
                ),
            ));
        }
    };
    if raw.steps.is_empty() {
        return Err(lines.error(
            None,
            "the file has no [[steps]]: add at least one, e.g.\n  [[steps]]\n  name = \"health\"\n  path = \"/health\"",
        ));
    }
    let mut seen = HashSet::new();
    let mut step = |raw: &Spanned<RawStep>| -> Result<Step, FileError> {
        let step = read_step(raw, base, &names, &lines)?;
        if !seen.insert(step.name) {
            return Err(lines.error(
                Some(&raw.get_ref().name.span()),
                format!("a second step named {:?}: every step needs its own name (it names the endpoint in the run directory)", step.name),
            ));
        }
        Ok(step)
    };
    let on_start = raw
        .on_start
        .iter()
        .map(&mut step)
        .collect::<Result<Vec<_>, _>>()?;
    let steps = raw
        .steps
        .iter()
        .map(&mut step)
        .collect::<Result<Vec<_>, _>>()?;
    for raw_step in &raw.on_start {
        if let Some(weight) = &raw_step.get_ref().weight {
            return Err(lines.error(
                Some(&weight.span()),
                "an [[on_start]] step has no weight: they all run, once per user, in order",
            ));
        }
    }
    let order = match order {
        Some(Order::Sequence) => {
            if let Some(weight) = raw.steps.iter().find_map(|s| s.get_ref().weight.as_ref()) {
                return Err(lines.error(
                    Some(&weight.span()),
                    "a weight has no meaning with order = \"sequence\" (every step runs each iteration); remove it",
                ));
            }
            Order::Sequence
        }
        _ => {
            let total: u32 = steps.iter().map(|s| s.weight).sum();
            if total == 0 {
                return Err(lines.error(None, "every step has weight 0: give one a weight above 0"));
            }
            Order::Weighted { total }
        }
    };

    let name = raw.name.unwrap_or_else(|| {
        path.file_stem()
            .map_or("scenario".into(), |s| s.to_string_lossy().into_owned())
    });
    if crate::CATALOGUE.iter().any(|entry| entry.name == name) {
        return Err(lines.error(
            None,
            format!(
                "name {name:?} is a built-in scenario's, and the analyzer reads runs by their \
                 scenario's name: give the file's scenario a name of its own (name = \"…\")"
            ),
        ));
    }
    Ok(FileScenario {
        name,
        description: raw.description,
        app,
        health,
        source: path.to_path_buf(),
        on_start,
        steps,
        order,
        think_time,
        pacing,
        variables,
        data,
        run_tag: run_tag.to_string(),
        seq: AtomicU64::new(0),
    })
}

/// What a template may name.
struct Names<'a> {
    known: &'a HashSet<String>,
    columns: Option<&'a [String]>,
}

impl Names<'_> {
    fn check(&self, template: &Template) -> Result<(), String> {
        for expr in template.exprs() {
            if let Some(name) = expr.variable()
                && !self.known.contains(name)
            {
                let mut known: Vec<&str> = self.known.iter().map(String::as_str).collect();
                known.sort_unstable();
                return Err(format!(
                    "unknown variable {name:?} ({}); define it in [variables] or set it with an \
                     extract",
                    if known.is_empty() {
                        "there are none".to_string()
                    } else {
                        format!("known: {}", known.join(", "))
                    }
                ));
            }
            if let Expr::Row(column) = expr {
                match self.columns {
                    None => {
                        return Err(format!(
                            "{{row.{column}}} needs a [data] file with a column {column:?}"
                        ));
                    }
                    Some(columns) if !columns.contains(column) => {
                        return Err(format!(
                            "the data file has no column {column:?} (its columns: {})",
                            columns.join(", ")
                        ));
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(())
    }

    fn template(&self, text: &str) -> Result<Template, String> {
        let template = Template::parse(text)?;
        self.check(&template)?;
        Ok(template)
    }
}

fn read_data(data: &Spanned<RawData>, base: &Path, lines: &Lines) -> Result<Data, FileError> {
    let span = data.span();
    let raw = data.get_ref();
    let pick = match raw.pick.as_deref() {
        None | Some("round-robin") => RowPick::RoundRobin,
        Some("unique") => RowPick::Unique,
        Some("random") => RowPick::Random,
        Some(other) => {
            return Err(lines.error(
                Some(&span),
                format!("[data] pick {other:?}: write \"round-robin\", \"unique\" or \"random\""),
            ));
        }
    };
    let path = base.join(&raw.file);
    let mut reader = csv::Reader::from_path(&path).map_err(|e| {
        lines.error(
            Some(&span),
            format!(
                "[data] file {}: {e} (a path relative to the scenario file)",
                path.display()
            ),
        )
    })?;
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| lines.error(Some(&span), format!("[data] {}: {e}", path.display())))?
        .iter()
        .map(|c| c.trim().to_string())
        .collect();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record
            .map_err(|e| lines.error(Some(&span), format!("[data] {}: {e}", path.display())))?;
        rows.push(record.iter().map(str::to_string).collect());
    }
    if rows.is_empty() {
        return Err(lines.error(
            Some(&span),
            format!(
                "[data] {} has a header and no rows: add at least one row",
                path.display()
            ),
        ));
    }
    Ok(Data {
        columns,
        rows,
        pick,
    })
}

fn read_step(
    spanned: &Spanned<RawStep>,
    base: &Path,
    names: &Names,
    lines: &Lines,
) -> Result<Step, FileError> {
    let raw = spanned.get_ref();
    let name = raw.name.get_ref();
    let at = |span: Range<usize>, message: String| {
        lines.error(Some(&span), format!("step {name:?}: {message}"))
    };
    let whole = spanned.span();
    if name.is_empty()
        || name.len() > 64
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
    {
        return Err(at(
            raw.name.span(),
            "a step's name is its endpoint name in the run directory: 1 to 64 letters, digits, _, - or .".into(),
        ));
    }
    if RESERVED.contains(&name.as_str()) {
        return Err(at(
            raw.name.span(),
            format!("{name:?} is a name loadgen records under itself; choose another"),
        ));
    }
    let method = match &raw.method {
        None => Method::GET,
        Some(m) => match m.get_ref().to_ascii_uppercase().as_str() {
            verb @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => {
                Method::from_bytes(verb.as_bytes()).unwrap_or(Method::GET)
            }
            other => {
                return Err(at(
                    m.span(),
                    format!("method {other:?}: use GET, POST, PUT, PATCH, DELETE, HEAD or OPTIONS"),
                ));
            }
        },
    };
    let path_text = raw.path.get_ref();
    if !path_text.starts_with('/') {
        return Err(at(
            raw.path.span(),
            format!("path {path_text:?} must start with / (the host comes from --host)"),
        ));
    }
    let path = names
        .template(path_text)
        .map_err(|e| at(raw.path.span(), format!("path: {e}")))?;
    let mut headers = Vec::new();
    for (header, value) in &raw.headers {
        let header_name = HeaderName::from_bytes(header.as_bytes())
            .map_err(|_| at(whole.clone(), format!("{header:?} is not a header name")))?;
        let value = names
            .template(value)
            .map_err(|e| at(whole.clone(), format!("header {header}: {e}")))?;
        headers.push((header_name, value));
    }

    let bodies = [
        raw.json.is_some(),
        raw.form.is_some(),
        raw.body.is_some(),
        raw.multipart.is_some(),
    ];
    if bodies.iter().filter(|b| **b).count() > 1 {
        return Err(at(
            whole,
            "a step has one body: json, form, body or multipart, not several".into(),
        ));
    }
    if raw.content_type.is_some() && raw.body.is_none() {
        return Err(at(
            whole,
            "content_type goes with body = \"…\" (json, form and multipart set their own)".into(),
        ));
    }
    let body = if let Some(json) = &raw.json {
        BodySpec::Json(
            json_template(json, names).map_err(|e| at(whole.clone(), format!("json: {e}")))?,
        )
    } else if let Some(form) = &raw.form {
        BodySpec::Form(
            form.iter()
                .map(|(k, v)| Ok((k.clone(), names.template(v)?)))
                .collect::<Result<_, String>>()
                .map_err(|e| at(whole.clone(), format!("form: {e}")))?,
        )
    } else if let Some(text) = &raw.body {
        BodySpec::Text {
            content_type: raw
                .content_type
                .clone()
                .unwrap_or_else(|| "text/plain; charset=utf-8".into()),
            text: names
                .template(text)
                .map_err(|e| at(whole.clone(), format!("body: {e}")))?,
        }
    } else if let Some(multipart) = &raw.multipart {
        let fields = multipart
            .fields
            .iter()
            .map(|(k, v)| Ok((k.clone(), names.template(v)?)))
            .collect::<Result<_, String>>()
            .map_err(|e| at(whole.clone(), format!("multipart field: {e}")))?;
        let file = multipart
            .file
            .as_ref()
            .map(|f| file_part(f, base))
            .transpose()
            .map_err(|e| at(whole.clone(), format!("multipart file: {e}")))?;
        BodySpec::Multipart { fields, file }
    } else {
        BodySpec::None
    };

    let check = read_check(&raw.check).map_err(|e| at(whole.clone(), format!("check: {e}")))?;
    let mut extract = Vec::new();
    for (variable, how) in &raw.extract {
        if !is_identifier(variable) {
            return Err(at(
                whole,
                format!("extract {variable:?}: a variable's name is letters, digits and _"),
            ));
        }
        let from = match (&how.json, &how.header) {
            (Some(pointer), None) => {
                check_pointer(pointer)
                    .map_err(|e| at(whole.clone(), format!("extract {variable}: {e}")))?;
                Extract::Json(pointer.clone())
            }
            (None, Some(header)) => {
                Extract::Header(HeaderName::from_bytes(header.as_bytes()).map_err(|_| {
                    at(
                        whole.clone(),
                        format!("extract {variable}: {header:?} is not a header name"),
                    )
                })?)
            }
            _ => {
                return Err(at(
                    whole,
                    format!(
                        "extract {variable}: give one of json = \"/pointer\" or header = \"name\""
                    ),
                ));
            }
        };
        let keep = if how.append {
            Keep::Append
        } else {
            Keep::Replace
        };
        extract.push((variable.clone(), from, keep));
    }
    let think_time = raw
        .think_time
        .as_ref()
        .map(|t| ThinkTime::parse(t.get_ref()).map_err(|e| at(t.span(), e)))
        .transpose()?;
    Ok(Step {
        // Loaded once per run: the endpoint names live as long as the process.
        name: Box::leak(name.clone().into_boxed_str()),
        method,
        path,
        headers,
        body,
        weight: raw.weight.as_ref().map_or(1, |w| *w.get_ref()),
        check,
        extract,
        think_time,
    })
}

fn file_part(raw: &RawFilePart, base: &Path) -> Result<FilePart, String> {
    let size = |text: &str| {
        let size = crate::parse_size(text)?;
        if size > MAX_PAYLOAD {
            return Err(format!("{text} is above the 1 GiB a payload may be"));
        }
        Ok(size)
    };
    let (content, default_name, default_type) = match (&raw.size, &raw.mp4, &raw.path) {
        (Some(text), None, None) => {
            let mut bytes = vec![0u8; size(text)? as usize];
            SmallRng::seed_from_u64(0xa1f0).fill_bytes(&mut bytes);
            (
                Bytes::from(bytes),
                "payload.bin".to_string(),
                "application/octet-stream",
            )
        }
        (None, Some(text), None) => {
            let video = crate::mp4::mp4_of_size(size(text)?).map_err(|e| e.to_string())?;
            (video, "aforo.mp4".to_string(), "video/mp4")
        }
        (None, None, Some(file)) => {
            let path = base.join(file);
            let bytes = std::fs::read(&path).map_err(|e| {
                format!(
                    "cannot read {} ({e}); the path is relative to the scenario file",
                    path.display()
                )
            })?;
            let name = path
                .file_name()
                .map_or("payload.bin".into(), |n| n.to_string_lossy().into_owned());
            (Bytes::from(bytes), name, "application/octet-stream")
        }
        _ => {
            return Err(
                "give one of size = \"1MB\" (random bytes), mp4 = \"1MB\" (a valid video) or path = \"file\""
                    .into(),
            );
        }
    };
    Ok(FilePart {
        field: raw.field.clone(),
        file_name: raw.name.clone().unwrap_or(default_name),
        content_type: raw
            .content_type
            .clone()
            .unwrap_or_else(|| default_type.to_string()),
        content,
    })
}

fn read_check(raw: &RawCheck) -> Result<Check, String> {
    let status = raw.status.clone().unwrap_or_default();
    if raw.status.is_some() && status.is_empty() {
        return Err(
            "status = [] passes nothing: list the statuses that pass, or leave it out for any 2xx"
                .into(),
        );
    }
    if let Some(bad) = status.iter().find(|s| !(100..=599).contains(*s)) {
        return Err(format!("status {bad} is not an HTTP status (100 to 599)"));
    }
    let mut json = Vec::new();
    for (pointer, condition) in &raw.json {
        check_pointer(pointer)?;
        let condition = match condition {
            toml::Value::String(s) if s == "exists" => JsonCondition::Exists,
            toml::Value::String(s) if s == "absent" => JsonCondition::Absent,
            toml::Value::Table(t) if t.len() == 1 && t.contains_key("equals") => {
                JsonCondition::Equals(to_json(&t["equals"]))
            }
            _ => {
                return Err(format!(
                    "json {pointer:?}: write \"exists\", \"absent\" or {{ equals = VALUE }}"
                ));
            }
        };
        json.push((pointer.clone(), condition));
    }
    if raw.body_contains.as_deref() == Some("") {
        return Err("body_contains = \"\" matches every answer; remove it or give the text".into());
    }
    Ok(Check {
        status,
        json,
        body_contains: raw.body_contains.clone(),
    })
}

fn check_pointer(pointer: &str) -> Result<(), String> {
    if pointer.is_empty() || pointer.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "{pointer:?} is not a JSON pointer: it starts with / (\"/access_token\", \"/items/0/id\", \"/items/*/id\")"
        ))
    }
}

fn json_template(value: &toml::Value, names: &Names) -> Result<JsonTemplate, String> {
    Ok(match value {
        toml::Value::String(text) => {
            let template = names.template(text)?;
            match template.literal() {
                Some(text) => JsonTemplate::Literal(Value::String(text)),
                None => JsonTemplate::Text(template),
            }
        }
        toml::Value::Array(items) => JsonTemplate::Array(
            items
                .iter()
                .map(|item| json_template(item, names))
                .collect::<Result<_, _>>()?,
        ),
        toml::Value::Table(fields) => JsonTemplate::Object(
            fields
                .iter()
                .map(|(k, v)| Ok((k.clone(), json_template(v, names)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => JsonTemplate::Literal(to_json(other)),
    })
}

fn to_json(value: &toml::Value) -> Value {
    match value {
        toml::Value::String(s) => Value::String(s.clone()),
        toml::Value::Integer(i) => Value::from(*i),
        toml::Value::Float(f) => {
            serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number)
        }
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Datetime(d) => Value::String(d.to_string()),
        toml::Value::Array(items) => Value::Array(items.iter().map(to_json).collect()),
        toml::Value::Table(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect(),
        ),
    }
}

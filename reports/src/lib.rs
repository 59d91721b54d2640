//! The capacity report: an `analysis.json` rendered as markdown with charts.
//!
//! [`render`] draws the charts (`charts`), derives the recommendations (`rules`), builds the
//! template context (`context`) and renders a minijinja template: the built-in `es`
//! (`pruebas_de_carga_entrega4.md`, the course's structure) or `en`, or a user's own from a
//! template directory. Every figure in the context comes from the analysis, with the run it
//! came from; a section without data says so.

pub mod charts;
pub mod context;
pub mod rules;

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use capacity_model::analysis::Analysis;

/// The built-in templates, by name.
pub const BUILTIN_TEMPLATES: [(&str, &str); 2] = [
    ("es", include_str!("../templates/es.md.j2")),
    ("en", include_str!("../templates/en.md.j2")),
];

/// What to render and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// A built-in template (`es`, `en`) or the name of a file `NAME.md.j2` in
    /// `template_dir`.
    pub template: String,
    /// A directory of the user's templates, searched before the built-ins.
    pub template_dir: Option<PathBuf>,
    /// Where the markdown and its `charts/` directory go.
    pub out_dir: PathBuf,
    /// The markdown file's name.
    pub file_name: String,
}

impl Options {
    /// The course's report: Spanish, `pruebas_de_carga_entrega4.md` in `out_dir`.
    pub fn course(out_dir: impl Into<PathBuf>) -> Options {
        Options {
            template: "es".into(),
            template_dir: None,
            out_dir: out_dir.into(),
            file_name: "pruebas_de_carga_entrega4.md".into(),
        }
    }
}

/// What [`render`] wrote.
#[derive(Debug, Clone)]
pub struct Written {
    pub markdown: PathBuf,
    pub charts: Vec<PathBuf>,
}

/// Renders the report of `analysis` (compared with `baseline` when given).
pub fn render(
    analysis: &Analysis,
    baseline: Option<&Analysis>,
    options: &Options,
) -> anyhow::Result<Written> {
    let charts_dir = options.out_dir.join("charts");
    std::fs::create_dir_all(&charts_dir)
        .with_context(|| format!("cannot create {}", charts_dir.display()))?;
    let charts = charts::draw_all(analysis, &charts_dir)?;
    let source = template_source(&options.template, options.template_dir.as_deref())?;
    let markdown = render_markdown(analysis, baseline, &charts, &source)?;
    let path = options.out_dir.join(&options.file_name);
    std::fs::write(&path, markdown).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Written {
        markdown: path,
        charts: charts.files(&charts_dir),
    })
}

/// The text of a template: the user's directory first, then the built-ins.
pub fn template_source(name: &str, dir: Option<&Path>) -> anyhow::Result<String> {
    if let Some(dir) = dir {
        let path = dir.join(format!("{name}.md.j2"));
        if path.is_file() {
            return std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read the template {}", path.display()));
        }
    }
    BUILTIN_TEMPLATES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| (*text).to_owned())
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no template {name:?}{}: the built-ins are es and en",
                dir.map_or(String::new(), |d| format!(" in {}", d.display()))
            )
        })
}

/// The markdown alone, for a given set of chart files (what the snapshot tests check).
pub fn render_markdown(
    analysis: &Analysis,
    baseline: Option<&Analysis>,
    charts: &charts::Charts,
    template: &str,
) -> anyhow::Result<String> {
    let ctx = context::build(analysis, baseline, charts);
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A missing figure (none) prints as "–", never as 0.
    fn number(v: Option<f64>, text: impl Fn(f64) -> String) -> String {
        v.map_or_else(|| "–".to_owned(), text)
    }
    env.add_filter("f1", |v: Option<f64>| number(v, |v| format!("{v:.1}")));
    env.add_filter("f2", |v: Option<f64>| number(v, |v| format!("{v:.2}")));
    env.add_filter("f0", |v: Option<f64>| number(v, |v| format!("{v:.0}")));
    env.add_filter("e2", |v: Option<f64>| number(v, |v| format!("{v:.2e}")));
    env.add_filter("pct", |v: Option<f64>| {
        number(v, |v| format!("{:.2}", v * 100.0))
    });
    env.add_template("report", template)
        .context("the report template does not parse")?;
    let text = env
        .get_template("report")
        .expect("just added")
        .render(minijinja::Value::from_serialize(&ctx))
        .context("the report template failed to render")?;
    Ok(text)
}

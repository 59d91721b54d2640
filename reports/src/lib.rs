//! The capacity report: an `analysis.json` rendered as markdown with charts.
//!
//! [`render`] draws the charts (`charts`), words the analysis's recommendations (`rules`), builds the
//! template context (`context`) and renders a minijinja template: the built-in `es`
//! (`pruebas_de_carga_entrega4.md`, the course's structure) or `en`, or a user's own from a
//! template directory. Every figure in the context comes from the analysis, with the run it
//! came from; a section without data says so.

pub mod charts;
pub mod context;
pub mod lang;
pub mod narrative;
pub mod rules;
pub mod wording;

pub use lang::Lang;

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
    /// The language of the charts, the numbers and the context's phrases (a user's
    /// template is written in one of them).
    pub lang: Lang,
    /// A directory of the user's templates, searched before the built-ins.
    pub template_dir: Option<PathBuf>,
    /// Where the markdown and its `charts/` directory go.
    pub out_dir: PathBuf,
    /// The markdown file's name.
    pub file_name: String,
    /// The report's title (`analyze report --title`), instead of the template's.
    pub title: Option<String>,
}

impl Options {
    /// The course's report: Spanish, `pruebas_de_carga_entrega4.md` in `out_dir`.
    pub fn course(out_dir: impl Into<PathBuf>) -> Options {
        Options {
            template: "es".into(),
            lang: Lang::Es,
            template_dir: None,
            out_dir: out_dir.into(),
            file_name: Lang::Es.report_file_name().into(),
            title: None,
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
    let charts = charts::draw_all(analysis, &charts_dir, options.lang)?;
    let source = template_source(&options.template, options.template_dir.as_deref())?;
    let markdown = render_markdown(
        analysis,
        baseline,
        &charts,
        &source,
        options.lang,
        options.title.as_deref(),
    )?;
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
    lang: Lang,
    title: Option<&str>,
) -> anyhow::Result<String> {
    let mut ctx = context::build(analysis, baseline, charts, lang);
    ctx.title = title.map(str::to_owned);
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    // A missing figure (none) prints as "–", never as 0; numbers take the language's
    // decimal separator.
    let number = move |v: Option<f64>, places: usize| {
        v.map_or_else(|| "–".to_owned(), |v| lang.decimal(v, places))
    };
    env.add_filter("f0", move |v: Option<f64>| number(v, 0));
    env.add_filter("f1", move |v: Option<f64>| number(v, 1));
    env.add_filter("f2", move |v: Option<f64>| number(v, 2));
    env.add_filter("pct", move |v: Option<f64>| number(v.map(|v| v * 100.0), 2));
    env.add_filter("e2", move |v: Option<f64>| {
        v.map_or_else(|| "–".to_owned(), |v| lang.scientific(v))
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

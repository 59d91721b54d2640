//! The charts as pictures (issue 16): drawn from the fixtures in both languages, read back
//! from their SVG — the texts a reader sees, the tick labels, the lines drawn.

use std::path::{Path, PathBuf};

use capacity_model::analysis::{Analysis, USL_POOR_FIT};
use reports::Lang;
use reports::charts::{Charts, draw_all};
use rundir::short_run_id as short;

const SMALL: &str = "tests/data/analysis.json";
/// A real analysis: a scenario-1 ramp with autoscaling, two sustained scenario-2 cells and a
/// saturation staircase.
const EXAMPLE: &str = "../capacity-planning/examples/analysis.json";

/// A fixture as the charts see it. The charts read runs, timelines, stages, the USL section,
/// spectra, workers and scale-outs; the notes and each run's stack description are cleared,
/// so that these tests follow the chart code, not changes elsewhere in the format.
fn fixture(path: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    let text = std::fs::read_to_string(&path).expect("the fixture is readable");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("the fixture is JSON");
    v["notes"] = serde_json::json!([]);
    // The USL chart needs an accepted fit: a real one, from the known-answer system.
    if v["usl"].get("fit").is_none() {
        v["usl"] = serde_json::from_str(include_str!("data/charts/usl-section.json"))
            .expect("the USL section is JSON");
    }
    for run in v["runs"].as_array_mut().expect("runs") {
        run["stack_config"] = serde_json::Value::Null;
    }
    v
}

fn analysis(v: serde_json::Value) -> Analysis {
    serde_json::from_value(v).expect("the fixture is an analysis")
}

/// Draws into a fresh directory; `AFORO_CHARTS_DIR` keeps the pictures (to look at them).
fn draw(a: &Analysis, lang: Lang, name: &str) -> (Charts, PathBuf, Option<tempfile::TempDir>) {
    let (dir, guard) = match std::env::var_os("AFORO_CHARTS_DIR") {
        Some(root) => (
            PathBuf::from(root).join(format!("{name}-{}", lang.code())),
            None,
        ),
        None => {
            let tmp = tempfile::tempdir().expect("a temporary directory");
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    std::fs::create_dir_all(&dir).expect("the chart directory");
    let charts = draw_all(a, &dir, lang).expect("the charts draw");
    (charts, dir, guard)
}

/// The unmodified fixtures' charts, drawn once for every test that only reads them.
fn drawn(path: &'static str, lang: Lang) -> (Charts, PathBuf) {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Drawn = HashMap<(&'static str, &'static str), (Charts, PathBuf)>;
    static DRAWN: OnceLock<Mutex<Drawn>> = OnceLock::new();
    let mut drawn = DRAWN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    drawn
        .entry((path, lang.code()))
        .or_insert_with(|| {
            let name = if path == SMALL { "small" } else { "example" };
            let (charts, dir, guard) = draw(&analysis(fixture(path)), lang, name);
            // Kept for the whole test run: other tests read these files.
            std::mem::forget(guard);
            (charts, dir)
        })
        .clone()
}

fn svg(dir: &Path, png: &str) -> String {
    let file = dir
        .join(png.trim_start_matches("charts/"))
        .with_extension("svg");
    std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

/// A `<text>` element of an SVG: its position and content.
#[derive(Debug)]
struct SvgText {
    y: f64,
    text: String,
}

fn texts(svg: &str) -> Vec<SvgText> {
    svg.split("<text")
        .skip(1)
        .map(|element| {
            let (attributes, rest) = element.split_once('>').expect("a text element");
            let content = rest.split("</text>").next().unwrap_or("").trim();
            let y = attribute(attributes, "y").parse().expect("y is a number");
            SvgText {
                y,
                text: content
                    .replace("&amp;", "&")
                    .replace("&lt;", "<")
                    .replace("&gt;", ">"),
            }
        })
        .collect()
}

fn attribute<'s>(attributes: &'s str, name: &str) -> &'s str {
    let start = attributes
        .find(&format!(" {name}=\""))
        .unwrap_or_else(|| panic!("no {name} in {attributes}"))
        + name.len()
        + 3;
    let end = attributes[start..].find('"').expect("a closed attribute") + start;
    &attributes[start..end]
}

fn height(svg: &str) -> f64 {
    attribute(svg.split('>').next().expect("an svg element"), "height")
        .parse()
        .expect("a height")
}

/// A tick label's value: a bare number in either language.
fn number(text: &str) -> Option<f64> {
    text.replace(',', ".").parse().ok()
}

fn every_svg(charts: &Charts, dir: &Path) -> Vec<(String, String)> {
    charts
        .files(dir)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "svg"))
        .map(|f| {
            let text = std::fs::read_to_string(&f).expect("an svg");
            (f.display().to_string(), text)
        })
        .collect()
}

/// Texts of the charts' own, in both languages: each must show in its language only.
const WORDS: [(&str, &str); 12] = [
    (
        "segundos desde el inicio de la corrida",
        "seconds since the run started",
    ),
    ("instancias en servicio", "instances in service"),
    ("latencia, ms (log)", "latency, ms (log)"),
    ("actividad de escalado", "scale-out activity"),
    (
        "CPU por grupo y profundidad de la cola",
        "CPU per group and queue depth",
    ),
    ("mensajes en la cola", "messages in the queue"),
    ("usuarios concurrentes", "concurrent users"),
    ("errores, %", "errors, %"),
    ("concurrencia N (usuarios)", "concurrency N (users)"),
    ("Latencia por percentil", "Latency by percentile"),
    ("videos por minuto", "videos per minute"),
    ("llegadas/min", "arrivals/min"),
];

fn scenario1_runs(a: &Analysis) -> Vec<&str> {
    a.runs
        .iter()
        .filter(|r| r.scenario == "scenario1")
        .map(|r| r.run_id.as_str())
        .collect()
}

#[test]
fn every_chart_is_drawn_in_both_languages() {
    let a = analysis(fixture(SMALL));
    let run = short(scenario1_runs(&a)[0]).to_owned();
    for lang in Lang::ALL {
        let (charts, dir) = drawn(SMALL, lang);
        let names: Vec<String> = charts
            .files(&dir)
            .iter()
            .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        for expected in [
            &format!("latency-{run}.png"),
            &format!("latency-{run}.svg"),
            &format!("resources-{run}.png"),
            "users-latency.png",
            "spectrum.png",
            "workers.png",
            "workers-resources.png",
            "workers-resources.svg",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert_eq!(charts.usl.is_some(), a.usl.available().is_some());
        for file in charts.files(&dir) {
            let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
            assert!(size > 1000, "{} is written ({size} bytes)", file.display());
        }
    }
}

#[test]
fn scenario_two_runs_share_one_small_multiples_chart() {
    let a = analysis(fixture(EXAMPLE));
    let (charts, dir) = drawn(EXAMPLE, Lang::Es);
    let resources: Vec<&str> = charts.resources.iter().map(|c| c.run_id.as_str()).collect();
    assert_eq!(resources, scenario1_runs(&a));
    assert_eq!(
        charts.worker_resources.as_deref(),
        Some("charts/workers-resources.png")
    );
    let texts: Vec<String> = texts(&svg(&dir, "workers-resources.png"))
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert!(
        a.workers.len() >= 3,
        "the example has sustained and saturation cells"
    );
    for w in &a.workers {
        let id = short(&w.run_id);
        assert!(!dir.join(format!("resources-{id}.png")).exists());
        // A panel per worker run, titled with its short id, size, concurrency and mode.
        let mode = if w.steps.is_empty() {
            "sostenido"
        } else {
            "saturación"
        };
        let title = format!(
            "{id} · {} MB · c{} · {mode}",
            (w.size_bytes as f64 / 1e6).round(),
            w.concurrency
        );
        assert!(texts.contains(&title), "{title} in {texts:?}");
        // A saturation panel names each step's arrival rate.
        for step in &w.steps {
            let rate = format!("{} llegadas/min", Lang::Es.decimal(step.rate_per_minute, 2));
            assert!(texts.contains(&rate), "{rate} in {texts:?}");
        }
    }
}

#[test]
fn each_language_shows_its_own_words_and_decimal_separator() {
    for lang in Lang::ALL {
        // Together the fixtures draw every chart (the example: USL, saturation steps).
        let all: Vec<String> = [SMALL, EXAMPLE]
            .into_iter()
            .flat_map(|path| {
                let (charts, dir) = drawn(path, lang);
                every_svg(&charts, &dir)
            })
            .flat_map(|(_, svg)| texts(&svg))
            .map(|t| t.text)
            .collect();
        for (es, en) in WORDS {
            let (own, other) = (lang.tr(es, en), lang.tr(en, es));
            assert!(
                all.iter().any(|t| t.contains(own)),
                "{lang:?}: {own:?} is on a chart"
            );
            assert!(
                !all.iter().any(|t| t.contains(other)),
                "{lang:?}: {other:?} is not on a chart"
            );
        }
        // Numbers: a decimal comma in Spanish, a point in English.
        let wrong = if lang == Lang::Es { '.' } else { ',' };
        for t in &all {
            assert!(
                !has_decimal(t, wrong),
                "{lang:?}: {t:?} uses {wrong:?} as decimal separator"
            );
        }
    }
}

/// A digit, the separator, a digit: "2.50" or "2,50". Run ids and endpoint names have none.
fn has_decimal(text: &str, separator: char) -> bool {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(3)
        .any(|w| w[0].is_ascii_digit() && w[1] == separator && w[2].is_ascii_digit())
}

#[test]
fn a_rejected_usl_fit_draws_the_points_only() {
    let mut v = fixture(EXAMPLE);
    for (r_squared, accepted) in [(USL_POOR_FIT - 0.2, false), (USL_POOR_FIT + 0.1, true)] {
        v["usl"]["fit"]["r_squared"] = serde_json::json!(r_squared);
        for lang in Lang::ALL {
            let (charts, dir, _guard) = draw(&analysis(v.clone()), lang, "usl");
            let svg = svg(&dir, charts.usl.as_deref().expect("a usl chart"));
            let texts: Vec<String> = texts(&svg).into_iter().map(|t| t.text).collect();
            let curve_key = lang.tr("curva USL", "USL curve");
            let rejected = lang.tr("ajuste USL rechazado", "USL fit rejected");
            assert_eq!(
                texts.iter().any(|t| t.starts_with(curve_key)),
                accepted,
                "R² {r_squared}: {texts:?}"
            );
            assert_eq!(texts.iter().any(|t| t.contains(rejected)), !accepted);
            // The curve is the only orange line: none when the fit is rejected.
            assert_eq!(
                svg.contains(
                    "<polyline fill=\"none\" opacity=\"1\" stroke=\"#E69F00\" stroke-width=\"2\""
                ),
                accepted,
                "R² {r_squared}: the fitted curve is drawn only when accepted"
            );
        }
    }
}

#[test]
fn count_axes_have_whole_number_ticks_only() {
    // Two instances at most: a plotters axis of 0–2.5 would label 0.5, 1.5.
    for lang in Lang::ALL {
        let (charts, dir) = drawn(SMALL, lang);
        let latency = svg(&dir, &charts.latency[0].file);
        let bottom_panel = height(&latency) * 0.6;
        let ticks: Vec<f64> = texts(&latency)
            .iter()
            .filter(|t| t.y > bottom_panel)
            .filter_map(|t| number(&t.text))
            .collect();
        assert!(ticks.contains(&2.0), "{ticks:?}");
        assert!(
            ticks.iter().all(|v| v.fract() == 0.0),
            "{lang:?}: {ticks:?}"
        );
        // The worker panels: seconds, CPU % and queue messages, all whole.
        let workers = svg(&dir, charts.worker_resources.as_deref().expect("panels"));
        let ticks: Vec<f64> = texts(&workers)
            .iter()
            .filter_map(|t| number(&t.text))
            .collect();
        assert!(!ticks.is_empty());
        assert!(
            ticks.iter().all(|v| v.fract() == 0.0),
            "{lang:?}: {ticks:?}"
        );
    }
}

#[test]
fn seconds_without_instance_metrics_break_the_line() {
    // The web group's line, in its colour and 5 px wide (drawn as 25 one-pixel lines).
    let web_lines = |svg: &str| {
        svg.matches("<polyline fill=\"none\" opacity=\"1\" stroke=\"#E69F00\" stroke-width=\"1\"")
            .count()
    };
    let whole = {
        let (charts, dir) = drawn(SMALL, Lang::En);
        web_lines(&svg(&dir, &charts.latency[0].file))
    };
    let mut v = fixture(SMALL);
    let seconds = v["timelines"][0]["seconds"]
        .as_array_mut()
        .expect("seconds");
    // Ten seconds from the middle of those that have instance metrics.
    let measured: Vec<usize> = seconds
        .iter()
        .enumerate()
        .filter(|(_, s)| s.get("in_service").is_some_and(|v| !v.is_null()))
        .map(|(i, _)| i)
        .collect();
    assert!(measured.len() > 30, "the fixture has instance metrics");
    let middle = measured[measured.len() / 2];
    for s in &mut seconds[middle..middle + 10] {
        s.as_object_mut().expect("a second").remove("in_service");
    }
    let (charts, dir, _guard) = draw(&analysis(v), Lang::En, "gap");
    let broken = web_lines(&svg(&dir, &charts.latency[0].file));
    assert!(whole > 0);
    // Each piece of the 5 px line is 25 one-pixel polylines: the gap adds one piece.
    assert_eq!(broken, whole + 25, "the line breaks at the gap");
}

//! The rendered report from a fixed analysis (snapshots), its charts, sections without
//! data, and a user's own template.

use capacity_model::analysis::{Analysis, Missing, Section, Settings};

fn fixture() -> Analysis {
    let text = include_str!("data/analysis.json");
    serde_json::from_str(text).expect("the fixture is an analysis.json")
}

fn rendered(lang: &str, baseline: Option<&Analysis>) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut options = reports::Options::course(dir.path());
    options.template = lang.into();
    options.lang = reports::Lang::parse(lang).unwrap();
    let written = reports::render(&fixture(), baseline, &options).unwrap();
    (std::fs::read_to_string(written.markdown).unwrap(), dir)
}

#[test]
fn the_spanish_report_of_a_real_analysis() {
    let a = fixture();
    let (markdown, _dir) = rendered("es", Some(&a));
    insta::assert_snapshot!("es", markdown);
}

#[test]
fn the_english_report_of_a_real_analysis() {
    let (markdown, _dir) = rendered("en", None);
    insta::assert_snapshot!("en", markdown);
}

#[test]
fn every_chart_the_report_links_is_drawn_as_png_and_svg() {
    let (markdown, dir) = rendered("es", None);
    let linked: Vec<&str> = markdown
        .split("](")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .filter(|link| link.starts_with("charts/"))
        .collect();
    // Latency and resources of the ramp, the curve, spectrum, workers and the worker runs'
    // small multiples; no USL chart, since the fixture's fit is unphysical.
    assert_eq!(linked.len(), 6, "{linked:?}");
    assert!(
        !linked.iter().any(|l| l.contains("usl")),
        "a rejected fit draws no curve"
    );
    for link in linked {
        let png = std::fs::read(dir.path().join(link)).unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{link} is a PNG");
        assert!(
            png.len() > 20_000,
            "{link} has content: {} bytes",
            png.len()
        );
        let svg = std::fs::read_to_string(dir.path().join(link).with_extension("svg")).unwrap();
        assert!(
            svg.contains("<svg") && svg.contains("<text"),
            "{link}.svg has text"
        );
    }
}

#[test]
fn sections_without_data_say_so() {
    let empty = Analysis {
        format_version: 1,
        generated_at: time::OffsetDateTime::UNIX_EPOCH,
        aforo: "test".into(),
        settings: Settings::default(),
        runs: vec![],
        latency: vec![],
        stages: vec![],
        capacity: Section::missing(Missing::NoScenario1Points),
        usl: Section::missing(Missing::TooFewLevels {
            levels: 0,
            needed: 6,
        }),
        little: vec![],
        scale_outs: vec![],
        scale_ins: vec![],
        workers: vec![],
        timelines: vec![],
        spectra: vec![],
        notes: vec![],
        cost: None,
        recommendations: None,
    };
    let dir = tempfile::tempdir().unwrap();
    let written = reports::render(&empty, None, &reports::Options::course(dir.path())).unwrap();
    let md = std::fs::read_to_string(&written.markdown).unwrap();
    for expected in [
        "Sin corridas del escenario 1",
        "Sin modelo de capacidad: ninguna corrida del escenario 1 dio un punto de carga",
        "sin ajuste de escalabilidad: la USL necesita al menos 6 niveles",
        "Sin corridas del escenario 2",
        "Ningún escalado hacia afuera",
        "Ningún escalado hacia adentro",
        "Sin análisis anterior",
        "Sin datos: ninguna corrida midió las instancias en servicio de su grupo (el análisis es \
         anterior a las estimaciones de costo",
    ] {
        assert!(md.contains(expected), "{expected:?} missing from\n{md}");
    }
    assert!(written.charts.is_empty());
}

#[test]
fn a_users_own_template_is_used_and_a_missing_one_is_named() {
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("short.md.j2"),
        "capacity {{ capacity.max_rps | f1 }} req/s from {{ environment.runs | length }} runs\n",
    )
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let options = reports::Options {
        template: "short".into(),
        lang: reports::Lang::En,
        template_dir: Some(templates.path().to_path_buf()),
        out_dir: out.path().to_path_buf(),
        file_name: "short.md".into(),
        title: None,
    };
    let written = reports::render(&fixture(), None, &options).unwrap();
    let md = std::fs::read_to_string(written.markdown).unwrap();
    assert!(
        md.starts_with("capacity ") && md.contains("from 2 runs"),
        "{md}"
    );

    let missing = reports::template_source("nope", Some(templates.path())).unwrap_err();
    assert!(format!("{missing}").contains("the built-ins are es and en"));
}

#[test]
fn a_database_that_degrades_first_is_named_as_the_bottleneck() {
    let mut a: serde_json::Value =
        serde_json::from_str(include_str!("data/analysis.json")).unwrap();
    // The database's CPU passed its threshold at the knee's first load point.
    let knee = &mut a["capacity"]["knee"];
    let stage = knee["best_within_slo"].clone();
    let degradation = serde_json::json!({
        "kpi": "db_cpu_percent:aforo-db",
        "stage": stage,
        "value": 93.0,
        "limit": {"kind": "threshold", "limit": 80.0}
    });
    knee["kpi_degradations"] = serde_json::json!([degradation.clone()]);
    knee["leading_kpis"] = serde_json::json!([degradation]);
    a["capacity"]["kpi_tiers"] = serde_json::json!({"db_cpu_percent:aforo-db": "database"});
    let a: Analysis = serde_json::from_value(a).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut options = reports::Options::course(dir.path());
    options.template = "en".into();
    options.lang = reports::Lang::En;
    let written = reports::render(&a, None, &options).unwrap();
    let markdown = std::fs::read_to_string(written.markdown).unwrap();
    assert!(
        markdown.contains("The database's CPU degrades first (`db_cpu_percent:aforo-db`"),
        "{markdown}"
    );
    // The resource changes name the database class, with the figure.
    assert!(
        markdown.contains("Database: its CPU (`db_cpu_percent:aforo-db`) reaches 93 %"),
        "{markdown}"
    );
}

/// Every capacity claim in `markdown` ("… en LABEL: X req/s, p95 Y ms, Z % de errores, N
/// peticiones") quotes one load point of `a` whole: the point its label names, with that
/// point's own rate, p95, errors and sample. Returns how many claims it checked.
fn claims_match_their_points(markdown: &str, a: &Analysis, lang: &str) -> usize {
    let lang = reports::Lang::parse(lang).unwrap();
    let d = |v: f64, places| lang.decimal(v, places);
    let (at, errors, requests) = match lang {
        reports::Lang::Es => (" en ", " % de errores, ", " peticiones"),
        reports::Lang::En => (" at ", " % errors, ", " requests"),
    };
    let mut checked = 0;
    for (i, _) in markdown.match_indices(" req/s, p95 ") {
        let head = &markdown[..i];
        let label_start = head.rfind(at).expect("a claim names its point") + at.len();
        let (label, rps) = head[label_start..].rsplit_once(": ").expect("LABEL: RATE");
        let tail = &markdown[i + " req/s, p95 ".len()..];
        let p95 = tail.split(" ms, ").next().unwrap();
        let after = &tail[tail.find(" ms, ").unwrap() + 5..];
        let error_pct = after.split(errors).next().unwrap();
        let samples = after[after.find(errors).unwrap() + errors.len()..]
            .split(requests)
            .next()
            .unwrap();
        let point = a
            .stages
            .iter()
            .find(|p| label == reports::wording::point_label(lang, &p.knee_label()))
            .unwrap_or_else(|| panic!("the claim's point {label:?} is a load point"));
        assert_eq!(rps, d(point.total.rps, 1), "{label}: rate");
        assert_eq!(
            p95,
            point.worst_p95_ms.map_or("–".into(), |v| d(v, 1)),
            "{label}: p95"
        );
        assert_eq!(
            error_pct,
            d(point.total.error_ratio * 100.0, 2),
            "{label}: errors"
        );
        assert_eq!(samples, point.total.samples.to_string(), "{label}: sample");
        checked += 1;
    }
    // The rate per instance is the best point's rate over its own healthy hosts.
    if let Section::Available(c) = &a.capacity
        && let (Some(per), Some(best)) = (c.rps_per_instance, &c.knee.best_within_slo)
    {
        let point = a
            .stages
            .iter()
            .find(|p| best.label.starts_with(&p.label) && p.load == best.load)
            .unwrap();
        let hosts = point.healthy_hosts().unwrap();
        assert!((per - point.total.rps / hosts).abs() < 1e-9);
        assert!(
            markdown.contains(&format!("{} req/s", d(per, 1))),
            "{markdown}"
        );
    }
    checked
}

/// Issue 16: with `--lang es` everything a reader sees is Spanish, with `--lang en`
/// English, numbers included (decimal comma in Spanish).
#[test]
fn each_report_speaks_one_language() {
    for lang in ["es", "en"] {
        let (markdown, _dir) = rendered(lang, None);
        let l = reports::Lang::parse(lang).unwrap();
        assert_eq!(
            reports::lang::foreign_words(&markdown, l),
            Vec::<String>::new(),
            "{lang}:\n{markdown}"
        );
        assert_eq!(
            reports::lang::misplaced_decimals(&markdown, l),
            Vec::<String>::new(),
            "{lang}:\n{markdown}"
        );
    }
}

/// Issue 16: the sections the course's seed asks for are all there, in both languages.
#[test]
fn every_section_the_course_asks_for_is_there() {
    let sections = [
        (
            "es",
            vec![
                "### Cómo se obtuvieron las cifras",
                "### Dimensionamiento con Erlang C",
                "## 4. Ley de Little",
                "### Escalado hacia adentro",
                "## 7. Conclusiones",
                "### Cambios en las características de los recursos",
                "### Consideraciones adicionales para continuar escalando",
                "## 9. Plan de pruebas para la siguiente iteración",
                "## 10. Costo y sostenibilidad",
            ],
        ),
        (
            "en",
            vec![
                "### How the figures were made",
                "### Sizing with Erlang C",
                "## 4. Little's law",
                "### Scaling in",
                "## 7. Conclusions",
                "### Changes to the resources' characteristics",
                "### Further considerations to keep scaling",
                "## 9. Test plan for the next iteration",
                "## 10. Cost and sustainability",
            ],
        ),
    ];
    for (lang, headings) in sections {
        let (markdown, _dir) = rendered(lang, None);
        for heading in headings {
            let body = markdown
                .split(heading)
                .nth(1)
                .unwrap_or_else(|| panic!("{lang}: {heading} missing"));
            let first = body.trim_start().lines().next().unwrap_or("");
            assert!(
                !first.starts_with('#'),
                "{lang}: {heading} has no content:\n{markdown}"
            );
        }
    }
}

/// Issue 15: a capacity claim once quoted "60 users with 909.3 req/s", the rate of another
/// stage. Every figure of a claim must come from the point it names.
#[test]
fn every_capacity_claim_quotes_the_figures_of_the_point_it_names() {
    let a = fixture();
    for lang in ["es", "en"] {
        let (markdown, _dir) = rendered(lang, None);
        let checked = claims_match_their_points(&markdown, &a, lang);
        assert!(
            checked >= 2,
            "{lang}: the load held and the best rate: {markdown}"
        );
    }
}
/// The committed example (`capacity-planning/examples/`): each report's claims quote the
/// points of the analysis.json they were rendered from.
#[test]
fn the_examples_claims_match_its_analysis() {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../capacity-planning/examples");
    let text = std::fs::read_to_string(examples.join("analysis.json")).unwrap();
    let a: Analysis = serde_json::from_str(&text).expect("the example is a current analysis.json");
    for (file, lang) in [
        ("pruebas_de_carga_entrega4.md", "es"),
        ("en/capacity-report.md", "en"),
    ] {
        let markdown = std::fs::read_to_string(examples.join(file)).unwrap();
        let checked = claims_match_their_points(&markdown, &a, lang);
        assert!(checked >= 1, "{file} makes a capacity claim");
    }
}

/// The next saturation run the plan suggests gives every step 10 arrivals or more: a step
/// of the measured length at half the capacity gave 6 (the first version's mistake).
#[test]
fn the_suggested_saturation_steps_are_long_enough_for_ten_arrivals() {
    let examples =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../capacity-planning/examples");
    let a: Analysis =
        serde_json::from_str(&std::fs::read_to_string(examples.join("analysis.json")).unwrap())
            .unwrap();
    let plan = reports::narrative::build(&a, reports::Lang::En).test_plan;
    let line = plan
        .iter()
        .find(|l| l.contains("saturate"))
        .expect("the example has a saturation run");
    let rates: Vec<f64> = line
        .split("videos/min): ")
        .nth(1)
        .unwrap()
        .split(" arrivals/min")
        .next()
        .unwrap()
        .split(", ")
        .map(|r| r.parse().unwrap())
        .collect();
    let step: f64 = line
        .split("at least ")
        .nth(1)
        .unwrap()
        .split(" s each")
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let lowest = rates.iter().cloned().fold(f64::MAX, f64::min);
    assert!(lowest * step / 60.0 >= 10.0, "{line}");
}

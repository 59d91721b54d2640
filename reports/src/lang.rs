//! The report's language: every string a reader sees, in the templates, the context and
//! the charts, is chosen here or in the template of that language, and every number is
//! written with that language's decimal separator.
//!
//! Strings that come from outside aforo (endpoint names, run ids, an AWS activity's cause,
//! a user's own stage names) are quoted as such, never translated.

use serde::Serialize;

/// A language of the built-in templates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// Spanish: decimal comma.
    Es,
    /// English: decimal point.
    En,
}

impl Lang {
    /// The report's default file name in this language: the course's for Spanish.
    pub fn report_file_name(self) -> &'static str {
        match self {
            Lang::Es => "pruebas_de_carga_entrega4.md",
            Lang::En => "capacity-report.md",
        }
    }

    pub const ALL: [Lang; 2] = [Lang::Es, Lang::En];

    /// `es` or `en`.
    pub fn parse(code: &str) -> Result<Lang, String> {
        match code {
            "es" => Ok(Lang::Es),
            "en" => Ok(Lang::En),
            other => Err(format!(
                "unknown language {other:?}: the report is written in es or en"
            )),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::Es => "es",
            Lang::En => "en",
        }
    }

    /// The text of this language among two.
    pub fn tr<'a>(self, es: &'a str, en: &'a str) -> &'a str {
        match self {
            Lang::Es => es,
            Lang::En => en,
        }
    }

    /// `value` with `places` decimals and this language's separator: 1234,5 / 1234.5.
    /// Thousands are not grouped, so a number reads the same in a table and a chart.
    pub fn decimal(self, value: f64, places: usize) -> String {
        let text = format!("{value:.places$}");
        // -0.0 rounds to "-0.0"; a reader sees 0.
        let text = if text
            .trim_start_matches('-')
            .chars()
            .all(|c| c == '0' || c == '.')
        {
            text.trim_start_matches('-').to_owned()
        } else {
            text
        };
        match self {
            Lang::Es => text.replace('.', ","),
            Lang::En => text,
        }
    }

    /// `value` in scientific notation with 2 decimals: 1,37e14 / 1.37e14.
    pub fn scientific(self, value: f64) -> String {
        let text = format!("{value:.2e}");
        match self {
            Lang::Es => text.replace('.', ","),
            Lang::En => text,
        }
    }

    /// A figure for a chart's axis: whole numbers without decimals, others with as few as
    /// tell them apart.
    pub fn tick(self, value: f64) -> String {
        let magnitude = value.abs();
        let places = if (value - value.round()).abs() < 1e-9 || magnitude >= 100.0 {
            0
        } else if magnitude >= 10.0 {
            1
        } else {
            2
        };
        self.decimal(value, places)
    }
}

/// Words only English uses, for [`foreign_words`]: function words and the terms aforo
/// itself prints (stage names, verdicts, units). Terms both languages use in this field
/// (endpoint, worker, throughput, stack, host, error) are not listed.
const ENGLISH_ONLY: &[&str] = &[
    "the",
    "and",
    "of",
    "with",
    "to",
    "is",
    "are",
    "was",
    "not",
    "for",
    "from",
    "at",
    "by",
    "on",
    "in",
    "it",
    "its",
    "this",
    "that",
    "which",
    "when",
    "or",
    "each",
    "every",
    "none",
    "yes",
    "run",
    "runs",
    "users",
    "user",
    "ramp",
    "hold",
    "step",
    "steps",
    "closed",
    "open",
    "up",
    "stable",
    "growing",
    "draining",
    "instances",
    "instance",
    "policies",
    "policy",
    "data",
    "within",
    "queue",
    "load",
    "balancer",
    "target",
    "tracking",
    "cores",
    "sustained",
    "saturation",
    "smoke",
    "search",
    "arrivals",
    "requests",
    "tasks",
    "errors",
    "stage",
    "stages",
    "group",
    "minute",
    "seconds",
    "measured",
    "projection",
];

/// Words only Spanish uses, for [`foreign_words`].
const SPANISH_ONLY: &[&str] = &[
    "de",
    "la",
    "el",
    "los",
    "las",
    "del",
    "con",
    "en",
    "que",
    "por",
    "para",
    "una",
    "un",
    "y",
    "o",
    "es",
    "se",
    "su",
    "sus",
    "corrida",
    "corridas",
    "carga",
    "usuarios",
    "rampa",
    "meseta",
    "escalón",
    "escalones",
    "cumple",
    "sin",
    "datos",
    "cola",
    "crece",
    "sí",
    "núcleos",
    "llegadas",
    "tareas",
    "instancias",
    "políticas",
    "grupo",
    "cada",
    "hasta",
    "cerrado",
    "abierto",
    "sostenido",
    "saturación",
    "escenario",
    "perfil",
    "etapas",
    "muestras",
    "errores",
    "peticiones",
    "medido",
    "proyección",
];

/// `markdown` without what is not the report's own prose: text quoted as recorded («…»,
/// “…”), code spans (identifiers, commands, versions) and link targets.
fn prose(markdown: &str) -> String {
    let mut prose = String::with_capacity(markdown.len());
    let mut closing: Option<char> = None;
    let mut after_bracket = false;
    for c in markdown.chars() {
        match closing {
            Some(end) if c == end => closing = None,
            Some(_) => {}
            None => match c {
                '`' => closing = Some('`'),
                '«' => closing = Some('»'),
                '“' => closing = Some('”'),
                '(' if after_bracket => closing = Some(')'),
                _ => prose.push(c),
            },
        }
        after_bracket = c == ']' && closing.is_none();
    }
    prose
}

/// Numbers in `markdown`'s prose written with the other language's decimal separator
/// ("12.5" in Spanish, "12,5" in English).
pub fn misplaced_decimals(markdown: &str, lang: Lang) -> Vec<String> {
    let wrong = match lang {
        Lang::Es => '.',
        Lang::En => ',',
    };
    let chars: Vec<char> = prose(markdown).chars().collect();
    let mut found = Vec::new();
    for i in 1..chars.len().saturating_sub(1) {
        // "1, 2" lists and "p. ej." are not decimals: digits on both sides, no space.
        if chars[i] == wrong && chars[i - 1].is_ascii_digit() && chars[i + 1].is_ascii_digit() {
            let from = i.saturating_sub(6);
            let to = (i + 6).min(chars.len());
            found.push(chars[from..to].iter().collect::<String>());
        }
    }
    found
}

/// The words of the other language in `markdown`'s prose: every string a reader sees must
/// come through the language layer, and this finds what did not. Text quoted as recorded
/// («…», “…”), code spans (identifiers, commands) and link targets are left out.
pub fn foreign_words(markdown: &str, lang: Lang) -> Vec<String> {
    let foreign = match lang {
        Lang::Es => ENGLISH_ONLY,
        Lang::En => SPANISH_ONLY,
    };
    let prose = prose(markdown);
    let mut found: Vec<String> = prose
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| foreign.contains(&w.as_str()))
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_use_the_languages_separator() {
        assert_eq!(Lang::Es.decimal(1234.56, 1), "1234,6");
        assert_eq!(Lang::En.decimal(1234.56, 1), "1234.6");
        assert_eq!(Lang::Es.decimal(-0.01, 1), "0,0");
        assert_eq!(Lang::En.decimal(-2.6, 0), "-3");
        assert_eq!(Lang::Es.tick(3.0), "3");
        assert_eq!(Lang::Es.tick(2.5), "2,50");
        assert_eq!(Lang::En.tick(250.0), "250");
    }

    #[test]
    fn foreign_words_are_found_outside_quotes_code_and_links() {
        let es = "La corrida `hold 60` cumple; causa «At 12:00 the alarm» y [gráfico](charts/the-run.png) con the queue.";
        assert_eq!(foreign_words(es, Lang::Es), ["queue", "the"]);
        let en = "The run `escenario` held; «la cola» [chart](charts/de.png) sin data.";
        assert_eq!(foreign_words(en, Lang::En), ["sin"]);
    }

    #[test]
    fn decimals_with_the_other_separator_are_found() {
        assert_eq!(
            misplaced_decimals("p95 12,5 ms; `0.1.0`; 1, 2", Lang::Es),
            Vec::<String>::new()
        );
        assert_eq!(misplaced_decimals("p95 12.5 ms", Lang::Es), ["p95 12.5 ms"]);
        assert_eq!(misplaced_decimals("p95 12,5 ms", Lang::En), ["p95 12,5 ms"]);
    }

    #[test]
    fn only_the_built_in_languages_parse() {
        assert_eq!(Lang::parse("es"), Ok(Lang::Es));
        assert_eq!(Lang::parse("en"), Ok(Lang::En));
        assert!(Lang::parse("fr").unwrap_err().contains("es or en"));
        for lang in Lang::ALL {
            assert_eq!(Lang::parse(lang.code()), Ok(lang));
        }
    }
}

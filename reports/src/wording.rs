//! The phrases the report builds from data: notes, load descriptions, stage names, verdicts.
//! Each is worded here in both languages, so that no English string of the analysis reaches
//! a Spanish report (and no Spanish one an English report). The templates hold the fixed
//! prose; this module the prose that depends on the data.

use capacity_model::analysis::{LoadKind, Missing, Note, RunInfo, Section, StageInfo};
use rundir::{BalancerAlgorithm, PolicyDescription, ScalingMetric, StackDescription};

use crate::Lang;

/// A note on the data, in `lang`.
pub fn note(lang: Lang, note: &Note) -> String {
    let es = lang == Lang::Es;
    match note {
        Note::NoSummary { run_id, worker } => match (es, worker) {
            (true, true) => format!(
                "`{run_id}`: sin summary.json (la corrida se interrumpió o sigue en curso); las \
                 cifras del escenario 2 salen de él, así que esta corrida no da celda de workers"
            ),
            (true, false) => format!(
                "`{run_id}`: sin summary.json (la corrida se interrumpió o sigue en curso); sus \
                 cifras salen de sus archivos por segundo, latency.hlog y requests.csv"
            ),
            (false, _) => {
                let english = note.to_string();
                english.replacen(run_id.as_str(), &format!("`{run_id}`"), 1)
            }
        },
        Note::NoLoadPoint { run_id } => {
            if es {
                format!(
                    "`{run_id}`: ninguna etapa de su manifiesto tiene segundos completos de \
                     tráfico; suma a la latencia pero no da punto de carga"
                )
            } else {
                format!(
                    "`{run_id}`: its manifest has no stage with whole seconds of traffic; it \
                     adds to the latency but gives no load point"
                )
            }
        }
        Note::OtherLoadKindLeftOut {
            used,
            kind,
            left_out,
        } => {
            if es {
                format!(
                    "la curva de capacidad usa los {used} puntos medidos en {}; quedan fuera \
                     otros {left_out} puntos",
                    load_unit(lang, *kind)
                )
            } else {
                format!(
                    "the capacity curve uses the {used} points measured in {}; {left_out} other \
                     points are left out",
                    load_unit(lang, *kind)
                )
            }
        }
        Note::UnjudgedPoints {
            points,
            min_samples,
        } => {
            let points: Vec<String> = points.iter().map(|p| point_label(lang, p)).collect();
            if es {
                format!(
                    "{} puntos de carga quedan fuera de la curva de capacidad por falta de \
                     datos: ningún endpoint registró las {min_samples} latencias que acotan un \
                     p95 (ni un incumplimiento seguro) y sus errores están dentro del SLO; \
                     sostener cada carga más tiempo (una etapa más larga o un --time-scale \
                     mayor): {}",
                    points.len(),
                    points.join(", ")
                )
            } else {
                format!(
                    "{} load points are left out of the capacity curve, not enough data: no \
                     endpoint recorded the {min_samples} latencies that bound a p95 (nor a \
                     certain breach), and their errors are within the SLO; hold each load \
                     longer (a longer stage or a larger --time-scale): {}",
                    points.len(),
                    points.join(", ")
                )
            }
        }
        Note::PoorUslFit {
            r_squared,
            threshold,
        } => {
            let (r2, limit) = (lang.decimal(*r_squared, 2), lang.decimal(*threshold, 1));
            if es {
                format!(
                    "el ajuste de escalabilidad es pobre (R² {r2} < {limit}): el throughput no \
                     sigue la USL en estos puntos (plano desde la carga más baja significa que \
                     el sistema, o la máquina que lo corre todo, estaba saturado desde el \
                     principio); no se proyecta nada a partir de él"
                )
            } else {
                format!(
                    "the scalability fit is poor (R² {r2} < {limit}): throughput does not follow \
                     the USL over these points (flat from the lowest load means the system, or \
                     the machine running everything, was saturated from the start); read no \
                     projection from it"
                )
            }
        }
        Note::SkippedRun { path, error } => {
            if es {
                format!("se omitió `{path}`; error del lector: «{error}»")
            } else {
                format!("skipped `{path}`; the reader's error: “{error}”")
            }
        }
        Note::Fetched {
            run_id,
            datapoints,
            period_s,
            activities,
        } => {
            if es {
                format!(
                    "`{run_id}`: se descargaron {datapoints} datos de CloudWatch (periodo de \
                     {period_s} s) y {activities} actividades de escalado, guardados junto a la \
                     corrida"
                )
            } else {
                format!(
                    "`{run_id}`: fetched {datapoints} CloudWatch datapoints ({period_s} s \
                     period) and {activities} scaling activities, saved beside the run"
                )
            }
        }
        Note::FleetMerged { fleet, generators } => {
            if es {
                format!("`{fleet}`: se unieron las corridas de sus {generators} generadores")
            } else {
                format!("`{fleet}`: merged the runs of its {generators} generators")
            }
        }
        Note::FleetIncomplete {
            fleet,
            missing,
            present,
        } => {
            if es {
                format!(
                    "`{fleet}`: faltan los generadores {}; sus cifras son las de los {present} \
                     presentes",
                    missing.join(", ")
                )
            } else {
                format!(
                    "`{fleet}`: generators {} are missing; its figures are those of the \
                     {present} present",
                    missing.join(", ")
                )
            }
        }
    }
}

/// "users" / "usuarios", "arrivals/s" / "llegadas/s".
pub fn load_unit(lang: Lang, kind: LoadKind) -> &'static str {
    match kind {
        LoadKind::Users => lang.tr("usuarios", "users"),
        LoadKind::Rate => lang.tr("llegadas/s", "arrivals/s"),
    }
}

/// The unit for `n` of it: "1 usuario", "2 usuarios".
pub fn load_unit_for(lang: Lang, kind: LoadKind, n: f64) -> &'static str {
    match (kind, n == 1.0) {
        (LoadKind::Users, true) => lang.tr("usuario", "user"),
        (LoadKind::Rate, true) => lang.tr("llegada/s", "arrival/s"),
        _ => load_unit(lang, kind),
    }
}

/// The load model of a run: "closed, up to 60 users" / "cerrado, hasta 60 usuarios".
pub fn load_model(lang: Lang, kind: LoadKind, max: f64) -> String {
    let level = level(lang, max);
    match kind {
        LoadKind::Users => format!(
            "{}{level} {}",
            lang.tr("cerrado, hasta ", "closed, up to "),
            load_unit(lang, kind)
        ),
        LoadKind::Rate => format!(
            "{}{level} {}",
            lang.tr("abierto, hasta ", "open, up to "),
            load_unit(lang, kind)
        ),
    }
}

/// A load level as loadgen names it: whole numbers plain, others with up to 3 decimals.
fn level(lang: Lang, value: f64) -> String {
    if (value - value.round()).abs() < 1e-9 {
        format!("{value:.0}")
    } else {
        let text = lang.decimal(value, 3);
        let separator = lang.tr(",", ".");
        text.trim_end_matches('0')
            .trim_end_matches(separator)
            .to_owned()
    }
}

/// A stage's name. loadgen names its stages "ramp to N", "hold N" and "stepK"; those are
/// worded in `lang`. A name of the user's own (a scenario file's) is quoted as written.
pub fn stage_name(lang: Lang, name: &str) -> String {
    if let Some(level) = name.strip_prefix("ramp to ") {
        return format!(
            "{}{}",
            lang.tr("rampa hasta ", "ramp to "),
            number(lang, level)
        );
    }
    if let Some(level) = name.strip_prefix("hold ") {
        return format!("{}{}", lang.tr("meseta ", "hold "), number(lang, level));
    }
    if let Some(k) = name
        .strip_prefix("step")
        .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("{} {k}", lang.tr("escalón", "step"));
    }
    format!("«{name}»")
}

/// A number as loadgen wrote it ("0.125", "60"), with `lang`'s separator; anything else (a
/// user's text) unchanged.
fn number(lang: Lang, text: &str) -> String {
    match text.parse::<f64>() {
        Ok(_) if lang == Lang::Es => text.replace('.', ","),
        _ => text.to_owned(),
    }
}

/// A stage as the run table lists it: its name and length.
pub fn stage(lang: Lang, stage: &StageInfo) -> String {
    format!(
        "{} ({} s)",
        stage_name(lang, &stage.name),
        lang.decimal(stage.seconds, 0)
    )
}

/// A load point's label: "ramp to 60, 21–24 s (65e3)" → "rampa hasta 60, 21–24 s (65e3)".
/// The slice and the run id are numbers and identifiers; the stage name is worded.
pub fn point_label(lang: Lang, label: &str) -> String {
    let (label, run) = match label.rsplit_once(" (") {
        Some((rest, id)) if id.ends_with(')') && !id.contains(' ') => (rest, Some(id)),
        _ => (label, None),
    };
    let (name, slice) = match label.rsplit_once(", ") {
        Some((name, slice)) if slice.ends_with(" s") && slice.contains('–') => {
            (name, Some(slice))
        }
        _ => (label, None),
    };
    let mut text = stage_name(lang, name);
    if let Some(slice) = slice {
        text.push_str(", ");
        text.push_str(slice);
    }
    if let Some(run) = run {
        text.push_str(" (");
        text.push_str(run);
    }
    text
}

/// A load point quoted whole: its load, rate, p95, errors and sample, all of that one point.
pub fn point_claim(lang: Lang, kind: LoadKind, p: &capacity_model::StagePoint) -> String {
    let p95 = p.p95_ms.map_or("–".to_owned(), |v| lang.decimal(v, 1));
    let (rps, errors) = (
        lang.decimal(p.rps, 1),
        lang.decimal(p.error_ratio * 100.0, 2),
    );
    let load = lang.decimal(p.load, 1);
    let (unit, label) = (load_unit(lang, kind), point_label(lang, &p.label));
    match lang {
        Lang::Es => format!(
            "{load} {unit} en {label}: {rps} req/s, p95 {p95} ms, {errors} % de errores, {} \
             peticiones",
            p.samples
        ),
        Lang::En => format!(
            "{load} {unit} at {label}: {rps} req/s, p95 {p95} ms, {errors} % errors, {} requests",
            p.samples
        ),
    }
}

/// A scenario-2 mode: sustained or saturation.
pub fn worker_mode(lang: Lang, mode: &str) -> String {
    match mode {
        "sustained" => lang.tr("sostenido", "sustained").to_owned(),
        "saturation" => lang.tr("saturación", "saturation").to_owned(),
        other => format!("«{other}»"),
    }
}

/// A profile of loadgen's (`loadgen run --profile`), or the user's own, quoted.
pub fn profile(lang: Lang, profile: &str) -> String {
    match profile {
        "smoke" => lang.tr("humo", "smoke").to_owned(),
        "ramp" => lang.tr("rampa", "ramp").to_owned(),
        "search" => lang.tr("búsqueda", "search").to_owned(),
        "sustained" | "saturation" => worker_mode(lang, profile),
        other => format!("«{other}»"),
    }
}

/// "scenario1" → "escenario 1" / "scenario 1".
pub fn scenario(lang: Lang, scenario: &str) -> String {
    match scenario.strip_prefix("scenario") {
        Some(n) if !n.is_empty() => format!("{} {n}", lang.tr("escenario", "scenario")),
        _ => format!("«{scenario}»"),
    }
}

/// Why `section` is missing, in `lang`; None when it is there.
pub fn why_missing<T>(lang: Lang, section: &Section<T>) -> Option<String> {
    match section {
        Section::Available(_) => None,
        Section::Unavailable {
            unavailable,
            reason,
        } => Some(missing(lang, reason.as_ref(), unavailable)),
    }
}

/// Why a section is missing, in `lang`.
pub fn missing(lang: Lang, reason: Option<&Missing>, english: &str) -> String {
    let es = lang == Lang::Es;
    match reason {
        Some(Missing::NoScenario1Points) => lang
            .tr(
                "ninguna corrida del escenario 1 dio un punto de carga: correr `loadgen run \
                 scenario1` (una rampa o una búsqueda dan la curva)",
                "no scenario-1 load point: run `loadgen run scenario1` (a ramp or a search \
                 gives the curve)",
            )
            .to_owned(),
        Some(Missing::TooFewLevels { levels, needed }) if es => format!(
            "sin ajuste de escalabilidad: la USL necesita al menos {needed} niveles de \
             concurrencia distintos y se midieron {levels}; con menos, sus tres coeficientes \
             se ajustan a cualquier cosa y no significan nada (medir más niveles, p. ej. una \
             rampa con más tramos)"
        ),
        Some(Missing::DidNotConverge { iterations }) if es => format!(
            "sin ajuste de escalabilidad: el ajuste de la USL no convergió en {iterations} \
             iteraciones; los puntos no siguen una curva USL (buscar valores atípicos o \
             etapas de corridas o configuraciones distintas)"
        ),
        Some(Missing::UnphysicalFit {
            sigma,
            kappa,
            r_squared,
        }) if es => format!(
            "sin ajuste de escalabilidad: los mínimos cuadrados dieron σ = {}, κ = {} (R² {}), \
             coeficientes que ningún sistema tiene (σ debe estar entre 0 y 1 y κ no puede ser \
             negativo); el throughput bajó desde la carga más baja, y la USL no describe eso",
            lang.scientific(*sigma),
            lang.scientific(*kappa),
            lang.decimal(*r_squared, 2)
        ),
        Some(Missing::UnphysicalFit {
            sigma,
            kappa,
            r_squared,
        }) => format!(
            "no scalability fit: least squares landed on σ = {}, κ = {} (R² {}), coefficients \
             no system has (σ must lie in 0..1, κ must not be negative); throughput fell from \
             the lowest load, which the USL does not describe",
            lang.scientific(*sigma),
            lang.scientific(*kappa),
            lang.decimal(*r_squared, 2)
        ),
        Some(Missing::NoTaskFinished) => lang
            .tr(
                "ninguna tarea terminó, así que no hay tiempo de servicio con el que dimensionar",
                "no task finished, so there is no service time to size with",
            )
            .to_owned(),
        Some(Missing::Refused { model, message }) if es => {
            format!("el modelo {model} rechazó los datos; su mensaje: «{message}»")
        }
        Some(Missing::Refused { model, message }) => {
            format!("the {model} model refused the data; its message: “{message}”")
        }
        Some(_) => english.to_owned(),
        None if es => format!("motivo registrado por el análisis: «{english}»"),
        None => english.to_owned(),
    }
}

/// The generator machine: "vm (linux), 2 núcleos".
pub fn host(lang: Lang, run: &RunInfo) -> String {
    format!(
        "{}, {} {}",
        run.host,
        run.host_cores,
        lang.tr("núcleos", "cores")
    )
}

/// The target kinds: local stack, external, AWS.
pub fn stack_kind(lang: Lang, kind: &str) -> String {
    match kind {
        "local" => lang.tr("stack local", "local stack").to_owned(),
        "external" => lang.tr("objetivo externo", "external target").to_owned(),
        "aws" => "AWS".to_owned(),
        other => format!("«{other}»"),
    }
}

/// One line per distinct target: the local stack picks a new loopback port each time it
/// starts, so its runs collapse into "local stack at 127.0.0.1 (4 runs)".
pub fn targets(lang: Lang, runs: &[RunInfo]) -> Vec<String> {
    let mut seen: Vec<(String, String, usize, Vec<String>)> = Vec::new();
    for run in runs {
        let host = url_host(&run.target);
        let key = if is_loopback(&host) {
            host.clone()
        } else {
            run.target.clone()
        };
        match seen
            .iter_mut()
            .find(|(k, kind, _, _)| *k == key && *kind == run.stack)
        {
            Some((_, _, count, urls)) => {
                *count += 1;
                if !urls.contains(&run.target) {
                    urls.push(run.target.clone());
                }
            }
            None => seen.push((key, run.stack.clone(), 1, vec![run.target.clone()])),
        }
    }
    seen.into_iter()
        .map(|(key, kind, count, urls)| {
            let runs = match (lang, count) {
                (Lang::Es, 1) => "1 corrida".to_owned(),
                (Lang::Es, n) => format!("{n} corridas"),
                (Lang::En, 1) => "1 run".to_owned(),
                (Lang::En, n) => format!("{n} runs"),
            };
            let ports = if urls.len() > 1 {
                lang.tr(
                    ", un puerto por cada arranque del stack",
                    ", a port for each start of the stack",
                )
            } else {
                ""
            };
            format!(
                "{} {} `{key}` ({runs}{ports})",
                stack_kind(lang, &kind),
                lang.tr("en", "at")
            )
        })
        .collect()
}

fn url_host(url: &str) -> String {
    let rest = url.split("://").nth(1).unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host.to_owned(),
        _ => authority.to_owned(),
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost" || host == "[::1]" || host.starts_with("127.")
}

/// The local stack as it ran (`stack.json`), a line per item.
pub fn stack_lines(lang: Lang, d: &StackDescription) -> Vec<String> {
    let instances = format!(
        "{}: {} {}",
        lang.tr("instancias", "instances"),
        lang.decimal(d.instance_cpus, 1),
        lang.tr("CPU cada una", "CPU each"),
    );
    let mut lines = vec![match d.app.as_deref() {
        Some("inference") => format!(
            "{instances}; {}",
            lang.tr(
                "el servicio de inferencia de la semilla 000, sin grupo de workers",
                "seed 000's inference service, no worker group"
            )
        ),
        _ => format!(
            "{instances}; {} {}",
            lang.tr("concurrencia del worker", "worker concurrency"),
            d.worker_concurrency
        ),
    }];
    lines.push(format!(
        "{}: {}",
        lang.tr("balanceador", "load balancer"),
        match &d.balancer_settings {
            Some(b) => {
                let algorithm = match b.algorithm {
                    BalancerAlgorithm::LeastOutstandingRequests => {
                        lang.tr("menos peticiones pendientes", "least outstanding requests")
                    }
                    BalancerAlgorithm::RoundRobin => lang.tr("turno rotativo", "round robin"),
                };
                format!(
                    "{algorithm}; `{}` {} {} s, {} {} s, {} {}, {} {}; {} {} s",
                    b.health_path,
                    lang.tr("cada", "every"),
                    lang.tick(b.interval_s),
                    lang.tr("plazo", "timeout"),
                    lang.tick(b.timeout_s),
                    b.healthy_threshold,
                    lang.tr("para sano", "to healthy"),
                    b.unhealthy_threshold,
                    lang.tr("para no sano", "to unhealthy"),
                    lang.tr("drenaje", "draining"),
                    lang.tick(b.draining_s)
                )
            }
            None => recorded(lang, &d.balancer),
        }
    ));
    for g in &d.groups {
        let policies: Vec<String> = if g.policy_settings.is_empty() {
            g.policies.iter().map(|p| recorded(lang, p)).collect()
        } else {
            g.policy_settings.iter().map(|p| policy(lang, p)).collect()
        };
        lines.push(format!(
            "{} `{}`: {}–{} {}, {} {} s; {}: {}",
            lang.tr("grupo", "group"),
            g.name,
            g.min,
            g.max,
            lang.tr("instancias", "instances"),
            lang.tr("calentamiento", "warm-up"),
            lang.tick(g.warmup_secs),
            lang.tr("políticas", "policies"),
            if policies.is_empty() {
                lang.tr("ninguna", "none").to_owned()
            } else {
                policies.join("; ")
            }
        ));
    }
    lines
}

/// Text written by an older stack, in English: quoted and labelled in Spanish.
fn recorded(lang: Lang, text: &str) -> String {
    match lang {
        Lang::Es => format!("«{text}» (texto del stack)"),
        Lang::En => text.to_owned(),
    }
}

fn metric(lang: Lang, m: ScalingMetric) -> &'static str {
    match m {
        ScalingMetric::AvgCpu => lang.tr("CPU media %", "average CPU %"),
        ScalingMetric::RequestsPerTarget => {
            lang.tr("peticiones/s por destino", "requests/s per target")
        }
        ScalingMetric::LatencyP95 => lang.tr("latencia p95 ms", "p95 latency ms"),
        ScalingMetric::BacklogPerInstance => lang.tr(
            "mensajes en cola por instancia",
            "queue backlog per instance",
        ),
        ScalingMetric::QueueVisible => {
            lang.tr("mensajes visibles en cola", "visible queue messages")
        }
        ScalingMetric::Utilisation => lang.tr("utilización del worker %", "worker utilisation %"),
    }
}

/// A scaling policy with its thresholds.
pub fn policy(lang: Lang, p: &PolicyDescription) -> String {
    let n = |v: f64| lang.tick(v);
    match p {
        PolicyDescription::TargetTracking {
            name,
            metric: m,
            target,
        } => format!(
            "`{name}`: {} {} {}",
            lang.tr("seguimiento de objetivo,", "target tracking,"),
            metric(lang, *m),
            format_args!("{} {}", lang.tr("en", "at"), n(*target))
        ),
        PolicyDescription::StepScaling {
            name,
            metric: m,
            steps,
        } => format!(
            "`{name}`: {} {}, {steps} {}",
            lang.tr("escalado por pasos sobre", "step scaling on"),
            metric(lang, *m),
            lang.tr("pasos", "steps")
        ),
        PolicyDescription::Predictive {
            name,
            metric: m,
            target,
            cycle_s,
            buffer_s,
            scales,
        } => format!(
            "`{name}`: {} {} {} {}, {} {} s, {} s {}{}",
            lang.tr("escalado predictivo,", "predictive scaling,"),
            metric(lang, *m),
            lang.tr("en", "at"),
            n(*target),
            lang.tr("pronóstico desde", "forecast from"),
            n(*cycle_s),
            n(*buffer_s),
            lang.tr("de antelación", "ahead"),
            if *scales {
                ""
            } else {
                lang.tr(" (solo pronóstico)", " (forecast only)")
            }
        ),
        PolicyDescription::QueueRules {
            name,
            out_queue_above,
            out_utilisation_above,
            out_cpu_above,
            out_cooldown_s,
            in_queue_below,
            in_utilisation_below,
            in_sustain_s,
            in_cooldown_s,
        } => {
            let [
                queue_out,
                use_out,
                cpu_out,
                cool_out,
                queue_in,
                use_in,
                sustain,
                cool_in,
            ] = [
                out_queue_above,
                out_utilisation_above,
                out_cpu_above,
                out_cooldown_s,
                in_queue_below,
                in_utilisation_below,
                in_sustain_s,
                in_cooldown_s,
            ]
            .map(|v| n(*v));
            match lang {
                Lang::Es => format!(
                    "`{name}`: crece si la cola > {queue_out} o la utilización > {use_out} % o \
                     la CPU > {cpu_out} % (enfriamiento {cool_out} s); decrece si la cola < \
                     {queue_in} y la utilización < {use_in} % durante {sustain} s \
                     (enfriamiento {cool_in} s)"
                ),
                Lang::En => format!(
                    "`{name}`: out when queue > {queue_out} or utilisation > {use_out} % or CPU \
                     > {cpu_out} % (cooldown {cool_out} s); in when queue < {queue_in} and \
                     utilisation < {use_in} % for {sustain} s (cooldown {cool_in} s)"
                ),
            }
        }
    }
}

/// A time as a reader wants it: "2026-12-04 00:22:54 UTC".
pub fn time(t: time::OffsetDateTime) -> String {
    let readable =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.to_offset(time::UtcOffset::UTC)
        .format(&readable)
        .expect("a UTC time has every component of the format")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loadgens_stage_names_are_worded_and_the_users_quoted() {
        assert_eq!(stage_name(Lang::Es, "ramp to 60"), "rampa hasta 60");
        assert_eq!(stage_name(Lang::Es, "hold 0.125"), "meseta 0,125");
        assert_eq!(stage_name(Lang::En, "hold 0.125"), "hold 0.125");
        assert_eq!(stage_name(Lang::Es, "step3"), "escalón 3");
        assert_eq!(stage_name(Lang::Es, "warm caches"), "«warm caches»");
        assert_eq!(
            point_label(Lang::Es, "ramp to 60, 21–24 s (65e3)"),
            "rampa hasta 60, 21–24 s (65e3)"
        );
        assert_eq!(point_label(Lang::Es, "hold 60"), "meseta 60");
        assert_eq!(point_label(Lang::En, "hold 60 (ab12)"), "hold 60 (ab12)");
    }

    #[test]
    fn the_local_stacks_ports_collapse_into_one_target() {
        let run = |target: &str, stack: &str| RunInfo {
            target: target.into(),
            stack: stack.into(),
            ..serde_json::from_value(serde_json::json!({
                "run_id": "x", "scenario": "scenario1", "profile": "ramp", "target": "",
                "stack": "", "started_at": "2026-12-04T00:00:00Z", "ended_at": null,
                "requests": 0, "metric_rows": 0, "activities": 0, "tasks": 0
            }))
            .unwrap()
        };
        let runs = [
            run("http://127.0.0.1:32815", "local"),
            run("http://127.0.0.1:36319", "local"),
            run("http://anb-alb-1.us-east-1.elb.amazonaws.com", "aws"),
        ];
        assert_eq!(
            targets(Lang::Es, &runs),
            [
                "stack local en `127.0.0.1` (2 corridas, un puerto por cada arranque del stack)",
                "AWS en `http://anb-alb-1.us-east-1.elb.amazonaws.com` (1 corrida)"
            ]
        );
    }

    #[test]
    fn a_stack_description_reads_in_spanish() {
        let d: StackDescription = serde_json::from_value(serde_json::json!({
            "format_version": 2, "instance_cpus": 1.0, "worker_concurrency": 2,
            "balancer": "least outstanding requests; …",
            "balancer_settings": {"algorithm": "least_outstanding_requests",
                "health_path": "/health", "interval_s": 0.2, "timeout_s": 0.5,
                "healthy_threshold": 1, "unhealthy_threshold": 2, "draining_s": 0.5},
            "groups": [{"name": "web", "min": 1, "max": 3, "warmup_secs": 30.0,
                "policies": ["…"], "policy_settings": [{"type": "target_tracking",
                "name": "web-cpu-70", "metric": "avg_cpu", "target": 70.0}]}]
        }))
        .unwrap();
        assert_eq!(
            stack_lines(Lang::Es, &d),
            [
                "instancias: 1,0 CPU cada una; concurrencia del worker 2",
                "balanceador: menos peticiones pendientes; `/health` cada 0,20 s, plazo 0,50 s, \
                 1 para sano, 2 para no sano; drenaje 0,50 s",
                "grupo `web`: 1–3 instancias, calentamiento 30 s; políticas: `web-cpu-70`: \
                 seguimiento de objetivo, CPU media % en 70"
            ]
        );
        let inference = StackDescription {
            app: Some("inference".into()),
            ..d
        };
        assert_eq!(
            stack_lines(Lang::En, &inference)[0],
            "instances: 1.0 CPU each; seed 000's inference service, no worker group"
        );
    }

    #[test]
    fn load_models_read_in_both_languages() {
        assert_eq!(
            load_model(Lang::Es, LoadKind::Users, 60.0),
            "cerrado, hasta 60 usuarios"
        );
        assert_eq!(
            load_model(Lang::Es, LoadKind::Rate, 0.125),
            "abierto, hasta 0,125 llegadas/s"
        );
        assert_eq!(
            load_model(Lang::En, LoadKind::Rate, 12.5),
            "open, up to 12.5 arrivals/s"
        );
    }

    #[test]
    fn every_note_is_worded_in_spanish_without_its_english_text() {
        let notes = [
            Note::NoSummary {
                run_id: "r".into(),
                worker: true,
            },
            Note::NoSummary {
                run_id: "r".into(),
                worker: false,
            },
            Note::NoLoadPoint { run_id: "r".into() },
            Note::OtherLoadKindLeftOut {
                used: 3,
                kind: LoadKind::Rate,
                left_out: 2,
            },
            Note::UnjudgedPoints {
                points: vec!["hold 5 (ab12)".into()],
                min_samples: 110,
            },
            Note::PoorUslFit {
                r_squared: 0.57,
                threshold: 0.8,
            },
            Note::SkippedRun {
                path: "runs/x".into(),
                error: "bad".into(),
            },
            Note::Fetched {
                run_id: "r".into(),
                datapoints: 10,
                period_s: 60,
                activities: 2,
            },
            Note::FleetMerged {
                fleet: "f".into(),
                generators: 3,
            },
            Note::FleetIncomplete {
                fleet: "f".into(),
                missing: vec!["2/3".into()],
                present: 2,
            },
        ];
        for n in &notes {
            let es = note(Lang::Es, n);
            let en = note(Lang::En, n);
            assert_ne!(es, en, "{n:?}");
            assert!(!es.contains(" the "), "{es}");
            assert!(!en.contains(" los ") && !en.contains(" de "), "{en}");
        }
        assert!(note(Lang::Es, &notes[5]).contains("R² 0,57 < 0,8"));
        assert!(note(Lang::Es, &notes[4]).contains("meseta 5 (ab12)"));
    }
}

//! The report's reasoning sections, built from the analysis as sentences in the report's
//! language: how the numbers were made, the overall conclusions, the resource changes the
//! measurements support, what to consider to keep scaling, and the next round of tests.
//!
//! Every sentence quotes the measured figures it rests on (with their run or point); a
//! figure that is not measured (a projection, an AWS limit) says what it is. When the data
//! to judge something is missing, the sentence says so ("no data"), never a guess.

use capacity_model::analysis::{Advice, ConcurrencyVerdict};
use capacity_model::analysis::{
    Analysis, LoadKind, LoadPoint, Missing, RunInfo, Section, WorkerCell,
};
use capacity_model::{KneeReport, StagePoint};

use crate::Lang;
use crate::wording::{self, load_unit, point_claim, point_label};

/// AWS Academy's limits the course states (seed 001): instances and vCPUs per region.
pub const ACADEMY_MAX_INSTANCES: u32 = 9;
pub const ACADEMY_MAX_VCPUS: u32 = 32;
/// The instance size the course fixes for web and worker nodes, vCPUs.
pub const COURSE_INSTANCE_VCPUS: u32 = 2;
/// The course's scenario-2 design: video sizes (MB) and worker concurrencies.
pub const COURSE_SIZES_MB: [u64; 2] = [50, 100];
pub const COURSE_CONCURRENCIES: [u32; 3] = [1, 2, 4];

/// The report's reasoning sections.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Narrative {
    pub method: Vec<String>,
    pub conclusions: Vec<String>,
    pub resource_changes: Vec<String>,
    pub scaling_considerations: Vec<String>,
    pub test_plan: Vec<String>,
}

pub fn build(a: &Analysis, lang: Lang) -> Narrative {
    let facts = Facts::of(a);
    Narrative {
        method: method(a, &facts, lang),
        conclusions: conclusions(a, &facts, lang),
        resource_changes: resource_changes(a, &facts, lang),
        scaling_considerations: scaling_considerations(a, &facts, lang),
        test_plan: test_plan(a, &facts, lang),
    }
}

/// What several sections read.
struct Facts<'a> {
    scenario1: Vec<&'a RunInfo>,
    local: bool,
    aws: bool,
    cores: Option<usize>,
    knee: Option<(&'a KneeReport, LoadKind)>,
    best: Option<&'a StagePoint>,
    best_point: Option<&'a LoadPoint>,
    rps_per_instance: Option<f64>,
    web_max: Option<u32>,
    worker_max: Option<u32>,
    instance_cpus: Option<f64>,
}

impl<'a> Facts<'a> {
    fn of(a: &'a Analysis) -> Facts<'a> {
        let scenario1: Vec<&RunInfo> = a
            .runs
            .iter()
            .filter(|r| r.scenario != "scenario2")
            .collect();
        let knee = a.capacity.available().map(|c| (&c.knee, c.load_kind));
        let best = knee.and_then(|(k, _)| k.best_within_slo.as_ref());
        let best_point = best.and_then(|b| point_of(a, b));
        let stack = a.runs.iter().find_map(|r| r.stack_config.as_ref());
        let group_max = |role: &str| {
            stack.and_then(|s| {
                s.groups
                    .iter()
                    .find(|g| g.name.contains(role))
                    .map(|g| g.max)
            })
        };
        Facts {
            local: a.runs.iter().any(|r| r.stack == "local"),
            aws: a.runs.iter().any(|r| r.stack == "aws"),
            cores: a.runs.iter().map(|r| r.host_cores).filter(|c| *c > 0).min(),
            knee,
            best,
            best_point,
            rps_per_instance: a.capacity.available().and_then(|c| c.rps_per_instance),
            web_max: group_max("web"),
            worker_max: group_max("worker"),
            instance_cpus: stack.map(|s| s.instance_cpus),
            scenario1,
        }
    }
}

/// The load point a knee stage was made from: where the analysis says it is, or in an
/// analysis written before it said so, the point its label names ("hold 60 (65e3)").
fn point_of<'a>(a: &'a Analysis, p: &StagePoint) -> Option<&'a LoadPoint> {
    let capacity = a.capacity.available()?;
    if !capacity.judged_points.is_empty() {
        return capacity.load_point(&a.stages, p);
    }
    a.stages
        .iter()
        .find(|s| s.knee_label() == p.label && s.load == p.load)
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / 1e6
}

fn method(a: &Analysis, f: &Facts, lang: Lang) -> Vec<String> {
    let d = |v: f64, places| lang.decimal(v, places);
    let mut out = Vec::new();
    let mut hosts: Vec<String> = a.runs.iter().map(|r| wording::host(lang, r)).collect();
    hosts.sort();
    hosts.dedup();
    out.push(format!(
        "{} {}.",
        lang.tr(
            "Generador de carga: loadgen (sobre Goose), en",
            "Load generator: loadgen (on Goose), on"
        ),
        hosts.join("; ")
    ));
    if f.local {
        let mut line = lang
            .tr(
                "Objetivo: el stack local de aforo, que imita ALB, EC2 Auto Scaling y \
                 CloudWatch en una sola máquina, la misma del generador",
                "Target: aforo's local stack, which imitates ALB, EC2 Auto Scaling and \
                 CloudWatch on one machine, the generator's own",
            )
            .to_owned();
        if let (Some(cores), Some(cpus)) = (f.cores, f.instance_cpus) {
            line.push_str(&match lang {
                Lang::Es => format!(
                    ": sus {cores} núcleos los comparten el generador, el balanceador, las \
                     instancias web (hasta {}, de {} CPU cada una), los workers (hasta {}) y \
                     la base de datos",
                    f.web_max.map_or("–".into(), |m| m.to_string()),
                    d(cpus, 1),
                    f.worker_max.map_or("–".into(), |m| m.to_string())
                ),
                Lang::En => format!(
                    ": its {cores} cores are shared by the generator, the balancer, the web \
                     instances (up to {}, {} CPU each), the workers (up to {}) and the \
                     database",
                    f.web_max.map_or("–".into(), |m| m.to_string()),
                    d(cpus, 1),
                    f.worker_max.map_or("–".into(), |m| m.to_string())
                ),
            });
        }
        line.push('.');
        out.push(line);
    }
    if f.aws {
        out.push(
            lang.tr(
                "Objetivo: el despliegue en AWS (ALB, grupos de Auto Scaling, SQS, S3, RDS); \
                 el generador corrió fuera de él, y la telemetría es la de CloudWatch del \
                 mismo intervalo.",
                "Target: the AWS deployment (ALB, Auto Scaling groups, SQS, S3, RDS); the \
                 generator ran outside it, and the telemetry is CloudWatch's for the same \
                 window.",
            )
            .to_owned(),
        );
    }
    if a.runs.iter().any(|r| r.stack == "external") {
        out.push(
            lang.tr(
                "Objetivo externo (ni el stack local ni un despliegue de AWS conocido): sin \
                 telemetría del servidor, solo lo que midió el generador.",
                "An external target (neither the local stack nor a known AWS deployment): no \
                 server telemetry, only what the generator measured.",
            )
            .to_owned(),
        );
    }
    for r in &f.scenario1 {
        let model = match (r.load_kind, r.max_load) {
            (Some(kind), Some(max)) => wording::load_model(lang, kind, max),
            _ => r.load.clone(),
        };
        let think = match (
            &r.workload.think_time,
            r.workload.pacing_s,
            r.workload.think_time_s,
        ) {
            (given, Some(pacing), _) => format!(
                "{} {} s{}",
                lang.tr(
                    "cada usuario empieza una iteración como mucho cada",
                    "each user starts an iteration at most every"
                ),
                d(pacing, 1),
                given.as_ref().map_or(String::new(), |t| format!(
                    " ({} {t})",
                    lang.tr("y piensa", "and thinks")
                ))
            ),
            (Some(given), None, Some(z)) => format!(
                "{} {given} ({} {} s {})",
                lang.tr("tiempo de reflexión", "think time"),
                lang.tr("en promedio", "on average"),
                d(z, 2),
                lang.tr("por petición", "per request")
            ),
            (_, None, think) => match think {
                Some(t) if t <= 0.0 => lang
                    .tr(
                        "sin tiempo de reflexión (cada usuario envía su siguiente petición al \
                     recibir la respuesta, así que genera mucha más carga que una persona)",
                        "no think time (each user sends its next request when the answer \
                     arrives, so it loads the system far more than a person)",
                    )
                    .to_owned(),
                Some(t) => format!(
                    "{} {} s",
                    lang.tr("tiempo de reflexión", "think time"),
                    d(t, 1)
                ),
                None => lang
                    .tr(
                        "tiempo de reflexión no registrado",
                        "think time not recorded",
                    )
                    .to_owned(),
            },
        };
        let upload = r.workload.upload_bytes.map_or(String::new(), |b| {
            format!(
                "; {} {} MB",
                lang.tr(
                    "cada subida es un MP4 válido de",
                    "each upload is a valid MP4 of"
                ),
                d(mb(b), 1)
            )
        });
        out.push(format!(
            "`{}` ({}, {} {}): {model}; {think}{upload}.",
            rundir::short_run_id(&r.run_id),
            wording::scenario(lang, &r.scenario),
            lang.tr("perfil", "profile"),
            wording::profile(lang, &r.profile),
        ));
    }
    let mut sizes: Vec<(u64, u32)> = a
        .workers
        .iter()
        .map(|w| (w.size_bytes, w.concurrency))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    if !sizes.is_empty() {
        let cells: Vec<String> = sizes
            .iter()
            .map(|(size, c)| {
                format!(
                    "{} MB × {} {c}",
                    d(mb(*size), 0),
                    lang.tr("concurrencia", "concurrency")
                )
            })
            .collect();
        out.push(format!(
            "{} {}.",
            lang.tr(
                "Escenario 2: tareas inyectadas directamente en la cola (sin la capa web), \
                 videos MP4 válidos; celdas medidas:",
                "Scenario 2: tasks injected straight into the queue (no web layer), valid MP4 \
                 videos; cells measured:"
            ),
            cells.join(", ")
        ));
    }
    let mut scales: Vec<f64> = a
        .runs
        .iter()
        .map(|r| r.time_scale)
        .filter(|s| *s > 0.0)
        .collect();
    scales.sort_by(f64::total_cmp);
    scales.dedup();
    if scales.iter().any(|s| (s - 1.0).abs() > 1e-9) {
        let list: Vec<String> = scales.iter().map(|s| d(*s, 2)).collect();
        out.push(match lang {
            Lang::Es => format!(
                "Escala de tiempo {}: las duraciones del perfil se multiplicaron por ese factor \
                 (con 0,2, la rampa de 3 min del curso dura 36 s); etapas más cortas dan menos \
                 muestras por punto.",
                list.join(", ")
            ),
            Lang::En => format!(
                "Time scale {}: the profile's durations were multiplied by it (at 0.2 the \
                 course's 3-minute ramp lasts 36 s); shorter stages give fewer samples per \
                 point.",
                list.join(", ")
            ),
        });
    }
    out.push(
        lang.tr(
            "Medición: la latencia de cada petición se registra en histogramas HDR (3 cifras \
             significativas) desde su envío (modelo cerrado) o su llegada programada (modelo \
             abierto) hasta la respuesta; el throughput (req/s) cuenta las respuestas llegadas \
             en la ventana de cada punto, y cada cifra de capacidad sale de un solo punto de \
             carga con su tamaño de muestra.",
            "Measurement: each request's latency is recorded in HDR histograms (3 significant \
             digits) from when it was sent (closed model) or due (open model) to its answer; \
             throughput (req/s) counts the answers that arrived in each point's window, and \
             every capacity figure comes from one load point with its sample size.",
        )
        .to_owned(),
    );
    if f.local && !f.aws {
        out.push(match lang {
            Lang::Es => format!(
                "Cómo leer estas cifras: es un ensayo local en una máquina de {} núcleos, no \
                 una medición en AWS. Muestra el comportamiento relativo (qué se satura \
                 primero, cómo reacciona el autoescalado, si la cola es estable); las cifras \
                 absolutas no se trasladan a instancias de {COURSE_INSTANCE_VCPUS} vCPU.",
                f.cores.map_or("–".into(), |c| c.to_string())
            ),
            Lang::En => format!(
                "How to read these figures: this is a local rehearsal on one {}-core machine, \
                 not a measurement on AWS. It shows relative behaviour (what saturates first, \
                 how autoscaling reacts, whether the queue is stable); the absolute figures do \
                 not carry over to {COURSE_INSTANCE_VCPUS}-vCPU instances.",
                f.cores.map_or("–".into(), |c| c.to_string())
            ),
        });
    }
    out
}

fn conclusions(a: &Analysis, f: &Facts, lang: Lang) -> Vec<String> {
    let d = |v: f64, places| lang.decimal(v, places);
    let mut out = Vec::new();
    match f.knee {
        Some((k, kind)) => {
            if let Some(b) = k.first_breach().filter(|_| k.last_within_slo().is_none()) {
                out.push(format!(
                    "{} {}.",
                    lang.tr(
                        "Capa web: el SLO se incumple ya en la carga más baja probada,",
                        "Web tier: the SLO breaks at the lowest load tested already,"
                    ),
                    point_claim(lang, kind, &b.stage)
                ));
            } else if let Some(last) = k.last_within_slo() {
                let claim = point_claim(lang, kind, last);
                out.push(if k.capacity_is_lower_bound {
                    format!(
                        "{} {claim} {}",
                        lang.tr(
                            "Capa web: cumple el SLO en todas las cargas probadas, al menos",
                            "Web tier: within the SLO at every load tested, at least"
                        ),
                        lang.tr(
                            "(cota inferior: no se alcanzó el quiebre).",
                            "(a lower bound: the knee was not reached)."
                        )
                    )
                } else {
                    format!(
                        "{} {claim}; {} {}.",
                        lang.tr(
                            "Capa web: carga máxima dentro del SLO:",
                            "Web tier: highest load within the SLO:"
                        ),
                        lang.tr("se rompe en", "it breaks at"),
                        k.first_breach()
                            .map_or("–".into(), |b| point_claim(lang, kind, &b.stage))
                    )
                });
            }
            match k.leading_kpis.first() {
                Some(kpi) => out.push(format!(
                    "{} `{}` = {} {} {} ({} {}).",
                    lang.tr(
                        "Primer recurso en degradarse:",
                        "First resource to degrade:"
                    ),
                    kpi.kpi,
                    d(kpi.value, 1),
                    lang.tr("en", "at"),
                    point_label(lang, &kpi.stage.label),
                    lang.tr("límite", "limit"),
                    d(kpi.limit.value(), 1)
                )),
                None => out.push(
                    lang.tr(
                        "Ningún KPI de recursos de la capa web pasó su límite en los puntos \
                         medidos: el cuello de botella de la capa web no está identificado.",
                        "No resource KPI of the web tier passed its limit at the points \
                         measured: the web tier's bottleneck is not identified.",
                    )
                    .to_owned(),
                ),
            }
        }
        None => out.push(
            lang.tr(
                "Capa web: sin modelo de capacidad (ver la sección del escenario 1).",
                "Web tier: no capacity model (see the scenario 1 section).",
            )
            .to_owned(),
        ),
    }
    for w in &a.workers {
        out.push(worker_conclusion(w, lang));
    }
    let outs = a.scale_outs.len();
    let ins = a.scale_ins.len();
    let flaps = a.scale_ins.iter().filter(|s| s.flapped).count();
    let reactions: Vec<f64> = a
        .scale_outs
        .iter()
        .filter_map(|s| s.activity_to_in_service_s)
        .collect();
    let mean_reaction =
        (!reactions.is_empty()).then(|| reactions.iter().sum::<f64>() / reactions.len() as f64);
    out.push(match lang {
        Lang::Es => format!(
            "Autoescalado: {outs} escalados hacia afuera (actividad → en servicio: {} s de \
             media) y {ins} hacia adentro{}.",
            mean_reaction.map_or("sin datos".into(), |m| d(m, 0)),
            if ins == 0 {
                " en la ventana analizada".to_owned()
            } else {
                format!(", {flaps} de ellos con oscilación")
            }
        ),
        Lang::En => format!(
            "Autoscaling: {outs} scale-outs (activity → in service: {} s on average) and {ins} \
             scale-ins{}.",
            mean_reaction.map_or("no data".into(), |m| d(m, 0)),
            if ins == 0 {
                " in the window analysed".to_owned()
            } else {
                format!(", {flaps} of them flapping")
            }
        ),
    });
    let thin: Vec<&str> = a
        .latency
        .iter()
        .filter(|e| e.p95_ms.is_some() && !e.p95_judges(a.settings.slo.p95_ms))
        .map(|e| e.endpoint.as_str())
        .collect();
    if !thin.is_empty() {
        out.push(format!(
            "{} {}.",
            lang.tr(
                "Muestra insuficiente para juzgar el p95 (menos de 110 latencias) en:",
                "Too few samples to judge the p95 (fewer than 110 latencies) of:"
            ),
            thin.iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out
}

fn worker_conclusion(w: &WorkerCell, lang: Lang) -> String {
    let d = |v: f64, places| lang.decimal(v, places);
    let cell = format!(
        "{} MB, {} {}, {} {}",
        d(mb(w.size_bytes), 0),
        w.workers,
        lang.tr("worker(s)", "worker(s)"),
        lang.tr("concurrencia", "concurrency"),
        w.concurrency
    );
    let measured = match lang {
        Lang::Es => format!(
            "{} videos/min medidos ({} procesados en {} s, S media {} s)",
            d(w.videos_per_minute, 2),
            w.processed,
            d(w.duration_s, 0),
            d(w.service_mean_s, 1)
        ),
        Lang::En => format!(
            "{} videos/min measured ({} processed in {} s, mean S {} s)",
            d(w.videos_per_minute, 2),
            w.processed,
            d(w.duration_s, 0),
            d(w.service_mean_s, 1)
        ),
    };
    let verdict = match (w.max_stable_per_minute, w.saturated_at_per_minute) {
        (Some(stable), Some(unstable)) => format!(
            "{} {} {} {}",
            lang.tr("estable hasta", "stable up to"),
            d(stable, 2),
            lang.tr(
                "llegadas/min, inestable desde",
                "arrivals/min, unstable from"
            ),
            d(unstable, 2)
        ),
        (None, Some(unstable)) => format!(
            "{} {} {}",
            lang.tr(
                "ningún escalón estable; inestable ya a",
                "no stable step; unstable already at"
            ),
            d(unstable, 2),
            lang.tr("llegadas/min", "arrivals/min")
        ),
        (Some(stable), None) => format!(
            "{} {} {}",
            lang.tr(
                "estable en todos los escalones, hasta",
                "stable at every step, up to"
            ),
            d(stable, 2),
            lang.tr("llegadas/min", "arrivals/min")
        ),
        (None, None) => {
            if w.queue_verdict.is_growing() {
                lang.tr("la cola creció", "the queue grew").to_owned()
            } else {
                lang.tr("la cola no creció", "the queue did not grow")
                    .to_owned()
            }
        }
    };
    format!(
        "{} ({cell}, `{}`): {measured}; {verdict}.",
        lang.tr("Capa worker", "Worker tier"),
        rundir::short_run_id(&w.run_id)
    )
}

/// The web CPU (mean of the web groups' CPU KPIs) at a point.
fn web_cpu(p: &LoadPoint) -> Option<f64> {
    let values: Vec<f64> = p
        .kpis
        .iter()
        .filter(|(k, _)| k.starts_with("cpu_percent:") && k.contains("web"))
        .map(|(_, v)| *v)
        .collect();
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn resource_changes(a: &Analysis, f: &Facts, lang: Lang) -> Vec<String> {
    let d = |v: f64, places| lang.decimal(v, places);
    let mut out = Vec::new();
    // Web instances.
    if let Some((k, kind)) = f.knee {
        let cpu_kpi = k
            .leading_kpis
            .iter()
            .find(|l| l.kpi.starts_with("cpu_percent:"));
        out.push(match (cpu_kpi, f.best, f.best_point) {
            (Some(cpu), _, _) => match lang {
                Lang::Es => format!(
                    "Instancias web: la CPU (`{}`) llega a {} % en {}, por encima de su límite \
                     de {} %: usar un tamaño con más vCPU (AWS Academy permite hasta large) o \
                     bajar el objetivo de CPU de la política para escalar antes.",
                    cpu.kpi,
                    d(cpu.value, 0),
                    point_label(lang, &cpu.stage.label),
                    d(cpu.limit.value(), 0)
                ),
                Lang::En => format!(
                    "Web instances: CPU (`{}`) reaches {} % at {}, over its limit of {} %: use \
                     a size with more vCPUs (AWS Academy allows up to large) or lower the \
                     policy's CPU target to scale out earlier.",
                    cpu.kpi,
                    d(cpu.value, 0),
                    point_label(lang, &cpu.stage.label),
                    d(cpu.limit.value(), 0)
                ),
            },
            (None, Some(best), Some(point)) => {
                let cpu = web_cpu(point).map_or(lang.tr("sin datos", "no data").into(), |c| {
                    format!("{} %", d(c, 0))
                });
                match lang {
                    Lang::Es => format!(
                        "Instancias web: sin evidencia para cambiar el tamaño: en el punto de \
                         mayor throughput dentro del SLO ({}) la CPU web media fue {cpu} con \
                         {} instancias en servicio.",
                        point_claim(lang, kind, best),
                        point.healthy_hosts().map_or("–".into(), |h| d(h, 1))
                    ),
                    Lang::En => format!(
                        "Web instances: no evidence to change their size: at the highest \
                         throughput within the SLO ({}) the mean web CPU was {cpu} with {} \
                         instances in service.",
                        point_claim(lang, kind, best),
                        point.healthy_hosts().map_or("–".into(), |h| d(h, 1))
                    ),
                }
            }
            _ => lang
                .tr(
                    "Instancias web: sin un punto dentro del SLO no hay base para recomendar un \
                     tamaño; corregir primero el incumplimiento de la carga más baja.",
                    "Web instances: without a point within the SLO there is no basis for a \
                     size; fix the breach at the lowest load first.",
                )
                .to_owned(),
        });
    }
    // Worker concurrency, per video size: the analysis's verdict, with its figures.
    for r in capacity_model::advice::of(a) {
        let Advice::WorkerConcurrency {
            size_bytes,
            low,
            high,
            gain,
            verdict,
        } = r.advice
        else {
            continue;
        };
        let size = d(mb(size_bytes), 0);
        if verdict == ConcurrencyVerdict::MeasureMore {
            out.push(match lang {
                Lang::Es => format!(
                    "Concurrencia del worker ({size} MB): solo se midió {} ({} videos/min); medir \
                     2 y 4 antes de cambiarla.",
                    low.concurrency,
                    d(low.videos_per_minute, 2)
                ),
                Lang::En => format!(
                    "Worker concurrency ({size} MB): only {} was measured ({} videos/min); measure \
                     2 and 4 before changing it.",
                    low.concurrency,
                    d(low.videos_per_minute, 2)
                ),
            });
            continue;
        }
        let cpu = high
            .worker_cpu_percent
            .map_or(lang.tr("sin datos", "no data").to_owned(), |c| {
                format!("{} %", d(c, 0))
            });
        let figures = format!(
            "X {} → {} videos/min, `{}` → `{}`",
            d(low.videos_per_minute, 2),
            d(high.videos_per_minute, 2),
            rundir::short_run_id(&low.run_id),
            rundir::short_run_id(&high.run_id)
        );
        out.push(if verdict == ConcurrencyVerdict::Keep {
            match lang {
                Lang::Es => format!(
                    "Concurrencia del worker ({size} MB): pasar de {} a {} no aumenta el throughput \
                     ({figures}; CPU del worker {cpu}): el worker está limitado por CPU; dejar \
                     la concurrencia en {} y escalar con más instancias worker, no con más \
                     hilos.",
                    low.concurrency,
                    high.concurrency,
                    low.concurrency
                ),
                Lang::En => format!(
                    "Worker concurrency ({size} MB): going from {} to {} does not raise throughput \
                     ({figures}; worker CPU {cpu}): the worker is CPU-bound; keep concurrency \
                     at {} and scale with more worker instances, not more threads.",
                    low.concurrency,
                    high.concurrency,
                    low.concurrency
                ),
            }
        } else {
            match lang {
                Lang::Es => format!(
                    "Concurrencia del worker ({size} MB): subirla de {} a {} aumenta el throughput \
                     un {} % ({figures}; CPU del worker {cpu}): configurar {}.",
                    low.concurrency,
                    high.concurrency,
                    d(gain * 100.0, 0),
                    high.concurrency
                ),
                Lang::En => format!(
                    "Worker concurrency ({size} MB): raising it from {} to {} raises throughput by \
                     {} % ({figures}; worker CPU {cpu}): configure {}.",
                    low.concurrency,
                    high.concurrency,
                    d(gain * 100.0, 0),
                    high.concurrency
                ),
            }
        });
    }
    // Database class.
    let db_limit = f.knee.and_then(|(k, _)| {
        k.leading_kpis
            .iter()
            .find(|l| l.kpi.starts_with("db_cpu_percent:"))
    });
    let db_max = a
        .stages
        .iter()
        .flat_map(|p| {
            p.kpis
                .iter()
                .filter(|(k, _)| k.starts_with("db_cpu_percent:"))
                .map(move |(_, v)| (*v, p))
        })
        .max_by(|x, y| x.0.total_cmp(&y.0));
    out.push(match (db_limit, db_max) {
        (Some(db), _) => match lang {
            Lang::Es => format!(
                "Base de datos: su CPU (`{}`) llega a {} % en {}, por encima de {} %: una clase \
                 de instancia RDS mayor, réplicas de lectura para los listados, o menos \
                 consultas por petición; más instancias web no ayudarán.",
                db.kpi,
                d(db.value, 0),
                point_label(lang, &db.stage.label),
                d(db.limit.value(), 0)
            ),
            Lang::En => format!(
                "Database: its CPU (`{}`) reaches {} % at {}, over {} %: a larger RDS instance \
                 class, read replicas for the listings, or fewer queries per request; more web \
                 instances will not help.",
                db.kpi,
                d(db.value, 0),
                point_label(lang, &db.stage.label),
                d(db.limit.value(), 0)
            ),
        },
        (None, Some((v, p))) => match lang {
            Lang::Es => format!(
                "Base de datos: CPU máxima {} % (en {}): sin evidencia para cambiar de clase.",
                d(v, 0),
                point_label(lang, &p.label)
            ),
            Lang::En => format!(
                "Database: highest CPU {} % (at {}): no evidence to change its class.",
                d(v, 0),
                point_label(lang, &p.label)
            ),
        },
        (None, None) => lang
            .tr(
                "Base de datos: sin métricas de la base de datos en estas corridas (sin datos): \
                 no se puede recomendar una clase; en AWS, `analyze` lee CPUUtilization de RDS \
                 si el stack la declara.",
                "Database: no database metrics in these runs (no data): no class can be \
                 recommended; on AWS, `analyze` reads RDS CPUUtilization when the stack \
                 declares it.",
            )
            .to_owned(),
    });
    out
}

fn scaling_considerations(a: &Analysis, f: &Facts, lang: Lang) -> Vec<String> {
    let d = |v: f64, places| lang.decimal(v, places);
    let mut out = Vec::new();
    if let (Some(per), Some(max)) = (f.rps_per_instance, f.web_max) {
        // No knee reached: the instance had room left, so the rate is a floor.
        let below_limit = f.knee.is_some_and(|(k, _)| k.capacity_is_lower_bound);
        out.push(match lang {
            Lang::Es => format!(
                "Proyección, no medición: a {} req/s por instancia (medido en el punto de \
                 mayor throughput dentro del SLO{}), las {max} instancias web que permite el \
                 grupo darían {} {} req/s si el crecimiento fuera lineal y la base de datos y \
                 el almacenamiento no se saturaran; solo una prueba a esa carga lo confirma.",
                d(per, 1),
                if below_limit {
                    ", sin llegar al límite de la instancia"
                } else {
                    ""
                },
                if below_limit { "al menos" } else { "unas" },
                d(per * f64::from(max), 0)
            ),
            Lang::En => format!(
                "A projection, not a measurement: at {} req/s per instance (measured at the \
                 highest throughput within the SLO{}), the group's {max} web instances would give \
                 {} {} req/s if growth were linear and the database and storage did not \
                 saturate; only a test at that load confirms it.",
                d(per, 1),
                if below_limit {
                    ", short of the instance's limit"
                } else {
                    ""
                },
                if below_limit { "at least" } else { "about" },
                d(per * f64::from(max), 0)
            ),
        });
    }
    let worker_capacity = a
        .workers
        .iter()
        .filter(|w| w.workers > 0)
        .filter_map(|w| w.capacity_per_minute.map(|c| (c / f64::from(w.workers), w)))
        .max_by(|x, y| x.0.total_cmp(&y.0));
    if let (Some((per_instance, w)), Some(max)) = (worker_capacity, f.worker_max) {
        out.push(match lang {
            Lang::Es => format!(
                "Proyección, no medición: cada instancia worker (concurrencia {}, videos de {} \
                 MB) termina como mucho {} videos/min (slots × 60 / S medido); con las {max} \
                 instancias del grupo serían unos {} videos/min, si el almacenamiento y la cola \
                 no limitan antes.",
                w.concurrency,
                d(mb(w.size_bytes), 0),
                d(per_instance, 2),
                d(per_instance * f64::from(max), 1)
            ),
            Lang::En => format!(
                "A projection, not a measurement: each worker instance (concurrency {}, {} MB \
                 videos) finishes at most {} videos/min (slots × 60 / measured S); the group's \
                 {max} instances would do about {} videos/min, if storage and the queue do not \
                 limit first.",
                w.concurrency,
                d(mb(w.size_bytes), 0),
                d(per_instance, 2),
                d(per_instance * f64::from(max), 1)
            ),
        });
    }
    let web = f.web_max.unwrap_or(3);
    let worker = f.worker_max.unwrap_or(3);
    let used = web + worker;
    out.push(match lang {
        Lang::Es => format!(
            "Límites de AWS Academy (enunciado, no medidos): {ACADEMY_MAX_INSTANCES} \
             instancias y {ACADEMY_MAX_VCPUS} vCPU por región. Con {web} web y {worker} \
             workers de {COURSE_INSTANCE_VCPUS} vCPU se usan {used} instancias y {} vCPU; \
             crecer más allá exige instancias mayores (hasta large) en vez de más instancias.",
            used * COURSE_INSTANCE_VCPUS
        ),
        Lang::En => format!(
            "AWS Academy's limits (the course's, not measured): {ACADEMY_MAX_INSTANCES} \
             instances and {ACADEMY_MAX_VCPUS} vCPUs per region. {web} web and {worker} worker \
             instances of {COURSE_INSTANCE_VCPUS} vCPUs use {used} instances and {} vCPUs; \
             growing beyond needs larger instances (up to large), not more of them.",
            used * COURSE_INSTANCE_VCPUS
        ),
    });
    let bytes: f64 = a.latency.iter().map(|e| e.kb_per_s).sum();
    if let Some(upload) = a.latency.iter().find(|e| e.endpoint == "upload")
        && bytes > 0.0
    {
        let share = upload.kb_per_s / bytes * 100.0;
        out.push(match lang {
            Lang::Es => format!(
                "Las subidas son el {} % de los bytes que movió la capa web ({} de {} KB/s en \
                 el escenario 1): subir directamente a S3 con URLs prefirmadas quitaría ese \
                 tráfico de las instancias web.",
                d(share, 0),
                d(upload.kb_per_s, 0),
                d(bytes, 0)
            ),
            Lang::En => format!(
                "Uploads are {} % of the bytes the web tier moved ({} of {} KB/s in scenario \
                 1): uploading straight to S3 with presigned URLs would take that traffic off \
                 the web instances.",
                d(share, 0),
                d(upload.kb_per_s, 0),
                d(bytes, 0)
            ),
        });
    }
    if let Some(slow) = a
        .scale_outs
        .iter()
        .filter_map(|s| s.activity_to_in_service_s.map(|t| (t, s)))
        .max_by(|x, y| x.0.total_cmp(&y.0))
    {
        out.push(match lang {
            Lang::Es => format!(
                "El escalado más lento tardó {} s de la actividad al servicio (grupo `{}`, \
                 `{}`): ante picos, una AMI con la aplicación preinstalada o un calentamiento \
                 más corto reducen ese tiempo; escalar los workers por mensajes en cola por \
                 instancia anticipa la demanda.",
                d(slow.0, 0),
                slow.1.group,
                rundir::short_run_id(&slow.1.run_id)
            ),
            Lang::En => format!(
                "The slowest scale-out took {} s from activity to service (group `{}`, `{}`): \
                 for spikes, an AMI with the application pre-installed or a shorter warm-up \
                 cut that time; scaling workers on queue backlog per instance anticipates \
                 demand.",
                d(slow.0, 0),
                slow.1.group,
                rundir::short_run_id(&slow.1.run_id)
            ),
        });
    }
    out.push(
        lang.tr(
            "Con más instancias web crece el número de conexiones a la base de datos (pool por \
             instancia × instancias): dimensionar el pool para que el total quede por debajo \
             del máximo de conexiones de la clase RDS.",
            "More web instances mean more database connections (pool per instance × \
             instances): size the pool so the total stays below the RDS class's connection \
             limit.",
        )
        .to_owned(),
    );
    out
}

fn test_plan(a: &Analysis, f: &Facts, lang: Lang) -> Vec<String> {
    let d = |v: f64, places| lang.decimal(v, places);
    let mut out = Vec::new();
    if let Some((k, kind)) = f.knee {
        let flag = match kind {
            LoadKind::Users => "--users",
            LoadKind::Rate => "--rate",
        };
        let unit = load_unit(lang, kind);
        if let (true, Some(last)) = (k.capacity_is_lower_bound, k.last_within_slo()) {
            let next = (last.load * 2.0).ceil();
            out.push(match lang {
                Lang::Es => format!(
                    "Escenario 1, rampa más alta: de 0 a {} {unit} en 3 min y meseta de 5 min \
                     (`loadgen run scenario1 --profile ramp {flag} {next}`), porque hasta {} \
                     {unit} no se encontró el quiebre.",
                    d(next, 0),
                    d(last.load, 1)
                ),
                Lang::En => format!(
                    "Scenario 1, a higher ramp: 0 to {} {unit} in 3 min and a 5-min hold \
                     (`loadgen run scenario1 --profile ramp {flag} {next}`), because no knee \
                     was found up to {} {unit}.",
                    d(next, 0),
                    d(last.load, 1)
                ),
            });
        } else if let (Some(last), Some(breach)) = (k.last_within_slo(), k.first_breach()) {
            out.push(match lang {
                Lang::Es => format!(
                    "Escenario 1, afinar el quiebre: búsqueda entre {} y {} {unit} \
                     (`loadgen run scenario1 --profile search --search-start {}`), porque el \
                     SLO se cumple en {} y se rompe en {}.",
                    d(last.load, 1),
                    d(breach.stage.load, 1),
                    last.load.floor(),
                    point_label(lang, &last.label),
                    point_label(lang, &breach.stage.label)
                ),
                Lang::En => format!(
                    "Scenario 1, narrow the knee: a search between {} and {} {unit} (`loadgen \
                     run scenario1 --profile search --search-start {}`), because the SLO holds \
                     at {} and breaks at {}.",
                    d(last.load, 1),
                    d(breach.stage.load, 1),
                    last.load.floor(),
                    point_label(lang, &last.label),
                    point_label(lang, &breach.stage.label)
                ),
            });
        }
        // The course: 80 % of X, X the highest load that held (not the fastest point).
        if let Some(last) = k.last_within_slo() {
            let sustained = (last.load * 0.8).floor().max(1.0);
            let unit = wording::load_unit_for(lang, kind, sustained);
            out.push(match lang {
                Lang::Es => format!(
                    "Escenario 1, sostenida corta: 5 min al 80 % de la mayor carga dentro del \
                     SLO, {} {unit} (`loadgen run scenario1 --profile sustained {flag} {}`), \
                     para confirmar que se mantiene.",
                    d(sustained, 0),
                    sustained
                ),
                Lang::En => format!(
                    "Scenario 1, short sustained: 5 min at 80 % of the highest load within the \
                     SLO, {} {unit} (`loadgen run scenario1 --profile sustained {flag} {}`), to \
                     confirm it holds.",
                    d(sustained, 0),
                    sustained
                ),
            });
        }
    }
    let thin: Vec<String> = a
        .latency
        .iter()
        .filter(|e| e.p95_ms.is_some() && !e.p95_judges(a.settings.slo.p95_ms))
        .map(|e| format!("`{}` ({})", e.endpoint, e.latency_samples))
        .collect();
    if !thin.is_empty() {
        out.push(format!(
            "{} {}.",
            lang.tr(
                "Sostener cada carga más tiempo o con más usuarios hasta reunir 110 latencias \
                 por endpoint, para poder juzgar el p95 de",
                "Hold each load longer or with more users until each endpoint has 110 \
                 latencies, to judge the p95 of"
            ),
            thin.join(", ")
        ));
    }
    if a.runs
        .iter()
        .any(|r| r.time_scale > 0.0 && r.time_scale < 1.0)
    {
        out.push(
            lang.tr(
                "Repetir con `--time-scale 1` (las duraciones del curso): las etapas \
                 comprimidas dan pocas muestras por punto y no dejan tiempo al autoescalado.",
                "Repeat with `--time-scale 1` (the course's durations): compressed stages give \
                 few samples per point and leave autoscaling no time to act.",
            )
            .to_owned(),
        );
    }
    let measured: Vec<(u64, u32)> = a
        .workers
        .iter()
        .map(|w| ((w.size_bytes as f64 / 1e6).round() as u64, w.concurrency))
        .collect();
    let missing: Vec<String> = COURSE_SIZES_MB
        .iter()
        .flat_map(|s| COURSE_CONCURRENCIES.iter().map(move |c| (*s, *c)))
        .filter(|cell| !measured.contains(cell))
        .map(|(s, c)| format!("{s} MB × {} {c}", lang.tr("concurrencia", "concurrency")))
        .collect();
    if !missing.is_empty() {
        out.push(format!(
            "{} {} (`loadgen run scenario2 --matrix`).",
            lang.tr(
                "Escenario 2, completar la matriz del curso (tamaño × concurrencia, sostenido y \
                 saturación); faltan:",
                "Scenario 2, complete the course's matrix (size × concurrency, sustained and \
                 saturation); missing:"
            ),
            missing.join(", ")
        ));
    }
    for w in a.workers.iter().filter(|w| !w.steps.is_empty()) {
        let Some(capacity) = w.capacity_per_minute else {
            continue;
        };
        let factors = [0.5, 0.75, 0.9, 1.1];
        // Long enough for 10 arrivals at the lowest rate suggested (the k-th arrives at
        // k / rate: 11 intervals), and never shorter than the steps just measured.
        let lowest_per_minute = capacity * factors[0];
        let step = ((capacity_model::confidence::MIN_EVENTS_FOR_RATE + 1) as f64
            / lowest_per_minute
            * 60.0)
            .ceil()
            .max(w.steps.iter().map(|s| s.seconds).fold(0.0, f64::max));
        let rates: Vec<String> = factors.iter().map(|x| d(capacity * x, 2)).collect();
        out.push(match lang {
            Lang::Es => format!(
                "Escenario 2, saturación de `{}` otra vez con escalones alrededor de la \
                 capacidad medida ({} videos/min): {} llegadas/min, de al menos {} s cada uno \
                 (`--step {}s`), para situar el límite estable con 10 llegadas o más por \
                 escalón.",
                rundir::short_run_id(&w.run_id),
                d(capacity, 2),
                rates.join(", "),
                d(step, 0),
                step.ceil()
            ),
            Lang::En => format!(
                "Scenario 2, saturate `{}` again with steps around the measured capacity ({} \
                 videos/min): {} arrivals/min, at least {} s each (`--step {}s`), to place the \
                 stable limit with 10 or more arrivals per step.",
                rundir::short_run_id(&w.run_id),
                d(capacity, 2),
                rates.join(", "),
                d(step, 0),
                step.ceil()
            ),
        });
    }
    if !f.aws {
        out.push(
            lang.tr(
                "Repetir el plan contra el despliegue en AWS (`loadgen run … --aws-stack \
                 NOMBRE`, luego `analyze --aws-stack NOMBRE`): estas corridas fueron locales.",
                "Repeat the plan against the AWS deployment (`loadgen run … --aws-stack NAME`, \
                 then `analyze --aws-stack NAME`): these runs were local.",
            )
            .to_owned(),
        );
    }
    if let Section::Unavailable {
        reason: Some(Missing::TooFewLevels { needed, .. }),
        ..
    } = &a.usl
    {
        out.push(match lang {
            Lang::Es => format!(
                "Medir al menos {needed} niveles de carga distintos (una rampa con tramos o \
                     varias mesetas) para ajustar la ley universal de escalabilidad."
            ),
            Lang::En => format!(
                "Measure at least {needed} distinct load levels (a sliced ramp or several \
                     holds) to fit the universal scalability law."
            ),
        });
    }
    out
}

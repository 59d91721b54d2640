//! `target-stack dashboard`: the running stack in a terminal, refreshed every second —
//! the picture of seed 002, for real: instances per group (pending, in service and, of
//! those, warming, terminating), busy workers, requests per second, p95, CPU, the queue, what each group's
//! policies concluded and the latest scaling activities.
//!
//! [`draw`] is pure (status in, frame out) and tested on ratatui's `TestBackend`; [`run`]
//! polls the control API and owns the terminal.

use std::collections::VecDeque;
use std::time::Duration;

use anyhow::Context;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, List, ListItem, Paragraph, Row, Sparkline, Table, Wrap,
};

use crate::control::StackStatus;
use crate::control::{StackFile, call};

/// Seconds of history the sparklines show.
const HISTORY: usize = 120;

/// What the dashboard shows: the latest status and a short history of it.
#[derive(Debug, Clone, Default)]
pub struct DashboardState {
    pub balancer: String,
    pub status: StackStatus,
    pub requests: VecDeque<u64>,
    /// p95 in milliseconds (0 when no request completed in the second).
    pub p95_ms: VecDeque<u64>,
    pub queue: VecDeque<u64>,
    /// Why the last refresh failed, if it did (the stack stopped, say).
    pub error: Option<String>,
}

impl DashboardState {
    pub fn new(balancer: &str) -> Self {
        Self {
            balancer: balancer.to_string(),
            ..Self::default()
        }
    }

    /// Takes in a new status (a second later than the previous one).
    pub fn update(&mut self, status: StackStatus) {
        let p95 = status
            .balancer
            .target_response_time_p95
            .map_or(0, |s| (s * 1e3).round() as u64);
        for (series, value) in [
            (&mut self.requests, status.balancer.requests),
            (&mut self.p95_ms, p95),
            (
                &mut self.queue,
                status.queue.as_ref().map_or(0, |q| q.visible),
            ),
        ] {
            series.push_back(value);
            if series.len() > HISTORY {
                series.pop_front();
            }
        }
        self.status = status;
        self.error = None;
    }
}

fn titled(title: &str) -> Block<'_> {
    Block::default().borders(Borders::ALL).title(Span::styled(
        title,
        Style::default().add_modifier(Modifier::BOLD),
    ))
}

fn or_dash<T: std::fmt::Display>(value: Option<T>) -> String {
    value.map_or_else(|| "-".to_string(), |v| v.to_string())
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, state: &DashboardState) {
    let s = &state.status;
    let groups_height = s.groups.len() as u16 + 3;
    // A policy's reason is a sentence: wrap it rather than cut it at the border.
    let reasons: Vec<String> = if s.decisions.is_empty() {
        vec!["no evaluation yet".to_string()]
    } else {
        s.decisions
            .iter()
            .map(|d| format!("{} (desired {}): {}", d.group, d.desired, d.reason))
            .collect()
    };
    let inner_width = usize::from(frame.area().width.saturating_sub(2).max(1));
    let reason_rows: usize = reasons
        .iter()
        .map(|r| r.chars().count().div_ceil(inner_width).max(1))
        .sum();
    let [header, groups, traffic, decisions, activities] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(groups_height),
        Constraint::Length(6),
        Constraint::Length(reason_rows as u16 + 2),
        Constraint::Min(3),
    ])
    .areas(frame.area());

    let mut title = vec![
        Span::styled(
            "aforo local stack",
            Style::default().add_modifier(Modifier::BOLD),
        ),
        Span::raw(format!(
            "  {}  up {}m{:02}s  (q quits)",
            state.balancer,
            s.uptime_secs / 60,
            s.uptime_secs % 60
        )),
    ];
    if let Some(error) = &state.error {
        title.push(Span::styled(
            format!("  {error}"),
            Style::default().fg(Color::Red),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(title)), header);

    draw_groups(frame, groups, s);
    draw_traffic(frame, traffic, state);

    let reasons: Vec<Line> = reasons.into_iter().map(Line::from).collect();
    frame.render_widget(
        Paragraph::new(reasons)
            .wrap(Wrap { trim: false })
            .block(titled("Policies")),
        decisions,
    );

    let lines: Vec<ListItem> = s
        .activities
        .iter()
        .rev()
        .map(|a| {
            ListItem::new(format!(
                "{:>4}m{:02}s {:<7} {}",
                a.at_secs / 60,
                a.at_secs % 60,
                a.group,
                a.description
            ))
        })
        .collect();
    frame.render_widget(
        List::new(lines).block(titled("Scaling activities (newest first)")),
        activities,
    );
}

fn draw_groups(frame: &mut Frame, area: Rect, s: &StackStatus) {
    let header = Row::new(
        [
            "group",
            "min",
            "desired",
            "max",
            "pending",
            "in service",
            "warming",
            "terminating",
            "busy",
            "CPU %",
        ]
        .map(|h| Cell::from(h).style(Style::default().add_modifier(Modifier::BOLD))),
    );
    let rows = s.groups.iter().map(|g| {
        Row::new([
            g.name.clone(),
            g.min.to_string(),
            g.desired.to_string(),
            g.max.to_string(),
            g.pending.to_string(),
            g.in_service.to_string(),
            g.warming.to_string(),
            g.terminating.to_string(),
            or_dash(g.busy),
            or_dash(g.cpu_average.map(|c| format!("{c:.0}"))),
        ])
    });
    let widths = [
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(4),
        Constraint::Length(8),
        Constraint::Length(11),
        Constraint::Length(8),
        Constraint::Length(12),
        Constraint::Length(5),
        Constraint::Length(6),
    ];
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .block(titled("Auto Scaling groups")),
        area,
    );
}

fn draw_traffic(frame: &mut Frame, area: Rect, state: &DashboardState) {
    let s = &state.status;
    let b = &s.balancer;
    let [web, latency, queue] = Layout::horizontal([Constraint::Ratio(1, 3); 3]).areas(area);
    let errors = b.target_5xx + b.elb_502 + b.elb_503 + b.elb_504;
    let panel = |frame: &mut Frame, area: Rect, title: String, data: &VecDeque<u64>, color| {
        let data: Vec<u64> = data.iter().copied().collect();
        // The newest seconds fill the right-hand side.
        let width = area.width.saturating_sub(2) as usize;
        let start = data.len().saturating_sub(width);
        frame.render_widget(
            Sparkline::default()
                .block(titled(&title))
                .data(&data[start..])
                .style(Style::default().fg(color)),
            area,
        );
    };
    panel(
        frame,
        web,
        format!(
            "Requests {}/s · 5xx {} · hosts {}✓ {}✗",
            b.requests, errors, b.healthy_hosts, b.unhealthy_hosts
        ),
        &state.requests,
        Color::Green,
    );
    panel(
        frame,
        latency,
        format!(
            "p95 {} ms · mean {} ms",
            or_dash(
                b.target_response_time_p95
                    .map(|s| format!("{:.1}", s * 1e3))
            ),
            or_dash(b.target_response_time.map(|s| format!("{:.1}", s * 1e3))),
        ),
        &state.p95_ms,
        Color::Yellow,
    );
    let title = match &s.queue {
        Some(q) => format!(
            "Queue {} · flight {} · oldest {}s · {} done/s",
            q.visible,
            q.not_visible,
            or_dash(q.oldest_age_seconds.map(|a| format!("{a:.0}"))),
            or_dash(q.deleted),
        ),
        None => "No queue".to_string(),
    };
    panel(frame, queue, title, &state.queue, Color::Cyan);
}

/// Runs the dashboard until q, Esc or Ctrl-C.
pub async fn run(stack: &StackFile) -> anyhow::Result<()> {
    let status_url = format!("{}/status", stack.control);
    let mut state = DashboardState::new(&stack.balancer);
    // Fail before taking over the terminal when the stack is not there.
    let first = call("GET", &status_url).await?;
    state.update(serde_json::from_str(&first).context("the stack sent an unreadable status")?);

    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        use ratatui::crossterm::event::{self, Event, KeyCode, KeyModifiers};
        let mut terminal = ratatui::init();
        let result = (|| -> anyhow::Result<()> {
            let mut next_refresh = std::time::Instant::now() + Duration::from_secs(1);
            loop {
                terminal.draw(|frame| draw(frame, &state))?;
                let wait = next_refresh.saturating_duration_since(std::time::Instant::now());
                if event::poll(wait)? {
                    if let Event::Key(key) = event::read()? {
                        let ctrl_c = key.code == KeyCode::Char('c')
                            && key.modifiers.contains(KeyModifiers::CONTROL);
                        if ctrl_c || matches!(key.code, KeyCode::Char('q') | KeyCode::Esc) {
                            return Ok(());
                        }
                    }
                    continue;
                }
                next_refresh += Duration::from_secs(1);
                match runtime.block_on(call("GET", &status_url)) {
                    Ok(body) => match serde_json::from_str(&body) {
                        Ok(status) => state.update(status),
                        Err(e) => state.error = Some(format!("unreadable status: {e}")),
                    },
                    Err(e) => state.error = Some(format!("{e:#}")),
                }
            }
        })();
        ratatui::restore();
        result
    })
    .await
    .context("the dashboard thread panicked")?
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::control::{ActivityLine, GroupDecision};
    use crate::telemetry::{BalancerSecond, GroupSecond, QueueSecond};

    fn status() -> StackStatus {
        StackStatus {
            uptime_secs: 133,
            groups: vec![
                GroupSecond {
                    name: "web".into(),
                    min: 1,
                    max: 3,
                    desired: 3,
                    in_service: 2,
                    pending: 1,
                    warming: 1,
                    cpu_average: Some(82.4),
                    ..Default::default()
                },
                GroupSecond {
                    name: "worker".into(),
                    min: 1,
                    max: 3,
                    desired: 3,
                    in_service: 3,
                    busy: Some(2),
                    cpu_average: Some(97.0),
                    ..Default::default()
                },
            ],
            balancer: BalancerSecond {
                requests: 412,
                target_response_time: Some(0.0121),
                target_response_time_p95: Some(0.0384),
                healthy_hosts: 1,
                target_5xx: 3,
                ..Default::default()
            },
            queue: Some(QueueSecond {
                visible: 9,
                not_visible: 6,
                oldest_age_seconds: Some(41.0),
                deleted: Some(2),
            }),
            decisions: vec![GroupDecision {
                group: "web".into(),
                desired: 2,
                reason: "cpu-70: CPUUtilization 82.4 > 70 for 3 datapoints".into(),
            }],
            last_decisions: vec![],
            activities: vec![
                ActivityLine {
                    at_secs: 5,
                    group: "web".into(),
                    description: "Launching a new EC2 instance: i-local-0001".into(),
                },
                ActivityLine {
                    at_secs: 121,
                    group: "web".into(),
                    description: "Launching a new EC2 instance: i-local-0004".into(),
                },
            ],
        }
    }

    fn render(state: &DashboardState, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|frame| draw(frame, state)).unwrap();
        let buffer = terminal.backend().buffer().clone();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
                    .trim_end()
                    .to_string()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn line_with<'a>(screen: &'a str, needle: &str) -> &'a str {
        screen
            .lines()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in\n{screen}"))
    }

    #[test]
    fn shows_groups_traffic_queue_policies_and_activities() {
        let mut state = DashboardState::new("http://127.0.0.1:8080");
        for requests in [100, 250, 412] {
            let mut s = status();
            s.balancer.requests = requests;
            state.update(s);
        }
        let screen = render(&state, 140, 24);
        assert!(screen.contains("up 2m13s"), "{screen}");
        let web = line_with(&screen, "web      ");
        let cells: Vec<&str> = web.trim_matches('│').split_whitespace().collect();
        // group min desired max pending in-service warming terminating busy cpu: a warming
        // instance is in service (issue 21), and shown as warming besides.
        assert_eq!(
            cells,
            ["web", "1", "3", "3", "1", "2", "1", "0", "-", "82"],
            "{web}"
        );
        let worker = line_with(&screen, "worker   ");
        let cells: Vec<&str> = worker.trim_matches('│').split_whitespace().collect();
        assert_eq!(cells[8..10], ["2", "97"], "busy workers and CPU: {worker}");
        assert!(
            screen.contains("Requests 412/s · 5xx 3 · hosts 1✓ 0✗"),
            "{screen}"
        );
        assert!(screen.contains("p95 38.4 ms · mean 12.1 ms"), "{screen}");
        assert!(
            screen.contains("Queue 9 · flight 6 · oldest 41s · 2 done/s"),
            "{screen}"
        );
        assert!(screen.contains("web (desired 2): cpu-70: CPUUtilization 82.4 > 70"));
        // Newest activity first.
        let newest = screen.find("i-local-0004").unwrap();
        let oldest = screen.find("i-local-0001").unwrap();
        assert!(newest < oldest, "{screen}");
        assert_eq!(state.requests, [100, 250, 412]);
    }

    #[test]
    fn a_long_policy_reason_wraps_instead_of_being_cut() {
        let mut state = DashboardState::new("http://127.0.0.1:8080");
        let mut s = status();
        s.decisions[0].reason = "web-cpu-70: waiting for 15 periods of CPUUtilization; \
                                 web-requests-per-target: waiting for 15 periods of \
                                 RequestCountPerTarget (the end)"
            .into();
        state.update(s);
        let screen = render(&state, 60, 30);
        assert!(screen.contains("(the end)"), "{screen}");
        // The activities still show below the policies.
        assert!(screen.contains("2m01s web     Launching"), "{screen}");
    }

    #[test]
    fn history_is_bounded_and_errors_show() {
        let mut state = DashboardState::new("http://127.0.0.1:1");
        for _ in 0..HISTORY + 30 {
            state.update(status());
        }
        assert_eq!(state.requests.len(), HISTORY);
        state.error = Some("the stack does not answer".into());
        let screen = render(&state, 100, 20);
        assert!(line_with(&screen, "aforo local stack").contains("the stack does not answer"));
    }
}

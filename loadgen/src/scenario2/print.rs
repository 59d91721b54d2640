//! Scenario 2's tables on the terminal: one cell, and the matrix.

use super::CellResult;

pub(super) fn print_cell(r: &CellResult) {
    let s = &r.summary;
    eprintln!(
        "{}: {} queued, {} processed, {} failed, {} unfinished · X {:.2} videos/min ({:.1} MB/min) · S mean {:.1} s p50 {:.1} s · wait p50 {:.1} s · queue {} ({}) · Little: L {:.2} vs X·(W+S) {:.2}{}",
        r.cell.label(),
        s.enqueued,
        s.processed,
        s.failed,
        s.unfinished,
        s.videos_per_minute,
        s.megabytes_per_minute,
        s.service_us.mean / 1e6,
        s.service_us.p50 as f64 / 1e6,
        s.wait_us.p50 as f64 / 1e6,
        s.queue_verdict,
        slope_text(s.queue_slope_per_minute, s.queue_slope_error_per_minute),
        s.mean_in_system,
        s.little_in_system,
        s.worker_cpu_percent
            .map_or(String::new(), |c| format!(" · worker CPU {c:.0}%")),
    );
    for (k, step) in s.steps.iter().enumerate() {
        eprintln!(
            "    step {}: {:.2} arrivals/min → {:.2} done/min, queue {} ({})",
            k + 1,
            step.rate_per_minute,
            step.completed_per_minute,
            step.queue_verdict,
            slope_text(
                step.queue_slope_per_minute,
                step.queue_slope_error_per_minute
            )
        );
    }
}

/// "+1.20 ± 0.35/min" (the 95 % interval), or "no slope" without enough samples.
fn slope_text(slope: Option<f64>, error: Option<f64>) -> String {
    match (slope, error) {
        (Some(slope), Some(error)) => format!(
            "{slope:+.2} ± {:.2}/min",
            capacity_model::confidence::Z_95 * error
        ),
        (Some(slope), None) => format!("{slope:+.2}/min"),
        _ => "no slope: too few samples".to_owned(),
    }
}

pub(super) fn print_matrix(results: &[CellResult]) {
    println!(
        "\n{:<28} {:>6} {:>9} {:>11} {:>9} {:>9} {:>10} {:>6} {:<28}",
        "cell", "tasks", "processed", "videos/min", "MB/min", "S mean", "S p50", "CPU%", "queue"
    );
    for r in results {
        let s = &r.summary;
        println!(
            "{:<28} {:>6} {:>9} {:>11.2} {:>9.1} {:>8.1}s {:>9.1}s {:>6} {:<28}",
            r.cell.label(),
            s.enqueued,
            format!("{}/{}", s.processed, s.enqueued),
            s.videos_per_minute,
            s.megabytes_per_minute,
            s.service_us.mean / 1e6,
            s.service_us.p50 as f64 / 1e6,
            s.worker_cpu_percent
                .map_or("-".to_string(), |c| format!("{c:.0}")),
            s.queue_verdict,
        );
    }
}

//! The cost and energy section of an analysis: each run's measured usage (from the analysis
//! itself: its timeline, requests, bytes and videos) priced with a price table
//! (`analyzer/data/aws-prices.toml` by default, `--prices FILE` otherwise). The arithmetic is
//! `capacity_model::cost`'s.

use std::path::Path;

use anyhow::Context as _;
use capacity_model::analysis::{Analysis, CostSection, RunTimeline};
use capacity_model::cost::{Layer, PriceTable, Usage};

/// The price table aforo ships (its source and date are in it).
pub const DEFAULT_PRICES: &str = include_str!("../data/aws-prices.toml");

/// Reads a price table, or the default one; checks that it prices what the estimates need.
pub fn read_prices(path: Option<&Path>) -> anyhow::Result<PriceTable> {
    let (text, origin) = match path {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the price table {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            DEFAULT_PRICES.to_string(),
            "the default price table".to_string(),
        ),
    };
    let table: PriceTable = toml::from_str(&text).with_context(|| {
        format!("{origin} is not a price table (see analyzer/data/aws-prices.toml for the format)")
    })?;
    table
        .validate()
        .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
    Ok(table)
}

/// Prices every run whose group was measured; a run without instance data has no estimate.
pub fn section(analysis: &Analysis, table: &PriceTable) -> CostSection {
    let runs = analysis
        .timelines
        .iter()
        .filter_map(|timeline| {
            let run = analysis.runs.iter().find(|r| r.run_id == timeline.run_id)?;
            let usage = usage(analysis, timeline, run.scenario == "scenario2")?;
            Some(table.estimate(&timeline.run_id, &usage))
        })
        .collect();
    CostSection {
        basis: table.basis(),
        runs,
    }
}

/// What a run used: its layer's in-service instances and CPU over the seconds that measured
/// them (scaled to the run's length), its requests and bytes, or its processed videos.
fn usage(analysis: &Analysis, timeline: &RunTimeline, worker: bool) -> Option<Usage> {
    let (layer, group) = if worker {
        (Layer::Worker, "worker")
    } else {
        (Layer::Web, "web")
    };
    let seconds = timeline.seconds.len() as f64;
    let hours = seconds / 3600.0;
    let instances: Vec<f64> = timeline
        .seconds
        .iter()
        .filter_map(|s| s.in_service.get(group).copied())
        .collect();
    if instances.is_empty() {
        return None;
    }
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let cpu: Vec<f64> = timeline
        .seconds
        .iter()
        .filter_map(|s| s.cpu_percent.get(group).map(|c| c / 100.0))
        .collect();
    let units = if worker {
        analysis
            .workers
            .iter()
            .filter(|w| w.run_id == timeline.run_id)
            .map(|w| w.processed)
            .sum()
    } else {
        timeline.seconds.iter().map(|s| s.requests).sum()
    };
    let bytes = timeline
        .endpoints
        .iter()
        .map(|e| e.kb_per_s * 1024.0 * seconds)
        .sum();
    Some(Usage {
        layer,
        hours,
        instance_hours: mean(&instances) * hours,
        cpu_utilisation: (!cpu.is_empty()).then(|| mean(&cpu)),
        units,
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_price_table_reads_and_prices_its_defaults() {
        let table = read_prices(None).unwrap();
        assert_eq!(table.prices.instance_type, "t3.small");
        assert!(table.basis().prices_source.contains("AWS"));
        assert!(
            table
                .basis()
                .energy_source
                .contains("Cloud Carbon Footprint")
        );
    }

    #[test]
    fn a_bad_price_table_is_refused_with_its_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(
            &path,
            DEFAULT_PRICES.replace("instance_type = \"t3.small\"", "instance_type = \"x1\""),
        )
        .unwrap();
        let e = read_prices(Some(&path)).unwrap_err().to_string();
        assert!(e.contains("\"x1\""), "{e}");
        std::fs::write(&path, "[prices]\n").unwrap();
        let e = format!("{:#}", read_prices(Some(&path)).unwrap_err());
        assert!(e.contains("not a price table"), "{e}");
    }

    #[test]
    fn the_example_analysis_is_priced_per_request_and_per_video() {
        let text = include_str!("../../capacity-planning/examples/analysis.json");
        let analysis: Analysis = serde_json::from_str(text).unwrap();
        let cost = section(&analysis, &read_prices(None).unwrap());
        let web = cost.runs.iter().find(|r| r.layer == Layer::Web).unwrap();
        // 98 s with 3 web instances most of the time: about 0.079 instance-hours.
        assert!((0.07..0.09).contains(&web.instance_hours), "{web:?}");
        assert_eq!(web.units, 79_963);
        assert!(web.usd_per_million_requests.unwrap() > 0.0);
        assert!(web.wh_per_unit.unwrap() > 0.0);
        let worker = cost.runs.iter().find(|r| r.layer == Layer::Worker).unwrap();
        assert!(worker.usd_per_video.unwrap() > 0.0, "{worker:?}");
    }
}

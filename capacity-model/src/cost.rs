//! Cost and energy estimates of a measured run on AWS: its measured instance-hours, CPU
//! utilisation, requests, bytes and videos, priced with a price table and turned into
//! energy with Cloud Carbon Footprint's per-vCPU power model.
//!
//! Estimates, not measurements: every figure is an input from the run times a number from
//! the price table (`analyzer/data/aws-prices.toml`, with its source and date), and says so
//! where it is shown. Pure: the caller reads the table and the run.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A price table and an energy model (the TOML file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceTable {
    pub prices: Prices,
    pub energy: EnergyModel,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub region: String,
    pub currency: String,
    pub source: String,
    pub date: String,
    /// The instance type both groups are priced as.
    pub instance_type: String,
    pub db_instance_class: String,
    pub ec2_per_hour: BTreeMap<String, f64>,
    pub vcpus: BTreeMap<String, u32>,
    pub rds_per_hour: BTreeMap<String, f64>,
    pub alb: AlbPrices,
    pub sqs: SqsPrices,
    pub s3: S3Prices,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlbPrices {
    pub per_hour: f64,
    pub per_lcu_hour: f64,
    pub gb_per_lcu_hour: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqsPrices {
    pub per_million_requests: f64,
    pub requests_per_video: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Prices {
    pub storage_per_gb_month: f64,
    pub per_thousand_put: f64,
    pub per_thousand_get: f64,
    pub puts_per_video: f64,
    pub gets_per_video: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnergyModel {
    pub source: String,
    pub min_watts_per_vcpu: f64,
    pub max_watts_per_vcpu: f64,
    pub pue: f64,
    pub grid_kg_co2e_per_kwh: BTreeMap<String, f64>,
}

impl PriceTable {
    /// Checks that the table prices what the estimates need: the instance type, its vCPUs,
    /// the database class and the region's grid factor, and no negative number.
    pub fn validate(&self) -> Result<(), String> {
        let p = &self.prices;
        let missing = |what: &str, key: &str| format!("the price table has no {what} for {key:?}");
        if !p.ec2_per_hour.contains_key(&p.instance_type) {
            return Err(missing("EC2 price", &p.instance_type));
        }
        if !p.vcpus.contains_key(&p.instance_type) {
            return Err(missing("vCPU count", &p.instance_type));
        }
        if !p.rds_per_hour.contains_key(&p.db_instance_class) {
            return Err(missing("RDS price", &p.db_instance_class));
        }
        if !self.energy.grid_kg_co2e_per_kwh.contains_key(&p.region) {
            return Err(missing("grid emission factor", &p.region));
        }
        let numbers = [
            p.alb.per_hour,
            p.alb.per_lcu_hour,
            p.alb.gb_per_lcu_hour,
            p.sqs.per_million_requests,
            p.sqs.requests_per_video,
            p.s3.storage_per_gb_month,
            p.s3.per_thousand_put,
            p.s3.per_thousand_get,
            p.s3.puts_per_video,
            p.s3.gets_per_video,
            self.energy.min_watts_per_vcpu,
            self.energy.max_watts_per_vcpu,
            self.energy.pue,
        ];
        let all = numbers
            .iter()
            .chain(p.ec2_per_hour.values())
            .chain(p.rds_per_hour.values())
            .chain(self.energy.grid_kg_co2e_per_kwh.values());
        if all.clone().any(|v| !v.is_finite() || *v < 0.0) || p.alb.gb_per_lcu_hour == 0.0 {
            return Err("the price table has a negative or non-finite number".to_string());
        }
        Ok(())
    }

    fn instance_price(&self) -> f64 {
        self.prices.ec2_per_hour[&self.prices.instance_type]
    }

    fn vcpus(&self) -> f64 {
        f64::from(self.prices.vcpus[&self.prices.instance_type])
    }
}

/// Which layer a run loads, and so what its cost is per: requests (escenario 1, the web
/// group, the balancer and the database) or videos (escenario 2, the worker group, SQS, S3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    Web,
    Worker,
}

/// What one run used, as measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Usage {
    pub layer: Layer,
    /// The run's length.
    pub hours: f64,
    /// In-service instances of the layer's group over the run.
    pub instance_hours: f64,
    /// The group's mean CPU utilisation, 0–1; `None` when not measured.
    pub cpu_utilisation: Option<f64>,
    /// Requests (web) or processed videos (worker).
    pub units: u64,
    /// Bytes through the balancer, both ways (web).
    pub bytes: f64,
}

/// One priced line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostLine {
    pub item: String,
    pub quantity: f64,
    pub unit: String,
    pub usd: f64,
}

/// A run's estimated cost and energy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub run_id: String,
    pub layer: Layer,
    pub hours: f64,
    pub instance_type: String,
    pub instance_hours: f64,
    pub units: u64,
    pub lines: Vec<CostLine>,
    pub usd: f64,
    /// `None` for a run of no length (nothing to divide by): no data, not 0.
    pub usd_per_hour: Option<f64>,
    /// Per million requests (web) or per video (worker); `None` without any.
    pub usd_per_million_requests: Option<f64>,
    pub usd_per_video: Option<f64>,
    /// `None` when the CPU utilisation was not measured.
    pub energy_kwh: Option<f64>,
    pub co2e_kg: Option<f64>,
    pub wh_per_unit: Option<f64>,
    pub g_co2e_per_unit: Option<f64>,
    pub cpu_utilisation: Option<f64>,
}

/// The estimates' sources, once per analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CostBasis {
    pub region: String,
    pub prices_source: String,
    pub prices_date: String,
    pub instance_type: String,
    pub db_instance_class: String,
    pub energy_source: String,
    pub grid_kg_co2e_per_kwh: f64,
    pub pue: f64,
    pub assumptions: String,
}

pub const ASSUMPTIONS: &str = "estimates: the run's measured in-service instance-hours priced \
    as the table's instance type on demand; the balancer for the run's hours plus LCUs from \
    the bytes it carried; the database for the run's hours; SQS and S3 requests per video as \
    the table counts them (storage not included); energy as Cloud Carbon Footprint's average \
    watts per vCPU at the measured CPU utilisation, times the PUE and the region's grid factor";

impl PriceTable {
    pub fn basis(&self) -> CostBasis {
        CostBasis {
            region: self.prices.region.clone(),
            prices_source: self.prices.source.clone(),
            prices_date: self.prices.date.clone(),
            instance_type: self.prices.instance_type.clone(),
            db_instance_class: self.prices.db_instance_class.clone(),
            energy_source: self.energy.source.clone(),
            grid_kg_co2e_per_kwh: self.grid_kg_co2e_per_kwh(),
            pue: self.energy.pue,
            assumptions: ASSUMPTIONS.to_string(),
        }
    }

    /// The region's grid emission factor, kg CO2e per kWh.
    pub fn grid_kg_co2e_per_kwh(&self) -> f64 {
        self.energy.grid_kg_co2e_per_kwh[&self.prices.region]
    }

    /// The cost of `instance_hours` of the table's instance type (a what-if replay's).
    pub fn instance_cost(&self, instance_hours: f64) -> f64 {
        instance_hours * self.instance_price()
    }

    /// Energy of `instance_hours` at a CPU utilisation (0–1), kWh.
    pub fn energy_kwh(&self, instance_hours: f64, utilisation: f64) -> f64 {
        let e = &self.energy;
        let watts = e.min_watts_per_vcpu
            + utilisation.clamp(0.0, 1.0) * (e.max_watts_per_vcpu - e.min_watts_per_vcpu);
        instance_hours * self.vcpus() * watts * e.pue / 1000.0
    }

    /// Prices one run's usage. Call [`PriceTable::validate`] first.
    pub fn estimate(&self, run_id: &str, usage: &Usage) -> CostEstimate {
        let p = &self.prices;
        let line = |item: &str, quantity: f64, unit: &str, usd: f64| CostLine {
            item: item.to_string(),
            quantity,
            unit: unit.to_string(),
            usd,
        };
        let units = usage.units as f64;
        let mut lines = vec![line(
            &format!("EC2 {}", p.instance_type),
            usage.instance_hours,
            "instance-hours",
            self.instance_cost(usage.instance_hours),
        )];
        match usage.layer {
            Layer::Web => {
                let gb = usage.bytes / 1e9;
                let lcu_hours = gb / p.alb.gb_per_lcu_hour;
                lines.push(line(
                    "ALB",
                    usage.hours,
                    "hours",
                    usage.hours * p.alb.per_hour,
                ));
                lines.push(line(
                    "ALB LCU",
                    lcu_hours,
                    "LCU-hours",
                    lcu_hours * p.alb.per_lcu_hour,
                ));
                lines.push(line(
                    &format!("RDS {}", p.db_instance_class),
                    usage.hours,
                    "hours",
                    usage.hours * p.rds_per_hour[&p.db_instance_class],
                ));
            }
            Layer::Worker => {
                let sqs = units * p.sqs.requests_per_video;
                lines.push(line(
                    "SQS",
                    sqs,
                    "requests",
                    sqs / 1e6 * p.sqs.per_million_requests,
                ));
                let puts = units * p.s3.puts_per_video;
                let gets = units * p.s3.gets_per_video;
                lines.push(line(
                    "S3 PUT",
                    puts,
                    "requests",
                    puts / 1000.0 * p.s3.per_thousand_put,
                ));
                lines.push(line(
                    "S3 GET",
                    gets,
                    "requests",
                    gets / 1000.0 * p.s3.per_thousand_get,
                ));
            }
        }
        let usd: f64 = lines.iter().map(|l| l.usd).sum();
        let energy_kwh = usage
            .cpu_utilisation
            .map(|u| self.energy_kwh(usage.instance_hours, u));
        let co2e_kg = energy_kwh.map(|kwh| kwh * self.grid_kg_co2e_per_kwh());
        let per_unit = |total: Option<f64>, scale: f64| {
            total.filter(|_| usage.units > 0).map(|t| t * scale / units)
        };
        CostEstimate {
            run_id: run_id.to_string(),
            layer: usage.layer,
            hours: usage.hours,
            instance_type: p.instance_type.clone(),
            instance_hours: usage.instance_hours,
            units: usage.units,
            usd,
            usd_per_hour: (usage.hours > 0.0).then(|| usd / usage.hours),
            usd_per_million_requests: (usage.layer == Layer::Web)
                .then(|| per_unit(Some(usd), 1e6))
                .flatten(),
            usd_per_video: (usage.layer == Layer::Worker)
                .then(|| per_unit(Some(usd), 1.0))
                .flatten(),
            wh_per_unit: per_unit(energy_kwh, 1000.0),
            g_co2e_per_unit: per_unit(co2e_kg, 1000.0),
            energy_kwh,
            co2e_kg,
            cpu_utilisation: usage.cpu_utilisation,
            lines,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> PriceTable {
        let mut ec2 = BTreeMap::new();
        ec2.insert("t3.small".to_string(), 0.02);
        let mut vcpus = BTreeMap::new();
        vcpus.insert("t3.small".to_string(), 2);
        let mut rds = BTreeMap::new();
        rds.insert("db.t3.micro".to_string(), 0.01);
        let mut grid = BTreeMap::new();
        grid.insert("us-east-1".to_string(), 0.4);
        PriceTable {
            prices: Prices {
                region: "us-east-1".into(),
                currency: "USD".into(),
                source: "test".into(),
                date: "2026-12-04".into(),
                instance_type: "t3.small".into(),
                db_instance_class: "db.t3.micro".into(),
                ec2_per_hour: ec2,
                vcpus,
                rds_per_hour: rds,
                alb: AlbPrices {
                    per_hour: 0.02,
                    per_lcu_hour: 0.01,
                    gb_per_lcu_hour: 1.0,
                },
                sqs: SqsPrices {
                    per_million_requests: 0.4,
                    requests_per_video: 3.0,
                },
                s3: S3Prices {
                    storage_per_gb_month: 0.023,
                    per_thousand_put: 0.005,
                    per_thousand_get: 0.0004,
                    puts_per_video: 2.0,
                    gets_per_video: 1.0,
                },
            },
            energy: EnergyModel {
                source: "test".into(),
                min_watts_per_vcpu: 1.0,
                max_watts_per_vcpu: 3.0,
                pue: 1.5,
                grid_kg_co2e_per_kwh: grid,
            },
        }
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn a_web_run_is_priced_by_hand() {
        // 2 h, 3 instances throughout (6 instance-hours) at 50 % CPU, 1.8 M requests, 4 GB.
        let usage = Usage {
            layer: Layer::Web,
            hours: 2.0,
            instance_hours: 6.0,
            cpu_utilisation: Some(0.5),
            units: 1_800_000,
            bytes: 4e9,
        };
        let e = table().estimate("r", &usage);
        // EC2 6 × 0.02 = 0.12; ALB 2 × 0.02 = 0.04; LCU 4 × 0.01 = 0.04; RDS 2 × 0.01 = 0.02.
        assert!(close(e.usd, 0.22), "{e:?}");
        assert!(close(e.usd_per_hour.unwrap(), 0.11));
        assert!(close(e.usd_per_million_requests.unwrap(), 0.22 / 1.8));
        assert_eq!(e.usd_per_video, None);
        // 6 instance-hours × 2 vCPU × (1 + 0.5 × 2) W × 1.5 = 36 Wh = 0.036 kWh; × 0.4 kg.
        assert!(close(e.energy_kwh.unwrap(), 0.036));
        assert!(close(e.co2e_kg.unwrap(), 0.0144));
        assert!(close(e.wh_per_unit.unwrap(), 36.0 / 1.8e6));
        assert!(close(e.g_co2e_per_unit.unwrap(), 14.4 / 1.8e6));
    }

    #[test]
    fn a_worker_run_is_priced_per_video_by_hand() {
        let usage = Usage {
            layer: Layer::Worker,
            hours: 0.5,
            instance_hours: 1.0,
            cpu_utilisation: Some(1.0),
            units: 100,
            bytes: 0.0,
        };
        let e = table().estimate("r", &usage);
        // EC2 0.02; SQS 300 / 1e6 × 0.4 = 0.00012; S3 200 PUT = 0.001, 100 GET = 0.00004.
        let usd = 0.02 + 0.00012 + 0.001 + 0.00004;
        assert!(close(e.usd, usd), "{e:?}");
        assert!(close(e.usd_per_video.unwrap(), usd / 100.0));
        assert_eq!(e.usd_per_million_requests, None);
        // 1 × 2 × 3 W × 1.5 = 9 Wh per 100 videos.
        assert!(close(e.wh_per_unit.unwrap(), 0.09));
    }

    #[test]
    fn without_cpu_or_units_the_figures_are_no_data_not_zero() {
        let usage = Usage {
            layer: Layer::Web,
            hours: 1.0,
            instance_hours: 1.0,
            cpu_utilisation: None,
            units: 0,
            bytes: 0.0,
        };
        let e = table().estimate("r", &usage);
        assert_eq!((e.energy_kwh, e.co2e_kg, e.wh_per_unit), (None, None, None));
        assert_eq!(e.usd_per_million_requests, None);
        assert!(e.usd > 0.0);
    }

    #[test]
    fn a_table_missing_what_the_estimate_needs_is_refused() {
        let mut t = table();
        assert!(t.validate().is_ok());
        t.prices.instance_type = "m9.huge".into();
        assert!(t.validate().unwrap_err().contains("m9.huge"));
        let mut t = table();
        t.energy.pue = -1.0;
        assert!(t.validate().is_err());
    }
}

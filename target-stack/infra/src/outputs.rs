//! A deployed `aforo.yaml` stack, as the names its outputs give: where to send load, and
//! what CloudWatch and Auto Scaling call each part. [`StackTargets::from_outputs`] is the
//! pure parse (tested on its own); [`StackTargets::resolve`] asks CloudFormation.

use std::collections::BTreeMap;

use aws_sdk_cloudformation::Client;
use aws_sdk_cloudformation::types::StackStatus;

/// The outputs every `aforo.yaml` stack declares.
const REQUIRED: &[&str] = &["BaseUrl", "LoadBalancer", "TargetGroup", "WebGroup"];

/// The outputs of the ANB system's worker path, which `App=inference` stacks lack.
const WORKER_PATH: &[&str] = &[
    "WorkerGroup",
    "QueueUrl",
    "DeadLetterQueueUrl",
    "VideoBucket",
    "DbInstance",
];

#[derive(Debug, thiserror::Error)]
pub enum OutputsError {
    #[error(
        "stack {stack} lacks the outputs {missing:?}; is it an aforo.yaml stack (target-stack/infra/templates/aforo.yaml)?"
    )]
    Missing { stack: String, missing: Vec<String> },
    #[error("stack {stack}: output {key} is {value:?}, not {expected}")]
    Malformed {
        stack: String,
        key: &'static str,
        value: String,
        expected: &'static str,
    },
    #[error("stack {stack} is {status}; wait until it is CREATE_COMPLETE or UPDATE_COMPLETE")]
    NotReady { stack: String, status: String },
    #[error("no stack named {stack} in {region}; deploy it with target-stack/infra/deploy.sh")]
    NoSuchStack { stack: String, region: String },
    #[error("could not read stack {stack} from CloudFormation in {region}: {message}")]
    Call {
        stack: String,
        region: String,
        message: String,
    },
}

/// What a stack's web group runs: its `App` output (stacks made before that output are ANB).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StackApp {
    /// The ANB API, with the worker group, queue, bucket and database.
    Anb,
    /// Seed 000's inference service: a web group only.
    Inference,
}

impl StackApp {
    pub fn as_str(self) -> &'static str {
        match self {
            StackApp::Anb => "anb",
            StackApp::Inference => "inference",
        }
    }
}

/// Everything aforo reads from a deployed stack.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StackTargets {
    pub stack: String,
    pub region: String,
    pub app: StackApp,
    /// The API through the load balancer, `http://…elb.amazonaws.com`.
    pub base_url: String,
    /// CloudWatch's LoadBalancer dimension, `app/NAME/ID`.
    pub load_balancer: String,
    /// CloudWatch's TargetGroup dimensions: the web group's, then green's while one exists.
    pub target_groups: Vec<String>,
    pub web_group: String,
    /// The ANB system's asynchronous path; None for `App=inference`.
    pub worker: Option<WorkerPath>,
}

/// The worker group and what it reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPath {
    pub worker_group: String,
    pub queue_url: String,
    pub dead_letter_queue_url: String,
    pub video_bucket: String,
    /// RDS's DBInstanceIdentifier.
    pub db_instance: String,
}

impl StackTargets {
    /// Parses a stack's outputs (key → value). Every required key must be present and each
    /// value must have the shape CloudWatch expects, so a wrong stack fails here and not as
    /// an empty chart later.
    pub fn from_outputs(
        stack: &str,
        region: &str,
        outputs: &BTreeMap<String, String>,
    ) -> Result<Self, OutputsError> {
        let app = match outputs.get("App").map(String::as_str) {
            None | Some("anb") => StackApp::Anb,
            Some("inference") => StackApp::Inference,
            Some(other) => {
                return Err(OutputsError::Malformed {
                    stack: stack.into(),
                    key: "App",
                    value: other.into(),
                    expected: "anb or inference",
                });
            }
        };
        let worker_path = match app {
            StackApp::Anb => WORKER_PATH,
            StackApp::Inference => &[],
        };
        let missing: Vec<String> = REQUIRED
            .iter()
            .chain(worker_path)
            .filter(|key| outputs.get(**key).is_none_or(|v| v.is_empty()))
            .map(|key| key.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(OutputsError::Missing {
                stack: stack.into(),
                missing,
            });
        }
        let shaped = |key: &'static str, ok: fn(&str) -> bool, expected: &'static str| {
            let value = outputs[key].clone();
            if ok(&value) {
                Ok(value)
            } else {
                Err(OutputsError::Malformed {
                    stack: stack.into(),
                    key,
                    value,
                    expected,
                })
            }
        };
        let is_url = |v: &str| v.starts_with("http://") || v.starts_with("https://");
        let target_group = |v: &str| v.starts_with("targetgroup/") && v.split('/').count() == 3;
        let mut target_groups = vec![shaped(
            "TargetGroup",
            target_group,
            "a TargetGroup dimension (targetgroup/NAME/ID)",
        )?];
        if outputs
            .get("GreenTargetGroup")
            .is_some_and(|v| !v.is_empty())
        {
            target_groups.push(shaped(
                "GreenTargetGroup",
                target_group,
                "a TargetGroup dimension (targetgroup/NAME/ID)",
            )?);
        }
        let worker = match app {
            StackApp::Inference => None,
            StackApp::Anb => Some(WorkerPath {
                worker_group: outputs["WorkerGroup"].clone(),
                queue_url: shaped("QueueUrl", is_url, "a queue URL")?,
                dead_letter_queue_url: shaped("DeadLetterQueueUrl", is_url, "a queue URL")?,
                video_bucket: outputs["VideoBucket"].clone(),
                db_instance: outputs["DbInstance"].clone(),
            }),
        };
        Ok(StackTargets {
            stack: stack.into(),
            region: region.into(),
            app,
            base_url: shaped("BaseUrl", is_url, "an http(s) URL")?,
            load_balancer: shaped(
                "LoadBalancer",
                |v| v.starts_with("app/") && v.split('/').count() == 3,
                "a LoadBalancer dimension (app/NAME/ID)",
            )?,
            target_groups,
            web_group: outputs["WebGroup"].clone(),
            worker,
        })
    }

    /// Reads the stack's outputs from CloudFormation with the standard credential chain
    /// (and `AWS_ENDPOINT_URL`, as every AWS SDK honours).
    pub async fn resolve(stack: &str, region: Option<&str>) -> Result<Self, OutputsError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = region {
            loader = loader.region(aws_config::Region::new(region.to_string()));
        }
        let config = loader.load().await;
        let region = config
            .region()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "us-east-1".into());
        Self::resolve_with(&Client::new(&config), stack, &region).await
    }

    /// [`resolve`](Self::resolve) with a client built by the caller.
    pub async fn resolve_with(
        client: &Client,
        stack: &str,
        region: &str,
    ) -> Result<Self, OutputsError> {
        let call_error = |message: String| OutputsError::Call {
            stack: stack.into(),
            region: region.into(),
            message,
        };
        let answer = match client.describe_stacks().stack_name(stack).send().await {
            Ok(answer) => answer,
            Err(e) => {
                let service = e.as_service_error().and_then(|s| s.meta().message());
                if service.is_some_and(|m| m.contains("does not exist")) {
                    return Err(OutputsError::NoSuchStack {
                        stack: stack.into(),
                        region: region.into(),
                    });
                }
                return Err(call_error(
                    service.map_or_else(|| format!("{e:#?}"), str::to_string),
                ));
            }
        };
        let Some(found) = answer.stacks().first() else {
            return Err(OutputsError::NoSuchStack {
                stack: stack.into(),
                region: region.into(),
            });
        };
        let status = found.stack_status().cloned();
        let ready = matches!(
            status,
            Some(
                StackStatus::CreateComplete
                    | StackStatus::UpdateComplete
                    | StackStatus::UpdateRollbackComplete
            )
        );
        if !ready {
            return Err(OutputsError::NotReady {
                stack: stack.into(),
                status: status.map_or_else(|| "of no status".into(), |s| s.as_str().to_string()),
            });
        }
        let outputs: BTreeMap<String, String> = found
            .outputs()
            .iter()
            .filter_map(|o| Some((o.output_key()?.to_string(), o.output_value()?.to_string())))
            .collect();
        Self::from_outputs(stack, region, &outputs)
    }

    /// The queues the analyzer charts: tasks, then dead letters (none for inference).
    pub fn queue_urls(&self) -> Vec<String> {
        self.worker
            .iter()
            .flat_map(|w| [w.queue_url.clone(), w.dead_letter_queue_url.clone()])
            .collect()
    }

    /// The Auto Scaling groups: web, then worker (if the stack has one).
    pub fn autoscaling_groups(&self) -> Vec<String> {
        std::iter::once(self.web_group.clone())
            .chain(self.worker.iter().map(|w| w.worker_group.clone()))
            .collect()
    }

    /// The RDS instances the analyzer charts (none for inference).
    pub fn db_instances(&self) -> Vec<String> {
        self.worker.iter().map(|w| w.db_instance.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outputs() -> BTreeMap<String, String> {
        [
            ("BaseUrl", "http://aforo-alb-1.us-east-1.elb.amazonaws.com"),
            ("LoadBalancer", "app/aforo-alb/2667085b5faa59ad"),
            ("TargetGroup", "targetgroup/aforo-web/a1ba8250bb846546"),
            ("WebGroup", "aforo-web"),
            ("WorkerGroup", "aforo-worker"),
            (
                "QueueUrl",
                "https://sqs.us-east-1.amazonaws.com/123456789012/aforo-tasks",
            ),
            (
                "DeadLetterQueueUrl",
                "https://sqs.us-east-1.amazonaws.com/123456789012/aforo-tasks-dlq",
            ),
            ("VideoBucket", "aforo-videos-123456789012-us-east-1"),
            ("DbInstance", "aforo-db"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    #[test]
    fn every_output_lands_in_its_field() {
        let t = StackTargets::from_outputs("aforo", "us-east-1", &outputs()).unwrap();
        assert_eq!(t.load_balancer, "app/aforo-alb/2667085b5faa59ad");
        assert_eq!(
            t.target_groups,
            vec!["targetgroup/aforo-web/a1ba8250bb846546"]
        );
        assert_eq!(t.autoscaling_groups(), vec!["aforo-web", "aforo-worker"]);
        assert!(t.queue_urls()[1].ends_with("aforo-tasks-dlq"));
        assert_eq!(t.db_instances(), vec!["aforo-db"]);
        assert_eq!(t.app, StackApp::Anb);
    }

    #[test]
    fn an_inference_stack_has_a_web_group_and_nothing_else() {
        let mut o = outputs();
        for key in WORKER_PATH {
            o.remove(*key);
        }
        o.insert("App".into(), "inference".into());
        let t = StackTargets::from_outputs("seed", "us-east-1", &o).unwrap();
        assert_eq!(t.app, StackApp::Inference);
        assert_eq!(t.worker, None);
        assert_eq!(t.autoscaling_groups(), vec!["aforo-web"]);
        assert!(t.queue_urls().is_empty() && t.db_instances().is_empty());

        // An ANB stack must have its worker path; App names one of the two.
        o.insert("App".into(), "anb".into());
        let err = StackTargets::from_outputs("seed", "us-east-1", &o)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WorkerGroup") && err.contains("DbInstance"),
            "{err}"
        );
        o.insert("App".into(), "ml".into());
        let err = StackTargets::from_outputs("seed", "us-east-1", &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("anb or inference"), "{err}");
    }

    #[test]
    fn a_green_target_group_is_charted_too() {
        let mut o = outputs();
        o.insert(
            "GreenTargetGroup".into(),
            "targetgroup/aforo-green/ff".into(),
        );
        let t = StackTargets::from_outputs("aforo", "us-east-1", &o).unwrap();
        assert_eq!(t.target_groups.len(), 2);
    }

    #[test]
    fn a_stack_of_another_template_is_named_with_what_it_lacks() {
        let mut o = outputs();
        o.remove("WorkerGroup");
        o.insert("QueueUrl".into(), String::new());
        let err = StackTargets::from_outputs("other", "us-east-1", &o)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("WorkerGroup") && err.contains("QueueUrl"),
            "{err}"
        );
        assert!(err.contains("aforo.yaml"), "{err}");
    }

    #[test]
    fn an_unresolved_dimension_is_refused() {
        // What a CloudFormation emulator prints for an attribute it cannot compute.
        let mut o = outputs();
        o.insert(
            "LoadBalancer".into(),
            "{'Fn::GetAtt': ['LoadBalancer', 'LoadBalancerFullName']}".into(),
        );
        let err = StackTargets::from_outputs("aforo", "us-east-1", &o)
            .unwrap_err()
            .to_string();
        assert!(err.contains("app/NAME/ID"), "{err}");
    }
}

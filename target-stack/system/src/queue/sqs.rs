//! Amazon SQS through `aws-sdk-sqs`, configured by the standard AWS chain (environment,
//! profile, instance role; `AWS_ENDPOINT_URL` for moto). The dead-letter queue and
//! maxReceiveCount are the queue's redrive policy, set by the infrastructure.

use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::{Delivery, QueueDepth, QueueError};
use crate::config::AwsSettings;

/// An SQS client from the standard AWS chain, with the explicit settings on top.
pub async fn client(aws: &AwsSettings) -> Client {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
    if let Some(region) = &aws.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(endpoint) = &aws.endpoint {
        loader = loader.endpoint_url(endpoint);
    }
    if let Some(c) = &aws.credentials {
        loader = loader.credentials_provider(aws_sdk_sqs::config::Credentials::new(
            &c.access_key_id,
            c.secret_access_key.expose(),
            c.session_token.as_ref().map(|t| t.expose().to_string()),
            None,
            "aforo-settings",
        ));
    }
    Client::new(&loader.load().await)
}

/// How long a settled dead letter stays hidden: close to SQS's maximum, 12 h counted from
/// the receive (the sweep's lease has already used some of it).
const SETTLED_HIDE: Duration = Duration::from_secs(11 * 3600);

fn delivery(m: aws_sdk_sqs::types::Message) -> Delivery {
    let receive_count = m
        .attributes
        .as_ref()
        .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1);
    Delivery {
        message_id: m.message_id.unwrap_or_default(),
        receipt: m.receipt_handle.unwrap_or_default(),
        body: m.body.unwrap_or_default(),
        receive_count,
    }
}

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    queue_url: String,
    dlq_url: Option<String>,
    visibility_timeout: Duration,
}

fn sqs_error(e: impl std::error::Error) -> QueueError {
    // The SDK's Display is terse ("service error"); the Debug chain names the cause, and may
    // name the endpoint, whose URL can carry credentials (AWS_ENDPOINT_URL).
    QueueError::Sqs(crate::config::redact_secrets(&format!("{e}: {e:?}")))
}

impl SqsQueue {
    pub fn with_client(
        client: Client,
        queue_url: &str,
        dlq_url: Option<&str>,
        visibility_timeout: Duration,
    ) -> Self {
        Self {
            client,
            queue_url: queue_url.to_string(),
            dlq_url: dlq_url.map(str::to_string),
            visibility_timeout,
        }
    }

    pub fn visibility_timeout(&self) -> Duration {
        self.visibility_timeout
    }

    pub fn has_dlq(&self) -> bool {
        self.dlq_url.is_some()
    }

    pub async fn send(&self, body: &str) -> Result<String, QueueError> {
        let out = self
            .client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out.message_id.unwrap_or_default())
    }

    /// SendMessageBatch, ten messages per call (SQS's limit). A message SQS refuses fails
    /// the whole call, naming it, so that no task is silently missing.
    pub async fn send_batch(&self, bodies: &[String]) -> Result<Vec<String>, QueueError> {
        use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
        let mut ids = Vec::with_capacity(bodies.len());
        for chunk in bodies.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(sqs_error)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_error)?;
            if let Some(failed) = out.failed.first() {
                return Err(QueueError::Sqs(format!(
                    "SQS refused message {} of a batch: {} ({})",
                    failed.id,
                    failed.message.as_deref().unwrap_or("no message"),
                    failed.code
                )));
            }
            let mut sent: Vec<(usize, String)> = out
                .successful
                .into_iter()
                .map(|e| (e.id.parse().unwrap_or(usize::MAX), e.message_id))
                .collect();
            sent.sort();
            ids.extend(sent.into_iter().map(|(_, id)| id));
        }
        Ok(ids)
    }

    pub async fn receive(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, QueueError> {
        self.receive_from(&self.queue_url, max, wait, self.visibility_timeout)
            .await
    }

    /// Up to `max` messages of the queue at `url`, waiting up to `wait` (long polling) for
    /// the first, hidden from other receivers for `lease`.
    async fn receive_from(
        &self,
        url: &str,
        max: usize,
        wait: Duration,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(lease.as_secs().max(1) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(delivery)
            .collect())
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    pub async fn change_visibility(
        &self,
        receipt: &str,
        timeout: Duration,
    ) -> Result<(), QueueError> {
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .visibility_timeout(timeout.as_secs() as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    async fn approximate(&self, url: &str) -> Result<(u64, u64), QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sqs_error)?;
        let attrs = out.attributes.unwrap_or_default();
        let get =
            |name: &QueueAttributeName| attrs.get(name).and_then(|v| v.parse().ok()).unwrap_or(0);
        Ok((
            get(&QueueAttributeName::ApproximateNumberOfMessages),
            get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        ))
    }

    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let (visible, in_flight) = self.approximate(&self.queue_url).await?;
        let dead_letter = match &self.dlq_url {
            Some(url) => {
                let (v, n) = self.approximate(url).await?;
                Some(v + n)
            }
            None => None,
        };
        Ok(QueueDepth {
            visible,
            in_flight,
            dead_letter,
            oldest_age: None,
            deleted_total: None,
        })
    }

    /// Receives up to `max` messages of the dead-letter queue, hidden for `lease`; none
    /// when the DLQ is unknown (ANB_DLQ unset).
    pub async fn receive_dead_letters(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<Delivery>, QueueError> {
        let Some(url) = &self.dlq_url else {
            return Ok(Vec::new());
        };
        self.receive_from(url, max, Duration::ZERO, lease).await
    }

    /// SQS cannot mark a message, and deleting a dead letter would lose it for inspection,
    /// redrive and the dead-letter alarm; so a settled dead letter is hidden for nearly SQS's
    /// longest visibility timeout and handled again (idempotently) when it reappears.
    pub async fn settle_dead_letter(&self, receipt: &str) -> Result<(), QueueError> {
        let Some(url) = &self.dlq_url else {
            return Ok(());
        };
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt)
            .visibility_timeout(SETTLED_HIDE.as_secs() as i32)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(())
    }

    /// Reads the DLQ's messages and makes them visible again at once, so looking does not
    /// hide them (SQS has no peek).
    pub async fn dead_letters(&self) -> Result<Vec<String>, QueueError> {
        let Some(url) = &self.dlq_url else {
            return Ok(Vec::new());
        };
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .send()
            .await
            .map_err(sqs_error)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.body)
            .collect())
    }
}

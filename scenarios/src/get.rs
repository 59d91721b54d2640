//! `get`: one GET of one path, again and again. Not a course scenario: it calibrates the
//! load generator (latency accuracy against a server of known delay, throughput against a
//! trivial server) and smoke-tests any HTTP endpoint.

use crate::http::Request;
use crate::record::Exchange;

#[derive(Debug, Clone)]
pub struct GetScenario {
    pub path: String,
}

impl GetScenario {
    pub const ENDPOINT: &'static str = "get";

    pub async fn iterate(&self, ex: &mut Exchange<'_>) {
        let request = Request::get(self.path.as_str());
        ex.send(Self::ENDPOINT, request, &[200, 201, 202, 204])
            .await;
    }
}

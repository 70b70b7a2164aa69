//! The client of a running collector's admin API, as the admin commands use it: one method
//! per endpoint, with the bodies of [`crate::api::types`].

use crate::api::types::{
    Agent, Alert, CaFingerprint, ErrorBody, Event, EventQuery, RuleSummary, TokenCreated, TokenRequest,
};
use anyhow::{Context, Result, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufRead, BufReader};

pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(base: &str, token: Option<String>) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        Client { base: base.trim_end_matches('/').to_string(), token, agent }
    }

    pub fn ca(&self) -> Result<CaFingerprint> {
        self.get("/ca", &[])
    }

    pub fn create_token(&self, request: &TokenRequest) -> Result<TokenCreated> {
        self.post("/tokens", Some(request))
    }

    pub fn agents(&self) -> Result<Vec<Agent>> {
        self.get("/agents", &[])
    }

    pub fn revoke(&self, id: &str) -> Result<Agent> {
        self.post::<(), _>(&format!("/agents/{id}/revoke"), None)
    }

    /// The events, read one line at a time as the collector sends them: the iterator ends with
    /// the answer, or yields an error when the answer breaks off.
    pub fn events(&self, query: &EventQuery) -> Result<impl Iterator<Item = Result<Event>> + use<>> {
        let url = format!("{}/api/v1/events", self.base);
        let response = self.check(&url, self.request_get(&url, &query.pairs())?.call())?;
        let lines = BufReader::new(response.into_body().into_reader()).lines();
        Ok(lines.filter(|line| !matches!(line, Ok(l) if l.is_empty())).map(move |line| {
            let line = line.with_context(|| format!("{url}: the answer broke off"))?;
            serde_json::from_str(&line)
                .with_context(|| format!("{url}: the collector's answer is not what this version of the CLI expects"))
        }))
    }

    /// The newest `limit` alerts.
    pub fn alerts(&self, limit: usize) -> Result<Vec<Alert>> {
        self.get("/alerts", &[("limit", limit.to_string())])
    }

    pub fn rules(&self) -> Result<RuleSummary> {
        self.get("/rules", &[])
    }

    pub fn reload_rules(&self) -> Result<RuleSummary> {
        self.post::<(), _>("/rules/reload", None)
    }

    fn token(&self) -> Result<&str> {
        self.token.as_deref().filter(|t| !t.is_empty()).context(
            "no API token: run `export HAIDANG_API_TOKEN=$(cat DATA/api.token)` (DATA is the collector's --data directory)",
        )
    }

    fn request_get(
        &self,
        url: &str,
        query: &[(&str, String)],
    ) -> Result<ureq::RequestBuilder<ureq::typestate::WithoutBody>> {
        let mut req = self.agent.get(url).header("Authorization", &format!("Bearer {}", self.token()?));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        Ok(req)
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(&str, String)]) -> Result<T> {
        let url = format!("{}/api/v1{path}", self.base);
        self.finish(&url, self.request_get(&url, query)?.call())
    }

    fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: Option<&B>) -> Result<T> {
        let url = format!("{}/api/v1{path}", self.base);
        let req = self.agent.post(&url).header("Authorization", &format!("Bearer {}", self.token()?));
        let response = match body {
            Some(body) => req.send_json(body),
            None => req.send_empty(),
        };
        self.finish(&url, response)
    }

    fn finish<T: DeserializeOwned>(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        self.check(url, response)?
            .body_mut()
            .read_json()
            .with_context(|| format!("{url}: the collector's answer is not what this version of the CLI expects"))
    }

    /// The response when the collector answered with success, else the error it explains.
    fn check(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut response = response.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the collector at {} ({e}); is `haidang-collector serve` running? (--api selects another)",
                self.base
            )
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let message = response.body_mut().read_json::<ErrorBody>().map_or_else(|_| "no details".into(), |b| b.error);
        if status.as_u16() == 401 {
            bail!("the collector refused the API token: {message}");
        }
        bail!("{url}: {status}: {message}")
    }
}

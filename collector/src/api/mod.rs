//! The collector's HTTP interface: `/healthz`, `/metrics`, and the admin JSON API under
//! `/api/v1` (bearer token from `DATA/api.token`), whose bodies are the [`types`] and whose
//! OpenAPI description is served, like `/healthz`, without a token at `/api/v1/openapi.json`.

mod convert;
mod json_lines;
pub mod openapi;
pub mod types;

use crate::correlate::Correlator;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::store::writer::WriteOp;
use crate::store::{self, EventFilter, Store};
use crate::tokens;
use axum::extract::{Path, Query, Request, State};
use axum::handler::Handler;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use axum::{Json, Router};
use haidang_proto::{AgentId, Timestamp};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use types::{
    Agent, Alert, AlertQuery, CaFingerprint, ErrorBody, Event, EventQuery, RuleSummary, TokenCreated, TokenRequest,
};

pub struct App {
    pub store: Arc<Store>,
    pub fleet: Arc<Fleet>,
    pub writer: mpsc::Sender<WriteOp>,
    pub metrics: Arc<Metrics>,
    pub correlator: Correlator,
    pub ca_fingerprint: String,
    pub api_token_hash: blake3::Hash,
    pub store_path: PathBuf,
}

/// Largest `limit` a query may ask for.
const MAX_LIMIT: usize = 1_000_000;

/// The HTTP methods the interface uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Get,
    Post,
}

impl Verb {
    /// As OpenAPI names it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::Post => "post",
        }
    }
}

/// One route of the interface.
pub struct Route {
    pub verb: Verb,
    pub path: &'static str,
    /// Whether the route needs the API token.
    pub guarded: bool,
    handler: MethodRouter<Arc<App>>,
}

fn route<H: Handler<T, Arc<App>>, T: 'static>(verb: Verb, path: &'static str, guarded: bool, handler: H) -> Route {
    let filter = match verb {
        Verb::Get => MethodFilter::GET,
        Verb::Post => MethodFilter::POST,
    };
    Route { verb, path, guarded, handler: on(filter, handler) }
}

/// Every route the router serves; the router is built from this list only, so the test that
/// compares it with the OpenAPI description covers every route.
pub fn routes() -> Vec<Route> {
    vec![
        route(Verb::Get, "/healthz", false, healthz),
        route(Verb::Get, "/metrics", false, metrics),
        route(Verb::Get, "/api/v1/openapi.json", false, openapi_json),
        route(Verb::Get, "/api/v1/ca", true, ca),
        route(Verb::Post, "/api/v1/tokens", true, create_token),
        route(Verb::Get, "/api/v1/agents", true, agents),
        route(Verb::Post, "/api/v1/agents/{id}/revoke", true, revoke),
        route(Verb::Get, "/api/v1/events", true, events),
        route(Verb::Get, "/api/v1/alerts", true, alerts),
        route(Verb::Get, "/api/v1/rules", true, rules),
        route(Verb::Post, "/api/v1/rules/reload", true, reload_rules),
    ]
}

pub fn router(app: Arc<App>) -> Router {
    let (guarded, open): (Vec<Route>, Vec<Route>) = routes().into_iter().partition(|r| r.guarded);
    let add = |router: Router<Arc<App>>, r: Route| router.route(r.path, r.handler);
    // A route layer covers only the routes added before it.
    let router = guarded
        .into_iter()
        .fold(Router::new(), add)
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize));
    open.into_iter().fold(router, add).with_state(app)
}

pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

fn unavailable(e: anyhow::Error) -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}"))
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "API request failed");
    ApiError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

/// The token after `Bearer ` may be surrounded by ASCII whitespace (spaces, tabs: a token
/// pasted from the file with its newline); nothing else is trimmed, so a token is never
/// accepted in a form that only looks the same.
async fn authorize(State(app): State<Arc<App>>, headers: HeaderMap, request: Request, next: Next) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| blake3::hash(t.trim_ascii().as_bytes()));
    // blake3::Hash compares in constant time.
    if presented == Some(app.api_token_hash) {
        next.run(request).await
    } else {
        ApiError(StatusCode::UNAUTHORIZED, "missing or wrong API token (set HAIDANG_API_TOKEN)".into()).into_response()
    }
}

/// Health: the first line is `ok` while the collector can store, else `unavailable: WHY`;
/// then one `part: state` line each for the store and the correlate stage's backlog.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses(
        (status = 200, description = "The collector is running and can store", body = String,
            content_type = "text/plain"),
        (status = 503, description = "The collector cannot store (and so acknowledges nothing); the body says why",
            body = String, content_type = "text/plain")))]
async fn healthz(State(app): State<Arc<App>>) -> (StatusCode, String) {
    let backlog = format!(
        "correlation backlog: {} batches, the oldest waiting {} s\n",
        app.metrics.correlate_backlog.get(),
        app.correlator.backlog_wait().as_secs()
    );
    match app.store.problem() {
        None => (StatusCode::OK, format!("ok\nstore: ok\n{backlog}")),
        Some(why) => {
            let why = why.replace(['\n', '\r'], " ");
            (StatusCode::SERVICE_UNAVAILABLE, format!("unavailable: store: {why}\nstore: {why}\n{backlog}"))
        }
    }
}

/// Prometheus metrics in the OpenMetrics text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Counters and gauges", body = String,
        content_type = "application/openmetrics-text")))]
async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Ok(meta) = std::fs::metadata(&app.store_path) {
        app.metrics.store_bytes.set(meta.len() as i64);
    }
    app.metrics.agents_connected.set(app.fleet.connected_count() as i64);
    app.metrics.correlate_backlog_age.set(i64::try_from(app.correlator.backlog_wait().as_secs()).unwrap_or(i64::MAX));
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}

/// This description of the API (OpenAPI 3). It is not secret, so it needs no token.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", content_type = "application/json")))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::document())
}

/// The CA fingerprint that agents pin at enrollment.
#[utoipa::path(get, path = "/api/v1/ca", tag = "enrollment", security(("api_token" = [])),
    responses((status = 200, body = CaFingerprint), (status = 401, body = ErrorBody)))]
async fn ca(State(app): State<Arc<App>>) -> Json<CaFingerprint> {
    Json(CaFingerprint { fingerprint: app.ca_fingerprint.clone() })
}

/// Creates an enrollment token.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "enrollment", security(("api_token" = [])),
    request_body = TokenRequest,
    responses((status = 200, body = TokenCreated), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_token(
    State(app): State<Arc<App>>,
    Json(req): Json<TokenRequest>,
) -> Result<Json<TokenCreated>, ApiError> {
    let spec = tokens::TokenSpec {
        group: &req.group,
        ttl: Duration::from_secs(req.ttl_secs),
        uses: req.uses,
        allow_reenroll: req.allow_reenroll,
    };
    let created = tokens::create(&app.writer, spec).await.map_err(|e| bad_request(e.to_string()))?;
    Ok(Json(TokenCreated {
        token: created.token,
        group: req.group,
        uses: req.uses,
        expires: created.expires.to_rfc3339(),
        allow_reenroll: req.allow_reenroll,
    }))
}

/// Every enrolled agent, by hostname.
#[utoipa::path(get, path = "/api/v1/agents", tag = "fleet", security(("api_token" = [])),
    responses((status = 200, body = Vec<Agent>), (status = 401, body = ErrorBody)))]
async fn agents(State(app): State<Arc<App>>) -> Result<Json<Vec<Agent>>, ApiError> {
    let db = app.store.db().map_err(unavailable)?;
    let tips =
        tokio::task::spawn_blocking(move || store::chain_tips(&db)).await.map_err(internal)?.map_err(internal)?;
    let list = app
        .fleet
        .snapshot()
        .into_iter()
        .map(|(record, connected, seen)| {
            let chain = tips.get(&record.id).map_or((0, 0), |t| (t.batch_no, t.last_seq));
            convert::agent(record, connected, seen, chain)
        })
        .collect();
    Ok(Json(list))
}

/// Revokes an agent's certificate: its connections are closed and refused from now on.
#[utoipa::path(post, path = "/api/v1/agents/{id}/revoke", tag = "fleet", security(("api_token" = [])),
    params(("id" = String, Path, description = "The agent's id (32 hexadecimal digits)")),
    responses((status = 200, description = "The agent, now revoked", body = Agent),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
async fn revoke(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Agent>, ApiError> {
    let id: AgentId = id.parse().map_err(bad_request)?;
    let (reply, done) = oneshot::channel();
    app.writer.send(WriteOp::Revoke { id, reply }).await.map_err(internal)?;
    let Some(record) = done.await.map_err(internal)?.map_err(internal)? else {
        return Err(ApiError(StatusCode::NOT_FOUND, format!("no agent {id}")));
    };
    tracing::warn!(agent = %id, "agent certificate revoked");
    let db = app.store.db().map_err(unavailable)?;
    let tips =
        tokio::task::spawn_blocking(move || store::chain_tips(&db)).await.map_err(internal)?.map_err(internal)?;
    let chain = tips.get(&id).map_or((0, 0), |t| (t.batch_no, t.last_seq));
    Ok(Json(convert::agent(record, false, None, chain)))
}

/// The newest stored events that match, oldest of them first, one a line. The store is read a
/// chunk at a time while the answer is sent, so a large `limit` does not cost memory.
#[utoipa::path(get, path = "/api/v1/events", tag = "events", security(("api_token" = [])), params(EventQuery),
    responses((status = 200, description = "JSON lines: one Event object a line, oldest first", body = Event,
        content_type = "application/x-ndjson"),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn events(State(app): State<Arc<App>>, Query(q): Query<EventQuery>) -> Result<Response, ApiError> {
    let filter = EventFilter {
        agent: q.agent.as_deref().map(str::parse).transpose().map_err(bad_request)?,
        kind: q.kind.as_deref().map(str::parse).transpose().map_err(bad_request)?,
        from: q.from.as_deref().map(Timestamp::parse_rfc3339).transpose().map_err(bad_request)?,
        to: q.to.as_deref().map(Timestamp::parse_rfc3339).transpose().map_err(bad_request)?,
        limit: q.limit.unwrap_or(100).min(MAX_LIMIT),
    };
    let db = app.store.db().map_err(unavailable)?;
    let plan = {
        let db = db.clone();
        tokio::task::spawn_blocking(move || store::events::plan(&db, &filter))
            .await
            .map_err(internal)?
            .map_err(internal)?
    };
    // The stream holds this handle until it ends; a store reopen after a failed commit waits
    // for it (the writer retries), so a reader never sees a database being replaced.
    Ok(json_lines::respond(move |lines| plan.read(&db, |agent, event| lines.push(&convert::event(&agent, &event)))))
}

/// The newest alerts.
#[utoipa::path(get, path = "/api/v1/alerts", tag = "alerts", security(("api_token" = [])), params(AlertQuery),
    responses((status = 200, body = Vec<Alert>), (status = 401, body = ErrorBody)))]
async fn alerts(State(app): State<Arc<App>>, Query(q): Query<AlertQuery>) -> Result<Json<Vec<Alert>>, ApiError> {
    let db = app.store.db().map_err(unavailable)?;
    let limit = q.limit.unwrap_or(1000).min(MAX_LIMIT);
    let found =
        tokio::task::spawn_blocking(move || store::alerts(&db, limit)).await.map_err(internal)?.map_err(internal)?;
    Ok(Json(found.iter().map(convert::alert).collect()))
}

/// The Sigma rules in use now.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", security(("api_token" = [])),
    responses((status = 200, body = RuleSummary), (status = 401, body = ErrorBody)))]
async fn rules(State(app): State<Arc<App>>) -> Json<RuleSummary> {
    Json(convert::rule_summary(app.correlator.rules()))
}

/// Rereads the rule directories (as SIGHUP does) and answers with the load report.
#[utoipa::path(post, path = "/api/v1/rules/reload", tag = "rules", security(("api_token" = [])),
    responses((status = 200, body = RuleSummary), (status = 401, body = ErrorBody)))]
async fn reload_rules(State(app): State<Arc<App>>) -> Result<Json<RuleSummary>, ApiError> {
    let summary = app.correlator.reload().await.map_err(internal)?;
    Ok(Json(convert::rule_summary(summary)))
}

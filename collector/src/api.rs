//! The collector's HTTP interface: `/healthz`, `/metrics`, and the admin JSON API under
//! `/api/v1` (bearer token from `DATA/api.token`).

use crate::correlate::Correlator;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::store::writer::WriteOp;
use crate::store::{self, EventFilter};
use crate::tokens;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use haidang_proto::{AgentId, Timestamp};
use redb::Database;
use serde::Deserialize;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub struct App {
    pub db: Arc<Database>,
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

pub fn router(app: Arc<App>) -> Router {
    let api = Router::new()
        .route("/ca", get(ca))
        .route("/tokens", post(create_token))
        .route("/agents", get(agents))
        .route("/agents/{id}/revoke", post(revoke))
        .route("/events", get(events))
        .route("/alerts", get(alerts))
        .route("/rules", get(rules))
        .route("/rules/reload", post(reload_rules))
        .route_layer(middleware::from_fn_with_state(app.clone(), authorize));
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api)
        .with_state(app)
}

pub struct ApiError(StatusCode, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn bad_request(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
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

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Ok(meta) = std::fs::metadata(&app.store_path) {
        app.metrics.store_bytes.set(meta.len() as i64);
    }
    app.metrics.agents_connected.set(app.fleet.connected_count() as i64);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render())
}

async fn ca(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!({ "fingerprint": app.ca_fingerprint }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    group: String,
    ttl_secs: u64,
    uses: u32,
}

async fn create_token(State(app): State<Arc<App>>, Json(req): Json<TokenRequest>) -> Result<Json<Value>, ApiError> {
    let created = tokens::create(&app.writer, &req.group, Duration::from_secs(req.ttl_secs), req.uses)
        .await
        .map_err(|e| bad_request(e.to_string()))?;
    Ok(Json(json!({
        "token": created.token, "group": req.group, "uses": req.uses, "expires": created.expires.to_rfc3339(),
    })))
}

async fn agents(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let db = app.db.clone();
    let tips =
        tokio::task::spawn_blocking(move || store::chain_tips(&db)).await.map_err(internal)?.map_err(internal)?;
    let list: Vec<Value> = app
        .fleet
        .snapshot()
        .into_iter()
        .map(|(record, connected, seen)| {
            let mut v = record.to_json(connected, seen);
            let tip = tips.get(&record.id);
            v["batches"] = json!(tip.map_or(0, |t| t.batch_no));
            v["last_seq"] = json!(tip.map_or(0, |t| t.last_seq));
            v
        })
        .collect();
    Ok(Json(Value::Array(list)))
}

async fn revoke(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id: AgentId = id.parse().map_err(bad_request)?;
    let (reply, done) = oneshot::channel();
    app.writer.send(WriteOp::Revoke { id, reply }).await.map_err(internal)?;
    match done.await.map_err(internal)?.map_err(internal)? {
        Some(record) => {
            tracing::warn!(agent = %id, "agent certificate revoked");
            Ok(Json(record.to_json(false, None)))
        }
        None => Err(ApiError(StatusCode::NOT_FOUND, format!("no agent {id}"))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventQuery {
    agent: Option<String>,
    kind: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<usize>,
}

async fn events(State(app): State<Arc<App>>, Query(q): Query<EventQuery>) -> Result<Json<Value>, ApiError> {
    let filter = EventFilter {
        agent: q.agent.as_deref().map(str::parse).transpose().map_err(bad_request)?,
        kind: q.kind.as_deref().map(str::parse).transpose().map_err(bad_request)?,
        from: q.from.as_deref().map(Timestamp::parse_rfc3339).transpose().map_err(bad_request)?,
        to: q.to.as_deref().map(Timestamp::parse_rfc3339).transpose().map_err(bad_request)?,
        limit: q.limit.unwrap_or(100).min(MAX_LIMIT),
    };
    let db = app.db.clone();
    let found =
        tokio::task::spawn_blocking(move || store::events(&db, &filter)).await.map_err(internal)?.map_err(internal)?;
    Ok(Json(Value::Array(found.iter().map(|(agent, e)| e.to_json(agent)).collect())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertQuery {
    limit: Option<usize>,
}

async fn alerts(State(app): State<Arc<App>>, Query(q): Query<AlertQuery>) -> Result<Json<Value>, ApiError> {
    let db = app.db.clone();
    let limit = q.limit.unwrap_or(1000).min(MAX_LIMIT);
    let found =
        tokio::task::spawn_blocking(move || store::alerts(&db, limit)).await.map_err(internal)?.map_err(internal)?;
    Ok(Json(Value::Array(found.iter().map(|a| a.to_json()).collect())))
}

async fn rules(State(app): State<Arc<App>>) -> Json<Value> {
    Json(json!(app.correlator.rules()))
}

/// Rereads the rule directories (as SIGHUP does) and answers with the load report.
async fn reload_rules(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let summary = app.correlator.reload().await.map_err(internal)?;
    Ok(Json(json!(summary)))
}

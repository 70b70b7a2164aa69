//! Admin commands that talk to a running collector's HTTP API.

use anyhow::{Context, Result, bail};
use haidang_proto::text::terminal_safe;
use serde_json::{Value, json};

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

    fn token(&self) -> Result<&str> {
        self.token.as_deref().filter(|t| !t.is_empty()).context(
            "no API token: run `export HAIDANG_API_TOKEN=$(cat DATA/api.token)` (DATA is the collector's --data directory)",
        )
    }

    pub fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let mut req = self.agent.get(&url).header("Authorization", &format!("Bearer {}", self.token()?));
        for (k, v) in query {
            req = req.query(*k, v);
        }
        self.finish(&url, req.call())
    }

    pub fn post(&self, path: &str, body: Value) -> Result<Value> {
        let url = format!("{}/api/v1{path}", self.base);
        let req = self.agent.post(&url).header("Authorization", &format!("Bearer {}", self.token()?));
        self.finish(&url, req.send_json(&body))
    }

    fn finish(&self, url: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Value> {
        let mut response = response.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the collector at {} ({e}); is `haidang-collector serve` running? (--api selects another)",
                self.base
            )
        })?;
        let status = response.status();
        let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"].as_str().unwrap_or("no details").to_string();
        if status.as_u16() == 401 {
            bail!("the collector refused the API token: {message}");
        }
        bail!("{url}: {status}: {message}")
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => terminal_safe(s),
        other => terminal_safe(&other.to_string()),
    }
}

fn print_json_lines(list: &Value) {
    for item in list.as_array().into_iter().flatten() {
        println!("{item}");
    }
}

pub fn ca_fingerprint(client: &Client) -> Result<()> {
    let v = client.get("/ca", &[])?;
    println!("{}", v["fingerprint"].as_str().context("the collector sent no fingerprint")?);
    Ok(())
}

pub fn token_create(client: &Client, group: &str, ttl: std::time::Duration, uses: u32) -> Result<()> {
    let v = client.post("/tokens", json!({ "group": group, "ttl_secs": ttl.as_secs().max(1), "uses": uses }))?;
    println!("{}", v["token"].as_str().context("the collector sent no token")?);
    eprintln!("token for group {:?}: {} use(s), expires {}", group, uses, v["expires"].as_str().unwrap_or("?"));
    Ok(())
}

pub fn agents_list(client: &Client, as_json: bool) -> Result<()> {
    let list = client.get("/agents", &[])?;
    if as_json {
        print_json_lines(&list);
        return Ok(());
    }
    println!(
        "{:<32}  {:<20}  {:<12}  {:<12}  {:>8}  {:>10}  LAST SEEN",
        "ID", "HOST", "GROUP", "STATE", "BATCHES", "LAST SEQ"
    );
    for a in list.as_array().into_iter().flatten() {
        let state = if a["revoked"] == json!(true) {
            "revoked"
        } else if a["connected"] == json!(true) {
            "connected"
        } else {
            "disconnected"
        };
        println!(
            "{:<32}  {:<20}  {:<12}  {:<12}  {:>8}  {:>10}  {}",
            text(&a["id"]),
            text(&a["hostname"]),
            text(&a["group"]),
            state,
            text(&a["batches"]),
            text(&a["last_seq"]),
            text(&a["last_seen"])
        );
    }
    Ok(())
}

pub fn agents_revoke(client: &Client, id: &str) -> Result<()> {
    let v = client.post(&format!("/agents/{id}/revoke"), json!({}))?;
    println!("revoked agent {} ({})", text(&v["id"]), text(&v["hostname"]));
    Ok(())
}

pub struct EventQuery {
    pub agent: Option<String>,
    pub kind: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    pub limit: usize,
}

pub fn events_list(client: &Client, q: &EventQuery, as_json: bool) -> Result<()> {
    let mut query = vec![("limit", q.limit.to_string())];
    for (k, v) in [("agent", &q.agent), ("kind", &q.kind), ("from", &q.from), ("to", &q.to)] {
        if let Some(v) = v {
            query.push((k, v.clone()));
        }
    }
    let list = client.get("/events", &query)?;
    if as_json {
        print_json_lines(&list);
        return Ok(());
    }
    println!("{:<27}  {:<8}  {:>8}  {:<8}  {:<10}  DETAIL", "TIME", "AGENT", "SEQ", "KIND", "ACTION");
    for e in list.as_array().into_iter().flatten() {
        let detail = match e["kind"].as_str() {
            Some("file") => text(&e["path"]),
            Some("process") => format!("pid {} {}", text(&e["pid"]), text(&e["command_line"])),
            Some("health") => format!("spool {} events, rss {} B", text(&e["spool_events"]), text(&e["rss_bytes"])),
            Some("gap") => format!("{} events lost: {}", text(&e["lost"]), text(&e["reason"])),
            _ => String::new(),
        };
        let agent = text(&e["agent_id"]);
        println!(
            "{:<27}  {:<8}  {:>8}  {:<8}  {:<10}  {}",
            text(&e["time"]),
            agent.get(..8).unwrap_or(&agent),
            text(&e["seq"]),
            text(&e["kind"]),
            text(&e["action"]),
            detail
        );
    }
    Ok(())
}

pub fn alerts_list(client: &Client, as_json: bool) -> Result<()> {
    let list = client.get("/alerts", &[])?;
    if as_json {
        print_json_lines(&list);
        return Ok(());
    }
    println!("{:>6}  {:<27}  {:<8}  {:<8}  {:<11}  TITLE", "ID", "TIME", "SEVERITY", "AGENT", "KIND");
    for a in list.as_array().into_iter().flatten() {
        let agent = text(&a["agent_id"]);
        println!(
            "{:>6}  {:<27}  {:<8}  {:<8}  {:<11}  {}",
            text(&a["id"]),
            text(&a["time"]),
            text(&a["severity"]),
            agent.get(..8).unwrap_or(&agent),
            text(&a["kind"]),
            text(&a["title"])
        );
    }
    Ok(())
}

/// `rules reload`: the running collector rereads its rule directories. Fails (exit 1) when
/// any rule was skipped, after printing why, so a deployment script notices.
pub fn rules_reload(client: &Client, as_json: bool) -> Result<bool> {
    print_rule_summary(&client.post("/rules/reload", serde_json::json!({}))?, as_json)
}

/// `rules status`: the rules the running collector uses now.
pub fn rules_status(client: &Client, as_json: bool) -> Result<bool> {
    print_rule_summary(&client.get("/rules", &[])?, as_json)
}

fn print_rule_summary(summary: &Value, as_json: bool) -> Result<bool> {
    let skipped = summary["skipped"].as_u64().unwrap_or(0);
    if as_json {
        println!("{summary}");
    } else {
        for problem in summary["problems"].as_array().into_iter().flatten() {
            println!("{}", text(problem));
        }
        println!(
            "{} rules loaded ({} detection, {} correlation), {} skipped, from {} files",
            text(&summary["loaded"]),
            text(&summary["detection_rules"]),
            text(&summary["correlation_rules"]),
            skipped,
            text(&summary["files"])
        );
    }
    Ok(skipped == 0)
}

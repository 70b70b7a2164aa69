//! The HTTP listener (admin API, `/metrics`, `/healthz`), with the bounds a listener needs
//! when it may be reached by more than administrators: at most `--http-max-connections`
//! connections, a request's headers (and a kept-alive connection's next request) within
//! `--http-header-timeout-secs`, and at most `--http-requests-per-second` per source
//! address (with a burst of twice that), answered 503 and 429 beyond.

use crate::limits::Limits;
use crate::metrics::Metrics;
use axum::Router;
use axum::body::Body;
use axum::http::{Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;

/// Sources whose request rate is remembered at once; beyond, idle ones are forgotten.
const MAX_SOURCES: usize = 65_536;

/// Serves `router` until `stop` resolves, then lets requests in progress finish.
pub async fn serve(listener: TcpListener, router: Router, limits: Limits, metrics: Arc<Metrics>, stop: impl Future) {
    let slots = Arc::new(Semaphore::new(limits.http_max_connections));
    let rate = Arc::new(RequestRate::new(limits.http_requests_per_second));
    let (stopping, stopped) = watch::channel(false);
    let mut tasks = tokio::task::JoinSet::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot accept an HTTP connection");
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            metrics.http_refused("connection_limit");
            drop(stream);
            continue;
        };
        let service = {
            let (router, rate, metrics) = (router.clone(), rate.clone(), metrics.clone());
            hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                let (router, rate, metrics) = (router.clone(), rate.clone(), metrics.clone());
                async move {
                    if !rate.allow(peer.ip()) {
                        metrics.http_refused("rate_limit");
                        let mut tired = Response::new(Body::from("too many requests\n"));
                        *tired.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                        return Ok::<_, Infallible>(tired);
                    }
                    router.oneshot(request.map(Body::new)).await
                }
            })
        };
        let header_timeout = limits.http_header_timeout();
        let mut stopped = stopped.clone();
        tasks.spawn(async move {
            let _slot = slot;
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                _ = connection.as_mut() => {}
                _ = stopped.changed() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
        });
        while tasks.try_join_next().is_some() {}
    }
    let _ = stopping.send(true);
    while tasks.join_next().await.is_some() {}
}

/// A token bucket per source address.
struct RequestRate {
    per_second: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RequestRate {
    fn new(per_second: u32) -> RequestRate {
        RequestRate { per_second: f64::from(per_second.max(1)), buckets: Mutex::default() }
    }

    fn allow(&self, source: IpAddr) -> bool {
        let burst = self.per_second * 2.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_SOURCES && !buckets.contains_key(&source) {
            // A bucket that has refilled holds nothing worth remembering.
            let per_second = self.per_second;
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * per_second < burst);
        }
        let (tokens, at) = buckets.entry(source).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_gets_its_burst_then_is_limited_and_others_are_not() {
        let rate = RequestRate::new(5);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let allowed = (0..20).filter(|_| rate.allow(a)).count();
        assert_eq!(allowed, 10);
        assert!(rate.allow(b));
    }
}

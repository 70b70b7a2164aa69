//! Bounds on what peers can make the collector hold, as `serve` flags. The defaults fit a
//! fleet of tens of thousands of agents; an unauthenticated peer gets little of anything.

use clap::Args;
use std::time::Duration;

#[derive(Args, Clone, Debug)]
pub struct Limits {
    /// Connections not yet authenticated (handshakes and enrollments), all sources together.
    #[arg(long, default_value_t = 1024)]
    pub max_unauthenticated_connections: usize,
    /// Connections not yet authenticated from one source address.
    #[arg(long, default_value_t = 16)]
    pub max_unauthenticated_per_source: usize,
    /// Unauthenticated connections in progress above which new ones must first prove their
    /// address (QUIC Retry), so a spoofed flood cannot use up the limits above.
    #[arg(long, default_value_t = 64)]
    pub quic_retry_above: usize,
    /// Largest enrollment request in bytes (a real one is about 1 KiB).
    #[arg(long, default_value_t = 16 * 1024)]
    pub max_enroll_request_bytes: usize,
    /// Seconds an agent may take to send one frame once it has begun it.
    #[arg(long, default_value_t = 30)]
    pub agent_frame_timeout_secs: u64,
    /// Seconds an agent's stream may stay without a new frame before it is closed (longer
    /// than the agents' heartbeat interval).
    #[arg(long, default_value_t = 600)]
    pub agent_idle_timeout_secs: u64,
    /// HTTP connections open at once; more are closed on accept.
    #[arg(long, default_value_t = 256)]
    pub http_max_connections: usize,
    /// Seconds a client may take to send a request's headers, and a kept-alive connection
    /// may wait for its next request.
    #[arg(long, default_value_t = 10)]
    pub http_header_timeout_secs: u64,
    /// HTTP requests per second from one source address (bursts of twice that).
    #[arg(long, default_value_t = 200)]
    pub http_requests_per_second: u32,
}

impl Limits {
    pub fn agent_frame_timeout(&self) -> Duration {
        Duration::from_secs(self.agent_frame_timeout_secs)
    }

    pub fn agent_idle_timeout(&self) -> Duration {
        Duration::from_secs(self.agent_idle_timeout_secs)
    }

    pub fn http_header_timeout(&self) -> Duration {
        Duration::from_secs(self.http_header_timeout_secs)
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_unauthenticated_connections: 1024,
            max_unauthenticated_per_source: 16,
            quic_retry_above: 64,
            max_enroll_request_bytes: 16 * 1024,
            agent_frame_timeout_secs: 30,
            agent_idle_timeout_secs: 600,
            http_max_connections: 256,
            http_header_timeout_secs: 10,
            http_requests_per_second: 200,
        }
    }
}

//! `haidang-loadgen`: drives a running collector with simulated agents over loopback QUIC
//! and measures it — ingest throughput and ack latency, enrollments per second, memory per
//! connected idle agent. Every simulated agent enrolls for real, holds its own key and
//! client certificate and speaks the agent's wire protocol; batches are sealed (compressed,
//! chained, signed) before the timed phase so the generator's own CPU goes to the network.
//!
//! Performance figures come from this binary and `bench/bench-collector.sh`, never from
//! timed tests.

mod loadgen;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use haidang_agent::net::read_frame;
use haidang_proto::batch::{ChainTip, seal};
use haidang_proto::wire::{AgentFrame, CollectorFrame, encode_frame};
use loadgen::collector::{self, Api, round};
use loadgen::events::{self, Generator};
use loadgen::sim::{self, Identities, Identity};
use loadgen::stats::{Latencies, thousands};
use serde_json::{Value, json};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// Load generator for the Hải Đăng collector: simulated agents that enroll, stream signed
/// batches and idle over QUIC, exactly as real agents do.
#[derive(Parser)]
#[command(name = "haidang-loadgen", version)]
struct Cli {
    /// The collector's HTTP API (tokens, CA fingerprint, /metrics).
    #[arg(long, global = true, default_value = "http://127.0.0.1:8080")]
    api: String,
    /// The collector's API token file (DATA/api.token); needed to create enrollment tokens.
    #[arg(long, global = true)]
    token_file: Option<PathBuf>,
    /// The collector's QUIC address for agents.
    #[arg(long, global = true, default_value = "127.0.0.1:4433")]
    server: String,
    /// The collector's process id: its CPU time and resident memory are read from /proc.
    #[arg(long, global = true)]
    collector_pid: Option<u32>,
    /// Client UDP sockets (QUIC endpoints) the simulated agents share.
    #[arg(long, global = true, default_value_t = 4)]
    endpoints: usize,
    /// Worker threads of the load generator (default: one per CPU).
    #[arg(long, global = true)]
    threads: Option<usize>,
    /// Print the result as one JSON object instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Also write the result as JSON to this file.
    #[arg(long, global = true)]
    json_out: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sustained ingest: N agents stream signed batches, W in flight each; reports
    /// acknowledged (durably stored) events per second and per-batch ack latency.
    Ingest(IngestArgs),
    /// Enrollment rate: N real enrollments, C at a time.
    Enroll(EnrollArgs),
    /// Idle connections: N enrolled agents connect, send one heartbeat and stay connected
    /// (QUIC keep-alive); reports the collector's memory per connection.
    Idle(IdleArgs),
}

#[derive(Args)]
struct IngestArgs {
    /// Simulated agents, each on its own QUIC connection.
    #[arg(long, default_value_t = 64)]
    agents: usize,
    /// Events in each batch.
    #[arg(long, default_value_t = 1000)]
    events_per_batch: usize,
    /// Length of the measured phase.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Unmeasured time before it (connections warm up, the store grows its first pages).
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Batches each agent keeps in flight (sent, not yet acknowledged); the agent uses 8.
    #[arg(long, default_value_t = 8)]
    window: usize,
    /// Offer this many events per second in total, each agent sending on a fixed schedule
    /// (latency is then measured from the scheduled send, so a stalled collector cannot hide
    /// its queueing). Default: as fast as the window allows (saturation).
    #[arg(long)]
    rate: Option<u64>,
    /// Highest rate the run can show: batches for this many events per second are sealed
    /// in advance. A run that exhausts them says so.
    #[arg(long, default_value_t = 400_000)]
    max_rate: u64,
}

#[derive(Args)]
struct EnrollArgs {
    /// Agents to enroll.
    #[arg(long, default_value_t = 2000)]
    count: usize,
    /// Enrollments in progress at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Save the enrolled identities here, for `idle --identities`.
    #[arg(long)]
    save: Option<PathBuf>,
}

#[derive(Args)]
struct IdleArgs {
    /// Agents to connect.
    #[arg(long)]
    connections: usize,
    /// Identities saved by `enroll --save` (enrolls new agents when absent; saves them if
    /// the file does not exist yet).
    #[arg(long)]
    identities: Option<PathBuf>,
    /// Connections being set up at once.
    #[arg(long, default_value_t = 200)]
    concurrency: usize,
    /// Seconds to let the collector settle before each memory reading.
    #[arg(long, default_value_t = 10)]
    settle: u64,
    /// Hold the connections this many seconds, then exit (default: until Ctrl-C).
    #[arg(long)]
    hold: Option<u64>,
}

struct Ctx {
    api: Api,
    server: SocketAddr,
    collector_pid: Option<u32>,
    endpoints: usize,
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let server = cli
        .server
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve --server {:?} (expected HOST:PORT)", cli.server))?
        .next()
        .with_context(|| format!("--server {:?} resolves to nothing", cli.server))?;
    let ctx = Ctx {
        api: Api::new(&cli.api, cli.token_file.as_deref())?,
        server,
        collector_pid: cli.collector_pid,
        endpoints: cli.endpoints.max(1),
        json: cli.json,
    };
    let threads = cli.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from)).max(1);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build()?;
    let report = match cli.command {
        Command::Ingest(a) => rt.block_on(ingest(&ctx, a))?,
        Command::Enroll(a) => rt.block_on(enroll(&ctx, a))?,
        Command::Idle(a) => rt.block_on(idle(&ctx, a))?,
    };
    if ctx.json {
        println!("{report}");
    }
    if let Some(path) = &cli.json_out {
        std::fs::write(path, format!("{report}\n")).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Progress and results for people (stderr for progress, stdout for results).
fn note(ctx: &Ctx, msg: &str) {
    if !ctx.json {
        eprintln!("{msg}");
    }
}

fn say(ctx: &Ctx, msg: &str) {
    if !ctx.json {
        println!("{msg}");
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f).await.context("background task failed")?
}

/// Enrolls `count` new agents through the collector's API token; fails if any enrollment fails.
async fn enroll_agents(ctx: &Ctx, count: usize, concurrency: usize, group: &str) -> Result<sim::EnrollRun> {
    let (api_pin, api_token) = (ctx.api.ca_fingerprint()?, ctx.api.create_token(group, count)?);
    let applicants = blocking(move || sim::applicants(count, &api_token)).await?;
    let endpoints = sim::endpoints(ctx.endpoints, ctx.server)?;
    let run = sim::enroll_many(&endpoints, ctx.server, &api_pin, applicants, concurrency).await;
    if run.failures > 0 {
        bail!(
            "{} of {count} enrollments failed; first: {}",
            run.failures,
            run.first_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok(run)
}

// ---------------------------------------------------------------------------------------
// enroll

async fn enroll(ctx: &Ctx, a: EnrollArgs) -> Result<Value> {
    if a.count == 0 {
        bail!("--count must be at least 1");
    }
    let pin = ctx.api.ca_fingerprint()?;
    let token = ctx.api.create_token("loadgen-enroll", a.count)?;
    note(ctx, &format!("preparing {} keys and signed enrollment requests…", a.count));
    let applicants = blocking(move || sim::applicants(a.count, &token)).await?;
    let endpoints = sim::endpoints(ctx.endpoints, ctx.server)?;
    note(ctx, &format!("enrolling {} agents, {} at a time…", a.count, a.concurrency));
    let usage_start = collector::start_usage(ctx.collector_pid);
    let run = sim::enroll_many(&endpoints, ctx.server, &pin, applicants, a.concurrency).await;
    let usage = collector::end_usage(ctx.collector_pid, usage_start);
    let enrolled = run.identities.agents.len();
    let secs = run.elapsed.as_secs_f64();
    let rate = enrolled as f64 / secs;
    let mut lat = Latencies::default();
    for d in &run.latencies {
        lat.push(*d);
    }
    let latency = lat.summary();
    let collector_ms_each =
        usage.collector.as_ref().map(|(s, e)| (e.cpu_secs - s.cpu_secs) * 1000.0 / enrolled.max(1) as f64);
    say(ctx, &format!("enroll: {} agents, {} at a time, {} endpoints", a.count, a.concurrency, ctx.endpoints));
    say(ctx, &format!("  enrolled:  {enrolled} in {secs:.2} s = {} enrollments/s", thousands(rate)));
    if run.failures > 0 {
        say(ctx, &format!("  failed:    {} (first: {})", run.failures, run.first_error.as_deref().unwrap_or("?")));
    }
    say(ctx, &format!("  latency:   {} (connect → certificate)", latency.describe()));
    say(ctx, &format!("  CPU:       {}", usage.describe()));
    if let Some(ms) = collector_ms_each {
        say(ctx, &format!("  collector: {ms:.2} ms CPU per enrollment"));
    }
    if let Some(path) = &a.save {
        run.identities.save(path)?;
        note(ctx, &format!("identities saved to {}", path.display()));
    }
    Ok(json!({
        "benchmark": "enroll",
        "count": a.count, "concurrency": a.concurrency, "endpoints": ctx.endpoints,
        "enrolled": enrolled, "failed": run.failures, "first_error": run.first_error,
        "seconds": round(secs, 3), "enrollments_per_sec": round(rate, 1),
        "latency": latency.to_json(),
        "collector_cpu_ms_per_enrollment": collector_ms_each.map(|v| round(v, 3)),
        "usage": usage.to_json(),
    }))
}

// ---------------------------------------------------------------------------------------
// ingest

/// A sealed batch, encoded as the frame the agent sends.
struct Frame {
    batch_no: u64,
    events: u32,
    bytes: Vec<u8>,
}

struct Sealed {
    frames: Vec<Vec<Frame>>,
    /// Of each agent's first batch: events, raw (postcard) and compressed payload bytes.
    sample_events: u64,
    sample_raw: u64,
    sample_payload: u64,
    frame_bytes: u64,
}

/// One agent's sealed chain, with the sizes of its first batch.
struct AgentFrames {
    frames: Vec<Frame>,
    sample_events: u64,
    sample_raw: u64,
    sample_payload: u64,
}

/// Builds each agent's chain of `batches` signed batches of `per_batch` events, on all cores.
fn preseal(agents: &[Identity], per_batch: usize, batches: usize) -> Result<Sealed> {
    let threads = std::thread::available_parallelism().map_or(2, usize::from);
    let per_thread = agents.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Vec<AgentFrames>>> = std::thread::scope(|s| {
        let handles: Vec<_> = agents
            .chunks(per_thread)
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|agent| {
                            let key = agent.key()?;
                            let seed = u64::from_le_bytes(agent.agent_id.0[..8].try_into().unwrap_or_default());
                            let mut generator = Generator::new(seed);
                            let mut tip: Option<ChainTip> = None;
                            let mut frames = Vec::with_capacity(batches);
                            let (mut raw, mut payload) = (0, 0);
                            for i in 0..batches {
                                let events = generator.batch(per_batch);
                                let batch = seal(&key, agent.agent_id, tip.as_ref(), &events);
                                if i == 0 {
                                    raw = events::raw_len(&events) as u64;
                                    payload = batch.payload.len() as u64;
                                }
                                tip = Some(ChainTip::of(&batch.header));
                                let (batch_no, count) = (batch.header.batch_no, batch.header.event_count);
                                let bytes = encode_frame(&AgentFrame::Batch(batch));
                                frames.push(Frame { batch_no, events: count, bytes });
                            }
                            Ok(AgentFrames {
                                frames,
                                sample_events: per_batch as u64,
                                sample_raw: raw,
                                sample_payload: payload,
                            })
                        })
                        .collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("sealing panicked")))).collect()
    });
    let mut sealed = Sealed { frames: Vec::new(), sample_events: 0, sample_raw: 0, sample_payload: 0, frame_bytes: 0 };
    for part in parts {
        for agent in part? {
            sealed.sample_events += agent.sample_events;
            sealed.sample_raw += agent.sample_raw;
            sealed.sample_payload += agent.sample_payload;
            sealed.frame_bytes += agent.frames.iter().map(|f| f.bytes.len() as u64).sum::<u64>();
            sealed.frames.push(agent.frames);
        }
    }
    Ok(sealed)
}

/// The measured window and the acknowledgements counted in it.
struct Clock {
    from: Instant,
    to: Instant,
    /// Events acknowledged in each second of the window.
    per_second: Vec<AtomicU64>,
}

impl Clock {
    fn in_window(&self, t: Instant) -> bool {
        t >= self.from && t < self.to
    }

    fn count(&self, t: Instant, events: u64) {
        if self.in_window(t) {
            let i = t.duration_since(self.from).as_secs() as usize;
            if let Some(c) = self.per_second.get(i) {
                c.fetch_add(events, Ordering::Relaxed);
            }
        }
    }
}

#[derive(Default)]
struct StreamResult {
    latencies: Latencies,
    events: u64,
    batches: u64,
    /// Ran out of sealed batches before the window ended.
    exhausted: bool,
    error: Option<String>,
}

/// When an agent sends its batches under `--rate`: the first at `first`, then every `every`.
#[derive(Clone, Copy)]
struct Pace {
    first: Instant,
    every: Duration,
}

/// One agent's stream: batches out as fast as the window (and the pace, if any) allows,
/// acks back in order.
async fn stream(
    conn: quinn::Connection,
    frames: Vec<Frame>,
    window: usize,
    pace: Option<Pace>,
    clock: Arc<Clock>,
) -> StreamResult {
    let mut result = StreamResult::default();
    let (mut send, mut recv) = match conn.open_bi().await {
        Ok(s) => s,
        Err(e) => {
            result.error = Some(format!("cannot open a stream: {e}"));
            return result;
        }
    };
    let permits = Arc::new(Semaphore::new(window));
    let (sent_tx, mut sent_rx) = mpsc::unbounded_channel::<(u64, u32, Instant)>();
    let writer = {
        let (permits, clock) = (permits.clone(), clock.clone());
        async move {
            let mut exhausted = true;
            for (k, frame) in frames.into_iter().enumerate() {
                let scheduled = pace.map(|p| p.first + p.every * k as u32);
                if let Some(at) = scheduled {
                    tokio::time::sleep_until(at.into()).await;
                }
                let Ok(permit) = permits.acquire().await else {
                    exhausted = false;
                    break;
                };
                permit.forget();
                let now = Instant::now();
                if now >= clock.to {
                    exhausted = false;
                    break;
                }
                // Under a pace, latency counts from the scheduled send: time spent waiting for
                // a window slot is the collector's delay too.
                let _ = sent_tx.send((frame.batch_no, frame.events, scheduled.unwrap_or(now)));
                if let Err(e) = send.write_all(&frame.bytes).await {
                    return Err(anyhow::anyhow!("send failed: {e}"));
                }
            }
            drop(sent_tx);
            let _ = send.finish();
            Ok(exhausted)
        }
    };
    let reader = async {
        let acks = async {
            let mut got = (Latencies::default(), 0u64, 0u64);
            while let Some((batch_no, events, sent)) = sent_rx.recv().await {
                let frame =
                    read_frame::<CollectorFrame>(&mut recv).await?.context("the collector closed the stream")?;
                let now = Instant::now();
                match frame {
                    CollectorFrame::Ack(ack) if ack.batch_no == batch_no && !ack.duplicate => {}
                    CollectorFrame::Ack(ack) => {
                        bail!(
                            "expected the ack of batch {batch_no}, got batch {} (duplicate: {})",
                            ack.batch_no,
                            ack.duplicate
                        )
                    }
                    CollectorFrame::Refused(r) => bail!("batch {batch_no} refused: {} ({})", r.message, r.code),
                    other => bail!("expected the ack of batch {batch_no}, got {other:?}"),
                }
                if clock.in_window(now) {
                    got.0.push(now.duration_since(sent));
                    got.1 += u64::from(events);
                    got.2 += 1;
                }
                clock.count(now, u64::from(events));
                permits.add_permits(1);
            }
            anyhow::Ok(got)
        };
        let r = acks.await;
        // Wake the writer if the acks stopped early.
        permits.close();
        r
    };
    let (w, r) = tokio::join!(writer, reader);
    match w {
        Ok(exhausted) => result.exhausted = exhausted,
        Err(e) => result.error = Some(format!("{e:#}")),
    }
    match r {
        Ok((latencies, events, batches)) => {
            result.latencies = latencies;
            result.events = events;
            result.batches = batches;
        }
        Err(e) => result.error = Some(format!("{e:#}")),
    }
    conn.close(0u32.into(), b"load generator done");
    result
}

async fn ingest(ctx: &Ctx, a: IngestArgs) -> Result<Value> {
    if a.agents == 0 || a.window == 0 || a.seconds == 0 {
        bail!("--agents, --window and --seconds must be at least 1");
    }
    if a.events_per_batch == 0 || a.events_per_batch > haidang_proto::batch::MAX_BATCH_EVENTS as usize {
        bail!("--events-per-batch must be between 1 and {}", haidang_proto::batch::MAX_BATCH_EVENTS);
    }
    note(ctx, &format!("enrolling {} agents…", a.agents));
    let enrolled = enroll_agents(ctx, a.agents, a.agents.min(64), "loadgen-ingest").await?;
    let Identities { ca, agents } = enrolled.identities;

    if a.rate == Some(0) {
        bail!("--rate must be at least 1 event per second");
    }
    let budget = a.rate.unwrap_or(a.max_rate).min(a.max_rate) as f64 * (a.warmup + a.seconds) as f64;
    let batches = (budget / (a.agents * a.events_per_batch) as f64).ceil() as usize + a.window;
    note(
        ctx,
        &format!(
            "sealing {batches} batches of {} events for each agent ({} events; enough for {} events/s)…",
            a.events_per_batch,
            thousands((batches * a.agents * a.events_per_batch) as f64),
            thousands(budget / (a.warmup + a.seconds) as f64)
        ),
    );
    let t = Instant::now();
    let per_batch = a.events_per_batch;
    let sealed = {
        let agents = agents.clone();
        blocking(move || preseal(&agents, per_batch, batches)).await?
    };
    let seal_secs = t.elapsed().as_secs_f64();
    note(ctx, &format!("sealed in {seal_secs:.1} s; connecting…"));

    let endpoints = sim::endpoints(ctx.endpoints, ctx.server)?;
    let mut connecting = tokio::task::JoinSet::new();
    for (i, agent) in agents.iter().enumerate() {
        let (endpoint, ca, agent, server) =
            (endpoints[i % endpoints.len()].clone(), ca.clone(), agent.clone(), ctx.server);
        connecting.spawn(async move { (i, sim::connect(&endpoint, server, &ca, &agent).await) });
    }
    let mut conns: Vec<Option<quinn::Connection>> = vec![None; agents.len()];
    while let Some(joined) = connecting.join_next().await {
        let (i, conn) = joined.context("connect task failed")?;
        conns[i] = Some(conn.with_context(|| format!("agent {} cannot connect", agents[i].agent_id))?);
    }

    let metrics_before = ctx.api.metrics().ok();
    let start = Instant::now();
    let from = start + Duration::from_secs(a.warmup);
    let clock = Arc::new(Clock {
        from,
        to: from + Duration::from_secs(a.seconds),
        per_second: (0..a.seconds).map(|_| AtomicU64::new(0)).collect(),
    });
    note(ctx, &format!("streaming: {} s warm-up, then {} s measured…", a.warmup, a.seconds));
    // Under --rate each agent sends one batch every `agents × batch / rate` seconds, the
    // agents' schedules staggered evenly.
    let every = a.rate.map(|r| Duration::from_secs_f64((a.agents * a.events_per_batch) as f64 / r as f64));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, (conn, frames)) in conns.into_iter().flatten().zip(sealed.frames).enumerate() {
        let pace = every.map(|every| Pace { first: start + every.mul_f64(i as f64 / a.agents as f64), every });
        tasks.spawn(stream(conn, frames, a.window, pace, clock.clone()));
    }
    tokio::time::sleep_until(from.into()).await;
    let usage_start = collector::start_usage(ctx.collector_pid);
    let metrics_from = blocking_metrics(ctx).await;
    tokio::time::sleep_until(clock.to.into()).await;
    let usage = collector::end_usage(ctx.collector_pid, usage_start);
    let metrics_to = blocking_metrics(ctx).await;

    let mut latencies = Latencies::default();
    let (mut events, mut batches_acked, mut exhausted, mut errors) = (0u64, 0u64, 0usize, Vec::new());
    while let Some(joined) = tasks.join_next().await {
        let r = joined.context("stream task failed")?;
        latencies.extend(r.latencies);
        events += r.events;
        batches_acked += r.batches;
        exhausted += usize::from(r.exhausted);
        errors.extend(r.error);
    }
    let metrics_after = ctx.api.metrics().ok();
    let seconds = a.seconds as f64;
    let rate = events as f64 / seconds;
    let per_second: Vec<u64> = clock.per_second.iter().map(|c| c.load(Ordering::Relaxed)).collect();
    let (min_s, max_s) = (per_second.iter().min().copied().unwrap_or(0), per_second.iter().max().copied().unwrap_or(0));
    let latency = latencies.summary();
    let ratio = sealed.sample_raw as f64 / sealed.sample_payload.max(1) as f64;
    let raw_per_event = sealed.sample_raw as f64 / sealed.sample_events.max(1) as f64;
    let payload_per_event = sealed.sample_payload as f64 / sealed.sample_events.max(1) as f64;
    let collector_window = match (&metrics_from, &metrics_to) {
        (Some(b), Some(e)) => {
            let name = "haidang_ingest_latency_seconds";
            let (hb, he) = (b.buckets(name), e.buckets(name));
            let events = e.value("haidang_events_received_total").unwrap_or(0.0)
                - b.value("haidang_events_received_total").unwrap_or(0.0);
            Some((
                events / seconds,
                collector::bucket_quantile(&hb, &he, 0.5),
                collector::bucket_quantile(&hb, &he, 0.99),
            ))
        }
        _ => None,
    };
    let stored_total = match (&metrics_before, &metrics_after) {
        (Some(b), Some(e)) => Some(
            e.value("haidang_events_received_total").unwrap_or(0.0)
                - b.value("haidang_events_received_total").unwrap_or(0.0),
        ),
        _ => None,
    };
    let collector_cpu_per_mevent =
        usage.collector.as_ref().map(|(s, e)| (e.cpu_secs - s.cpu_secs) / (events.max(1) as f64 / 1e6));

    say(
        ctx,
        &format!(
            "ingest: {} agents × {} events/batch, window {}, {} endpoints, {}; {} s warm-up + {} s measured",
            a.agents,
            a.events_per_batch,
            a.window,
            ctx.endpoints,
            a.rate.map_or("unpaced (saturation)".to_string(), |r| format!("paced at {} events/s", thousands(r as f64))),
            a.warmup,
            a.seconds
        ),
    );
    say(
        ctx,
        &format!(
            "  acknowledged: {} events in {seconds:.0} s = {} events/s ({} batches/s)",
            thousands(events as f64),
            thousands(rate),
            thousands(batches_acked as f64 / seconds)
        ),
    );
    say(ctx, &format!("  per second:   min {} / max {} events/s", thousands(min_s as f64), thousands(max_s as f64)));
    let from_what = if a.rate.is_some() { "scheduled send → ack" } else { "send → ack" };
    say(ctx, &format!("  ack latency:  {} (per batch, {from_what})", latency.describe()));
    if let Some((rate, p50, p99)) = collector_window {
        let s = |v: Option<f64>| v.map_or("-".into(), |v| format!("≤ {:.1} ms", v * 1000.0));
        say(
            ctx,
            &format!(
                "  collector:    {} events/s stored (metrics); ingest latency p50 {}, p99 {} (histogram buckets)",
                thousands(rate),
                s(p50),
                s(p99)
            ),
        );
    }
    say(
        ctx,
        &format!(
            "  payload:      {raw_per_event:.0} B/event raw, {payload_per_event:.0} B/event compressed (zstd {ratio:.1}×)"
        ),
    );
    say(ctx, &format!("  CPU:          {}", usage.describe()));
    if let Some(c) = collector_cpu_per_mevent {
        say(ctx, &format!("  collector:    {c:.2} CPU-seconds per million events"));
    }
    if exhausted > 0 {
        say(
            ctx,
            &format!(
                "  WARNING: {exhausted} agents ran out of sealed batches before the end; the rate is a lower bound (raise --max-rate)"
            ),
        );
    }
    if let Some(e) = errors.first() {
        say(ctx, &format!("  ERRORS: {} streams failed; first: {e}", errors.len()));
    }
    Ok(json!({
        "benchmark": "ingest",
        "agents": a.agents, "events_per_batch": a.events_per_batch, "window": a.window, "offered_rate": a.rate,
        "endpoints": ctx.endpoints, "warmup_secs": a.warmup, "seconds": a.seconds,
        "events_acked": events, "batches_acked": batches_acked,
        "events_per_sec": round(rate, 1),
        "per_second_min": min_s, "per_second_max": max_s, "per_second": per_second,
        "ack_latency": latency.to_json(),
        "collector_metrics": collector_window.map(|(r, p50, p99)| json!({
            "events_per_sec": round(r, 1), "ingest_latency_p50_le_s": p50, "ingest_latency_p99_le_s": p99,
        })),
        "collector_events_stored_total": stored_total,
        "payload": json!({
            "raw_bytes_per_event": round(raw_per_event, 1),
            "compressed_bytes_per_event": round(payload_per_event, 1),
            "compression_ratio": round(ratio, 2),
            "sealed_frame_bytes": sealed.frame_bytes,
            "seal_seconds": round(seal_secs, 2),
        }),
        "usage": usage.to_json(),
        "collector_cpu_secs_per_million_events": collector_cpu_per_mevent.map(|v| round(v, 3)),
        "agents_exhausted": exhausted,
        "errors": errors.len(), "first_error": errors.first(),
    }))
}

async fn blocking_metrics(ctx: &Ctx) -> Option<collector::Metrics> {
    // A short blocking HTTP request; the stream tasks run on the other workers meanwhile.
    tokio::task::block_in_place(|| ctx.api.metrics().ok())
}

// ---------------------------------------------------------------------------------------
// idle

/// An idle agent's connection, with its stream kept open as a real agent keeps it.
struct Held {
    conn: quinn::Connection,
    _streams: (quinn::SendStream, quinn::RecvStream),
}

async fn connect_idle(
    endpoint: quinn::Endpoint,
    server: SocketAddr,
    ca: Arc<Vec<u8>>,
    agent: Identity,
) -> Result<Held> {
    let conn = sim::connect(&endpoint, server, &ca, &agent).await?;
    let (mut send, mut recv) = conn.open_bi().await?;
    let batch = seal(&agent.key()?, agent.agent_id, None, &[events::heartbeat(agent.enrolled_at)]);
    send.write_all(&encode_frame(&AgentFrame::Batch(batch))).await?;
    let ack = tokio::time::timeout(Duration::from_secs(30), read_frame::<CollectorFrame>(&mut recv))
        .await
        .context("no ack for the heartbeat")??
        .context("the collector closed the stream")?;
    match ack {
        CollectorFrame::Ack(a) if a.batch_no == 1 => {}
        CollectorFrame::Ack(a) => bail!("ack for batch {} instead of 1", a.batch_no),
        CollectorFrame::Refused(r) => bail!("heartbeat refused: {} ({})", r.message, r.code),
        other => bail!("expected the heartbeat's ack, got {other:?}"),
    }
    Ok(Held { conn, _streams: (send, recv) })
}

async fn idle(ctx: &Ctx, a: IdleArgs) -> Result<Value> {
    if a.connections == 0 {
        bail!("--connections must be at least 1");
    }
    let saved = a.identities.as_ref().filter(|p| p.exists());
    let identities = match saved {
        Some(path) => {
            let ids = Identities::load(path)?;
            if ids.agents.len() < a.connections {
                bail!(
                    "{} holds {} identities, fewer than --connections {}",
                    path.display(),
                    ids.agents.len(),
                    a.connections
                );
            }
            ids
        }
        None => {
            note(ctx, &format!("enrolling {} agents…", a.connections));
            let run = enroll_agents(ctx, a.connections, 64, "loadgen-idle").await?;
            if let Some(path) = &a.identities {
                run.identities.save(path)?;
            }
            run.identities
        }
    };
    let ca = Arc::new(identities.ca);
    let agents: Vec<Identity> = identities.agents.into_iter().take(a.connections).collect();

    note(ctx, &format!("letting the collector settle for {} s…", a.settle));
    tokio::time::sleep(Duration::from_secs(a.settle)).await;
    let before = ctx.collector_pid.map(collector::sample).transpose()?;

    note(
        ctx,
        &format!("connecting {} agents, {} at a time, over {} endpoints…", agents.len(), a.concurrency, ctx.endpoints),
    );
    let endpoints = sim::endpoints(ctx.endpoints, ctx.server)?;
    let started = Instant::now();
    let gate = Arc::new(Semaphore::new(a.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, agent) in agents.into_iter().enumerate() {
        let (endpoint, ca, gate, server) =
            (endpoints[i % endpoints.len()].clone(), ca.clone(), gate.clone(), ctx.server);
        tasks.spawn(async move {
            let _permit = gate.acquire_owned().await;
            connect_idle(endpoint, server, ca, agent).await
        });
    }
    let mut held = Vec::with_capacity(a.connections);
    let mut failures = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        match joined.context("connect task failed")? {
            Ok(h) => held.push(h),
            Err(e) => failures.push(format!("{e:#}")),
        }
    }
    let connect_secs = started.elapsed().as_secs_f64();
    if held.is_empty() {
        bail!("no agent could connect; first error: {}", failures.first().map_or("?", String::as_str));
    }
    say(
        ctx,
        &format!(
            "connected: {} agents in {connect_secs:.1} s ({} connections/s){}",
            held.len(),
            thousands(held.len() as f64 / connect_secs),
            if failures.is_empty() {
                String::new()
            } else {
                format!("; {} failed, first: {}", failures.len(), failures[0])
            }
        ),
    );

    note(ctx, &format!("all connected; letting the collector settle for {} s…", a.settle));
    tokio::time::sleep(Duration::from_secs(a.settle)).await;
    let after = ctx.collector_pid.map(collector::sample).transpose()?;
    let connected_metric = blocking_metrics(ctx).await.and_then(|m| m.value("haidang_agents_connected"));
    let n = held.len() as f64;
    let per_conn = before.zip(after).map(|(b, a)| (a.rss_kib as f64 - b.rss_kib as f64) / n);
    if let (Some(b), Some(a), Some(p)) = (before, after, per_conn) {
        say(
            ctx,
            &format!(
                "  collector RSS: {} KiB before, {} KiB with {} idle agents connected = {p:.1} KiB per connection",
                thousands(b.rss_kib as f64),
                thousands(a.rss_kib as f64),
                held.len()
            ),
        );
    }
    if let Some(c) = connected_metric {
        say(ctx, &format!("  collector reports {c} agents connected"));
    }

    let mut samples = Vec::new();
    match a.hold {
        Some(secs) => {
            note(ctx, &format!("holding for {secs} s…"));
            let end = Instant::now() + Duration::from_secs(secs);
            while Instant::now() < end {
                let step = end.saturating_duration_since(Instant::now()).min(Duration::from_secs(10));
                tokio::time::sleep(step).await;
                if let Some(s) = ctx.collector_pid.map(collector::sample).transpose()? {
                    samples.push(s);
                }
            }
        }
        None => {
            note(ctx, "holding; Ctrl-C to end");
            tokio::signal::ctrl_c().await?;
        }
    }
    let alive = held.iter().filter(|h| h.conn.close_reason().is_none()).count();
    let cpu_idle = match (after, samples.last()) {
        (Some(a), Some(b)) => Some(collector::cores(&a, b)),
        _ => None,
    };
    let final_rss = samples.last().map(|s| s.rss_kib);
    if a.hold.is_some() {
        say(
            ctx,
            &format!(
                "  after the hold: {alive} of {} connections alive{}{}",
                held.len(),
                final_rss.map_or(String::new(), |r| format!(", collector RSS {} KiB", thousands(r as f64))),
                cpu_idle.map_or(String::new(), |c| format!(", collector CPU {:.2}% of a core while idle", c * 100.0))
            ),
        );
    }
    for h in &held {
        h.conn.close(0u32.into(), b"load generator done");
    }
    for e in &endpoints {
        let _ = tokio::time::timeout(Duration::from_secs(5), e.wait_idle()).await;
    }
    Ok(json!({
        "benchmark": "idle",
        "connections": held.len(), "failed": failures.len(), "first_error": failures.first(),
        "endpoints": ctx.endpoints, "connect_seconds": round(connect_secs, 2),
        "collector_rss_kib_before": before.map(|s| s.rss_kib),
        "collector_rss_kib_connected": after.map(|s| s.rss_kib),
        "collector_rss_kib_after_hold": final_rss,
        "kib_per_connection": per_conn.map(|v| round(v, 2)),
        "collector_agents_connected_metric": connected_metric,
        "alive_after_hold": alive,
        "collector_idle_cpu_cores": cpu_idle.map(|v| round(v, 4)),
    }))
}

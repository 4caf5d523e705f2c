//! The summary a scenario prints, and the server-side figures read from /proc.

use hdrhistogram::Histogram;
use serde_json::{Map, Value};
use std::time::{Duration, Instant};

/// Latencies are recorded in microseconds, up to one minute, at 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid histogram bounds")
}

/// A scenario's figures, in the order they were added.
pub struct Report {
    scenario: &'static str,
    rows: Vec<(String, Value)>,
}

impl Report {
    pub fn new(scenario: &'static str) -> Self {
        Report { scenario, rows: Vec::new() }
    }

    /// A report that starts with the server's CPU and memory, when a probe runs.
    pub fn with_probe(scenario: &'static str, probe: Option<&ServerProbe>) -> Self {
        let mut report = Report::new(scenario);
        if let Some(probe) = probe {
            probe.report(&mut report);
        }
        report
    }

    pub fn add(&mut self, key: &str, value: impl Into<Value>) {
        self.rows.push((key.to_owned(), value.into()));
    }

    /// p50, p90, p99 and max of `hist` (microseconds), in milliseconds.
    pub fn latency(&mut self, prefix: &str, hist: &Histogram<u64>) {
        let ms = |us: u64| (us as f64 / 1000.0 * 100.0).round() / 100.0;
        self.add(&format!("{prefix}_samples"), hist.len());
        for (name, q) in [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)] {
            self.add(&format!("{prefix}_{name}_ms"), ms(hist.value_at_quantile(q)));
        }
        self.add(&format!("{prefix}_max_ms"), ms(hist.max()));
    }

    pub fn print(&self, json: bool) {
        if json {
            let mut object = Map::new();
            object.insert("scenario".into(), self.scenario.into());
            for (key, value) in &self.rows {
                object.insert(key.clone(), value.clone());
            }
            println!("{}", Value::Object(object));
            return;
        }
        let width = self.rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
        println!("\nflock-bench {}", self.scenario);
        for (key, value) in &self.rows {
            let shown = match value {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {key:<width$}  {shown}");
        }
    }
}

/// The server process's CPU time and memory, read from /proc (Linux).
pub struct ServerProbe {
    pids: Vec<u32>,
    cpu_start: Duration,
    /// The generator's own CPU time at the start: it shares the machine with the server,
    /// so its use says how much of the box was left for the server.
    own_start: Option<Duration>,
    wall_start: Instant,
}

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ: 100 on every mainstream Linux).
const USER_HZ: f64 = 100.0;

impl ServerProbe {
    /// Watches the server processes `pids` (`None` without any).
    pub fn start(pids: &[u32]) -> Option<Self> {
        if pids.is_empty() {
            return None;
        }
        let cpu_start = total(pids, cpu_time)?;
        let own_start = cpu_time(std::process::id());
        Some(ServerProbe { pids: pids.to_vec(), cpu_start, own_start, wall_start: Instant::now() })
    }

    /// The servers' CPU time since `start`, summed.
    pub fn server_cpu(&self) -> Option<Duration> {
        total(&self.pids, cpu_time).map(|cpu| cpu.saturating_sub(self.cpu_start))
    }

    /// Adds the servers' CPU use since `start` (in cores) and their resident memory, summed,
    /// and the generator's own CPU use.
    pub fn report(&self, report: &mut Report) {
        let wall = self.wall_start.elapsed().as_secs_f64();
        let cores = |used: Duration| (used.as_secs_f64() / wall * 100.0).round() / 100.0;
        if let Some(cpu) = total(&self.pids, cpu_time) {
            report.add("server_cpu_cores", cores(cpu - self.cpu_start));
        }
        if let (Some(start), Some(now)) = (self.own_start, cpu_time(std::process::id())) {
            report.add("generator_cpu_cores", cores(now - start));
        }
        if let Some(rss) = total(&self.pids, rss_kib) {
            report.add("server_rss_kib", rss);
        }
    }
}

/// `read(pid)` summed over `pids`; `None` if any cannot be read.
pub fn total<T: std::iter::Sum<T>>(pids: &[u32], read: impl Fn(u32) -> Option<T>) -> Option<T> {
    pids.iter().map(|pid| read(*pid)).sum()
}

/// User plus system CPU time of `pid`.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(Duration::from_secs_f64(ticks / USER_HZ))
}

/// Resident memory of `pid`, in KiB.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Completes at the instant `deadline` is set to (never, if it never is).
pub async fn until(deadline: &mut tokio::sync::watch::Receiver<Option<tokio::time::Instant>>) {
    let at = match deadline.wait_for(Option::is_some).await {
        Ok(at) => *at,
        Err(_) => None,
    };
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Waits for every sender, then tells the receivers to stop `settle` from now. Returns how
/// many senders failed and how long sending took since `epoch`.
pub async fn await_senders(
    senders: Vec<tokio::task::JoinHandle<bool>>,
    epoch: Instant,
    stop_at: &tokio::sync::watch::Sender<Option<tokio::time::Instant>>,
    settle: Duration,
) -> (usize, f64) {
    let mut failures = 0;
    for sender in senders {
        if !matches!(sender.await, Ok(true)) {
            failures += 1;
        }
    }
    let secs = epoch.elapsed().as_secs_f64();
    stop_at.send_replace(Some(tokio::time::Instant::now() + settle));
    (failures, secs)
}

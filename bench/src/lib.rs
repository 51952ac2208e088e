//! Helpers shared by the benchmark programs: starting the tgsim binary as a
//! separate process (so the measured process holds only what it measures),
//! talking to its control API, and reading this process's memory use.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde::Deserialize;

/// A tgsim process started for a benchmark; killed on drop.
pub struct SimProcess {
    child: Child,
    pub control: SocketAddr,
    pub dcs: Vec<Dc>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dc {
    pub id: i32,
    pub addr: SocketAddr,
}

#[derive(Deserialize)]
struct Ready {
    control: SocketAddr,
    dcs: Vec<Dc>,
}

impl SimProcess {
    /// Starts `bin` (the tgsim binary) and waits for its ready line.
    pub fn start(bin: &str, extra_args: &[&str]) -> Result<SimProcess, String> {
        let mut child = Command::new(bin)
            .args(extra_args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!("cannot start {bin}: {e} (build it with `cargo build --release -p tgsim`)")
            })?;
        let stdout = child.stdout.take().ok_or("tgsim has no stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| format!("reading tgsim's ready line: {e}"))?;
        let ready: Ready = serde_json::from_str(line.trim())
            .map_err(|e| format!("tgsim's ready line {line:?} is not JSON: {e}"))?;
        Ok(SimProcess {
            child,
            control: ready.control,
            dcs: ready.dcs,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.control, path)
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident set size of this process, in KiB, from /proc/self/status.
pub fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Resident set size of another process, in KiB.
pub fn rss_kib_of(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl SimProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

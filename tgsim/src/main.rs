//! The `tgsim` binary: a simulated Telegram with a JSON control API.
//!
//! Prints one JSON line on stdout when ready:
//! `{"control":"127.0.0.1:P","dcs":[{"id":1,"addr":"127.0.0.1:Q"},...]}`

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tgsim::{Sim, SimConfig, WorldSpec};

#[derive(Parser)]
#[command(
    name = "tgsim",
    version,
    about = "A simulated Telegram speaking real MTProto 2.0"
)]
struct Args {
    /// Address the data centres listen on; port 0 picks free ports.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Address of the JSON control API; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    control: SocketAddr,
    /// Number of data centres (1 to 5).
    #[arg(long, default_value_t = 2)]
    dcs: i32,
    /// The world: `demo` (default), `empty`, or a JSON world file.
    #[arg(long, default_value = "demo")]
    world: String,
}

fn load_world(arg: &str) -> Result<WorldSpec, String> {
    match arg {
        "demo" => Ok(WorldSpec::demo()),
        "empty" => Ok(WorldSpec::empty()),
        path => {
            let path = PathBuf::from(path);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read world file {}: {e}", path.display()))?;
            serde_json::from_str(&text)
                .map_err(|e| format!("world file {} is not a valid world: {e}", path.display()))
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TGSIM_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let world = match load_world(&args.world) {
        Ok(w) => w,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::from(2);
        }
    };
    let sim = match Sim::start(SimConfig {
        listen: args.listen,
        dcs: args.dcs,
        world,
    })
    .await
    {
        Ok(sim) => sim,
        Err(e) => {
            eprintln!(
                "tgsim: cannot start the data centres on {}: {e}",
                args.listen
            );
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(args.control).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!(
                "tgsim: cannot listen for the control API on {}: {e}",
                args.control
            );
            return ExitCode::FAILURE;
        }
    };
    let control = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("tgsim: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{}", tgsim::control::ready_line(control, &sim));
    let stop = sim.clone();
    let shutdown = async move {
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term => {}
        }
        stop.shutdown();
    };
    if let Err(e) = tgsim::control::serve(sim, listener, shutdown).await {
        eprintln!("tgsim: control API failed: {e}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

//! The `sparkwasm-worker` binary. Spark runs it as `<pythonExec> -m pyspark.daemon
//! [pyspark.worker]` or `<pythonExec> -m pyspark.worker`; people run
//! `sparkwasm-worker inspect <module.wasm>` to see what a module declares.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Context};
use sparkwasm_host::config::WorkerConfig;
use sparkwasm_host::{daemon, worker};

const USAGE: &str = "usage: sparkwasm-worker -m <daemon-or-worker-module> [<worker-module>]
       sparkwasm-worker inspect <module.wasm>
       sparkwasm-worker --version";

fn main() -> ExitCode {
    match run() {
        Ok(code) => ExitCode::from(code),
        // A reader that went away (`inspect … | head`) is not an error.
        Err(e)
            if e.downcast_ref::<std::io::Error>()
                .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sparkwasm-worker: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<u8> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") => {
            writeln!(
                std::io::stdout(),
                "sparkwasm-worker {} (ABI {})",
                env!("CARGO_PKG_VERSION"),
                sparkwasm_abi::ABI_VERSION
            )?;
            Ok(0)
        }
        Some("inspect") => {
            let path = args.get(1).context(USAGE)?;
            let bytes = std::fs::read(path).with_context(|| format!("reading {path}"))?;
            let info = sparkwasm_runtime::inspect(&bytes)?;
            let description = serde_json::json!({
                "digest": info.digest,
                "abi_version": sparkwasm_abi::ABI_VERSION,
                "functions": info.functions.iter().map(|f| serde_json::json!({
                    "name": f.name, "kind": f.kind, "input": f.input, "output": f.output,
                })).collect::<Vec<_>>(),
            });
            writeln!(
                std::io::stdout(),
                "{}",
                serde_json::to_string_pretty(&description)?
            )?;
            Ok(0)
        }
        Some("-m") => {
            let module = args.get(1).context(USAGE)?;
            let config = WorkerConfig::from_env();
            let non_daemon = std::env::var_os("PYTHON_WORKER_FACTORY_PORT").is_some()
                || std::env::var_os("PYTHON_WORKER_FACTORY_SOCK_PATH").is_some();
            if non_daemon || !module.contains("daemon") {
                let code = worker::run(config)?;
                Ok(u8::try_from(code).unwrap_or(1))
            } else {
                daemon::run(config)?;
                Ok(0)
            }
        }
        _ => bail!("{USAGE}"),
    }
}

//! `genolm launch --nproc N -- pretrain --config ...`: a data-parallel job on this machine, started
//! as torchrun starts one. N `genolm-torch` processes get torchrun's environment (RANK,
//! WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) and a share of the cores;
//! they meet through c10d's TCPStore at MASTER_ADDR:MASTER_PORT. If one fails, the others are
//! stopped (they would otherwise wait for it until the collective timeout), and the launch exits
//! with its status.

use std::ffi::OsString;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Args;

#[derive(Args)]
pub struct LaunchArgs {
    /// Processes (ranks) to start on this machine.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    nproc: u32,
    /// Port of rank 0's rendezvous store (default: a free one).
    #[arg(long)]
    master_port: Option<u16>,
    /// Compute threads per process (default: this machine's cores / nproc, at least 1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    /// The model command and its arguments, after `--` (e.g. `-- pretrain --config lm.toml`).
    #[arg(last = true, required = true)]
    command: Vec<OsString>,
}

/// A port nothing listens on now (the OS picks it); rank 0's store binds it a moment later.
fn free_port() -> Result<u16> {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(socket.local_addr()?.port())
}

fn spawn(
    exe: &std::path::Path,
    a: &LaunchArgs,
    rank: u32,
    port: u16,
    threads: u32,
) -> Result<Child> {
    Command::new(exe)
        .args(&a.command)
        .env("RANK", rank.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("WORLD_SIZE", a.nproc.to_string())
        .env("LOCAL_WORLD_SIZE", a.nproc.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .env("OMP_NUM_THREADS", threads.to_string())
        .spawn()
        .with_context(|| format!("starting rank {rank}: {}", exe.display()))
}

/// Stops the ranks still running: SIGTERM, then SIGKILL after a grace period.
fn stop_all(children: &mut [(u32, Child)]) {
    for (_, c) in children.iter_mut() {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    for (_, c) in children.iter_mut() {
        while c.try_wait().ok().flatten().is_none() {
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub fn run(a: LaunchArgs) -> Result<i32> {
    let Some(exe) = super::torch_exe() else {
        bail!("launch runs model commands, which need genolm-torch beside the genolm binary; run scripts/setup.sh");
    };
    let port = match a.master_port {
        Some(p) => p,
        None => free_port()?,
    };
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
    let threads = a.threads.unwrap_or((cores / a.nproc).max(1));
    let mut children = Vec::new();
    for rank in 0..a.nproc {
        match spawn(&exe, &a, rank, port, threads) {
            Ok(c) => children.push((rank, c)),
            Err(e) => {
                stop_all(&mut children);
                return Err(e);
            }
        }
    }
    eprintln!(
        "launch: {} ranks of `{}` ({threads} threads each), rendezvous at 127.0.0.1:{port}",
        a.nproc,
        a.command
            .iter()
            .map(|s| s.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut failed: Option<(u32, ExitStatus)> = None;
    while !children.is_empty() {
        let mut i = 0;
        while i < children.len() {
            match children[i].1.try_wait()? {
                Some(status) => {
                    let (rank, _) = children.remove(i);
                    if !status.success() && failed.is_none() {
                        failed = Some((rank, status));
                    }
                }
                None => i += 1,
            }
        }
        if let Some((rank, status)) = failed {
            if !children.is_empty() {
                eprintln!("launch: rank {rank} ended with {status}; stopping the other ranks");
                stop_all(&mut children);
                children.clear();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(match failed {
        None => 0,
        Some((rank, status)) => {
            use std::os::unix::process::ExitStatusExt;
            match status.code() {
                // Ctrl-C: each rank saved the checkpoint at the step they agreed on.
                Some(130) => eprintln!("launch: interrupted; the ranks stopped with a checkpoint"),
                _ => eprintln!("launch: failed: rank {rank} ended with {status}"),
            }
            status
                .code()
                .unwrap_or_else(|| 128 + status.signal().unwrap_or(1))
        }
    })
}

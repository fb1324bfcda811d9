//! This machine's limits, measured in the same run: what no registry can beat.

use anyhow::{Context, Result};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// sha256 on one core, MiB/s.
    pub sha256: f64,
    /// One plain TCP stream over loopback, MiB/s.
    pub loopback: f64,
    /// Sequential writes then fsync, in the data directories' filesystem, MiB/s.
    pub durable_write: f64,
}

/// sha256 of `bytes` bytes (a 1 MiB buffer of generated data, hashed over and over) on one thread.
pub fn sha256_rate(bytes: u64) -> f64 {
    let buf = crate::data::bytes(0x5eed, 1 << 20);
    let mut h = Sha256::new();
    let t = Instant::now();
    let mut done = 0;
    while done < bytes {
        h.update(&buf);
        done += buf.len() as u64;
    }
    std::hint::black_box(h.finalize());
    done as f64 / MIB / t.elapsed().as_secs_f64()
}

/// A tokio TcpStream pair on 127.0.0.1 sending `bytes` bytes in 256 KiB writes; the receiver discards.
pub async fn loopback_rate(bytes: u64) -> Result<f64> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let t = Instant::now();
    let writer = tokio::spawn(async move {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.set_nodelay(true)?;
        let buf = vec![0xA5u8; 256 << 10];
        let mut sent = 0;
        while sent < bytes {
            let n = (bytes - sent).min(buf.len() as u64) as usize;
            s.write_all(&buf[..n]).await?;
            sent += n as u64;
        }
        s.shutdown().await?;
        anyhow::Ok(())
    });
    let (mut r, _) = listener.accept().await?;
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    writer.await??;
    anyhow::ensure!(got == bytes, "loopback copy received {got} of {bytes} bytes");
    Ok(got as f64 / MIB / t.elapsed().as_secs_f64())
}

/// Writes `bytes` bytes in 1 MiB writes to a new file in `dir`, then fsyncs it; the rate includes the fsync.
pub fn durable_write_rate(dir: &Path, bytes: u64) -> Result<f64> {
    let _ = std::process::Command::new("sync").status();
    let path = dir.join("fsync-probe");
    let buf = crate::data::bytes(0xd15c, 1 << 20);
    let t = Instant::now();
    let mut f = std::fs::File::create(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let mut done = 0;
    while done < bytes {
        f.write_all(&buf)?;
        done += buf.len() as u64;
    }
    f.sync_all()?;
    let rate = done as f64 / MIB / t.elapsed().as_secs_f64();
    drop(f);
    std::fs::remove_file(&path)?;
    Ok(rate)
}

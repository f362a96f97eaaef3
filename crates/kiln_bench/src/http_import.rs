//! A CSV imported from a URL against the same file imported from disk: the generated CSV served on
//! loopback by a minimal file server (the kernel copies the file to the socket, as a static file server
//! does), each side in a fresh workspace, taking turns.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use kiln_core::{Cancel, ImportOptions, Progress, Workspace};
use serde_json::json;

/// Serve `file` to every GET on a loopback port, with the length, an `ETag` and a `Last-Modified` a
/// web server sends; the port.
fn serve(file: PathBuf) -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let port = listener.local_addr()?.port();
    std::thread::Builder::new()
        .name("bench-file-server".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let file = file.clone();
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    let mut body = true;
                    // The request line and headers, up to the blank line.
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line.starts_with("HEAD ") {
                            body = false;
                        }
                        if line == "\r\n" {
                            break;
                        }
                        line.clear();
                    }
                    let Ok(mut f) = std::fs::File::open(&file) else {
                        return;
                    };
                    let len = f.metadata().map_or(0, |m| m.len());
                    let mut out = &stream;
                    let _ = write!(
                        out,
                        "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: text/csv\r\n\
                         ETag: \"bench-{len}\"\r\nLast-Modified: Mon, 07 Dec 2026 10:00:00 GMT\r\n\
                         Connection: close\r\n\r\n"
                    );
                    // Large blocks, as a static file server sends them.
                    let mut block = vec![0u8; 4 << 20];
                    while body {
                        match f.read(&mut block) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => body = out.write_all(&block[..n]).is_ok(),
                        }
                    }
                });
            }
        })?;
    Ok(port)
}

pub(crate) fn bench_http_import(
    size_mb: u64,
    dir: Option<PathBuf>,
    repeat: usize,
) -> Result<serde_json::Value> {
    let (dir, csv) = crate::generated_csv(dir, "kiln-bench-http-import", size_mb)?;
    let bytes = std::fs::metadata(&csv)?.len();
    // Both sides read the file from the page cache.
    let _ = std::fs::read(&csv)?;
    let url = format!("http://127.0.0.1:{}/mixed.csv", serve(csv.clone())?);
    let import = |from_url: bool, round: usize| -> Result<((f64, f64), String, i64)> {
        let ws_dir = dir.join(format!(
            "ws-{}-{round}",
            if from_url { "http" } else { "local" }
        ));
        let _ = std::fs::remove_dir_all(&ws_dir);
        let mut ws = Workspace::open(&ws_dir)?;
        let (cancel, progress) = (Cancel::new(), Progress::new());
        let (t, cpu) = (Instant::now(), process_cpu());
        let outcome = if from_url {
            ws.import_url(&url, "big", &ImportOptions::default(), &cancel, &progress)?
        } else {
            ws.import(&csv, "big", &ImportOptions::default(), &cancel, &progress)?
        };
        let secs = t.elapsed().as_secs_f64();
        let cpu = process_cpu() - cpu;
        drop(ws);
        let _ = std::fs::remove_dir_all(&ws_dir);
        Ok((
            (secs, cpu),
            outcome.version.content_hash,
            outcome.version.row_count,
        ))
    };
    let mut pairs = Vec::new();
    for round in 0..repeat {
        let (local, local_hash, rows) = import(false, round)?;
        let (http, http_hash, _) = import(true, round)?;
        anyhow::ensure!(
            local_hash == http_hash,
            "the two imports differ: {local_hash} against {http_hash}"
        );
        pairs.push(json!({
            "local_s": local.0, "http_s": http.0, "ratio": http.0 / local.0,
            // CPU time of the process, both cores: the HTTP side includes the file server's sending.
            "local_cpu_s": local.1, "http_cpu_s": http.1, "rows": rows,
        }));
    }
    let mut ratios: Vec<f64> = pairs.iter().filter_map(|p| p["ratio"].as_f64()).collect();
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    Ok(json!({
        "csv_bytes": bytes,
        "file": path_text(&csv)?,
        "pairs": pairs,
        "median_ratio": median,
    }))
}

/// CPU seconds this process has used, every thread.
fn process_cpu() -> f64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

fn path_text(p: &Path) -> Result<String> {
    p.to_str()
        .map(str::to_owned)
        .context("the path is not UTF-8")
}

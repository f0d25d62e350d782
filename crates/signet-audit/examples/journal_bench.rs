//! Journal append throughput with group commit, against one fsync per entry.
//!
//! For each writer count W (default 1, 8 and 64), a fresh log is opened in a temporary
//! directory and W threads append `--entries` entries between them through one
//! [`JournalWriter`], each call blocking until its entry is durable. The baseline, in the
//! same run and directory, is the same number of bare `write` + `fdatasync` calls of a
//! 700-byte line on a plain file: what one entry per fsync costs on this disk.
//!
//! Fsyncs are counted without touching the library: the journal issues exactly one
//! `write` per batch, followed by one `fdatasync`, and nothing else in this process
//! writes while a run is timed, so the `syscw` delta of `/proc/self/io` is the number of
//! batches. Each log is verified afterwards (outside the timing).
//!
//! ```text
//! cargo run --release -p signet-audit --example journal_bench -- --entries 5000 --writers 1,8,64
//! ```

use std::error::Error;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use signet_audit::journal::writer::{JournalWriter, WriterOptions};
use signet_audit::journal::{Journal, JournalOptions};
use signet_audit::json::{Map, Value};
use signet_audit::{Decision, EntryDraft, HmacKey, KeyRing, OwnerType};

const USAGE: &str = "usage: journal_bench [--entries N] [--writers 1,8,64] [--rounds N] \
[--dir DIR] [--max-batch N] [--queue N]
  the log lives in a temporary directory under DIR (default $TMPDIR or /tmp): the disk matters";

struct Args {
    entries: usize,
    writers: Vec<usize>,
    rounds: usize,
    dir: Option<PathBuf>,
    opts: WriterOptions,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        entries: 5000,
        writers: vec![1, 8, 64],
        rounds: 3,
        dir: None,
        opts: WriterOptions::default(),
    };
    let num = |flag: &str, v: &str| -> Result<usize, String> {
        v.parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("bad {flag} {v:?}"))
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.to_owned());
        }
        let v = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--entries" => a.entries = num(&flag, &v)?,
            "--writers" => {
                a.writers = v
                    .split(',')
                    .map(|w| num(&flag, w))
                    .collect::<Result<_, _>>()?;
            }
            "--rounds" => a.rounds = num(&flag, &v)?,
            "--dir" => a.dir = Some(PathBuf::from(v)),
            "--max-batch" => a.opts.max_batch = num(&flag, &v)?,
            "--queue" => a.opts.queue = num(&flag, &v)?,
            _ => return Err(format!("unknown option {flag}\n{USAGE}")),
        }
    }
    Ok(a)
}

/// Write syscalls issued by this process so far (`None` if `/proc/self/io` is unreadable).
fn write_syscalls() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/io").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("syscw:"))
        .and_then(|v| v.trim().parse().ok())
}

/// A gateway-like draft of about 700 bytes once sealed.
fn draft(thread: usize, i: usize) -> EntryDraft {
    let mut d = EntryDraft::new("pipeline.complete", Decision::Allow, "request completed");
    d.approval_chain = vec!["human:alice@example.com".into()];
    d.owner_id = "alice@example.com".into();
    d.owner_type = OwnerType::Human;
    d.request_fingerprint = format!("sha256:{:064x}", (thread as u128) << 64 | i as u128);
    let m: &mut Map = &mut d.metadata;
    m.insert("method".into(), "POST".into());
    m.insert("path".into(), "/v1/chat/completions".into());
    m.insert("status".into(), Value::from(200u64));
    m.insert(
        "latency_us".into(),
        Value::from(1000 + (i as u64 * 7919) % 900_000),
    );
    m.insert("finish_reason".into(), "stop".into());
    m.insert("writer_thread".into(), Value::from(thread as u64));
    d
}

struct Run {
    elapsed: Duration,
    fsyncs: Option<u64>,
    latencies: Vec<Duration>,
    bytes: u64,
}

/// `n` bare `write` + `fdatasync` of a 700-byte line on a plain file.
fn baseline(path: &Path, n: usize) -> Result<Run, Box<dyn Error>> {
    let mut f = OpenOptions::new()
        .create_new(true)
        .append(true)
        .open(path)?;
    let mut line = vec![b'x'; 699];
    line.push(b'\n');
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        f.write_all(&line)?;
        f.sync_data()?;
        latencies.push(t.elapsed());
    }
    Ok(Run {
        elapsed: start.elapsed(),
        fsyncs: Some(n as u64),
        latencies,
        bytes: (n * line.len()) as u64,
    })
}

/// `n` entries appended by `w` threads through one journal writer; checks the log after.
fn journal_run(
    path: &Path,
    n: usize,
    w: usize,
    opts: WriterOptions,
) -> Result<Run, Box<dyn Error>> {
    let key = HmacKey::generate("k1")?;
    let journal = Journal::open(path, key.clone(), JournalOptions::default())?;
    let writer = JournalWriter::spawn(journal, opts)?;
    let barrier = Arc::new(Barrier::new(w + 1));
    let mut threads = Vec::with_capacity(w);
    for t in 0..w {
        let (h, barrier) = (writer.handle(), Arc::clone(&barrier));
        let count = n / w + usize::from(t < n % w);
        threads.push(std::thread::spawn(
            move || -> Result<Vec<Duration>, String> {
                let drafts: Vec<EntryDraft> = (0..count).map(|i| draft(t, i)).collect();
                let mut lat = Vec::with_capacity(count);
                barrier.wait();
                for d in drafts {
                    let s = Instant::now();
                    h.append(d).map_err(|e| e.to_string())?;
                    lat.push(s.elapsed());
                }
                Ok(lat)
            },
        ));
    }
    barrier.wait();
    let (writes0, start) = (write_syscalls(), Instant::now());
    let mut latencies = Vec::with_capacity(n);
    for th in threads {
        let lat = th.join().map_err(|_| "writer thread panicked")??;
        latencies.extend(lat);
    }
    let (elapsed, writes1) = (start.elapsed(), write_syscalls());
    drop(writer.shutdown());

    let mut ring = KeyRing::new();
    ring.add(key)?;
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let rep = signet_audit::verify::verify(file, &ring)?;
    if !rep.is_intact() || rep.entries != n as u64 {
        return Err(format!("log of run w={w} does not verify: {:?}", rep.breaks.first()).into());
    }
    Ok(Run {
        elapsed,
        fsyncs: writes0.zip(writes1).map(|(a, b)| b - a),
        latencies,
        bytes: std::fs::metadata(path)?.len(),
    })
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e6)
}

fn row(label: &str, n: usize, mut run: Run, base_rate: Option<f64>) -> f64 {
    let rate = n as f64 / run.elapsed.as_secs_f64().max(1e-9);
    run.latencies.sort_unstable();
    let (fsyncs, per) = match run.fsyncs {
        Some(f) if f > 0 => (f.to_string(), format!("{:.1}", n as f64 / f as f64)),
        _ => ("n/a".into(), "n/a".into()),
    };
    println!(
        "{label:<16} {n:>8} {:>6} {:>8.2} {rate:>10.0} {fsyncs:>8} {per:>10} {:>8.0} {:>8.0} {:>8}",
        run.bytes / n.max(1) as u64,
        run.elapsed.as_secs_f64(),
        percentile(&run.latencies, 0.5),
        percentile(&run.latencies, 0.99),
        base_rate.map_or("1.0x".into(), |b| format!("{:.1}x", rate / b)),
    );
    rate
}

/// The run of median duration.
fn median(mut runs: Vec<Run>) -> Option<Run> {
    runs.sort_by_key(|r| r.elapsed);
    let mid = runs.len() / 2;
    runs.into_iter().nth(mid)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args = match parse_args() {
        Ok(a) => a,
        Err(msg) if msg == USAGE => {
            println!("{msg}");
            return Ok(());
        }
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(64);
        }
    };
    let tmp = match &args.dir {
        Some(d) => tempfile::tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    println!(
        "journal_bench: {} entries per run, median of {} rounds, max_batch {}, queue {}, dir {}",
        args.entries,
        args.rounds,
        args.opts.max_batch,
        args.opts.queue,
        tmp.path().display()
    );
    // Rounds interleave the baseline and the journal runs, so that a noisy neighbour on
    // the disk hits both alike; each line reports the round of median duration.
    let mut base_runs = Vec::with_capacity(args.rounds);
    let mut journal_runs: Vec<Vec<Run>> = args.writers.iter().map(|_| Vec::new()).collect();
    for r in 0..args.rounds {
        let path = tmp.path().join(format!("baseline-{r}.log"));
        base_runs.push(baseline(&path, args.entries)?);
        std::fs::remove_file(&path)?;
        for (runs, &w) in journal_runs.iter_mut().zip(&args.writers) {
            let path = tmp.path().join(format!("journal-w{w}-{r}.jsonl"));
            runs.push(journal_run(&path, args.entries, w, args.opts)?);
            std::fs::remove_file(&path)?;
        }
    }
    println!(
        "{:<16} {:>8} {:>6} {:>8} {:>10} {:>8} {:>10} {:>8} {:>8} {:>8}",
        "run",
        "entries",
        "B/ent",
        "seconds",
        "entries/s",
        "fsyncs",
        "ent/fsync",
        "p50_us",
        "p99_us",
        "vs_base"
    );
    let base = median(base_runs).ok_or("no rounds")?;
    let base = row("write+fdatasync", args.entries, base, None);
    for (runs, w) in journal_runs.into_iter().zip(&args.writers) {
        let run = median(runs).ok_or("no rounds")?;
        row(&format!("journal w={w}"), args.entries, run, Some(base));
    }
    Ok(())
}

//! peers-tokio: the workloads of smarm's benchmarks (bench/*.c) as Tokio
//! tasks and channels, so that bench/compare can set Tokio beside smarm on
//! the same work.  Each workload mirrors the C program of the same name:
//! the same sizes, the same rounds, the same checks and the same output
//! line.
//!
//! Usage: peers-tokio BENCH [-t threads]
//!
//!   BENCH is yield, spawn_join, pingpong, mailbox, ring, skynet, primes,
//!   parked, mutex, bounded1, bounded64, select, or echoN (N connections:
//!   echo100, echo10000, ...).
//!   -t 1 (the default) runs a current_thread runtime; -t N > 1 a
//!   multi_thread runtime with N worker threads.  yield, spawn_join and
//!   parked run with 1 only, as their smarm programs do.
//!
//! Prints: bench=<name> threads=<n> value=<x> [first=<x>] unit=<u>
//! Exits 1 when the run fails its own checks, 2 on bad arguments.
//!
//! Every workload runs in a task spawned on the runtime (not in the
//! future given to block_on, which a multi_thread runtime polls on the
//! calling thread, outside its workers), as smarm's root actor runs on a
//! worker.  The runtime is built with enable_all(), as #[tokio::main]
//! builds it; with the features used here that adds the timer driver.
//!
//! The channels are tokio::sync::mpsc unbounded channels: like smarm's,
//! a send never waits.  They were also the faster choice for ping-pong:
//! a bounded channel of capacity 1 takes a semaphore permit on every send.
//! bounded1 and bounded64 measure bounded channels (mpsc::channel(cap)),
//! as their smarm program does.

use std::future::{poll_fn, Future};
use std::process::exit;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::runtime::Builder;
use tokio::sync::mpsc;
use tokio::task::yield_now;

/// Reports a failed check and ends the process with status 1.
fn die(name: &str, msg: String) -> ! {
    eprintln!("peers-tokio: {}: {}", name, msg);
    exit(1)
}

/// Runs the root task on a runtime of `threads` workers and returns what
/// it returned.
fn run<F>(name: &str, threads: usize, root: F) -> F::Output
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let rt = if threads == 1 {
        Builder::new_current_thread().enable_all().build()
    } else {
        Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .unwrap_or_else(|e| die(name, format!("runtime: {}", e)));
    rt.block_on(async move { tokio::spawn(root).await })
        .unwrap_or_else(|e| die(name, format!("root task: {}", e)))
}

/// The median of the rounds, in the unit given (the mean of the middle
/// two for an even count).
fn median(ts: &[Duration], unit: f64) -> f64 {
    let mut s: Vec<f64> = ts.iter().map(|t| t.as_nanos() as f64).collect();
    s.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = s.len();
    let m = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    m / unit
}

fn ns(d: Duration) -> f64 {
    d.as_nanos() as f64
}

/// yield: two tasks yield to each other with yield_now, 10,000,000
/// switches in all.
fn bench_yield(threads: usize) {
    const TOTAL: u64 = 10_000_000;
    const N: u64 = TOTAL / 2;
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let started = Arc::new(AtomicUsize::new(0));

    let res = run("yield", threads, async move {
        let mut hs = Vec::new();
        for k in 0..2 {
            let counts = counts.clone();
            let started = started.clone();
            hs.push(tokio::spawn(async move {
                // Start barrier: the clock starts once both run.
                started.fetch_add(1, Relaxed);
                while started.load(Relaxed) < 2 {
                    yield_now().await;
                }
                let t0 = Instant::now();
                let (mine, other) = (&counts[k], &counts[1 - k]);
                let mut last = other.load(Relaxed);
                let mut changes = 0u64;
                for _ in 0..N {
                    mine.store(mine.load(Relaxed) + 1, Relaxed);
                    yield_now().await;
                    let c = other.load(Relaxed);
                    if c != last {
                        last = c;
                        changes += 1;
                    }
                }
                (mine.load(Relaxed), changes, t0, Instant::now())
            }));
        }
        let mut out = Vec::new();
        for h in hs {
            out.push(h.await.unwrap_or_else(|e| die("yield", e.to_string())));
        }
        out
    });
    for (k, &(count, changes, _, _)) in res.iter().enumerate() {
        if count != N || changes + 2 < N {
            die(
                "yield",
                format!(
                    "task {}: {} yields, saw the other run {} times; expected {}",
                    k, count, changes, N
                ),
            );
        }
    }
    let t0 = res.iter().map(|r| r.2).min().unwrap();
    let t1 = res.iter().map(|r| r.3).max().unwrap();
    println!(
        "bench=yield threads={} value={:.2} unit=ns/switch",
        threads,
        ns(t1 - t0) / (2 * N) as f64
    );
}

/// spawn_join: 100,000 trivial tasks return i + 1; the root keeps their
/// JoinHandles, then awaits each and checks its result.  5 rounds, all
/// timed.
fn bench_spawn_join(threads: usize) {
    const COUNT: usize = 100_000;
    const ROUNDS: usize = 5;

    let ts = run("spawn_join", threads, async {
        let mut ts = Vec::new();
        let mut hs = Vec::with_capacity(COUNT);
        for _ in 0..ROUNDS {
            let t0 = Instant::now();
            for i in 0..COUNT {
                hs.push(tokio::spawn(async move { i as u64 + 1 }));
            }
            for (i, h) in hs.drain(..).enumerate() {
                let v = h
                    .await
                    .unwrap_or_else(|e| die("spawn_join", format!("task #{}: {}", i, e)));
                if v != i as u64 + 1 {
                    die("spawn_join", format!("task #{} returned {}", i, v));
                }
            }
            ts.push(t0.elapsed());
        }
        ts
    });
    println!(
        "bench=spawn_join threads={} value={:.2} first={:.2} unit=ns/actor",
        threads,
        median(&ts, COUNT as f64),
        ns(ts[0]) / COUNT as f64
    );
}

/// pingpong: A sends i on ch1, B sends i + 1 back on ch2, 1,000,000
/// round trips.  B's hello (0) on ch2 is the start barrier; each side's
/// sender is dropped, closing its channel, when it stops.
fn bench_pingpong(threads: usize) {
    const N: u64 = 1_000_000;

    let (a_done, b_done, t) = run("pingpong", threads, async {
        let (tx1, mut rx1) = mpsc::unbounded_channel::<u64>();
        let (tx2, mut rx2) = mpsc::unbounded_channel::<u64>();
        let a = tokio::spawn(async move {
            let mut i = 0u64;
            if rx2.recv().await != Some(0) {
                return (0, Duration::ZERO);
            }
            let t0 = Instant::now();
            while i < N {
                if tx1.send(i).is_err() || rx2.recv().await != Some(i + 1) {
                    break;
                }
                i += 1;
            }
            (i, t0.elapsed())
        });
        let b = tokio::spawn(async move {
            let mut k = 0u64;
            if tx2.send(0).is_err() {
                return 0;
            }
            while let Some(v) = rx1.recv().await {
                if v != k || tx2.send(v + 1).is_err() {
                    break;
                }
                k += 1;
            }
            k
        });
        let (a_done, t) = a.await.unwrap_or_else(|e| die("pingpong", e.to_string()));
        let b_done = b.await.unwrap_or_else(|e| die("pingpong", e.to_string()));
        (a_done, b_done, t)
    });
    if a_done != N || b_done != N {
        die(
            "pingpong",
            format!(
                "{} round trips by A, {} by B; expected {}",
                a_done, b_done, N
            ),
        );
    }
    println!(
        "bench=pingpong threads={} value={:.2} unit=ns/roundtrip",
        threads,
        ns(t) / N as f64
    );
}

/// mailbox: two tasks, each an actor whose mailbox is an unbounded
/// channel's receiver; a message carries the sender's address (a clone of
/// the UnboundedSender of its mailbox) and a number.  A sends i to B; B
/// checks it and sends i + 1 to the address the message carries; A checks
/// that the reply is i + 1 and comes from B.  1,000,000 round trips, then
/// A sends B the number MAILBOX_STOP and both end.  As in bench/mailbox.c,
/// B is spawned before A and there is no start barrier: A starts the
/// clock when it first runs.
const MAILBOX_STOP: u64 = u64::MAX - 1;

struct MailMsg {
    from: mpsc::UnboundedSender<MailMsg>,
    n: u64,
}

fn bench_mailbox(threads: usize) {
    const N: u64 = 1_000_000;

    let (a_done, b_done, t) = run("mailbox", threads, async {
        let (a_tx, mut a_rx) = mpsc::unbounded_channel::<MailMsg>();
        let (b_tx, mut b_rx) = mpsc::unbounded_channel::<MailMsg>();
        let b_me = b_tx.clone();
        let b = tokio::spawn(async move {
            let mut k = 0u64;
            loop {
                let m = match b_rx.recv().await {
                    Some(m) => m,
                    None => die("mailbox", "B: mailbox closed".into()),
                };
                if m.n == MAILBOX_STOP {
                    break;
                }
                if m.n != k {
                    die("mailbox", format!("B: got {}, expected {}", m.n, k));
                }
                let reply = MailMsg {
                    from: b_me.clone(),
                    n: k + 1,
                };
                if m.from.send(reply).is_err() {
                    die("mailbox", format!("B: reply {}: send failed", k));
                }
                k += 1;
            }
            k
        });
        let a = tokio::spawn(async move {
            let t0 = Instant::now();
            let mut i = 0u64;
            while i < N {
                let msg = MailMsg {
                    from: a_tx.clone(),
                    n: i,
                };
                if b_tx.send(msg).is_err() {
                    die("mailbox", format!("A: send {}: send failed", i));
                }
                match a_rx.recv().await {
                    Some(m) if !m.from.same_channel(&b_tx) => die(
                        "mailbox",
                        format!("A: reply to {} from a mailbox not B's", i),
                    ),
                    Some(m) if m.n != i + 1 => {
                        die("mailbox", format!("A: sent {}, got {}", i, m.n))
                    }
                    Some(_) => {}
                    None => die("mailbox", "A: mailbox closed".into()),
                }
                i += 1;
            }
            let t = t0.elapsed();
            let stop = MailMsg {
                from: a_tx.clone(),
                n: MAILBOX_STOP,
            };
            if b_tx.send(stop).is_err() {
                die("mailbox", "A: stop: send failed".into());
            }
            (i, t)
        });
        let (a_done, t) = a.await.unwrap_or_else(|e| die("mailbox", e.to_string()));
        let b_done = b.await.unwrap_or_else(|e| die("mailbox", e.to_string()));
        (a_done, b_done, t)
    });
    if a_done != N || b_done != N {
        die(
            "mailbox",
            format!(
                "{} round trips by A, {} by B; expected {}",
                a_done, b_done, N
            ),
        );
    }
    println!(
        "bench=mailbox threads={} value={:.2} unit=ns/roundtrip",
        threads,
        ns(t) / N as f64
    );
}

/// ring: 1,000 tasks in a ring of channels pass a token 1,000,000 hops.
/// The one that makes the last hop sends the token to the root and drops
/// its sender on the next one's channel; each in turn drops its own, until
/// all have ended.
fn bench_ring(threads: usize) {
    const MEMBERS: usize = 1000;
    const HOPS: u64 = 1_000_000;

    let (done, token, t) = run("ring", threads, async {
        let mut txs = Vec::with_capacity(MEMBERS);
        let mut rxs = Vec::with_capacity(MEMBERS);
        for _ in 0..MEMBERS {
            let (tx, rx) = mpsc::unbounded_channel::<u64>();
            txs.push(Some(tx));
            rxs.push(rx);
        }
        let first = txs[0].clone().unwrap();
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
        let (end_tx, mut end_rx) = mpsc::unbounded_channel::<u64>();
        let mut hs = Vec::with_capacity(MEMBERS);
        for (i, mut rx) in rxs.into_iter().enumerate() {
            let mut next = txs[(i + 1) % MEMBERS].take();
            let ready = ready_tx.clone();
            let end = end_tx.clone();
            hs.push(tokio::spawn(async move {
                let _ = ready.send(());
                drop(ready);
                let mut d = 0u64;
                while let Some(mut v) = rx.recv().await {
                    d += 1;
                    let nx = match &next {
                        Some(nx) if v < HOPS => nx,
                        _ => die(
                            "ring",
                            format!(
                                "task {}: got the token as {} after the last hop ({})",
                                i, v, HOPS
                            ),
                        ),
                    };
                    v += 1;
                    if v == HOPS {
                        let _ = end.send(v);
                        next = None;
                    } else if nx.send(v).is_err() {
                        die("ring", format!("task {}: hop {}: send failed", i, v));
                    }
                }
                d
            }));
        }
        drop(ready_tx);
        drop(end_tx);
        let mut readies = 0;
        while ready_rx.recv().await.is_some() {
            readies += 1;
        }
        if readies != MEMBERS {
            die("ring", format!("{} of {} tasks started", readies, MEMBERS));
        }
        let t0 = Instant::now();
        let _ = first.send(0);
        let token = end_rx.recv().await.unwrap_or(0);
        let t = t0.elapsed();
        drop(first);
        let mut done = 0u64;
        for h in hs {
            done += h.await.unwrap_or_else(|e| die("ring", e.to_string()));
        }
        (done, token, t)
    });
    if done != HOPS || token != HOPS {
        die(
            "ring",
            format!(
                "{} hops made, token came back as {}; expected {} and {}",
                done, token, HOPS, HOPS
            ),
        );
    }
    println!(
        "bench=ring threads={} value={:.2} unit=ns/hop",
        threads,
        ns(t) / HOPS as f64
    );
}

/// skynet: a 10-ary tree of detached tasks over 1,000,000 leaves
/// (1,111,111 tasks); each parent makes one channel for its 10 children
/// and hands each a clone of its sender.  3 trees, all timed.
const FANOUT: u64 = 10;

fn skynode(num: u64, size: u64, up: mpsc::UnboundedSender<u64>) {
    tokio::spawn(async move {
        if size == 1 {
            let _ = up.send(num);
            return;
        }
        let (tx, mut rx) = mpsc::unbounded_channel();
        for i in 0..FANOUT {
            skynode(num + i * (size / FANOUT), size / FANOUT, tx.clone());
        }
        drop(tx);
        let mut sum = 0;
        for _ in 0..FANOUT {
            match rx.recv().await {
                Some(v) => sum += v,
                None => return, // a child failed: so does this node
            }
        }
        let _ = up.send(sum);
    });
}

fn bench_skynet(threads: usize) {
    const LEAVES: u64 = 1_000_000;
    const ROUNDS: usize = 3;
    const EXPECTED: u64 = LEAVES * (LEAVES - 1) / 2;

    let ts = run("skynet", threads, async {
        let mut ts = Vec::new();
        for _ in 0..ROUNDS {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let t0 = Instant::now();
            skynode(0, LEAVES, tx);
            let sum = rx.recv().await;
            ts.push(t0.elapsed());
            if sum != Some(EXPECTED) {
                die(
                    "skynet",
                    format!("the tree summed to {:?}; expected {}", sum, EXPECTED),
                );
            }
        }
        ts
    });
    println!(
        "bench=skynet threads={} value={:.2} first={:.2} unit=ms",
        threads,
        median(&ts, 1e6),
        ns(ts[0]) / 1e6
    );
}

/// primes: the primes below 3,000,000 by trial division in 1,000 tasks,
/// one range each, as bench/primes.c cuts them; each task computes on
/// the runtime's workers (not spawn_blocking) and sends its count over a
/// clone of the root's sender; the root adds them up until all are
/// dropped.
fn is_prime(n: u32) -> bool {
    if n < 2 {
        return false;
    }
    if n % 2 == 0 {
        return n == 2;
    }
    let mut d: u32 = 3;
    while (d as u64) * (d as u64) <= n as u64 {
        if n % d == 0 {
            return false;
        }
        d += 2;
    }
    true
}

fn bench_primes(threads: usize) {
    const LIMIT: u64 = 3_000_000;
    const CHUNKS: u64 = 1000;
    const EXPECTED: u64 = 216_816;
    fn start(i: u64) -> u32 {
        let (q, r) = (LIMIT / CHUNKS, LIMIT % CHUNKS);
        (i * q + i.min(r)) as u32
    }

    let (primes, counts, t) = run("primes", threads, async {
        let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
        let t0 = Instant::now();
        for i in 0..CHUNKS {
            let (lo, hi, tx) = (start(i), start(i + 1), tx.clone());
            tokio::spawn(async move {
                let count = (lo..hi).filter(|&n| is_prime(n)).count() as u64;
                let _ = tx.send(count);
            });
        }
        drop(tx);
        let (mut primes, mut counts) = (0u64, 0u64);
        while let Some(v) = rx.recv().await {
            primes += v;
            counts += 1;
        }
        (primes, counts, t0.elapsed())
    });
    if counts != CHUNKS || primes != EXPECTED {
        die(
            "primes",
            format!(
                "{} counts of {} received, adding up to {}; expected {} primes below {}",
                counts, CHUNKS, primes, EXPECTED, LIMIT
            ),
        );
    }
    println!(
        "bench=primes threads={} value={:.2} unit=ms",
        threads,
        ns(t) / 1e6
    );
}

/// mutex: 100 tasks each take one tokio::sync::Mutex 10,000 times,
/// increment the counter it guards, unlock it (drop the guard) and
/// yield_now, so that the others get their turn between two of its
/// locks.  The time from before the first spawn to after the last task
/// was awaited, over the 1,000,000 locks, is the figure.  The counter
/// must be 1,000,000 and each task must have locked 10,000 times.
fn bench_mutex(threads: usize) {
    const WORKERS: usize = 100;
    const LOCKS: u64 = 10_000;

    let (counter, done, t) = run("mutex", threads, async {
        let m = Arc::new(tokio::sync::Mutex::new(0u64));
        let t0 = Instant::now();
        let mut hs = Vec::with_capacity(WORKERS);
        for _ in 0..WORKERS {
            let m = m.clone();
            hs.push(tokio::spawn(async move {
                let mut i = 0u64;
                while i < LOCKS {
                    let mut g = m.lock().await;
                    *g += 1;
                    drop(g);
                    yield_now().await;
                    i += 1;
                }
                i
            }));
        }
        let mut done = Vec::with_capacity(WORKERS);
        for h in hs {
            done.push(h.await.unwrap_or_else(|e| die("mutex", e.to_string())));
        }
        let t = t0.elapsed();
        let counter = *m.lock().await;
        (counter, done, t)
    });
    for (k, &d) in done.iter().enumerate() {
        if d != LOCKS {
            die(
                "mutex",
                format!("task {} locked {} times; expected {}", k, d, LOCKS),
            );
        }
    }
    if counter != WORKERS as u64 * LOCKS {
        die(
            "mutex",
            format!(
                "the counter is {}; expected {}",
                counter,
                WORKERS as u64 * LOCKS
            ),
        );
    }
    println!(
        "bench=mutex threads={} value={:.2} unit=ns/lock",
        threads,
        ns(t) / (WORKERS as u64 * LOCKS) as f64
    );
}

/// bounded1, bounded64: one task sends 0, 1, ..., 999,999 through a
/// tokio::sync::mpsc::channel(cap) (a send waits while it is full) and
/// drops its sender; another receives until the channel ends, checking
/// that each number is the one after the last.  The time from before the
/// first spawn to after both were awaited, over 1,000,000, is the figure.
fn bench_bounded(cap: usize, threads: usize) {
    const N: u64 = 1_000_000;
    let name: &'static str = if cap == 1 { "bounded1" } else { "bounded64" };

    let (sent, received, t) = run(name, threads, async move {
        let (tx, mut rx) = mpsc::channel::<u64>(cap);
        let t0 = Instant::now();
        let consumer = tokio::spawn(async move {
            let mut k = 0u64;
            while let Some(v) = rx.recv().await {
                if v != k {
                    die(name, format!("consumer: got {}, expected {}", v, k));
                }
                k += 1;
            }
            k
        });
        let producer = tokio::spawn(async move {
            let mut i = 0u64;
            while i < N {
                if tx.send(i).await.is_err() {
                    die(name, format!("producer: send {}: receiver gone", i));
                }
                i += 1;
            }
            i
        });
        let sent = producer.await.unwrap_or_else(|e| die(name, e.to_string()));
        let received = consumer.await.unwrap_or_else(|e| die(name, e.to_string()));
        (sent, received, t0.elapsed())
    });
    if sent != N || received != N {
        die(
            name,
            format!(
                "{} sent, {} received in order; expected {}",
                sent, received, N
            ),
        );
    }
    println!(
        "bench={} threads={} value={:.2} unit=ns/element",
        name,
        threads,
        ns(t) / N as f64
    );
}

fn bench_bounded1(threads: usize) {
    bench_bounded(1, threads)
}

fn bench_bounded64(threads: usize) {
    bench_bounded(64, threads)
}

/// select: 8 tasks each send 0, 1, ..., 124,999 on an unbounded channel
/// of their own (as smarm's are: a send never waits) and drop its sender.
/// One task waits on the 8 receivers at once and takes one element from
/// the first ready, until all have ended; each producer's numbers must
/// arrive in order, all of them.  The wait is written by hand with
/// poll_fn over each receiver's poll_recv, starting one further at every
/// call: what tokio::select! over 8 `rx.recv()` branches expands to (it
/// polls the branches from a random start), without its `macros` feature,
/// which the Cargo.toml here does not enable.  The time from before the
/// first spawn to after all were awaited, over the 1,000,000 elements, is
/// the figure.
fn bench_select(threads: usize) {
    const PRODUCERS: usize = 8;
    const PER: u64 = 125_000;

    let (sent, got, received, t) = run("select", threads, async {
        let mut txs = Vec::with_capacity(PRODUCERS);
        let mut rxs = Vec::with_capacity(PRODUCERS);
        for _ in 0..PRODUCERS {
            let (tx, rx) = mpsc::unbounded_channel::<u64>();
            txs.push(tx);
            rxs.push(rx);
        }
        let t0 = Instant::now();
        let consumer = tokio::spawn(async move {
            // (producer, its receiver) for the channels still open.
            let mut open: Vec<(usize, mpsc::UnboundedReceiver<u64>)> =
                rxs.into_iter().enumerate().collect();
            let mut got = [0u64; PRODUCERS];
            let mut received = 0u64;
            let mut turn = 0usize;
            while !open.is_empty() {
                let n = open.len();
                let start = turn % n;
                turn = turn.wrapping_add(1);
                let (i, v) = poll_fn(|cx| {
                    for j in 0..n {
                        let i = (start + j) % n;
                        if let Poll::Ready(v) = open[i].1.poll_recv(cx) {
                            return Poll::Ready((i, v));
                        }
                    }
                    Poll::Pending
                })
                .await;
                let k = open[i].0;
                match v {
                    Some(v) if v != got[k] => die(
                        "select",
                        format!("channel {}: got {}, expected {}", k, v, got[k]),
                    ),
                    Some(_) => {
                        got[k] += 1;
                        received += 1;
                    }
                    None if got[k] != PER => die(
                        "select",
                        format!(
                            "channel {} ended after {} elements; expected {}",
                            k, got[k], PER
                        ),
                    ),
                    None => {
                        open.swap_remove(i);
                    }
                }
            }
            (got, received)
        });
        let mut hs = Vec::with_capacity(PRODUCERS);
        for tx in txs {
            hs.push(tokio::spawn(async move {
                let mut i = 0u64;
                while i < PER {
                    if tx.send(i).is_err() {
                        die("select", format!("send {}: receiver gone", i));
                    }
                    i += 1;
                }
                i
            }));
        }
        let (got, received) = consumer
            .await
            .unwrap_or_else(|e| die("select", e.to_string()));
        let mut sent = Vec::with_capacity(PRODUCERS);
        for h in hs {
            sent.push(h.await.unwrap_or_else(|e| die("select", e.to_string())));
        }
        (sent, got, received, t0.elapsed())
    });
    for k in 0..PRODUCERS {
        if sent[k] != PER || got[k] != PER {
            die(
                "select",
                format!(
                    "producer {} sent {}, {} received in order; expected {}",
                    k, sent[k], got[k], PER
                ),
            );
        }
    }
    if received != PRODUCERS as u64 * PER {
        die(
            "select",
            format!(
                "{} received; expected {}",
                received,
                PRODUCERS as u64 * PER
            ),
        );
    }
    println!(
        "bench=select threads={} value={:.2} unit=ns/element",
        threads,
        ns(t) / (PRODUCERS as u64 * PER) as f64
    );
}

/// The resident set of this process in bytes (VmRSS, /proc/self/status).
fn rss() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_else(|e| die("parked", format!("/proc/self/status: {}", e)));
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| die("parked", "no VmRSS in /proc/self/status".into()))
}

/// parked: 100,000 tasks each waiting on a receive from a channel of its
/// own.  The resident set is read before anything is made for them and
/// once each has said it runs (it says so just before it waits, and the
/// root runs again only after it); then every sender is dropped, and each
/// task must see its channel closed and end.
fn bench_parked(threads: usize) {
    const N: usize = 100_000;

    let (before, after, ready, ended) = run("parked", threads, async {
        let before = rss();
        let mut txs = Vec::with_capacity(N);
        let mut hs = Vec::with_capacity(N);
        let (ready_tx, mut ready_rx) = mpsc::unbounded_channel::<()>();
        for _ in 0..N {
            let (tx, mut rx) = mpsc::unbounded_channel::<u64>();
            let ready = ready_tx.clone();
            hs.push(tokio::spawn(async move {
                let _ = ready.send(());
                drop(ready);
                rx.recv().await.is_none()
            }));
            txs.push(tx);
        }
        drop(ready_tx);
        let mut ready = 0;
        while ready_rx.recv().await.is_some() {
            ready += 1;
        }
        let after = rss();
        drop(txs);
        let mut ended = 0;
        for h in hs {
            if h.await.unwrap_or_else(|e| die("parked", e.to_string())) {
                ended += 1;
            }
        }
        (before, after, ready, ended)
    });
    if ready != N || ended != N {
        die(
            "parked",
            format!(
                "{} of {} tasks said they run, {} ended when their channel closed",
                ready, N, ended
            ),
        );
    }
    println!(
        "bench=parked threads={} value={:.0} unit=bytes/actor",
        threads,
        (after as f64 - before as f64) / N as f64
    );
}

/// echo100, echo10000 (echoN): a TCP echo server and N connections to
/// it, all in this process, as in bench/echo.c.  The server listens on
/// 127.0.0.1 (an ephemeral port, a backlog of 4,096 asked with
/// TcpSocket::listen; TcpListener::bind would ask for 1,024), accepts N
/// connections and serves each in a task of its own that reads what there
/// is (up to 1 KiB) and writes it back until end of file.  The
/// connections are made in waves of ECHO_CONNECT_WAVE tasks, each
/// connecting, setting TCP_NODELAY (as Go does by default) and sending one
/// message through the echo, so that no more than a wave waits in the
/// listening socket's queue.  Then 5 rounds, all timed: in each, a task
/// per connection (the stream moved in and handed back through its
/// JoinHandle) makes 20,000 / N round trips (at least one) of a 64-byte
/// message, write_all and read_exact, and compares; the round ends when
/// every task was awaited.  At the end the client streams are dropped;
/// every server task must see end of file, having echoed every byte.
/// Both ends of every connection are in this process: the limit on open
/// files must allow 2N + ECHO_FD_SLACK.
const ECHO_MSG_SIZE: usize = 64;
const ECHO_SERVER_BUF: usize = 1024;
const ECHO_ROUND_TRIPS: u64 = 20_000; // per round, all connections
const ECHO_ROUNDS: usize = 5;
const ECHO_CONNECT_WAVE: usize = 256;
const ECHO_FD_SLACK: u64 = 64;
const ECHO_BACKLOG: u32 = 4096;

/// The bytes of message seq on connection id: its two numbers, then
/// bytes made from them.
fn echo_fill(m: &mut [u8; ECHO_MSG_SIZE], id: u64, seq: u64) {
    m[0..8].copy_from_slice(&id.to_le_bytes());
    m[8..16].copy_from_slice(&seq.to_le_bytes());
    for (k, b) in m.iter_mut().enumerate().skip(16) {
        *b = (id.wrapping_mul(7).wrapping_add(seq.wrapping_mul(13)) + k as u64) as u8;
    }
}

/// The client end of one connection.
struct EchoConn {
    s: TcpStream,
    id: u64,
    seq: u64,
}

async fn echo_round_trips(name: &'static str, c: &mut EchoConn, n: u64) {
    let mut out = [0u8; ECHO_MSG_SIZE];
    let mut inb = [0u8; ECHO_MSG_SIZE];
    for _ in 0..n {
        echo_fill(&mut out, c.id, c.seq);
        if let Err(e) = c.s.write_all(&out).await {
            die(
                name,
                format!("connection {}, message {}: write: {}", c.id, c.seq, e),
            );
        }
        if let Err(e) = c.s.read_exact(&mut inb).await {
            die(
                name,
                format!("connection {}, message {}: read: {}", c.id, c.seq, e),
            );
        }
        if inb != out {
            die(
                name,
                format!(
                    "connection {}, message {}: the echo differs from what was sent",
                    c.id, c.seq
                ),
            );
        }
        c.seq += 1;
    }
}

/// One connection of the server: what comes is written back until end of
/// file.  Returns the bytes echoed.
async fn echo_serve(name: &'static str, mut s: TcpStream) -> u64 {
    let mut buf = [0u8; ECHO_SERVER_BUF];
    let mut bytes = 0u64;
    loop {
        let n = match s.read(&mut buf).await {
            Ok(0) => return bytes,
            Ok(n) => n,
            Err(e) => die(name, format!("server: read: {}", e)),
        };
        if let Err(e) = s.write_all(&buf[..n]).await {
            die(name, format!("server: write: {}", e));
        }
        bytes += n as u64;
    }
}

/// Raises the soft limit on open files to the hard one when it is below
/// need, or ends the process saying why it cannot.
fn echo_raise_nofile(name: &str, conns: u64, need: u64) {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: rl is a valid rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) } != 0 {
        die(
            name,
            format!(
                "getrlimit(RLIMIT_NOFILE): {}",
                std::io::Error::last_os_error()
            ),
        );
    }
    if rl.rlim_cur >= need {
        return;
    }
    if rl.rlim_max < need {
        die(
            name,
            format!(
                "the limit on open files is too low: {} connections with both ends in this \
                 process need {} descriptors, the hard limit (RLIMIT_NOFILE) is {}; raise it \
                 (as root: ulimit -Hn {}, prlimit --nofile, LimitNOFILE= of a systemd unit)",
                conns, need, rl.rlim_max, need
            ),
        );
    }
    rl.rlim_cur = rl.rlim_max;
    // SAFETY: rl is a valid rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &rl) } != 0 {
        die(
            name,
            format!(
                "setrlimit(RLIMIT_NOFILE, {}): {}",
                rl.rlim_cur,
                std::io::Error::last_os_error()
            ),
        );
    }
}

fn bench_echo(conns: usize, threads: usize) {
    let name: &'static str = Box::leak(format!("echo{}", conns).into_boxed_str());
    let n = conns as u64;
    let per = (ECHO_ROUND_TRIPS / n).max(1);
    echo_raise_nofile(name, n, 2 * n + ECHO_FD_SLACK);

    let (ts, accepted, served, echoed) = run(name, threads, async move {
        let sock = TcpSocket::new_v4().unwrap_or_else(|e| die(name, format!("socket: {}", e)));
        let listener = sock
            .bind("127.0.0.1:0".parse().unwrap())
            .and_then(|_| sock.listen(ECHO_BACKLOG))
            .unwrap_or_else(|e| die(name, format!("listen on 127.0.0.1: {}", e)));
        let addr = listener
            .local_addr()
            .unwrap_or_else(|e| die(name, format!("local_addr: {}", e)));
        let server = tokio::spawn(async move {
            let mut hs = Vec::with_capacity(conns);
            for _ in 0..conns {
                let (s, _) = listener
                    .accept()
                    .await
                    .unwrap_or_else(|e| die(name, format!("server: accept: {}", e)));
                if let Err(e) = s.set_nodelay(true) {
                    die(name, format!("server: TCP_NODELAY: {}", e));
                }
                hs.push(tokio::spawn(echo_serve(name, s)));
            }
            hs
        });

        let mut cs: Vec<EchoConn> = Vec::with_capacity(conns);
        let mut k = 0;
        while k < conns {
            let end = (k + ECHO_CONNECT_WAVE).min(conns);
            let mut hs = Vec::with_capacity(end - k);
            for i in k..end {
                hs.push(tokio::spawn(async move {
                    let s = TcpStream::connect(addr)
                        .await
                        .unwrap_or_else(|e| die(name, format!("connection {}: connect: {}", i, e)));
                    if let Err(e) = s.set_nodelay(true) {
                        die(name, format!("connection {}: TCP_NODELAY: {}", i, e));
                    }
                    let mut c = EchoConn {
                        s,
                        id: i as u64,
                        seq: 0,
                    };
                    echo_round_trips(name, &mut c, 1).await;
                    c
                }));
            }
            for h in hs {
                cs.push(h.await.unwrap_or_else(|e| die(name, e.to_string())));
            }
            k = end;
        }

        let mut ts = Vec::with_capacity(ECHO_ROUNDS);
        for _ in 0..ECHO_ROUNDS {
            let t0 = Instant::now();
            let hs: Vec<_> = cs
                .drain(..)
                .map(|mut c| {
                    tokio::spawn(async move {
                        echo_round_trips(name, &mut c, per).await;
                        c
                    })
                })
                .collect();
            for h in hs {
                cs.push(h.await.unwrap_or_else(|e| die(name, e.to_string())));
            }
            ts.push(t0.elapsed());
        }

        drop(cs);
        let hs = server.await.unwrap_or_else(|e| die(name, e.to_string()));
        let accepted = hs.len() as u64;
        let (mut served, mut echoed) = (0u64, 0u64);
        for h in hs {
            echoed += h.await.unwrap_or_else(|e| die(name, e.to_string()));
            served += 1;
        }
        (ts, accepted, served, echoed)
    });
    let expected = n * ECHO_MSG_SIZE as u64 * (1 + ECHO_ROUNDS as u64 * per);
    if accepted != n || served != n || echoed != expected {
        die(
            name,
            format!(
                "{} connections accepted, {} saw their end, {} bytes echoed; expected {} \
                 connections and {} bytes",
                accepted, served, echoed, n, expected
            ),
        );
    }
    let total = (n * per) as f64;
    let med = median(&ts, total);
    println!(
        "bench={} threads={} value={:.2} first={:.2} rate={:.0} unit=ns/roundtrip",
        name,
        threads,
        med,
        ns(ts[0]) / total,
        1e9 / med
    );
}

fn usage() -> ! {
    eprintln!(
        "usage: peers-tokio yield|spawn_join|pingpong|mailbox|ring|skynet|primes|\
         parked|mutex|bounded1|bounded64|select|echoN [-t threads >= 1]"
    );
    exit(2)
}

/// A workload: its name and the function that runs it on N threads.
type Bench = (&'static str, fn(usize));

fn main() {
    let benches: [Bench; 12] = [
        ("yield", bench_yield),
        ("spawn_join", bench_spawn_join),
        ("pingpong", bench_pingpong),
        ("mailbox", bench_mailbox),
        ("ring", bench_ring),
        ("skynet", bench_skynet),
        ("primes", bench_primes),
        ("parked", bench_parked),
        ("mutex", bench_mutex),
        ("bounded1", bench_bounded1),
        ("bounded64", bench_bounded64),
        ("select", bench_select),
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut bench: Option<Bench> = None;
    let mut echo: Option<usize> = None;
    let mut threads = 1usize;
    let mut i = 0;
    while i < args.len() {
        if args[i] == "-t" && i + 1 < args.len() {
            threads = match args[i + 1].parse() {
                Ok(t) if t >= 1 => t,
                _ => usage(),
            };
            i += 2;
            continue;
        }
        match benches.iter().find(|b| b.0 == args[i]) {
            Some(&b) if bench.is_none() && echo.is_none() => bench = Some(b),
            None if bench.is_none() && echo.is_none() => {
                echo = match args[i].strip_prefix("echo").map(str::parse::<usize>) {
                    Some(Ok(c)) if c >= 1 && args[i] == format!("echo{}", c) => Some(c),
                    _ => usage(),
                }
            }
            _ => usage(),
        }
        i += 1;
    }
    if let Some(conns) = echo {
        bench_echo(conns, threads);
        return;
    }
    let (name, f) = bench.unwrap_or_else(|| usage());
    if threads != 1 && matches!(name, "yield" | "spawn_join" | "parked") {
        eprintln!("peers-tokio: {} runs on one thread only", name);
        exit(2);
    }
    f(threads);
}

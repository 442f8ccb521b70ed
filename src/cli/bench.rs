//! `recoverysim bench`: simulation speed (events per second, simulated time over wall time) and,
//! with `--seek`, the replay's time travel. Outside the simulation core: it reads the wall clock.

use super::*;

// The benchmark measures wall time by definition; it is outside the simulation core.
#[allow(clippy::disallowed_methods)]
pub(super) fn cmd_bench_seek(out: &mut Out, file: &Path, seeks: u32) -> Done {
    let Some(sc) = load_admitted(file) else { return Ok(ExitCode::from(2)) };
    if cfg!(debug_assertions) {
        errln!("warning: debug build; measure with `cargo run --release -- bench ...`");
    }
    let before = heap_bytes();
    let start = std::time::Instant::now();
    let t = crate::timeline::Timeline::build(&sc);
    let build = start.elapsed().as_secs_f64();
    let after = heap_bytes();
    writeln!(
        out,
        "snapshots: {} of the world, every {} events, over {} events; built in {:.3} s (one simulation)",
        t.snapshots(),
        t.interval(),
        t.total(),
        build
    )?;
    match (before, after) {
        (Some(b), Some(a)) => {
            let all = a.saturating_sub(b);
            let shared = t.shared_bytes() as u64;
            writeln!(
                out,
                "memory: {} on the heap after building: {} is what the sink committed (kept once, shared by every snapshot), {} the snapshots' own state ({} each, on average)",
                bytesize::ByteSize(all),
                bytesize::ByteSize(shared),
                bytesize::ByteSize(all.saturating_sub(shared)),
                bytesize::ByteSize(all.saturating_sub(shared) / t.snapshots().max(1) as u64)
            )?
        }
        _ => writeln!(out, "memory: not counted (the heap counter is the recoverysim binary's)")?,
    }
    // Targets spread over the whole run, visited in a scrambled order (a fixed permutation:
    // multiply by an odd constant modulo the count), so no seek starts where the last ended.
    let n = seeks.max(1) as u64;
    let mut times: Vec<f64> = Vec::with_capacity(n as usize);
    let mut worst = (0.0, 0);
    for k in 0..n {
        let target = (k * 7_919 % n) * t.total() / n + (k * 104_729) % t.interval().max(1);
        let target = target.min(t.total());
        let start = std::time::Instant::now();
        let w = t.world_at(target, None);
        let view = w.inspect();
        let ms = start.elapsed().as_secs_f64() * 1e3;
        std::hint::black_box(view);
        if ms > worst.0 {
            worst = (ms, target);
        }
        times.push(ms);
    }
    times.sort_by(f64::total_cmp);
    let q = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
    writeln!(
        out,
        "seek (clone the nearest snapshot, simulate forward, inspect): {} seeks, median {:.1} ms, p90 {:.1} ms, max {:.1} ms (to event {})",
        times.len(),
        q(0.5),
        q(0.9),
        worst.0,
        worst.1
    )?;
    Ok(ExitCode::SUCCESS)
}

// The benchmark measures wall time by definition; it is outside the simulation core.
#[allow(clippy::disallowed_methods)]
pub(super) fn cmd_bench(out: &mut Out, file: &Path, runs: u32) -> Done {
    let Some(sc) = load_admitted(file) else { return Ok(ExitCode::from(2)) };
    if cfg!(debug_assertions) {
        errln!("warning: debug build; measure with `cargo run --release -- bench ...`");
    }
    let mut best: Option<(f64, u64, u64)> = None;
    for i in 0..runs.max(1) {
        let start = std::time::Instant::now();
        let outcome = World::new(&sc, true).run();
        let wall = start.elapsed().as_secs_f64();
        writeln!(
            out,
            "run {}: {} events ({} records read) in {:.3} s wall = {:.0} events/s; {:.1} s simulated = {:.0}× real time",
            i + 1,
            outcome.events,
            outcome.records_read,
            wall,
            outcome.events as f64 / wall,
            outcome.end_us as f64 / 1e6,
            outcome.end_us as f64 / 1e6 / wall
        )?;
        if best.is_none_or(|b| wall < b.0) {
            best = Some((wall, outcome.events, outcome.end_us));
        }
    }
    if let Some((wall, events, end_us)) = best {
        writeln!(
            out,
            "best: {events} events, {:.3} s wall, {:.0} events/s, simulated ÷ wall = {:.0}",
            wall,
            events as f64 / wall,
            end_us as f64 / 1e6 / wall
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

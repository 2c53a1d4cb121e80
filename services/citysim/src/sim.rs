//! The driver: advances every generator window by window (in parallel), merges their chunks in
//! time order, mixes in invalid records, paces live runs and tallies the ground truth.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use crate::SimError;
use crate::bad::{self, BadClass, BadPicker};
use crate::city::City;
use crate::clock::{self, DAY_MS, HOUR_MS, LiveClock, Period, TimeMap};
use crate::emit::{Chunk, Generator, Topic};
use crate::facility::FacilityGen;
use crate::hotline::HotlineGen;
use crate::profile::CityProfile;
use crate::renovation::{BACKFILL_DAYS, Plan, PlanParams, RenovationGen};
use crate::sink::{Record, RecordKind, Sink};
use crate::truth::{GroundTruth, RunInfo, TruthBuilder};

/// Events per window a batch run aims at: enough to keep threads busy, small enough to bound
/// memory.
const WINDOW_EVENTS: f64 = 200_000.0;
/// Hotline events per ticket, on average (for window sizing only).
const EVENTS_PER_TICKET: f64 = 6.5;

/// Everything a run depends on.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The city.
    pub city: &'static CityProfile,
    /// Days simulated.
    pub period: Period,
    /// Share of the city simulated (1.0 = the real city).
    pub scale: f64,
    /// Seed of every random stream.
    pub seed: u64,
    /// Streams to emit.
    pub streams: Vec<Topic>,
    /// Share of valid records followed by an invalid one.
    pub bad_ratio: f64,
    /// Stop after this many records (valid, duplicate and invalid).
    pub max_events: Option<u64>,
    /// Live mode: records per second of wall time, event times mapped to the wall clock.
    pub rate: Option<f64>,
    /// Generator threads.
    pub threads: usize,
    /// Only these district codes (all when `None`).
    pub districts: Option<Vec<String>>,
}

impl SimConfig {
    /// A batch run of `city` over `period` at `scale` with `seed`, all streams.
    pub fn new(city: &'static CityProfile, period: Period, scale: f64, seed: u64) -> Self {
        Self {
            city,
            period,
            scale,
            seed,
            streams: Topic::ALL.to_vec(),
            bad_ratio: 0.0,
            max_events: None,
            rate: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            districts: None,
        }
    }

    fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Config(m));
        if !(self.scale > 0.0 && self.scale <= 100.0) {
            return bad(format!("scale {} is not in (0, 100]", self.scale));
        }
        if self.period.to < self.period.from {
            return bad(format!(
                "--to {} is before --from {}",
                self.period.to, self.period.from
            ));
        }
        if !(0.0..=1.0).contains(&self.bad_ratio) {
            return bad(format!("bad ratio {} is not in [0, 1]", self.bad_ratio));
        }
        if self.rate.is_some_and(|r| !(r > 0.0 && r.is_finite())) {
            return bad("rate must be positive".into());
        }
        if self.streams.is_empty() {
            return bad("no stream selected".into());
        }
        Ok(())
    }
}

/// Hooks for progress reporting.
pub trait Observer {
    /// The run covers `total_ms` of simulated time.
    fn start(&mut self, _total_ms: i64) {}
    /// `done_ms` of simulated time are done and `records` records sent.
    fn progress(&mut self, _done_ms: i64, _records: u64) {}
    /// The run is over.
    fn finish(&mut self) {}
}

/// An observer that ignores everything.
pub struct Quiet;

impl Observer for Quiet {}

/// A prepared run: the city, the renovation plan and one generator per stream and district.
pub struct Simulation {
    config: SimConfig,
    city: Arc<City>,
    generators: Vec<Box<dyn Generator>>,
    chunks: Vec<Chunk>,
    expected_per_ms: f64,
}

impl Simulation {
    /// Builds the city and plans the streams of `config`.
    pub fn new(mut config: SimConfig) -> Result<Self, SimError> {
        config.validate()?;
        config.streams.sort();
        config.streams.dedup();
        let city = Arc::new(City::build(
            config.city,
            config.scale,
            config.seed,
            config.districts.as_deref(),
        )?);
        let params = PlanParams {
            seed: config.seed,
            scale: config.scale,
            period: config.period,
        };
        // The plan drives hotline complaints too, so it exists whatever streams are chosen.
        let plan = Arc::new(Plan::build(&city, params));
        let mut generators: Vec<Box<dyn Generator>> = Vec::new();
        let mut chunks = Vec::new();
        let mut expected = 0.0;
        for &topic in &config.streams {
            for i in 0..city.districts.len() {
                let g: Box<dyn Generator> = match topic {
                    Topic::Hotline => {
                        let g = HotlineGen::new(
                            Arc::clone(&city),
                            Arc::clone(&plan),
                            i,
                            config.seed,
                            config.period,
                        );
                        expected +=
                            g.tickets_per_year() * EVENTS_PER_TICKET / (365.25 * DAY_MS as f64);
                        Box::new(g)
                    }
                    Topic::Facility => Box::new(FacilityGen::new(
                        Arc::clone(&city),
                        Arc::clone(&plan),
                        i,
                        config.seed,
                        config.scale,
                        config.period,
                    )),
                    Topic::Renovation => Box::new(RenovationGen::new(
                        Arc::clone(&city),
                        Arc::clone(&plan),
                        i,
                        config.seed,
                        config.period,
                    )),
                };
                generators.push(g);
                chunks.push(Chunk::new(topic, i));
            }
        }
        Ok(Self {
            config,
            city,
            generators,
            chunks,
            expected_per_ms: expected,
        })
    }

    /// The simulated city.
    pub fn city(&self) -> &City {
        &self.city
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Runs to the end of the period (or the cap, or until `stop` is set), sending every record
    /// to `sink`, and returns the ground truth.
    ///
    /// Window `k + 1` is generated on worker threads while the records of window `k` are merged
    /// and sent on this one.
    pub fn run(
        &mut self,
        sink: &mut dyn Sink,
        observer: &mut dyn Observer,
        stop: &AtomicBool,
    ) -> Result<GroundTruth, SimError> {
        let config = &self.config;
        let period = config.period;
        let start = clock::day_start(period.from_day() - BACKFILL_DAYS);
        let end = period.end_ms();
        let live = config.rate;
        let window = match live {
            // About a second of wall time per window keeps the live rate smooth.
            Some(rate) => ((rate / self.expected_per_ms.max(1e-9)) as i64).clamp(1000, DAY_MS),
            None => ((WINDOW_EVENTS / self.expected_per_ms.max(1e-9)) as i64 / HOUR_MS * HOUR_MS)
                .clamp(HOUR_MS, 7 * DAY_MS),
        };
        let mut map = match live {
            Some(_) => TimeMap::Live(LiveClock::new(start, clock::now_ms())),
            None => TimeMap::Identity,
        };
        let mut out = Output {
            truth: TruthBuilder::new(self.city.districts.len(), period),
            pickers: Topic::ALL
                .iter()
                .map(|&t| BadPicker::new(config.seed, t))
                .collect(),
            records: 0,
            max_events: config.max_events,
            bad_ratio: config.bad_ratio,
            live: live.is_some(),
            order: Vec::new(),
        };
        let threads = config.threads;
        let generators = &mut self.generators;
        let mut ready = std::mem::take(&mut self.chunks);
        let mut spare: Vec<Chunk> = ready
            .iter()
            .map(|c| Chunk::new(c.topic, c.district))
            .collect();
        // Live windows: correct the count of due steps by how many events they really made.
        let mut correction = 1.0;
        let pace = |generators: &mut Vec<Box<dyn Generator>>,
                    map: &mut TimeMap,
                    t: i64,
                    until: i64,
                    correction: f64| {
            if let (Some(rate), TimeMap::Live(clock)) = (live, map) {
                let due: usize = generators.iter_mut().map(|g| g.pending_before(until)).sum();
                let records = due as f64 * correction * (1.0 + config.bad_ratio);
                clock.push_window(t, until - t, records / rate * 1000.0);
                due
            } else {
                0
            }
        };
        observer.start(end - start);
        let mut t = start;
        let mut due = pace(generators, &mut map, t, (t + window).min(end), correction);
        let jobs = Jobs::new(generators, &mut ready, (t + window).min(end), &map);
        std::thread::scope(|s| {
            let workers: Vec<_> = (1..threads.max(1))
                .map(|_| s.spawn(|| jobs.work()))
                .collect();
            let mine = jobs.work();
            workers
                .into_iter()
                .try_for_each(|h| h.join().expect("generator thread panicked"))
                .and(mine)
        })?;
        drop(jobs);
        let mut truncated = false;
        while t < end {
            let until = (t + window).min(end);
            if due > 0 {
                // Steps due within a window were not counted in advance; learn the ratio.
                let made: usize = ready.iter().map(|c| c.recs.len()).sum();
                correction = 0.8 * correction + 0.2 * (made as f64 / due as f64).clamp(0.5, 4.0);
            }
            let next =
                (until < end && !stop.load(Ordering::Relaxed)).then(|| (until + window).min(end));
            if let Some(next_until) = next {
                due = pace(generators, &mut map, until, next_until, correction);
            }
            let jobs = next.map(|next_until| Jobs::new(generators, &mut spare, next_until, &map));
            let sent = std::thread::scope(|s| {
                let workers: Vec<_> = match &jobs {
                    Some(jobs) => (0..threads.max(1))
                        .map(|_| {
                            std::thread::Builder::new()
                                .name("citysim-gen".into())
                                .spawn_scoped(s, || jobs.work())
                                .expect("cannot start a generator thread")
                        })
                        .collect(),
                    None => Vec::new(),
                };
                let sent = out.send(&ready, sink, stop);
                // Once its records are out, this thread helps generate the next window.
                let mine = jobs.as_ref().map_or(Ok(()), Jobs::work);
                let theirs = workers
                    .into_iter()
                    .try_for_each(|h| h.join().expect("generator thread panicked"));
                sent.and_then(|more| mine.and(theirs).map(|()| more))
            })?;
            drop(jobs);
            observer.progress(until - start, out.records);
            t = until;
            if !sent || (next.is_none() && t < end) {
                truncated = true;
                break;
            }
            std::mem::swap(&mut ready, &mut spare);
        }
        self.chunks = ready;
        sink.flush()?;
        observer.finish();
        let run = RunInfo {
            city: config.city.key.to_owned(),
            from: period.from.to_string(),
            to: period.to.to_string(),
            scale: config.scale,
            seed: config.seed,
            streams: config
                .streams
                .iter()
                .map(|s| s.stream().to_owned())
                .collect(),
            bad_ratio: config.bad_ratio,
            max_events: config.max_events,
            live: live.is_some(),
            truncated,
            version: env!("CARGO_PKG_VERSION").to_owned(),
        };
        Ok(out
            .truth
            .finish(&self.city, period, &config.streams, run, config.scale))
    }
}

/// A record of a window in send order: chunk, record in the chunk, and the invalid record
/// that follows it (index into the window's invalid records, and its class).
type Sent = (u32, u32, Option<(u32, BadClass)>);

/// The sending side of a run: ground truth, invalid-record pickers and the cap.
struct Output {
    truth: TruthBuilder,
    pickers: Vec<BadPicker>,
    records: u64,
    max_events: Option<u64>,
    bad_ratio: f64,
    live: bool,
    /// The window's records in send order (kept to reuse its allocation).
    order: Vec<Sent>,
}

impl Output {
    fn full(&self) -> bool {
        self.max_events.is_some_and(|m| self.records >= m)
    }

    /// Merges `chunks` in time order (ties: stream, then district) and sends their records,
    /// each valid one maybe followed by an invalid one. `false` when the run must stop.
    fn send(
        &mut self,
        chunks: &[Chunk],
        sink: &mut dyn Sink,
        stop: &AtomicBool,
    ) -> Result<bool, SimError> {
        let mut heap: BinaryHeap<Reverse<(i64, usize, usize)>> = chunks
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.recs.is_empty())
            .map(|(i, c)| Reverse((c.recs[0].time, i, 0)))
            .collect();
        // Batch runs decide the whole window first, then hand it to the sink in large batches.
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        let mut invalid: Vec<Vec<u8>> = Vec::new();
        let mut more = true;
        while let Some(Reverse((time, ci, ri))) = heap.pop() {
            if self.full() {
                more = false;
                break;
            }
            let chunk = &chunks[ci];
            let rec = &chunk.recs[ri];
            let mut bad = None;
            self.records += 1;
            self.truth.record(chunk.topic, rec.duplicate, None);
            if !rec.duplicate {
                self.truth.add(chunk.district, chunk.tallies_of(rec));
                let full = self.full();
                let picker = &mut self.pickers[chunk.topic as usize];
                if picker.roll(self.bad_ratio) && !full {
                    let class = picker.next_class();
                    let mut bytes = bad::make(class, chunk.topic, chunk.payload_of(rec))?;
                    bytes.push(b'\n');
                    bad = Some((invalid.len() as u32, class));
                    invalid.push(bytes);
                    self.records += 1;
                    self.truth.record(chunk.topic, false, Some(class));
                }
            }
            if self.live {
                if stop.load(Ordering::Relaxed) {
                    return Ok(false);
                }
                // Live records leave when the wall clock reaches their event time.
                let ahead = time - clock::now_ms();
                if ahead > 2 {
                    std::thread::sleep(Duration::from_millis(ahead as u64));
                }
                let records = records_of(chunks, &invalid, &[(ci as u32, ri as u32, bad)]);
                sink.send_batch(&records)?;
            } else {
                order.push((ci as u32, ri as u32, bad));
            }
            if ri + 1 < chunk.recs.len() {
                heap.push(Reverse((chunk.recs[ri + 1].time, ci, ri + 1)));
            }
        }
        // Batches small enough for the allocator to recycle their buffers.
        for part in order.chunks(1024) {
            sink.send_batch(&records_of(chunks, &invalid, part))?;
        }
        self.order = order;
        Ok(more)
    }
}

/// The records of `order`: chunk records, each maybe followed by its invalid companion.
fn records_of<'a>(chunks: &'a [Chunk], invalid: &'a [Vec<u8>], order: &[Sent]) -> Vec<Record<'a>> {
    let mut out = Vec::with_capacity(order.len() + 8);
    for &(ci, ri, bad) in order {
        let chunk = &chunks[ci as usize];
        let rec = &chunk.recs[ri as usize];
        let key = chunk.key_of(rec);
        let kind = if rec.duplicate {
            RecordKind::Duplicate
        } else {
            RecordKind::Valid
        };
        out.push(Record {
            topic: chunk.topic,
            key,
            line: chunk.line_of(rec),
            kind,
        });
        if let Some((i, class)) = bad {
            out.push(Record {
                topic: chunk.topic,
                key,
                line: &invalid[i as usize],
                kind: RecordKind::Bad(class),
            });
        }
    }
    out
}

/// The generator jobs of one window: each generator with the chunk it fills, taken by
/// whichever thread is free first.
struct Jobs<'a> {
    slots: Vec<Mutex<(&'a mut Box<dyn Generator>, &'a mut Chunk)>>,
    next: AtomicUsize,
    until: i64,
    map: &'a TimeMap,
}

impl<'a> Jobs<'a> {
    fn new(
        generators: &'a mut [Box<dyn Generator>],
        chunks: &'a mut [Chunk],
        until: i64,
        map: &'a TimeMap,
    ) -> Self {
        Self {
            slots: generators
                .iter_mut()
                .zip(chunks.iter_mut())
                .map(Mutex::new)
                .collect(),
            next: AtomicUsize::new(0),
            until,
            map,
        }
    }

    /// Advances generators until none is left.
    fn work(&self) -> Result<(), SimError> {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = self.slots.get(i) else {
                return Ok(());
            };
            let mut guard = slot.lock().unwrap_or_else(|p| p.into_inner());
            let (generator, chunk) = &mut *guard;
            chunk.clear();
            generator.advance(self.until, self.map, chunk)?;
        }
    }
}

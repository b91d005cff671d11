//! The timer thread: runs the periodic tasks of modules (Kamailio's timer processes) — those
//! registered with `InitCtx::register_timer` and, until those modules register their own, the
//! sweeps of usrloc (`UlApi::timer`, every `timer_interval` s), htable (`HtableApi::timer`,
//! every `timer_interval` s) and pike (`PikeApi::tick`, every second), which expose callables
//! but do not register them ([`module_timers`]).
//!
//! One thread runs every timer in turn (a slow timer delays the others, as Kamailio's single
//! `timer` process does); a panicking timer is logged and keeps its schedule. The thread starts
//! after the modules' child init and stops — joined — on shutdown before the modules' destroy.
//! htable's sweep also runs `event_route[htable:expired:<table>]` for the items it removes.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrosip_api::{Registry, Timer};
use ferrosip_modules::htable::HtableApi;
use ferrosip_modules::pike::PikeApi;
use ferrosip_modules::usrloc::UlApi;

/// A running timer thread; [`TimerThread::stop`] (or dropping it) stops and joins it.
pub struct TimerThread {
    stop: Arc<(Mutex<bool>, Condvar)>,
    handle: Option<JoinHandle<()>>,
}

impl TimerThread {
    /// Starts the thread (none when `timers` is empty: nothing to run).
    pub fn start(timers: Vec<Timer>) -> std::io::Result<TimerThread> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let handle = if timers.is_empty() {
            None
        } else {
            let s = stop.clone();
            Some(
                std::thread::Builder::new()
                    .name("timer".into())
                    .spawn(move || run(&timers, &s))?,
            )
        };
        Ok(TimerThread { stop, handle })
    }

    /// Asks the thread to stop and waits for it (a timer already running finishes first).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let (lock, cv) = &*self.stop;
        if let Ok(mut s) = lock.lock() {
            *s = true;
        }
        cv.notify_all();
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for TimerThread {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Every timer to run for `reg`: the registered ones, then the built-in sweeps of usrloc, htable
/// and pike for each of them that is loaded and registered none itself (so a module that starts
/// registering its timer is never run twice).
pub fn module_timers(reg: &Registry) -> Vec<Timer> {
    let mut v: Vec<Timer> = reg.timers().to_vec();
    let has = |m: &str| reg.timers().iter().any(|t| t.module == m);
    if let Some(ul) = reg.api::<UlApi>().filter(|_| !has("usrloc")) {
        let secs = u64::try_from(ul.config().timer_interval)
            .unwrap_or(60)
            .max(1);
        v.push(Timer {
            module: "usrloc",
            name: "ul_timer".into(),
            interval: Duration::from_secs(secs),
            run: Arc::new(move |now_ms| {
                let removed = ul.timer(i64::try_from(now_ms / 1000).unwrap_or(i64::MAX));
                if removed > 0 {
                    tracing::debug!("usrloc: {removed} expired contacts removed");
                }
            }),
        });
    }
    if let Some(ht) = reg.api::<HtableApi>().filter(|_| !has("htable")) {
        v.push(Timer {
            module: "htable",
            name: "ht_timer".into(),
            interval: Duration::from_secs(ht.timer_interval().max(1)),
            run: Arc::new(move |now_ms| {
                let gone = ht.timer(now_ms / 1000);
                if !gone.is_empty() {
                    tracing::debug!("htable: {} expired items removed", gone.len());
                }
            }),
        });
    }
    if let Some(pike) = reg.api::<PikeApi>().filter(|_| !has("pike")) {
        v.push(Timer {
            module: "pike",
            name: "pike_timer".into(),
            interval: Duration::from_secs(1),
            run: Arc::new(move |now_ms| {
                for ip in pike.tick(now_ms / 1000) {
                    tracing::debug!("pike: {ip} unblocked");
                }
            }),
        });
    }
    v
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn run(timers: &[Timer], stop: &(Mutex<bool>, Condvar)) {
    let t0 = Instant::now();
    let mut due: Vec<Instant> = timers.iter().map(|t| t0 + t.interval).collect();
    let (lock, cv) = stop;
    loop {
        let next = due.iter().min().copied().unwrap_or(t0);
        {
            let Ok(mut stopped) = lock.lock() else { return };
            loop {
                if *stopped {
                    return;
                }
                let now = Instant::now();
                if now >= next {
                    break;
                }
                stopped = match cv.wait_timeout(stopped, next - now) {
                    Ok((g, _)) => g,
                    Err(_) => return,
                };
            }
        }
        let now = Instant::now();
        for (t, d) in timers.iter().zip(due.iter_mut()) {
            if *d > now {
                continue;
            }
            if catch_unwind(AssertUnwindSafe(|| (t.run)(now_ms()))).is_err() {
                tracing::error!("timer {}/{} panicked", t.module, t.name);
            }
            // A late run (a slow neighbour, a suspended process) is not repeated to catch up.
            *d += t.interval;
            if *d <= now {
                *d = now + t.interval;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_api::{InitCtx, ModuleExports};
    use std::sync::atomic::{AtomicU64, Ordering};

    fn counting(module: &'static str, ms: u64, n: &Arc<AtomicU64>) -> Timer {
        let n = n.clone();
        Timer {
            module,
            name: "count".into(),
            interval: Duration::from_millis(ms),
            run: Arc::new(move |now| {
                assert!(now > 1_600_000_000_000, "wall clock in ms");
                n.fetch_add(1, Ordering::Relaxed);
            }),
        }
    }

    #[test]
    fn runs_at_interval_and_stops_joined() {
        let fast = Arc::new(AtomicU64::new(0));
        let slow = Arc::new(AtomicU64::new(0));
        let th = TimerThread::start(vec![counting("t", 20, &fast), counting("t", 1000, &slow)])
            .unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(230));
        th.stop();
        let after_stop = fast.load(Ordering::Relaxed);
        // 230 ms / 20 ms = 11 runs at most; a loaded machine may be late, never early.
        assert!((3..=11).contains(&after_stop), "{after_stop}");
        assert_eq!(
            slow.load(Ordering::Relaxed),
            0,
            "first run one interval after start"
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(fast.load(Ordering::Relaxed), after_stop, "ran after stop");
    }

    /// A panicking timer is caught: it and its neighbours keep running.
    #[test]
    fn panicking_timer_does_not_stop_the_thread() {
        let n = Arc::new(AtomicU64::new(0));
        let booms = Arc::new(AtomicU64::new(0));
        let b2 = booms.clone();
        let boom = Timer {
            module: "t",
            name: "boom".into(),
            interval: Duration::from_millis(30),
            run: Arc::new(move |_| {
                b2.fetch_add(1, Ordering::Relaxed);
                panic!("timer failure (expected by this test)")
            }),
        };
        let th =
            TimerThread::start(vec![boom, counting("t", 30, &n)]).unwrap_or_else(|e| panic!("{e}"));
        // The panic hook may print a slow backtrace: poll instead of a fixed sleep.
        let t0 = Instant::now();
        while (booms.load(Ordering::Relaxed) < 2 || n.load(Ordering::Relaxed) < 2)
            && t0.elapsed() < Duration::from_secs(20)
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        th.stop();
        assert!(booms.load(Ordering::Relaxed) >= 2);
        assert!(n.load(Ordering::Relaxed) >= 2);
    }

    #[test]
    fn stop_does_not_wait_for_the_next_run() {
        let n = Arc::new(AtomicU64::new(0));
        let th =
            TimerThread::start(vec![counting("t", 60_000, &n)]).unwrap_or_else(|e| panic!("{e}"));
        let t0 = Instant::now();
        th.stop();
        assert!(t0.elapsed() < Duration::from_secs(1));
        assert_eq!(n.load(Ordering::Relaxed), 0);
    }

    /// A test module registers a timer at init; module_timers hands it to the thread.
    #[test]
    fn registered_module_timer_runs() {
        let n = Arc::new(AtomicU64::new(0));
        let mut m = ModuleExports::new("ticker");
        let n2 = n.clone();
        m.init = Some(Arc::new(move |ictx: &mut InitCtx<'_>| {
            let n3 = n2.clone();
            ictx.register_timer(
                "tick",
                Duration::from_millis(15),
                Arc::new(move |_| {
                    n3.fetch_add(1, Ordering::Relaxed);
                }),
            )
        }));
        let mut reg = Registry::new();
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
        reg.init_all().unwrap_or_else(|e| panic!("{e}"));
        let timers = module_timers(&reg);
        assert_eq!(timers.len(), 1);
        let th = TimerThread::start(timers).unwrap_or_else(|e| panic!("{e}"));
        std::thread::sleep(Duration::from_millis(100));
        th.stop();
        assert!(n.load(Ordering::Relaxed) >= 2);
    }

    /// usrloc, htable and pike loaded: one built-in timer each, at their intervals.
    #[test]
    fn builtin_sweeps_of_loaded_modules() {
        let mut reg = Registry::new();
        for m in ferrosip_modules::all() {
            if ["usrloc", "htable", "pike"].contains(&m.name) {
                reg.add(m).unwrap_or_else(|e| panic!("{e}"));
            }
        }
        reg.set_modparam("usrloc", "timer_interval", ferrosip_api::ModValue::Int(7))
            .unwrap_or_else(|e| panic!("{e}"));
        reg.init_all().unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<(&str, Duration)> = module_timers(&reg)
            .iter()
            .map(|t| (t.module, t.interval))
            .collect();
        assert_eq!(
            got,
            vec![
                ("usrloc", Duration::from_secs(7)),
                ("htable", Duration::from_secs(20)),
                ("pike", Duration::from_secs(1)),
            ]
        );
        assert!(module_timers(&Registry::new()).is_empty());
    }
}

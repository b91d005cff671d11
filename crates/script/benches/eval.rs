//! Per-message cost of running a 30-statement request_route (assignments, arithmetic, string
//! concatenation, keyword and regex tests, flags, AVPs, a switch, a sub-route call). The message is
//! parsed outside the timed part; the context creation is inside.
//! Run: `cargo bench -p ferrosip-script --bench eval`.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use ferrosip_api::export::{PvExport, PvNameRule};
use ferrosip_api::{
    store, Ctx, ModuleExports, Recorder, RecvInfo, Registry, RouteType, Value, WorkerState,
};
use ferrosip_script::{compile_config, CompileOptions, Entry};
use ferrosip_sipmsg::Msg;

const CFG: &str = r#"
flags FLT_OPT:1;
request_route {
  $var(i) = 0;
  $var(s) = "sip:" + $rm;
  if ($rm == "OPTIONS") { setflag(FLT_OPT); }
  if (method == "INVITE") { setflag(2); } else { resetflag(2); }
  $var(i) = $var(i) + 1;
  $var(i) = $var(i) * 3;
  if ($var(i) > 2 && isflagset(FLT_OPT)) { $var(ok) = 1; }
  if (src_ip == 10.0.0.0/8) { $var(net) = 1; }
  if (uri =~ "^sip:alice@") { $var(m) = 1; }
  $avp(a) = $var(s);
  if (defined $avp(a)) { $var(d) = 1; }
  switch ($var(i)) { case 3: $var(c) = "three"; break; default: $var(c) = "other"; }
  $var(len) = strlen($var(s));
  if ($var(len) > 5) { $var(long) = 1; }
  $var(j) = $var(i) mod 2;
  if ($var(j) == 1) { $var(odd) = 1; } else { $var(odd) = 0; }
  if (proto == UDP) { $var(udp) = 1; }
  $var(k) = ($var(i) << 2) | 1;
  if (isflagset(2)) { $var(inv) = 1; }
  route(SUB);
  if ($rc == 2) { $var(sub) = "ok"; }
  $var(u) = $ru;
  if ($var(u) eq "sip:alice@example.com") { $var(same) = 1; }
  if (!strempty($var(c))) { $var(ce) = 1; }
  $var(t) = $var(c) + "-" + $var(i);
  if (uri == myself) { $var(me) = 1; }
  resetflag(FLT_OPT);
  $avp(a) = $null;
  if ($var(i) >= 3 || $var(none) == 1) { $var(last) = 1; }
  return 1;
}
route[SUB] { return 2; }
"#;

const OPTIONS: &[u8] = b"OPTIONS sip:alice@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-1\r\n\
From: <sip:bob@example.org>;tag=1\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n";

struct NoFiles;
impl ferrosip_config::Host for NoFiles {
    fn read_file(&self, p: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            p.to_string(),
        ))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

fn registry() -> Registry {
    let mut pv = ModuleExports::new("pv");
    pv.pvs = store::var_avp_pvs();
    pv.pvs.push(PvExport {
        name: "rm",
        doc: "",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _| {
            Ok(match ctx.msg.request_line() {
                Some(rl) => Value::Str(rl.method_span.of(ctx.msg.buf()).to_vec()),
                None => Value::Null,
            })
        }),
        set: None,
    });
    pv.pvs.push(PvExport {
        name: "ru",
        doc: "",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _| Ok(Value::Str(ctx.ruri()))),
        set: None,
    });
    let mut r = Registry::new();
    r.add(ferrosip_script::core::core_module()).expect("core");
    r.add(pv).expect("pv");
    r
}

fn bench(c: &mut Criterion) {
    let loaded =
        ferrosip_config::load_text("b.cfg", CFG.to_string(), &Default::default(), &NoFiles)
            .unwrap_or_else(|f| panic!("{}", f.render()));
    let reg = registry();
    let prog =
        compile_config(&loaded.config, &reg, &CompileOptions::default()).unwrap_or_else(|d| {
            panic!(
                "{}",
                d.iter()
                    .map(|d| d.render(&loaded.sources))
                    .collect::<String>()
            )
        });
    let id = prog.route(Entry::Request).expect("request_route");
    let rcv = RecvInfo {
        src: "10.0.0.2:5060".parse().expect("addr"),
        ..RecvInfo::default()
    };
    let mut worker = WorkerState::default();
    let mut rec = Recorder {
        myself: vec![("example.com".into(), 0)],
        ..Recorder::default()
    };
    // Sanity: the route runs to its `return 1` and took the expected branches.
    {
        let mut m = Msg::parse(OPTIONS.to_vec()).expect("parse");
        let mut ctx =
            Ctx::new(&mut m, RouteType::Request, rcv, &mut worker, &mut rec).expect("ctx");
        let out = prog.run(id, &mut ctx);
        assert_eq!(out.rc, 1);
    }
    for want in ["ok", "three", "three-3"] {
        assert!(
            worker.vars.contains(&Value::str(want)),
            "{want} in {:?}",
            worker.vars
        );
    }
    assert!(rec.logs.is_empty(), "{:?}", rec.logs);
    // A plain timing loop too, so the number can be quoted without criterion's machinery:
    // the same message is reused (only the first line is parsed; the script reads no header).
    let mut m = Msg::parse(OPTIONS.to_vec()).expect("parse");
    // The machine is shared: besides wall time, report this thread's on-CPU time from
    // /proc/thread-self/schedstat (first field, ns), which preemption by other processes does not
    // inflate.
    let n = 500_000u32;
    let cpu0 = thread_cpu_ns();
    let start = std::time::Instant::now();
    for _ in 0..n {
        let mut ctx =
            Ctx::new(&mut m, RouteType::Request, rcv, &mut worker, &mut rec).expect("ctx");
        std::hint::black_box(prog.run(id, &mut ctx));
    }
    let wall = start.elapsed().as_nanos() as f64 / f64::from(n);
    match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) => println!(
            "plain loop: {wall:.0} ns wall, {:.0} ns on-CPU per message (30-statement request_route)",
            (b - a) as f64 / f64::from(n)
        ),
        _ => println!("plain loop: {wall:.0} ns wall per message (30-statement request_route)"),
    }
    // The same loop with a no-op per-action hook installed (what `log_prefix_mode=1` or the
    // debugger's cfgtrace add before doing their own work).
    let mut hooked = compile_config(&loaded.config, &reg, &CompileOptions::default())
        .unwrap_or_else(|_| panic!("compiles"));
    assert!(hooked.add_action_hook(Arc::new(NoopHook)));
    let cpu0 = thread_cpu_ns();
    for _ in 0..n {
        let mut ctx =
            Ctx::new(&mut m, RouteType::Request, rcv, &mut worker, &mut rec).expect("ctx");
        std::hint::black_box(hooked.run(id, &mut ctx));
    }
    if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
        println!(
            "plain loop, no-op action hook: {:.0} ns on-CPU per message",
            (b - a) as f64 / f64::from(n)
        );
    }
    c.bench_function("request_route_30_statements", |b| {
        b.iter_batched_ref(
            || Msg::parse(OPTIONS.to_vec()).expect("parse"),
            |m| {
                let mut ctx =
                    Ctx::new(m, RouteType::Request, rcv, &mut worker, &mut rec).expect("ctx");
                prog.run(id, &mut ctx)
            },
            BatchSize::SmallInput,
        )
    });
}

/// A hook that does nothing: measures the evaluator's side of the per-action hook.
struct NoopHook;

impl ferrosip_script::ActionHook for NoopHook {
    fn before(&self, _ctx: &mut Ctx<'_>, site: &ferrosip_script::ActionSite<'_>) {
        std::hint::black_box(site.line);
    }
}

fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! Run-level behaviour: outcomes of `drop`/`exit`/`return`, `return_mode=1`, `$var` kept across
//! messages of a worker while AVPs and flags are per message, replies through the server, other
//! entry points, and the compat rows rendered from the export tables.

mod common;
use common::*;

use ferrosip_api::WorkerState;
use ferrosip_script::Entry;

#[test]
fn outcomes() {
    // (body, rc, exited, dropped)
    let cases: &[(&str, i64, bool, bool)] = &[
        ("rec(\"x\");", 1, false, false),
        ("ret(-2);", -2, false, false),
        ("exit;", 1, true, false),
        ("exit(5);", 5, true, false),
        ("drop;", 0, true, true),
        ("return;", 1, false, false),
        ("return(-1);", -1, false, false),
        ("return 0;", 0, true, false),
        ("ret(0); rec(\"no\");", 0, true, false),
        ("if (1) { rec(\"a\"); }", 1, false, false),
        ("if (0) { rec(\"a\"); }", 1, false, false),
        ("$var(a) = 1;", 1, false, false),
        ("route(D); rec(\"no\");", 0, true, true),
    ];
    for (body, rc, exited, dropped) in cases {
        let cfg = format!("request_route {{\n{body}\n}}\nroute[D] {{ drop; }}\n");
        let r = run(&cfg, OPTIONS);
        assert_eq!(
            (r.out.rc, r.out.exited, r.out.dropped),
            (*rc, *exited, *dropped),
            "{body}"
        );
        assert!(!r.logs.iter().any(|l| l == "no"), "{body}");
    }
}

#[test]
fn return_mode_1_propagates_values() {
    let cfg = "return_mode=1\nrequest_route {\n if (route(M2) == -2) rec(\"is -2\");\n if (route(M2)) rec(\"nonzero is true\");\n if (ret(-1)) rec(\"-1 true\");\n}\nroute[M2] { return -2; }\n";
    let r = run(cfg, OPTIONS);
    assert_eq!(r.logs, vec!["is -2", "nonzero is true", "-1 true"]);
    // The same config with the default mode.
    let r = run(&cfg.replace("return_mode=1\n", ""), OPTIONS);
    assert!(r.logs.is_empty(), "{:?}", r.logs);
}

#[test]
fn worker_state_persists_message_state_does_not() {
    let (p, _) = program("request_route {\n $var(n) = $var(n) + 1; $avp(a) = $avp(a) + 1; if (isflagset(2)) rec(\"flag leaked\"); setflag(2);\n rec(\"n=$var(n) a=$avp(a)\");\n}\n").expect("accepted");
    let mut w = WorkerState::default();
    let first = run_with(&p, Entry::Request, OPTIONS, &mut w);
    let second = run_with(&p, Entry::Request, OPTIONS, &mut w);
    assert_eq!(first.logs, vec!["n=1 a=1"]);
    assert_eq!(second.logs, vec!["n=2 a=1"]);
    assert_eq!(second.flags, 1 << 2);
}

#[test]
fn reply_and_ruri() {
    let r = run("request_route {\n if (method == \"INVITE\") { strip(3); reply(404, \"Not $rm\"); exit; }\n}\n", INVITE);
    assert_eq!(r.sent, vec!["SIP/2.0 404 Not INVITE\r\n\r\n"]);
    assert_eq!(r.ruri, "sip:12345@example.com;user=phone");
    let r = run(
        "request_route {\n if (method == \"INVITE\") { reply(404, \"x\"); }\n}\n",
        OPTIONS,
    );
    assert!(r.sent.is_empty());
}

#[test]
fn other_entry_points() {
    let cfg = "request_route { rec(\"req\"); }\nfailure_route[F1] { rec(\"fail\"); fail_only(); }\nbranch_route[1] { rec(\"branch\"); }\nonsend_route { rec(\"onsend\"); }\nevent_route[core:worker-one-init] { rec(\"event\"); }\nroute[SUB] { rec(\"sub\"); return 4; }\n";
    let (p, _) = program(cfg).expect("accepted");
    let mut w = WorkerState::default();
    for (e, want) in [
        (Entry::Failure("F1"), "fail"),
        (Entry::Branch("1"), "branch"),
        (Entry::OnSend, "onsend"),
        (Entry::Event("core:worker-one-init"), "event"),
        (Entry::Route("SUB"), "sub"),
    ] {
        let r = run_with(&p, e, OPTIONS, &mut w);
        assert_eq!(r.logs, vec![want], "{e:?}");
    }
    assert!(p.route(Entry::Reply).is_none());
    assert!(p.route(Entry::Failure("nope")).is_none());
}

#[test]
fn compat_rows_come_from_the_tables() {
    let rows = registry().compat_rows();
    let expect = [
        "| core | `setflag(flag)` | ANY | yes | set a message flag (number 0..31 or `flags` name) |",
        "| core | `forward(spve, int\\|var)` | ANY except ONSEND | not yet | forward statelessly to host and port |",
        "| pv | `req_only()` | REQUEST | yes | test: request routes only |",
    ];
    for e in expect {
        assert!(rows.lines().any(|l| l == e), "missing row {e}\n{rows}");
    }
    assert!(rows.starts_with("| module | function | routes | implemented | description |\n|---|"));
}

#[test]
fn modparams_are_applied_and_checked() {
    use ferrosip_api::export::{ModParam, ModParamType};
    use ferrosip_api::{ModValue, ModuleExports, Registry};
    let mut reg = Registry::new();
    let mut m = ModuleExports::new("tm");
    m.params = vec![
        ModParam::new("fr_timer", ModParamType::Int, "final response timer").check(|v| match v {
            ModValue::Int(i) if *i > 0 => Ok(()),
            _ => Err("must be positive".into()),
        }),
        ModParam::new("contacts_avp", ModParamType::Str, "avp name"),
    ];
    reg.add(m).expect("registers");
    let cfg = "loadmodule \"tm.so\"\nmodparam(\"tm\", \"fr_timer\", 2000)\nmodparam(\"tm\", \"fr_timer\", \"3000\")\nmodparam(\"tm\", \"fr_timer\", -1)\nmodparam(\"tm\", \"nope\", 1)\nmodparam(\"tm\", \"contacts_avp\", 5)\nmodparam(\"sl\", \"x\", 1)\nrequest_route { exit; }\n";
    let loaded = load(cfg).expect("parses");
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    let text: Vec<String> = diags.iter().map(|d| d.render(&loaded.sources)).collect();
    let expect = [
        (
            "modparam `fr_timer` of module `tm`: must be positive",
            "t.cfg:4:1",
        ),
        ("unknown modparam `nope` for module `tm`", "t.cfg:5:1"),
        (
            "modparam `contacts_avp` of module `tm` needs a string",
            "t.cfg:6:1",
        ),
        ("modparam for module `sl`, which is not loaded", "t.cfg:7:1"),
    ];
    assert_eq!(text.len(), expect.len(), "{text:#?}");
    for (t, (msg, at)) in text.iter().zip(expect) {
        assert!(t.contains(msg) && t.contains(at), "{t}");
    }
    // The accepted values reach the module's init hook in order.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut reg2 = Registry::new();
    let mut m = ModuleExports::new("tm");
    m.params = vec![ModParam::new("fr_timer", ModParamType::Int, "")];
    let s2 = seen.clone();
    m.init = Some(std::sync::Arc::new(move |ctx| {
        if let Ok(mut v) = s2.lock() {
            v.extend(ctx.modparams().iter().map(|(n, v)| format!("{n}={v:?}")));
        }
        Ok(())
    }));
    reg2.add(m).expect("registers");
    let diags = ferrosip_script::apply_modparams(&load("modparam(\"tm\", \"fr_timer\", 2000)\nmodparam(\"tm\", \"fr_timer\", \"3000\")\nrequest_route { exit; }\n").expect("parses").config, &mut reg2);
    assert!(diags.is_empty());
    reg2.init_all().expect("init");
    assert_eq!(
        *seen.lock().expect("lock"),
        vec!["fr_timer=Int(2000)", "fr_timer=Int(3000)"]
    );
}

#[test]
fn inter_module_api_through_the_registry() {
    use ferrosip_api::{ModuleExports, Registry};
    struct TmApi {
        name: &'static str,
    }
    let got = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut reg = Registry::new();
    let mut tm = ModuleExports::new("tm");
    tm.init = Some(std::sync::Arc::new(|ctx| {
        ctx.provide(std::sync::Arc::new(TmApi { name: "tm-api" }));
        Ok(())
    }));
    let mut rr = ModuleExports::new("rr");
    let g = got.clone();
    rr.init = Some(std::sync::Arc::new(move |ctx| {
        let api = ctx
            .api::<TmApi>()
            .ok_or_else(|| ferrosip_api::Error::Init("rr needs tm".into()))?;
        if let Ok(mut s) = g.lock() {
            s.push_str(api.name);
        }
        Ok(())
    }));
    reg.add(tm).expect("tm");
    reg.add(rr).expect("rr");
    reg.init_all().expect("init");
    assert_eq!(*got.lock().expect("lock"), "tm-api");
    // Without tm, rr's init fails with its own message.
    let mut reg = Registry::new();
    let mut rr = ModuleExports::new("rr");
    rr.init = Some(std::sync::Arc::new(|ctx| {
        ctx.api::<TmApi>()
            .map(|_| ())
            .ok_or_else(|| ferrosip_api::Error::Init("rr needs tm".into()))
    }));
    reg.add(rr).expect("rr");
    assert_eq!(
        reg.init_all(),
        Err(ferrosip_api::Error::Init("rr needs tm".into()))
    );
}

#[test]
fn program_and_registry_are_shared_across_workers() {
    fn shared<T: Send + Sync>() {}
    shared::<ferrosip_script::Program>();
    shared::<ferrosip_api::Registry>();
    // And really used from several threads at once.
    let (p, _) = program("request_route {\n $var(n) = $var(n) + 1;\n rec(\"$var(n)\");\n}\n")
        .expect("accepted");
    let p = std::sync::Arc::new(p);
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let p = p.clone();
            std::thread::spawn(move || {
                let mut w = ferrosip_api::WorkerState::default();
                let a = run_with(&p, Entry::Request, OPTIONS, &mut w);
                let b = run_with(&p, Entry::Request, OPTIONS, &mut w);
                (a.logs, b.logs)
            })
        })
        .collect();
    for h in handles {
        let (a, b) = h.join().expect("worker");
        assert_eq!((a, b), (vec!["1".to_string()], vec!["2".to_string()]));
    }
}

#[test]
fn route_parameters_resolve_to_runnable_blocks() {
    use ferrosip_api::export::{FnExport, ParamKind, RouteKindRef};
    use ferrosip_api::{Arg, RetCode, RouteMask};
    let mut reg = registry();
    let mut tm = ferrosip_api::ModuleExports::new("tm");
    tm.functions = vec![FnExport::new(
        "t_on_failure",
        &[ParamKind::Route(RouteKindRef::Failure)],
        RouteMask::REQUEST,
        "test: remember a failure route",
    )
    .with(|ctx, a| match a.first() {
        Some(Arg::Route { index, .. }) => {
            ctx.worker
                .set_var(999, ferrosip_api::Value::Int(*index as i64));
            Ok(RetCode::TRUE)
        }
        _ => Ok(RetCode::FALSE),
    })];
    reg.add(tm).expect("tm");
    let cfg = "request_route {\n t_on_failure(\"MISS\");\n}\nfailure_route[MISS] { rec(\"in failure\"); }\n";
    let loaded = load(cfg).expect("parses");
    let p = ferrosip_script::compile(&loaded, &reg).expect("compiles");
    let mut w = WorkerState::default();
    run_with(&p, Entry::Request, OPTIONS, &mut w);
    let idx = usize::try_from(w.var(999).to_int()).expect("index");
    let id = p.route_by_index(idx).expect("block");
    assert_eq!(Some(id), p.route(Entry::Failure("MISS")));
    // An unknown failure route name is refused at load.
    let bad = load("request_route {\n t_on_failure(\"NOPE\");\n}\n").expect("parses");
    let err = ferrosip_script::compile(&bad, &reg).expect_err("refused");
    assert!(err[0]
        .render(&bad.sources)
        .contains("failure_route `NOPE` is not defined"));
}

#[test]
fn base_registry_has_core_and_cfg_variables() {
    let loaded = load("grp.v = 7\nrequest_route {\n $var(x) = @cfg_get.grp.v;\n setflag(1);\n}\n")
        .expect("parses");
    let reg = ferrosip_script::base_registry(&loaded.config).expect("registry");
    assert!(reg.has_module("core") && reg.has_module("cfg"));
    // `$var` is the pv module's: without it the config is refused, with a clear message.
    let err = ferrosip_script::compile(&loaded, &reg).expect_err("no pv module");
    assert!(err[0]
        .render(&loaded.sources)
        .contains("unknown pseudo-variable `$var(x)`"));
}

#[test]
fn functions_run_routes_see_their_line_and_force_rport_marks() {
    use ferrosip_api::export::{FnExport, ParamKind};
    use ferrosip_api::{Arg, RetCode, RouteMask};
    let mut reg = registry();
    let mut m = ferrosip_api::ModuleExports::new("evt");
    m.functions = vec![
        // fire(): runs event_route[evt:fired] when the config has it, returns its value
        FnExport::new("fire", &[], RouteMask::ANY, "test: run an event route").with(|ctx, _| {
            let Some(r) = ctx.routes.clone() else {
                return Ok(RetCode(-5));
            };
            match r.event_route("evt:fired") {
                Some(i) => Ok(RetCode(ctx.run_route(i)?.rc)),
                None => Ok(RetCode(-3)),
            }
        }),
        // line(): the config line of the call, appended by the fixup
        FnExport::new("line", &[], RouteMask::ANY, "test: call line")
            .fixup_env(|args, env| {
                args.push(Arg::Int(i64::from(env.line)));
                assert!(env.registry.pv("var").is_some());
                Ok(())
            })
            .with(|ctx, a| {
                let n = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                ctx.log(ferrosip_api::L_INFO, &format!("line {n}"));
                Ok(RetCode::TRUE)
            }),
        FnExport::new(
            "rport",
            &[ParamKind::Str],
            RouteMask::ANY,
            "test: FL_FORCE_RPORT",
        )
        .with(|ctx, _| {
            let set = ctx.state.msg_flags & ferrosip_api::ctx::FL_FORCE_RPORT != 0;
            Ok(RetCode(if set { 1 } else { -1 }))
        }),
    ];
    reg.add(m).expect("module");
    let cfg = "request_route {\n $var(r) = fire();\n rec(\"fired $var(r)\");\n\n line();\n if (!rport(\"x\")) rec(\"no rport\");\n force_rport();\n if (rport(\"x\")) rec(\"rport\");\n}\nevent_route[evt:fired] { rec(\"in event\"); return 7; }\n";
    let loaded = load(cfg).expect("parses");
    let p = ferrosip_script::compile(&loaded, &reg).expect("compiles");
    let mut w = WorkerState::default();
    let r = run_with(&p, Entry::Request, OPTIONS, &mut w);
    assert_eq!(
        r.logs,
        vec!["in event", "fired 7", "line 5", "no rport", "rport"]
    );
    // without the event route the function sees that there is none
    let cfg2 = "request_route {\n $var(r) = fire();\n rec(\"fired $var(r)\");\n}\n";
    let loaded = load(cfg2).expect("parses");
    let p = ferrosip_script::compile(&loaded, &reg).expect("compiles");
    let r = run_with(&p, Entry::Request, OPTIONS, &mut w);
    assert_eq!(r.logs, vec!["fired -3"]);
}

#[test]
fn compile_folds_def_from_the_registry_defines() {
    let mut reg = registry();
    reg.set_defines(vec![
        ("WITH_AUTH".into(), None),
        ("DBURL".into(), Some("mysql://db".into())),
    ]);
    let cfg = "request_route {\n $var(a) = $def(WITH_AUTH); $var(b) = $def(DBURL);\n if ($def(NONE) == $null) rec(\"[$var(a)][$var(b)] none\");\n}\n";
    let loaded = load(cfg).expect("parses");
    let p = ferrosip_script::compile(&loaded, &reg).expect("compiles");
    let mut w = WorkerState::default();
    let r = run_with(&p, Entry::Request, OPTIONS, &mut w);
    assert_eq!(r.logs, vec!["[][mysql://db] none"]);
}

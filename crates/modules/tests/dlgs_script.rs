//! dlgs through the real config compiler and script engine: modparams from the config, the
//! documented usage (`dlgs_init` for INVITEs, `dlgs_update` for ACK/BYE/CANCEL, `dlgs_init` in
//! the reply route, counts and tags read into variables), and the route-type refusals Kamailio's
//! export table gives (`dlgs_update` is not allowed in reply routes, `dlgs_init` not in
//! failure_route).

use ferrosip_api::{Ctx, Recorder, RecvInfo, Registry, RouteType, WorkerState};
use ferrosip_config::LoadOptions;
use ferrosip_modules::dlgs::DlgsApi;

struct NoFiles;
impl ferrosip_config::Host for NoFiles {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.to_string(),
        ))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

const CFG: &str = "loadmodule \"dlgs.so\"\n\
modparam(\"dlgs\", \"init_lifetime\", 60)\n\
modparam(\"dlgs\", \"timer_interval\", 5)\n\
request_route {\n\
 if (method == \"INVITE\") {\n\
  dlgs_init(\"$fu\", \"$tu\", \"gw-$rU\");\n\
  dlgs_tags_add(\"caller-$fU\");\n\
 } else if (method == \"ACK\" || method == \"BYE\" || method == \"CANCEL\") {\n\
  dlgs_update();\n\
 }\n\
 $var(all) = dlgs_count(\"any\", \"eq\", \"\");\n\
 $var(gw) = dlgs_count(\"data\", \"sw\", \"gw-\");\n\
 $var(t) = dlgs_tags_count(\"caller-$fU\");\n\
 xlog(\"L_ERR\", \"$rm all=$var(all) gw=$var(gw) tags=$var(t)\");\n\
}\n\
reply_route {\n\
 dlgs_init(\"$fu\", \"$tu\", \"\");\n\
 $var(all) = dlgs_count(\"src\", \"eq\", \"$fu\");\n\
 xlog(\"L_ERR\", \"$rs all=$var(all)\");\n\
}\n";

fn load(cfg: &str) -> (ferrosip_config::Loaded, Registry) {
    let loaded =
        ferrosip_config::load_text("t.cfg", cfg.to_string(), &LoadOptions::default(), &NoFiles)
            .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::pv::exports(),
        ferrosip_modules::xlog::exports(),
        ferrosip_modules::dlgs::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    assert!(diags.is_empty(), "{diags:?}");
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    (loaded, reg)
}

fn msg(first: &str, method: &str, ttag: &str) -> Vec<u8> {
    let tt = if ttag.is_empty() {
        String::new()
    } else {
        format!(";tag={ttag}")
    };
    format!(
        "{first}\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>{tt}\r\nCall-ID: s1\r\n\
CSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n"
    )
    .into_bytes()
}

#[test]
fn documented_usage_runs_through_the_engine() {
    let (loaded, reg) = load(CFG);
    let api = reg.api::<DlgsApi>().unwrap_or_else(|| panic!("api"));
    assert_eq!(api.table().lifetimes().init, 60);
    let dlgs_timers: Vec<_> = reg.timers().iter().filter(|t| t.module == "dlgs").collect();
    assert_eq!(dlgs_timers.len(), 1);
    assert_eq!(dlgs_timers[0].interval.as_secs(), 5);
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    let request = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("request_route"));
    let reply = p
        .route(ferrosip_script::Entry::Reply)
        .unwrap_or_else(|| panic!("reply_route"));
    let steps: Vec<(Vec<u8>, RouteType, &str)> = vec![
        (
            msg("INVITE sip:bob@example.com SIP/2.0", "INVITE", ""),
            RouteType::Request,
            "INVITE all=1 gw=1 tags=1",
        ),
        (
            msg("SIP/2.0 180 Ringing", "INVITE", "b1"),
            RouteType::CoreOnReply,
            "180 all=1",
        ),
        (
            msg("SIP/2.0 200 OK", "INVITE", "b1"),
            RouteType::CoreOnReply,
            "200 all=1",
        ),
        (
            msg("ACK sip:bob@example.com SIP/2.0", "ACK", "b1"),
            RouteType::Request,
            "ACK all=1 gw=1 tags=1",
        ),
        (
            msg("BYE sip:bob@example.com SIP/2.0", "BYE", "b1"),
            RouteType::Request,
            // Finished: no longer counted; a failed count stores its return code.
            "BYE all=-1 gw=-1 tags=-1",
        ),
        (
            msg("SIP/2.0 200 OK", "BYE", "b1"),
            RouteType::CoreOnReply,
            "200 all=-1",
        ),
    ];
    let mut w = WorkerState::default();
    let mut states = Vec::new();
    for (bytes, rt, want) in steps {
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        let mut m = ferrosip_sipmsg::Msg::parse(bytes).unwrap_or_else(|e| panic!("{e}"));
        {
            let mut ctx = Ctx::new(&mut m, rt, RecvInfo::default(), &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            let id = if rt == RouteType::Request {
                request
            } else {
                reply
            };
            p.run(id, &mut ctx);
        }
        let lines: Vec<String> = rec.lines.iter().map(|l| l.3.clone()).collect();
        assert_eq!(lines, vec![want.to_string()]);
        let mut st = None;
        api.table().visit(|it| {
            st = Some((
                it.state.code(),
                String::from_utf8_lossy(&it.data).into_owned(),
            ));
            true
        });
        states.push(st);
    }
    let want: Vec<Option<(i64, String)>> = [0, 1, 2, 3, 4, 4]
        .iter()
        .map(|s| Some((*s, "gw-bob".to_string())))
        .collect();
    assert_eq!(states, want);
}

#[test]
fn route_types_are_checked_like_kamailio() {
    let cases: &[(&str, Option<&str>)] = &[
        ("onreply_route { dlgs_update(); }", Some("dlgs_update")),
        ("reply_route { dlgs_update(); }", Some("dlgs_update")),
        (
            "failure_route[f] { dlgs_init(\"a\", \"b\", \"c\"); }",
            Some("dlgs_init"),
        ),
        ("onreply_route[r] { dlgs_init(\"a\", \"b\", \"c\"); }", None),
        (
            "branch_route[b] { dlgs_update(); dlgs_init(\"a\", \"b\", \"c\"); }",
            None,
        ),
        (
            "onsend_route { dlgs_update(); dlgs_init(\"a\", \"b\", \"c\"); }",
            None,
        ),
        (
            "failure_route[f] { dlgs_count(\"any\", \"eq\", \"\"); dlgs_tags_add(\"x\"); \
             dlgs_tags_rm(\"x\"); dlgs_tags_count(\"x\"); }",
            None,
        ),
        ("request_route { dlgs_update(1); }", Some("dlgs_update")),
        (
            "request_route { dlgs_count(\"any\", \"eq\"); }",
            Some("dlgs_count"),
        ),
    ];
    for (body, refused) in cases {
        let cfg = format!("loadmodule \"dlgs.so\"\nrequest_route {{ drop; }}\n{body}\n");
        let cfg = cfg.replace("request_route { drop; }\nrequest_route", "request_route");
        let (loaded, reg) = load(&cfg);
        let r = ferrosip_script::compile(&loaded, &reg);
        match (refused, r) {
            (None, Ok(_)) => {}
            (Some(name), Err(d)) => {
                let text: Vec<String> = d.iter().map(|d| d.error.to_string()).collect();
                assert!(text.iter().any(|t| t.contains(name)), "{body}: {text:?}");
            }
            (None, Err(d)) => panic!("{body}: refused: {d:?}"),
            (Some(_), Ok(_)) => panic!("{body}: accepted"),
        }
    }
}

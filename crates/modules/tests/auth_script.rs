//! auth, htable and pike through the real config compiler and script engine: modparams from the
//! config, `$sht(t=>k)` names, `$shtinc`, `pike_check_req`, a challenge and an authentication,
//! as a Kamailio config would use them.

use ferrosip_api::{Ctx, Recorder, RecvInfo, RouteType, WorkerState};
use ferrosip_config::LoadOptions;

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

const CFG: &str = "loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"htable.so\"\nloadmodule \"pike.so\"\n\
modparam(\"htable\", \"htable\", \"a=>size=4;initval=0\")\n\
modparam(\"pike\", \"reqs_density_per_unit\", 4)\n\
modparam(\"auth\", \"secret\", \"xyz\")\n\
request_route {\n\
 $sht(a=>x) = $sht(a=>x) + 2;\n\
 $var(c) = $shtinc(a=>c);\n\
 xlog(\"L_ERR\", \"x=$sht(a=>x) c=$var(c) n=$shtcn(a=>**)\");\n\
 if (!pike_check_req()) { xlog(\"L_ERR\", \"blocked\"); exit; }\n\
 if (!pv_www_authenticate(\"example.com\", \"secret\", \"0\")) {\n\
  $var(rc) = $rc;\n\
  xlog(\"L_ERR\", \"auth rc=$var(rc)\");\n\
  www_challenge(\"example.com\", \"1\");\n\
  exit;\n\
 }\n\
 consume_credentials();\n\
}\n";

const REGISTER: &str = "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\nCall-ID: c1\r\nCSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n";

#[test]
fn config_runs_htable_pike_and_auth() {
    let loaded =
        ferrosip_config::load_text("t.cfg", CFG.to_string(), &LoadOptions::default(), &NoFiles)
            .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::pv::exports(),
        ferrosip_modules::xlog::exports(),
        ferrosip_modules::sl::exports(),
        ferrosip_modules::auth::exports(),
        ferrosip_modules::htable::exports(),
        ferrosip_modules::pike::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    assert!(diags.is_empty(), "{diags:?}");
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    let id = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("route"));
    let mut lines = Vec::new();
    let mut replies = Vec::new();
    let mut w = WorkerState::default();
    for _ in 0..9 {
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        let mut m = ferrosip_sipmsg::Msg::parse(REGISTER.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("{e}"));
        {
            let mut ctx = Ctx::new(
                &mut m,
                RouteType::Request,
                RecvInfo::default(),
                &mut w,
                &mut rec,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            p.run(id, &mut ctx);
        }
        lines.extend(rec.lines.iter().map(|l| l.3.clone()));
        replies.extend(rec.sent.iter().map(|(_, b)| {
            String::from_utf8_lossy(b)
                .lines()
                .next()
                .unwrap_or("")
                .to_string()
        }));
    }
    // Density 4: blocked at the 8th request (4 warm-up hits, then 4 leaf hits).
    let want: Vec<String> = (1..=9)
        .flat_map(|i| {
            let mut v = vec![format!("x={} c={i} n=2", 2 * i)];
            v.push(if i < 8 {
                "auth rc=-5".to_string()
            } else {
                "blocked".to_string()
            });
            v
        })
        .collect();
    assert_eq!(lines, want);
    assert_eq!(replies, vec!["SIP/2.0 401 Unauthorized"; 7]);
}

//! Robustness of dlgs: every RFC 4475/5118 torture message and a sample of PROTOS c07-sip
//! requests go through `dlgs_init`, `dlgs_update`, the tag functions and `dlgs_count` (as received,
//! with the method turned into INVITE, and turned into a 200 reply seen by `onreply_route` and by
//! the reply-out hook): nothing panics, `dlgs_init`/`dlgs_update` return 1 as Kamailio's do, and
//! the RPCs list what was tracked.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::export::RpcValue;
use ferrosip_api::{Registry, RouteType};
use ferrosip_modules::dlgs::DlgsApi;
use ferrosip_sipmsg::Msg;

fn registry() -> Registry {
    let mut reg = Registry::new();
    for m in [
        ferrosip_modules::pv::exports(),
        ferrosip_modules::dlgs::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    reg
}

/// The message with its first line replaced.
fn with_first_line(m: &[u8], line: &[u8]) -> Option<Vec<u8>> {
    let eol = m.windows(2).position(|w| w == b"\r\n")?;
    let mut out = line.to_vec();
    out.extend_from_slice(m.get(eol..)?);
    Some(out)
}

#[test]
fn corpus_never_panics() {
    let Some(messages) = corpus(11) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        eprintln!("skipped: corpus not found");
        return;
    };
    let reg = registry();
    let api = reg.api::<DlgsApi>().unwrap_or_else(|| panic!("api"));
    let mut ran = 0;
    for m in &messages {
        let mut variants: Vec<(Vec<u8>, RouteType)> = vec![(m.clone(), RouteType::Request)];
        if let Some(sp) = m.iter().position(|b| *b == b' ') {
            let mut r = b"INVITE".to_vec();
            r.extend_from_slice(m.get(sp..).unwrap_or_default());
            variants.push((r, RouteType::Request));
        }
        if let Some(r) = with_first_line(m, b"SIP/2.0 200 OK") {
            variants.push((r, RouteType::TmOnReply));
        }
        for (v, route) in variants {
            let Ok(parsed) = Msg::parse(v.clone()) else {
                continue;
            };
            if route == RouteType::TmOnReply {
                // Whatever the reply, the hook answers without panicking.
                let _ = api.on_reply_out(&parsed);
            }
            let init: &[&str] = &["$fu", "$tu", "$ci"];
            let steps: Vec<(&str, &[&str], Option<i64>)> = vec![
                ("dlgs_init", init, Some(1)),
                ("dlgs_tags_add", &["$fU"], None),
                ("dlgs_tags_count", &["$fU"], None),
                ("dlgs_tags_rm", &["$fU"], None),
                ("dlgs_count", &["src", "fm", "*$fU*"], None),
                ("dlgs_count", &["dst", "re", "$tU"], None),
            ];
            let update: (&str, &[&str], Option<i64>) = ("dlgs_update", &[], Some(1));
            for (f, args, want) in steps
                .into_iter()
                .chain((route == RouteType::Request).then_some(update))
            {
                let o = call_full(
                    &reg,
                    &v,
                    route,
                    3,
                    &[(f, args)],
                    &|_| {},
                    ferrosip_api::RecvInfo::default(),
                );
                ran += 1;
                if let Some(w) = want {
                    assert_eq!(o.rc, w, "{f} on {}", String::from_utf8_lossy(&v));
                }
                assert!(o.rc != 0, "{f} never stops the script");
            }
        }
    }
    assert!(ran > 1000, "only {ran} calls");
    let list = (reg
        .rpc("dlgs.list")
        .unwrap_or_else(|| panic!("rpc"))
        .handler)(&[])
    .unwrap_or_else(|e| panic!("{e:?}"));
    let RpcValue::Array(items) = list else {
        panic!("not an array")
    };
    let mut tracked = 0;
    api.table().visit(|_| {
        tracked += 1;
        true
    });
    assert_eq!(items.len(), tracked);
    assert!(tracked > 10, "only {tracked} dialogs tracked");
}

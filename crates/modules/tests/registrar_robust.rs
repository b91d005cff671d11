//! Robustness of registrar/usrloc: every RFC 4475/5118 torture message and a sample of PROTOS
//! c07-sip requests go through `save`, `lookup`, `registered` and `unregister` (as received and with
//! the method turned into REGISTER): nothing panics and every reply sent parses as a SIP reply.
//! Also: concurrent REGISTERs from worker threads keep every binding (sharded store).

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::sync::Arc;

use ferrosip_api::{store, ModuleExports, Registry, RouteType};
use ferrosip_modules::usrloc::UlApi;
use ferrosip_sipmsg::Msg;

fn registry(max_contacts: i64) -> (Registry, Arc<UlApi>) {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    core.pvs.extend(store::core_pvs());
    reg.add(core).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::usrloc::exports(),
        ferrosip_modules::registrar::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    for (n, v) in [
        ("use_path", 1),
        ("max_contacts", max_contacts),
        ("method_filtering", 1),
    ] {
        reg.set_modparam("registrar", n, ferrosip_api::ModValue::Int(v))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let api = reg.api::<UlApi>().unwrap_or_else(|| panic!("api"));
    (reg, api)
}

#[test]
fn corpus_never_panics_and_replies_parse() {
    let Some(messages) = corpus(7) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        eprintln!("skipped: corpus not found");
        return;
    };
    let (reg, api) = registry(5);
    api.clock().set(1_700_000_000);
    let mut ran = 0;
    let mut replies = 0;
    for m in &messages {
        let mut variants = vec![m.clone()];
        // The same message as a REGISTER (method token of the request line replaced).
        if let Some(sp) = m.iter().position(|b| *b == b' ') {
            let mut r = b"REGISTER".to_vec();
            r.extend_from_slice(m.get(sp..).unwrap_or_default());
            variants.push(r);
        }
        for v in variants {
            let Ok(parsed) = Msg::parse(v.clone()) else {
                continue;
            };
            // The server drops what fails Kamailio's basic checks before any script runs.
            if !parsed.is_request() || parsed.check_required().is_err() {
                continue;
            }
            let steps: &[(&str, &[&str])] = &[
                ("save", &["location"]),
                ("registered", &["location"]),
                ("lookup", &["location"]),
                ("save", &["location", "4"]),
                ("unregister", &["location", "sip:bob@127.0.0.1"]),
            ];
            for step in steps {
                let o = call_full(
                    &reg,
                    &v,
                    RouteType::Request,
                    3,
                    &[*step],
                    &|_| {},
                    ferrosip_api::RecvInfo::default(),
                );
                ran += 1;
                for (_, bytes) in &o.sent {
                    replies += 1;
                    let r = Msg::parse(bytes.as_bytes().to_vec())
                        .unwrap_or_else(|e| panic!("reply does not parse: {e}\n{bytes}"));
                    assert!(r.status().is_some(), "{bytes}");
                }
            }
        }
    }
    eprintln!(
        "{} messages, {ran} calls, {replies} replies",
        messages.len()
    );
    assert!(ran > 500 && replies > 100, "{ran} calls, {replies} replies");
}

#[test]
fn concurrent_registrations_keep_every_binding() {
    let (reg, api) = registry(0);
    let reg = Arc::new(reg);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let reg = Arc::clone(&reg);
            std::thread::spawn(move || {
                for i in 0..100 {
                    // Each thread registers its own AoRs and one contact on a shared AoR.
                    for (user, contact) in [
                        (format!("u{t}-{i}"), format!("sip:c@{t}.{i}")),
                        ("shared".to_string(), format!("sip:s{t}-{i}@h")),
                    ] {
                        let msg = format!(
                            "REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-{t}-{i}\r\n\
From: <sip:{user}@h>;tag=1\r\nTo: <sip:{user}@h>\r\nCall-ID: {t}-{i}-{user}\r\nCSeq: 1 REGISTER\r\n\
Contact: <{contact}>\r\nContent-Length: 0\r\n\r\n"
                        );
                        let o = call(&reg, &msg, "save", &["location"]);
                        assert_eq!(o.rc, 1, "{msg}");
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| panic!("worker panicked"));
    }
    let recs = api.store().dump("location");
    assert_eq!(recs.len(), 401);
    let shared = api
        .store()
        .get("location", "shared")
        .map(|r| r.contacts.len());
    assert_eq!(shared, Some(400));
}

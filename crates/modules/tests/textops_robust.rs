//! Robustness: every implemented function of xlog, sl, maxfwd, textops and textopsx runs on the
//! RFC 4475 torture messages and on PROTOS c07-sip cases (every 7th) without panicking, and the
//! edited message can still be built (or the builder reports an error).

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::path::Path;

use ferrosip_api::{Ctx, Proto, Recorder, RecvInfo, RouteType, WorkerState};
use ferrosip_sipmsg::Msg;

const STEPS: &[(&str, &[&str])] = &[
    ("xlog", &["L_ERR", "m=$var(x)"]),
    ("mf_process_maxfwd_header", &["10"]),
    ("is_maxfwd_lt", &["5"]),
    ("search", &["^via:"]),
    ("search_body", &["v="]),
    ("search_hf", &["Via", "udp", "a"]),
    ("search_append", &["^to:[^\\r\\n]*", ";x=1"]),
    ("search_append_body", &["^v=0", "\r\nx=1"]),
    ("replace", &["sip:", "sips:"]),
    ("replace_all", &["[0-9]+", "N"]),
    ("replace_body", &["o=", "O="]),
    ("replace_body_all", &["\r\n", "\n"]),
    ("replace_body_atonce", &["a", "b"]),
    ("replace_hdrs", &["invite", "INVITE"]),
    ("replace_str", &["a", "b", "a"]),
    ("replace_body_str", &["=", "==", "a"]),
    ("replace_hdrs_str", &[":", ": ", "f"]),
    ("subst", &["/^(call-id):(.*)$/\\1: x\\2/i"]),
    ("subst_body", &["/([0-9])/<\\1>/g"]),
    ("subst_hf", &["Via", "/;branch=/;b=/", "a"]),
    ("subst_uri", &["/@/%40/"]),
    ("subst_user", &["/^(.*)$/x\\1/"]),
    ("append_hf", &["X-A: 1\r\n"]),
    ("append_hf", &["X-B: 2\r\n", "Via"]),
    ("insert_hf", &["X-C: 3\r\n", "To"]),
    ("append_urihf", &["X-U: <", ">\r\n"]),
    ("is_present_hf", &["Contact"]),
    ("is_present_hf_re", &["^x-"]),
    ("remove_hf", &["Subject"]),
    ("remove_hf_re", &["^x-b$"]),
    ("remove_hf_exp", &["^c", "^call"]),
    ("remove_hf_idx", &["Via", "-1"]),
    ("remove_hf_match", &["To", "in", "tag"]),
    ("via_param_rm", &["rport", "0"]),
    ("has_body", &["application/sdp"]),
    ("is_audio_on_hold", &[]),
    ("is_method", &["INVITE|BYE"]),
    ("is_privacy", &["id"]),
    ("filter_body", &["application/sdp"]),
    ("get_body_part", &["application/sdp", "$var(p)"]),
    ("get_body_part_raw", &["text/plain", "$var(p)"]),
    ("remove_body_part", &["text/plain"]),
    ("append_body_part", &["x", "text/plain"]),
    ("set_reply_body", &["x", "text/plain"]),
    ("append_to_reply", &["X-R: 1\r\n"]),
    ("append_time", &[]),
    ("append_time_to_request", &[]),
    ("include_hf_value", &["Supported", "path"]),
    ("exclude_hf_value", &["Via", "x"]),
    ("append_hf_value", &["Via[1]", "x"]),
    ("insert_hf_value", &["Via[-1]", "x"]),
    ("remove_hf_value", &["Contact[2]"]),
    ("assign_hf_value", &["To", "x"]),
    ("remove_hf_value2", &["Route[-1]"]),
    ("assign_hf_value2", &["From[1]", "x"]),
    ("keep_hf", &["^(x-|subject)"]),
    ("hf_iterator_start", &["i"]),
    ("hf_iterator_next", &["i"]),
    ("hf_iterator_append", &["i", "X-I: 1\r\n"]),
    ("hf_iterator_rm", &["i"]),
    ("bl_iterator_start", &["b"]),
    ("bl_iterator_next", &["b"]),
    ("bl_iterator_rm", &["b"]),
    ("sl_send_reply", &["404", "Not Found"]),
    ("set_body", &["x", "text/plain"]),
    ("set_body_multipart", &[]),
    ("msg_apply_changes", &[]),
    ("remove_body", &[]),
    ("msg_apply_changes", &[]),
];

fn messages() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let torture = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/torture"
    ));
    if let Ok(rd) = std::fs::read_dir(torture) {
        for e in rd.flatten() {
            if e.path().extension().is_some_and(|x| x == "sip") {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.push(b);
                }
            }
        }
    }
    let protos = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/protos-c07-sip/cases"
    ));
    for i in (0..4527).step_by(7) {
        let Ok(raw) = std::fs::read(protos.join(format!("{i:07}"))) else {
            continue;
        };
        // first record: "<len> <bytes>"
        let Some(sp) = raw.iter().position(|c| *c == b' ') else {
            continue;
        };
        let Some(len) = std::str::from_utf8(raw.get(..sp).unwrap_or_default())
            .ok()
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        let Some(rec) = raw.get(sp + 1..sp + 1 + len) else {
            continue;
        };
        let text = String::from_utf8_lossy(rec)
            .replace("<To>", "bob@127.0.0.1")
            .replace("<From>", "alice@127.0.0.1")
            .replace("<From-Address>", "127.0.0.1")
            .replace("<From-IP>", "127.0.0.1")
            .replace("<Local-Port>", "5070")
            .replace("<Branch-ID>", &format!("z9hG4bK{i}"))
            .replace("<Call-ID>", &i.to_string())
            .replace("<CSeq>", "1");
        let body_len = text.split_once("\r\n\r\n").map_or(0, |(_, b)| b.len());
        out.push(
            text.replace("<Content-Length>", &body_len.to_string())
                .into_bytes(),
        );
    }
    out
}

#[test]
fn no_panic_on_hostile_messages() {
    let reg = registry(&[]);
    let prepared: Vec<_> = STEPS
        .iter()
        .map(|(f, a)| prepare(&reg, f, a).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let msgs = messages();
    let mut parsed = 0;
    for (n, raw) in msgs.iter().enumerate() {
        let Ok(mut m) = Msg::parse(raw.clone()) else {
            continue;
        };
        parsed += 1;
        let mut w = WorkerState::default();
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        let rcv = RecvInfo {
            src: src(),
            dst: local(),
            proto: Proto::Udp,
            socket: 0,
        };
        let Ok(mut ctx) = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec) else {
            continue;
        };
        for (i, (h, a)) in prepared.iter().enumerate() {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h(&mut ctx, a)));
            assert!(r.is_ok(), "message {n}: {} panicked", STEPS[i].0);
        }
        let _ = ferrosip_sipmsg::build::apply_changes(ctx.msg, &ctx.edits, None, None);
    }
    assert!(parsed > 300, "only {parsed} messages parsed");
}

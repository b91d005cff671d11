//! Random edit lists on a parsed message: recording, applying and the builders never panic, and when
//! the edits are structural (whole headers, header values, body) the output parses again with the
//! same number of headers the edits imply.
//!
//! Input layout: 2 bytes big-endian message length, the message, then edit operations of 6 bytes
//! each (kind, three selector bytes, text length, text seed) — the text is derived from the seed so
//! every input byte sequence is a valid operation list.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use ferrosip_sipmsg::build::{
    apply_changes, forward_reply, forward_request, local_reply, ForwardOptions, RecvInfo,
    ReplyOptions, SendTarget,
};
use ferrosip_sipmsg::edit::{At, Cond, Edits, SendContext, SocketInfo, Subst, Transport};
use ferrosip_sipmsg::Msg;
use libfuzzer_sys::fuzz_target;

const SAFE: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789;=<>@:._-";

/// Header-safe text: no CR/LF, no leading/trailing blank, never empty.
fn text(seed: u8, len: u8) -> Vec<u8> {
    let n = usize::from(len % 24) + 1;
    (0..n)
        .map(|i| SAFE[(usize::from(seed) * 31 + i * 7) % SAFE.len()])
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((len, rest)) = data.split_first_chunk::<2>() else {
        return;
    };
    let n = usize::from(u16::from_be_bytes(*len)).min(rest.len());
    let (raw, ops) = rest.split_at(n);
    let Ok(msg) = Msg::parse(raw.to_vec()) else {
        return;
    };
    let Ok(hdrs) = msg.headers().map(<[_]>::to_vec) else {
        return;
    };
    let Ok(eoh) = msg.headers_end() else { return };
    let Ok(body) = msg.body_span() else { return };
    let Ok(mut e) = Edits::new(raw.len()) else {
        return;
    };

    let mut structural = msg.has_end_of_headers().unwrap_or(false);
    let mut removed = vec![false; hdrs.len()];
    let mut added = 0usize;
    let mut touched = vec![false; hdrs.len()];
    for op in ops.chunks_exact(6) {
        let (kind, a, b, c, tl, seed) = (op[0], op[1], op[2], op[3], op[4], op[5]);
        let sel = (usize::from(a) << 8 | usize::from(b)) % hdrs.len().max(1);
        let t = text(seed, tl);
        match kind % 10 {
            0 if !hdrs.is_empty() && !touched[sel] => {
                touched[sel] = true;
                removed[sel] = true;
                let h = hdrs[sel];
                let _ = e.delete(h.span.start as usize, h.span.len());
            }
            1 if !hdrs.is_empty() && !touched[sel] => {
                touched[sel] = true;
                let h = hdrs[sel];
                let _ = e.replace(h.value.start as usize, h.value.len(), &t);
            }
            2 => {
                if let Ok(anchor) = e.anchor(eoh) {
                    let mut line = b"X-F".to_vec();
                    line.extend_from_slice(&[b'a' + c % 26]);
                    line.extend_from_slice(b": ");
                    line.extend_from_slice(&t);
                    line.extend_from_slice(b"\r\n");
                    if e.insert(At::Before(anchor), &line).is_ok() {
                        added += 1;
                    }
                }
            }
            3 => {
                let r = body.start as usize..body.end as usize;
                let s = r.start + usize::from(c) % (r.len() + 1);
                let l = usize::from(tl) % (r.end - s + 1);
                let _ = e.replace(s, l, &data[..usize::from(seed) % (data.len() + 1)]);
            }
            4 if !hdrs.is_empty() => {
                // a whole header line built from text, a substitution and optionally a condition
                // guarding it (as double Record-Route does), anchored before an existing header
                if let Ok(anchor) = e.anchor(hdrs[sel].span.start as usize) {
                    let subst = [
                        Subst::RcvAll,
                        Subst::SndAll,
                        Subst::SndIp,
                        Subst::RcvPort,
                        Subst::SndAllEx,
                        Subst::RcvProto,
                    ];
                    let mut at = At::Before(anchor);
                    if c % 3 == 0 {
                        let cond =
                            [Cond::IfDiffRealms, Cond::False, Cond::True][usize::from(seed) % 3];
                        if let Ok(p) = e.insert_cond(at, cond) {
                            at = At::Next(p);
                        }
                    } else {
                        added += 1;
                    }
                    let chain = e
                        .insert(at, b"X-S: v")
                        .and_then(|p| {
                            e.insert_subst(At::Next(p), subst[usize::from(seed) % subst.len()])
                        })
                        .and_then(|p| e.insert(At::Next(p), b"\r\n"));
                    if chain.is_err() {
                        structural = false;
                    }
                }
            }
            _ => {
                // raw edit anywhere: only "no panic" is checked afterwards
                structural = false;
                let s = (usize::from(a) << 8 | usize::from(b)) % (raw.len() + 1);
                let l = usize::from(c) % (raw.len() - s + 1);
                let _ = if kind % 2 == 0 {
                    e.delete(s, l).map(drop)
                } else {
                    e.insert_at(s, &data[..usize::from(seed) % (data.len() + 1)])
                        .map(drop)
                };
            }
        }
    }

    let sock = SocketInfo {
        ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 5060,
        proto: Transport::Udp,
        advertise: None,
        sockname: "s",
    };
    let ctx = SendContext {
        rcv_socket: Some(&sock),
        snd_socket: Some(&sock),
        ..SendContext::default()
    };
    // direct application always works on the right buffer
    let (out, _) = e
        .apply(msg.buf(), eoh, &ctx)
        .expect("edits recorded for this buffer");
    assert_eq!(out.len(), e.output_len(&ctx));

    let rcv = RecvInfo {
        src_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        src_port: 5070,
        socket: &sock,
        proto: Transport::Tcp,
        conn_id: 7,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Tcp,
    };
    if msg.is_request() {
        let _ = forward_request(
            &msg,
            &e,
            &rcv,
            &to,
            &ForwardOptions {
                force_rport: true,
                ..ForwardOptions::default()
            },
        );
        let _ = local_reply(
            &msg,
            &rcv,
            200,
            b"OK",
            &ReplyOptions {
                to_tag: Some(b"t"),
                ..ReplyOptions::default()
            },
        );
    } else {
        let _ = forward_reply(&msg, &e, &ctx);
    }

    if let Ok(applied) = apply_changes(&msg, &e, Some(&sock), None) {
        let kept = removed.iter().filter(|r| !**r).count();
        // a message left without any header is refused by the parser, as Kamailio refuses it
        if structural && !e.has_conditions() && kept + added > 0 {
            let shown = String::from_utf8_lossy(&applied).into_owned();
            let re = Msg::parse(applied)
                .unwrap_or_else(|err| panic!("first line lost ({err}): {shown:?}"));
            let hdrs2 = re
                .headers()
                .unwrap_or_else(|err| panic!("header lines broken ({err}): {shown:?}"));
            assert_eq!(
                hdrs2.len(),
                kept + added,
                "header count after edits: {shown:?}"
            );
        }
    }
});

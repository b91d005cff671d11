//! Network input never panics a worker: every PV and a chain of every transformation class is
//! evaluated on the RFC 4475 torture messages and on a sample of the PROTOS c07-sip cases
//! (`../shared/corpus/`). Skipped when the corpus is absent, unless `CI` is set.

mod pv_support;

use std::path::Path;

use ferrosip_api::pv::parse_pv_ref;
use ferrosip_api::{Ctx, Recorder, RouteType, Value, WorkerState};
use ferrosip_sipmsg::Msg;
use pv_support::{default_rcv, registry};

const CORPUS: &str = "../../../shared/corpus";

/// Every readable PV, and transformations of every class on header values.
const FORMATS: &[&str] = &[
    "$rm $rmid $rv $rs $rsi $rr $ru $rU $rd $rp $rP $rz $rUl $rul $ou $oU $oUl $od $op $oP $du $dd $dp $dP $ds",
    "$nh(u) $nh(U) $nh(d) $nh(p) $nh(P) $fu $fU $fUl $ful $fd $fn $ft $tu $tU $tUl $td $tn $tt $tts",
    "$ci $cs $csb $cl $ct $ctu $cts $cT $ua $ai $(ai[1]) $pu $pU $pd $pn $re $rt $di $dir $dip $dic $rb $bs",
    "$hdr(Via) $(hdr(Via)[*]) $(hdr(Via)[-1]) $hdrc(Via) $hfl(Via) $(hfl(Contact)[-1]) $hflc(Route) $hfl(Record-Route)",
    "$via0(host) $via0(port) $via0(proto) $via0(protoid) $via0(branch) $via0(rport) $via0(received) $via0(i) $via0(params) $via1(host) $viaZ(port)",
    "$expires(min) $expires(max) $mb $ml $mt $mts $msg(len) $msg(buf) $msg(body) $msg(hdrs) $msg(fline) $msg(body_len) $msg(hdrc) $msg(fpart) $msg(hdrs_len) $msg(lpart)",
    "$aU $au $ad $ar $adu $aa $adn $adc $adr $ado $si $sp $su $sut $Ri $Rp $Ru $Rut $pr $prid $af(name) $fs $conid",
    "$(ru{uri.user}{s.unescape.user}) $(ru{uri.host}{s.tolower}) $(ru{uri.params}{param.count}) $(ru{uri.suri}) $(ru{uri.tosocket}) $(ru{urialias.encode})",
    "$(hdr(From){tobody.uri}{uri.user}{s.md5}) $(hdr(From){nameaddr.name}{s.unquote}) $(hdr(To){tobody.params}{param.value,tag})",
    "$(ct{nameaddr.uri}{uri.duri}) $(rb{line.count}) $(rb{line.at,-1}{s.trim}) $(ci{s.select,0,@}{s.encode.base64}{s.decode.base64}) $(ci{s.corehash,16})",
    "$(hdr(CSeq){s.int}{num.fdigit}) $(hdr(Max-Forwards){s.int}{val.n0}) $(ua{val.jsonqe}) $(rb{s.fmtlines,7,2}{s.len}) $(mb{s.crc32})",
];

fn corpus_messages() -> Option<Vec<Vec<u8>>> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let torture = base.join("torture");
    let protos = base.join("protos-c07-sip/cases");
    if !torture.is_dir() || !protos.is_dir() {
        return None;
    }
    let mut out = Vec::new();
    let mut names: Vec<_> = std::fs::read_dir(&torture)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    names.sort();
    for p in names {
        if p.extension().is_some_and(|e| e == "sip") {
            out.push(std::fs::read(&p).ok()?);
        }
    }
    // Every 9th PROTOS case: the first record, with its placeholders filled.
    for n in (0..4527).step_by(9) {
        let Ok(raw) = std::fs::read(protos.join(format!("{n:07}"))) else {
            continue;
        };
        let Some(sp) = raw.iter().position(|b| *b == b' ') else {
            continue;
        };
        let len: usize = String::from_utf8_lossy(&raw[..sp]).parse().unwrap_or(0);
        let Some(rec) = raw.get(sp + 1..sp + 1 + len) else {
            continue;
        };
        let mut text = String::from_utf8_lossy(rec).into_owned();
        for (ph, v) in [
            ("<To>", "bob@127.0.0.1"),
            ("<From>", "alice@127.0.0.1"),
            ("<From-Address>", "127.0.0.1"),
            ("<From-IP>", "127.0.0.1"),
            ("<Local-Port>", "5061"),
            ("<Branch-ID>", "z9hG4bK1"),
            ("<Call-ID>", "protos"),
            ("<CSeq>", "1"),
            ("<Content-Length>", "0"),
        ] {
            text = text.replace(ph, v);
        }
        out.push(text.into_bytes());
    }
    Some(out)
}

#[test]
fn hostile_messages_never_panic() {
    let Some(messages) = corpus_messages() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        eprintln!("skipped: corpus not found");
        return;
    };
    let reg = registry();
    let formats: Vec<_> = FORMATS
        .iter()
        .map(|f| reg.parse_format(f).unwrap_or_else(|e| panic!("{f}: {e}")))
        .collect();
    let writes: Vec<_> = ["$rU", "$rd", "$rp", "$fn", "$tU", "$fd"]
        .iter()
        .map(|t| {
            let (r, _) = parse_pv_ref(t.as_bytes()).expect("syntax");
            reg.resolve_pv(&r).expect("known")
        })
        .collect();
    let mut parsed = 0;
    let mut rendered = 0;
    for bytes in &messages {
        let Ok(mut msg) = Msg::parse(bytes.clone()) else {
            continue;
        };
        parsed += 1;
        let rt = if msg.is_request() {
            RouteType::Request
        } else {
            RouteType::CoreOnReply
        };
        let mut worker = WorkerState::default();
        let mut server = Recorder::default();
        let Ok(mut ctx) = Ctx::new(&mut msg, rt, default_rcv(), &mut worker, &mut server) else {
            continue;
        };
        for f in &formats {
            let out = f.render(&mut ctx);
            assert!(
                !out.is_empty(),
                "a format with literal spaces renders something"
            );
            rendered += 1;
        }
        // Writes may be refused on broken headers, but must not panic.
        for w in &writes {
            let _ = w.set(&mut ctx, Value::str("x"));
        }
        for f in &formats {
            rendered += usize::from(!f.render(&mut ctx).is_empty());
        }
    }
    assert!(
        parsed > 100,
        "only {parsed} of {} corpus messages parsed",
        messages.len()
    );
    assert_eq!(rendered, parsed * formats.len() * 2);
}

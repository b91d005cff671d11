//! dlgs follows the replies tm relays and sl sends (Kamailio's "SIP reply out" event): a call
//! through a stateful proxy goes PROGRESS → ANSWERED → CONFIRMED → TERMINATED, and a call refused
//! by `sl_send_reply` ends NOTANSWERED, as `dlgs.briefing` shows over jsonrpcs.

#[path = "wire_harness.rs"]
mod harness;
#[path = "sip_endpoints.rs"]
mod sip_endpoints;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::time::Duration;

use harness::*;
use sip_endpoints::*;

const CFG: &str = r#"#!KAMAILIO
listen=udp:127.0.0.1:PORT
children=2
disable_tcp=yes
log_stderror=yes
debug=1
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "dlgs.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 8)
modparam("jsonrpcs", "tcp_socket", "tcp:127.0.0.1:RPC")
request_route {
    if (has_totag()) {
        dlgs_update();
        loose_route();
        t_relay();
        exit;
    }
    if (is_method("INVITE")) {
        dlgs_init("$fu", "$tu", "test");
        if ($rU == "busy") {
            sl_send_reply("486", "Busy Here");
            exit;
        }
        record_route();
    }
    $ru = "sip:bob@127.0.0.1:UAS";
    t_relay();
}
"#;

/// The `state` of the dialog with `call_id` in `dlgs.briefing`.
fn state(rpc: SocketAddr, call_id: &str) -> Option<i64> {
    let mut s = std::net::TcpStream::connect_timeout(&rpc, Duration::from_secs(2)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    s.write_all(br#"{"jsonrpc":"2.0","method":"dlgs.briefing","id":1}"#)
        .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let at = out.find(call_id)?;
    let rest = &out[at..];
    let st = rest.find("\"state\"")?;
    rest[st + "\"state\"".len()..]
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}

/// Polls until the state is `want` (replies reach dlgs on a worker thread).
fn wait_state(rpc: SocketAddr, call_id: &str, want: i64) -> Option<i64> {
    let mut got = None;
    for _ in 0..40 {
        got = state(rpc, call_id);
        if got == Some(want) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    got
}

#[test]
fn dlgs_follows_replies_of_tm_and_sl() {
    // Endpoints first: the proxy's port is then picked among ports they do not hold.
    let mut uac = Ep::new();
    let mut uas = Ep::new();
    let port = free_port();
    let rpc_port = free_port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let rpc: SocketAddr = format!("127.0.0.1:{rpc_port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = CFG
        .replace("PORT", &port.to_string())
        .replace("RPC", &rpc_port.to_string())
        .replace("UAS", &uas.port.to_string());
    let mut srv = start(ferrosip_bin(), "dlgs-wire", &cfg, &[proxy]);
    let w = Duration::from_secs(3);

    uac.send(proxy, &invite(uac.port, "bob", "dlg1"));
    let req = uas.expect("INVITE", w).unwrap_or_default();
    // tm's 100 Trying is a reply going out too (Kamailio fires the event for it as well).
    assert_eq!(
        wait_state(rpc, "dlg1@", 1),
        Some(1),
        "PROGRESS after 100 Trying"
    );
    uas.send(proxy, &reply(&req, 180, "Ringing", "u1", uas.port));
    uac.expect("SIP/2.0 180", w);
    assert_eq!(wait_state(rpc, "dlg1@", 1), Some(1), "PROGRESS after 180");
    uas.send(proxy, &reply(&req, 200, "OK", "u1", uas.port));
    let ok = uac.expect("SIP/2.0 200", w).unwrap_or_default();
    assert_eq!(wait_state(rpc, "dlg1@", 2), Some(2), "ANSWERED after 200");
    uac.send(proxy, &in_dialog(uac.port, &ok, "ACK", 1, "dlg1"));
    uas.expect("ACK", w);
    assert_eq!(wait_state(rpc, "dlg1@", 3), Some(3), "CONFIRMED after ACK");
    uac.send(proxy, &in_dialog(uac.port, &ok, "BYE", 2, "dlg1"));
    let bye = uas.expect("BYE", w).unwrap_or_default();
    uas.send(proxy, &reply(&bye, 200, "OK", "u1", uas.port));
    assert_eq!(wait_state(rpc, "dlg1@", 4), Some(4), "TERMINATED after BYE");

    uac.send(proxy, &invite(uac.port, "busy", "dlg2"));
    uac.expect("SIP/2.0 486", w);
    assert_eq!(
        wait_state(rpc, "dlg2@", 5),
        Some(5),
        "NOTANSWERED after sl's 486"
    );
    assert_eq!(srv.stop(), Some(0), "{}", srv.log_text());
}

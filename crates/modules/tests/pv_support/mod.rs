//! Shared by the pv tests: the SIP messages, the evaluation of a case with ferrosip's `pv` module,
//! and the case type.

#![allow(dead_code)]

pub mod cases;

use std::net::SocketAddr;

use ferrosip_api::pv::parse_pv_ref;
use ferrosip_api::{
    store, Ctx, ModuleExports, Recorder, RecvInfo, Registry, RouteType, Value, WorkerState,
};
use ferrosip_sipmsg::edit::{Edits, SendContext};
use ferrosip_sipmsg::Msg;

/// A value assigned before the expression is evaluated.
#[derive(Debug, Clone, Copy)]
pub enum Val {
    /// String.
    S(&'static str),
    /// Integer.
    I(i64),
    /// `$null`.
    N,
}

impl Val {
    pub fn value(self) -> Value {
        match self {
            Val::S(s) => Value::str(s),
            Val::I(i) => Value::Int(i),
            Val::N => Value::Null,
        }
    }
}

/// One case: which message, assignments, the expression (as inside an xlog string), the expected
/// text (`<null>` for undefined), and whether Kamailio 5.6 can be asked about it.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    pub msg: &'static str,
    pub setup: &'static [(&'static str, Val)],
    pub expr: &'static str,
    pub want: &'static str,
    pub kam: Kam,
}

/// How the differential test treats a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kam {
    /// Compare with Kamailio 5.6.
    Same,
    /// Not comparable, with the reason (time, process ids, 6.0-only names, deliberate difference).
    Skip(&'static str),
}

pub const INVITE_BODY: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n";

const INVITE: &str = "INVITE sip:bob@example.com:5070;transport=tcp;lr SIP/2.0\r
Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK-1;rport;received=1.2.3.4;i=77\r
Via: SIP/2.0/TCP [2001:db8::1];branch=z9hG4bK-2\r
Max-Forwards: 70\r
From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=ft-123;x=1\r
To: Bob <sip:bob@biloxi.example.com>\r
Call-ID: call-inv@host\r
CSeq: 314159 INVITE\r
Contact: <sip:alice@10.0.0.1:5060;transport=udp>;expires=600;q=0.5, <sip:alice2@10.0.0.2>\r
Contact: sip:alice3@10.0.0.3;expires=30\r
Expires: 300\r
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r
Route: <sip:r1.example.com;lr>\r
P-Asserted-Identity: \"PAI One\" <sip:pai1@example.com>, <tel:+15551234>\r
P-Preferred-Identity: \"Pref\" <sip:ppi@pref.example.com>\r
Remote-Party-ID: \"RPID\" <sip:rpid@example.com>;party=calling\r
Diversion: <sip:div@example.com>;reason=unconditional;counter=1;privacy=off\r
Refer-To: <sip:refer@example.com?Replaces=abc>\r
Proxy-Authorization: Digest username=\"alice@atlanta.example.com\", realm=\"atlanta.example.com\", nonce=\"n0nce\", uri=\"sip:bob@example.com\", response=\"0123456789abcdef0123456789abcdef\", algorithm=MD5, cnonce=\"cn\", opaque=\"op4que\", qop=auth, nc=00000001\r
User-Agent: ferrosip-test/1.0\r
X-Multi: one\r
X-Multi: two\r
x-multi: three\r
Content-Type: application/sdp\r
";

const REGISTER: &str = "REGISTER sip:registrar.example.com SIP/2.0\r
Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bK-r\r
Max-Forwards: 70\r
From: <sip:carol@example.com>;tag=r1\r
To: <sip:carol@example.com>\r
Call-ID: call-reg\r
CSeq: 2 REGISTER\r
Contact: <sip:carol@192.0.2.9:5062>;expires=3600, <sip:carol@192.0.2.10>\r
Expires: 1800\r
Authorization: Digest username=\"carol\", realm=\"example.com\", nonce=\"abc\", uri=\"sip:registrar.example.com\", response=\"ffff0000ffff0000ffff0000ffff0000\"\r
";

const OPTIONS: &str = "OPTIONS sips:[2001:db8::9] SIP/2.0\r
Via: SIP/2.0/UDP 192.0.2.9:5062;branch=z9hG4bK-o\r
Max-Forwards: 70\r
From: sip:dave@example.com;tag=o1\r
To: <sip:svc@example.com>;tag=o2\r
Call-ID: call-opt\r
CSeq: 9 OPTIONS\r
";

/// Compact header names, odd spacing, a folded header, an empty header, an escaped user.
const COMPACT: &str = "MESSAGE sip:%75ser@Example.ORG;transport=UDP SIP/2.0\r
v: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bK-c ; rport\r
v: SIP/2.0/UDP 10.9.9.8:5070;branch=z9hG4bK-d\r
f: Zoe <sip:zoe@zz.example>;tag=zz\r
t:    sip:bob@zz.example\r
i: cmp-1\r
CSeq:   5   MESSAGE\r
m: <sip:zoe@10.9.9.9>;+sip.instance=\"<urn:uuid:1>\"\r
c: text/plain\r
Max-Forwards: 20\r
Subject: folded\r
 line\r
X-Empty:\r
k: path\r
";

const REPLY: &str = "SIP/2.0 486 Busy Here\r
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\r
From: <sip:a@example.com>;tag=a\r
To: <sip:b@example.com>;tag=b\r
Call-ID: call-rpl\r
CSeq: 7 BYE\r
";

/// A reply with a second Via that has `received` and `rport` (where `$rpl(…)` says it goes),
/// a header with two Vias and two Record-Route headers with three entries.
const REPLY2: &str = "SIP/2.0 200 OK\r
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-x\r
Via: SIP/2.0/TCP 10.1.1.1:5070;received=10.2.2.2;rport=7000;branch=z9hG4bK-y, SIP/2.0/WSS 10.3.3.3;branch=z9hG4bK-z\r
Record-Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r
Record-Route: <sip:p3.example.com;lr>\r
From: <sip:a@example.com>;tag=a\r
To: <sip:b@example.com>;tag=b\r
Call-ID: call-rp2\r
CSeq: 1 INVITE\r
";

/// The message called `key`, with Content-Length set.
pub fn message(key: &str) -> Vec<u8> {
    let (head, body) = match key {
        "inv" => (INVITE, INVITE_BODY),
        "reg" => (REGISTER, ""),
        "opt" => (OPTIONS, ""),
        "rpl" => (REPLY, ""),
        "rp2" => (REPLY2, ""),
        "cmp" => (COMPACT, "hello"),
        other => panic!("no message {other}"),
    };
    format!("{head}Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

/// The Call-ID of each message (the differential config dispatches on it).
pub fn call_id(key: &str) -> &'static str {
    match key {
        "inv" => "call-inv@host",
        "reg" => "call-reg",
        "opt" => "call-opt",
        "cmp" => "cmp-1",
        "rp2" => "call-rp2",
        _ => "call-rpl",
    }
}

/// A registry with a core stand-in (`$rc`, `$null`) and the pv module.
pub fn registry() -> Registry {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::core_pvs();
    reg.add(core).expect("core table");
    reg.add(ferrosip_modules::pv::exports()).expect("pv table");
    reg.init_all().expect("init");
    reg
}

/// Where the test message comes from and arrives.
pub fn default_rcv() -> RecvInfo {
    RecvInfo {
        src: SocketAddr::from(([192, 0, 2, 55], 5099)),
        dst: SocketAddr::from(([127, 0, 0, 1], 5060)),
        ..RecvInfo::default()
    }
}

/// A setup step that is not an assignment: Kamailio's `msg_apply_changes()` (textopsx), which
/// makes the script see the edited message.
pub const APPLY: &str = "msg_apply_changes()";

/// Builds the message from the edit list and continues with it, as `msg_apply_changes()` does.
fn apply_changes(ctx: &mut Ctx<'_>) -> Result<(), String> {
    let eoh = ctx.msg.headers_end().map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    ctx.edits
        .write(ctx.msg.buf(), eoh, &SendContext::default(), &mut out)
        .map_err(|e| e.to_string())?;
    *ctx.msg = Msg::parse(out).map_err(|e| e.to_string())?;
    ctx.edits = Edits::new(ctx.msg.buf().len()).map_err(|e| e.to_string())?;
    Ok(())
}

/// Evaluates `c` with ferrosip: runs the assignments, renders the expression as xlog would.
/// Returns the text and the error lines logged.
pub fn ours(reg: &Registry, c: &Case, rcv: RecvInfo) -> Result<(String, Vec<String>), String> {
    let mut msg = Msg::parse(message(c.msg)).map_err(|e| e.to_string())?;
    let rt = if msg.is_request() {
        RouteType::Request
    } else {
        RouteType::CoreOnReply
    };
    let mut worker = WorkerState::default();
    let mut server = Recorder {
        debug: 3,
        ..Recorder::default()
    };
    let mut ctx =
        Ctx::new(&mut msg, rt, rcv, &mut worker, &mut server).map_err(|e| e.to_string())?;
    for (pv, v) in c.setup {
        if *pv == APPLY {
            apply_changes(&mut ctx)?;
            continue;
        }
        let (r, _) = parse_pv_ref(pv.as_bytes())?;
        let spec = reg.resolve_pv(&r)?;
        // A refused assignment is logged and the script goes on, as in Kamailio.
        if let Err(e) = spec.set(&mut ctx, v.value()) {
            ctx.log_error(&format!("set {pv}: {e}"));
        }
    }
    let f = reg.parse_format(c.expr)?;
    let out = f.render(&mut ctx);
    drop(ctx);
    let errors = server.logs.iter().map(|(_, t)| t.clone()).collect();
    Ok((String::from_utf8_lossy(&out).into_owned(), errors))
}

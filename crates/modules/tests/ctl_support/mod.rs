//! Shared harness of the control-interface tests: a registry holding `jsonrpcs`, `ctl`, `sl` and a
//! test module with RPC commands (one returning a structure with nested arrays, one failing, and
//! two that mimic Kamailio core commands' shapes for the differential tests), its listeners
//! started through the modules' init and child_init hooks in a private temporary directory.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{ModValue, ModuleExports, Registry};
use ferrosip_modules::ctl::binrpc;
use ferrosip_modules::jsonrpcs::RpcTable;

/// A private directory removed on drop.
pub struct TmpDir(pub PathBuf);

impl TmpDir {
    pub fn new(tag: &str) -> TmpDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "fsctl-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).expect("tmp dir");
        TmpDir(p)
    }
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The nested structure `t.nested` returns.
pub fn nested_value() -> RpcValue {
    let s = |x: &str| RpcValue::Str(x.into());
    RpcValue::Struct(vec![
        ("name".into(), s("alpha")),
        ("count".into(), RpcValue::Int(3)),
        ("ratio".into(), RpcValue::Double(0.5)),
        (
            "items".into(),
            RpcValue::Array(vec![
                RpcValue::Int(-1),
                s("two"),
                RpcValue::Array(vec![RpcValue::Int(3), RpcValue::Int(4)]),
                RpcValue::Struct(vec![("k".into(), s("v\"q"))]),
            ]),
        ),
        ("empty".into(), RpcValue::Array(vec![])),
    ])
}

/// The test module: `t.nested`, `t.fail`, `t.echo`, and shape mimics of Kamailio's `core.version`
/// and `core.sockets_list` (the server will own the real ones).
pub fn test_module(udp_port: u16) -> ModuleExports {
    let mut m = ModuleExports::new("ctltest");
    m.rpcs = vec![
        RpcExport {
            name: "t.nested",
            doc: "A structure with nested arrays.",
            handler: Arc::new(|_: &[RpcValue]| Ok(nested_value())),
        },
        RpcExport {
            name: "t.fail",
            doc: "Always fails.",
            handler: Arc::new(|_: &[RpcValue]| {
                Err(RpcFault {
                    code: 488,
                    message: "deliberate failure".into(),
                })
            }),
        },
        RpcExport {
            name: "t.echo",
            doc: "Returns its parameters.",
            handler: Arc::new(|p: &[RpcValue]| Ok(RpcValue::Array(p.to_vec()))),
        },
        RpcExport {
            name: "core.version",
            doc: "Returns the version string of the server.",
            handler: Arc::new(|_: &[RpcValue]| {
                Ok(RpcValue::Str("kamailio 5.6.3 (x86_64/linux) ".into()))
            }),
        },
        RpcExport {
            name: "core.sockets_list",
            doc: "Returns the list of sockets the server listens on.",
            handler: Arc::new(move |_: &[RpcValue]| {
                let s = |x: &str| RpcValue::Str(x.into());
                Ok(RpcValue::Array(vec![RpcValue::Struct(vec![(
                    "socket".into(),
                    RpcValue::Struct(vec![
                        ("proto".into(), s("udp")),
                        ("address".into(), s("127.0.0.1")),
                        ("port".into(), s(&udp_port.to_string())),
                        ("mcast".into(), s("no")),
                        ("mhomed".into(), s("no")),
                        ("virtual".into(), s("no")),
                    ]),
                )])]))
            }),
        },
    ];
    m
}

/// A running set of control listeners.
pub struct Server {
    pub dir: TmpDir,
    pub registry: Registry,
    pub table: Arc<RpcTable>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.registry.destroy_all();
    }
}

/// Builds the registry, sets `params` (module, name, value), runs init, attaches the RPC table
/// (as the server does), runs child_init (the listeners start).
pub fn start(tag: &str, udp_port: u16, params: &[(&str, &str, ModValue)]) -> Server {
    let dir = TmpDir::new(tag);
    let mut r = Registry::new();
    r.add(ferrosip_modules::sl::exports()).expect("sl");
    r.add(test_module(udp_port)).expect("test module");
    r.add(ferrosip_modules::jsonrpcs::exports())
        .expect("jsonrpcs");
    r.add(ferrosip_modules::ctl::exports()).expect("ctl");
    for (m, n, v) in params {
        let v = match v {
            ModValue::Str(s) => ModValue::Str(s.replace("@DIR@", &dir.0.to_string_lossy())),
            other => other.clone(),
        };
        r.set_modparam(m, n, v).expect("modparam");
    }
    r.init_all().expect("init");
    let table = r.api::<RpcTable>().expect("table offered");
    table.attach_registry(&r);
    r.child_init_all(0).expect("child_init");
    Server {
        dir,
        registry: r,
        table,
    }
}

/// The usual parameters: everything under the tmp dir, all JSON transports, one unix and one TCP
/// binrpc socket. Returns the params and the two TCP ports.
pub fn default_params(pretty: i64) -> (Vec<(&'static str, &'static str, ModValue)>, u16, u16) {
    let jt = free_tcp_port();
    let ct = free_tcp_port();
    let s = |x: String| ModValue::Str(x);
    (
        vec![
            ("jsonrpcs", "transport", ModValue::Int(14)),
            ("jsonrpcs", "pretty_format", ModValue::Int(pretty)),
            ("jsonrpcs", "fifo_name", s("@DIR@/kamailio_rpc.fifo".into())),
            ("jsonrpcs", "fifo_reply_dir", s("@DIR@/".into())),
            (
                "jsonrpcs",
                "dgram_socket",
                s("@DIR@/kamailio_rpc.sock".into()),
            ),
            ("jsonrpcs", "tcp_socket", s(format!("tcp:127.0.0.1:{jt}"))),
            ("ctl", "binrpc", s("unix:@DIR@/kamailio_ctl".into())),
            ("ctl", "binrpc", s(format!("tcp:127.0.0.1:{ct}"))),
        ],
        jt,
        ct,
    )
}

pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// One request over the datagram socket `sock`, from a client socket in `dir`.
pub fn dgram_call(dir: &Path, sock: &Path, req: &str) -> Option<String> {
    static N: AtomicU32 = AtomicU32::new(0);
    let me = dir.join(format!("client-{}.sock", N.fetch_add(1, Ordering::SeqCst)));
    let c = UnixDatagram::bind(&me).expect("client bind");
    c.set_read_timeout(Some(Duration::from_secs(2)))
        .expect("timeout");
    c.send_to(req.as_bytes(), sock).expect("send");
    let mut buf = vec![0u8; 65536];
    let r = c
        .recv(&mut buf)
        .ok()
        .map(|n| String::from_utf8_lossy(&buf[..n]).into_owned());
    let _ = std::fs::remove_file(&me);
    r
}

/// One request over the FIFO, the reply read from `<reply_dir>/<name>`.
pub fn fifo_call(fifo: &Path, reply_dir: &Path, name: &str, req: &str) -> String {
    let rp = reply_dir.join(name);
    let c = std::ffi::CString::new(rp.to_string_lossy().as_bytes()).expect("path");
    // SAFETY: valid C path.
    assert_eq!(
        unsafe { libc::mkfifo(c.as_ptr(), 0o600) },
        0,
        "mkfifo reply"
    );
    std::fs::OpenOptions::new()
        .write(true)
        .open(fifo)
        .and_then(|mut f| f.write_all(req.as_bytes()))
        .expect("write request");
    let mut out = String::new();
    std::fs::File::open(&rp)
        .and_then(|mut f| f.read_to_string(&mut out))
        .expect("read reply");
    let _ = std::fs::remove_file(&rp);
    out
}

/// One BINRPC request over a stream; returns (packet kind, values).
pub fn binrpc_call(
    s: &mut impl ReadWrite,
    method: &str,
    params: &[RpcValue],
) -> (u8, Vec<RpcValue>) {
    let cookie = 0x1234_5678;
    let pkt = binrpc::packet(binrpc::REQ, cookie, &binrpc::request_body(method, params));
    s.write_all(&pkt).expect("send");
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(h)) = binrpc::header(&buf) {
            if buf.len() >= h.header_len + h.body_len {
                assert_eq!(h.cookie, cookie, "cookie echoed");
                let body = &buf[h.header_len..h.header_len + h.body_len];
                return (h.kind, binrpc::values(body).expect("reply decodes"));
            }
        }
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed before a full reply");
        buf.extend_from_slice(&chunk[..n]);
    }
}

pub trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

pub fn unix_stream(p: &Path) -> UnixStream {
    let s = UnixStream::connect(p).expect("connect ctl");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    s
}

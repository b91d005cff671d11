//! `ferrosip-ctl` against a real jsonrpcs listener (started through the module's init and
//! child_init hooks) over the datagram socket, the FIFO and TCP: printed text and exit codes.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{ModValue, ModuleExports, Registry};
use ferrosip_modules::jsonrpcs::RpcTable;

struct Server {
    dir: PathBuf,
    reg: Registry,
    tcp: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.reg.destroy_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Server {
    let dir = std::env::temp_dir().join(format!("fsctl-client-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let mut m = ModuleExports::new("clienttest");
    m.rpcs = vec![
        RpcExport {
            name: "t.nested",
            doc: "nested",
            handler: Arc::new(|_: &[RpcValue]| {
                Ok(RpcValue::Struct(vec![
                    ("name".into(), RpcValue::Str("alpha".into())),
                    ("ratio".into(), RpcValue::Double(0.25)),
                    (
                        "list".into(),
                        RpcValue::Array(vec![
                            RpcValue::Int(1),
                            RpcValue::Array(vec![RpcValue::Int(2)]),
                        ]),
                    ),
                ]))
            }),
        },
        RpcExport {
            name: "t.echo",
            doc: "echo",
            handler: Arc::new(|p: &[RpcValue]| Ok(RpcValue::Array(p.to_vec()))),
        },
        RpcExport {
            name: "t.fail",
            doc: "fails",
            handler: Arc::new(|_: &[RpcValue]| {
                Err(RpcFault {
                    code: 404,
                    message: "not here".into(),
                })
            }),
        },
    ];
    let mut reg = Registry::new();
    reg.add(m).expect("test module");
    reg.add(ferrosip_modules::jsonrpcs::exports())
        .expect("jsonrpcs");
    let d = dir.to_string_lossy().to_string();
    for (n, v) in [
        ("transport", ModValue::Int(14)),
        ("fifo_name", ModValue::Str(format!("{d}/rpc.fifo"))),
        ("fifo_reply_dir", ModValue::Str(format!("{d}/"))),
        ("dgram_socket", ModValue::Str(format!("{d}/rpc.sock"))),
        ("tcp_socket", ModValue::Str(format!("tcp:127.0.0.1:{tcp}"))),
    ] {
        reg.set_modparam("jsonrpcs", n, v).expect("modparam");
    }
    reg.init_all().expect("init");
    reg.api::<RpcTable>().expect("table").attach_registry(&reg);
    reg.child_init_all(0).expect("child_init");
    Server { dir, reg, tcp }
}

fn ctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"))
        .args(args)
        .output()
        .expect("run ferrosip-ctl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn prints_results_and_faults_over_every_transport() {
    let srv = start();
    let d = srv.dir.to_string_lossy().to_string();
    let targets = [
        format!("unix:{d}/rpc.sock"),
        format!("{d}/rpc.sock"),
        format!("fifo:{d}/rpc.fifo"),
        format!("{d}/rpc.fifo"),
        format!("tcp:127.0.0.1:{}", srv.tcp),
    ];
    let nested =
        "{\n\tname: alpha\n\tratio: 0.250000\n\tlist: {\n\t\t1\n\t\t{\n\t\t\t2\n\t\t}\n\t}\n}\n";
    for t in &targets {
        // (args, exit code, stdout)
        let cases: [(&[&str], i32, &str); 5] = [
            (&["t.nested"], 0, nested),
            (&["t.echo", "1", "two", "s:3"], 0, "1\ntwo\n3\n"),
            (&["t.fail"], 1, "error: 404 - not here\n"),
            (&["no.such"], 1, "error: 500 - Method Not Found\n"),
            (&["system.methodHelp", "t.echo"], 0, "echo\n"),
        ];
        for (args, code, want) in cases {
            let mut a = vec!["-r", &d, "-s", t.as_str()];
            a.extend_from_slice(args);
            let (rc, out, err) = ctl(&a);
            assert_eq!(
                (rc, out.as_str()),
                (code, want),
                "{t} {args:?} stderr={err}"
            );
        }
    }
    let (rc, out, _) = ctl(&["-s", &format!("unix:{d}/rpc.sock"), "system.listMethods"]);
    assert_eq!(rc, 0);
    assert_eq!(
        out,
        "system.listMethods\nsystem.methodHelp\nsystem.methodSignature\nt.echo\nt.fail\nt.nested\n"
    );
    // connection errors and usage errors: exit 2, message on stderr
    for args in [
        vec!["-s", "unix:/nonexistent/rpc.sock", "t.echo"],
        vec!["-s", "tcp:127.0.0.1:1", "t.echo"],
        vec!["-s", "unix:/x"],
        vec!["-t", "x", "t.echo"],
    ] {
        let (rc, out, err) = ctl(&args);
        assert_eq!(rc, 2, "{args:?}");
        assert!(out.is_empty() && !err.is_empty(), "{args:?}");
    }
}

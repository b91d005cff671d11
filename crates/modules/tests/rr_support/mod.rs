//! Shared by the rr tests: a registry with the core variables and rr, a runner that calls functions
//! on a request and builds the forwarded bytes with sipmsg's stateless-forward builder (our Via
//! first, the edits applied, the new R-URI written), as the server will.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use ferrosip_api::export::{Arg, ParamKind};
use ferrosip_api::{Ctx, ModValue, Proto, Recorder, RecvInfo, Registry, RouteType, WorkerState};
use ferrosip_sipmsg::build::{forward_request, kamailio_branch, ForwardOptions, SendTarget};
use ferrosip_sipmsg::edit::{SocketInfo, Transport};
use ferrosip_sipmsg::Msg;

/// The address of "our" sockets.
pub const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A registry with pv (which holds `$var`, `$avp`, `$ci` …) and rr, modparams applied, init run.
pub fn registry(modparams: &[(&str, ModValue)]) -> Result<Registry, String> {
    let mut reg = Registry::new();
    reg.add(ferrosip_modules::pv::exports())
        .map_err(|e| e.to_string())?;
    reg.add(ferrosip_modules::rr::exports())
        .map_err(|e| e.to_string())?;
    for (n, v) in modparams {
        reg.set_modparam("rr", n, v.clone())
            .map_err(|e| format!("rr.{n}: {e}"))?;
    }
    reg.init_all().map_err(|e| e.to_string())?;
    Ok(reg)
}

/// Prepares a call as the compiler would (constants, strings with variables, then the fixup).
pub fn prepare(
    reg: &Registry,
    name: &str,
    args: &[&str],
) -> Result<(ferrosip_api::export::Handler, Vec<Arg>), String> {
    let entries = reg.functions(name);
    let (_, f) = entries
        .iter()
        .find(|(_, f)| f.accepts_arity(args.len()))
        .ok_or_else(|| format!("no `{name}` with {} parameters", args.len()))?;
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        out.push(match f.kind_of(i).ok_or("arity")? {
            ParamKind::Str => Arg::Str(a.as_bytes().to_vec()),
            ParamKind::IntOrVar if a.parse::<i64>().is_ok() => Arg::Int(a.parse().unwrap_or(0)),
            ParamKind::Spve | ParamKind::IntOrVar => {
                let fmt = reg.parse_format(a)?;
                match fmt.as_constant() {
                    Some(c) => Arg::Str(c),
                    None => Arg::Fmt(fmt),
                }
            }
            other => return Err(format!("kind {other:?} not handled")),
        });
    }
    let handler = f
        .handler
        .clone()
        .ok_or_else(|| format!("function `{name}`: not implemented yet"))?;
    if let Some(fix) = &f.fixup {
        fix(&mut out).map_err(|m| format!("{name}(): {m}"))?;
    }
    Ok((handler, out))
}

/// Where the request came in and goes out.
#[derive(Clone, Copy)]
pub struct Net {
    /// Receiving socket.
    pub rcv: SocketInfo<'static>,
    /// Sending socket.
    pub snd: SocketInfo<'static>,
    /// Source of the request.
    pub src: SocketAddr,
}

impl Net {
    /// The TCP socket on the receiving socket's address and port (the server listens on both).
    pub fn rcv_tcp(&self) -> SocketInfo<'static> {
        tcp(self.rcv.port)
    }
}

/// A UDP socket on 127.0.0.1, named `sudp` (the name only shows with `sockname_mode`).
pub fn udp(port: u16) -> SocketInfo<'static> {
    SocketInfo {
        ip: LOCAL,
        port,
        proto: Transport::Udp,
        advertise: None,
        sockname: "sudp",
    }
}

/// A TCP socket on 127.0.0.1, named `stcp`.
pub fn tcp(port: u16) -> SocketInfo<'static> {
    SocketInfo {
        proto: Transport::Tcp,
        sockname: "stcp",
        ..udp(port)
    }
}

fn api_proto(t: Transport) -> Proto {
    match t {
        Transport::Tcp => Proto::Tcp,
        Transport::Tls => Proto::Tls,
        Transport::Sctp => Proto::Sctp,
        Transport::Ws => Proto::Ws,
        Transport::Wss => Proto::Wss,
        _ => Proto::Udp,
    }
}

/// What a sequence of calls did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Return code of each call.
    pub rcs: Vec<i64>,
    /// The forwarded request (our branch replaced by `BRANCH`), or the build error.
    pub out: String,
    /// New R-URI, if set.
    pub ruri: Option<String>,
    /// `$du`, if set.
    pub du: Option<String>,
    /// Logged lines.
    pub logs: Vec<(i32, String)>,
    /// Values read with `pv` steps.
    pub pvs: Vec<String>,
}

/// One step: a function call, `$name` to read a variable into [`Outcome::pvs`], or
/// (`=avp:NAME`, [value]) to set an AVP.
pub type Step<'a> = (&'a str, &'a [&'a str]);

/// Runs `steps` on `msg` received and sent as `net` says, with `myself` as our addresses; the
/// server lists the receiving socket, the sending socket and a TCP socket on the receiving port.
pub fn run(
    reg: &Registry,
    msg: &str,
    steps: &[Step<'_>],
    net: &Net,
    myself: &[(&str, u16)],
) -> Outcome {
    run_raw(
        reg,
        msg.replace('\n', "\r\n").into_bytes(),
        steps,
        net,
        myself,
    )
    .unwrap_or_else(|| panic!("the test message does not parse"))
}

/// [`run`] on raw bytes; `None` when they do not parse as a message.
pub fn run_raw(
    reg: &Registry,
    msg: Vec<u8>,
    steps: &[Step<'_>],
    net: &Net,
    myself: &[(&str, u16)],
) -> Option<Outcome> {
    let mut m = Msg::parse(msg).ok()?;
    let mut worker = WorkerState::default();
    let mut rec = Recorder {
        debug: 3,
        myself: myself.iter().map(|(h, p)| (h.to_string(), *p)).collect(),
        sockets: [net.rcv, net.snd, net.rcv_tcp()]
            .iter()
            .map(|s| {
                let mut a = ferrosip_api::SocketInfo::new(
                    api_proto(s.proto),
                    SocketAddr::new(s.ip, s.port),
                );
                a.name = Some(s.sockname.to_string());
                a
            })
            .collect(),
        ..Recorder::default()
    };
    let rcv = RecvInfo {
        src: net.src,
        dst: SocketAddr::new(net.rcv.ip, net.rcv.port),
        proto: api_proto(net.rcv.proto),
        socket: 0,
    };
    let mut o = Outcome::default();
    let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut worker, &mut rec)
        .unwrap_or_else(|e| panic!("{e}"));
    for (name, args) in steps {
        if let Some(avp) = name.strip_prefix("=avp:") {
            // `$avp(NAME) = "VALUE"` (the config side writes the same assignment)
            let v = args.first().copied().unwrap_or_default();
            ctx.state
                .avps
                .add(avp.as_bytes(), ferrosip_api::Value::str(v));
            continue;
        }
        if let Some(pv) = name.strip_prefix('$') {
            let (r, _) = ferrosip_api::pv::parse_pv_ref(format!("${pv}").as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            let spec = reg.resolve_pv(&r).unwrap_or_else(|e| panic!("{e}"));
            let v = spec.get(&mut ctx);
            // xlog's spelling of a null value
            o.pvs.push(if v.is_null() {
                "<null>".into()
            } else {
                v.to_text()
            });
            continue;
        }
        let (h, a) = prepare(reg, name, args).unwrap_or_else(|e| panic!("{e}"));
        o.rcs.push(match h(&mut ctx, &a) {
            Ok(rc) => rc.0,
            Err(e) => {
                ctx.log_error(&e.to_string());
                -1
            }
        });
    }
    o.ruri = ctx
        .state
        .new_uri
        .as_ref()
        .map(|u| String::from_utf8_lossy(u).into_owned());
    o.du = ctx
        .state
        .dst_uri
        .as_ref()
        .map(|u| String::from_utf8_lossy(u).into_owned());
    let r = ferrosip_sipmsg::build::RecvInfo {
        src_ip: net.src.ip(),
        src_port: net.src.port(),
        socket: &net.rcv,
        proto: net.rcv.proto,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &net.snd,
        proto: net.snd.proto,
    };
    let opts = ForwardOptions {
        new_ruri: ctx.state.new_uri.as_deref(),
        ..ForwardOptions::default()
    };
    o.out = match forward_request(ctx.msg, &ctx.edits, &r, &to, &opts) {
        Ok(b) => {
            let s = String::from_utf8_lossy(&b).into_owned();
            match kamailio_branch(ctx.msg, 0) {
                Ok(br) => s.replace(&*String::from_utf8_lossy(&br), "BRANCH"),
                Err(_) => s,
            }
        }
        Err(e) => format!("ERROR {e}"),
    };
    drop(ctx);
    o.logs = rec.logs.clone();
    Some(o)
}

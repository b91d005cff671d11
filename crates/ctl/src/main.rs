//! `ferrosip-ctl`: a kamcmd-like JSON-RPC client for ferrosip's control interface (the `jsonrpcs`
//! module). It sends one command over the unix datagram socket (default), the FIFO or TCP and
//! prints the result the way `kamcmd` prints a BINRPC reply: strings and numbers on their own
//! line, structures as `{ name: value … }` indented with tabs, a top-level array as one line per
//! element.
//!
//! What it does not do: BINRPC (use `kamcmd` against the `ctl` module), kamcmd's interactive mode
//! and format strings. For RPC it depends on no ferrosip crate: it speaks only JSON-RPC.
//!
//! It also has database commands (`db create`, `add`, `passwd`, `rm`, like `kamdbctl` and `kamctl`),
//! which talk to the database through `ferrosip-db` instead of to the server (see `db.rs`).
//!
//! Exit codes: 0 success, 1 the command failed (a JSON-RPC error, or the database refused), 2 usage
//! or connection error.

mod db;
mod print;

use std::io::{Read, Write};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

const USAGE: &str = "usage: ferrosip-ctl [-s socket] [-r reply_dir] [-t seconds] method [params…]
  -s socket   unix:/path or dgram:/path (datagram socket), fifo:/path, tcp:host:port, or a path
              (a FIFO or a socket file); default unix:/run/ferrosip/kamailio_rpc.sock
  -r dir      directory for the reply FIFO (jsonrpcs fifo_reply_dir), default /tmp/
  -t seconds  reply timeout, default 5
params: a number is sent as a number; s:text forces a string, i:N an integer, d:X a double
(ferrosip-ctl db -h: database commands)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if db::wants(&args) {
        let code = match db::run(&args, &|k| std::env::var(k).ok()) {
            Ok(text) => {
                print!("{text}");
                0
            }
            Err(f) => {
                let (msg, code) = db::report(f);
                eprintln!("ferrosip-ctl: {msg}");
                code
            }
        };
        std::process::exit(code);
    }
    let code = match run(&args) {
        Ok(out) => {
            print!("{}", out.text);
            if out.fault {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("ferrosip-ctl: {e:#}");
            2
        }
    };
    std::process::exit(code);
}

/// What to print and whether the server answered with a fault.
struct Output {
    text: String,
    fault: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Dgram(PathBuf),
    Fifo(PathBuf),
    Tcp(String),
}

struct Opts {
    target: Target,
    reply_dir: PathBuf,
    timeout: Duration,
    method: String,
    params: Vec<Value>,
}

fn run(args: &[String]) -> Result<Output> {
    let o = parse_args(args)?;
    let id = std::process::id();
    let mut req = serde_json::json!({"jsonrpc": "2.0", "method": o.method, "id": id});
    if !o.params.is_empty() {
        req["params"] = Value::Array(o.params.clone());
    }
    let reply = match &o.target {
        Target::Dgram(p) => call_dgram(p, &req, o.timeout)?,
        Target::Fifo(p) => call_fifo(p, &o.reply_dir, &mut req, o.timeout)?,
        Target::Tcp(a) => call_tcp(a, &req, o.timeout)?,
    };
    let v: Value = serde_json::from_slice(&reply)
        .with_context(|| format!("reply is not JSON: {}", String::from_utf8_lossy(&reply)))?;
    if let Some(err) = v.get("error") {
        let code = err.get("code").map(print::scalar).unwrap_or_default();
        let msg = err.get("message").map(print::scalar).unwrap_or_default();
        return Ok(Output {
            text: format!("error: {code} - {msg}\n"),
            fault: true,
        });
    }
    match v.get("result") {
        Some(r) => Ok(Output {
            text: print::result(r),
            fault: false,
        }),
        None => bail!("reply has neither result nor error"),
    }
}

fn parse_args(args: &[String]) -> Result<Opts> {
    let mut target = Target::Dgram(PathBuf::from("/run/ferrosip/kamailio_rpc.sock"));
    let mut reply_dir = PathBuf::from("/tmp/");
    let mut timeout = Duration::from_secs(5);
    let mut it = args.iter();
    let mut rest: Vec<&String> = Vec::new();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-h" | "--help" => bail!("{USAGE}"),
            "-s" => target = parse_target(it.next().ok_or_else(|| anyhow!("-s needs a value"))?)?,
            "-r" => {
                reply_dir = PathBuf::from(it.next().ok_or_else(|| anyhow!("-r needs a value"))?)
            }
            "-t" => {
                let s = it.next().ok_or_else(|| anyhow!("-t needs a value"))?;
                let secs: f64 = s.parse().map_err(|_| anyhow!("bad timeout {s:?}"))?;
                if !(0.0..=3600.0).contains(&secs) {
                    bail!("bad timeout {s:?}");
                }
                timeout = Duration::from_secs_f64(secs.max(0.001));
            }
            _ => {
                rest.push(a);
                rest.extend(it.by_ref());
            }
        }
    }
    let (method, params) = rest.split_first().ok_or_else(|| anyhow!("{USAGE}"))?;
    Ok(Opts {
        target,
        reply_dir,
        timeout,
        method: method.to_string(),
        params: params.iter().map(|p| param(p)).collect::<Result<_>>()?,
    })
}

fn parse_target(s: &str) -> Result<Target> {
    if let Some(p) = s.strip_prefix("unix:").or_else(|| s.strip_prefix("dgram:")) {
        return Ok(Target::Dgram(PathBuf::from(p)));
    }
    if let Some(p) = s.strip_prefix("fifo:") {
        return Ok(Target::Fifo(PathBuf::from(p)));
    }
    if let Some(a) = s.strip_prefix("tcp:") {
        return Ok(Target::Tcp(a.to_string()));
    }
    let p = Path::new(s);
    match std::fs::metadata(p) {
        Ok(m) if m.file_type().is_fifo() => Ok(Target::Fifo(p.to_path_buf())),
        Ok(m) if m.file_type().is_socket() => Ok(Target::Dgram(p.to_path_buf())),
        Ok(_) => bail!("{s} is neither a FIFO nor a socket"),
        Err(e) => bail!("{s}: {e}"),
    }
}

/// A command-line parameter as kamcmd reads it: numbers as numbers unless forced.
fn param(s: &str) -> Result<Value> {
    if let Some(x) = s.strip_prefix("s:") {
        return Ok(Value::String(x.to_string()));
    }
    if let Some(x) = s.strip_prefix("i:") {
        return Ok(Value::from(
            x.parse::<i64>()
                .map_err(|_| anyhow!("not an integer: {x:?}"))?,
        ));
    }
    if let Some(x) = s.strip_prefix("d:") {
        let d: f64 = x.parse().map_err(|_| anyhow!("not a number: {x:?}"))?;
        return serde_json::Number::from_f64(d)
            .map(Value::Number)
            .ok_or_else(|| anyhow!("not a finite number: {x:?}"));
    }
    if let Ok(i) = s.parse::<i64>() {
        return Ok(Value::from(i));
    }
    Ok(Value::String(s.to_string()))
}

fn call_dgram(sock: &Path, req: &Value, timeout: Duration) -> Result<Vec<u8>> {
    let me = std::env::temp_dir().join(format!("ferrosip-ctl-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let c = UnixDatagram::bind(&me).with_context(|| format!("bind {}", me.display()))?;
    let r = (|| {
        c.set_read_timeout(Some(timeout))?;
        c.send_to(&serde_json::to_vec(req)?, sock)
            .with_context(|| format!("send to {}", sock.display()))?;
        let mut buf = vec![0u8; 1 << 20];
        let n = c.recv(&mut buf).context("no reply (timeout)")?;
        buf.truncate(n);
        Ok(buf)
    })();
    let _ = std::fs::remove_file(&me);
    r
}

fn call_fifo(fifo: &Path, reply_dir: &Path, req: &mut Value, timeout: Duration) -> Result<Vec<u8>> {
    let name = format!("ferrosip_ctl_{}", std::process::id());
    req["reply_name"] = Value::String(name.clone());
    let rp = reply_dir.join(&name);
    let _ = std::fs::remove_file(&rp);
    let c = std::ffi::CString::new(rp.as_os_str().as_encoded_bytes())?;
    // SAFETY: valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        bail!(
            "cannot create reply FIFO {}: {}",
            rp.display(),
            std::io::Error::last_os_error()
        );
    }
    let r = (|| {
        // Open our end first (non-blocking) so the server's open for writing succeeds at once.
        use std::os::unix::fs::OpenOptionsExt;
        let mut rf = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&rp)?;
        let mut w = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo)
            .with_context(|| format!("open {} (is ferrosip running?)", fifo.display()))?;
        let mut doc = serde_json::to_vec(req)?;
        doc.push(b'\n');
        w.write_all(&doc)?;
        read_until_closed(&mut rf, timeout)
    })();
    let _ = std::fs::remove_file(&rp);
    r
}

/// Reads a non-blocking reply FIFO until the writer has written and closed it.
fn read_until_closed(f: &mut std::fs::File, timeout: Duration) -> Result<Vec<u8>> {
    let start = std::time::Instant::now();
    let mut out = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        match f.read(&mut chunk) {
            // EOF before anything arrived just means no writer yet
            Ok(0) if out.is_empty() => {}
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if start.elapsed() > timeout {
            bail!("no reply (timeout)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn call_tcp(addr: &str, req: &Value, timeout: Duration) -> Result<Vec<u8>> {
    let mut s = std::net::TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.write_all(&serde_json::to_vec(req)?)?;
    let mut out = Vec::new();
    s.read_to_end(&mut out).context("no reply (timeout)")?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_like_kamcmd() {
        let cases = [
            ("12", serde_json::json!(12)),
            ("-3", serde_json::json!(-3)),
            ("abc", serde_json::json!("abc")),
            ("s:12", serde_json::json!("12")),
            ("i:7", serde_json::json!(7)),
            ("d:2.5", serde_json::json!(2.5)),
            ("1.5", serde_json::json!("1.5")),
        ];
        for (s, want) in cases {
            assert_eq!(param(s).expect(s), want, "{s}");
        }
        assert!(param("i:x").is_err());
    }

    #[test]
    fn targets() {
        let cases = [
            ("unix:/a", Target::Dgram("/a".into())),
            ("dgram:/a", Target::Dgram("/a".into())),
            ("fifo:/b", Target::Fifo("/b".into())),
            ("tcp:127.0.0.1:9", Target::Tcp("127.0.0.1:9".into())),
        ];
        for (s, want) in cases {
            assert_eq!(parse_target(s).expect(s), want);
        }
        assert!(parse_target("/nonexistent/x").is_err());
        let args: Vec<String> = ["-s", "unix:/x", "core.echo", "1", "s:2"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let o = parse_args(&args).expect("args");
        assert_eq!(o.method, "core.echo");
        assert_eq!(o.params, vec![serde_json::json!(1), serde_json::json!("2")]);
        assert!(parse_args(&[]).is_err());
    }
}

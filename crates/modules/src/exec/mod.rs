//! Kamailio's `exec` module: run shell commands from the script — `exec_msg` (the message on the
//! command's standard input), `exec_avp` (each output line into an AVP), `exec_dset` (the output
//! as R-URI and branches), `exec_cmd` (nothing in, nothing read back); modparams `setvars` and
//! `time_to_kill`.
//!
//! As Kamailio does with `popen()`, the command string goes to `/bin/sh -c` and the worker waits for
//! it to end (a slow command stalls that worker, as it stalls a Kamailio process). The result is 1
//! when the command exits with status 0, -1 otherwise.
//!
//! With `setvars=1` (the default) `exec_msg` and `exec_avp` give the command Kamailio's environment
//! variables: `SIP_HF_<NAME>` for every header (several occurrences joined with `,`; the headers
//! Kamailio knows by type under its fixed names — `VIA`, `FROM`, `TO`, `CALLID`, `CONTACT`,
//! `CONTENT_TYPE`, `CONTENT_LENGTH`, `SUPPORTED`, `EVENT` — the others with their name upper-cased
//! and symbols turned into `_`), `SIP_SRCIP`, `SIP_RURI`, `SIP_USER`, `SIP_ORUI` (sic: Kamailio's
//! spelling of the original R-URI), `SIP_OUSER`, `SIP_TID` (the transaction's `char_msg_val` MD5) and
//! `SIP_DID` (the To tag). Kamailio sets them in its own process around the call; a worker here is a
//! thread, so they are given to the child only (what the command sees is the same).
//!
//! `time_to_kill` is accepted without effect: Kamailio 6.0 keeps a kill list for it but none of the
//! popen-based functions schedules a kill (its documentation lists this as a known issue), so a
//! command is never killed there either.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::HeaderKind;

/// The `exec` export table.
pub fn exports() -> ModuleExports {
    let setvars: Arc<OnceLock<bool>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("exec");
    let req = RouteMask::REQUEST
        .or(RouteMask::FAILURE)
        .or(RouteMask::LOCAL);
    let sv0 = Arc::clone(&setvars);
    let sv = Arc::clone(&setvars);
    let sv2 = Arc::clone(&setvars);
    let sv3 = Arc::clone(&setvars);
    m.functions = vec![
        FnExport::new(
            "exec_dset",
            &[K::Spve],
            RouteMask::REQUEST.or(RouteMask::FAILURE),
            "run `command 'R-URI'`: the first output line becomes the R-URI, the others branches",
        )
        .with(move |ctx, a| {
            let cmd = command(ctx, a)?;
            let env = vars(ctx, &sv0);
            Ok(RetCode(exec_dset(ctx, &cmd, &env)))
        }),
        FnExport::new(
            "exec_msg",
            &[K::Spve],
            req,
            "run a shell command with the message on its standard input; 1 when it exits with 0",
        )
        .with(move |ctx, a| {
            let cmd = command(ctx, a)?;
            let env = vars(ctx, &sv);
            Ok(RetCode(exec_msg(ctx, &cmd, &env)))
        }),
        FnExport::new(
            "exec_avp",
            &[K::Spve],
            req,
            "run a shell command; each non-empty output line into $avp(i:1), $avp(i:2) …",
        )
        .with(move |ctx, a| {
            let cmd = command(ctx, a)?;
            let env = vars(ctx, &sv2);
            Ok(RetCode(exec_avp(ctx, &cmd, &env, &[])))
        }),
        FnExport::new(
            "exec_avp",
            &[K::Spve, K::Str],
            req,
            "run a shell command; each non-empty output line into the next AVP of the list",
        )
        .fixup(avp_list_fixup)
        .with(move |ctx, a| {
            let cmd = command(ctx, a)?;
            let names = match a.get(1) {
                Some(Arg::Custom(c)) => Arc::clone(c)
                    .downcast::<Vec<Vec<u8>>>()
                    .map_err(|_| Error::Runtime("exec_avp: bad AVP list".into()))?,
                _ => return Err(Error::Runtime("exec_avp: AVP list missing".into())),
            };
            let env = vars(ctx, &sv3);
            Ok(RetCode(exec_avp(ctx, &cmd, &env, &names)))
        }),
        FnExport::new(
            "exec_cmd",
            &[K::Spve],
            RouteMask::ANY,
            "run a shell command: no input, no environment variables, output not read",
        )
        .with(|ctx, a| {
            let cmd = command(ctx, a)?;
            Ok(RetCode(exec_cmd(ctx, &cmd)))
        }),
    ];
    m.params = vec![
        ModParam::new(
            "setvars",
            ModParamType::Int,
            "1 (default): give exec_msg/exec_avp commands the SIP_* environment variables",
        ),
        ModParam::new(
            "time_to_kill",
            ModParamType::Int,
            "no effect, as in Kamailio 6.0 (its popen-based functions never schedule the kill)",
        ),
    ];
    m.init = Some(Arc::new(move |ictx| {
        let on = !matches!(ictx.modparam("setvars"), Some(ModValue::Int(0)));
        setvars
            .set(on)
            .map_err(|_| Error::Init("exec initialised twice".into()))
    }));
    m
}

/// `exec_dset`: runs `cmd 'R-URI'` (the current R-URI, quoted as Kamailio quotes it); the first
/// non-empty output line (trailing blanks cut) becomes the R-URI, each further one a new branch
/// with only a URI. No line at all is an error (-1), as is a full branch table.
pub fn exec_dset(ctx: &mut Ctx<'_>, cmd: &str, env: &[(String, Vec<u8>)]) -> i64 {
    let line = format!("{cmd} '{}'", String::from_utf8_lossy(&ctx.ruri()));
    let max = usize::try_from(ctx.server.core_params().max_branches).unwrap_or(usize::MAX);
    let mut uris = 0usize;
    let mut ret = 1;
    let status = {
        let mut child = match shell(&line, env).stdout(Stdio::piped()).spawn() {
            Ok(c) => c,
            Err(e) => {
                ctx.log_error(&format!("cannot open pipe: {line} ({e})"));
                return -1;
            }
        };
        if let Some(out) = child.stdout.take() {
            let result = each_line(out, |text| {
                if uris == 0 {
                    ctx.state.new_uri = Some(text.to_vec());
                } else if ctx.state.branches.len() + 1 >= max {
                    ctx.log_error("append_branch failed; too many or too long URIs?");
                    return false;
                } else {
                    ctx.state.branches.push(ferrosip_api::ctx::Branch {
                        uri: text.to_vec(),
                        q: -1,
                        ..Default::default()
                    });
                }
                uris += 1;
                true
            });
            match result {
                Ok(true) => {}
                Ok(false) => ret = -1,
                Err(e) => {
                    ctx.log_error(&format!("in pipe: {e}"));
                    ret = -1;
                }
            }
        }
        child.wait()
    };
    if uris == 0 && ret == 1 {
        ctx.log_error(&format!("no uri from {line}"));
        ret = -1;
    }
    finish(ctx, &line, status, ret)
}

/// Calls `f` with each non-empty output line, trailing CR/LF/TAB/SP cut (Kamailio's reading of a
/// command's output); stops when `f` returns false (`Ok(false)`).
fn each_line(out: impl std::io::Read, mut f: impl FnMut(&[u8]) -> bool) -> std::io::Result<bool> {
    let mut reader = BufReader::new(out);
    let mut line = Vec::new();
    // Bounded by the command's output: each turn consumes one line; EOF ends it.
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line)? == 0 {
            return Ok(true);
        }
        let end = line
            .iter()
            .rposition(|c| !matches!(c, b'\r' | b'\n' | b'\t' | b' '))
            .map_or(0, |p| p + 1);
        if let Some(text) = line.get(..end).filter(|t| !t.is_empty()) {
            if !f(text) {
                return Ok(false);
            }
        }
    }
}

/// `exec_msg`: the received message on the command's standard input.
pub fn exec_msg(ctx: &mut Ctx<'_>, cmd: &str, env: &[(String, Vec<u8>)]) -> i64 {
    let mut child = match shell(cmd, env).stdin(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.log_error(&format!("cannot open pipe: {cmd} ({e})"));
            return -1;
        }
    };
    let mut ret = 1;
    if let Some(mut stdin) = child.stdin.take() {
        // A command that does not read its input closes the pipe: the write fails (EPIPE, the
        // signal is ignored), as Kamailio's fwrite does.
        if stdin.write_all(ctx.msg.buf()).is_err() {
            ctx.log_error("failed to write to pipe");
            ret = -1;
        }
    }
    finish(ctx, cmd, child.wait(), ret)
}

/// `exec_avp`: each output line, trailing blanks cut, empty lines skipped, becomes a string AVP —
/// named by the next entry of `names`, or `$avp(i:N)` (Kamailio's integer AVP N, counting lines
/// from 1) once the list is used up.
pub fn exec_avp(ctx: &mut Ctx<'_>, cmd: &str, env: &[(String, Vec<u8>)], names: &[Vec<u8>]) -> i64 {
    let mut child = match shell(cmd, env).stdout(Stdio::piped()).spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.log_error(&format!("cannot open pipe: {cmd} ({e})"));
            return -1;
        }
    };
    let mut ret = 1;
    if let Some(out) = child.stdout.take() {
        let mut i = 0usize;
        let result = each_line(out, |text| {
            let name = match names.get(i) {
                Some(n) => n.clone(),
                // `$avp(i:N)`'s storage key (the pv module's naming).
                None => crate::pv::containers::avp_key(&format!("i:{}", i + 1))
                    .map(String::into_bytes)
                    .unwrap_or_default(),
            };
            ctx.state.avps.add(&name, Value::Str(text.to_vec()));
            i += 1;
            true
        });
        if let Err(e) = result {
            ctx.log_error(&format!("pipe: {e}"));
            ret = -1;
        }
    }
    finish(ctx, cmd, child.wait(), ret)
}

/// `exec_cmd`: the command's output pipe is closed at once (Kamailio's `popen("r")` then
/// `pclose()`), so a command that writes gets EPIPE.
pub fn exec_cmd(ctx: &mut Ctx<'_>, cmd: &str) -> i64 {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd).stdout(Stdio::piped());
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => {
            ctx.log_error(&format!("cannot open pipe: {cmd} ({e})"));
            return -1;
        }
    };
    drop(child.stdout.take());
    let status = child.wait();
    match status {
        Ok(s) if s.code().is_some() => {
            if s.success() {
                1
            } else {
                tracing::debug!("cmd {cmd} with non-zero status - {s}");
                -1
            }
        }
        other => finish(ctx, cmd, other, 1),
    }
}

/// The command's exit: status 0 keeps `ret`, another status is -1, a signal is logged and -1.
fn finish(
    ctx: &mut Ctx<'_>,
    cmd: &str,
    status: std::io::Result<std::process::ExitStatus>,
    ret: i64,
) -> i64 {
    match status {
        Ok(s) => match s.code() {
            Some(0) => ret,
            Some(_) => -1,
            None => {
                ctx.log_error(&format!("cmd {cmd} failed. exit_status={s}"));
                -1
            }
        },
        Err(e) => {
            ctx.log_error(&format!("cmd {cmd} failed: {e}"));
            -1
        }
    }
}

/// `/bin/sh -c cmd` with the SIP variables added to the inherited environment.
fn shell(cmd: &str, env: &[(String, Vec<u8>)]) -> Command {
    let mut c = Command::new("/bin/sh");
    c.arg("-c").arg(cmd);
    for (k, v) in env {
        use std::os::unix::ffi::OsStrExt;
        c.env(k, std::ffi::OsStr::from_bytes(v));
    }
    c
}

fn command(ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<String, Error> {
    let b = a
        .first()
        .ok_or_else(|| Error::Runtime("missing command".into()))?
        .bytes(ctx);
    Ok(String::from_utf8_lossy(&b).into_owned())
}

fn vars(ctx: &mut Ctx<'_>, setvars: &OnceLock<bool>) -> Vec<(String, Vec<u8>)> {
    if *setvars.get().unwrap_or(&true) {
        sip_vars(ctx)
    } else {
        Vec::new()
    }
}

/// `exec_avp`'s list: `$avp(a), $avp(s:b)` → the AVP names, refused at load when an entry is not
/// an `$avp` with a constant name.
fn avp_list_fixup(a: &mut [Arg]) -> Result<(), String> {
    let Some(arg) = a.get_mut(1) else {
        return Ok(());
    };
    let Arg::Str(s) = arg else {
        return Err("the AVP list must be a constant string".into());
    };
    let text = String::from_utf8_lossy(s).into_owned();
    let mut names = Vec::new();
    for item in text.split(',').map(str::trim) {
        let inner = item
            .strip_prefix("$avp(")
            .and_then(|r| r.strip_suffix(')'))
            .filter(|n| !n.is_empty() && !n.contains('$'))
            .ok_or_else(|| format!("bad format in P2 [{text}]: `{item}` is not an $avp name"))?;
        // The same storage key `$avp(…)` uses in the script (the pv module's naming).
        names.push(crate::pv::containers::avp_key(inner)?.into_bytes());
    }
    *arg = Arg::Custom(Arc::new(names));
    Ok(())
}

/// Kamailio's environment for a request (`set_env`): the header variables, then the fixed ones.
pub fn sip_vars(ctx: &mut Ctx<'_>) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = Vec::new();
    let msg = &*ctx.msg;
    let buf = msg.buf();
    if let Ok(headers) = msg.headers() {
        for h in headers {
            let name = format!("SIP_HF_{}", env_name(h.kind, h.name.of(buf)));
            let mut value = h.value.of(buf);
            // Kamailio's bash safety: a value starting like a shell function loses "()".
            if value.starts_with(b"() {") {
                value = value.get(2..).unwrap_or(value);
            }
            match out.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => {
                    v.push(b',');
                    v.extend_from_slice(value);
                }
                None => out.push((name, value.to_vec())),
            }
        }
    }
    out.push((
        "SIP_SRCIP".into(),
        ctx.rcv.src.ip().to_string().into_bytes(),
    ));
    let ruri = ctx.ruri();
    let oruri = ctx.original_ruri().to_vec();
    let user = |u: &[u8]| {
        let span = ferrosip_sipmsg::Span::new(0, u.len());
        ferrosip_sipmsg::uri::Uri::parse(u, span)
            .ok()
            .map(|p| p.user.map_or(Vec::new(), |s| s.of(u).to_vec()))
    };
    let ruser = user(&ruri);
    let ouser = user(&oruri);
    out.push(("SIP_RURI".into(), ruri));
    if let Some(u) = ruser {
        out.push(("SIP_USER".into(), u));
    }
    out.push(("SIP_ORUI".into(), oruri));
    if let Some(u) = ouser {
        out.push(("SIP_OUSER".into(), u));
    }
    let tid = ferrosip_sipmsg::build::transaction_key(ctx.msg)
        .map(|(md5, _)| md5.to_vec())
        .unwrap_or_default();
    out.push(("SIP_TID".into(), tid));
    let did = ctx
        .msg
        .to()
        .ok()
        .and_then(|t| t.tag)
        .map(|t| t.of(ctx.msg.buf()).to_vec())
        .unwrap_or_default();
    out.push(("SIP_DID".into(), did));
    out
}

/// The variable name of a header: Kamailio's fixed names for the headers it knows with a compact
/// form, else the name upper-cased with every other character turned into `_`.
fn env_name(kind: HeaderKind, name: &[u8]) -> String {
    let fixed = match kind {
        HeaderKind::Via => Some("VIA"),
        HeaderKind::ContentType => Some("CONTENT_TYPE"),
        HeaderKind::From => Some("FROM"),
        HeaderKind::CallId => Some("CALLID"),
        HeaderKind::Supported => Some("SUPPORTED"),
        HeaderKind::ContentLength => Some("CONTENT_LENGTH"),
        HeaderKind::Contact => Some("CONTACT"),
        HeaderKind::To => Some("TO"),
        HeaderKind::Event => Some("EVENT"),
        _ => None,
    };
    match fixed {
        Some(f) => f.to_string(),
        None => name
            .iter()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    char::from(c.to_ascii_uppercase())
                } else {
                    '_'
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_variable_names() {
        let cases = [
            (HeaderKind::CallId, "i", "CALLID"),
            (HeaderKind::CallId, "Call-ID", "CALLID"),
            (HeaderKind::Via, "v", "VIA"),
            (HeaderKind::MaxForwards, "Max-Forwards", "MAX_FORWARDS"),
            (HeaderKind::CSeq, "CSeq", "CSEQ"),
            (HeaderKind::Other, "X-Foo.Bar", "X_FOO_BAR"),
            (HeaderKind::ContentLength, "l", "CONTENT_LENGTH"),
        ];
        for (kind, name, want) in cases {
            assert_eq!(env_name(kind, name.as_bytes()), want, "{name}");
        }
    }

    #[test]
    fn avp_lists() {
        let cases: [(&str, Option<Vec<&str>>); 5] = [
            ("$avp(a)", Some(vec!["a"])),
            ("$avp(s:test), $avp(b)", Some(vec!["test", "b"])),
            ("$avp(i:3)", Some(vec!["\0i:3"])),
            ("$var(a)", None),
            ("$avp($var(x))", None),
        ];
        for (text, want) in cases {
            let mut a = vec![
                Arg::Str(b"cmd".to_vec()),
                Arg::Str(text.as_bytes().to_vec()),
            ];
            let got = avp_list_fixup(&mut a).ok().and_then(|_| match a.get(1) {
                Some(Arg::Custom(c)) => Arc::clone(c).downcast::<Vec<Vec<u8>>>().ok(),
                _ => None,
            });
            let want = want.map(|w| w.iter().map(|n| n.as_bytes().to_vec()).collect::<Vec<_>>());
            assert_eq!(got.as_deref().cloned(), want, "{text}");
        }
    }
}

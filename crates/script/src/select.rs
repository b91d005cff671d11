//! The core's message selects (`@ruri.user`, `@from.tag`, `@via[1].branch`, `@src.ip` …), a subset
//! of Kamailio's `select_core.c`, with the same output (checked against Kamailio 5.6.3: a header or
//! part that is absent reads as the empty string; `@via[n]` past the last Via fails, which makes an
//! assignment fail). Other roots and sub-paths are refused at load as not implemented.

use std::sync::Arc;

use ferrosip_api::export::{SelectExport, SelectGet};
use ferrosip_api::{Ctx, Error, Value};
use ferrosip_sipmsg::{NameAddr, Span, Uri};

/// The select roots of the core.
pub fn core_selects() -> Vec<SelectExport> {
    let mut v = Vec::new();
    for root in ["ruri", "request_uri"] {
        v.push(SelectExport {
            root,
            doc: "R-URI and its parts: .user .host .port .params",
            resolve: Arc::new(|p: &str| ruri(p)),
        });
    }
    for (root, to) in [("from", false), ("f", false), ("to", true), ("t", true)] {
        v.push(SelectExport {
            root,
            doc: "From/To header body and its parts: .uri .tag .name",
            resolve: Arc::new(move |p: &str| name_addr(p, to)),
        });
    }
    for root in ["via", "v"] {
        v.push(SelectExport {
            root,
            doc: "a Via (`[n]`, 1-based) and its parts: .branch .host .port",
            resolve: Arc::new(|p: &str| via(p)),
        });
    }
    v.push(SelectExport {
        root: "call_id",
        doc: "Call-ID value",
        resolve: Arc::new(|p: &str| {
            leaf(p)?;
            Ok(get(|ctx| {
                Ok(ctx.msg.call_id().map(|s| bytes(ctx, s)).unwrap_or_default())
            }))
        }),
    });
    v.push(SelectExport {
        root: "cseq",
        doc: "CSeq value and its parts: .num .method",
        resolve: Arc::new(|p: &str| {
            let part = match p {
                "" => 0,
                "num" => 1,
                "method" => 2,
                other => return Err(not_impl(other)),
            };
            Ok(get(move |ctx| {
                let Ok(c) = ctx.msg.cseq() else {
                    return Ok(Vec::new());
                };
                let span = match part {
                    1 => c.number_span,
                    2 => c.method_span,
                    _ => Span::new(c.number_span.start as usize, c.method_span.end as usize),
                };
                Ok(bytes(ctx, span))
            }))
        }),
    });
    v.push(SelectExport {
        root: "method",
        doc: "request method",
        resolve: Arc::new(|p: &str| {
            leaf(p)?;
            Ok(get(|ctx| {
                Ok(match ctx.msg.request_line() {
                    Some(rl) => bytes(ctx, rl.method_span),
                    None => ctx
                        .msg
                        .cseq()
                        .map(|c| bytes(ctx, c.method_span))
                        .unwrap_or_default(),
                })
            }))
        }),
    });
    for (root, src) in [("src", true), ("dst", false)] {
        v.push(SelectExport {
            root,
            doc: "source / destination address of the message: .ip .port",
            resolve: Arc::new(move |p: &str| {
                let port = match p {
                    "ip" => false,
                    "port" => true,
                    other => return Err(not_impl(other)),
                };
                Ok(get(move |ctx| {
                    let a = if src { ctx.rcv.src } else { ctx.rcv.dst };
                    Ok(if port {
                        a.port().to_string()
                    } else {
                        a.ip().to_string()
                    }
                    .into_bytes())
                }))
            }),
        });
    }
    v
}

fn not_impl(p: &str) -> String {
    format!("`{p}`: not implemented yet")
}

fn leaf(p: &str) -> Result<(), String> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(not_impl(p))
    }
}

fn bytes(ctx: &Ctx<'_>, s: Span) -> Vec<u8> {
    s.of(ctx.msg.buf()).to_vec()
}

fn get(f: impl Fn(&mut Ctx<'_>) -> Result<Vec<u8>, Error> + Send + Sync + 'static) -> SelectGet {
    Arc::new(move |ctx: &mut Ctx<'_>| f(ctx).map(Value::Str))
}

fn ruri(p: &str) -> Result<SelectGet, String> {
    let part = match p {
        "" => 0,
        "user" => 1,
        "host" => 2,
        "port" => 3,
        "params" => 4,
        other => return Err(not_impl(other)),
    };
    Ok(get(move |ctx| {
        let u = ctx.ruri();
        if part == 0 {
            return Ok(u);
        }
        let Ok(p) = Uri::parse(&u, Span::new(0, u.len())) else {
            return Err(Error::Runtime("cannot parse the R-URI".into()));
        };
        let s = match part {
            1 => p.user,
            2 => Some(p.host),
            3 => p.port_span,
            _ => Some(p.sip_params),
        };
        Ok(s.map(|s| s.of(&u).to_vec()).unwrap_or_default())
    }))
}

fn name_addr(p: &str, to: bool) -> Result<SelectGet, String> {
    let part = match p {
        "" => 0,
        "uri" => 1,
        "tag" => 2,
        "name" => 3,
        other => return Err(not_impl(other)),
    };
    Ok(get(move |ctx| {
        let na: Result<&NameAddr, _> = if to { ctx.msg.to() } else { ctx.msg.from() };
        let Ok(na) = na else {
            return Err(Error::Runtime(format!(
                "no {} header",
                if to { "To" } else { "From" }
            )));
        };
        let s = match part {
            0 => Some(na.span),
            1 => Some(na.uri),
            2 => na.tag,
            _ => na.display,
        };
        Ok(s.map(|s| bytes(ctx, s)).unwrap_or_default())
    }))
}

fn via(p: &str) -> Result<SelectGet, String> {
    // `[n]` (1-based) then an optional `.part`.
    let (idx, rest) = match p.strip_prefix('[') {
        Some(r) => {
            let (n, rest) = r
                .split_once(']')
                .ok_or_else(|| format!("bad index in `{p}`"))?;
            let n: usize = n
                .trim()
                .parse()
                .map_err(|_| format!("bad index in `{p}`"))?;
            if n == 0 {
                return Err(format!("bad index in `{p}`"));
            }
            (n - 1, rest.strip_prefix('.').unwrap_or(rest))
        }
        None => (0, p),
    };
    let part = match rest {
        "" => 0,
        "branch" => 1,
        "host" => 2,
        "port" => 3,
        other => return Err(not_impl(other)),
    };
    Ok(get(move |ctx| {
        let vias = ctx.msg.vias().map_err(|e| Error::Runtime(e.to_string()))?;
        let Some(v) = vias.get(idx) else {
            return Err(Error::Runtime(format!("no Via number {}", idx + 1)));
        };
        let s = match part {
            0 => Some(v.span),
            1 => v.branch.and_then(|b| b.value),
            2 => Some(v.host),
            _ => v.port_span,
        };
        Ok(s.map(|s| bytes(ctx, s)).unwrap_or_default())
    }))
}

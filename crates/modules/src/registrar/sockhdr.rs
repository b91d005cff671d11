//! `add_sock_hdr(name)`: a header `name: proto:ip:port` naming the socket the request came in on,
//! added after the last header, so that a registrar behind this proxy can learn where the
//! contact is reachable (Kamailio pairs it with the registrar's `sock_hdr_name`, refused here).

use ferrosip_api::{Arg, Ctx, Error, RetCode};

use super::Registrar;

/// `add_sock_hdr(name)`: 1, or -1 when the header section cannot be found, the name is empty or
/// the receiving socket is not in the server's list.
pub fn w_add_sock_hdr(_r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let name = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    if name.is_empty() {
        return Ok(RetCode(-1));
    }
    let Ok(eoh) = ctx.msg.headers_end() else {
        return Ok(RetCode(-1));
    };
    let Some(sock) = ctx
        .server
        .sockets()
        .get(ctx.rcv.socket as usize)
        .map(|s| s.socket_str())
    else {
        return Ok(RetCode(-1));
    };
    let mut hdr = name;
    hdr.extend_from_slice(b": ");
    hdr.extend_from_slice(sock.as_bytes());
    hdr.extend_from_slice(b"\r\n");
    ctx.edits
        .insert_at(eoh, &hdr)
        .map_err(|e| Error::Runtime(format!("add_sock_hdr: {e}")))?;
    Ok(RetCode(1))
}

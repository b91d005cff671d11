//! The static branch: `$sbranch(attr)`, `sbranch_set_ruri()`, `sbranch_append()`,
//! `sbranch_reset()`.
//!
//! Kamailio keeps one static branch per worker process (a `static` in its pv module), filled by
//! the script through `$sbranch(...)` and kept from one message to the next until
//! `sbranch_reset()` or `$sbranch(uri) = $null`. Our workers are threads, so the same per-worker
//! lifetime is a thread-local: it is the worker's own scratch record, never shared, and nothing
//! else reads it. Its fields start zeroed, as Kamailio's `memset`: q is 0, not "unspecified".
//!
//! The R-URI branch has no path vector in the context, so `sbranch_set_ruri()` leaves the path
//! out (a path given to a new branch by `sbranch_append()` is kept).

use std::cell::RefCell;

use ferrosip_api::ctx::Branch;
use ferrosip_api::{Ctx, Error, RetCode, Value};

thread_local! {
    static SBRANCH: RefCell<Branch> = RefCell::new(Branch::default());
}

/// Attribute index as in `$branch` (uri dst_uri path q send_socket count flags ruid location_ua).
pub fn get(c: &Ctx<'_>, attr: i64) -> Value {
    if attr == 5 {
        return Value::Int(c.state.branches.len() as i64);
    }
    SBRANCH.with(|b| {
        let b = b.borrow();
        if b.uri.is_empty() {
            return Value::Null;
        }
        let opt = |x: &[u8]| {
            if x.is_empty() {
                Value::Null
            } else {
                Value::Str(x.to_vec())
            }
        };
        match attr {
            0 => Value::Str(b.uri.clone()),
            1 => opt(&b.dst_uri),
            2 => opt(&b.path),
            3 if b.q < 0 => Value::Null,
            3 => Value::Int(i64::from(b.q)),
            // a socket cannot be set (below), so none is ever there
            4 => Value::Null,
            6 => Value::Int(i64::from(b.flags)),
            7 => opt(&b.ruid),
            _ => opt(&b.instance),
        }
    })
}

/// `$sbranch(attr) = v`: `$null` or `""` on `uri` clears the whole static branch; `q` and `flags`
/// need integers (`$null` resets them); `count`, `ruid` and `location_ua` ignore writes;
/// `send_socket` needs the socket list the context does not carry, so a non-empty value is an
/// error.
pub fn set(attr: i64, v: Value) -> Result<(), Error> {
    let empty = matches!(&v, Value::Null) || matches!(&v, Value::Str(b) if b.is_empty());
    SBRANCH.with(|b| {
        let mut b = b.borrow_mut();
        if attr == 0 && empty {
            *b = Branch::default();
            return Ok(());
        }
        super::netpv::set_branch_attr(&mut b, attr, v, "static branch")
    })
}

/// `sbranch_set_ruri()`: R-URI, `$du`, q and branch flags (or-ed in) from the static branch;
/// -1 when it has no URI.
pub fn set_ruri(c: &mut Ctx<'_>) -> RetCode {
    let b = SBRANCH.with(|b| b.borrow().clone());
    if b.uri.is_empty() {
        return RetCode(-1);
    }
    c.state.new_uri = Some(b.uri);
    c.state.dst_uri = (!b.dst_uri.is_empty()).then_some(b.dst_uri);
    if b.socket.is_some() {
        c.state.force_socket = b.socket;
    }
    c.state.ruri_q = (b.q >= 0).then_some(b.q);
    c.state.bflags |= b.flags;
    RetCode(1)
}

/// `sbranch_append()`: a new branch with the static branch's URI, `dst_uri`, path, q and flags;
/// -1 when it has no URI or the branch table is full.
pub fn append(c: &mut Ctx<'_>) -> RetCode {
    let b = SBRANCH.with(|b| b.borrow().clone());
    if b.uri.is_empty() {
        return RetCode(-1);
    }
    let max = usize::try_from(c.server.core_params().max_branches).unwrap_or(12);
    if c.state.branches.len() + 1 >= max {
        c.log_error("max nr of branches exceeded");
        return RetCode(-1);
    }
    c.state.branches.push(Branch {
        uri: b.uri,
        dst_uri: b.dst_uri,
        path: b.path,
        q: b.q,
        flags: b.flags,
        socket: b.socket,
        ..Branch::default()
    });
    RetCode(1)
}

/// `sbranch_reset()`: clears the static branch.
pub fn reset() -> RetCode {
    SBRANCH.with(|b| *b.borrow_mut() = Branch::default());
    RetCode(1)
}

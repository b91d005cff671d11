//! sl's reply API for other modules (Kamailio's `sl_api_t`, bound with `sl_load_api`): sanity,
//! auth, siputils (`options_reply`) and xhttp answer through it, so their replies are counted in
//! sl's statistics (`sl.stats`, `stats.get_statistics sl:`), open sl's ACK-absorption window, run
//! the SIP-reply-out hooks and `event_route[sl:local-response]`, exactly as `sl_send_reply`'s do.
//!
//! The handle is a get-or-create shared object: a module takes it in its init hook with
//! [`SlReply::bind`] whatever the load order (sl may be initialised before or after it), keeps it
//! in its config or state struct, and sl's own init fills it with its state. Kamailio refuses
//! those modules when sl is not loaded (`cannot bind to SL API`); [`SlReply::bind`] does the same.
//! A handle that was never bound (`SlReply::default()`, unit tests that skip init) still replies
//! with sl's builder, counting into a private state nobody reads.

use std::sync::{Arc, OnceLock};

use ferrosip_api::{Ctx, Error, InitCtx};

use super::SlState;

/// What sl offers other modules. Cheap to clone (one `Arc`); equal when it is the same handle.
#[derive(Clone, Default)]
pub struct SlReply {
    state: Arc<OnceLock<Arc<SlState>>>,
}

impl SlReply {
    /// The server's handle (created and offered to later modules by the first caller; sl's init
    /// fills it). Use [`SlReply::bind`] in modules that need sl.
    pub fn of(ictx: &mut InitCtx<'_>) -> SlReply {
        match ictx.api::<SlReply>() {
            Some(r) => SlReply::clone(&r),
            None => {
                let r = SlReply::default();
                ictx.provide(Arc::new(r.clone()));
                r
            }
        }
    }

    /// [`SlReply::of`] for `module`, refused when sl is not loaded — Kamailio's
    /// `sl_load_api` failing in the module's `mod_init` ("cannot bind to SL API").
    pub fn bind(ictx: &mut InitCtx<'_>, module: &str) -> Result<SlReply, Error> {
        if !ictx.has_module("sl") {
            return Err(Error::Init(format!(
                "{module}: cannot bind to SL API (load the sl module)"
            )));
        }
        Ok(SlReply::of(ictx))
    }

    /// Kamailio's `slb.zreply`/`slb.sreply` (`sl_send_reply`): a stateless reply to the request
    /// in `ctx`, with the reply headers queued on the message and then `more_headers` (lines
    /// ending in CRLF, not kept for later replies). 1 when sent; -1 otherwise (replies and ACKs
    /// are never answered, silently; other errors are logged and counted as sl `failures`).
    pub fn reply(&self, ctx: &mut Ctx<'_>, code: u16, reason: &[u8], more_headers: &[u8]) -> i64 {
        self.state().reply(ctx, code, reason, more_headers)
    }

    /// Kamailio's `slb.freply` (sl's `send_reply`): through tm's `t_reply` when the request has a
    /// transaction and sl's `bind_tm` is on (the `more_headers` then go into that reply too),
    /// else [`SlReply::reply`].
    pub fn send_reply(
        &self,
        ctx: &mut Ctx<'_>,
        code: u16,
        reason: &[u8],
        more_headers: &[u8],
    ) -> i64 {
        let st = self.state();
        if let Some(rc) = st.stateful_reply(ctx, i64::from(code), reason, more_headers) {
            return rc;
        }
        st.reply(ctx, code, reason, more_headers)
    }

    /// Called by sl's init: replies through this handle use `state` from now on.
    pub(super) fn fill(&self, state: Arc<SlState>) -> Result<(), Error> {
        self.state
            .set(state)
            .map_err(|_| Error::Init("sl: reply API bound twice".into()))
    }

    /// sl's state; a private one for a handle sl never filled (see the module doc).
    fn state(&self) -> &SlState {
        self.state.get_or_init(|| Arc::new(SlState::new()))
    }
}

impl PartialEq for SlReply {
    fn eq(&self, other: &SlReply) -> bool {
        Arc::ptr_eq(&self.state, &other.state)
    }
}

impl Eq for SlReply {}

impl std::fmt::Debug for SlReply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlReply")
            .field("bound", &self.state.get().is_some())
            .finish()
    }
}

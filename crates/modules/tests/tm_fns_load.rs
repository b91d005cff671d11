//! Load-time checks of the tm/tmx functions added with tests/tm_fns_wire.rs: where each may be
//! called (Kamailio's route masks), the AVP/text parameters of `t_relay_to_avp` and friends, and
//! the tm/tmx functions still refused with a clear message.

#[path = "common/harness.rs"]
mod harness;

use harness::NoFiles;

/// Compiles a config with tm, tmx, sl and corex: `Err(diagnostics)` when it does not load.
fn load(routes: &str) -> Result<(), String> {
    let cfg = format!(
        "loadmodule \"tm.so\"\nloadmodule \"tmx.so\"\nloadmodule \"sl.so\"\nloadmodule \"corex.so\"\n{routes}\n"
    );
    let loaded = ferrosip_config::load_text(
        "t.cfg",
        cfg,
        &ferrosip_config::LoadOptions::default(),
        &NoFiles,
    )
    .map_err(|f| f.render())?;
    let mut reg = ferrosip_script::base_registry(&loaded.config).map_err(|e| e.to_string())?;
    for m in [
        ferrosip_modules::tm::exports(),
        ferrosip_modules::tmx::exports(),
        ferrosip_modules::sl::exports(),
        ferrosip_modules::corex::exports(),
    ] {
        reg.add(m).map_err(|e| e.to_string())?;
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    if !diags.is_empty() {
        return Err(format!("{diags:?}"));
    }
    reg.init_all().map_err(|e| e.to_string())?;
    ferrosip_script::compile(&loaded, &reg)
        .map(|_| ())
        .map_err(|d| format!("{d:?}"))
}

#[test]
fn new_functions_load_where_kamailio_allows_them() {
    let ok = [
        "request_route { t_send_reply(\"404\", \"Not Here\"); t_reply_error(); t_clean(); t_use_uac_headers(); }",
        "request_route { t_set_no_e2e_cancel_reason(\"1\"); t_disable_e2e_cancel_reason(0); }",
        "request_route { t_replicate_to(\"udp\", \"127.0.0.1:5070\"); t_relay_to_avp(\"$p\", \"$s:a\"); t_forward_nonack_to(\"tcp\", \"h\"); }",
        "request_route { t_drop(); t_drop(\"486\"); t_flush_xflags(); t_cancel_callid(\"c\", \"1\", \"5\"); t_cancel_callid(\"c\", \"1\", \"5\", \"200\"); }",
        "request_route { t_relay(); } failure_route[F] { t_send_reply(\"500\", \"x\"); t_reply_error(); t_drop(); }",
        "request_route { t_relay(); } event_route[tm:branch-failure:B] { t_reuse_branch(); t_relay(); }",
        "request_route { t_relay(); } onreply_route[R] { t_drop(); t_set_no_e2e_cancel_reason(1); }",
        "request_route { t_relay(); } onreply_route[R] { t_reply(\"580\", \"x\"); t_send_reply(\"180\", \"y\"); t_reply_error(); }",
        "request_route { t_relay(); } reply_route { t_reply(\"182\", \"Queued\"); }",
        "request_route { t_relay(); } onreply_route[R] { t_cancel_branches(\"all\"); t_cancel_branches(\"Others\"); t_cancel_branches(\"this\"); }",
    ];
    for cfg in ok {
        if let Err(e) = load(cfg) {
            panic!("{cfg}: {e}");
        }
    }
    // Kamailio: t_relay_to_avp/t_replicate_to/t_forward_nonack_to in request_route only;
    // t_reuse_branch in event routes (and request_route), not failure_route.
    for cfg in [
        "request_route { t_relay(); } failure_route[F] { t_relay_to_avp(\"$p\", \"$a\"); }",
        "request_route { t_relay(); } failure_route[F] { t_replicate_to(\"udp\", \"h:1\"); }",
        "request_route { t_relay(); } failure_route[F] { t_reuse_branch(); }",
        "request_route { t_cancel_branches(\"all\"); }",
    ] {
        match load(cfg) {
            Ok(()) => panic!("{cfg} must not load"),
            Err(e) => assert!(e.contains("cannot be used in the block"), "{cfg}: {e}"),
        }
    }
}

#[test]
fn t_cancel_branches_takes_all_others_or_this() {
    match load("request_route { t_relay(); } onreply_route[R] { t_cancel_branches(\"some\"); }") {
        Ok(()) => panic!("t_cancel_branches(\"some\") loaded"),
        Err(e) => assert!(e.contains("invalid param"), "{e}"),
    }
}

#[test]
fn functions_still_missing_are_refused_with_a_message() {
    for call in [
        "t_cell_append_branches(\"1\", \"2\")",
        "t_relay_to_tls()",
        "t_replicate_sctp(\"h\", \"1\")",
        "t_suspend()",
    ] {
        let cfg = format!("request_route {{ {call}; }}");
        match load(&cfg) {
            Ok(()) => panic!("{call} loaded"),
            Err(e) => assert!(
                e.contains("not implemented"),
                "{call}: the refusal says why: {e}"
            ),
        }
    }
}

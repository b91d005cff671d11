//! The core global parameters Kamailio's grammar accepts (KAMAILIO-NOTES.md §2.1), with their aliases
//! and the kind of value each takes. A name not in this table (and not `group.var`) is an error, as in
//! Kamailio.

/// What a parameter's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Kamailio's `NUMBER`: a non-negative integer or a boolean word (`yes` = 1).
    Nat,
    /// Kamailio's `intno`: like `Nat`, and a leading `-` is allowed.
    Int,
    /// `yes|true|on|enable` / `no|false|off|disable`, or a number (also a `NUMBER` in Kamailio).
    Bool,
    /// A quoted string only.
    Str,
    /// A quoted string or a bare identifier.
    StrId,
    /// A bare identifier only (`log_facility=LOG_LOCAL0`).
    Id,
    /// An identifier or a number (`tos=IPTOS_LOWDELAY`, `tos=0x10`).
    IdNum,
    /// A number or a string.
    NumStr,
    /// An address written bare (`1.2.3.4`, `host.example.com`, `[::1]`) or a quoted string.
    Addr,
    /// A protocol name (`udp`, `tcp`, `tls`, `sctp`).
    Proto,
    /// Any scalar: integer, boolean, string or identifier.
    Any,
    /// `listen` syntax.
    Listen,
    /// `alias` / `domain`: `[proto:]host[:port]`.
    Alias,
    /// `socket = { … }`.
    Socket,
}

use ParamKind::*;

/// (canonical name, aliases, kind).
const TABLE: &[(&str, &[&str], ParamKind)] = &[
    // general
    ("advertised_address", &[], Addr),
    ("advertised_port", &[], Nat),
    ("alias", &[], Alias),
    ("async_nonblock", &[], Nat),
    ("async_tkv_evcb", &[], Str),
    ("async_tkv_gname", &[], Str),
    ("async_usleep", &[], Nat),
    ("async_workers", &[], Nat),
    ("async_workers_group", &[], Str),
    ("auto_aliases", &[], Bool),
    ("auto_bind_ipv6", &[], Nat),
    ("auto_domains", &[], Bool),
    ("bind_ipv6_link_local", &[], Nat),
    ("check_via", &[], Nat),
    ("children", &[], Nat),
    ("chroot", &[], StrId),
    ("corelog", &["core_log"], Int),
    ("coreparam", &[], Any),
    ("debug", &[], Int),
    ("disable_core_dump", &[], Bool),
    ("domain", &[], Alias),
    ("exit_timeout", &["ser_kill_timeout"], Nat),
    ("force_rport", &["add_rport"], Bool),
    ("fork", &[], Bool),
    ("fork_delay", &[], Nat),
    ("group", &["gid"], StrId),
    ("hdr_name_extra_chars", &[], Str),
    ("http_reply_parse", &["http_reply_hack"], Bool),
    ("ip_free_bind", &["ipfreebind", "ip_nonlocal_bind"], Int),
    ("ipv6_hex_style", &[], Str),
    ("latency_cfg_log", &[], Int),
    ("latency_limit_action", &[], Nat),
    ("latency_limit_cfg", &[], Nat),
    ("latency_limit_db", &[], Nat),
    ("latency_log", &[], Int),
    ("listen", &[], Listen),
    ("local_rport", &[], Bool),
    ("log_color", &[], Bool),
    ("log_engine_data", &[], Str),
    ("log_engine_type", &[], Str),
    ("log_facility", &[], Id),
    ("log_name", &[], Str),
    ("log_prefix", &[], Str),
    ("log_prefix_mode", &[], Nat),
    ("log_stderror", &[], Bool),
    ("max_branches", &[], Nat),
    ("max_recursive_level", &[], Nat),
    ("max_while_loops", &[], Nat),
    ("maxbuffer", &[], Nat),
    ("maxsndbuffer", &[], Nat),
    ("mcast", &[], StrId),
    ("mcast_loopback", &[], Bool),
    ("mcast_ttl", &[], Nat),
    ("mem_add_size", &[], Int),
    ("mem_join", &[], Int),
    ("mem_safety", &[], Int),
    ("mem_status_mode", &[], Int),
    ("mem_summary", &[], Int),
    ("memdbg", &["mem_dbg"], Int),
    ("memlog", &["mem_log"], Int),
    ("mhomed", &[], Bool),
    ("mlock_pages", &[], Bool),
    ("modinit_delay", &[], Nat),
    ("msg_apply_changes_mode", &[], Nat),
    ("msg_clone_extra_size", &[], Nat),
    ("msg_recv_max_size", &[], Nat),
    ("msg_time", &[], Bool),
    ("onsend_route_reply", &[], Bool),
    ("open_files_limit", &[], Nat),
    ("phone2tel", &[], Nat),
    ("pmtu_discovery", &[], Nat),
    ("port", &[], Nat),
    ("pv_buffer_size", &[], Nat),
    ("pv_buffer_slots", &[], Nat),
    ("pv_cache_action", &[], Nat),
    ("pv_cache_limit", &[], Nat),
    ("received_route_mode", &[], Int),
    ("reply_to_via", &[], Bool),
    ("return_mode", &[], Nat),
    ("route_locks_size", &[], Nat),
    ("rpc_exec_delta", &[], Nat),
    ("rpc_exec_locks", &[], Nat),
    ("rpc_exec_locks_mode", &[], Nat),
    ("rundir", &["run_dir"], StrId),
    ("server_header", &[], Str),
    ("server_id", &[], Nat),
    ("server_signature", &[], Bool),
    ("shm_mem_size", &["shm", "shm_mem"], Nat),
    ("shm_force_alloc", &[], Bool),
    ("sip_parser_log", &[], Int),
    ("sip_parser_log_oneline", &[], Int),
    ("sip_parser_mode", &[], Int),
    ("sip_warning", &[], Bool),
    ("socket", &[], Socket),
    ("socket_workers", &[], Nat),
    ("sql_buffer_size", &[], Nat),
    ("stats_name_separator", &[], Str),
    ("tos", &[], IdNum),
    ("uri_host_extra_chars", &[], Str),
    ("user", &["uid"], StrId),
    ("user_agent_header", &[], Str),
    ("verbose_startup", &[], Nat),
    ("version_table", &[], Str),
    ("wait_worker1_mode", &[], Nat),
    ("wait_worker1_time", &[], Nat),
    ("wait_worker1_usleep", &[], Nat),
    ("workdir", &["wdir"], StrId),
    ("xavp_via_fields", &[], Str),
    ("xavp_via_params", &[], Str),
    ("xavp_via_reply_params", &[], Str),
    // KEMI (written as `kemi.name`)
    ("kemi.request_route_callback", &[], Str),
    ("kemi.onsend_route_callback", &[], Str),
    ("kemi.reply_route_callback", &[], Str),
    ("kemi.event_route_callback", &[], Str),
    ("kemi.received_route_callback", &[], Str),
    ("kemi.pre_routing_callback", &[], Str),
    // DNS
    ("dns", &[], Bool),
    ("rev_dns", &["dns_rev_via"], Bool),
    ("dns_try_ipv6", &[], Bool),
    ("dns_try_naptr", &[], Bool),
    ("dns_srv_lb", &["dns_srv_loadbalancing"], Bool),
    ("dns_udp_pref", &["dns_udp_preference"], Int),
    ("dns_tcp_pref", &["dns_tcp_preference"], Int),
    ("dns_tls_pref", &["dns_tls_preference"], Int),
    ("dns_sctp_pref", &["dns_sctp_preference"], Int),
    ("dns_retr_time", &[], Nat),
    ("dns_slow_query_ms", &[], Nat),
    ("dns_retr_no", &[], Nat),
    ("dns_servers_no", &[], Nat),
    ("dns_use_search_list", &[], Bool),
    ("dns_search_full_match", &[], Bool),
    ("dns_naptr_ignore_rfc", &[], Bool),
    ("dns_cache_init", &[], Bool),
    ("use_dns_cache", &["dns_use_cache"], Bool),
    ("use_dns_failover", &["dns_use_failover"], Bool),
    ("dns_cache_flags", &[], Nat),
    ("dns_cache_negative_ttl", &[], Nat),
    ("dns_cache_min_ttl", &[], Nat),
    ("dns_cache_max_ttl", &[], Nat),
    ("dns_cache_mem", &[], Nat),
    ("dns_cache_gc_interval", &[], Nat),
    (
        "dns_cache_del_nonexp",
        &["dns_cache_delete_nonexpired"],
        Bool,
    ),
    ("dns_cache_rec_pref", &[], Nat),
    // TCP
    ("disable_tcp", &[], Bool),
    ("tcp_children", &[], Nat),
    ("tcp_accept_aliases", &[], Bool),
    ("tcp_accept_unique", &[], Nat),
    ("tcp_send_timeout", &[], Int),
    ("tcp_connect_timeout", &[], Int),
    ("tcp_connection_lifetime", &[], Int),
    ("tcp_connection_match", &[], Nat),
    ("tcp_poll_method", &[], StrId),
    ("tcp_max_connections", &[], Nat),
    ("tcp_no_connect", &[], Bool),
    ("tcp_source_ipv4", &[], Addr),
    ("tcp_source_ipv6", &[], Addr),
    ("tcp_fd_cache", &[], Bool),
    ("tcp_async", &["tcp_buf_write"], Bool),
    ("tcp_conn_wq_max", &[], Nat),
    ("tcp_wq_max", &[], Nat),
    ("tcp_rd_buf_size", &[], Nat),
    ("tcp_wq_blk_size", &[], Nat),
    ("tcp_defer_accept", &[], Nat),
    ("tcp_delayed_ack", &[], Bool),
    ("tcp_syncnt", &[], Nat),
    ("tcp_linger2", &[], Nat),
    ("tcp_keepalive", &[], Bool),
    ("tcp_keepidle", &[], Nat),
    ("tcp_keepintvl", &[], Nat),
    ("tcp_keepcnt", &[], Nat),
    ("tcp_crlf_ping", &[], Bool),
    ("tcp_listen_backlog", &[], Nat),
    ("tcp_accept_no_cl", &[], Bool),
    ("tcp_accept_hep3", &[], Bool),
    ("tcp_accept_haproxy", &[], Bool),
    ("tcp_accept_protocols", &["tcp_accept_protos"], NumStr),
    ("tcp_close_rst", &[], Bool),
    ("tcp_clone_rcvbuf", &[], Nat),
    ("tcp_reuse_port", &[], Bool),
    ("tcp_wait_data", &[], Int),
    ("tcp_script_mode", &[], Int),
    ("tcp_msg_read_timeout", &[], Nat),
    ("tcp_msg_data_timeout", &[], Nat),
    ("tcp_accept_iplimit", &[], Nat),
    ("tcp_main_threads", &[], Nat),
    ("tcp_check_timer", &[], Nat),
    // TLS
    ("enable_tls", &["tls_enable"], Bool),
    ("disable_tls", &["tls_disable"], Bool),
    ("tls_threads_mode", &[], Nat),
    ("tls_max_connections", &[], Nat),
    ("tls_connection_match_domain", &[], Nat),
    // Kamailio quirk: `tlslog`/`tls_log` lex to the tls_port_no token.
    ("tls_port_no", &["tlslog", "tls_log"], Nat),
    ("tls_method", &[], Id),
    ("tls_verify", &[], Bool),
    ("tls_require_certificate", &[], Bool),
    ("tls_certificate", &[], Str),
    ("tls_private_key", &[], Str),
    ("tls_ca_list", &[], Str),
    ("tls_handshake_timeout", &[], Nat),
    ("tls_send_timeout", &[], Nat),
    // SCTP
    ("enable_sctp", &[], Nat),
    ("disable_sctp", &[], Bool),
    ("sctp_children", &[], Nat),
    // UDP
    ("udp4_raw", &[], Int),
    ("udp4_raw_mtu", &[], Nat),
    ("udp4_raw_ttl", &[], Nat),
    ("udp_mtu", &[], Nat),
    ("udp_mtu_try_proto", &[], Proto),
    ("udp_receiver_mode", &[], Nat),
    ("udp_accept_proxy", &[], Bool),
    // blocklist
    ("dst_blocklist_init", &[], Bool),
    ("use_dst_blocklist", &[], Bool),
    ("dst_blocklist_mem", &[], Nat),
    ("dst_blocklist_expire", &["dst_blocklist_ttl"], Nat),
    ("dst_blocklist_gc_interval", &[], Nat),
    ("dst_blocklist_udp_imask", &[], Nat),
    ("dst_blocklist_tcp_imask", &[], Nat),
    ("dst_blocklist_tls_imask", &[], Nat),
    ("dst_blocklist_sctp_imask", &[], Nat),
    // real-time
    ("real_time", &[], Nat),
    ("rt_prio", &[], Nat),
    ("rt_policy", &[], Nat),
    (
        "rt_timer1_prio",
        &["rt_fast_timer_prio", "rt_ftimer_prio"],
        Int,
    ),
    ("rt_timer1_policy", &["rt_ftimer_policy"], Nat),
    ("rt_timer2_prio", &["rt_stimer_prio"], Nat),
    ("rt_timer2_policy", &["rt_stimer_policy"], Nat),
];

/// Looks a parameter up by any of its spellings: (canonical name, kind).
pub fn lookup(name: &str) -> Option<(&'static str, ParamKind)> {
    TABLE
        .iter()
        .find(|(n, aliases, _)| *n == name || aliases.contains(&name))
        .map(|(n, _, k)| (*n, *k))
}

/// Number of distinct spellings (canonical + aliases), for tests.
pub fn spelling_count() -> usize {
    TABLE.iter().map(|(_, a, _)| 1 + a.len()).sum()
}

/// Boolean words of Kamailio's lexer.
pub fn bool_word(w: &str) -> Option<bool> {
    match w {
        "yes" | "true" | "on" | "enable" => Some(true),
        "no" | "false" | "off" | "disable" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_resolve_to_canonical() {
        let cases = [
            ("core_log", Some(("corelog", Int))),
            ("shm", Some(("shm_mem_size", Nat))),
            ("tls_log", Some(("tls_port_no", Nat))),
            ("log_facility", Some(("log_facility", Id))),
            ("wdir", Some(("workdir", StrId))),
            ("listen", Some(("listen", Listen))),
            ("dns_use_failover", Some(("use_dns_failover", Bool))),
            ("no_such_param", None),
        ];
        for (n, want) in cases {
            assert_eq!(lookup(n), want, "{n}");
        }
        // 222 keyword tokens in the notes, less `kemi` (six `kemi.*` entries instead) and less
        // `tlslog` (an alias of tls_port_no here, as in Kamailio's lexer).
        assert_eq!(TABLE.len(), 222 - 2 + 6);
        assert!(spelling_count() > TABLE.len());
    }
}

//! The core global parameters Kamailio's grammar accepts (KAMAILIO-NOTES.md §2.1), with their aliases
//! and the kind of value each takes. A name not in this table (and not `group.var`) is an error, as in
//! Kamailio.

/// What a parameter's value may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// An integer (booleans `yes`/`no`/… count as 1/0; a leading `-` is allowed).
    Int,
    /// `yes|true|on|enable|1` / `no|false|off|disable|0`.
    Bool,
    /// A string; an identifier or an unquoted address is taken as its text.
    Str,
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
    ("advertised_address", &[], Str),
    ("advertised_port", &[], Int),
    ("alias", &[], Alias),
    ("async_nonblock", &[], Int),
    ("async_tkv_evcb", &[], Str),
    ("async_tkv_gname", &[], Str),
    ("async_usleep", &[], Int),
    ("async_workers", &[], Int),
    ("async_workers_group", &[], Str),
    ("auto_aliases", &[], Bool),
    ("auto_bind_ipv6", &[], Int),
    ("auto_domains", &[], Bool),
    ("bind_ipv6_link_local", &[], Int),
    ("check_via", &[], Int),
    ("children", &[], Int),
    ("chroot", &[], Str),
    ("corelog", &["core_log"], Int),
    ("coreparam", &[], Any),
    ("debug", &[], Int),
    ("disable_core_dump", &[], Bool),
    ("domain", &[], Alias),
    ("exit_timeout", &["ser_kill_timeout"], Int),
    ("force_rport", &["add_rport"], Bool),
    ("fork", &[], Bool),
    ("fork_delay", &[], Int),
    ("group", &["gid"], Any),
    ("hdr_name_extra_chars", &[], Str),
    ("http_reply_parse", &["http_reply_hack"], Bool),
    ("ip_free_bind", &["ipfreebind", "ip_nonlocal_bind"], Int),
    ("ipv6_hex_style", &[], Str),
    ("latency_cfg_log", &[], Int),
    ("latency_limit_action", &[], Int),
    ("latency_limit_cfg", &[], Int),
    ("latency_limit_db", &[], Int),
    ("latency_log", &[], Int),
    ("listen", &[], Listen),
    ("local_rport", &[], Bool),
    ("log_color", &[], Bool),
    ("log_engine_data", &[], Str),
    ("log_engine_type", &[], Str),
    ("log_facility", &[], Str),
    ("log_name", &[], Str),
    ("log_prefix", &[], Str),
    ("log_prefix_mode", &[], Int),
    ("log_stderror", &[], Bool),
    ("max_branches", &[], Int),
    ("max_recursive_level", &[], Int),
    ("max_while_loops", &[], Int),
    ("maxbuffer", &[], Int),
    ("maxsndbuffer", &[], Int),
    ("mcast", &[], Str),
    ("mcast_loopback", &[], Bool),
    ("mcast_ttl", &[], Int),
    ("mem_add_size", &[], Int),
    ("mem_join", &[], Int),
    ("mem_safety", &[], Int),
    ("mem_status_mode", &[], Int),
    ("mem_summary", &[], Int),
    ("memdbg", &["mem_dbg"], Int),
    ("memlog", &["mem_log"], Int),
    ("mhomed", &[], Bool),
    ("mlock_pages", &[], Bool),
    ("modinit_delay", &[], Int),
    ("msg_apply_changes_mode", &[], Int),
    ("msg_clone_extra_size", &[], Int),
    ("msg_recv_max_size", &[], Int),
    ("msg_time", &[], Bool),
    ("onsend_route_reply", &[], Bool),
    ("open_files_limit", &[], Int),
    ("phone2tel", &[], Int),
    ("pmtu_discovery", &[], Int),
    ("port", &[], Int),
    ("pv_buffer_size", &[], Int),
    ("pv_buffer_slots", &[], Int),
    ("pv_cache_action", &[], Int),
    ("pv_cache_limit", &[], Int),
    ("received_route_mode", &[], Int),
    ("reply_to_via", &[], Bool),
    ("return_mode", &[], Int),
    ("route_locks_size", &[], Int),
    ("rpc_exec_delta", &[], Int),
    ("rpc_exec_locks", &[], Int),
    ("rpc_exec_locks_mode", &[], Int),
    ("rundir", &["run_dir"], Str),
    ("server_header", &[], Str),
    ("server_id", &[], Int),
    ("server_signature", &[], Bool),
    ("shm_mem_size", &["shm", "shm_mem"], Int),
    ("shm_force_alloc", &[], Bool),
    ("sip_parser_log", &[], Int),
    ("sip_parser_log_oneline", &[], Int),
    ("sip_parser_mode", &[], Int),
    ("sip_warning", &[], Bool),
    ("socket", &[], Socket),
    ("socket_workers", &[], Int),
    ("sql_buffer_size", &[], Int),
    ("stats_name_separator", &[], Str),
    ("tos", &[], Any),
    ("uri_host_extra_chars", &[], Str),
    ("user", &["uid"], Any),
    ("user_agent_header", &[], Str),
    ("verbose_startup", &[], Int),
    ("version_table", &[], Str),
    ("wait_worker1_mode", &[], Int),
    ("wait_worker1_time", &[], Int),
    ("wait_worker1_usleep", &[], Int),
    ("workdir", &["wdir"], Str),
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
    ("dns_retr_time", &[], Int),
    ("dns_slow_query_ms", &[], Int),
    ("dns_retr_no", &[], Int),
    ("dns_servers_no", &[], Int),
    ("dns_use_search_list", &[], Bool),
    ("dns_search_full_match", &[], Bool),
    ("dns_naptr_ignore_rfc", &[], Bool),
    ("dns_cache_init", &[], Bool),
    ("use_dns_cache", &["dns_use_cache"], Bool),
    ("use_dns_failover", &["dns_use_failover"], Bool),
    ("dns_cache_flags", &[], Int),
    ("dns_cache_negative_ttl", &[], Int),
    ("dns_cache_min_ttl", &[], Int),
    ("dns_cache_max_ttl", &[], Int),
    ("dns_cache_mem", &[], Int),
    ("dns_cache_gc_interval", &[], Int),
    (
        "dns_cache_del_nonexp",
        &["dns_cache_delete_nonexpired"],
        Bool,
    ),
    ("dns_cache_rec_pref", &[], Int),
    // TCP
    ("disable_tcp", &[], Bool),
    ("tcp_children", &[], Int),
    ("tcp_accept_aliases", &[], Bool),
    ("tcp_accept_unique", &[], Int),
    ("tcp_send_timeout", &[], Int),
    ("tcp_connect_timeout", &[], Int),
    ("tcp_connection_lifetime", &[], Int),
    ("tcp_connection_match", &[], Int),
    ("tcp_poll_method", &[], Any),
    ("tcp_max_connections", &[], Int),
    ("tcp_no_connect", &[], Bool),
    ("tcp_source_ipv4", &[], Str),
    ("tcp_source_ipv6", &[], Str),
    ("tcp_fd_cache", &[], Bool),
    ("tcp_async", &["tcp_buf_write"], Bool),
    ("tcp_conn_wq_max", &[], Int),
    ("tcp_wq_max", &[], Int),
    ("tcp_rd_buf_size", &[], Int),
    ("tcp_wq_blk_size", &[], Int),
    ("tcp_defer_accept", &[], Int),
    ("tcp_delayed_ack", &[], Bool),
    ("tcp_syncnt", &[], Int),
    ("tcp_linger2", &[], Int),
    ("tcp_keepalive", &[], Bool),
    ("tcp_keepidle", &[], Int),
    ("tcp_keepintvl", &[], Int),
    ("tcp_keepcnt", &[], Int),
    ("tcp_crlf_ping", &[], Bool),
    ("tcp_listen_backlog", &[], Int),
    ("tcp_accept_no_cl", &[], Bool),
    ("tcp_accept_hep3", &[], Bool),
    ("tcp_accept_haproxy", &[], Bool),
    ("tcp_accept_protocols", &["tcp_accept_protos"], Any),
    ("tcp_close_rst", &[], Bool),
    ("tcp_clone_rcvbuf", &[], Int),
    ("tcp_reuse_port", &[], Bool),
    ("tcp_wait_data", &[], Int),
    ("tcp_script_mode", &[], Int),
    ("tcp_msg_read_timeout", &[], Int),
    ("tcp_msg_data_timeout", &[], Int),
    ("tcp_accept_iplimit", &[], Int),
    ("tcp_main_threads", &[], Int),
    ("tcp_check_timer", &[], Int),
    // TLS
    ("enable_tls", &["tls_enable"], Bool),
    ("disable_tls", &["tls_disable"], Bool),
    ("tls_threads_mode", &[], Int),
    ("tls_max_connections", &[], Int),
    ("tls_connection_match_domain", &[], Int),
    // Kamailio quirk: `tlslog`/`tls_log` lex to the tls_port_no token.
    ("tls_port_no", &["tlslog", "tls_log"], Int),
    ("tls_method", &[], Any),
    ("tls_verify", &[], Bool),
    ("tls_require_certificate", &[], Bool),
    ("tls_certificate", &[], Str),
    ("tls_private_key", &[], Str),
    ("tls_ca_list", &[], Str),
    ("tls_handshake_timeout", &[], Int),
    ("tls_send_timeout", &[], Int),
    // SCTP
    ("enable_sctp", &[], Int),
    ("disable_sctp", &[], Bool),
    ("sctp_children", &[], Int),
    // UDP
    ("udp4_raw", &[], Int),
    ("udp4_raw_mtu", &[], Int),
    ("udp4_raw_ttl", &[], Int),
    ("udp_mtu", &[], Int),
    ("udp_mtu_try_proto", &[], Any),
    ("udp_receiver_mode", &[], Int),
    ("udp_accept_proxy", &[], Bool),
    // blocklist
    ("dst_blocklist_init", &[], Bool),
    ("use_dst_blocklist", &[], Bool),
    ("dst_blocklist_mem", &[], Int),
    ("dst_blocklist_expire", &["dst_blocklist_ttl"], Int),
    ("dst_blocklist_gc_interval", &[], Int),
    ("dst_blocklist_udp_imask", &[], Int),
    ("dst_blocklist_tcp_imask", &[], Int),
    ("dst_blocklist_tls_imask", &[], Int),
    ("dst_blocklist_sctp_imask", &[], Int),
    // real-time
    ("real_time", &[], Int),
    ("rt_prio", &[], Int),
    ("rt_policy", &[], Int),
    (
        "rt_timer1_prio",
        &["rt_fast_timer_prio", "rt_ftimer_prio"],
        Int,
    ),
    ("rt_timer1_policy", &["rt_ftimer_policy"], Int),
    ("rt_timer2_prio", &["rt_stimer_prio"], Int),
    ("rt_timer2_policy", &["rt_stimer_policy"], Int),
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
            ("shm", Some(("shm_mem_size", Int))),
            ("tls_log", Some(("tls_port_no", Int))),
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

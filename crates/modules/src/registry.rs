//! The module registry: which names are Kamailio modules, and which of them ferrosip implements.
//!
//! `loadmodule "x.so"`, `--loadmodule` and `--modparam` are checked against these lists when a config
//! loads: a name that is not a Kamailio 6.0 module is an error; a Kamailio module that ferrosip does not
//! implement yet is reported as such (a warning under `-c`, an error when starting to serve).

/// What the registry knows about a module name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleStatus {
    /// A Kamailio 6.0 module that ferrosip implements.
    Implemented,
    /// A Kamailio 6.0 module that ferrosip does not implement (yet).
    NotImplemented,
    /// Not the name of any Kamailio 6.0 module.
    Unknown,
}

/// Every module shipped in Kamailio 6.0 (the folder names of `src/modules/` at tag 6.0.7), sorted.
pub const KAMAILIO_MODULES: &[&str] = &[
    "acc",
    "acc_diameter",
    "acc_json",
    "acc_radius",
    "alias_db",
    "app_java",
    "app_jsdt",
    "app_lua",
    "app_perl",
    "app_python",
    "app_python3",
    "app_python3s",
    "app_ruby",
    "app_ruby_proc",
    "async",
    "auth",
    "auth_db",
    "auth_diameter",
    "auth_ephemeral",
    "auth_radius",
    "auth_xkeys",
    "avp",
    "avpops",
    "benchmark",
    "blst",
    "call_control",
    "call_obj",
    "carrierroute",
    "cdp",
    "cdp_avp",
    "cfg_db",
    "cfg_rpc",
    "cfgt",
    "cfgutils",
    "cnxcc",
    "corex",
    "counters",
    "cplc",
    "crypto",
    "ctl",
    "db2_ldap",
    "db2_ops",
    "db_berkeley",
    "db_cluster",
    "db_flatstore",
    "db_mongodb",
    "db_mysql",
    "db_oracle",
    "db_perlvdb",
    "db_postgres",
    "db_redis",
    "db_sqlite",
    "db_text",
    "db_unixodbc",
    "debugger",
    "dialog",
    "dialplan",
    "dispatcher",
    "diversion",
    "dlgs",
    "dmq",
    "dmq_usrloc",
    "dnssec",
    "domain",
    "domainpolicy",
    "drouting",
    "enum",
    "erlang",
    "evapi",
    "evrexec",
    "exec",
    "file_out",
    "gcrypt",
    "geoip",
    "geoip2",
    "group",
    "gzcompress",
    "h350",
    "htable",
    "http_async_client",
    "http_client",
    "imc",
    "ims_auth",
    "ims_charging",
    "ims_dialog",
    "ims_diameter_server",
    "ims_icscf",
    "ims_ipsec_pcscf",
    "ims_isc",
    "ims_ocs",
    "ims_qos",
    "ims_qos_npn",
    "ims_registrar_pcscf",
    "ims_registrar_scscf",
    "ims_usrloc_pcscf",
    "ims_usrloc_scscf",
    "influxdbc",
    "ipops",
    "jansson",
    "janssonrpcc",
    "json",
    "jsonrpcc",
    "jsonrpcs",
    "jwt",
    "kafka",
    "kazoo",
    "keepalive",
    "kemix",
    "kex",
    "lcr",
    "ldap",
    "log_custom",
    "log_systemd",
    "lost",
    "lrkproxy",
    "lwsc",
    "mangler",
    "math",
    "matrix",
    "maxfwd",
    "mediaproxy",
    "memcached",
    "microhttpd",
    "misc_radius",
    "misctest",
    "mohqueue",
    "mqtt",
    "mqueue",
    "msilo",
    "msrp",
    "mtree",
    "nat_traversal",
    "nathelper",
    "nats",
    "ndb_cassandra",
    "ndb_mongodb",
    "ndb_redis",
    "nghttp2",
    "nosip",
    "nsq",
    "outbound",
    "p_usrloc",
    "path",
    "pdb",
    "pdt",
    "peering",
    "permissions",
    "phonenum",
    "pike",
    "pipelimit",
    "posops",
    "prefix_route",
    "presence",
    "presence_conference",
    "presence_dfks",
    "presence_dialoginfo",
    "presence_mwi",
    "presence_profile",
    "presence_reginfo",
    "presence_xml",
    "pua",
    "pua_bla",
    "pua_dialoginfo",
    "pua_json",
    "pua_reginfo",
    "pua_rpc",
    "pua_usrloc",
    "pua_xmpp",
    "pv",
    "pv_headers",
    "pvtpl",
    "qos",
    "rabbitmq",
    "ratelimit",
    "regex",
    "registrar",
    "rls",
    "rr",
    "rtimer",
    "rtjson",
    "rtp_media_server",
    "rtpengine",
    "rtpproxy",
    "ruxc",
    "sanity",
    "sca",
    "sctp",
    "sdpops",
    "seas",
    "secfilter",
    "secsipid",
    "secsipid_proc",
    "sipcapture",
    "sipdump",
    "sipjson",
    "siprepo",
    "sipt",
    "siptrace",
    "siputils",
    "sl",
    "slack",
    "sms",
    "smsops",
    "snmpstats",
    "speeddial",
    "sqlops",
    "ss7ops",
    "sst",
    "statistics",
    "statsc",
    "statsd",
    "stirshaken",
    "stun",
    "sworker",
    "systemdops",
    "tcpops",
    "textops",
    "textopsx",
    "timer",
    "tls",
    "tls_wolfssl",
    "tlsa",
    "tm",
    "tmrec",
    "tmx",
    "topoh",
    "topos",
    "topos_htable",
    "topos_redis",
    "tsilo",
    "uac",
    "uac_redirect",
    "uid_auth_db",
    "uid_avp_db",
    "uid_domain",
    "uid_gflags",
    "uid_uri_db",
    "uri_db",
    "userblocklist",
    "usrloc",
    "utils",
    "uuid",
    "websocket",
    "xcap_client",
    "xcap_server",
    "xhttp",
    "xhttp_pi",
    "xhttp_prom",
    "xhttp_rpc",
    "xlog",
    "xmlops",
    "xmlrpc",
    "xmpp",
    "xprint",
];

/// The modules ferrosip implements. Empty until the first module lands; each entry must also be in
/// [`KAMAILIO_MODULES`] (a unit test checks it).
pub const IMPLEMENTED_MODULES: &[&str] = &[
    "corex", "kex", "maxfwd", "pv", "rr", "sanity", "siputils", "sl", "textops", "textopsx", "xlog",
];

/// Looks up a module name as a config or the command line spells it.
pub fn status(name: &str) -> ModuleStatus {
    let name = module_name(name);
    if IMPLEMENTED_MODULES.binary_search(&name).is_ok() {
        ModuleStatus::Implemented
    } else if KAMAILIO_MODULES.binary_search(&name).is_ok() {
        ModuleStatus::NotImplemented
    } else {
        ModuleStatus::Unknown
    }
}

/// The bare module name of a `loadmodule` argument: Kamailio accepts `sl`, `sl.so` and a path such as
/// `/usr/lib/kamailio/modules/sl.so`; all three name the module `sl`.
pub fn module_name(arg: &str) -> &str {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    base.strip_suffix(".so").unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_are_sorted_and_consistent() {
        assert!(KAMAILIO_MODULES.windows(2).all(|w| w[0] < w[1]));
        assert!(IMPLEMENTED_MODULES.windows(2).all(|w| w[0] < w[1]));
        for m in IMPLEMENTED_MODULES {
            assert!(KAMAILIO_MODULES.contains(m), "{m} is not a Kamailio module");
        }
        // Spot checks that the list is the 6.0 one: `sl`, `tm` exist; `mi_fifo` was removed in 5.0.
        assert_eq!(KAMAILIO_MODULES.len(), 254);
    }

    #[test]
    fn status_and_names() {
        let cases = [
            ("sl", ModuleStatus::Implemented),
            ("sl.so", ModuleStatus::Implemented),
            (
                "/usr/lib/x86_64-linux-gnu/kamailio/modules/tm.so",
                ModuleStatus::NotImplemented,
            ),
            ("xlog", ModuleStatus::Implemented),
            ("mi_fifo", ModuleStatus::Unknown),
            ("nosuchmod.so", ModuleStatus::Unknown),
            ("", ModuleStatus::Unknown),
            ("SL", ModuleStatus::Unknown),
        ];
        for (name, want) in cases {
            assert_eq!(status(name), want, "{name}");
        }
    }
}

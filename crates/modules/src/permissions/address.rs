//! The cached `address` table: rows split, as Kamailio splits them, into exact addresses (a full
//! mask), subnets and DNS names, and the lookups of `allow_address`, `allow_source_address`,
//! `allow_address_group` and `allow_source_address_group`.
//!
//! Order matters where several rows match, because the matching row's group and tag are what the
//! script sees. Kamailio prepends each exact address and each name to its hash bucket (the row
//! loaded last is found first) and keeps subnets sorted by group, rows of one group in load order;
//! the lookups here walk the rows in those same orders.

use std::collections::HashMap;
use std::net::IpAddr;

use ferrosip_api::export::RpcValue;
use ferrosip_api::Value;
use ferrosip_db::Value as DbValue;

/// One `address` row as loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Row {
    pub grp: u32,
    pub ip: String,
    pub mask: u32,
    pub port: u32,
    pub tag: Option<String>,
}

/// Why a row was refused (the whole reload fails, as in Kamailio).
pub(super) type RowError = String;

/// Kamailio's address file: per line `group address [mask [port [tag]]]`, blank-separated, `#`
/// to the end of the line a comment. Numbers are read as Kamailio reads them (leading digits,
/// wrapping; none gives 0), an address without a mask is a full mask.
pub(super) fn parse_file(text: &[u8]) -> Vec<Row> {
    let mut rows = Vec::new();
    for line in text.split(|b| *b == b'\n') {
        let mut p = Cursor { s: line, i: 0 };
        p.skip_ws();
        if p.eod() {
            continue;
        }
        let grp = p.num();
        p.skip_ws();
        if p.eod() {
            // A group without an address: Kamailio stops reading the file (an error).
            break;
        }
        let ip = p.token();
        let mut row = Row {
            grp,
            ip,
            mask: 0,
            port: 0,
            tag: None,
        };
        p.skip_ws();
        if !p.eod() {
            row.mask = p.num();
            p.skip_ws();
            if !p.eod() {
                row.port = p.num();
                p.skip_ws();
                if !p.eod() {
                    row.tag = Some(p.token());
                }
            }
        }
        rows.push(row);
    }
    rows
}

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    /// End of data: end of line or a comment.
    fn eod(&self) -> bool {
        matches!(self.peek(), None | Some(b'#'))
    }

    fn num(&mut self) -> u32 {
        let mut v: u32 = 0;
        while let Some(d @ b'0'..=b'9') = self.peek() {
            v = v.wrapping_mul(10).wrapping_add(u32::from(d - b'0'));
            self.i += 1;
        }
        v
    }

    fn token(&mut self) -> String {
        let start = self.i;
        while !matches!(
            self.peek(),
            None | Some(b' ' | b'\t' | b'\r' | b'\n' | b'#')
        ) {
            self.i += 1;
        }
        String::from_utf8_lossy(self.s.get(start..self.i).unwrap_or_default()).into_owned()
    }
}

/// Reads one result row (columns grp, ip_addr, mask, port, tag), checked as Kamailio checks it.
pub(super) fn row_of(vals: &[DbValue]) -> Result<Row, RowError> {
    let [g, ip, mask, port, tag] = vals else {
        return Err(format!("{} columns, expected 5", vals.len()));
    };
    let grp = g
        .as_i64()
        .filter(|g| *g > 0)
        .and_then(|g| u32::try_from(g).ok())
        .ok_or("value 1 (group) must be an integer > 0")?;
    let ip = ip
        .as_str()
        .ok_or("value 2 (IP address) must be a string")?
        .to_string();
    let mask = mask
        .as_i64()
        .and_then(|m| u32::try_from(m).ok())
        .ok_or("value 3 (subnet size/CIDR) must be a non-negative integer")?;
    let port = port
        .as_i64()
        .and_then(|p| u32::try_from(p).ok())
        .ok_or("value 4 (port) must be a non-negative integer")?;
    let tag = match tag {
        DbValue::Null => None,
        DbValue::Str(s) => Some(s.clone()),
        _ => return Err("value 5 (tag) must be a string".into()),
    };
    Ok(Row {
        grp,
        ip,
        mask,
        port,
        tag,
    })
}

#[derive(Debug, Clone)]
struct Entry {
    grp: u32,
    port: u32,
    tag: Option<String>,
}

#[derive(Debug, Clone)]
struct Subnet {
    grp: u32,
    net: IpAddr,
    mask: u32,
    port: u32,
    tag: Option<String>,
}

/// The three in-memory tables of one load.
#[derive(Debug, Default)]
pub(super) struct Tables {
    /// Exact addresses; each list newest first.
    exact: HashMap<IpAddr, Vec<Entry>>,
    /// Exact addresses in load order, for `permissions.addressDump`.
    exact_order: Vec<(IpAddr, Entry)>,
    /// Subnets ordered by group (stable).
    subnets: Vec<Subnet>,
    /// DNS names (compared byte for byte); each list newest first.
    names: HashMap<String, Vec<Entry>>,
    names_order: Vec<(String, Entry)>,
}

/// Kamailio's `strtoipX`: an IPv4 or IPv6 address (IPv6 optionally in brackets).
pub(super) fn parse_ip(s: &str) -> Option<IpAddr> {
    let inner = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    let ip: IpAddr = inner.parse().ok()?;
    // Brackets only around IPv6.
    (inner.len() == s.len() || ip.is_ipv6()).then_some(ip)
}

impl Tables {
    /// Builds the tables from rows in load order. `max_subnets` caps the subnet table: further
    /// subnets are dropped with a log line (Kamailio's "subnet table is full"), not an error.
    pub fn build(rows: &[Row], max_subnets: usize) -> Result<(Tables, Vec<String>), RowError> {
        let mut t = Tables::default();
        let mut warnings = Vec::new();
        for r in rows {
            let entry = Entry {
                grp: r.grp,
                port: r.port,
                tag: r.tag.clone(),
            };
            let Some(ip) = parse_ip(&r.ip) else {
                t.names
                    .entry(r.ip.clone())
                    .or_default()
                    .insert(0, entry.clone());
                t.names_order.push((r.ip.clone(), entry));
                continue;
            };
            let full = if ip.is_ipv4() { 32 } else { 128 };
            if r.mask > full {
                return Err(format!("mask {} out of range for {}", r.mask, r.ip));
            }
            let mask = if r.mask == 0 { full } else { r.mask };
            if mask == full {
                t.exact.entry(ip).or_default().insert(0, entry.clone());
                t.exact_order.push((ip, entry));
            } else if t.subnets.len() >= max_subnets {
                warnings.push(format!("subnet table is full: {}/{} dropped", r.ip, mask));
            } else {
                let at = t.subnets.partition_point(|s| s.grp <= r.grp);
                t.subnets.insert(
                    at,
                    Subnet {
                        grp: r.grp,
                        net: ip,
                        mask,
                        port: r.port,
                        tag: r.tag.clone(),
                    },
                );
            }
        }
        Ok((t, warnings))
    }

    /// `allow_address` for an IP: exact table, then subnets of `grp`. The tag of the match.
    pub fn match_ip(&self, grp: u32, ip: IpAddr, port: u32) -> Option<Option<&str>> {
        let exact = self.exact.get(&ip).and_then(|l| {
            l.iter()
                .find(|e| e.grp == grp && port_ok(e.port, port))
                .map(|e| e.tag.as_deref())
        });
        exact.or_else(|| {
            self.subnets
                .iter()
                .skip_while(|s| s.grp < grp)
                .take_while(|s| s.grp == grp)
                .find(|s| port_ok(s.port, port) && in_net(ip, s.net, s.mask))
                .map(|s| s.tag.as_deref())
        })
    }

    /// `allow_address` for a name (no DNS lookup: the text is compared).
    pub fn match_name(&self, grp: u32, name: &str, port: u32) -> Option<Option<&str>> {
        self.names.get(name).and_then(|l| {
            l.iter()
                .find(|e| e.grp == grp && port_ok(e.port, port))
                .map(|e| e.tag.as_deref())
        })
    }

    /// `allow_address_group` for an IP: the first group found, and its tag.
    pub fn group_of_ip(&self, ip: IpAddr, port: u32) -> Option<(u32, Option<&str>)> {
        let exact = self.exact.get(&ip).and_then(|l| {
            l.iter()
                .find(|e| port_ok(e.port, port))
                .map(|e| (e.grp, e.tag.as_deref()))
        });
        exact.or_else(|| {
            self.subnets
                .iter()
                .find(|s| port_ok(s.port, port) && in_net(ip, s.net, s.mask))
                .map(|s| (s.grp, s.tag.as_deref()))
        })
    }

    /// `allow_address_group` for a name. Kamailio sets no tag here.
    pub fn group_of_name(&self, name: &str, port: u32) -> Option<u32> {
        self.names
            .get(name)
            .and_then(|l| l.iter().find(|e| port_ok(e.port, port)).map(|e| e.grp))
    }

    /// `permissions.addressDump`: one struct per exact address.
    pub fn dump_exact(&self) -> Vec<RpcValue> {
        self.exact_order
            .iter()
            .enumerate()
            .map(|(i, (ip, e))| {
                entry_struct(
                    ("table", i),
                    e.grp,
                    vec![
                        ("ip".into(), RpcValue::Str(ip.to_string())),
                        ("port".into(), RpcValue::Int(i64::from(e.port))),
                        ("tag".into(), tag_or(&e.tag, "NULL")),
                    ],
                )
            })
            .collect()
    }

    /// `permissions.subnetDump`: one struct per subnet, in table order.
    pub fn dump_subnets(&self) -> Vec<RpcValue> {
        self.subnets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                entry_struct(
                    ("id", i),
                    s.grp,
                    vec![
                        ("ip".into(), RpcValue::Str(s.net.to_string())),
                        ("mask".into(), RpcValue::Int(i64::from(s.mask))),
                        ("port".into(), RpcValue::Int(i64::from(s.port))),
                        ("tag".into(), tag_or(&s.tag, "")),
                    ],
                )
            })
            .collect()
    }

    /// `permissions.domainDump`: one struct whose members repeat (Kamailio adds every entry to
    /// the same struct).
    pub fn dump_names(&self) -> RpcValue {
        let mut members = Vec::new();
        for (i, (name, e)) in self.names_order.iter().enumerate() {
            members.push(("table".into(), RpcValue::Int(i as i64)));
            members.push(("group".into(), RpcValue::Int(i64::from(e.grp))));
            members.push((
                "item".into(),
                RpcValue::Struct(vec![
                    ("domain_name".into(), RpcValue::Str(name.clone())),
                    ("port".into(), RpcValue::Int(i64::from(e.port))),
                    ("tag".into(), tag_or(&e.tag, "NULL")),
                ]),
            ));
        }
        RpcValue::Struct(members)
    }
}

fn entry_struct(index: (&str, usize), grp: u32, item: Vec<(String, RpcValue)>) -> RpcValue {
    RpcValue::Struct(vec![
        (index.0.into(), RpcValue::Int(index.1 as i64)),
        ("group".into(), RpcValue::Int(i64::from(grp))),
        ("item".into(), RpcValue::Struct(item)),
    ])
}

fn tag_or(tag: &Option<String>, none: &str) -> RpcValue {
    RpcValue::Str(tag.clone().unwrap_or_else(|| none.to_string()))
}

/// Port 0 in the table matches any port.
fn port_ok(table: u32, port: u32) -> bool {
    table == 0 || table == port
}

/// The first `mask` bits of `ip` and `net` are equal (families must agree).
pub(super) fn in_net(ip: IpAddr, net: IpAddr, mask: u32) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = if mask == 0 {
                0
            } else {
                u32::MAX << (32 - mask.min(32))
            };
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = if mask == 0 {
                0
            } else {
                u128::MAX << (128 - mask.min(128))
            };
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// A tag as the AVP value Kamailio adds.
pub(super) fn tag_value(tag: &str) -> Value {
    Value::Str(tag.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(grp: u32, ip: &str, mask: u32, port: u32, tag: Option<&str>) -> Row {
        Row {
            grp,
            ip: ip.into(),
            mask,
            port,
            tag: tag.map(str::to_string),
        }
    }

    fn ip(s: &str) -> IpAddr {
        parse_ip(s).unwrap_or_else(|| panic!("{s}"))
    }

    #[test]
    fn parse_ip_forms() {
        let cases = [
            ("10.0.0.1", true),
            ("::1", true),
            ("[2001:db8::1]", true),
            ("[10.0.0.1]", false),
            ("gw.example.com", false),
            ("10.0.0", false),
            ("", false),
        ];
        for (s, ok) in cases {
            assert_eq!(parse_ip(s).is_some(), ok, "{s}");
        }
    }

    #[test]
    fn matching_rules() {
        let rows = [
            row(1, "10.0.0.1", 32, 0, Some("exact-any-port")),
            row(1, "10.0.0.2", 0, 5060, None),
            row(2, "10.0.0.1", 32, 5070, Some("later-row")),
            row(1, "192.168.0.0", 16, 0, Some("lan")),
            row(3, "192.168.1.0", 24, 5080, Some("g3")),
            row(1, "gw.example.com", 0, 0, Some("gw")),
            row(4, "2001:db8::", 32, 0, None),
        ];
        let (t, w) = Tables::build(&rows, 512).unwrap_or_else(|e| panic!("{e}"));
        assert!(w.is_empty());
        type Case = (u32, &'static str, u32, Option<Option<&'static str>>);
        let cases: [Case; 10] = [
            (1, "10.0.0.1", 1234, Some(Some("exact-any-port"))),
            (2, "10.0.0.1", 5070, Some(Some("later-row"))),
            (2, "10.0.0.1", 5060, None),
            (1, "10.0.0.2", 5060, Some(None)),
            (1, "10.0.0.2", 5061, None),
            (1, "192.168.7.9", 1, Some(Some("lan"))),
            (3, "192.168.1.9", 5080, Some(Some("g3"))),
            (3, "192.168.1.9", 5081, None),
            (4, "2001:db8:1::5", 9, Some(None)),
            (4, "2001:db9::5", 9, None),
        ];
        for (g, a, p, want) in cases {
            assert_eq!(t.match_ip(g, ip(a), p), want, "{g} {a}:{p}");
        }
        assert_eq!(t.match_name(1, "gw.example.com", 1), Some(Some("gw")));
        assert_eq!(t.match_name(2, "gw.example.com", 1), None);
        assert_eq!(
            t.match_name(1, "GW.example.com", 1),
            None,
            "names are case-sensitive"
        );
        // Group lookups: the row loaded last is found first among exact addresses.
        assert_eq!(
            t.group_of_ip(ip("10.0.0.1"), 5070),
            Some((2, Some("later-row")))
        );
        assert_eq!(t.group_of_ip(ip("10.0.0.1"), 5071).map(|g| g.0), Some(1));
        assert_eq!(t.group_of_ip(ip("192.168.1.1"), 5080).map(|g| g.0), Some(1));
        assert_eq!(t.group_of_ip(ip("172.16.0.1"), 5080), None);
        assert_eq!(t.group_of_name("gw.example.com", 7), Some(1));
    }

    #[test]
    fn subnets_sorted_by_group_and_capped() {
        let rows = [
            row(3, "10.3.0.0", 16, 0, None),
            row(1, "10.1.0.0", 16, 0, None),
            row(3, "10.0.0.0", 8, 0, None),
            row(2, "10.2.0.0", 16, 0, None),
        ];
        let (t, _) = Tables::build(&rows, 512).unwrap_or_else(|e| panic!("{e}"));
        let order: Vec<String> = t.subnets.iter().map(|s| s.net.to_string()).collect();
        assert_eq!(order, ["10.1.0.0", "10.2.0.0", "10.3.0.0", "10.0.0.0"]);
        // Any-group lookup takes the lowest group whose subnet matches.
        assert_eq!(t.group_of_ip(ip("10.3.1.1"), 1).map(|g| g.0), Some(3));
        let (t, w) = Tables::build(&rows, 2).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.subnets.len(), 2);
        assert_eq!(w.len(), 2);
    }

    #[test]
    fn bad_rows() {
        assert!(Tables::build(&[row(1, "10.0.0.0", 33, 0, None)], 9).is_err());
        assert!(Tables::build(&[row(1, "::", 129, 0, None)], 9).is_err());
        let bad: [&[DbValue]; 4] = [
            &[
                DbValue::Int(0),
                "1.2.3.4".into(),
                32.into(),
                0.into(),
                DbValue::Null,
            ],
            &[
                DbValue::Int(1),
                DbValue::Null,
                32.into(),
                0.into(),
                DbValue::Null,
            ],
            &[
                DbValue::Int(1),
                "1.2.3.4".into(),
                DbValue::Null,
                0.into(),
                DbValue::Null,
            ],
            &[DbValue::Int(1), "1.2.3.4".into(), 32.into(), 0.into()],
        ];
        for b in bad {
            assert!(row_of(b).is_err(), "{b:?}");
        }
        let ok = row_of(&[
            DbValue::BigInt(7),
            "1.2.3.4".into(),
            32.into(),
            5060.into(),
            "t".into(),
        ]);
        assert_eq!(ok, Ok(row(7, "1.2.3.4", 32, 5060, Some("t"))));
    }

    #[test]
    fn address_file_lines() {
        let text = b"# comment\n\n1 10.0.0.1\n  2\t192.168.0.0 16 5060 tag;x=1 # trailing\n\
3 gw.example.com 0 0#c\nx 10.9.9.9 24\n4 10.0.0.0 8 99999999999\n5\n6 10.6.6.6\n";
        let got = parse_file(text);
        let want = [
            row(1, "10.0.0.1", 0, 0, None),
            row(2, "192.168.0.0", 16, 5060, Some("tag;x=1")),
            row(3, "gw.example.com", 0, 0, None),
            // No group number: 0; each field is read from where the last one stopped.
            row(0, "x", 10, 0, Some(".9.9.9")),
            row(4, "10.0.0.0", 8, 99_999_999_999u64 as u32, None),
        ];
        assert_eq!(got, want, "a line without an address ends the file");
    }

    #[test]
    fn nets() {
        let cases = [
            ("10.1.2.3", "10.0.0.0", 8, true),
            ("11.1.2.3", "10.0.0.0", 8, false),
            ("10.1.2.3", "0.0.0.0", 0, true),
            ("10.1.2.3", "10.1.2.3", 32, true),
            ("::1", "10.0.0.0", 8, false),
            ("2001:db8::1", "2001:db8::", 64, true),
        ];
        for (a, n, m, want) in cases {
            assert_eq!(in_net(ip(a), ip(n), m), want, "{a} {n}/{m}");
        }
    }
}

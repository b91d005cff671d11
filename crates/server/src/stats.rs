//! Core statistics with Kamailio's counter names (`core:` group of `kamcmd stats.get_statistics`):
//! the totals of the receive and forward paths and kex's per-method and per-class counters
//! (`rcv_requests_invite`, `rcv_replies_4xx`, `rcv_replies_486`, `rcv_replies_2xx_reg` …), as
//! Kamailio 6.0 registers them.
//!
//! Relaxed atomics: counters, not synchronisation. Counting a message is a couple of atomic adds
//! at fixed places, the place found by matching the already parsed method and status code — no
//! name and no map on the hot path. Names are looked up only when a statistic is read.

use std::sync::atomic::{AtomicU64, Ordering};

use ferrosip_sipmsg::Method;

/// Methods with a `rcv_requests_<name>` counter, in Kamailio's order.
const REQUEST_METHODS: [(Method, &str); 14] = [
    (Method::Invite, "rcv_requests_invite"),
    (Method::Cancel, "rcv_requests_cancel"),
    (Method::Ack, "rcv_requests_ack"),
    (Method::Bye, "rcv_requests_bye"),
    (Method::Info, "rcv_requests_info"),
    (Method::Register, "rcv_requests_register"),
    (Method::Subscribe, "rcv_requests_subscribe"),
    (Method::Notify, "rcv_requests_notify"),
    (Method::Message, "rcv_requests_message"),
    (Method::Options, "rcv_requests_options"),
    (Method::Prack, "rcv_requests_prack"),
    (Method::Update, "rcv_requests_update"),
    (Method::Refer, "rcv_requests_refer"),
    (Method::Publish, "rcv_requests_publish"),
];

/// `rcv_replies_1xx` … `rcv_replies_6xx`.
const REPLY_CLASSES: [&str; 6] = [
    "rcv_replies_1xx",
    "rcv_replies_2xx",
    "rcv_replies_3xx",
    "rcv_replies_4xx",
    "rcv_replies_5xx",
    "rcv_replies_6xx",
];

/// The 4xx codes with a counter of their own (Kamailio 6.0; 5.6 had 401, 404, 407, 480, 486).
const REPLY_CODES: [(u16, &str); 28] = [
    (400, "rcv_replies_400"),
    (401, "rcv_replies_401"),
    (402, "rcv_replies_402"),
    (403, "rcv_replies_403"),
    (404, "rcv_replies_404"),
    (405, "rcv_replies_405"),
    (406, "rcv_replies_406"),
    (407, "rcv_replies_407"),
    (408, "rcv_replies_408"),
    (409, "rcv_replies_409"),
    (410, "rcv_replies_410"),
    (411, "rcv_replies_411"),
    (413, "rcv_replies_413"),
    (414, "rcv_replies_414"),
    (415, "rcv_replies_415"),
    (420, "rcv_replies_420"),
    (480, "rcv_replies_480"),
    (481, "rcv_replies_481"),
    (482, "rcv_replies_482"),
    (483, "rcv_replies_483"),
    (484, "rcv_replies_484"),
    (485, "rcv_replies_485"),
    (486, "rcv_replies_486"),
    (487, "rcv_replies_487"),
    (488, "rcv_replies_488"),
    (489, "rcv_replies_489"),
    (491, "rcv_replies_491"),
    (493, "rcv_replies_493"),
];

/// `rcv_replies_<class>xx_<method>`, indexed `[method][class - 1]`: the CSeq methods with
/// per-class reply counters, in [`reply_method_index`] order (REGISTER is `reg`).
const REPLY_METHOD_NAMES: [[&str; 6]; 8] = [
    [
        "rcv_replies_1xx_invite",
        "rcv_replies_2xx_invite",
        "rcv_replies_3xx_invite",
        "rcv_replies_4xx_invite",
        "rcv_replies_5xx_invite",
        "rcv_replies_6xx_invite",
    ],
    [
        "rcv_replies_1xx_cancel",
        "rcv_replies_2xx_cancel",
        "rcv_replies_3xx_cancel",
        "rcv_replies_4xx_cancel",
        "rcv_replies_5xx_cancel",
        "rcv_replies_6xx_cancel",
    ],
    [
        "rcv_replies_1xx_bye",
        "rcv_replies_2xx_bye",
        "rcv_replies_3xx_bye",
        "rcv_replies_4xx_bye",
        "rcv_replies_5xx_bye",
        "rcv_replies_6xx_bye",
    ],
    [
        "rcv_replies_1xx_reg",
        "rcv_replies_2xx_reg",
        "rcv_replies_3xx_reg",
        "rcv_replies_4xx_reg",
        "rcv_replies_5xx_reg",
        "rcv_replies_6xx_reg",
    ],
    [
        "rcv_replies_1xx_message",
        "rcv_replies_2xx_message",
        "rcv_replies_3xx_message",
        "rcv_replies_4xx_message",
        "rcv_replies_5xx_message",
        "rcv_replies_6xx_message",
    ],
    [
        "rcv_replies_1xx_prack",
        "rcv_replies_2xx_prack",
        "rcv_replies_3xx_prack",
        "rcv_replies_4xx_prack",
        "rcv_replies_5xx_prack",
        "rcv_replies_6xx_prack",
    ],
    [
        "rcv_replies_1xx_update",
        "rcv_replies_2xx_update",
        "rcv_replies_3xx_update",
        "rcv_replies_4xx_update",
        "rcv_replies_5xx_update",
        "rcv_replies_6xx_update",
    ],
    [
        "rcv_replies_1xx_refer",
        "rcv_replies_2xx_refer",
        "rcv_replies_3xx_refer",
        "rcv_replies_4xx_refer",
        "rcv_replies_5xx_refer",
        "rcv_replies_6xx_refer",
    ],
];

/// The core counters the receive and forward paths keep.
#[derive(Debug, Default)]
pub struct CoreStats {
    pub rcv_requests: AtomicU64,
    pub rcv_replies: AtomicU64,
    pub fwd_requests: AtomicU64,
    pub fwd_replies: AtomicU64,
    pub drop_requests: AtomicU64,
    pub drop_replies: AtomicU64,
    pub err_requests: AtomicU64,
    pub err_replies: AtomicU64,
    /// Messages that could not be parsed (first line, Via) or lacked a mandatory header.
    pub bad_msg_hdr: AtomicU64,
    /// Messages above `msg_recv_max_size`.
    pub too_big: AtomicU64,
    /// `bad_URIs_rcvd`: Kamailio counts every failed URI parse, repeated ones included (each
    /// `$rU` of an unparsable R-URI); ferrosip registers the name and does not count (see
    /// docs/control.md).
    pub bad_uris_rcvd: AtomicU64,
    /// SIP requests whose method Kamailio does not know (`METHOD_OTHER`).
    pub unsupported_methods: AtomicU64,
    /// Per [`REQUEST_METHODS`] entry.
    by_method: [AtomicU64; 14],
    /// Per class, 1xx at 0.
    by_class: [AtomicU64; 6],
    rcv_replies_18x: AtomicU64,
    /// Per [`REPLY_CODES`] entry.
    by_code: [AtomicU64; 28],
    /// `[reply_method_index][class - 1]`.
    by_method_class: [[AtomicU64; 6]; 8],
}

impl CoreStats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// A request handed to the script (kex's pre-script request callback): `rcv_requests`, and
    /// for a SIP request (`method` is `None` for HTTP through xhttp) its method's counter or
    /// `unsupported_methods`. KDMQ/GET/POST/PUT/DELETE count in the total only, as in Kamailio.
    pub fn count_request(&self, method: Option<Method>) {
        Self::inc(&self.rcv_requests);
        let Some(m) = method else { return };
        if m == Method::Other {
            Self::inc(&self.unsupported_methods);
        } else if let Some(i) = request_index(m) {
            Self::inc(&self.by_method[i]);
        }
    }

    /// A received reply (kex's pre-script reply callbacks): `rcv_replies`, the class counters for
    /// codes 100..=699 (`18x` and the listed 4xx codes too) and, for the CSeq methods that have
    /// them, the per-class-per-method counter. `cseq` is `None` when the CSeq does not parse.
    pub fn count_reply(&self, status: u16, cseq: Option<Method>) {
        Self::inc(&self.rcv_replies);
        if !(100..700).contains(&status) {
            return;
        }
        let class = usize::from(status / 100 - 1);
        if let Some(c) = self.by_class.get(class) {
            Self::inc(c);
        }
        if (180..190).contains(&status) {
            Self::inc(&self.rcv_replies_18x);
        }
        if let Some(c) = code_index(status).and_then(|i| self.by_code.get(i)) {
            Self::inc(c);
        }
        if let Some(c) = cseq
            .and_then(reply_method_index)
            .and_then(|i| self.by_method_class.get(i))
            .and_then(|row| row.get(class))
        {
            Self::inc(c);
        }
    }

    /// The counter called `name` (Kamailio's name), for the statistics registry.
    pub fn counter(&self, name: &str) -> Option<&AtomicU64> {
        if let Some(rest) = name.strip_prefix("rcv_replies_") {
            return self.reply_counter(rest, name);
        }
        if let Some(i) = REQUEST_METHODS.iter().position(|(_, n)| *n == name) {
            return self.by_method.get(i);
        }
        Some(match name {
            "rcv_requests" => &self.rcv_requests,
            "rcv_replies" => &self.rcv_replies,
            "fwd_requests" => &self.fwd_requests,
            "fwd_replies" => &self.fwd_replies,
            "drop_requests" => &self.drop_requests,
            "drop_replies" => &self.drop_replies,
            "err_requests" => &self.err_requests,
            "err_replies" => &self.err_replies,
            "bad_URIs_rcvd" => &self.bad_uris_rcvd,
            "unsupported_methods" => &self.unsupported_methods,
            "bad_msg_hdr" => &self.bad_msg_hdr,
            "too_big" => &self.too_big,
            _ => return None,
        })
    }

    fn reply_counter(&self, rest: &str, name: &str) -> Option<&AtomicU64> {
        if rest == "18x" {
            return Some(&self.rcv_replies_18x);
        }
        if let Some(i) = REPLY_CLASSES.iter().position(|n| *n == name) {
            return self.by_class.get(i);
        }
        if let Some(i) = REPLY_CODES.iter().position(|(_, n)| *n == name) {
            return self.by_code.get(i);
        }
        REPLY_METHOD_NAMES.iter().enumerate().find_map(|(m, row)| {
            let c = row.iter().position(|n| *n == name)?;
            self.by_method_class.get(m)?.get(c)
        })
    }

    /// Every counter name, Kamailio's order of registration (the registry sorts them).
    pub fn names() -> Vec<&'static str> {
        let mut v = vec!["rcv_requests"];
        v.extend(REQUEST_METHODS.iter().map(|(_, n)| *n));
        v.push("rcv_replies");
        v.extend(REPLY_CLASSES.iter().take(1));
        v.push("rcv_replies_18x");
        v.extend(REPLY_CLASSES.iter().skip(1).take(3));
        v.extend(REPLY_CODES.iter().map(|(_, n)| *n));
        v.extend(REPLY_CLASSES.iter().skip(4));
        v.extend([
            "fwd_requests",
            "fwd_replies",
            "drop_requests",
            "drop_replies",
            "err_requests",
            "err_replies",
            "bad_URIs_rcvd",
            "unsupported_methods",
            "bad_msg_hdr",
            "too_big",
        ]);
        v.extend(REPLY_METHOD_NAMES.iter().flatten());
        v
    }

    /// `(name, value)` pairs with Kamailio's names, in [`CoreStats::names`] order.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Self::names()
            .into_iter()
            .map(|n| {
                let v = self.counter(n).map_or(0, |c| c.load(Ordering::Relaxed));
                (n, v)
            })
            .collect()
    }
}

/// Index into [`REQUEST_METHODS`]; a `match` the compiler turns into a jump table.
fn request_index(m: Method) -> Option<usize> {
    Some(match m {
        Method::Invite => 0,
        Method::Cancel => 1,
        Method::Ack => 2,
        Method::Bye => 3,
        Method::Info => 4,
        Method::Register => 5,
        Method::Subscribe => 6,
        Method::Notify => 7,
        Method::Message => 8,
        Method::Options => 9,
        Method::Prack => 10,
        Method::Update => 11,
        Method::Refer => 12,
        Method::Publish => 13,
        _ => return None,
    })
}

/// Index into [`REPLY_CODES`].
fn code_index(status: u16) -> Option<usize> {
    Some(match status {
        400 => 0,
        401 => 1,
        402 => 2,
        403 => 3,
        404 => 4,
        405 => 5,
        406 => 6,
        407 => 7,
        408 => 8,
        409 => 9,
        410 => 10,
        411 => 11,
        413 => 12,
        414 => 13,
        415 => 14,
        420 => 15,
        480 => 16,
        481 => 17,
        482 => 18,
        483 => 19,
        484 => 20,
        485 => 21,
        486 => 22,
        487 => 23,
        488 => 24,
        489 => 25,
        491 => 26,
        493 => 27,
        _ => return None,
    })
}

/// Index into [`REPLY_METHOD_NAMES`].
fn reply_method_index(m: Method) -> Option<usize> {
    Some(match m {
        Method::Invite => 0,
        Method::Cancel => 1,
        Method::Bye => 2,
        Method::Register => 3,
        Method::Message => 4,
        Method::Prack => 5,
        Method::Update => 6,
        Method::Refer => 7,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn val(s: &CoreStats, name: &str) -> u64 {
        s.counter(name)
            .map_or(u64::MAX, |c| c.load(Ordering::Relaxed))
    }

    const REPLY_METHODS: [(Method, &str); 8] = [
        (Method::Invite, "invite"),
        (Method::Cancel, "cancel"),
        (Method::Bye, "bye"),
        (Method::Register, "reg"),
        (Method::Message, "message"),
        (Method::Prack, "prack"),
        (Method::Update, "update"),
        (Method::Refer, "refer"),
    ];

    #[test]
    fn tables_agree() {
        for (i, (m, n)) in REQUEST_METHODS.iter().enumerate() {
            assert_eq!(request_index(*m), Some(i), "{n}");
        }
        for (i, (c, n)) in REPLY_CODES.iter().enumerate() {
            assert_eq!(code_index(*c), Some(i), "{n}");
            assert_eq!(*n, format!("rcv_replies_{c}"));
        }
        assert_eq!(code_index(412), None);
        for (i, (m, n)) in REPLY_METHODS.iter().enumerate() {
            assert_eq!(reply_method_index(*m), Some(i));
            for (c, name) in REPLY_METHOD_NAMES[i].iter().enumerate() {
                assert_eq!(*name, format!("rcv_replies_{}xx_{n}", c + 1));
            }
        }
        let names = CoreStats::names();
        // Kamailio 6.0's 108 `core:` counters plus ferrosip's `too_big`.
        assert_eq!(names.len(), 109);
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate names");
        let s = CoreStats::default();
        for n in names {
            assert!(s.counter(n).is_some(), "{n}");
        }
        assert!(s.counter("rcv_replies_7xx").is_none());
        assert!(s.counter("rcv_requests_other").is_none());
    }

    #[test]
    fn requests_by_method() {
        let s = CoreStats::default();
        let cases = [
            (Some(Method::Invite), "rcv_requests_invite"),
            (Some(Method::Ack), "rcv_requests_ack"),
            (Some(Method::Publish), "rcv_requests_publish"),
            (Some(Method::Other), "unsupported_methods"),
        ];
        for (m, name) in cases {
            s.count_request(m);
            assert_eq!(val(&s, name), 1, "{name}");
        }
        // KDMQ and HTTP count in the total only.
        s.count_request(Some(Method::Kdmq));
        s.count_request(None);
        assert_eq!(val(&s, "rcv_requests"), 6);
        let per: u64 = s
            .snapshot()
            .iter()
            .filter(|(n, _)| n.starts_with("rcv_requests_") || *n == "unsupported_methods")
            .map(|(_, v)| v)
            .sum();
        assert_eq!(per, 4);
    }

    #[test]
    fn replies_by_class_code_and_method() {
        let s = CoreStats::default();
        let cases: [(u16, Option<Method>, &[&str]); 8] = [
            (
                183,
                Some(Method::Invite),
                &[
                    "rcv_replies_1xx",
                    "rcv_replies_18x",
                    "rcv_replies_1xx_invite",
                ],
            ),
            (100, Some(Method::Options), &["rcv_replies_1xx"]),
            (
                401,
                Some(Method::Register),
                &["rcv_replies_4xx", "rcv_replies_401", "rcv_replies_4xx_reg"],
            ),
            (
                486,
                Some(Method::Bye),
                &["rcv_replies_4xx", "rcv_replies_486", "rcv_replies_4xx_bye"],
            ),
            (
                699,
                Some(Method::Refer),
                &["rcv_replies_6xx", "rcv_replies_6xx_refer"],
            ),
            (
                202,
                Some(Method::Message),
                &["rcv_replies_2xx", "rcv_replies_2xx_message"],
            ),
            (700, Some(Method::Invite), &[]),
            (302, None, &["rcv_replies_3xx"]),
        ];
        for (code, m, names) in cases {
            let before = s.snapshot();
            s.count_reply(code, m);
            let after = s.snapshot();
            let changed: Vec<&str> = before
                .iter()
                .zip(&after)
                .filter(|(b, a)| b.1 != a.1)
                .map(|(_, a)| a.0)
                .filter(|n| *n != "rcv_replies")
                .collect();
            let mut want = names.to_vec();
            want.sort_unstable();
            let mut got = changed.clone();
            got.sort_unstable();
            assert_eq!(got, want, "{code} {m:?}");
        }
        assert_eq!(val(&s, "rcv_replies"), 8);
    }
}

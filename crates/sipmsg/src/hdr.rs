//! Header names: the kinds Kamailio knows (long and compact forms), and name lookup.

use std::fmt;

/// The header fields the parser recognises by name (Kamailio's list in `parse_hname2.c`,
/// including the compact forms). Everything else is [`HeaderKind::Other`]: kept, indexed and
/// forwarded verbatim, never interpreted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderKind {
    /// `Accept`
    Accept,
    /// `Accept-Contact` (compact `a`)
    AcceptContact,
    /// `Accept-Language`
    AcceptLanguage,
    /// `Allow`
    Allow,
    /// `Allow-Events` (compact `u`)
    AllowEvents,
    /// `Authorization`
    Authorization,
    /// `Call-ID` (compact `i`)
    CallId,
    /// `Call-Info`
    CallInfo,
    /// `Contact` (compact `m`)
    Contact,
    /// `Content-Disposition`
    ContentDisposition,
    /// `Content-Encoding` (compact `e`)
    ContentEncoding,
    /// `Content-Length` (compact `l`)
    ContentLength,
    /// `Content-Type` (compact `c`)
    ContentType,
    /// `CSeq`
    CSeq,
    /// `Date`
    Date,
    /// `Diversion`
    Diversion,
    /// `Event` (compact `o`)
    Event,
    /// `Expires`
    Expires,
    /// `From` (compact `f`)
    From,
    /// `Identity` (compact `y`)
    Identity,
    /// `Identity-Info`
    IdentityInfo,
    /// `Max-Forwards`
    MaxForwards,
    /// `Min-Expires`
    MinExpires,
    /// `Min-SE`
    MinSE,
    /// `Organization`
    Organization,
    /// `Path`
    Path,
    /// `Priority`
    Priority,
    /// `Privacy`
    Privacy,
    /// `Proxy-Authenticate`
    ProxyAuthenticate,
    /// `Proxy-Authorization`
    ProxyAuthorization,
    /// `Proxy-Require`
    ProxyRequire,
    /// `P-Preferred-Identity`
    PPreferredIdentity,
    /// `P-Asserted-Identity`
    PAssertedIdentity,
    /// `Reason`
    Reason,
    /// `Record-Route`
    RecordRoute,
    /// `Refer-To` (compact `r`)
    ReferTo,
    /// `Referred-By` (compact `b`)
    ReferredBy,
    /// `Reject-Contact` (compact `j`)
    RejectContact,
    /// `Remote-Party-ID`
    RemotePartyId,
    /// `Request-Disposition` (compact `d`)
    RequestDisposition,
    /// `Require`
    Require,
    /// `Retry-After`
    RetryAfter,
    /// `Route`
    Route,
    /// `Subject` (compact `s`)
    Subject,
    /// `Server`
    Server,
    /// `Session-Expires` (compact `x`)
    SessionExpires,
    /// `SIP-If-Match`
    SipIfMatch,
    /// `Subscription-State`
    SubscriptionState,
    /// `Supported` (compact `k`)
    Supported,
    /// `To` (compact `t`)
    To,
    /// `Unsupported`
    Unsupported,
    /// `User-Agent`
    UserAgent,
    /// `Via` (compact `v`)
    Via,
    /// `WWW-Authenticate`
    WwwAuthenticate,
    /// Any other header name.
    Other,
}

impl HeaderKind {
    /// Every known kind (not `Other`), for table-driven code and tests.
    pub const ALL: &'static [HeaderKind] = &[
        HeaderKind::Accept,
        HeaderKind::AcceptContact,
        HeaderKind::AcceptLanguage,
        HeaderKind::Allow,
        HeaderKind::AllowEvents,
        HeaderKind::Authorization,
        HeaderKind::CallId,
        HeaderKind::CallInfo,
        HeaderKind::Contact,
        HeaderKind::ContentDisposition,
        HeaderKind::ContentEncoding,
        HeaderKind::ContentLength,
        HeaderKind::ContentType,
        HeaderKind::CSeq,
        HeaderKind::Date,
        HeaderKind::Diversion,
        HeaderKind::Event,
        HeaderKind::Expires,
        HeaderKind::From,
        HeaderKind::Identity,
        HeaderKind::IdentityInfo,
        HeaderKind::MaxForwards,
        HeaderKind::MinExpires,
        HeaderKind::MinSE,
        HeaderKind::Organization,
        HeaderKind::Path,
        HeaderKind::Priority,
        HeaderKind::Privacy,
        HeaderKind::ProxyAuthenticate,
        HeaderKind::ProxyAuthorization,
        HeaderKind::ProxyRequire,
        HeaderKind::PPreferredIdentity,
        HeaderKind::PAssertedIdentity,
        HeaderKind::Reason,
        HeaderKind::RecordRoute,
        HeaderKind::ReferTo,
        HeaderKind::ReferredBy,
        HeaderKind::RejectContact,
        HeaderKind::RemotePartyId,
        HeaderKind::RequestDisposition,
        HeaderKind::Require,
        HeaderKind::RetryAfter,
        HeaderKind::Route,
        HeaderKind::Subject,
        HeaderKind::Server,
        HeaderKind::SessionExpires,
        HeaderKind::SipIfMatch,
        HeaderKind::SubscriptionState,
        HeaderKind::Supported,
        HeaderKind::To,
        HeaderKind::Unsupported,
        HeaderKind::UserAgent,
        HeaderKind::Via,
        HeaderKind::WwwAuthenticate,
    ];

    /// The canonical spelling of the header name (Kamailio's), `"Other"` for [`HeaderKind::Other`].
    pub fn name(self) -> &'static str {
        match self {
            HeaderKind::Accept => "Accept",
            HeaderKind::AcceptContact => "Accept-Contact",
            HeaderKind::AcceptLanguage => "Accept-Language",
            HeaderKind::Allow => "Allow",
            HeaderKind::AllowEvents => "Allow-Events",
            HeaderKind::Authorization => "Authorization",
            HeaderKind::CallId => "Call-ID",
            HeaderKind::CallInfo => "Call-Info",
            HeaderKind::Contact => "Contact",
            HeaderKind::ContentDisposition => "Content-Disposition",
            HeaderKind::ContentEncoding => "Content-Encoding",
            HeaderKind::ContentLength => "Content-Length",
            HeaderKind::ContentType => "Content-Type",
            HeaderKind::CSeq => "CSeq",
            HeaderKind::Date => "Date",
            HeaderKind::Diversion => "Diversion",
            HeaderKind::Event => "Event",
            HeaderKind::Expires => "Expires",
            HeaderKind::From => "From",
            HeaderKind::Identity => "Identity",
            HeaderKind::IdentityInfo => "Identity-Info",
            HeaderKind::MaxForwards => "Max-Forwards",
            HeaderKind::MinExpires => "Min-Expires",
            HeaderKind::MinSE => "Min-SE",
            HeaderKind::Organization => "Organization",
            HeaderKind::Path => "Path",
            HeaderKind::Priority => "Priority",
            HeaderKind::Privacy => "Privacy",
            HeaderKind::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderKind::ProxyAuthorization => "Proxy-Authorization",
            HeaderKind::ProxyRequire => "Proxy-Require",
            HeaderKind::PPreferredIdentity => "P-Preferred-Identity",
            HeaderKind::PAssertedIdentity => "P-Asserted-Identity",
            HeaderKind::Reason => "Reason",
            HeaderKind::RecordRoute => "Record-Route",
            HeaderKind::ReferTo => "Refer-To",
            HeaderKind::ReferredBy => "Referred-By",
            HeaderKind::RejectContact => "Reject-Contact",
            HeaderKind::RemotePartyId => "Remote-Party-ID",
            HeaderKind::RequestDisposition => "Request-Disposition",
            HeaderKind::Require => "Require",
            HeaderKind::RetryAfter => "Retry-After",
            HeaderKind::Route => "Route",
            HeaderKind::Subject => "Subject",
            HeaderKind::Server => "Server",
            HeaderKind::SessionExpires => "Session-Expires",
            HeaderKind::SipIfMatch => "SIP-If-Match",
            HeaderKind::SubscriptionState => "Subscription-State",
            HeaderKind::Supported => "Supported",
            HeaderKind::To => "To",
            HeaderKind::Unsupported => "Unsupported",
            HeaderKind::UserAgent => "User-Agent",
            HeaderKind::Via => "Via",
            HeaderKind::WwwAuthenticate => "WWW-Authenticate",
            HeaderKind::Other => "Other",
        }
    }

    /// The compact form, if the header has one.
    pub fn compact(self) -> Option<u8> {
        match self {
            HeaderKind::AcceptContact => Some(b'a'),
            HeaderKind::AllowEvents => Some(b'u'),
            HeaderKind::CallId => Some(b'i'),
            HeaderKind::Contact => Some(b'm'),
            HeaderKind::ContentEncoding => Some(b'e'),
            HeaderKind::ContentLength => Some(b'l'),
            HeaderKind::ContentType => Some(b'c'),
            HeaderKind::Event => Some(b'o'),
            HeaderKind::From => Some(b'f'),
            HeaderKind::Identity => Some(b'y'),
            HeaderKind::ReferTo => Some(b'r'),
            HeaderKind::ReferredBy => Some(b'b'),
            HeaderKind::RejectContact => Some(b'j'),
            HeaderKind::RequestDisposition => Some(b'd'),
            HeaderKind::Subject => Some(b's'),
            HeaderKind::SessionExpires => Some(b'x'),
            HeaderKind::Supported => Some(b'k'),
            HeaderKind::To => Some(b't'),
            HeaderKind::Via => Some(b'v'),
            _ => None,
        }
    }

    /// Looks a header name up, ASCII case-insensitively, in long and compact form.
    ///
    /// This runs for every header of every message: a compact name is one table load, a
    /// long one a perfect hash of (first byte, last byte, length) and one word-wise
    /// comparison with the only candidate.
    #[inline]
    pub fn from_name(name: &[u8]) -> HeaderKind {
        let (Some(&first), Some(&last)) = (name.first(), name.last()) else {
            return HeaderKind::Other;
        };
        if name.len() == 1 {
            return COMPACT[usize::from(first)];
        }
        let slot = LONG_SLOT[name_hash(first, last, name.len())];
        match LONG.get(usize::from(slot)) {
            Some(e) if usize::from(e.len) == name.len() && eq_lower_padded(name, &e.lower) => {
                e.kind
            }
            _ => HeaderKind::Other,
        }
    }
}

/// A long header name of the lookup table: lowercase, zero-padded.
struct LongName {
    lower: [u8; NAME_PAD],
    len: u8,
    kind: HeaderKind,
}

/// Room for the longest known name (`p-preferred-identity`, 20 bytes) and the word-wise
/// comparison's reads.
const NAME_PAD: usize = 24;

/// The long names, lowercase (`HeaderKind::name` spells them as Kamailio does).
const LONG_NAMES: &[(&str, HeaderKind)] = &[
    ("accept", HeaderKind::Accept),
    ("accept-contact", HeaderKind::AcceptContact),
    ("accept-language", HeaderKind::AcceptLanguage),
    ("allow", HeaderKind::Allow),
    ("allow-events", HeaderKind::AllowEvents),
    ("authorization", HeaderKind::Authorization),
    ("call-id", HeaderKind::CallId),
    ("call-info", HeaderKind::CallInfo),
    ("contact", HeaderKind::Contact),
    ("content-disposition", HeaderKind::ContentDisposition),
    ("content-encoding", HeaderKind::ContentEncoding),
    ("content-length", HeaderKind::ContentLength),
    ("content-type", HeaderKind::ContentType),
    ("cseq", HeaderKind::CSeq),
    ("date", HeaderKind::Date),
    ("diversion", HeaderKind::Diversion),
    ("event", HeaderKind::Event),
    ("expires", HeaderKind::Expires),
    ("from", HeaderKind::From),
    ("identity", HeaderKind::Identity),
    ("identity-info", HeaderKind::IdentityInfo),
    ("max-forwards", HeaderKind::MaxForwards),
    ("min-expires", HeaderKind::MinExpires),
    ("min-se", HeaderKind::MinSE),
    ("organization", HeaderKind::Organization),
    ("path", HeaderKind::Path),
    ("priority", HeaderKind::Priority),
    ("privacy", HeaderKind::Privacy),
    ("proxy-authenticate", HeaderKind::ProxyAuthenticate),
    ("proxy-authorization", HeaderKind::ProxyAuthorization),
    ("proxy-require", HeaderKind::ProxyRequire),
    ("p-preferred-identity", HeaderKind::PPreferredIdentity),
    ("p-asserted-identity", HeaderKind::PAssertedIdentity),
    ("reason", HeaderKind::Reason),
    ("record-route", HeaderKind::RecordRoute),
    ("refer-to", HeaderKind::ReferTo),
    ("referred-by", HeaderKind::ReferredBy),
    ("reject-contact", HeaderKind::RejectContact),
    ("remote-party-id", HeaderKind::RemotePartyId),
    ("request-disposition", HeaderKind::RequestDisposition),
    ("require", HeaderKind::Require),
    ("retry-after", HeaderKind::RetryAfter),
    ("route", HeaderKind::Route),
    ("subject", HeaderKind::Subject),
    ("server", HeaderKind::Server),
    ("session-expires", HeaderKind::SessionExpires),
    ("sip-if-match", HeaderKind::SipIfMatch),
    ("subscription-state", HeaderKind::SubscriptionState),
    ("supported", HeaderKind::Supported),
    ("to", HeaderKind::To),
    ("unsupported", HeaderKind::Unsupported),
    ("user-agent", HeaderKind::UserAgent),
    ("via", HeaderKind::Via),
    ("www-authenticate", HeaderKind::WwwAuthenticate),
];

/// Multiplier of [`name_hash`]: found by trying random odd constants until the 54 long
/// names fell into distinct slots of 128 (checked when the table is built: a collision
/// fails compilation).
const HASH_MUL: u32 = 0x2a63_a32b;
const HASH_BITS: u32 = 7;

/// Slot of a name in [`LONG_SLOT`], from its first and last byte (ASCII-lowercased) and
/// its length. Names that are not in the table may land anywhere; the comparison decides.
#[inline]
const fn name_hash(first: u8, last: u8, len: usize) -> usize {
    let key = (first | 0x20) as u32 | (((last | 0x20) as u32) << 8) | ((len as u32 & 0xff) << 16);
    (key.wrapping_mul(HASH_MUL) >> (32 - HASH_BITS)) as usize
}

/// [`LONG_NAMES`] as padded entries.
static LONG: [LongName; LONG_NAMES.len()] = {
    const EMPTY: LongName = LongName {
        lower: [0; NAME_PAD],
        len: 0,
        kind: HeaderKind::Other,
    };
    let mut t = [EMPTY; LONG_NAMES.len()];
    let mut i = 0;
    while i < LONG_NAMES.len() {
        let (name, kind) = LONG_NAMES[i];
        let b = name.as_bytes();
        assert!(b.len() >= 2 && b.len() <= 20);
        let mut j = 0;
        while j < b.len() {
            t[i].lower[j] = b[j];
            j += 1;
        }
        t[i].len = b.len() as u8;
        t[i].kind = kind;
        i += 1;
    }
    t
};

/// Hash slot → index into [`LONG`] (`u8::MAX`: no known name hashes there).
static LONG_SLOT: [u8; 1 << HASH_BITS] = {
    let mut t = [u8::MAX; 1 << HASH_BITS];
    let mut i = 0;
    while i < LONG_NAMES.len() {
        let b = LONG_NAMES[i].0.as_bytes();
        let h = name_hash(b[0], b[b.len() - 1], b.len());
        assert!(
            t[h] == u8::MAX,
            "HASH_MUL no longer separates the long names"
        );
        t[h] = i as u8;
        i += 1;
    }
    t
};

/// Compact form (one byte, any case) → kind.
static COMPACT: [HeaderKind; 256] = {
    let mut t = [HeaderKind::Other; 256];
    let pairs: [(u8, HeaderKind); 19] = [
        (b'a', HeaderKind::AcceptContact),
        (b'u', HeaderKind::AllowEvents),
        (b'i', HeaderKind::CallId),
        (b'm', HeaderKind::Contact),
        (b'e', HeaderKind::ContentEncoding),
        (b'l', HeaderKind::ContentLength),
        (b'c', HeaderKind::ContentType),
        (b'o', HeaderKind::Event),
        (b'f', HeaderKind::From),
        (b'y', HeaderKind::Identity),
        (b'r', HeaderKind::ReferTo),
        (b'b', HeaderKind::ReferredBy),
        (b'j', HeaderKind::RejectContact),
        (b'd', HeaderKind::RequestDisposition),
        (b's', HeaderKind::Subject),
        (b'x', HeaderKind::SessionExpires),
        (b'k', HeaderKind::Supported),
        (b't', HeaderKind::To),
        (b'v', HeaderKind::Via),
    ];
    let mut i = 0;
    while i < pairs.len() {
        let (c, k) = pairs[i];
        t[c as usize] = k;
        t[c.to_ascii_uppercase() as usize] = k;
        i += 1;
    }
    t
};

/// Compares a header name with a lowercase, zero-padded table name of the same length,
/// a machine word at a time (the last word overlaps the previous one).
///
/// OR-ing 0x20 lowercases ASCII letters; the table names hold only letters and `-`, and
/// the only other byte that ORs to `-` is CR, which never occurs in a header name (the
/// index stops names at CR, and `ExtraChars` refuses control characters); no byte ORs to
/// the zero padding. So the comparison is exact.
#[inline]
fn eq_lower_padded(name: &[u8], lower: &[u8; NAME_PAD]) -> bool {
    #[inline]
    fn word8(b: &[u8], at: usize) -> u64 {
        match b.get(at..at + 8) {
            Some(w) => {
                let mut a = [0u8; 8];
                a.copy_from_slice(w);
                u64::from_le_bytes(a)
            }
            None => 0,
        }
    }
    #[inline]
    fn word4(b: &[u8], at: usize) -> u32 {
        match b.get(at..at + 4) {
            Some(w) => {
                let mut a = [0u8; 4];
                a.copy_from_slice(w);
                u32::from_le_bytes(a)
            }
            None => 0,
        }
    }
    let n = name.len();
    if n >= 8 {
        let mut off = 0;
        while off + 8 < n {
            if word8(name, off) | 0x2020_2020_2020_2020 != word8(lower, off) {
                return false;
            }
            off += 8;
        }
        word8(name, n - 8) | 0x2020_2020_2020_2020 == word8(lower, n - 8)
    } else if n >= 4 {
        word4(name, 0) | 0x2020_2020 == word4(lower, 0)
            && word4(name, n - 4) | 0x2020_2020 == word4(lower, n - 4)
    } else {
        name.iter().zip(lower).all(|(x, y)| x | 0x20 == *y)
    }
}

impl fmt::Display for HeaderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether `b` may appear in a header name: Kamailio accepts alphanumerics and `-._+~`,
/// plus the configured `hdr_name_extra_chars`.
#[inline]
pub(crate) fn is_hname_char(b: u8, extra: &crate::msg::ExtraChars) -> bool {
    HNAME[usize::from(b)] || extra.contains(b)
}

/// [`is_hname_char`] without extra characters.
#[inline]
pub(crate) fn is_hname_byte(b: u8) -> bool {
    HNAME[usize::from(b)]
}

/// Lookup table for [`is_hname_char`] (the index loop runs it for every name byte).
static HNAME: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'+' | b'~');
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_long_compact_and_case() {
        let table: &[(&[u8], HeaderKind)] = &[
            (b"Via", HeaderKind::Via),
            (b"v", HeaderKind::Via),
            (b"V", HeaderKind::Via),
            (b"vIA", HeaderKind::Via),
            (b"call-id", HeaderKind::CallId),
            (b"CALL-ID", HeaderKind::CallId),
            (b"i", HeaderKind::CallId),
            (b"l", HeaderKind::ContentLength),
            (b"m", HeaderKind::Contact),
            (b"k", HeaderKind::Supported),
            (b"x", HeaderKind::SessionExpires),
            (b"y", HeaderKind::Identity),
            (b"P-Asserted-Identity", HeaderKind::PAssertedIdentity),
            (b"C%6Fntact", HeaderKind::Other),
            (b"Contacts", HeaderKind::Other),
            (b"z", HeaderKind::Other),
            (b"", HeaderKind::Other),
        ];
        for (name, want) in table {
            assert_eq!(
                HeaderKind::from_name(name),
                *want,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    /// The obvious lookup: a linear search over every kind's name and compact form.
    fn reference(name: &[u8]) -> HeaderKind {
        HeaderKind::ALL
            .iter()
            .copied()
            .find(|k| {
                k.name().as_bytes().eq_ignore_ascii_case(name)
                    || (name.len() == 1 && k.compact() == Some(name[0].to_ascii_lowercase()))
            })
            .unwrap_or(HeaderKind::Other)
    }

    #[test]
    fn lookup_agrees_with_linear_search() {
        // Every known name, each byte replaced by bytes that are close to it (case, the
        // characters OR 0x20 maps onto letters, digits), truncated and extended. CR is
        // left out: it ORs to `-`, and a name never holds it (see `eq_lower_padded`).
        let subst: &[u8] = b"-_.+~0aAzZ\n\x00\x7f\xc1\xe1@`[{";
        let mut n = 0;
        for &k in HeaderKind::ALL {
            let base = k.name().as_bytes().to_vec();
            let mut cands = vec![
                base.clone(),
                base.to_ascii_uppercase(),
                base.to_ascii_lowercase(),
                base[..base.len() - 1].to_vec(),
                [&base[..], b"s"].concat(),
                [&b"x"[..], &base[..]].concat(),
            ];
            for i in 0..base.len() {
                for &c in subst {
                    let mut v = base.clone();
                    v[i] = c;
                    cands.push(v);
                }
            }
            for c in cands {
                assert_eq!(
                    HeaderKind::from_name(&c),
                    reference(&c),
                    "{}",
                    String::from_utf8_lossy(&c)
                );
                n += 1;
            }
        }
        for b in 0..=255u8 {
            assert_eq!(HeaderKind::from_name(&[b]), reference(&[b]), "byte {b}");
        }
        // Long names of unknown headers, all lengths up to 40.
        let long = b"x-some-very-long-extension-header-name-with-more";
        for l in 0..=40 {
            assert_eq!(HeaderKind::from_name(&long[..l]), reference(&long[..l]));
        }
        assert!(n > 1000);
    }

    #[test]
    fn every_kind_round_trips() {
        for &k in HeaderKind::ALL {
            assert_eq!(HeaderKind::from_name(k.name().as_bytes()), k);
            if let Some(c) = k.compact() {
                assert_eq!(HeaderKind::from_name(&[c]), k);
            }
        }
    }
}

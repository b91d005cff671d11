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
    pub fn from_name(name: &[u8]) -> HeaderKind {
        if name.len() == 1 {
            return match name[0].to_ascii_lowercase() {
                b'a' => HeaderKind::AcceptContact,
                b'u' => HeaderKind::AllowEvents,
                b'i' => HeaderKind::CallId,
                b'm' => HeaderKind::Contact,
                b'e' => HeaderKind::ContentEncoding,
                b'l' => HeaderKind::ContentLength,
                b'c' => HeaderKind::ContentType,
                b'o' => HeaderKind::Event,
                b'f' => HeaderKind::From,
                b'y' => HeaderKind::Identity,
                b'r' => HeaderKind::ReferTo,
                b'b' => HeaderKind::ReferredBy,
                b'j' => HeaderKind::RejectContact,
                b'd' => HeaderKind::RequestDisposition,
                b's' => HeaderKind::Subject,
                b'x' => HeaderKind::SessionExpires,
                b'k' => HeaderKind::Supported,
                b't' => HeaderKind::To,
                b'v' => HeaderKind::Via,
                _ => HeaderKind::Other,
            };
        }
        // Dispatch on (length, first letter): at most two candidates, usually one.
        let first = name.first().map_or(0, u8::to_ascii_lowercase);
        let cands: &[(&[u8], HeaderKind)] = match (name.len(), first) {
            (2, b't') => &[(b"to", HeaderKind::To)],
            (3, b'v') => &[(b"via", HeaderKind::Via)],
            (4, b'c') => &[(b"cseq", HeaderKind::CSeq)],
            (4, b'd') => &[(b"date", HeaderKind::Date)],
            (4, b'f') => &[(b"from", HeaderKind::From)],
            (4, b'p') => &[(b"path", HeaderKind::Path)],
            (5, b'a') => &[(b"allow", HeaderKind::Allow)],
            (5, b'e') => &[(b"event", HeaderKind::Event)],
            (5, b'r') => &[(b"route", HeaderKind::Route)],
            (6, b'a') => &[(b"accept", HeaderKind::Accept)],
            (6, b'm') => &[(b"min-se", HeaderKind::MinSE)],
            (6, b'r') => &[(b"reason", HeaderKind::Reason)],
            (6, b's') => &[(b"server", HeaderKind::Server)],
            (7, b'c') => &[
                (b"call-id", HeaderKind::CallId),
                (b"contact", HeaderKind::Contact),
            ],
            (7, b'e') => &[(b"expires", HeaderKind::Expires)],
            (7, b'p') => &[(b"privacy", HeaderKind::Privacy)],
            (7, b'r') => &[(b"require", HeaderKind::Require)],
            (7, b's') => &[(b"subject", HeaderKind::Subject)],
            (8, b'i') => &[(b"identity", HeaderKind::Identity)],
            (8, b'p') => &[(b"priority", HeaderKind::Priority)],
            (8, b'r') => &[(b"refer-to", HeaderKind::ReferTo)],
            (9, b'c') => &[(b"call-info", HeaderKind::CallInfo)],
            (9, b'd') => &[(b"diversion", HeaderKind::Diversion)],
            (9, b's') => &[(b"supported", HeaderKind::Supported)],
            (10, b'u') => &[(b"user-agent", HeaderKind::UserAgent)],
            (11, b'm') => &[(b"min-expires", HeaderKind::MinExpires)],
            (11, b'r') => &[
                (b"referred-by", HeaderKind::ReferredBy),
                (b"retry-after", HeaderKind::RetryAfter),
            ],
            (11, b'u') => &[(b"unsupported", HeaderKind::Unsupported)],
            (12, b'a') => &[(b"allow-events", HeaderKind::AllowEvents)],
            (12, b'c') => &[(b"content-type", HeaderKind::ContentType)],
            (12, b'm') => &[(b"max-forwards", HeaderKind::MaxForwards)],
            (12, b'o') => &[(b"organization", HeaderKind::Organization)],
            (12, b'r') => &[(b"record-route", HeaderKind::RecordRoute)],
            (12, b's') => &[(b"sip-if-match", HeaderKind::SipIfMatch)],
            (13, b'a') => &[(b"authorization", HeaderKind::Authorization)],
            (13, b'i') => &[(b"identity-info", HeaderKind::IdentityInfo)],
            (13, b'p') => &[(b"proxy-require", HeaderKind::ProxyRequire)],
            (14, b'a') => &[(b"accept-contact", HeaderKind::AcceptContact)],
            (14, b'c') => &[(b"content-length", HeaderKind::ContentLength)],
            (14, b'r') => &[(b"reject-contact", HeaderKind::RejectContact)],
            (15, b'a') => &[(b"accept-language", HeaderKind::AcceptLanguage)],
            (15, b'r') => &[(b"remote-party-id", HeaderKind::RemotePartyId)],
            (15, b's') => &[(b"session-expires", HeaderKind::SessionExpires)],
            (16, b'c') => &[(b"content-encoding", HeaderKind::ContentEncoding)],
            (16, b'w') => &[(b"www-authenticate", HeaderKind::WwwAuthenticate)],
            (18, b'p') => &[(b"proxy-authenticate", HeaderKind::ProxyAuthenticate)],
            (18, b's') => &[(b"subscription-state", HeaderKind::SubscriptionState)],
            (19, b'c') => &[(b"content-disposition", HeaderKind::ContentDisposition)],
            (19, b'p') => &[
                (b"proxy-authorization", HeaderKind::ProxyAuthorization),
                (b"p-asserted-identity", HeaderKind::PAssertedIdentity),
            ],
            (19, b'r') => &[(b"request-disposition", HeaderKind::RequestDisposition)],
            (20, b'p') => &[(b"p-preferred-identity", HeaderKind::PPreferredIdentity)],
            _ => &[],
        };
        for &(lower, k) in cands {
            if eq_lower(name, lower) {
                return k;
            }
        }
        HeaderKind::Other
    }
}

/// Compares a header name with a lowercase table name, eight bytes at a time.
///
/// OR-ing 0x20 lowercases ASCII letters; the table names hold only letters and `-`, and
/// the only other byte that ORs to `-` is CR, which never occurs in a header name (the
/// index stops names at CR, and `ExtraChars` refuses control characters), so the
/// comparison is exact.
#[inline]
fn eq_lower(name: &[u8], lower: &[u8]) -> bool {
    if name.len() != lower.len() {
        return false;
    }
    let mut a = name.chunks_exact(8);
    let mut b = lower.chunks_exact(8);
    for (x, y) in a.by_ref().zip(b.by_ref()) {
        let mut wx = [0u8; 8];
        let mut wy = [0u8; 8];
        wx.copy_from_slice(x);
        wy.copy_from_slice(y);
        if u64::from_le_bytes(wx) | 0x2020_2020_2020_2020 != u64::from_le_bytes(wy) {
            return false;
        }
    }
    a.remainder()
        .iter()
        .zip(b.remainder())
        .all(|(x, y)| x | 0x20 == *y)
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

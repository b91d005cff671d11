//! Fuzz the URI parser on arbitrary bytes: sip/sips/tel/urn, parameters, headers,
//! unescaping and phone2tel. Every span must lie inside the input.
#![no_main]

use ferrosip_sipmsg::uri::{unescape, Uri};
use ferrosip_sipmsg::{ExtraChars, ParseOptions, Span};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions {
        uri_host_extra_chars: ExtraChars::from_chars("_~"),
        ..ParseOptions::default()
    };
    for o in [ParseOptions::default(), opts] {
        if let Ok(u) = Uri::parse_with(data, Span::new(0, data.len()), &o) {
            for s in [Some(u.host), u.user, u.password, u.headers, u.port_span, Some(u.params)].into_iter().flatten() {
                assert!(s.end as usize <= data.len() && s.start <= s.end);
            }
            for p in u.param_iter(data) {
                assert!(p.span.end as usize <= data.len());
            }
            let _ = u.user_unescaped(data);
        }
    }
    let _ = unescape(data);
});

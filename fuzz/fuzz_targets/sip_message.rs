//! Fuzz the SIP message parser: parse the input as a datagram, then touch every typed
//! parser (`typed_failures`), the Kamailio-level checks, the Content-Length check, the
//! comma-split values of every header, and re-parse the same bytes in lenient mode with
//! extra characters allowed. Nothing may panic, and every span handed out must lie
//! inside the buffer.
#![no_main]

use ferrosip_sipmsg::framing::check_content_length;
use ferrosip_sipmsg::{ExtraChars, Msg, ParseOptions, ParserMode};

fn run(data: &[u8], opts: ParseOptions) {
    let Ok(m) = Msg::parse_with(data.to_vec(), opts) else {
        return;
    };
    let len = m.buf().len();
    let _ = m.parse_all_headers();
    let _ = m.check_required();
    let _ = check_content_length(&m);
    let _ = m.typed_failures();
    if let Ok(hs) = m.headers() {
        for h in hs {
            assert!(h.span.end as usize <= len && h.value.end <= h.span.end);
            for v in m.values(h) {
                assert!(v.end as usize <= len);
            }
        }
    }
    if let Ok(vias) = m.vias() {
        for v in vias {
            assert!(v.remove_span.end as usize <= len && v.span.end as usize <= len);
            let _ = v.rport_port(m.buf());
        }
    }
    if let Ok(Some(sdp)) = m.sdp() {
        for i in 0..sdp.media.len() {
            let _ = sdp.attributes(m.buf(), Some(i)).count();
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    run(data, ParseOptions::default());
    run(
        data,
        ParseOptions {
            mode: ParserMode::Lenient,
            hdr_name_extra_chars: ExtraChars::from_chars("%!"),
            uri_host_extra_chars: ExtraChars::from_chars("_"),
            phone2tel: false,
        },
    );
});

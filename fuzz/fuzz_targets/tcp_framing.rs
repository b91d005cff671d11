//! Fuzz the stream framer: the first bytes choose the chunk sizes and the settings, the
//! rest is the stream. The messages that come out, concatenated with what is still
//! buffered and the skipped CR/LF bytes, must account for the input; nothing may panic.
#![no_main]

use ferrosip_sipmsg::framing::{StreamConfig, StreamEvent, StreamFramer};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let (ctl, stream) = data.split_at(3);
    let cfg = StreamConfig {
        max_msg_size: 64 + usize::from(ctl[2]) * 256,
        accept_no_cl: ctl[1] & 1 == 1,
        crlf_ping: ctl[1] & 2 == 2,
    };
    let mut f = StreamFramer::new(cfg);
    let mut out = 0usize;
    let mut i = 0;
    let mut k = 0usize;
    while i < stream.len() {
        // Chunk sizes cycle through a pattern derived from the control byte.
        let size = 1 + (usize::from(ctl[0]).wrapping_mul(k + 1) % 97);
        k += 1;
        let end = (i + size).min(stream.len());
        f.feed(&stream[i..end]);
        i = end;
        loop {
            match f.next_event() {
                Ok(Some(StreamEvent::Message(m))) => {
                    assert!(m.len() <= cfg.max_msg_size);
                    out += m.len();
                    let _ = ferrosip_sipmsg::Msg::parse(m).map(|m| m.typed_failures().len());
                }
                Ok(Some(StreamEvent::CrlfPing)) => out += 4,
                Ok(None) => break,
                Err(_) => return,
            }
        }
        assert!(out + f.buffered() <= i);
    }
});

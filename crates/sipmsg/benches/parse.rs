//! Parse benchmark: first line + Via + From + To + CSeq + Call-ID of a 1 KB INVITE, the
//! work the receive path does for every request. Results are recorded in
//! `bench/RESULTS.md` (section "sipmsg parse").

use criterion::{black_box, criterion_group, Criterion, Throughput};
use ferrosip_sipmsg::Msg;

/// A realistic ~1 KB INVITE (two Vias, Record-Route, Contact, SDP body).
pub fn invite_1k() -> Vec<u8> {
    let body = "v=0\r\no=alice 2890844526 2890844526 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n";
    let head = format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK4b43c2ff8.1;received=192.0.2.10\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
Record-Route: <sip:proxy.atlanta.example.com;lr>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: ferrosip-bench/1.0\r\n\
P-Asserted-Identity: \"Alice\" <sip:alice@atlanta.example.com>\r\n\
Accept: application/sdp\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n",
        body.len()
    );
    let mut m = head.into_bytes();
    m.extend_from_slice(body.as_bytes());
    m
}

fn parse_core(buf: Vec<u8>) -> usize {
    let m = Msg::parse(buf).expect("parse");
    let v = m.via1().expect("via");
    let f = m.from().expect("from");
    let t = m.to().expect("to");
    let c = m.cseq().expect("cseq");
    let id = m.call_id().expect("call-id");
    v.host.len() + f.uri.len() + t.uri.len() + c.number as usize + id.len()
}

fn bench(c: &mut Criterion) {
    let msg = invite_1k();
    assert!(
        (950..=1150).contains(&msg.len()),
        "message is {} bytes",
        msg.len()
    );
    let mut g = c.benchmark_group("sipmsg");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_invite_1k_core_headers", |b| {
        b.iter(|| parse_core(black_box(msg.clone())))
    });
    g.bench_function("parse_invite_1k_all_typed", |b| {
        b.iter(|| {
            let m = Msg::parse(black_box(msg.clone())).expect("parse");
            m.typed_failures().len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);

/// CPU time (user + system) this thread has used, from `/proc/thread-self/stat`, in clock
/// ticks (100 per second on Linux).
fn thread_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// Parses per second of *CPU time*: the machine is shared, so wall-clock numbers (what
/// criterion reports) inflate with the load of other processes; CPU time does not.
fn cpu_time_report() {
    let msg = invite_1k();
    let Some(t0) = thread_cpu_ticks() else {
        println!("cpu-time measurement unavailable (no /proc/thread-self/stat)");
        return;
    };
    let mut n: u64 = 0;
    let mut acc = 0usize;
    loop {
        for _ in 0..10_000 {
            acc = acc.wrapping_add(parse_core(black_box(msg.clone())));
        }
        n += 10_000;
        let t = thread_cpu_ticks().unwrap_or(t0);
        if t - t0 >= 300 {
            let secs = (t - t0) as f64 / 100.0;
            println!(
                "sipmsg/parse_invite_1k_core_headers: {n} parses in {secs:.2} s of CPU = {:.0} ns/parse, {:.2} M parses/s per core (checksum {acc})",
                secs * 1e9 / n as f64,
                n as f64 / secs / 1e6
            );
            return;
        }
    }
}

/// `FERROSIP_PARSE_ITERS=N`: run exactly `N` parses and exit (no criterion, no CPU-time
/// loop), for counting instructions: `valgrind --tool=callgrind <bench binary>` with N and
/// with 0, the difference divided by N is the cost of one parse.
fn fixed_iterations() -> Option<u64> {
    let n: u64 = std::env::var("FERROSIP_PARSE_ITERS").ok()?.parse().ok()?;
    let msg = invite_1k();
    let mut acc = 0usize;
    for _ in 0..n {
        acc = acc.wrapping_add(parse_core(black_box(msg.clone())));
    }
    println!("{n} parses (checksum {acc})");
    Some(n)
}

fn main() {
    if fixed_iterations().is_some() {
        return;
    }
    cpu_time_report();
    benches();
    Criterion::default().configure_from_args().final_summary();
}

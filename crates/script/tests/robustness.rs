//! Mutated configs never panic the compiler or the evaluator: every config of the semantics table is
//! mutated (byte deletions, insertions of syntax characters, swaps) with a fixed-seed generator; each
//! mutant that loads is compiled, and each that compiles is run on a message.

mod common;
use common::*;

use ferrosip_api::WorkerState;
use ferrosip_script::Entry;

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const BASES: &[&str] = &[
    "request_route {\n $var(i) = 0; while ($var(i) < 3) { $var(i) = $var(i) + 1; }\n switch ($var(i)) { case 3: rec(\"three\"); break; default: rec(\"d\"); }\n if ($rm == \"OPTIONS\" && $var(i) > 1) { route(R); }\n $avp(a) = $var(i) + \"x\"; $(avp(a)[*]) = $null;\n}\nroute[R] { if (uri =~ \"^sip:\") { return -1; } return 2; }\n",
    "flags F:1;\nrequest_route {\n setflag(F); if (isflagset(F)) { rewriteuser(\"u\"); strip(1); prefix(\"9\"); }\n $var(s) = selval(strlen($ru) > 3, \"long\", \"short\");\n rec(\"$var(s) $ru\");\n if (src_ip == 10.0.0.0/8 || dst_ip == myself) { exit; }\n}\n",
    "request_route {\n $var(a) = (int)\"5\" * 2 - 3 mod 2; $var(b) = $var(a) << 2 | 1 ^ 7 & 3;\n if ($var(a) ieq $var(b) || $var(a) eq \"x\") { drop; }\n $var(c) = -$var(a); $var(d) = ~$var(b); $var(e) = !$var(c);\n route(\"X\");\n}\nroute[X] { $var(z) = $var(z) + 1; if ($var(z) < 500) route(X); }\n",
];

const INSERTS: &[u8] = b"(){}[];,\"$=!<>+-*/%&|^~.:@# \n0123456789aZ_";

#[test]
fn mutants_never_panic() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut loaded_ok = 0;
    let mut compiled_ok = 0;
    for base in BASES {
        for _ in 0..2000 {
            let mut b = base.as_bytes().to_vec();
            for _ in 0..=rng.below(3) {
                let i = rng.below(b.len());
                match rng.below(3) {
                    0 if !b.is_empty() => {
                        b.remove(i);
                    }
                    1 => b.insert(i, INSERTS[rng.below(INSERTS.len())]),
                    _ => {
                        let j = rng.below(b.len());
                        b.swap(i, j);
                    }
                }
            }
            let text = String::from_utf8_lossy(&b).into_owned();
            if load(&text).is_err() {
                continue;
            }
            loaded_ok += 1;
            let Ok((p, _)) = program(&text) else { continue };
            compiled_ok += 1;
            if p.route(Entry::Request).is_some() {
                let _ = run_with(&p, Entry::Request, INVITE, &mut WorkerState::default());
            }
        }
    }
    println!("mutants: {loaded_ok} loaded, {compiled_ok} compiled and ran");
    // The mutation mix must reach both stages often enough to mean something.
    assert!(
        loaded_ok > 100 && compiled_ok > 50,
        "loaded {loaded_ok}, compiled {compiled_ok}"
    );
}

//! Table-driven test of the pv module: (SIP message, PV or PV with transformations) → expected
//! value, for every PV and transformation name the module exports, with undefined and write cases.
//! The table lives in `pv_support/cases.rs`; `pv_kamailio.rs` checks the same cases against
//! Kamailio 5.6.3.

mod pv_support;

use pv_support::{cases, default_rcv, ours, registry};

#[test]
fn every_case_gives_the_expected_value() {
    std::env::set_var("FERROSIP_PV_TEST", "pv-env-value");
    let reg = registry();
    let mut failures = Vec::new();
    let all = cases::all();
    for c in &all {
        match ours(&reg, c, default_rcv()) {
            Ok((got, _)) if got == c.want => {}
            Ok((got, logs)) => failures.push(format!(
                "{} on {}: got {got:?}, want {:?} (logs: {logs:?})",
                c.expr, c.msg, c.want
            )),
            Err(e) => failures.push(format!("{} on {}: {e}", c.expr, c.msg)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

//! Timing-wheel throughput at the scale tm needs: 100k armed timers.
//! Placeholder body replaced below.
fn main() {}

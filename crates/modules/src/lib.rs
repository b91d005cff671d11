//! Kamailio's modules, one folder each (`sl/`, `tm/`, `rr/`, `pv/`, `xlog/` …), each opening with its
//! export table; `registry` lists them all.

pub mod registry;

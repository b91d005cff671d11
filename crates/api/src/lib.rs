//! The module contract: export tables (functions with typed parameters and allowed route types,
//! modparams, pseudo-variables, transformations, RPC commands, event routes, init hooks), the
//! per-message context, values and return codes.

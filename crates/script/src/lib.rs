//! Compiles the config AST into an executable program — every function, variable, route and flag
//! resolved at load — and evaluates it with Kamailio's semantics. Core functions and keywords live here.

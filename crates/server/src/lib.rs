//! Startup (config → modules → compile → bind → workers), the receive and forward paths, core RPCs,
//! signals, reload and shutdown. Also the logging back end (Kamailio's stderr line shape, syslog, JSON).

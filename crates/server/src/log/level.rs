//! Kamailio's log levels and syslog facilities, and how `tracing` levels map onto them.

use std::fmt;

/// A Kamailio log level (`L_ALERT` … `L_DBG` in `core/dprint.h`). The numeric value is what the
/// `debug` parameter, `-d`/`--debug` and `xlog("L_…")` compare against: a message is printed when its
/// level is `<=` the current `debug` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// `L_ALERT` (-5).
    Alert,
    /// `L_BUG` (-4).
    Bug,
    /// `L_CRIT2` (-3): critical, printed with the `CRITICAL` name.
    Crit2,
    /// `L_CRIT` (-2): critical, printed with an empty level name (Kamailio's "no prefix" variant).
    Crit,
    /// `L_ERR` (-1).
    Err,
    /// `L_WARN` (0).
    Warn,
    /// `L_NOTICE` (1).
    Notice,
    /// `L_INFO` (2).
    Info,
    /// `L_DBG` (3).
    Dbg,
}

impl LogLevel {
    /// All levels, most severe first.
    pub const ALL: [LogLevel; 9] = [
        LogLevel::Alert,
        LogLevel::Bug,
        LogLevel::Crit2,
        LogLevel::Crit,
        LogLevel::Err,
        LogLevel::Warn,
        LogLevel::Notice,
        LogLevel::Info,
        LogLevel::Dbg,
    ];

    /// Kamailio's numeric value.
    pub fn value(self) -> i32 {
        match self {
            LogLevel::Alert => -5,
            LogLevel::Bug => -4,
            LogLevel::Crit2 => -3,
            LogLevel::Crit => -2,
            LogLevel::Err => -1,
            LogLevel::Warn => 0,
            LogLevel::Notice => 1,
            LogLevel::Info => 2,
            LogLevel::Dbg => 3,
        }
    }

    /// The level for a numeric value, clamped like Kamailio's `LOG_FX` does (below `L_ALERT` is
    /// `L_ALERT`, above `L_DBG` is `L_DBG`).
    pub fn from_value(v: i64) -> LogLevel {
        match v {
            i64::MIN..=-5 => LogLevel::Alert,
            -4 => LogLevel::Bug,
            -3 => LogLevel::Crit2,
            -2 => LogLevel::Crit,
            -1 => LogLevel::Err,
            0 => LogLevel::Warn,
            1 => LogLevel::Notice,
            2 => LogLevel::Info,
            _ => LogLevel::Dbg,
        }
    }

    /// The name printed in log lines (`log_level_info[]` in `core/dprint.c`; `L_CRIT` prints none).
    pub fn name(self) -> &'static str {
        match self {
            LogLevel::Alert => "ALERT",
            LogLevel::Bug => "BUG",
            LogLevel::Crit2 => "CRITICAL",
            LogLevel::Crit => "",
            LogLevel::Err => "ERROR",
            LogLevel::Warn => "WARNING",
            LogLevel::Notice => "NOTICE",
            LogLevel::Info => "INFO",
            LogLevel::Dbg => "DEBUG",
        }
    }

    /// The level of a script name as `xlog`/`log` spell it (`L_ALERT` … `L_DBG`).
    pub fn from_script_name(name: &str) -> Option<LogLevel> {
        Some(match name {
            "L_ALERT" => LogLevel::Alert,
            "L_BUG" => LogLevel::Bug,
            "L_CRIT2" => LogLevel::Crit2,
            "L_CRIT" => LogLevel::Crit,
            "L_ERR" => LogLevel::Err,
            "L_WARN" => LogLevel::Warn,
            "L_NOTICE" => LogLevel::Notice,
            "L_INFO" => LogLevel::Info,
            "L_DBG" => LogLevel::Dbg,
            _ => return None,
        })
    }

    /// The syslog priority Kamailio maps the level to.
    pub fn syslog_priority(self) -> i32 {
        match self {
            LogLevel::Alert => libc::LOG_ALERT,
            LogLevel::Bug | LogLevel::Crit2 | LogLevel::Crit => libc::LOG_CRIT,
            LogLevel::Err => libc::LOG_ERR,
            LogLevel::Warn => libc::LOG_WARNING,
            LogLevel::Notice => libc::LOG_NOTICE,
            LogLevel::Info => libc::LOG_INFO,
            LogLevel::Dbg => libc::LOG_DEBUG,
        }
    }

    /// The terminal colour Kamailio uses for the level with `-e`/`log_color` (foreground letter
    /// code, upper case = bold; background is always the default).
    pub fn color_code(self) -> &'static str {
        match self {
            LogLevel::Alert => "\x1b[1;31;49m",
            LogLevel::Bug => "\x1b[1;35;49m",
            LogLevel::Crit2 => "\x1b[0;33;49m",
            LogLevel::Crit => "\x1b[0;34;49m",
            LogLevel::Err => "\x1b[0;31;49m",
            LogLevel::Warn => "\x1b[0;35;49m",
            LogLevel::Notice => "\x1b[0;32;49m",
            LogLevel::Info => "\x1b[0;36;49m",
            LogLevel::Dbg => "\x1b[0;39;49m",
        }
    }

    /// The band of Kamailio levels a `tracing` level can carry. Libraries emit with `tracing`; an
    /// event may name its exact Kamailio level with a `klevel` field (e.g.
    /// `tracing::error!(klevel = -5, "...")` for `L_ALERT`), which is honoured when it lies inside
    /// the band of its `tracing` level, so that the cheap per-callsite filter stays correct.
    pub fn band(level: &tracing::Level) -> (LogLevel, LogLevel) {
        match *level {
            tracing::Level::ERROR => (LogLevel::Alert, LogLevel::Err),
            tracing::Level::WARN => (LogLevel::Warn, LogLevel::Warn),
            tracing::Level::INFO => (LogLevel::Notice, LogLevel::Info),
            _ => (LogLevel::Dbg, LogLevel::Dbg),
        }
    }

    /// The Kamailio level of a `tracing` event: its `klevel` field when inside the band, else the
    /// band's default (`ERROR`→`L_ERR`, `WARN`→`L_WARN`, `INFO`→`L_INFO`, `DEBUG`/`TRACE`→`L_DBG`).
    pub fn of_event(level: &tracing::Level, klevel: Option<i64>) -> LogLevel {
        let (most, least) = LogLevel::band(level);
        match klevel.map(LogLevel::from_value) {
            Some(k) if k >= most && k <= least => k,
            _ => least,
        }
    }
}

impl fmt::Display for LogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The syslog facility for a `log_facility` value (`LOG_DAEMON`, `LOG_LOCAL0` …), as Kamailio's
/// `str2facility` accepts them (case-sensitive, with the `LOG_` prefix).
pub fn facility_from_name(name: &str) -> Option<i32> {
    Some(match name {
        "LOG_AUTH" => libc::LOG_AUTH,
        "LOG_AUTHPRIV" => libc::LOG_AUTHPRIV,
        "LOG_CRON" => libc::LOG_CRON,
        "LOG_DAEMON" => libc::LOG_DAEMON,
        "LOG_FTP" => libc::LOG_FTP,
        "LOG_KERN" => libc::LOG_KERN,
        "LOG_LOCAL0" => libc::LOG_LOCAL0,
        "LOG_LOCAL1" => libc::LOG_LOCAL1,
        "LOG_LOCAL2" => libc::LOG_LOCAL2,
        "LOG_LOCAL3" => libc::LOG_LOCAL3,
        "LOG_LOCAL4" => libc::LOG_LOCAL4,
        "LOG_LOCAL5" => libc::LOG_LOCAL5,
        "LOG_LOCAL6" => libc::LOG_LOCAL6,
        "LOG_LOCAL7" => libc::LOG_LOCAL7,
        "LOG_LPR" => libc::LOG_LPR,
        "LOG_MAIL" => libc::LOG_MAIL,
        "LOG_NEWS" => libc::LOG_NEWS,
        "LOG_SYSLOG" => libc::LOG_SYSLOG,
        "LOG_USER" => libc::LOG_USER,
        "LOG_UUCP" => libc::LOG_UUCP,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_names_and_script_names() {
        let table = [
            ("L_ALERT", -5, "ALERT"),
            ("L_BUG", -4, "BUG"),
            ("L_CRIT2", -3, "CRITICAL"),
            ("L_CRIT", -2, ""),
            ("L_ERR", -1, "ERROR"),
            ("L_WARN", 0, "WARNING"),
            ("L_NOTICE", 1, "NOTICE"),
            ("L_INFO", 2, "INFO"),
            ("L_DBG", 3, "DEBUG"),
        ];
        for (i, (script, value, name)) in table.into_iter().enumerate() {
            let l = LogLevel::from_script_name(script).unwrap();
            assert_eq!(l, LogLevel::ALL[i]);
            assert_eq!(l.value(), value, "{script}");
            assert_eq!(l.name(), name, "{script}");
            assert_eq!(LogLevel::from_value(value.into()), l);
        }
        assert_eq!(LogLevel::from_value(-100), LogLevel::Alert);
        assert_eq!(LogLevel::from_value(9), LogLevel::Dbg);
        assert_eq!(LogLevel::from_script_name("L_DEBUG"), None);
    }

    #[test]
    fn tracing_mapping() {
        use tracing::Level;
        let table = [
            (Level::ERROR, None, LogLevel::Err),
            (Level::ERROR, Some(-5), LogLevel::Alert),
            (Level::ERROR, Some(-2), LogLevel::Crit),
            (Level::ERROR, Some(2), LogLevel::Err), // outside the band: ignored
            (Level::WARN, None, LogLevel::Warn),
            (Level::INFO, None, LogLevel::Info),
            (Level::INFO, Some(1), LogLevel::Notice),
            (Level::INFO, Some(-1), LogLevel::Info),
            (Level::DEBUG, None, LogLevel::Dbg),
            (Level::TRACE, Some(0), LogLevel::Dbg),
        ];
        for (level, k, want) in table {
            assert_eq!(LogLevel::of_event(&level, k), want, "{level} {k:?}");
        }
    }

    #[test]
    fn facilities_and_priorities() {
        assert_eq!(facility_from_name("LOG_LOCAL0"), Some(libc::LOG_LOCAL0));
        assert_eq!(facility_from_name("LOG_DAEMON"), Some(libc::LOG_DAEMON));
        assert_eq!(facility_from_name("local0"), None);
        assert_eq!(LogLevel::Bug.syslog_priority(), libc::LOG_CRIT);
        assert_eq!(LogLevel::Warn.syslog_priority(), libc::LOG_WARNING);
    }
}

//! The text of a log message: Kamailio's classic line, and the `json` log engine.
//!
//! Pure functions from a [`Record`] to bytes, so the shapes are unit-tested without a subscriber.

use std::fmt::Write as _;

use super::level::LogLevel;

/// The program name used where Kamailio writes its own `NAME` (`kamailio`): the `a` flag's key prefix
/// and the CEE `pname`/`appname` fields of the JSON engine.
pub const APP_NAME: &str = "ferrosip";

/// Colour reset written after a coloured line (`dprint_color_reset`).
pub const COLOR_RESET: &str = "\x1b[0;39;49m";

/// One log message, whatever produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record<'a> {
    pub level: LogLevel,
    /// Module name (`sl`, `tm` …) or `None` for the core.
    pub module: Option<&'a str>,
    /// Source file as printed (`core/startup.rs`, `sl/funcs.rs`).
    pub file: &'a str,
    pub line: u32,
    /// Function name; empty for messages without location (`xlog` output).
    pub function: &'a str,
    /// The text, without the trailing newline.
    pub message: &'a str,
    /// `true` for script output (`xlog`, `log()`), printed as `<script>: text` without location.
    pub script: bool,
    /// The Call-ID of the SIP message being processed, when there is one.
    pub callid: Option<&'a str>,
    /// The evaluated `log_prefix`, empty when unset.
    pub prefix: &'a str,
    /// Script output only: the text replacing `<script>: ` (xlog's `prefix` modparam); `None`
    /// = the default.
    pub script_prefix: Option<&'a str>,
    /// Script output only: the syslog facility of this line (xlog's per-call facility);
    /// `None` = `log_facility`.
    pub facility: Option<i32>,
    /// Printed instead of the level's name (the debugger's `log_level_name`); `None` = the
    /// level's own.
    pub level_name: Option<&'a str>,
}

impl Record<'_> {
    /// The level as printed.
    pub fn level_text(&self) -> &str {
        self.level_name.unwrap_or(self.level.name())
    }
}

/// Process identity printed in each stderr line: ` 0(1234)` is `process_no` and pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    pub process_no: i32,
    pub pid: u32,
}

/// The flags of the `json` log engine (`--log-engine=json:FLAGS`, `log_engine_data`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JsonFlags {
    /// `a`: prefix the field names with the application name.
    pub app_prefix: bool,
    /// `A`: with `a`, leave the `message` key unprefixed.
    pub no_app_prefix_msg: bool,
    /// `c`: add a `callid` field.
    pub callid: bool,
    /// `j`: message and prefix that look like JSON objects (`{…}`) are embedded as is, other text
    /// becomes `{ "text": "…" }`.
    pub msg_json: bool,
    /// `M`: strip the trailing newline from the message.
    pub strip_msg_nl: bool,
    /// `N`: no newline after the JSON document.
    pub no_log_nl: bool,
    /// `p`: the prefix is a list of JSON fields (starting with `,`) spliced into the root object.
    pub prefix_fields: bool,
    /// `U`: CEE (Common Event Expression) schema.
    pub cee: bool,
}

impl JsonFlags {
    /// Parses the flag letters; unknown letters are ignored, as Kamailio does.
    pub fn parse(data: &str) -> JsonFlags {
        let mut f = JsonFlags::default();
        for c in data.chars() {
            match c {
                'a' => f.app_prefix = true,
                'A' => f.no_app_prefix_msg = true,
                'c' => f.callid = true,
                'j' => f.msg_json = true,
                'M' => f.strip_msg_nl = true,
                'N' => f.no_log_nl = true,
                'p' => f.prefix_fields = true,
                'U' => f.cee = true,
                _ => {}
            }
        }
        f
    }
}

/// The classic line without the `%2d(%d) ` origin: `LEVEL: <core> [file:line]: func(): text\n`
/// (`LEVEL: <script>: text\n` for script output). This is what goes to syslog.
pub fn plain_body(r: &Record<'_>, out: &mut String) {
    out.push_str(r.level_text());
    out.push_str(": ");
    out.push_str(r.prefix);
    if r.script {
        out.push_str(r.script_prefix.unwrap_or("<script>: "));
    } else {
        match r.module {
            Some(m) => out.push_str(m),
            None => out.push_str("<core>"),
        }
        let _ = write!(out, " [{}:{}]: ", r.file, r.line);
        if !r.function.is_empty() {
            out.push_str(r.function);
            out.push_str("(): ");
        }
    }
    out.push_str(r.message);
    out.push('\n');
}

/// The classic stderr line: ` 0(1234) INFO: <core> [core/x.rs:12]: f(): text\n`, wrapped in the
/// level's colour when `color` is set (the reset follows the newline, as Kamailio writes it).
pub fn plain_line(r: &Record<'_>, o: Origin, color: bool) -> String {
    let mut out = String::with_capacity(96 + r.message.len());
    if color {
        out.push_str(r.level.color_code());
    }
    let _ = write!(out, "{:2}({}) ", o.process_no, o.pid);
    plain_body(r, &mut out);
    if color {
        out.push_str(COLOR_RESET);
    }
    out
}

/// Where a JSON document goes: stderr documents carry time, process index and pid; syslog ones
/// leave those to syslog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonTarget {
    Stderr,
    Syslog,
}

/// A `json` log engine document. `time` is the UTC time as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`;
/// `log_name` and `hostname` are only used by the CEE variant.
pub fn json_doc(
    r: &Record<'_>,
    o: Origin,
    flags: JsonFlags,
    target: JsonTarget,
    time: &str,
    log_name: &str,
    hostname: &str,
) -> String {
    let mut msg = r.message.to_string();
    // Kamailio's messages end in "\n" which the engine keeps unless `M` is given; ours are stored
    // without it, so it is put back here.
    if !flags.strip_msg_nl {
        msg.push('\n');
    }
    let eol = if flags.no_log_nl { "" } else { "\n" };
    let mut out = String::with_capacity(192 + msg.len());
    let module = r.module.unwrap_or("core");
    let module = if r.script { "script" } else { module };
    if flags.cee {
        if target == JsonTarget::Syslog {
            out.push_str("@cee: ");
        }
        let _ = write!(
            out,
            "{{\"time\":\"{time}\",\"proc\":{{\"id\":\"{}\"}},\"pri\":\"{}\",\"subsys\":\"{}\",\
             \"file\":{{\"name\":\"{}\",\"line\":{}}},\"native\":{{\"function\":\"{}\"}},\"msg\":\"{}\",\
             \"pname\":\"{APP_NAME}\",\"appname\":\"{}\",\"hostname\":\"{}\"}}{eol}",
            o.pid,
            r.level.name(),
            escape(module),
            escape(r.file),
            r.line,
            escape(r.function),
            escape(&msg),
            escape(log_name),
            escape(hostname),
        );
        return out;
    }
    let key = |name: &str| -> String {
        if flags.app_prefix {
            format!("\"{APP_NAME}.{name}\"")
        } else {
            format!("\"{name}\"")
        }
    };
    out.push_str("{ ");
    if target == JsonTarget::Stderr {
        let _ = write!(
            out,
            "{}: \"{time}\", {}: {}, {}: {}, ",
            key("time"),
            key("idx"),
            o.process_no,
            key("pid"),
            o.pid
        );
    }
    let _ = write!(
        out,
        "{}: \"{}\", {}: \"{}\", {}: \"{}\", {}: {}, {}: \"{}\"",
        key("level"),
        r.level.name(),
        key("module"),
        escape(module),
        key("file"),
        escape(r.file),
        key("line"),
        r.line,
        key("function"),
        escape(r.function),
    );
    if flags.callid {
        let _ = write!(
            out,
            ", {}: \"{}\"",
            key("callid"),
            escape(r.callid.unwrap_or(""))
        );
    }
    // The prefix: raw fields with `p` (when empty or starting with ','), else a named field.
    let raw_prefix =
        flags.prefix_fields && !flags.cee && (r.prefix.is_empty() || r.prefix.starts_with(','));
    if raw_prefix {
        out.push_str(r.prefix);
    } else {
        let _ = write!(out, ", {}: ", key("logprefix"));
        push_value(&mut out, r.prefix, flags.msg_json);
    }
    let msg_key = if flags.app_prefix && !flags.no_app_prefix_msg {
        format!("\"{APP_NAME}.message\"")
    } else {
        "\"message\"".to_string()
    };
    let _ = write!(out, ", {msg_key}: ");
    push_value(&mut out, &msg, flags.msg_json);
    out.push_str(" }");
    out.push_str(eol);
    out
}

/// Writes `v` as a JSON string, or (with the `j` flag) as an embedded object when it looks like one,
/// or as `{ "text": "…" }` when it does not.
fn push_value(out: &mut String, v: &str, msg_json: bool) {
    if msg_json {
        if v.len() > 1 && v.starts_with('{') && v.ends_with('}') {
            out.push_str(v);
        } else {
            let _ = write!(out, "{{ \"text\": \"{}\" }}", escape(v));
        }
    } else {
        let _ = write!(out, "\"{}\"", escape(v));
    }
}

/// JSON string escaping: quote, backslash and control characters.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Formats a time as ISO 8601 UTC with nanoseconds, without a date library: days since the epoch
/// are turned into a civil date with the usual era arithmetic.
pub fn iso8601_utc(secs: u64, nanos: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (h, m, s) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Shift the epoch to 0000-03-01 so that leap days fall at the end of a 400-year era.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{m:02}:{s:02}.{nanos:09}Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec<'a>(level: LogLevel, module: Option<&'a str>, message: &'a str) -> Record<'a> {
        Record {
            level,
            module,
            file: "core/startup.rs",
            line: 74,
            function: "check",
            message,
            script: false,
            callid: None,
            prefix: "",
            script_prefix: None,
            facility: None,
            level_name: None,
        }
    }

    const O: Origin = Origin {
        process_no: 0,
        pid: 6096,
    };

    #[test]
    fn plain_lines() {
        let script = Record {
            script: true,
            ..rec(LogLevel::Info, None, "hello")
        };
        let crit = rec(LogLevel::Crit, None, "c");
        let pfx = Record {
            prefix: "{1 INVITE abc} ",
            ..rec(LogLevel::Err, Some("sl"), "x")
        };
        let table: [(Record<'_>, Origin, bool, &str); 6] = [
            (
                rec(LogLevel::Info, None, "SCTP API not enabled"),
                O,
                false,
                " 0(6096) INFO: <core> [core/startup.rs:74]: check(): SCTP API not enabled\n",
            ),
            (
                rec(LogLevel::Err, Some("tm"), "oops"),
                Origin { process_no: 12, pid: 7 },
                false,
                "12(7) ERROR: tm [core/startup.rs:74]: check(): oops\n",
            ),
            (script, O, false, " 0(6096) INFO: <script>: hello\n"),
            (crit, O, false, " 0(6096) : <core> [core/startup.rs:74]: check(): c\n"),
            (pfx, O, false, " 0(6096) ERROR: {1 INVITE abc} sl [core/startup.rs:74]: check(): x\n"),
            (
                rec(LogLevel::Info, None, "m"),
                O,
                true,
                "\x1b[0;36;49m 0(6096) INFO: <core> [core/startup.rs:74]: check(): m\n\x1b[0;39;49m",
            ),
        ];
        for (r, o, color, want) in table {
            assert_eq!(plain_line(&r, o, color), want);
        }
    }

    #[test]
    fn json_documents() {
        let t = "2026-11-26T08:14:42.000000001Z";
        let r = rec(LogLevel::Info, None, "say \"hi\"");
        let c = Record {
            callid: Some("abc@h"),
            ..rec(LogLevel::Dbg, Some("maxfwd"), "v")
        };
        let j = Record {
            prefix: "{\"m\": 1}",
            ..rec(LogLevel::Info, None, "{\"a\": 2}")
        };
        let p = Record {
            prefix: ", \"si\": \"1.2.3.4\"",
            ..rec(LogLevel::Info, None, "t")
        };
        let table: [(&Record<'_>, &str, JsonTarget, &str); 7] = [
            (&r, "", JsonTarget::Stderr,
             "{ \"time\": \"2026-11-26T08:14:42.000000001Z\", \"idx\": 0, \"pid\": 6096, \"level\": \"INFO\", \"module\": \"core\", \"file\": \"core/startup.rs\", \"line\": 74, \"function\": \"check\", \"logprefix\": \"\", \"message\": \"say \\\"hi\\\"\\n\" }\n"),
            (&c, "cMN", JsonTarget::Syslog,
             "{ \"level\": \"DEBUG\", \"module\": \"maxfwd\", \"file\": \"core/startup.rs\", \"line\": 74, \"function\": \"check\", \"callid\": \"abc@h\", \"logprefix\": \"\", \"message\": \"v\" }"),
            (&r, "aM", JsonTarget::Syslog,
             "{ \"ferrosip.level\": \"INFO\", \"ferrosip.module\": \"core\", \"ferrosip.file\": \"core/startup.rs\", \"ferrosip.line\": 74, \"ferrosip.function\": \"check\", \"ferrosip.logprefix\": \"\", \"ferrosip.message\": \"say \\\"hi\\\"\" }\n"),
            (&r, "aAMN", JsonTarget::Syslog,
             "{ \"ferrosip.level\": \"INFO\", \"ferrosip.module\": \"core\", \"ferrosip.file\": \"core/startup.rs\", \"ferrosip.line\": 74, \"ferrosip.function\": \"check\", \"ferrosip.logprefix\": \"\", \"message\": \"say \\\"hi\\\"\" }"),
            (&j, "jMN", JsonTarget::Syslog,
             "{ \"level\": \"INFO\", \"module\": \"core\", \"file\": \"core/startup.rs\", \"line\": 74, \"function\": \"check\", \"logprefix\": {\"m\": 1}, \"message\": {\"a\": 2} }"),
            (&p, "pMN", JsonTarget::Syslog,
             "{ \"level\": \"INFO\", \"module\": \"core\", \"file\": \"core/startup.rs\", \"line\": 74, \"function\": \"check\", \"si\": \"1.2.3.4\", \"message\": \"t\" }"),
            (&r, "UM", JsonTarget::Syslog,
             "@cee: {\"time\":\"2026-11-26T08:14:42.000000001Z\",\"proc\":{\"id\":\"6096\"},\"pri\":\"INFO\",\"subsys\":\"core\",\"file\":{\"name\":\"core/startup.rs\",\"line\":74},\"native\":{\"function\":\"check\"},\"msg\":\"say \\\"hi\\\"\",\"pname\":\"ferrosip\",\"appname\":\"ferrosip\",\"hostname\":\"h1\"}\n"),
        ];
        for (r, flags, target, want) in table {
            let got = json_doc(r, O, JsonFlags::parse(flags), target, t, "ferrosip", "h1");
            assert_eq!(got, want, "flags {flags}");
        }
    }

    #[test]
    fn escaping_and_time() {
        assert_eq!(escape("a\"b\\c\n\t\u{1}"), "a\\\"b\\\\c\\n\\t\\u0001");
        let table = [
            (0, 0, "1970-01-01T00:00:00.000000000Z"),
            (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
            (1_795_680_882, 123_456_789, "2026-11-26T08:14:42.123456789Z"),
        ];
        for (s, n, want) in table {
            assert_eq!(iso8601_utc(s, n), want);
        }
    }
}

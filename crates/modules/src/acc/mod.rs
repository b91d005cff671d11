//! `acc`: Kamailio's accounting module, accounting to the log and to a database.
//!
//! What it does: when a transaction's first final reply goes upstream (tm's
//! [`TmApi::on_final_reply`], Kamailio's `TMCB_RESPONSE_OUT`), it prints
//! `ACC: transaction answered: …` for 2xx replies of requests with `log_flag` set and for negative
//! replies with `failed_transaction_flag` set too (minus the codes of `failed_filter`), and
//! `ACC: call missed: …` for negative replies to INVITEs with `log_missed_flag`;
//! `acc_log_request(comment)` and `acc_request(comment, table)` print `ACC: request accounted: …`.
//! The line format (core attributes, `log_extra`, `time_mode`) is in [`line`]; the text, level
//! (`log_level`) and facility (`log_facility`) are Kamailio's, checked against 5.6.3 by
//! tests/acc_wire.rs. With `db_url`, the same events with `db_flag` / `db_missed_flag` and
//! `acc_db_request(comment, table)` write rows ([`db`]; tests/acc_db_wire.rs).
//!
//! What it does not do (refused when configured, see docs/modules-acc.md): CDRs (`cdr_enable`,
//! needs the dialog module),
//! multi-leg info, early media, e2e ACK and CANCEL reports, `detect_direction`, the "prepare"
//! flags. Missed calls are reported from the final reply only: tm has no failure hook yet, so a
//! call that failure_route forks again after a negative reply is not reported as missed for the
//! first attempt (Kamailio reports it from `TMCB_ON_FAILURE`).
//!
//! `log_extra` variables are resolved at init against the core and `pv` variable tables (the
//! init context gives modules no access to the registry): `$var`, `$shv` and the variables of
//! other modules are refused there with a clear message.

pub mod db;
pub mod line;

use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::pv::parse_pv_ref;
use ferrosip_api::{
    store, Ctx, Error, LogLine, ModValue, ModuleExports, PvSpec, Registry, RetCode, RouteMask,
    Value,
};
use ferrosip_sipmsg::{Method, Msg};

use crate::db::DbDrivers;
use crate::pv::timefmt::Zone;
use crate::tm::{FinalReply, TmApi};
use db::{DbSettings, DbTime};
use line::{Core, Stamp, TimeMode, ACC_ANSWERED, ACC_MISSED, ACC_REQUEST};

/// The printed origin of every acc line: Kamailio prints its module, source position and
/// function (`acc [acc.c:287]: acc_log_request(): `); ours names this file.
const ORIGIN: &str = concat!("acc [acc/mod.rs:", line!(), "]: acc_log_request(): ");

/// Kamailio's `L_NOTICE`, acc's default `log_level`.
const DEFAULT_LEVEL: i32 = ferrosip_api::L_NOTICE;
/// `LOG_DAEMON`, acc's default `log_facility` (its own default, not the core's `log_facility`).
const LOG_DAEMON: i32 = 3 << 3;

/// The frozen modparams.
#[derive(Debug, Clone)]
pub struct AccConfig {
    /// `log_flag`.
    pub log_flag: Option<u32>,
    /// `log_missed_flag`.
    pub missed_flag: Option<u32>,
    /// `failed_transaction_flag`.
    pub failed_flag: Option<u32>,
    /// `failed_filter`: negative codes not reported as failed transactions.
    pub failed_filter: Vec<u16>,
    /// `log_level` (Kamailio level).
    pub level: i32,
    /// `log_facility` as a syslog facility value.
    pub facility: i32,
    /// `log_extra`: attribute names and their variables.
    pub extras: Vec<(String, PvSpec)>,
    /// `time_mode` and its attributes.
    pub time: TimeMode,
    /// `reason_from_hf`: the reason is the reply's first `Reason` header when it has one.
    pub reason_from_hf: bool,
    /// The database back end, when `db_url` is set.
    pub db: Option<DbSettings>,
}

/// The database pool (opened in child init) and the drivers it comes from.
#[derive(Default)]
struct DbHandle {
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<ferrosip_db::Db>,
}

impl DbHandle {
    fn get(&self) -> Option<&ferrosip_db::Db> {
        self.db.get()
    }
}

impl Default for AccConfig {
    fn default() -> AccConfig {
        AccConfig {
            log_flag: None,
            missed_flag: None,
            failed_flag: None,
            failed_filter: Vec::new(),
            level: DEFAULT_LEVEL,
            facility: LOG_DAEMON,
            extras: Vec::new(),
            time: TimeMode::Seconds,
            reason_from_hf: false,
            db: None,
        }
    }
}

/// The `acc` export table.
pub fn exports() -> ModuleExports {
    let cfg: Arc<OnceLock<AccConfig>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("acc");
    let any = RouteMask::ANY;
    let handle: Arc<DbHandle> = Arc::new(DbHandle::default());
    let c1 = Arc::clone(&cfg);
    let c2 = Arc::clone(&cfg);
    let c3 = Arc::clone(&cfg);
    let (h2, h3) = (Arc::clone(&handle), Arc::clone(&handle));
    m.functions = vec![
        FnExport::new(
            "acc_log_request",
            &[K::Spve],
            any,
            "print `ACC: request accounted:` for the current request; a leading 3-digit code in the comment is the code",
        )
        .fixup(comment_fixup)
        .with(move |ctx, a| {
            let comment = a.first().map(|c| c.bytes(ctx)).unwrap_or_default();
            Ok(log_request(ctx, config(&c1), &comment))
        }),
        FnExport::new(
            "acc_request",
            &[K::Spve, K::Spve],
            any,
            "acc_log_request for the comment (no `$` allowed in its value); with db_url the database write fails as in Kamailio (-1)",
        )
        .fixup(comment_fixup)
        .with(move |ctx, a| {
            let comment = a.first().map(|c| c.bytes(ctx)).unwrap_or_default();
            if comment.is_empty() || comment.contains(&b'$') {
                // Kamailio's acc_request refuses a comment whose value holds a variable marker.
                ctx.log_error("acc_request: invalid comment (empty, or a cfg variable)");
                return Ok(RetCode::FALSE);
            }
            let c = config(&c2);
            let rc = log_request(ctx, c, &comment);
            if c.db.is_none() || h2.get().is_none() {
                return Ok(rc);
            }
            // Kamailio 5.6.3 and 6.0.7 set the line's text after the table name and then use
            // that text as the table: the insert always fails and the function returns -1.
            ctx.log_error(&format!(
                "acc: failed to insert into database: table `{ACC_REQUEST}` (Kamailio's acc_request uses the line text as table name)"
            ));
            ctx.log_error("acc: acc db request failed");
            Ok(RetCode::FALSE)
        }),
        FnExport::new(
            "acc_db_request",
            &[K::Spve, K::Spve],
            any,
            "insert a row for the current request into the table; a leading 3-digit code in the comment is the code",
        )
        .fixup(|args| {
            comment_fixup(args)?;
            // Kamailio's acc_fixup says the same of an empty table.
            match args.get(1) {
                Some(ferrosip_api::Arg::Str(s)) if s.is_empty() => {
                    Err("first parameter is empty".into())
                }
                _ => Ok(()),
            }
        })
        .with(move |ctx, a| {
            let comment = a.first().map(|c| c.bytes(ctx)).unwrap_or_default();
            let table = a.get(1).map(|t| t.bytes(ctx)).unwrap_or_default();
            Ok(db_request(ctx, config(&c3), &h3, &comment, &table))
        }),
    ];
    m.params = params();
    let ci = Arc::clone(&cfg);
    let hi = Arc::clone(&handle);
    m.init = Some(Arc::new(move |ictx| {
        let tm = ictx.api::<TmApi>().ok_or_else(|| {
            Error::Init(
                "acc: the tm module must be loaded before acc (acc accounts tm transactions)"
                    .into(),
            )
        })?;
        let c = configure(ictx.modparams())?;
        if c.db.is_some() {
            let _ = hi.drivers.set(DbDrivers::of(ictx));
        }
        ci.set(c)
            .map_err(|_| Error::Init("acc initialised twice".into()))?;
        let cb = Arc::clone(&ci);
        let hb = Arc::clone(&hi);
        tm.on_final_reply(Arc::new(move |ctx, fr| on_final(ctx, config(&cb), &hb, fr)));
        Ok(())
    }));
    let (cc, hc) = (Arc::clone(&cfg), Arc::clone(&handle));
    m.child_init = Some(Arc::new(move |_rank| {
        // Kamailio's acc_db_init_child: the connection is made after the fork; a missing driver
        // module or a failed connection stops the start.
        let (Some(s), Some(d)) = (cc.get().and_then(|c| c.db.as_ref()), hc.drivers.get()) else {
            return Ok(());
        };
        if hc.db.get().is_none() {
            let db = d.open_bound("acc", &s.url).map_err(Error::Init)?;
            let _ = hc.db.set(db);
        }
        Ok(())
    }));
    m
}

/// Builds the configuration from the modparams (Kamailio's `mod_init` checks, same messages
/// where it has them).
pub fn configure(params: &[(&'static str, ModValue)]) -> Result<AccConfig, Error> {
    let mut c = AccConfig::default();
    let mut extra_text: Option<String> = None;
    let mut extra_size = line::MAX_ACC_EXTRA;
    let (mut time_mode, mut time_attr, mut time_exten, mut time_format) = (
        0i64,
        "time_attr".to_string(),
        "time_exten".to_string(),
        "%Y-%m-%d %H:%M:%S".to_string(),
    );
    let cfg_err = |s: String| Error::Config(format!("acc: {s}"));
    let mut dbp = DbParams::default();
    for (name, v) in params {
        if dbp.take(name, v)? {
            continue;
        }
        match (*name, v) {
            ("log_flag", ModValue::Int(i)) => c.log_flag = flag(*i, "log_flag")?,
            ("log_missed_flag", ModValue::Int(i)) => c.missed_flag = flag(*i, "log_missed_flag")?,
            ("failed_transaction_flag", ModValue::Int(i)) => {
                c.failed_flag = flag(*i, "failed_transaction_flag")?
            }
            ("failed_filter", ModValue::Str(s)) => {
                c.failed_filter = line::parse_failed_filter(s).map_err(cfg_err)?
            }
            ("log_level", ModValue::Int(i)) => {
                c.level = i32::try_from(*i).map_err(|_| cfg_err(format!("bad log_level {i}")))?
            }
            ("log_facility", ModValue::Str(s)) => {
                c.facility = crate::xlog::facility_from_name(s)
                    .ok_or_else(|| cfg_err(format!("invalid log facility configured: `{s}`")))?
            }
            ("log_extra", ModValue::Str(s)) => extra_text = Some(s.clone()),
            ("acc_extra_size", ModValue::Int(i)) => {
                extra_size =
                    usize::try_from(*i).map_err(|_| cfg_err(format!("bad acc_extra_size {i}")))?
            }
            ("reason_from_hf", ModValue::Int(i)) => c.reason_from_hf = *i != 0,
            ("time_mode", ModValue::Int(i)) => time_mode = *i,
            ("time_attr", ModValue::Str(s)) => time_attr = s.clone(),
            ("time_exten", ModValue::Str(s)) => time_exten = s.clone(),
            ("time_format", ModValue::Str(s)) => time_format = s.clone(),
            (n, v) => refuse_unsupported(n, v)?,
        }
    }
    c.time = match time_mode {
        1 => TimeMode::Micros {
            exten: time_exten.clone(),
        },
        2 => TimeMode::Fraction {
            attr: time_attr.clone(),
        },
        3 | 4 => TimeMode::Formatted {
            attr: time_attr.clone(),
            format: time_format.clone(),
            zone: zone_of(time_mode),
        },
        // Any other value prints the seconds only, as Kamailio's last branch does.
        _ => TimeMode::Seconds,
    };
    if let Some(text) = extra_text {
        c.extras = resolve_extras("log_extra", &text, extra_size)?;
    }
    // Without db_url Kamailio ignores the other database parameters (and resets the flags).
    if !dbp.url.is_empty() {
        let db_time = match time_mode {
            1 => DbTime::SecsMicros {
                attr: time_attr.clone(),
                exten: time_exten.clone(),
            },
            2 => DbTime::Fraction {
                attr: time_attr.clone(),
            },
            3 | 4 => DbTime::Formatted {
                attr: time_attr.clone(),
                format: time_format.clone(),
                zone: zone_of(time_mode),
            },
            _ => DbTime::None,
        };
        c.db = Some(dbp.settings(extra_size, db_time)?);
    }
    Ok(c)
}

/// The database modparams as set (Kamailio's defaults otherwise).
struct DbParams {
    url: String,
    // Checked only with db_url set, as Kamailio does.
    flag: i64,
    missed_flag: i64,
    table_acc: String,
    table_missed: String,
    extra: Option<String>,
    columns: [String; 7],
    nullable: bool,
}

impl Default for DbParams {
    fn default() -> DbParams {
        DbParams {
            url: String::new(),
            flag: -1,
            missed_flag: -1,
            table_acc: "acc".into(),
            table_missed: "missed_calls".into(),
            extra: None,
            columns: db::COLUMN_PARAMS.map(|(_, c)| c.to_string()),
            nullable: false,
        }
    }
}

impl DbParams {
    /// Takes `name` if it is a database parameter.
    fn take(&mut self, name: &str, v: &ModValue) -> Result<bool, Error> {
        let bad = |what: &str| Error::Config(format!("acc: {name}: {what}"));
        match (name, v) {
            ("db_url", ModValue::Str(s)) => self.url = s.clone(),
            ("db_flag", ModValue::Int(i)) => self.flag = *i,
            ("db_missed_flag", ModValue::Int(i)) => self.missed_flag = *i,
            ("db_table_acc", ModValue::Str(s)) => self.table_acc = s.clone(),
            ("db_table_missed_calls", ModValue::Str(s)) => self.table_missed = s.clone(),
            ("db_extra", ModValue::Str(s)) => self.extra = Some(s.clone()),
            ("acc_extra_nullable", ModValue::Int(i)) => self.nullable = *i == 1,
            // Kamailio's insert modes differ only in when the row reaches the table (delayed
            // on MySQL, by async workers): ferrosip inserts at once in every mode.
            ("db_insert_mode", ModValue::Int(0..=2)) => {}
            ("db_insert_mode", _) => return Err(bad("must be 0, 1 or 2")),
            (n, ModValue::Str(s)) if db::COLUMN_PARAMS.iter().any(|(p, _)| *p == n) => {
                if let Some(i) = db::COLUMN_PARAMS.iter().position(|(p, _)| *p == n) {
                    self.columns[i] = s.clone();
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn settings(self, extra_size: usize, time: DbTime) -> Result<DbSettings, Error> {
        let reg = variable_registry()?;
        let table = |name: &str, text: &str| {
            reg.parse_format(text)
                .map_err(|e| Error::Config(format!("acc: {name} \"{text}\": {e}")))
        };
        Ok(DbSettings {
            table_acc: table("db_table_acc", &self.table_acc)?,
            table_missed: table("db_table_missed_calls", &self.table_missed)?,
            extras: match &self.extra {
                Some(t) => resolve_extras("db_extra", t, extra_size)?,
                None => Vec::new(),
            },
            url: self.url,
            flag: flag(self.flag, "db_flag")?,
            missed_flag: flag(self.missed_flag, "db_missed_flag")?,
            columns: self.columns,
            nullable: self.nullable,
            time,
        })
    }
}

// ---- internals ----

static DEFAULT_CONFIG: OnceLock<AccConfig> = OnceLock::new();

fn config(c: &OnceLock<AccConfig>) -> &AccConfig {
    // Before init (direct calls in tests) the documented defaults apply.
    c.get()
        .unwrap_or_else(|| DEFAULT_CONFIG.get_or_init(AccConfig::default))
}

/// A flag modparam: -1 = unset, 0..=31 a flag (Kamailio's `flag_in_range`).
fn flag(v: i64, name: &str) -> Result<Option<u32>, Error> {
    match v {
        -1 => Ok(None),
        0..=31 => Ok(u32::try_from(v).ok()),
        _ => Err(Error::Config(format!(
            "acc: {name} set to invalid value {v} (a flag is 0..31, or -1 for none)"
        ))),
    }
}

/// Parameters that are accepted only at their default value (a different value would need
/// something ferrosip does not have yet), and those that change nothing in log accounting.
fn refuse_unsupported(name: &str, v: &ModValue) -> Result<(), Error> {
    let int = match v {
        ModValue::Int(i) => Some(*i),
        ModValue::Str(_) => None,
    };
    let not_yet = |why: &str| {
        Err(Error::NotImplemented(format!(
            "acc: modparam `{name}` = {} ({why})",
            match v {
                ModValue::Int(i) => i.to_string(),
                ModValue::Str(s) => format!("\"{s}\""),
            }
        )))
    };
    match (name, int) {
        ("early_media", Some(0))
        | ("report_ack", Some(0))
        | ("report_cancels", Some(0))
        | ("detect_direction", Some(0))
        | ("acc_prepare_always", Some(0))
        | ("acc_prepare_flag", Some(-1))
        | ("cdr_enable", Some(0)) => Ok(()),
        ("early_media", _) => not_yet("accounting provisional replies needs a tm hook for them"),
        ("report_ack", _) => not_yet("accounting e2e ACKs needs a tm hook for them"),
        ("report_cancels", _) => {
            not_yet("tm gives no final-reply callback for CANCEL transactions yet")
        }
        ("detect_direction", _) => not_yet("needs the rr direction API"),
        ("acc_prepare_always" | "acc_prepare_flag", _) => {
            not_yet("flags set after t_relay do not reach the final-reply hook")
        }
        ("cdr_enable", Some(1)) => not_yet("CDRs need the dialog module"),
        ("cdr_enable" | "cdr_extra_nullable" | "cdr_expired_dlg_enable", Some(i))
            if !(0..=1).contains(&i) =>
        {
            Err(Error::Config(format!("acc: {name} is out of range")))
        }
        // Without cdr_enable / db_url these change nothing, in Kamailio as here.
        _ => Ok(()),
    }
}

/// The clock of `time_mode` 3 (the host's local time) and 4 (UTC).
fn zone_of(time_mode: i64) -> Zone {
    if time_mode == 3 {
        Zone::Local
    } else {
        Zone::Utc
    }
}

/// Resolves `log_extra` / `db_extra` (`param`) against a registry holding the core and `pv`
/// variables (see the module docs for why a private one).
fn resolve_extras(param: &str, text: &str, max: usize) -> Result<Vec<(String, PvSpec)>, Error> {
    let reg = variable_registry()?;
    let items = line::parse_extra(text, max, |s| {
        parse_pv_ref(s.as_bytes()).map(|(_, used)| used)
    })
    .map_err(|e| Error::Config(format!("acc: {param}: {e}")))?;
    let mut out = Vec::with_capacity(items.len());
    for it in items {
        let (r, _) = parse_pv_ref(it.var.as_bytes())
            .map_err(|e| Error::Config(format!("acc: log_extra `{}`: {e}", it.var)))?;
        if r.name == "var" || r.name == "shv" {
            return Err(Error::NotImplemented(format!(
                "acc: {param} `{}={}`: ${} values are not reachable from acc yet",
                it.name, it.var, r.name
            )));
        }
        let spec = reg.resolve_pv(&r).map_err(|e| {
            Error::Config(format!(
                "acc: {param} `{}={}`: {e} (ferrosip's acc resolves core and pv module variables only)",
                it.name, it.var
            ))
        })?;
        out.push((it.name, spec));
    }
    Ok(out)
}

fn variable_registry() -> Result<Registry, Error> {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::core_pvs();
    reg.add(core)?;
    reg.add(crate::pv::exports())?;
    Ok(reg)
}

/// `acc_log_request`'s first parameter may not be empty (Kamailio: "first parameter is empty").
fn comment_fixup(args: &mut [ferrosip_api::Arg]) -> Result<(), String> {
    match args.first() {
        Some(ferrosip_api::Arg::Str(s)) if s.is_empty() => Err("first parameter is empty".into()),
        _ => Ok(()),
    }
}

/// The core attributes every line takes from the request; `None` when Call-ID, CSeq, From or To
/// cannot be parsed (Kamailio: "failed to preparse request").
fn request_core(msg: &Msg) -> Option<Core> {
    let buf = msg.buf();
    let cseq = msg.cseq().ok()?;
    let from = msg.from().ok()?;
    let to = msg.to().ok()?;
    let call_id = msg.call_id().ok()?;
    Some(Core {
        method: cseq.method_span.of(buf).to_vec(),
        from_tag: from.tag.map(|t| t.of(buf).to_vec()).unwrap_or_default(),
        to_tag: to.tag.map(|t| t.of(buf).to_vec()).unwrap_or_default(),
        call_id: call_id.of(buf).to_vec(),
        code: Vec::new(),
        reason: Vec::new(),
    })
}

fn log_request(ctx: &mut Ctx<'_>, c: &AccConfig, comment: &[u8]) -> RetCode {
    let Some(mut core) = request_core(ctx.msg) else {
        ctx.log_error("acc: failed to preparse request");
        return RetCode::FALSE;
    };
    (core.code, core.reason) = line::split_comment(comment);
    emit(ctx, c, ACC_REQUEST, &core);
    RetCode::TRUE
}

fn is_set(flags: u32, f: Option<u32>) -> bool {
    f.is_some_and(|f| flags & (1u32 << f) != 0)
}

/// The final-reply hook: Kamailio's `acc_onreply` (with `on_missed` for negative INVITE replies).
fn on_final(ctx: &mut Ctx<'_>, c: &AccConfig, h: &DbHandle, fr: &FinalReply<'_>) {
    let Some(mut core) = request_core(ctx.msg) else {
        return;
    };
    let method = ctx.msg.method();
    // report_cancels = 0 (the only value accepted): CANCEL transactions are never accounted.
    if method == Some(Method::Cancel) {
        return;
    }
    let flags = ctx.state.flags;
    let log_acc = is_set(flags, c.log_flag);
    let log_mc = is_set(flags, c.missed_flag);
    let db_acc = c.db.as_ref().is_some_and(|d| is_set(flags, d.flag));
    let db_mc = c.db.as_ref().is_some_and(|d| is_set(flags, d.missed_flag));
    let (acc_on, mc_on) = (log_acc || db_acc, log_mc || db_mc);
    // Kamailio arms the reply callbacks only when one of these flags is set on the request.
    if !acc_on && !mc_on {
        return;
    }
    core.code = fr.code.to_string().into_bytes();
    let relayed = fr.reply.filter(|_| !fr.local);
    let reply_to_tag = fr.reply.and_then(|r| {
        r.to()
            .ok()
            .and_then(|t| t.tag.map(|s| s.of(r.buf()).to_vec()))
    });
    core.reason = match relayed {
        Some(r) => c
            .reason_from_hf
            .then(|| reason_header(r))
            .flatten()
            .unwrap_or_else(|| fr.reason.to_vec()),
        // Locally generated replies are accounted with the canonical phrase of their code.
        None => line::error_text(fr.code).as_bytes().to_vec(),
    };
    let request_to_tag = std::mem::take(&mut core.to_tag);
    let mut local_tag_used = false;
    if method == Some(Method::Invite) && fr.code >= 300 && mc_on {
        core.to_tag = match (relayed, &reply_to_tag) {
            (Some(_), Some(t)) => t.clone(),
            (Some(_), None) => request_to_tag.clone(),
            // A local reply: the request's To tag, or the tag tm generated for the reply.
            (None, _) if !request_to_tag.is_empty() => request_to_tag.clone(),
            (None, t) => {
                local_tag_used = true;
                t.clone().unwrap_or_default()
            }
        };
        if log_mc {
            emit(ctx, c, ACC_MISSED, &core);
        }
        if let Some(d) = c.db.as_ref().filter(|_| db_mc) {
            db_write(ctx, d, h, &d.table_missed, &core);
        }
        // Kamailio clears the flags on the request so that a call is reported missed once; the
        // context here is tm's copy for this callback, cleared for any later callback on it.
        let db_missed = c.db.as_ref().and_then(|d| d.missed_flag).filter(|_| db_mc);
        for f in [c.missed_flag.filter(|_| log_mc), db_missed]
            .into_iter()
            .flatten()
        {
            ctx.state.flags &= !(1u32 << f);
        }
    }
    let report = if fr.code >= 300 {
        is_set(flags, c.failed_flag) && !c.failed_filter.contains(&fr.code)
    } else {
        acc_on
    };
    if !report || !acc_on {
        return;
    }
    core.to_tag = match relayed {
        Some(_) => reply_to_tag.unwrap_or(request_to_tag),
        // Kamailio takes the request's To here; its missed-call report just before left the
        // generated tag in its environment, which fills an empty To tag.
        None if request_to_tag.is_empty() && local_tag_used => reply_to_tag.unwrap_or_default(),
        None => request_to_tag,
    };
    if log_acc {
        emit(ctx, c, ACC_ANSWERED, &core);
    }
    if let Some(d) = c.db.as_ref().filter(|_| db_acc) {
        db_write(ctx, d, h, &d.table_acc, &core);
    }
}

/// `acc_db_request(comment, table)`: Kamailio's `w_acc_db_request`.
fn db_request(
    ctx: &mut Ctx<'_>,
    c: &AccConfig,
    h: &DbHandle,
    comment: &[u8],
    table: &[u8],
) -> RetCode {
    let Some(d) = c.db.as_ref().filter(|_| h.get().is_some()) else {
        ctx.log_error("acc: db support not configured");
        return RetCode::FALSE;
    };
    let Some(mut core) = request_core(ctx.msg) else {
        ctx.log_error("acc: failed to preparse request");
        return RetCode::FALSE;
    };
    if table.len() >= db::MAX_TABLE {
        ctx.log_error(&format!(
            "acc: acc db table name too big [{}] max {}",
            String::from_utf8_lossy(table),
            db::MAX_TABLE
        ));
        return RetCode::FALSE;
    }
    (core.code, core.reason) = line::split_comment(comment);
    if db_insert(ctx, d, h, &String::from_utf8_lossy(table), &core) {
        RetCode::TRUE
    } else {
        RetCode::FALSE
    }
}

/// A report of the final-reply hook into `table` (rendered for this message).
fn db_write(
    ctx: &mut Ctx<'_>,
    d: &DbSettings,
    h: &DbHandle,
    table: &ferrosip_api::Format,
    core: &Core,
) {
    if let Some(t) = DbSettings::table_name(ctx, table) {
        db_insert(ctx, d, h, &t, core);
    }
}

/// One row; false (and the error logged, as Kamailio's "failed to insert into database") when it
/// could not be written.
fn db_insert(ctx: &mut Ctx<'_>, d: &DbSettings, h: &DbHandle, table: &str, core: &Core) -> bool {
    let Some(db) = h.get() else {
        ctx.log_error("acc: db support not configured");
        return false;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Stamp {
        secs: now.as_secs(),
        micros: now.subsec_micros(),
    };
    let row = d.row(ctx, db.dialect(), core, at);
    match db::insert(db, table, &row) {
        Ok(()) => true,
        Err(e) => {
            ctx.log_error(&format!("acc: {e}"));
            false
        }
    }
}

/// The body of the reply's first `Reason` header (`reason_from_hf`).
fn reason_header(r: &Msg) -> Option<Vec<u8>> {
    let buf = r.buf();
    let hs = r.headers().ok()?;
    hs.iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(b"Reason"))
        .map(|h| h.value.of(buf).to_vec())
}

/// Evaluates the extras and prints the line through the log back end.
fn emit(ctx: &mut Ctx<'_>, c: &AccConfig, text: &str, core: &Core) {
    if !ctx.server.log_enabled(c.level) {
        return;
    }
    let mut extras: Vec<(&str, Vec<u8>)> = Vec::with_capacity(c.extras.len());
    for (name, spec) in &c.extras {
        let v = match spec.try_get(ctx) {
            Ok(Value::Null) => Vec::new(),
            Ok(v) => v.into_bytes(),
            Err(e) => {
                ctx.log_error(&format!("acc: failed to get '{name}': {e}"));
                Vec::new()
            }
        };
        extras.push((name.as_str(), v));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let at = Stamp {
        secs: now.as_secs(),
        micros: now.subsec_micros(),
    };
    let (text, truncated) = line::render(text, at, &c.time, core, &extras);
    if truncated {
        ctx.log(ferrosip_api::L_WARN, "acc message too long, truncating..");
    }
    ctx.log_line(&LogLine {
        level: c.level,
        // Kamailio's 0 (`LOG_KERN`) means "the core's log_facility" in its log macros.
        facility: (c.facility != 0).then_some(c.facility),
        prefix: Some(ORIGIN),
        text: &text,
    });
}

fn params() -> Vec<ModParam> {
    let int = |n: &'static str, doc: &'static str| ModParam::new(n, ModParamType::Int, doc);
    let st = |n: &'static str, doc: &'static str| ModParam::new(n, ModParamType::Str, doc);
    let dbp = "database accounting (used when db_url is set, as in Kamailio)";
    let cdr = "no effect without cdr_enable (as in Kamailio; cdr_enable=1 is refused)";
    let mut v = vec![
        int(
            "log_flag",
            "message flag that accounts the transaction's final reply",
        ),
        int(
            "log_missed_flag",
            "message flag that reports negative INVITE replies as missed calls",
        ),
        int(
            "failed_transaction_flag",
            "message flag that also accounts negative final replies",
        ),
        st(
            "failed_filter",
            "comma-separated codes (>= 300) not accounted as failed transactions",
        ),
        int("log_level", "level of the acc lines (default L_NOTICE, 1)"),
        st(
            "log_facility",
            "syslog facility of the acc lines (default LOG_DAEMON)",
        ),
        st(
            "log_extra",
            "extra attributes: name=$var;name=$var… (core and pv variables)",
        ),
        int(
            "acc_extra_size",
            "most extra attributes allowed (default 64)",
        ),
        int(
            "reason_from_hf",
            "1: the reason is the reply's Reason header when present",
        ),
        int(
            "time_mode",
            "0 seconds; 1 +microseconds; 2 +seconds.ms; 3/4 +formatted local/UTC time",
        ),
        st("time_attr", "attribute name for time_mode 2..4"),
        st("time_exten", "attribute name for time_mode 1"),
        st("time_format", "strftime format for time_mode 3/4"),
        int(
            "early_media",
            "only 0: provisional replies are not accounted",
        ),
        int("report_ack", "only 0: e2e ACKs are not accounted"),
        int(
            "report_cancels",
            "only 0: CANCEL transactions are not accounted",
        ),
        int(
            "detect_direction",
            "only 0: direction of in-dialog requests is not detected",
        ),
        int("acc_prepare_flag", "only -1"),
        int("acc_prepare_always", "only 0"),
        int("cdr_enable", "only 0: CDRs need the dialog module"),
        st(
            "db_url",
            "database of the acc / missed_calls rows (empty: no database accounting)",
        ),
        int(
            "acc_extra_nullable",
            "1: a db_extra variable without value is written as NULL",
        ),
        int(
            "db_flag",
            "message flag that writes the transaction's final reply to db_table_acc",
        ),
        int(
            "db_missed_flag",
            "message flag that writes negative INVITE replies to db_table_missed_calls",
        ),
        st(
            "db_extra",
            "extra columns: name=$var;name=$var… (core and pv variables)",
        ),
        st(
            "db_table_acc",
            "table of accounted transactions (acc; may hold variables)",
        ),
        st(
            "db_table_missed_calls",
            "table of missed calls (missed_calls; may hold variables)",
        ),
        st("acc_method_column", dbp),
        st("acc_from_tag_column", dbp),
        st("acc_to_tag_column", dbp),
        st("acc_callid_column", dbp),
        st("acc_sip_code_column", dbp),
        st("acc_sip_reason_column", dbp),
        st("acc_time_column", dbp),
        int(
            "db_insert_mode",
            "0, 1 (delayed) or 2 (async): every mode inserts at once",
        ),
        st("cdr_skip", cdr),
        int("cdr_log_enable", cdr),
        int("cdr_start_on_confirmed", cdr),
        st("cdr_facility", cdr),
        st("cdr_extra", cdr),
        int("cdr_extra_nullable", cdr),
        st("cdr_start_id", cdr),
        st("cdr_end_id", cdr),
        st("cdr_duration_id", cdr),
        int("cdr_expired_dlg_enable", cdr),
        st("cdrs_table", cdr),
        int("cdr_on_failed", cdr),
        int("cdr_extra_size", cdr),
        int(
            "clone_msg",
            "internal memory handling of Kamailio: no effect",
        ),
    ];
    let mut legs = st("multi_leg_info", "multi-leg accounting: not implemented");
    legs.implemented = false;
    v.push(legs);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(list: &[(&'static str, ModValue)]) -> Result<AccConfig, Error> {
        configure(list)
    }

    #[test]
    fn flags_and_refusals() {
        let ok: &[&[(&str, ModValue)]] = &[
            &[
                ("log_flag", ModValue::Int(1)),
                ("log_missed_flag", ModValue::Int(31)),
            ],
            &[
                ("early_media", ModValue::Int(0)),
                ("report_ack", ModValue::Int(0)),
            ],
            &[
                ("db_flag", ModValue::Int(2)),
                ("db_url", ModValue::Str(String::new())),
            ],
            &[
                ("cdr_enable", ModValue::Int(0)),
                ("cdr_extra", ModValue::Str("x=$fU".into())),
            ],
            &[("time_mode", ModValue::Int(9))],
        ];
        for list in ok {
            assert!(p(list).is_ok(), "{list:?}");
        }
        let bad: &[(&str, ModValue, &str)] = &[
            ("log_flag", ModValue::Int(32), "invalid value"),
            (
                "failed_transaction_flag",
                ModValue::Int(-2),
                "invalid value",
            ),
            ("early_media", ModValue::Int(1), "not implemented"),
            ("report_ack", ModValue::Int(1), "not implemented"),
            ("report_cancels", ModValue::Int(1), "not implemented"),
            ("detect_direction", ModValue::Int(1), "not implemented"),
            ("acc_prepare_flag", ModValue::Int(3), "not implemented"),
            ("cdr_enable", ModValue::Int(1), "dialog"),
            ("cdr_enable", ModValue::Int(2), "out of range"),
            ("db_insert_mode", ModValue::Int(3), "must be 0, 1 or 2"),
            ("log_facility", ModValue::Str("LOG_NOPE".into()), "facility"),
            (
                "failed_filter",
                ModValue::Str("200".into()),
                "invalid response code",
            ),
            ("log_extra", ModValue::Str("a=$var(x)".into()), "$var"),
            (
                "log_extra",
                ModValue::Str("a=$sht(t=>k)".into()),
                "pv module variables only",
            ),
            ("log_extra", ModValue::Str("a=$fU;".into()), "parse failed"),
        ];
        for (n, v, want) in bad {
            let e = p(&[(n, v.clone())])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(e.contains(want), "{n}={v:?}: `{e}` should say `{want}`");
        }
        // The database flags are checked only with db_url, as Kamailio does.
        let url = ("db_url", ModValue::Str("mysql://x@y/z".into()));
        assert!(p(&[("db_flag", ModValue::Int(40))]).is_ok());
        let e = p(&[url.clone(), ("db_flag", ModValue::Int(40))])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("db_flag set to invalid value"), "{e}");
        let c = p(&[
            url,
            ("db_missed_flag", ModValue::Int(2)),
            ("db_table_acc", ModValue::Str("acc_$rU".into())),
            ("db_extra", ModValue::Str("src=$fU;ip=$si".into())),
            ("acc_time_column", ModValue::Str("ts".into())),
            ("time_mode", ModValue::Int(1)),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let d = c.db.unwrap_or_else(|| panic!("no db settings"));
        assert_eq!((d.flag, d.missed_flag), (None, Some(2)));
        assert_eq!(d.columns[6], "ts");
        assert_eq!(
            d.extras.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            ["src", "ip"]
        );
        assert_eq!(
            d.time,
            DbTime::SecsMicros {
                attr: "time_attr".into(),
                exten: "time_exten".into()
            }
        );
    }

    #[test]
    fn stock_config_extras_resolve() {
        let c = p(&[(
            "log_extra",
            ModValue::Str(
                "src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd"
                    .into(),
            ),
        )])
        .unwrap_or_else(|e| panic!("{e}"));
        let names: Vec<&str> = c.extras.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "src_user",
                "src_domain",
                "src_ip",
                "dst_ouser",
                "dst_user",
                "dst_domain"
            ]
        );
    }

    #[test]
    fn time_modes() {
        let c = p(&[
            ("time_mode", ModValue::Int(1)),
            ("time_exten", ModValue::Str("usec".into())),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.time,
            TimeMode::Micros {
                exten: "usec".into()
            }
        );
        let c = p(&[
            ("time_mode", ModValue::Int(4)),
            ("time_format", ModValue::Str("%s".into())),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            c.time,
            TimeMode::Formatted {
                attr: "time_attr".into(),
                format: "%s".into(),
                zone: Zone::Utc,
            }
        );
    }

    const INV: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

    fn reply_to(req: &str, code: u16, reason: &str, tag: &str, extra: &str) -> Msg {
        let mut r = format!("SIP/2.0 {code} {reason}\r\n");
        for l in req.split("\r\n").skip(1).filter(|l| !l.is_empty()) {
            if l.starts_with("To:") {
                r.push_str(&format!("{l};tag={tag}\r\n"));
            } else if !l.starts_with("Content-Length") {
                r.push_str(&format!("{l}\r\n"));
            }
        }
        r.push_str(extra);
        r.push_str("Content-Length: 0\r\n\r\n");
        Msg::parse(r.into_bytes()).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs the final-reply hook on `req` with `flags` and returns the printed lines without
    /// the timestamp (`text|attributes`).
    fn finals(c: &AccConfig, req: &str, flags: u32, fr: &FinalReply<'_>) -> Vec<String> {
        let mut msg = Msg::parse(req.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
        let mut worker = ferrosip_api::WorkerState::default();
        let mut rec = ferrosip_api::Recorder {
            debug: 3,
            ..Default::default()
        };
        let mut ctx = Ctx::new(
            &mut msg,
            ferrosip_api::RouteType::Request,
            ferrosip_api::RecvInfo::default(),
            &mut worker,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        ctx.state.flags = flags;
        on_final(&mut ctx, c, &DbHandle::default(), fr);
        rec.lines
            .iter()
            .map(|(level, fac, prefix, text)| {
                assert_eq!(
                    (*level, *fac, prefix.as_deref()),
                    (
                        c.level,
                        (c.facility != 0).then_some(c.facility),
                        Some(ORIGIN)
                    )
                );
                let (head, rest) = text.split_once("timestamp=").unwrap_or((text, ""));
                let rest = rest.split_once(';').map_or("", |(_, r)| r);
                format!("{head}|{rest}")
            })
            .collect()
    }

    #[test]
    fn final_replies() {
        let c = p(&[
            ("log_flag", ModValue::Int(1)),
            ("log_missed_flag", ModValue::Int(2)),
            ("failed_transaction_flag", ModValue::Int(3)),
            ("failed_filter", ModValue::Str("487".into())),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        let (acc, mc, failed) = (1u32 << 1, 1u32 << 2, 1u32 << 3);
        let ok = reply_to(INV, 200, "OK Fine", "b1", "");
        let busy = reply_to(INV, 486, "Busy Now", "b2", "");
        let gone = reply_to(INV, 487, "Request Terminated", "b3", "");
        let local = reply_to(INV, 404, "Nobody Home", "gen", "");
        let fr = |code, reason: &'static [u8], reply, local| FinalReply {
            code,
            reason,
            reply,
            local,
        };
        let base = "method=INVITE;from_tag=a1;to_tag=";
        let cid = ";call_id=c1@10.0.0.1";
        let ans = |to: &str, code: &str, why: &str| {
            format!("{ACC_ANSWERED}|{base}{to}{cid};code={code};reason={why}")
        };
        let mis = |to: &str, code: &str, why: &str| {
            format!("{ACC_MISSED}|{base}{to}{cid};code={code};reason={why}")
        };
        let cases: Vec<(&str, u32, FinalReply<'_>, Vec<String>)> = vec![
            (
                "2xx with log_flag",
                acc,
                fr(200, b"OK Fine", Some(&ok), false),
                vec![ans("b1", "200", "OK Fine")],
            ),
            (
                "2xx without flags",
                0,
                fr(200, b"OK Fine", Some(&ok), false),
                vec![],
            ),
            (
                "2xx with the missed flag only",
                mc,
                fr(200, b"OK Fine", Some(&ok), false),
                vec![],
            ),
            (
                "486 with log_flag only",
                acc,
                fr(486, b"Busy Now", Some(&busy), false),
                vec![],
            ),
            (
                "486 missed",
                acc | mc,
                fr(486, b"Busy Now", Some(&busy), false),
                vec![mis("b2", "486", "Busy Now")],
            ),
            (
                "486 missed and failed",
                acc | mc | failed,
                fr(486, b"Busy Now", Some(&busy), false),
                vec![mis("b2", "486", "Busy Now"), ans("b2", "486", "Busy Now")],
            ),
            // failed alone does not arm the callbacks, as in Kamailio.
            (
                "486 failed flag only",
                failed,
                fr(486, b"Busy Now", Some(&busy), false),
                vec![],
            ),
            (
                "486 failed and missed without log_flag",
                mc | failed,
                fr(486, b"Busy Now", Some(&busy), false),
                vec![mis("b2", "486", "Busy Now")],
            ),
            (
                "487 in failed_filter",
                acc | failed,
                fr(487, b"Request Terminated", Some(&gone), false),
                vec![],
            ),
            (
                "local 404: canonical phrase, generated tag",
                acc | mc | failed,
                fr(404, b"Nobody Home", Some(&local), true),
                vec![
                    mis("gen", "404", "Not Found"),
                    ans("gen", "404", "Not Found"),
                ],
            ),
            (
                "local 404 not missed: the request's empty To tag",
                acc | failed,
                fr(404, b"Nobody Home", Some(&local), true),
                vec![ans("", "404", "Not Found")],
            ),
        ];
        for (what, flags, f, want) in cases {
            assert_eq!(finals(&c, INV, flags, &f), want, "{what}");
        }
        // Not an INVITE: no missed call; CANCEL: never accounted (report_cancels = 0).
        let msg = INV.replace("INVITE", "MESSAGE");
        let r = reply_to(&msg, 486, "Busy Now", "m1", "");
        assert_eq!(
            finals(&c, &msg, acc | mc, &fr(486, b"Busy Now", Some(&r), false)),
            Vec::<String>::new()
        );
        let r2 = reply_to(&msg, 200, "OK", "m1", "");
        assert_eq!(
            finals(&c, &msg, acc, &fr(200, b"OK", Some(&r2), false)),
            vec![format!(
                "{ACC_ANSWERED}|method=MESSAGE;from_tag=a1;to_tag=m1{cid};code=200;reason=OK"
            )]
        );
        let cancel = INV.replace("INVITE", "CANCEL");
        let r3 = reply_to(&cancel, 200, "canceling", "", "");
        assert!(finals(&c, &cancel, acc, &fr(200, b"canceling", Some(&r3), true)).is_empty());
    }

    #[test]
    fn reason_from_header_and_level() {
        let c = p(&[
            ("log_flag", ModValue::Int(1)),
            ("failed_transaction_flag", ModValue::Int(1)),
            ("reason_from_hf", ModValue::Int(1)),
            ("log_level", ModValue::Int(2)),
            ("log_facility", ModValue::Str("LOG_LOCAL3".into())),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((c.level, c.facility), (2, 19 << 3));
        let kern = p(&[("log_facility", ModValue::Str("LOG_KERN".into()))]);
        assert_eq!(kern.map(|k| k.facility).ok(), Some(0));
        let with = reply_to(INV, 480, "Gone", "t", "Reason: Q.850;cause=16\r\n");
        let without = reply_to(INV, 480, "Gone", "t", "");
        let f = |r| FinalReply {
            code: 480,
            reason: b"Gone",
            reply: Some(r),
            local: false,
        };
        let line = |why: &str| {
            vec![format!(
                "{ACC_ANSWERED}|method=INVITE;from_tag=a1;to_tag=t;call_id=c1@10.0.0.1;code=480;reason={why}"
            )]
        };
        assert_eq!(finals(&c, INV, 2, &f(&with)), line("Q.850;cause=16"));
        assert_eq!(finals(&c, INV, 2, &f(&without)), line("Gone"));
    }
}

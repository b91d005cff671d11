//! Process set-up steps that come after the config checks in Kamailio's `daemonize()`: the pid and
//! pgid files, the root and working directories.
//!
//! Not called yet: ferrosip refuses to start before reaching them (see [`crate::startup`]), because a
//! server that does not serve must not leave a pid file behind. They exist, tested, for the issue that
//! brings the receive path; daemonizing (fork/setsid) and dropping privileges will join them there,
//! before any thread is spawned.

use std::io::ErrorKind;

use crate::startup::Ids;
use crate::Error;

/// Writes `pid` to `path` as Kamailio does (`"<pid>\n"`), refusing when the file names a process that
/// is still running, and replacing a stale one.
pub fn claim_pid_file(path: &str, pid: u32, ids: Ids) -> Result<(), Error> {
    let fail = |why: String| Error::PidFile {
        path: path.to_string(),
        why,
    };
    match std::fs::read_to_string(path) {
        Ok(old) => {
            let old: i32 = old
                .trim()
                .parse()
                .map_err(|_| fail("exists, but does not contain a valid pid number".into()))?;
            if old > 0 && process_exists(old) {
                return Err(fail(format!("running process {old} found in the pid file")));
            }
            tracing::warn!(
                func = "claim_pid_file",
                "pid file {path} contains old pid {old}, replacing it"
            );
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(fail(e.to_string())),
    }
    write_id_file(path, pid, ids).map_err(fail)
}

/// Writes the process group id to `path` (`-G`).
pub fn write_pgid_file(path: &str, pgid: u32, ids: Ids) -> Result<(), Error> {
    if let Ok(old) = std::fs::read_to_string(path) {
        if old.trim().parse::<i32>().is_err() {
            return Err(Error::PidFile {
                path: path.to_string(),
                why: "exists, but does not contain a valid pgid number".into(),
            });
        }
    }
    write_id_file(path, pgid, ids).map_err(|why| Error::PidFile {
        path: path.to_string(),
        why,
    })
}

/// Changes the root directory (`-t`/`chroot`), then the working directory (`-w`/`workdir`, default
/// `/`), in that order as Kamailio does, so the working directory is inside the new root.
pub fn enter_directories(chroot: Option<&str>, workdir: Option<&str>) -> Result<(), Error> {
    if let Some(root) = chroot {
        std::os::unix::fs::chroot(root).map_err(|e| Error::Directory {
            what: "chroot to",
            dir: root.to_string(),
            why: e.to_string(),
        })?;
    }
    let wd = workdir.unwrap_or("/");
    std::env::set_current_dir(wd).map_err(|e| Error::Directory {
        what: "chdir to",
        dir: wd.to_string(),
        why: e.to_string(),
    })
}

fn write_id_file(path: &str, id: u32, ids: Ids) -> Result<(), String> {
    std::fs::write(path, format!("{id}\n"))
        .map_err(|e| format!("{e}, check directory permissions"))?;
    if ids.uid.is_some() || ids.gid.is_some() {
        std::os::unix::fs::chown(path, ids.uid, ids.gid).map_err(|e| format!("chown: {e}"))?;
    }
    Ok(())
}

/// `kill(pid, 0)`: the process exists when the signal could be sent or we lack the permission to.
fn process_exists(pid: i32) -> bool {
    // SAFETY: signal 0 sends nothing; kill only checks that the target exists and may be signalled.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> String {
        let d = std::env::temp_dir().join(format!("ferrosip-process-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&d);
        d.join(name).to_string_lossy().into_owned()
    }

    #[test]
    fn pid_files() {
        let me = std::process::id();
        // (existing content, expected outcome)
        let table: [(Option<String>, bool); 5] = [
            (None, true),
            // i32::MAX is above any pid_max: a stale pid, replaced.
            (Some(format!("{}\n", i32::MAX)), true),
            (Some(format!("{me}\n")), false),
            (Some("garbage\n".to_string()), false),
            (Some(String::new()), false),
        ];
        for (i, (old, ok)) in table.into_iter().enumerate() {
            let p = tmp(&format!("pid{i}"));
            let _ = std::fs::remove_file(&p);
            if let Some(text) = &old {
                let _ = std::fs::write(&p, text);
            }
            let r = claim_pid_file(&p, 4242, Ids::default());
            assert_eq!(r.is_ok(), ok, "{old:?}: {r:?}");
            let now = std::fs::read_to_string(&p).unwrap_or_default();
            if ok {
                assert_eq!(now, "4242\n");
            } else {
                assert_eq!(Some(now), old, "a refused pid file is left alone");
            }
        }
        let p = tmp("pgid");
        let _ = std::fs::remove_file(&p);
        assert!(write_pgid_file(&p, 77, Ids::default()).is_ok());
        assert_eq!(std::fs::read_to_string(&p).unwrap_or_default(), "77\n");
        assert!(claim_pid_file("/nonexistent-dir-ferrosip/x.pid", 1, Ids::default()).is_err());
    }

    #[test]
    fn directories_are_checked() {
        // Only failure cases: changing the test process's directories would disturb other tests.
        assert!(enter_directories(None, Some("/nonexistent-dir-ferrosip")).is_err());
        assert!(enter_directories(Some("/nonexistent-dir-ferrosip"), None).is_err());
    }
}

#!/usr/bin/env python3
"""Side-by-side benchmark: SIPp load against ferrosip and the real Kamailio with the same config.

For each server and workload it reports: calls, failed calls, server CPU time per call (utime+stime of every
server process and thread during the run, divided by the calls), p50/p99 response time (from the latency
probe, microseconds), peak PSS of the server's processes, user-space instructions per call under
`valgrind --tool=callgrind` (a separate, slow run; the difference between N calls and 0 calls, so startup
is not counted), and the ferrosip/kamailio ratios from the same run.

Kamailio runs with `-x tlsf` (its fastest allocator; Debian's default `qm` is not the bar).
Everything talks to 127.0.0.1. Needs: kamailio, sipp (Debian: kamailio, sip-tester), valgrind, python3.

    python3 bench/run.py                       # both servers, all workloads, 2000 calls/s for 20 s
    python3 bench/run.py --servers kamailio --workloads sl --rate 1000 --seconds 10 --no-callgrind
"""

import argparse
import hashlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from probe import Probe, percentile  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PORT = 5070
UAS_PORT = 5090
CLK_TCK = os.sysconf("SC_CLK_TCK")

WORKLOADS = {
    # name: (config, sipp client args, needs a SIPp UAS, probe in echo mode)
    "sl": ("sl.cfg", ["-sf", os.path.join(HERE, "scenarios", "options.xml")], False, False),
    "stateless": ("stateless.cfg", ["-sn", "uac"], True, True),
    "stateful": ("stateful.cfg", ["-sn", "uac"], True, True),
    # Phase 1 (not measured): REGISTER of as many users as there will be calls (PRE below).
    "registrar": ("registrar.cfg", ["-sf", os.path.join(HERE, "scenarios", "uac_user.xml")], True, False),
    # Phase 1 (not measured): digest-authenticated REGISTER of every subscriber; the measured call is the
    # proxy-authenticated INVITE (407, ACK, INVITE with credentials) to the registered user, ACK, BYE.
    "auth": ("auth.cfg", ["-sf", os.path.join(HERE, "scenarios", "uac_auth.xml")], True, False),
}

# Workloads that need a SIPp run before the measured one: (scenario, rate).
PRE = {
    "registrar": (os.path.join(HERE, "scenarios", "register.xml"), 1000),
    "auth": (os.path.join(HERE, "scenarios", "register_auth.xml"), 1000),
}

# SIPp's socket buffers (default 64 KB): 1 MB, so that SIPp, one thread serving thousands of calls,
# drops no datagram when it falls behind for a moment (a dropped 200 of an INVITE stalls its call).
SIPP_BUF = ["-buff_size", "1048576"]

# The SIPp UAS of a workload when not scenarios/uas.xml.
UAS_SCENARIO = {"auth": "uas_rr.xml"}

# Workloads whose config reads a database: the SQLite file run.py creates in the run's directory
# (Kamailio's subscriber and version tables; subscriber u<i> with password pw<i>, i = 1…calls, the
# names the SIPp scenarios use), passed to both servers as -A 'DBURL="sqlite:///…"'.
DB_WORKLOADS = {"auth"}
DB_FILE = "auth.sqlite"
REALM = "127.0.0.1"
# SIPp expands no keyword inside [authentication username=… password=…]: the subscribers reach the
# scenarios through an injection file whose second field is the whole [authentication …] keyword (SIPp
# expands it there), read in order (line i = the i-th call of each phase: the same user in both).
USERS_CSV = "users.csv"

# Under callgrind: calls (and registrations) per second when not 200 (an authenticated call costs
# Kamailio's workers, slowed ~50× by valgrind, too much for 200/s on two cores: retransmissions then
# fail calls), and the workloads whose no-call run does the registrations too, so that only the calls
# remain in the difference (the registrar workload's figure has always included them; kept comparable).
CG_RATE = {"auth": 20}
CG_PRE_BOTH = {"auth"}


# The floor (bench/floor): one recvfrom + one sendto per datagram and nothing else, for the workloads
# it can serve. Its CPU per call is the bound below which no server that reads and writes every
# datagram once can go.
FLOOR_MODES = {"sl": "sl", "stateless": "stateless"}


def make_db(rundir, users):
    """Creates the SQLite database with Kamailio's schema (version 7 of subscriber, as its auth_db checks)
    and `users` subscribers; returns its URL."""
    path = os.path.join(rundir, DB_FILE)
    db = sqlite3.connect(path)
    try:
        db.executescript(
            "CREATE TABLE version (id INTEGER PRIMARY KEY NOT NULL, table_name VARCHAR(32) NOT NULL,"
            " table_version INTEGER DEFAULT 0 NOT NULL, CONSTRAINT version_table_name_idx UNIQUE (table_name));"
            "INSERT INTO version (table_name, table_version) VALUES ('version', 1), ('subscriber', 7);"
            "CREATE TABLE subscriber (id INTEGER PRIMARY KEY NOT NULL, username VARCHAR(64) DEFAULT '' NOT NULL,"
            " domain VARCHAR(64) DEFAULT '' NOT NULL, password VARCHAR(64) DEFAULT '' NOT NULL,"
            " ha1 VARCHAR(128) DEFAULT '' NOT NULL, ha1b VARCHAR(128) DEFAULT '' NOT NULL,"
            " CONSTRAINT subscriber_account_idx UNIQUE (username, domain));"
            "CREATE INDEX subscriber_username_idx ON subscriber (username);")

        def md5(text):
            return hashlib.md5(text.encode()).hexdigest()

        # ha1/ha1b as `kamctl add` fills them (the config computes the HA1 from `password` instead).
        db.executemany(
            "INSERT INTO subscriber (username, domain, password, ha1, ha1b) VALUES (?, ?, ?, ?, ?)",
            ((f"u{i}", REALM, f"pw{i}", md5(f"u{i}:{REALM}:pw{i}"), md5(f"u{i}@{REALM}:{REALM}:pw{i}"))
             for i in range(1, users + 1)))
        db.commit()
    finally:
        db.close()
    with open(os.path.join(rundir, USERS_CSV), "w") as f:
        f.write("SEQUENTIAL\n")
        f.writelines(f"u{i};[authentication username=u{i} password=pw{i}]\n" for i in range(1, users + 1))
    return f"sqlite://{path}"


def server_cmd(server, cfg, rundir):
    if server == "floor":
        binary = os.environ.get("FLOOR_BIN", os.path.join(HERE, "floor", "target", "release", "floor"))
        wl = os.path.basename(cfg)[: -len(".cfg")]
        return [binary, FLOOR_MODES[wl], str(PORT)]
    if server == "kamailio":
        # 512 MB of shared memory: with the default 64 MB the stateful workload at 2,000 calls/s runs
        # out of it (transactions live wt_timer = 5 s after their final reply).
        return ["kamailio", "-f", cfg, "-DD", "-E", "-x", "tlsf", "-m", "512", "-Y", rundir, "-w", rundir]
    binary = os.environ.get("FERROSIP_BIN", os.path.join(ROOT, "target", "release", "ferrosip"))
    return [binary, "-f", cfg, "-DD", "-E", "-Y", rundir, "-w", rundir]


def server_args(server, wl, cfgdir, rundir, users):
    """The server's command line for workload `wl`, with its database made first when it needs one."""
    cmd = server_cmd(server, os.path.join(cfgdir, WORKLOADS[wl][0]), rundir)
    if wl in DB_WORKLOADS:
        cmd += ["-A", f'DBURL="{make_db(rundir, users)}"']
        if server == "kamailio":
            # Kamailio reads sqlite:///tmp/x as the path tmp/x relative to its working directory.
            cmd[cmd.index("-w") + 1] = "/"
    return cmd


def descendants(pid):
    """pid and every process below it."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except OSError:
            continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pids):
    """(user, system) CPU seconds of the processes (each with all its threads)."""
    user = system = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user += int(fields[11])  # utime (clock ticks)
            system += int(fields[12])  # stime
        except OSError:
            continue
    return user / CLK_TCK, system / CLK_TCK


def pss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def options_answered(port, timeout=0.3):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.bind(("127.0.0.1", 0))
    lp = s.getsockname()[1]
    msg = (f"OPTIONS sip:ping@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{lp};branch=z9hG4bKready\r\n"
           f"From: <sip:ready@127.0.0.1>;tag=r\r\nTo: <sip:ping@127.0.0.1>\r\nCall-ID: ready-{lp}\r\n"
           f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode()
    try:
        s.sendto(msg, ("127.0.0.1", port))
        s.recvfrom(65535)
        return True
    except OSError:
        return False
    finally:
        s.close()


def wait_listening(proc, port, answers_options, seconds=60.0):
    """True once the server is ready: it answers an OPTIONS, or (for forwarding configs, where an OPTIONS
    to the server itself would be forwarded back to it in a loop) its UDP port is bound."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if options_answered(port) if answers_options else port_bound(port):
            return True
        time.sleep(0.2)
    return False


def port_bound(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()


def stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def start_uas(workdir, calls, wl):
    return subprocess.Popen(
        ["sipp", "-sf", os.path.join(HERE, "scenarios", UAS_SCENARIO.get(wl, "uas.xml")), "-i", "127.0.0.1", "-p", str(UAS_PORT), "-m", str(calls), "-nostdin", *SIPP_BUF],
        cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def run_sipp(workdir, wl, rate, calls, timeout):
    _, args, needs_uas, _ = WORKLOADS[wl]
    cmd = ["sipp", *args, *SIPP_BUF, "-i", "127.0.0.1", "-p", "5080", "-m", str(calls), "-r", str(rate),
           "-nostdin", "-timeout", f"{timeout}s", "-timeout_error", "-trace_stat", "-stf", "stat.csv"]
    if wl in DB_WORKLOADS:
        cmd += ["-inf", os.path.join(workdir, USERS_CSV)]
    if needs_uas and wl not in PRE:
        cmd += ["-rsa", f"127.0.0.1:{PORT}", f"127.0.0.1:{UAS_PORT}"]
    else:
        cmd += [f"127.0.0.1:{PORT}"]
    r = subprocess.run(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=timeout + 30)
    ok, failed = parse_stat(os.path.join(workdir, "stat.csv"))
    return ok, failed, r.returncode


def pre_phase(workdir, wl, calls, rate=None):
    """Runs the workload's unmeasured first phase (registrations); True when it completed."""
    if wl not in PRE:
        return True
    scen, default_rate = PRE[wl]
    rate = rate or default_rate
    cmd = ["sipp", "-sf", scen, *SIPP_BUF, "-i", "127.0.0.1", "-p", "5081", "-m", str(calls), "-r", str(rate),
           "-nostdin", "-timeout", f"{calls // rate + 60}s", "-timeout_error", "-trace_stat", "-stf", "pre.csv"]
    if wl in DB_WORKLOADS:
        cmd += ["-inf", os.path.join(workdir, USERS_CSV)]
    cmd += [f"127.0.0.1:{PORT}"]
    subprocess.run(cmd, cwd=workdir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=calls // rate + 120)
    ok, _ = parse_stat(os.path.join(workdir, "pre.csv"))
    return ok == calls


def parse_stat(path):
    try:
        with open(path) as f:
            lines = [line.rstrip("\n").split(";") for line in f if line.strip()]
        head, last = lines[0], lines[-1]
        return int(last[head.index("SuccessfulCall(C)")]), int(last[head.index("FailedCall(C)")])
    except (OSError, ValueError, IndexError):
        return 0, 0


def measure(server, wl, rate, seconds, cfgdir):
    cfg, _, needs_uas, echo = WORKLOADS[wl]
    workdir = tempfile.mkdtemp(prefix=f"bench-{server}-{wl}-")
    calls = int(rate * seconds)
    proc = subprocess.Popen(server_args(server, wl, cfgdir, workdir, calls), cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(workdir, "server.log"), "w"),
                            start_new_session=True)
    uas = None
    try:
        if not wait_listening(proc, PORT, not echo):
            return {"error": f"server did not start (see {workdir}/server.log)"}
        if needs_uas:
            uas = start_uas(workdir, calls + 10, wl)
            time.sleep(0.5)
        if not pre_phase(workdir, wl, calls):
            return {"error": f"registrations failed (see {workdir})"}
        pids = descendants(proc.pid)
        cpu0 = cpu_seconds(pids)
        peak = [pss_kib(pids)]
        done = threading.Event()

        def sample():
            while not done.wait(0.25):
                peak[0] = max(peak[0], pss_kib(descendants(proc.pid)))

        threading.Thread(target=sample, daemon=True).start()
        probe = Probe(PORT, echo=echo)
        pt = threading.Thread(target=probe.run, args=(seconds,), daemon=True)
        pt.start()
        ok, failed, rc = run_sipp(workdir, wl, rate, calls, timeout=int(seconds * 3) + 30)
        pt.join()
        done.set()
        cpu1 = cpu_seconds(descendants(proc.pid))
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        return {
            "calls": ok, "failed": failed, "sipp_rc": rc,
            "cpu_us_per_call": (user + system) * 1e6 / ok if ok else float("nan"),
            # The kernel's share (system time): receiving, sending, waking up.
            "sys_share": system / (user + system) if user + system else float("nan"),
            "p50_us": percentile(probe.samples_us, 50), "p99_us": percentile(probe.samples_us, 99),
            "probe_lost": probe.lost, "peak_pss_kib": peak[0], "workdir": workdir,
        }
    finally:
        if uas is not None:
            stop(uas)
        stop(proc)


def callgrind_instructions(server, wl, calls, cfgdir):
    """Instructions per call: (run with `calls` calls) − (run with none), both under callgrind. The run with
    none idles as long as the calls took, so idle timers cancel out; for the workloads in CG_PRE_BOTH it
    does the unmeasured registrations too, so that only the calls remain in the difference."""
    totals = {}
    call_seconds = 2.0
    for n in (calls, 0):
        cfg, _, needs_uas, echo = WORKLOADS[wl]
        workdir = tempfile.mkdtemp(prefix=f"cg-{server}-{wl}-{n}-")
        cmd = ["valgrind", "--tool=callgrind", "--trace-children=yes",
               f"--callgrind-out-file={workdir}/cg.%p"] + server_args(server, wl, cfgdir, workdir, calls)
        proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                                stderr=open(os.path.join(workdir, "server.log"), "w"), start_new_session=True)
        uas = None
        try:
            if not wait_listening(proc, PORT, not echo, seconds=120):
                return None
            if n and needs_uas:
                uas = start_uas(workdir, n + 10, wl)
                time.sleep(0.5)
            if (n or wl in CG_PRE_BOTH) and not pre_phase(workdir, wl, calls, rate=CG_RATE.get(wl, 200)):
                return None
            if n:
                t0 = time.monotonic()
                ok, _, _ = run_sipp(workdir, wl, CG_RATE.get(wl, 200), n, timeout=n // CG_RATE.get(wl, 200) + 120)
                call_seconds = time.monotonic() - t0
                if ok != n:
                    return None
            else:
                time.sleep(call_seconds)
        finally:
            if uas is not None:
                stop(uas)
            stop(proc)
        total = 0
        for name in os.listdir(workdir):
            if name.startswith("cg."):
                with open(os.path.join(workdir, name)) as f:
                    for line in f:
                        if line.startswith("summary:") or line.startswith("totals:"):
                            total += int(line.split()[1])
                            break
        totals[n] = total
    return (totals[calls] - totals[0]) / calls


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", default="ferrosip,kamailio")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--rate", type=int, default=2000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--callgrind-calls", type=int, default=2000)
    ap.add_argument("--no-callgrind", action="store_true")
    a = ap.parse_args()
    for tool in ("sipp", "valgrind"):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is not installed")
    cfgdir = os.path.join(HERE, "cfg")
    results = {}
    for wl in a.workloads.split(","):
        for server in a.servers.split(","):
            if server == "floor" and wl not in FLOOR_MODES:
                continue
            r = measure(server, wl, a.rate, a.seconds, cfgdir)
            if "error" not in r and not a.no_callgrind:
                r["instr_per_call"] = callgrind_instructions(server, wl, a.callgrind_calls, cfgdir)
            results[(server, wl)] = r
            print(f"{server:9} {wl:10} {r}", flush=True)
    print()
    print("| workload | server | calls | failed | CPU µs/call | kernel % | p50 µs | p99 µs | peak PSS MiB | instr/call |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (server, wl), r in results.items():
        if "error" in r:
            print(f"| {wl} | {server} | {r['error']} | | | | | | | |")
            continue
        ipc = r.get("instr_per_call")
        print(f"| {wl} | {server} | {r['calls']} | {r['failed']} | {r['cpu_us_per_call']:.1f} | {r['sys_share'] * 100:.0f} "
              f"| {r['p50_us']:.0f} "
              f"| {r['p99_us']:.0f} | {r['peak_pss_kib'] / 1024:.1f} | {ipc if ipc is None else round(ipc)} |")
    for wl in a.workloads.split(","):
        f, k = results.get(("ferrosip", wl)), results.get(("kamailio", wl))
        if f and k and "error" not in f and "error" not in k:
            ratio = lambda key: f[key] / k[key] if k.get(key) else float("nan")  # noqa: E731
            print(f"ratio ferrosip/kamailio {wl}: CPU {ratio('cpu_us_per_call'):.2f}, p99 {ratio('p99_us'):.2f}, "
                  f"instr {ratio('instr_per_call') if f.get('instr_per_call') and k.get('instr_per_call') else 'n/a'}")


if __name__ == "__main__":
    main()

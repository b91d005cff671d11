"""UAC on 35070, UAS on 35072; Kamailio (tm) on 35071 in between. Records
timings of what each side sees. Scenario by argv[1]."""
import socket, sys, time, re

mode = sys.argv[1]
uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uac.bind(("127.0.0.1", 35070))
uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uas.bind(("127.0.0.1", 35072))
for s in (uac, uas): s.setblocking(False)
method = "OPTIONS" if mode.startswith("noninv") else "INVITE"
req = (f"{method} sip:bob@127.0.0.1:35072 SIP/2.0\r\n"
       "Via: SIP/2.0/UDP 127.0.0.1:35070;branch=z9hG4bK-probe-1;rport\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n"
       f"Call-ID: probe-{mode}@x\r\nCSeq: 1 {method}\r\nContact: <sip:alice@127.0.0.1:35070>\r\nContent-Length: 0\r\n\r\n")
t0 = time.time()
uac.sendto(req.encode(), ("127.0.0.1", 35071))
log = []
dur = float(sys.argv[2]) if len(sys.argv) > 2 else 20
replied = False
def reply(msg, code, reason, totag="b1"):
    hdrs = []
    for line in msg.split("\r\n")[1:]:
        if not line: break
        n = line.split(":")[0].lower()
        if n in ("via", "from", "call-id", "cseq"): hdrs.append(line)
        if n == "to": hdrs.append(line + (f";tag={totag}" if ";tag=" not in line else ""))
    return (f"SIP/2.0 {code} {reason}\r\n" + "\r\n".join(hdrs) + "\r\nContent-Length: 0\r\n\r\n").encode()
while time.time() - t0 < dur:
    for name, s in (("uac", uac), ("uas", uas)):
        try:
            data, addr = s.recvfrom(65535)
        except BlockingIOError:
            continue
        msg = data.decode(errors="replace")
        first = msg.split("\r\n")[0]
        ms = int((time.time() - t0) * 1000)
        log.append((ms, name, first))
        if name == "uas" and first.startswith("INVITE") and mode == "inv486" and not replied:
            replied = True
            s.sendto(reply(msg, 486, "Busy Here"), addr)
        if name == "uas" and first.startswith("INVITE") and mode == "inv180" and not replied:
            replied = True
            s.sendto(reply(msg, 180, "Ringing"), addr)
        if name == "uas" and first.startswith("OPTIONS") and mode == "noninv100" and not replied:
            replied = True
            s.sendto(reply(msg, 100, "Trying"), addr)
    time.sleep(0.001)
for l in log: print(*l)

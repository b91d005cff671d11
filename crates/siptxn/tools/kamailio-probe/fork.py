"""Two UAS (35072, 35073) behind Kamailio 35071 (append_branch fork).
argv: code_a code_b [delay_b_ms]"""
import socket, sys, time
ca, cb = int(sys.argv[1]), int(sys.argv[2])
delay_b = int(sys.argv[3]) if len(sys.argv) > 3 else 50
uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uac.bind(("127.0.0.1", 35070))
ua = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ua.bind(("127.0.0.1", 35072))
ub = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); ub.bind(("127.0.0.1", 35073))
for s in (uac, ua, ub): s.setblocking(False)
req = ("INVITE sip:bob@127.0.0.1:35072 SIP/2.0\r\n"
       f"Via: SIP/2.0/UDP 127.0.0.1:35070;branch=z9hG4bK-fork-{ca}-{cb}-{time.time()};rport\r\n"
       "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n"
       f"Call-ID: fork-{ca}-{cb}-{time.time()}@x\r\nCSeq: 1 INVITE\r\nContact: <sip:alice@127.0.0.1:35070>\r\nContent-Length: 0\r\n\r\n")
def reply(msg, code):
    hdrs = []
    for line in msg.split("\r\n")[1:]:
        if not line: break
        n = line.split(":")[0].lower()
        if n in ("via", "from", "call-id", "cseq"): hdrs.append(line)
        if n == "to": hdrs.append(line + ";tag=t%d" % code)
    return (f"SIP/2.0 {code} X\r\n" + "\r\n".join(hdrs) + "\r\nContent-Length: 0\r\n\r\n").encode()
t0 = time.time()
uac.sendto(req.encode(), ("127.0.0.1", 35071))
pending = []
done = set()
log = []
while time.time() - t0 < 2.5:
    for name, s, code, d in (("uac", uac, 0, 0), ("a", ua, ca, 0), ("b", ub, cb, delay_b)):
        try:
            data, addr = s.recvfrom(65535)
        except BlockingIOError:
            continue
        msg = data.decode(errors="replace")
        first = msg.split("\r\n")[0]
        log.append((int((time.time() - t0) * 1000), name, first))
        if name != "uac" and first.startswith("INVITE") and name not in done:
            done.add(name)
            pending.append((time.time() + d / 1000, s, reply(msg, code), addr))
        if name != "uac" and first.startswith("CANCEL"):
            s.sendto(reply(msg, 200).replace(b"INVITE", b"CANCEL"), addr)
    for p in list(pending):
        if time.time() >= p[0]:
            p[1].sendto(p[2], p[3]); pending.remove(p)
    time.sleep(0.001)
for l in log:
    if l[0] < 400: print(*l)

import socket, time
uac = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uac.bind(("127.0.0.1", 35070))
uas = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); uas.bind(("127.0.0.1", 35072))
for s in (uac, uas): s.setblocking(False)
br = "z9hG4bK-c-%f" % time.time()
cid = "cancel-%f@x" % time.time()
def mk(method):
    return (f"{method} sip:bob@127.0.0.1:35072 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:35070;branch={br};rport\r\n"
            "Max-Forwards: 70\r\nFrom: <sip:alice@127.0.0.1>;tag=a1\r\nTo: <sip:bob@127.0.0.1>\r\n"
            f"Call-ID: {cid}\r\nCSeq: 1 {method}\r\nContent-Length: 0\r\n\r\n").encode()
def reply(msg, code):
    hdrs = []
    for line in msg.split("\r\n")[1:]:
        if not line: break
        n = line.split(":")[0].lower()
        if n in ("via", "from", "call-id", "cseq"): hdrs.append(line)
        if n == "to": hdrs.append(line + ";tag=t1")
    return (f"SIP/2.0 {code} X\r\n" + "\r\n".join(hdrs) + "\r\nContent-Length: 0\r\n\r\n").encode()
t0 = time.time(); uac.sendto(mk("INVITE"), ("127.0.0.1", 35071))
sent_cancel = False; inv = None; sent180 = False; log = []
while time.time() - t0 < 4:
    ms = int((time.time() - t0) * 1000)
    if ms >= 100 and not sent_cancel:
        sent_cancel = True; uac.sendto(mk("CANCEL"), ("127.0.0.1", 35071))
    if ms >= 1600 and not sent180 and inv:
        sent180 = True; uas.sendto(reply(inv[0], 180), inv[1])
    for name, s in (("uac", uac), ("uas", uas)):
        try: data, addr = s.recvfrom(65535)
        except BlockingIOError: continue
        msg = data.decode(errors="replace"); first = msg.split("\r\n")[0]
        cseq = [l for l in msg.split("\r\n") if l.lower().startswith("cseq")][0]
        log.append((ms, name, first, cseq))
        if name == "uas" and first.startswith("INVITE"): inv = (msg, addr)
        if name == "uas" and first.startswith("CANCEL"):
            s.sendto(reply(msg, 200), addr)
            s.sendto(reply(inv[0], 487), inv[1])
    time.sleep(0.001)
for l in log: print(*l)

import socket, sys, os
def c(t): return t.replace("\n", "\r\n").encode()
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
cases = {
 "edits_message_textops": ("udp", c("MESSAGE sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-msg-1\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=m1\nTo: <sip:bob@example.com>\nCall-ID: msg-edit-1\nCSeq: 3 MESSAGE\nSubject: to be removed\nContent-Type: text/plain\nContent-Length: 11\n\nhello world")),
 "sl_options_warning": ("udp", c("OPTIONS sip:127.0.0.1:5177 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-opt-2\nFrom: <sip:ping@example.com>;tag=p2\nTo: <sip:127.0.0.1:5177>\nCall-ID: opt-call-2\nCSeq: 11 OPTIONS\nContent-Length: 0\n\n")),
 "fwd_tcp_in_local_rport": ("tcp", c("INFO sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/TCP 127.0.0.1:5192;branch=z9hG4bK-info-1\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=i1\nTo: <sip:bob@example.com>;tag=i2\nCall-ID: info-tcp-1\nCSeq: 4 INFO\nContent-Length: 0\n\n")),
}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5191)); u.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5190)); r.settimeout(2)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 5190)); ls.listen(1); ls.settimeout(2)
for name, (proto, data) in cases.items():
    open(os.path.join(out, name + ".in"), "wb").write(data)
    if proto == "udp":
        u.sendto(data, ("127.0.0.1", 5177))
    else:
        t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("127.0.0.1", 5192)); t.connect(("127.0.0.1", 5177)); t.sendall(data)
    sock = u if name.startswith("sl_") else r
    try:
        if proto == "tcp":
            cn, addr = ls.accept(); cn.settimeout(2)
            import time; time.sleep(0.3); got = cn.recv(65535); cn.close()
        else:
            got, addr = sock.recvfrom(65535)
        open(os.path.join(out, name + ".out"), "wb").write(got)
        print("==", name, addr); print(got.decode())
    except socket.timeout:
        print("timeout", name)
    if proto == "tcp": t.close()

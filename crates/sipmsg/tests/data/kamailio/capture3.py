import socket, sys, os, time
def c(t): return t.replace("\n", "\r\n").encode()
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
cases = {
 "rr_double_udp_to_tcp": c("INVITE sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-rr-1\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=r1\nTo: <sip:bob@example.com>\nCall-ID: rr-double-1\nCSeq: 1 INVITE\nContact: <sip:alice@127.0.0.1:5191>\nContent-Length: 0\n\n"),
 "rr_single_udp_to_udp": c("SUBSCRIBE sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-rr-2\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=r2\nTo: <sip:bob@example.com>\nCall-ID: rr-single-2\nCSeq: 1 SUBSCRIBE\nEvent: presence\nContact: <sip:alice@127.0.0.1:5191>\nContent-Length: 0\n\n"),
}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5191)); u.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5190)); r.settimeout(2)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 5190)); ls.listen(1); ls.settimeout(2)
for name, data in cases.items():
    open(os.path.join(out, name + ".in"), "wb").write(data)
    u.sendto(data, ("127.0.0.1", 5177))
    try:
        if "to_tcp" in name:
            cn, addr = ls.accept(); cn.settimeout(2); time.sleep(0.3); got = cn.recv(65535); cn.close()
        else:
            got, addr = r.recvfrom(65535)
        open(os.path.join(out, name + ".out"), "wb").write(got)
        print("==", name, addr); print(got.decode())
    except socket.timeout:
        print("timeout", name)

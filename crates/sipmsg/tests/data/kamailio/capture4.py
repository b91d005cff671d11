import socket, sys, os
def c(t): return t.replace("\n", "\r\n").encode()
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
cases = {
 "fwd_reply_two_via_headers": c("SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:5177;branch=z9hG4bKbb02.1b035770d31e8ad6e7e5c76d984210bd.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-inv-1\nFrom: <sip:alice@example.com>;tag=a73kszlfl\nTo: <sip:bob@example.com>;tag=b1\nCall-ID: 1j9FpLxk3uxtm8tn@127.0.0.1\nCSeq: 1 INVITE\nContact: <sip:bob@127.0.0.1:5190>\nContent-Length: 0\n\n"),
 "fwd_reply_combined_via": c("SIP/2.0 180 Ringing\nVia: SIP/2.0/UDP 127.0.0.1:5177;branch=z9hG4bKcc.1.0 , SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-inv-2;rport=5191\nFrom: <sip:alice@example.com>;tag=a2\nTo: <sip:bob@example.com>;tag=b2\nCall-ID: comb-1\nCSeq: 1 INVITE\nContent-Length: 0\n\n"),
}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5191)); u.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5190)); r.settimeout(2)
for name, data in cases.items():
    open(os.path.join(out, name + ".in"), "wb").write(data)
    r.sendto(data, ("127.0.0.1", 5177))
    try:
        got, addr = u.recvfrom(65535)
        open(os.path.join(out, name + ".out"), "wb").write(got)
        print("==", name, addr); print(got.decode())
    except socket.timeout:
        print("timeout", name)

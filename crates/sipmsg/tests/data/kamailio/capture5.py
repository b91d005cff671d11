import socket, sys, os
def c(t): return t.replace("\n", "\r\n").encode()
out = sys.argv[1]; os.makedirs(out, exist_ok=True)
cases = {
 "tm_relay_invite": c("INVITE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-tm-1\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=t1\nTo: <sip:bob@example.com>\nCall-ID: tm-relay-1\nCSeq: 5 INVITE\nContent-Length: 0\n\n"),
 "tm_reply_404": c("SUBSCRIBE sip:bob@example.com SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-tm-2\nMax-Forwards: 70\nFrom: <sip:alice@example.com>;tag=t2\nTo: <sip:bob@example.com>\nCall-ID: tm-reply-2\nCSeq: 9 SUBSCRIBE\nEvent: presence\nContent-Length: 0\n\n"),
}
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 5191)); u.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5190)); r.settimeout(2)
def recv(sock, name):
    try:
        got, addr = sock.recvfrom(65535)
        open(os.path.join(out, name + ".out"), "wb").write(got)
        print("==", name, addr); print(got.decode())
    except socket.timeout:
        print("timeout", name)
inv = cases["tm_relay_invite"]
open(os.path.join(out, "tm_relay_invite.in"), "wb").write(inv)
open(os.path.join(out, "tm_100_trying.in"), "wb").write(inv)
u.sendto(inv, ("127.0.0.1", 5177))
recv(r, "tm_relay_invite")
recv(u, "tm_100_trying")
sub = cases["tm_reply_404"]
open(os.path.join(out, "tm_reply_404.in"), "wb").write(sub)
u.sendto(sub, ("127.0.0.1", 5177))
recv(u, "tm_reply_404")

import socket, sys, os, json
cases = {}
def m(name, text):
    cases[name] = text.replace("\n", "\r\n").encode()
body = "v=0\no=- 1 1 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
m("fwd_invite", "INVITE sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-inv-1\nMax-Forwards: 70\nFrom: \"Alice\" <sip:alice@example.com>;tag=a73kszlfl\nTo: <sip:bob@example.com>\nCall-ID: 1j9FpLxk3uxtm8tn@127.0.0.1\nCSeq: 1 INVITE\nContact: <sip:alice@127.0.0.1:5191>\nContent-Type: application/sdp\nContent-Length: %d\n\n" % len(body.replace("\n","\r\n")) + body)
m("fwd_bye_received_rport", "BYE sip:bob@127.0.0.1:5190 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK-bye-7\nVia: SIP/2.0/UDP 192.0.2.20;branch=z9hG4bKold\nMax-Forwards: 69\nFrom: <sip:alice@example.com>;tag=fromtag1\nTo: <sip:bob@example.com>;tag=totag2\nCall-ID: cid-bye-42\nCSeq: 2 BYE\nContent-Length: 0\n\n")
m("fwd_notify_force_rport_nobranch", "NOTIFY sip:bob@127.0.0.1:5190 SIP/2.0\nv: SIP/2.0/UDP host.example.com\nf: <sip:a@example.com>;tag=x1\nt: <sip:b@example.com>;tag=y2\ni: notify-cid  \nCSeq: 77 NOTIFY\nEvent: presence\nl: 0\n\n")
m("sl_options_200", "OPTIONS sip:127.0.0.1:5177 SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:5191;branch=z9hG4bK-opt-1;rport\nVia: SIP/2.0/UDP 10.0.0.9:5080;branch=z9hG4bK-opt-0\nMax-Forwards: 70\nFrom: <sip:ping@example.com>;tag=ptag\nTo: <sip:127.0.0.1:5177>\nCall-ID: opt-call-1@127.0.0.1\nCSeq: 10 OPTIONS\nRecord-Route: <sip:rr.example.com;lr>\nAccept: application/sdp\nContent-Length: 0\n\n")
m("sl_subscribe_404", "SUBSCRIBE sip:bob@127.0.0.1:5177 SIP/2.0\nVia: SIP/2.0/UDP 192.0.2.33:5191;branch=z9hG4bK-sub-1\nMax-Forwards: 70\nFrom: <sip:carol@example.com>;tag=ct1\nTo: <sip:bob@example.com>\nCall-ID: sub-cid-9\nCSeq: 1 SUBSCRIBE\nRecord-Route: <sip:rr.example.com;lr>\nEvent: presence\nContent-Length: 0\n\n")
out = sys.argv[1]
os.makedirs(out, exist_ok=True)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 5191)); s.settimeout(2)
r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); r.bind(("127.0.0.1", 5190)); r.settimeout(2)
for name, data in cases.items():
    open(os.path.join(out, name + ".in"), "wb").write(data)
    s.sendto(data, ("127.0.0.1", 5177))
    sock = s if name.startswith("sl_") else r
    try:
        got, addr = sock.recvfrom(65535)
        open(os.path.join(out, name + ".out"), "wb").write(got)
        print("==", name, addr); print(got.decode())
    except socket.timeout:
        print("timeout", name)

# The lever bench/ownerLookup.ts measures but the project does not use: an exact netlink sock_diag
# lookup (SOCK_DIAG_BY_FAMILY with a full 4-tuple), which the kernel answers from its hash table
# without listing any other socket. Node cannot open an AF_NETLINK socket without a native module,
# so this stands in for one: a helper process reading "SPORT DPORT" lines (both 127.0.0.1, TCP)
# and answering "UID INODE" or "none". Linux only; measurement aid, not part of the extension.
import socket
import struct
import sys

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
LOOPBACK = socket.inet_pton(socket.AF_INET, '127.0.0.1') + b'\0' * 12

nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
seq = 0
for line in sys.stdin:
    sport, dport = (int(x) for x in line.split())
    seq += 1
    # inet_diag_req_v2: family, protocol, ext, pad, states; inet_diag_sockid: ports (big-endian),
    # src and dst (16 bytes each), interface, cookie (INET_DIAG_NOCOOKIE).
    req = struct.pack('=BBBBI', socket.AF_INET, socket.IPPROTO_TCP, 0, 0, 0xFFFFFFFF)
    req += struct.pack('>HH', sport, dport) + LOOPBACK + LOOPBACK + struct.pack('=III', 0, 0xFFFFFFFF, 0xFFFFFFFF)
    nl.send(struct.pack('=IHHII', 16 + len(req), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq, 0) + req)
    data = nl.recv(65536)
    kind = struct.unpack_from('=H', data, 4)[0]
    if kind == NLMSG_ERROR:
        answer = 'none'
    else:
        # inet_diag_msg after the 16-byte header: uid at 64, inode at 68.
        uid, inode = struct.unpack_from('=II', data, 16 + 64)
        answer = '%d %d' % (uid, inode)
    sys.stdout.write(answer + '\n')
    sys.stdout.flush()

#!/usr/bin/env python3
"""Opens N idle keep-alive connections to a running ctia-sim, checks it still answers, and
prints its peak RSS (VmHWM from /proc/PID/status).

    bench/sim/idle_connections.py PID PORT [N=10000]

Raise `ulimit -n` first (both for this script and ctia-sim) when N is large."""
import resource
import socket
import sys
import time


def vm(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key):
                return line.split(":", 1)[1].strip()
    return "?"


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 100), hard))
    print(f"before: VmRSS {vm(pid, 'VmRSS')}, VmHWM {vm(pid, 'VmHWM')}")
    conns = []
    start = time.time()
    for i in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        if i % 2:  # half send a partial request line and stall, half send nothing
            s.sendall(b"GET /ctia/version HTTP/1.1\r\nHost: x\r\n")
        conns.append(s)
    print(f"opened {len(conns)} idle connections in {time.time() - start:.1f}s")
    time.sleep(1)
    probe = socket.create_connection(("127.0.0.1", port))
    probe.sendall(b"GET /ctia/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    answer = probe.recv(4096).split(b"\r\n", 1)[0].decode()
    print(f"server still answers: {answer}")
    print(f"with {n} idle connections: VmRSS {vm(pid, 'VmRSS')}, VmHWM {vm(pid, 'VmHWM')}")
    for s in conns:
        s.close()
    return 0 if answer.startswith("HTTP/1.1 200") else 1


if __name__ == "__main__":
    sys.exit(main())

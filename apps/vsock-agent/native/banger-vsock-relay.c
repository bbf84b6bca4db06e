/*
 * banger-vsock-relay: the guest end of Firecracker's vsock channel for a
 * process without AF_VSOCK (the Node guest agent). It listens on a vsock
 * port and relays each connection's bytes, unchanged and in both
 * directions, to a Unix socket the agent listens on. Built static
 * (`gcc -static -Os`) so it runs in any guest, glibc or musl. Interface
 * (docs/agent.md, "The vsock relay"):
 *
 *   banger-vsock-relay (--vsock-port N | --listen-unix PATH) --connect-unix PATH
 *
 *   - --vsock-port N: listen on AF_VSOCK, any CID, port N (the host side
 *     connects through Firecracker's UDS with `CONNECT N`);
 *     --listen-unix PATH: the same relay on a Unix socket instead (tests:
 *     hosts without vsock), PATH replaced if it is a stale socket;
 *   - per accepted connection, one connection to --connect-unix; when that
 *     fails (the agent is not listening yet) the accepted one is closed and
 *     the host retries;
 *   - one connection at a time, as the host side uses it: a new one
 *     replaces the current pair (a host that reconnects is never stuck
 *     behind its own stale connection, e.g. after a snapshot restore reset
 *     the transport);
 *   - EOF is passed on as a half-close (shutdown SHUT_WR) once the bytes
 *     before it are written; the pair is closed when both directions ended,
 *     or at once when either peer fails (reset, write error);
 *   - one 64 KiB buffer per direction, never more: a slow reader stops the
 *     relay reading the other side (backpressure), no busy loop (poll);
 *   - exits when its parent dies (PR_SET_PDEATHSIG), so a restarted agent
 *     never finds the port still bound by an orphan;
 *   - exit status: 2 usage, 3 AF_VSOCK unsupported in this kernel, 1 other
 *     setup errors, each with a "banger-vsock-relay: ..." line on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#define BUF_SIZE 65536

static const char *PROG = "banger-vsock-relay";

static void fail(int status, const char *what) {
  fprintf(stderr, "%s: %s: %s\n", PROG, what, strerror(errno));
  exit(status);
}

static void usage(const char *message) {
  fprintf(stderr, "%s: %s\nusage: %s (--vsock-port N | --listen-unix PATH) --connect-unix PATH\n", PROG, message, PROG);
  exit(2);
}

static int unix_address(const char *path, struct sockaddr_un *addr) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr->sun_path)) return -1;
  strcpy(addr->sun_path, path);
  return 0;
}

static void set_nonblocking(int fd) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail(1, "fcntl");
}

static int listen_vsock(unsigned int port) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(errno == EAFNOSUPPORT ? 3 : 1, "socket(AF_VSOCK)");
  struct sockaddr_vm addr;
  memset(&addr, 0, sizeof(addr));
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = VMADDR_CID_ANY;
  addr.svm_port = port;
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) fail(errno == EADDRNOTAVAIL ? 3 : 1, "bind(AF_VSOCK)");
  if (listen(fd, 4) < 0) fail(1, "listen(AF_VSOCK)");
  return fd;
}

static int listen_unix(const char *path) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr) < 0) usage("--listen-unix path too long");
  struct stat st;
  /* A socket left by an earlier run is replaced; anything else at the path is an error from bind. */
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail(1, "socket(AF_UNIX)");
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) fail(1, "bind(--listen-unix)");
  if (listen(fd, 4) < 0) fail(1, "listen(--listen-unix)");
  return fd;
}

static int connect_unix(const struct sockaddr_un *addr) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

/* One direction of a pair: bytes read from `from`, waiting in buf[off, off+len) to be written to `to`. */
struct flow {
  int from, to;
  char buf[BUF_SIZE];
  size_t off, len;
  int eof;      /* `from` said EOF */
  int shut;     /* EOF passed on to `to` */
};

static struct flow up, down; /* up: host -> agent, down: agent -> host */
static int host_fd = -1, agent_fd = -1;

static void close_pair(void) {
  if (host_fd >= 0) close(host_fd);
  if (agent_fd >= 0) close(agent_fd);
  host_fd = agent_fd = -1;
}

static void reset_flow(struct flow *f, int from, int to) {
  f->from = from;
  f->to = to;
  f->off = f->len = 0;
  f->eof = f->shut = 0;
}

static void open_pair(int host, int agent) {
  host_fd = host;
  agent_fd = agent;
  reset_flow(&up, host, agent);
  reset_flow(&down, agent, host);
}

/* Moves what it can; returns -1 when the pair has failed (a peer reset, a write error). */
static int step(struct flow *f, short from_events, short to_events) {
  if (f->len == 0 && !f->eof && (from_events & (POLLIN | POLLHUP | POLLERR))) {
    ssize_t n = read(f->from, f->buf, sizeof(f->buf));
    if (n > 0) {
      f->off = 0;
      f->len = (size_t)n;
    } else if (n == 0) {
      f->eof = 1;
    } else if (errno != EAGAIN && errno != EINTR) {
      return -1;
    }
  }
  if (f->len > 0 && (to_events & (POLLOUT | POLLERR | POLLHUP))) {
    ssize_t n = write(f->to, f->buf + f->off, f->len);
    if (n > 0) {
      f->off += (size_t)n;
      f->len -= (size_t)n;
    } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return -1;
    }
  }
  if (f->eof && f->len == 0 && !f->shut) {
    shutdown(f->to, SHUT_WR);
    f->shut = 1;
  }
  return 0;
}

/* What to wait for on one fd: readable when its outgoing buffer is empty, writable when its incoming one has bytes. */
static short wanted(int fd) {
  short events = 0;
  struct flow *out = fd == host_fd ? &up : &down; /* read from fd */
  struct flow *in = fd == host_fd ? &down : &up;  /* written to fd */
  if (out->len == 0 && !out->eof) events |= POLLIN;
  if (in->len > 0) events |= POLLOUT;
  return events;
}

int main(int argc, char **argv) {
  long vsock_port = -1;
  const char *listen_path = NULL, *connect_path = NULL;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc) usage("missing value");
    if (strcmp(argv[i], "--vsock-port") == 0) {
      char *end;
      errno = 0;
      vsock_port = strtol(argv[++i], &end, 10);
      if (errno || *end || vsock_port < 1 || vsock_port > 0x7fffffffL) usage("bad --vsock-port");
    } else if (strcmp(argv[i], "--listen-unix") == 0) {
      listen_path = argv[++i];
    } else if (strcmp(argv[i], "--connect-unix") == 0) {
      connect_path = argv[++i];
    } else {
      usage("unknown argument");
    }
  }
  if ((vsock_port < 0) == (listen_path == NULL)) usage("give exactly one of --vsock-port, --listen-unix");
  if (!connect_path) usage("--connect-unix is required");
  struct sockaddr_un agent_addr;
  if (unix_address(connect_path, &agent_addr) < 0) usage("--connect-unix path too long");

  signal(SIGPIPE, SIG_IGN);
  /* Ends with the agent that started it; if the parent is already gone, end now. */
  if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0) fail(1, "prctl");
  if (getppid() == 1) return 0;

  int listener = vsock_port >= 0 ? listen_vsock((unsigned int)vsock_port) : listen_unix(listen_path);
  set_nonblocking(listener);

  for (;;) {
    /*
     * An fd with nothing to wait for is left out of the set: a peer that hung up
     * reports POLLHUP on every poll, which would spin while the other side is
     * slow. Its failure still surfaces on the next read or write to it.
     */
    struct pollfd fds[3] = {{.fd = listener, .events = POLLIN}, {.fd = -1}, {.fd = -1}};
    if (host_fd >= 0) {
      fds[1].events = wanted(host_fd);
      fds[2].events = wanted(agent_fd);
      fds[1].fd = fds[1].events ? host_fd : -1;
      fds[2].fd = fds[2].events ? agent_fd : -1;
    }
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      fail(1, "poll");
    }
    if (fds[0].revents & POLLIN) {
      int host = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (host >= 0) {
        /* The newest connection wins: the host holds one at a time, so an older one is stale. */
        close_pair();
        int agent = connect_unix(&agent_addr);
        if (agent < 0) {
          fprintf(stderr, "%s: %s: %s (closing the connection)\n", PROG, connect_path, strerror(errno));
          close(host);
        } else {
          set_nonblocking(agent);
          open_pair(host, agent);
        }
        continue;
      }
      if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) fail(1, "accept");
    }
    if (host_fd < 0) continue;
    if (step(&up, fds[1].revents, fds[2].revents) < 0 || step(&down, fds[2].revents, fds[1].revents) < 0 || (up.shut && down.shut)) close_pair();
  }
}

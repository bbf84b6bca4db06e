/*
 * banger-pty: runs a command on a new pseudo-terminal and relays it over
 * plain pipes, so a process without PTY system calls (the Node guest agent)
 * can offer terminal sessions. Built static (`gcc -static -Os`) so it runs in
 * any guest, glibc or musl. Interface (docs/agent.md, "The PTY helper"):
 *
 *   banger-pty [--rows R] [--cols C] [--control-fd N] -- cmd args...
 *
 *   - stdin  -> the terminal (keystrokes); at EOF the terminal's EOF
 *     character (VEOF, ^D) is sent once, then stdin is no longer read;
 *   - the terminal's output -> stdout (stdout and stderr of the command are
 *     one stream on a terminal);
 *   - lines "R C\n" on the control fd set the window size (TIOCSWINSZ; the
 *     kernel sends SIGWINCH to the terminal's foreground process group);
 *   - the command runs as a session leader with the terminal as its
 *     controlling terminal, environment (TERM...) inherited unchanged;
 *   - SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 sent to banger-pty
 *     are passed to the command; if banger-pty itself dies, the terminal
 *     hangs up and the kernel sends SIGHUP to the command;
 *   - when the command exits, the terminal's remaining output is drained,
 *     then banger-pty exits with the command's status: its exit code, or
 *     128 + n for signal n. Its own errors: exit 2 (usage) or 1 (pty
 *     setup), a "banger-pty: ..." line on stderr; a command that cannot be
 *     run: 127 (not found) or 126, the reason written to the terminal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define BUF_SIZE 16384
/* After the command exits, output still arriving is read until this much quiet time (another process may hold the terminal open). */
#define DRAIN_QUIET_MS 100

static int wake_pipe[2] = {-1, -1};
static volatile sig_atomic_t child_pid = 0;

static void die(int status, const char *what) {
  fprintf(stderr, "banger-pty: %s: %s\n", what, strerror(errno));
  exit(status);
}

static void usage(const char *message) {
  fprintf(stderr, "banger-pty: %s\nusage: banger-pty [--rows R] [--cols C] [--control-fd N] -- cmd [args...]\n", message);
  exit(2);
}

static int parse_number(const char *text, const char *what, long min, long max) {
  char *end;
  errno = 0;
  long value = strtol(text, &end, 10);
  if (errno || end == text || *end || value < min || value > max) {
    fprintf(stderr, "banger-pty: %s must be a number from %ld to %ld, got '%s'\n", what, min, max, text);
    exit(2);
  }
  return (int)value;
}

static void on_sigchld(int sig) {
  (void)sig;
  int saved = errno;
  if (write(wake_pipe[1], "c", 1) < 0) { /* the pipe is full: a wake-up is already pending */ }
  errno = saved;
}

static void forward_signal(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

/* Writes all of buf to a blocking fd; -1 on error (EPIPE: nobody reads our output any more). */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void set_window(int master, int rows, int cols) {
  struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
  ioctl(master, TIOCSWINSZ, &ws);
}

/* Applies every complete "R C\n" line in the control buffer; malformed lines are ignored. */
static void apply_control(int master, char *buf, size_t *len) {
  char *start = buf;
  char *newline;
  while ((newline = memchr(start, '\n', *len - (size_t)(start - buf))) != NULL) {
    *newline = '\0';
    int rows, cols;
    char extra;
    if (sscanf(start, "%d %d %c", &rows, &cols, &extra) == 2 && rows > 0 && cols > 0 && rows <= USHRT_MAX && cols <= USHRT_MAX)
      set_window(master, rows, cols);
    start = newline + 1;
  }
  size_t rest = *len - (size_t)(start - buf);
  memmove(buf, start, rest);
  *len = rest;
  /* A line longer than the buffer is garbage: drop it. */
  if (*len == BUF_SIZE) *len = 0;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

int main(int argc, char **argv) {
  int rows = 24, cols = 80, control_fd = -1;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) break;
    if (i + 1 >= argc) usage("missing value or '--'");
    if (strcmp(argv[i], "--rows") == 0) rows = parse_number(argv[++i], "--rows", 1, USHRT_MAX);
    else if (strcmp(argv[i], "--cols") == 0) cols = parse_number(argv[++i], "--cols", 1, USHRT_MAX);
    else if (strcmp(argv[i], "--control-fd") == 0) control_fd = parse_number(argv[++i], "--control-fd", 3, INT_MAX);
    else {
      fprintf(stderr, "banger-pty: unknown option '%s'\n", argv[i]);
      usage("the command goes after '--'");
    }
  }
  if (i >= argc || i + 1 >= argc) usage("no command after '--'");
  char **command = &argv[i + 1];
  if (control_fd >= 0 && fcntl(control_fd, F_GETFD) < 0) usage("--control-fd is not an open file descriptor");

  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0) die(1, "posix_openpt");
  if (grantpt(master) < 0) die(1, "grantpt");
  if (unlockpt(master) < 0) die(1, "unlockpt");
  char *slave_name = ptsname(master);
  if (!slave_name) die(1, "ptsname");
  set_window(master, rows, cols);
  /* We hold the slave open too until the command exits: before the child opens it and after it
     exits, a master with no slave reports a hang-up, which would end the relay too early. */
  int slave = open(slave_name, O_RDWR | O_NOCTTY);
  if (slave < 0) die(1, slave_name);

  if (pipe2(wake_pipe, O_CLOEXEC | O_NONBLOCK) < 0) die(1, "pipe");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigchld;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  pid_t pid = fork();
  if (pid < 0) die(1, "fork");
  if (pid == 0) {
    signal(SIGPIPE, SIG_DFL);
    signal(SIGCHLD, SIG_DFL);
    if (setsid() < 0) die(1, "setsid");
    if (ioctl(slave, TIOCSCTTY, 0) < 0) die(1, "TIOCSCTTY");
    if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0) die(1, "dup2");
    if (slave > 2) close(slave);
    close(master);
    if (control_fd >= 0) close(control_fd);
    execvp(command[0], command);
    int status = errno == ENOENT ? 127 : 126;
    fprintf(stderr, "banger-pty: %s: %s\r\n", command[0], strerror(errno));
    _exit(status);
  }
  child_pid = pid;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
  for (size_t k = 0; k < sizeof forwarded / sizeof forwarded[0]; k++) sigaction(forwarded[k], &sa, NULL);

  fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);

  static char in_buf[BUF_SIZE], out_buf[BUF_SIZE], control_buf[BUF_SIZE];
  size_t in_len = 0, in_off = 0, control_len = 0;
  int stdin_open = 1, eof_pending = 0, control_open = control_fd >= 0;
  int status = 0, exited = 0;
  long drain_deadline = 0;

  for (;;) {
    if (!exited) {
      pid_t done = waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        exited = 1;
        /* Now the master reads what is left, then EIO once no other process holds the terminal. */
        close(slave);
        slave = -1;
        drain_deadline = now_ms() + DRAIN_QUIET_MS;
      }
    }
    struct pollfd fds[4];
    int n = 0, master_i, stdin_i = -1, control_i = -1;
    fds[n] = (struct pollfd){.fd = wake_pipe[0], .events = POLLIN};
    n++;
    master_i = n;
    fds[n] = (struct pollfd){.fd = master, .events = POLLIN | (!exited && (in_len > in_off || eof_pending) ? POLLOUT : 0)};
    n++;
    if (!exited && stdin_open && in_len == in_off && !eof_pending) {
      stdin_i = n;
      fds[n++] = (struct pollfd){.fd = 0, .events = POLLIN};
    }
    if (!exited && control_open) {
      control_i = n;
      fds[n++] = (struct pollfd){.fd = control_fd, .events = POLLIN};
    }
    int timeout = -1;
    if (exited) {
      long left = drain_deadline - now_ms();
      if (left <= 0) break;
      timeout = (int)left;
    }
    int ready = poll(fds, (nfds_t)n, timeout);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die(1, "poll");
    }
    if (ready == 0) continue; /* the drain's quiet time ran out: checked above */

    if (fds[0].revents & POLLIN) {
      char sink[64];
      while (read(wake_pipe[0], sink, sizeof sink) > 0) {}
    }

    if (fds[master_i].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t got = read(master, out_buf, sizeof out_buf);
      if (got > 0) {
        if (write_all(1, out_buf, (size_t)got) < 0) {
          /* Nobody reads the terminal any more: hang it up (the command gets SIGHUP). */
          close(master);
          kill(pid, SIGHUP);
          waitpid(pid, &status, 0);
          exited = 1;
          break;
        }
        if (exited) drain_deadline = now_ms() + DRAIN_QUIET_MS;
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        /* EIO: every slave fd is closed and the output is read (the command and everything it started are gone). */
        if (exited) break;
        /* We hold the slave until the command exits, so this is unexpected: wait for it, nothing more can be read. */
        waitpid(pid, &status, 0);
        exited = 1;
        break;
      }
    }

    if (!exited && (fds[master_i].revents & POLLOUT)) {
      if (in_len > in_off) {
        ssize_t put = write(master, in_buf + in_off, in_len - in_off);
        if (put > 0) in_off += (size_t)put;
        if (in_off == in_len) in_off = in_len = 0;
      } else if (eof_pending) {
        /* Our stdin ended: the terminal's EOF character, so a reading command sees end of input. */
        struct termios t;
        char eof = tcgetattr(master, &t) == 0 ? (char)t.c_cc[VEOF] : 4;
        if (write(master, &eof, 1) == 1) eof_pending = 0;
      }
    }

    if (stdin_i >= 0 && (fds[stdin_i].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(0, in_buf, sizeof in_buf);
      if (got > 0) {
        in_len = (size_t)got;
        in_off = 0;
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        stdin_open = 0;
        eof_pending = 1;
      }
    }

    if (control_i >= 0 && (fds[control_i].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t got = read(control_fd, control_buf + control_len, sizeof control_buf - control_len);
      if (got > 0) {
        control_len += (size_t)got;
        apply_control(master, control_buf, &control_len);
      } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
        control_open = 0;
      }
    }
  }

  if (!exited) waitpid(pid, &status, 0);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

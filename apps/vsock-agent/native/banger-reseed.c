/*
 * banger-reseed: makes a restored guest's kernel RNG its own. Two VMs
 * restored from one snapshot (or one VM resumed twice from one saved state)
 * start with the same kernel CRNG state, so without this they read the same
 * bytes from /dev/urandom and getrandom(). Writing to /dev/urandom is not
 * enough: it only mixes into the input pool, and the CRNG keeps its key until
 * its next scheduled reseed (up to a minute later). Node has no ioctl(), so
 * the agent's host side runs this static helper (`gcc -static -Os`, any libc)
 * from the runtime disk. Interface (docs/agent.md, "Reseeding the RNG"):
 *
 *   banger-reseed < seed        (16 to 4096 bytes of host randomness on stdin)
 *
 *   - RNDADDENTROPY: mixes the seed into the input pool and credits it;
 *   - RNDRESEEDCRNG: reseeds the CRNG from the pool at once (every CPU's
 *     CRNG takes the new key on its next use);
 *   - needs CAP_SYS_ADMIN (the agent runs as root);
 *   - exit status: 2 usage (seed too short or too long), 1 an ioctl failed,
 *     each with a "banger-reseed: ..." line on stderr; 0 reseeded.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/random.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define SEED_MIN 16
#define SEED_MAX 4096

int main(int argc, char **argv) {
  (void)argv;
  if (argc != 1) {
    fprintf(stderr, "banger-reseed: takes no arguments (the seed comes on stdin)\n");
    return 2;
  }
  struct {
    struct rand_pool_info info;
    unsigned char buf[SEED_MAX + 1];
  } req;
  size_t len = 0;
  for (;;) {
    ssize_t n = read(0, req.buf + len, sizeof req.buf - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      fprintf(stderr, "banger-reseed: reading the seed: %s\n", strerror(errno));
      return 2;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > SEED_MAX) break;
  }
  if (len < SEED_MIN || len > SEED_MAX) {
    fprintf(stderr, "banger-reseed: the seed on stdin must be %d to %d bytes, got %s%zu\n", SEED_MIN, SEED_MAX, len > SEED_MAX ? "more than " : "", len > SEED_MAX ? (size_t)SEED_MAX : len);
    return 2;
  }
  req.info.entropy_count = (int)(len * 8);
  req.info.buf_size = (int)len;
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    fprintf(stderr, "banger-reseed: opening /dev/urandom: %s\n", strerror(errno));
    return 1;
  }
  if (ioctl(fd, RNDADDENTROPY, &req) != 0) {
    fprintf(stderr, "banger-reseed: RNDADDENTROPY: %s\n", strerror(errno));
    return 1;
  }
  if (ioctl(fd, RNDRESEEDCRNG) != 0) {
    fprintf(stderr, "banger-reseed: RNDRESEEDCRNG: %s\n", strerror(errno));
    return 1;
  }
  close(fd);
  return 0;
}

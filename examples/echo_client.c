/*
 * echo_client.c - many connections to an echo server at once, one actor
 * each: every actor connects, waits until all the others have connected
 * too, then sends its messages one at a time and checks every byte that
 * comes back.
 *
 *   $ cc echo_client.c $(pkg-config --cflags --libs smarm) -o echo_client
 *   $ ./echo_client 127.0.0.1 7007 1000 100      (echo_server runs)
 *   1000 connections open at once, 100000 messages, 6450414 bytes echoed
 *   and verified (connect 0.04 s, echo 0.61 s)
 *
 * Usage: echo_client HOST PORT CONNECTIONS MESSAGES.  Exits 1 if any
 * connection failed or any byte came back wrong.
 */
#include <smarm.h>

#include <errno.h>
#include <netdb.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define MSG_MAX 128
#define TIMEOUT (30000 * 1000000ull)	/* a stuck server fails, not hangs */
#define MAX_REPORTS 10

static const char *host, *port;
static int nconn, nmsg;
static struct sockaddr_storage addr;
static socklen_t addrlen;
static int family;
static smarm_pid root_pid;
static atomic_long connected, echoed, bytes, failures;

/* Message i of connection c: its length (1 to MSG_MAX) and its bytes. */
static size_t make_msg(int c, int i, unsigned char *buf)
{
	uint32_t h = (uint32_t)c * 2654435761u ^ (uint32_t)i * 40503u;
	size_t len = 1 + (h >> 7) % MSG_MAX, k;

	for (k = 0; k < len; k++)
		buf[k] = (unsigned char)((h >> (k % 4 * 8)) + k);
	return len;
}

/* Counts a failure; prints the first few. */
static int failed(int c, int i, const char *what, int err)
{
	if (atomic_fetch_add(&failures, 1) < MAX_REPORTS)
		fprintf(stderr, "echo_client: connection %d, message %d: "
			"%s%s%s\n", c, i, what, err ? ": " : "",
			err ? smarm_strerror(err) : "");
	return err ? err : EIO;
}

/* Sends message after message and reads each one's echo back. */
static int echo(int c, int fd)
{
	unsigned char out[MSG_MAX], in[MSG_MAX];
	size_t len, have, got, sent;
	int i, err;

	for (i = 0; i < nmsg; i++) {
		len = make_msg(c, i, out);
		/* Writes all len bytes, or says why not. */
		err = smarm_write(fd, out, len, &sent, TIMEOUT);
		if (err)
			return failed(c, i, "write", err);
		/* The echo may come back in pieces. */
		for (have = 0; have < len; have += got) {
			err = smarm_read(fd, in + have, len - have, &got,
					 TIMEOUT);
			if (err)
				return failed(c, i, "read", err);
			if (got == 0)
				return failed(c, i, "closed by the server", 0);
		}
		if (memcmp(in, out, len) != 0)
			return failed(c, i, "the echo differs", 0);
		atomic_fetch_add(&echoed, 1);
		atomic_fetch_add(&bytes, (long)len);
	}
	return 0;
}

/* One connection. */
static void *client(void *arg)
{
	int c = (int)(intptr_t)arg;
	smarm_msg m;
	int fd, err;

	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		err = failed(c, 0, "socket", errno);
	else if ((err = smarm_connect(fd, (struct sockaddr *)&addr, addrlen,
				      TIMEOUT)) != 0)
		failed(c, 0, "connect", err);
	else
		atomic_fetch_add(&connected, 1);
	/* Tell the root, and wait until every connection is up. */
	smarm_send_to(root_pid, NULL);
	if (smarm_receive(&m, SMARM_FOREVER) == 0 && err == 0)
		err = echo(c, fd);
	if (fd >= 0)
		smarm_close(fd);
	return (void *)(intptr_t)err;
}

/* getaddrinfo may block for long: it runs on a helper thread. */
static void *lookup(void *arg)
{
	struct addrinfo hints, **res = arg;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	return (void *)(intptr_t)getaddrinfo(host, port, &hints, res);
}

static double since(uint64_t t)
{
	return (double)(smarm_now() - t) / 1e9;
}

static void *root(void *arg)
{
	struct addrinfo *ai = NULL;
	smarm_spawn_opts opts;
	smarm_pid *pids;
	smarm_msg m;
	uint64_t t0, t1;
	void *res;
	int c, err;

	(void)arg;
	root_pid = smarm_self();
	err = smarm_block_on_io(lookup, &ai, &res);
	if (err || res != NULL) {
		fprintf(stderr, "echo_client: %s: %s\n", host,
			err ? smarm_strerror(err)
			    : gai_strerror((int)(intptr_t)res));
		return (void *)1;
	}
	memcpy(&addr, ai->ai_addr, ai->ai_addrlen);
	addrlen = ai->ai_addrlen;
	family = ai->ai_family;
	freeaddrinfo(ai);

	pids = calloc((size_t)nconn, sizeof(*pids));
	if (!pids)
		smarm_panic("out of memory");
	smarm_spawn_opts_init(&opts);
	opts.stack_size = 64 * 1024;
	t0 = smarm_now();
	for (c = 0; c < nconn; c++)
		if ((err = smarm_spawn_opt(&pids[c], client, (void *)(intptr_t)c,
					   &opts)) != 0)
			smarm_panic("spawn: %s", smarm_strerror(err));
	/* Every client says when it is connected (or failed to). */
	for (c = 0; c < nconn; c++)
		smarm_receive(&m, SMARM_FOREVER);
	t1 = smarm_now();
	for (c = 0; c < nconn; c++)
		smarm_send_to(pids[c], NULL);	/* go */
	for (c = 0; c < nconn; c++)
		smarm_join(pids[c], NULL, SMARM_FOREVER);
	free(pids);

	printf("%ld connections open at once, %ld messages, %ld bytes echoed "
	       "and verified (connect %.2f s, echo %.2f s)\n",
	       atomic_load(&connected), atomic_load(&echoed), atomic_load(&bytes),
	       (double)(t1 - t0) / 1e9, since(t1));
	if (atomic_load(&failures)) {
		printf("%ld failures\n", atomic_load(&failures));
		return (void *)1;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct rlimit rl = { RLIM_INFINITY, RLIM_INFINITY };
	void *res = NULL;
	int err;

	if (argc != 5 || (nconn = atoi(argv[3])) <= 0 ||
	    (nmsg = atoi(argv[4])) < 0) {
		fprintf(stderr,
			"usage: echo_client HOST PORT CONNECTIONS MESSAGES\n");
		return 2;
	}
	host = argv[1];
	port = argv[2];

	/* One descriptor per connection, and a few more. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)nconn + 32) {
		fprintf(stderr, "echo_client: %d connections need %d open files;"
			" the limit is %lu\n", nconn, nconn + 32,
			(unsigned long)rl.rlim_cur);
		return 1;
	}

	err = smarm_run(root, NULL, &res);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "echo_client: %s\n", (char *)res);
		free(res);
		return 1;
	} else if (err) {
		fprintf(stderr, "echo_client: %s\n", smarm_strerror(err));
		return 1;
	}
	return res == NULL ? 0 : 1;
}

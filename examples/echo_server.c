/*
 * echo_server.c - a TCP echo server: one actor per connection, written as
 * plain blocking code.  smarm_accept, smarm_read and smarm_write park only
 * the calling actor, so ten thousand connections are ten thousand small
 * loops.  SIGTERM or SIGINT stops it cleanly: every actor is cancelled,
 * each connection actor closes its socket, and the server exits 0.
 *
 *   $ cc echo_server.c $(pkg-config --cflags --libs smarm) -o echo_server
 *   $ ./echo_server 7007 &          (port 0: any free port)
 *   listening on 7007
 *   $ ./echo_client 127.0.0.1 7007 100 10
 *   100 connections open at once, 1000 messages, 65076 bytes echoed and
 *   verified (connect 0.00 s, echo 0.01 s)
 *   $ kill %1
 *   echo_server: Terminated, stopping
 *
 * Usage: echo_server [PORT [ADDRESS]]; PORT defaults to 7007, ADDRESS
 * (IPv4) to 127.0.0.1.
 */
#include <smarm.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#define GRACE (3000 * 1000000ull)	/* 3 s for the actors to end */

/* One connection: echo until end of file, an error or cancellation. */
static void *conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char buf[4096];
	size_t got, sent;

	/* Each call parks this actor only, until the socket is ready. */
	while (smarm_read(fd, buf, sizeof(buf), &got, SMARM_FOREVER) == 0 &&
	       got > 0) {
		if (smarm_write(fd, buf, got, &sent, SMARM_FOREVER) != 0)
			break;
	}
	/* End of file, ECONNRESET, or ECANCELED at shutdown: the same. */
	smarm_close(fd);
	return NULL;
}

/* Waits for SIGTERM or SIGINT, then stops the whole run. */
static void *stopper(void *arg)
{
	sigset_t *set = arg;
	int signo, err;

	err = smarm_signal_wait(set, &signo, SMARM_FOREVER);
	if (err == ECANCELED)
		return NULL;	/* someone else shut down */
	if (err)
		fprintf(stderr, "echo_server: signal wait: %s\n",
			smarm_strerror(err));
	else
		fprintf(stderr, "echo_server: %s, stopping\n",
			strsignal(signo));
	/* Cancels every actor (this one too) and gives them GRACE. */
	smarm_shutdown(GRACE);
	return NULL;
}

/* The root: accepts connections and spawns an actor for each. */
static void *acceptor(void *arg)
{
	int lfd = (int)(intptr_t)arg;
	static sigset_t set;
	smarm_spawn_opts opts;
	smarm_pid pid;
	int fd, err;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if ((err = smarm_spawn(&pid, stopper, &set)) != 0 ||
	    (err = smarm_detach(pid)) != 0)
		smarm_panic("spawn: %s", smarm_strerror(err));

	smarm_spawn_opts_init(&opts);
	opts.name = "conn";
	opts.flags = SMARM_SPAWN_DETACHED;	/* nobody joins them */
	opts.stack_size = 64 * 1024;		/* buf is the biggest frame */
	for (;;) {
		err = smarm_accept(lfd, &fd, NULL, NULL, SMARM_FOREVER);
		if (err == ECANCELED)
			break;	/* shutdown */
		if (err == EMFILE || err == ENFILE) {
			/* Out of descriptors: wait for some to close. */
			smarm_sleep(10 * 1000000ull);
			continue;
		}
		if (err == ECONNABORTED || err == EINTR)
			continue;
		if (err) {
			fprintf(stderr, "echo_server: accept: %s\n",
				smarm_strerror(err));
			smarm_shutdown(GRACE);	/* stop the others too */
			break;
		}
		if ((err = smarm_spawn_opt(&pid, conn, (void *)(intptr_t)fd,
					   &opts)) != 0) {
			fprintf(stderr, "echo_server: spawn: %s\n",
				smarm_strerror(err));
			smarm_close(fd);
		}
	}
	smarm_close(lfd);
	return err == ECANCELED ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	struct rlimit rl;
	sigset_t set;
	void *res = NULL;
	int lfd, one = 1, err;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(argc > 1 ? (uint16_t)atoi(argv[1]) : 7007);
	if (inet_pton(AF_INET, argc > 2 ? argv[2] : "127.0.0.1",
		      &sa.sin_addr) != 1) {
		fprintf(stderr, "usage: echo_server [PORT [IPv4 ADDRESS]]\n");
		return 2;
	}

	/* One descriptor per connection: allow as many as the hard limit. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	/* Block the stop signals before the runtime starts its threads:
	 * one that comes early waits, pending, for the stopper. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) ||
	    listen(lfd, SOMAXCONN) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &len)) {
		perror("echo_server");
		return 1;
	}
	printf("listening on %u\n", ntohs(sa.sin_port));
	fflush(stdout);

	err = smarm_run(acceptor, (void *)(intptr_t)lfd, &res);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "echo_server: %s\n", (char *)res);
		free(res);
		return 1;
	} else if (err) {	/* ETIMEDOUT: some actor ignored the shutdown */
		fprintf(stderr, "echo_server: %s\n", smarm_strerror(err));
		return 1;
	}
	return res == NULL ? 0 : 1;
}

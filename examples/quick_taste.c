/*
 * quick_taste.c - one actor sends three numbers over a channel, another
 * prints them.
 *
 *   $ cc quick_taste.c $(pkg-config --cflags --libs smarm) -o quick_taste
 *   $ ./quick_taste
 *   got 1
 *   got 2
 *   got 3
 */
#include <smarm.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Receives three numbers and prints them; the receiving end is its own. */
static void *printer(void *arg)
{
	smarm_rx *rx = arg;
	int64_t v;
	int i, err = 0;

	for (i = 0; i < 3; i++) {
		/* Parks this actor until a number arrives. */
		err = smarm_recv(rx, &v, SMARM_FOREVER);
		if (err)
			break;
		printf("got %" PRId64 "\n", v);
	}
	smarm_rx_close(rx);
	if (err)
		smarm_panic("recv: %s", smarm_strerror(err));
	return NULL;
}

static void *root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	void *res;
	int64_t v;
	int err;

	(void)arg;
	/* Elements are copied in and out: sizeof(int64_t) bytes each. */
	err = smarm_channel(&tx, &rx, sizeof(int64_t));
	if (err)
		smarm_panic("channel: %s", smarm_strerror(err));
	err = smarm_spawn(&pid, printer, rx);
	if (err) {
		smarm_tx_close(tx);
		smarm_rx_close(rx);
		smarm_panic("spawn: %s", smarm_strerror(err));
	}

	for (v = 1; v <= 3 && !err; v++)
		err = smarm_send(tx, &v);	/* never blocks */
	/* Done sending: were the printer still waiting, it would get EPIPE. */
	smarm_tx_close(tx);
	if (err)
		smarm_panic("send: %s", smarm_strerror(err));

	err = smarm_join(pid, &res, SMARM_FOREVER);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "printer panicked: %s\n", (char *)res);
		free(res);	/* the reason belongs to the joiner */
	} else if (err) {
		smarm_panic("join: %s", smarm_strerror(err));
	}
	return (void *)(intptr_t)err;
}

int main(void)
{
	void *res = NULL;
	int err;

	err = smarm_run(root, NULL, &res);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "quick_taste: %s\n", (char *)res);
		free(res);
	} else if (err) {
		fprintf(stderr, "quick_taste: %s\n", smarm_strerror(err));
	}
	return err || res != NULL ? 1 : 0;	/* res: the root's join error */
}

/*
 * replay.c - runs inputs of the fuzz harness (fuzz_api.c) without
 * libFuzzer: make check builds it with the ordinary compiler and replays
 * the committed corpus, so every build (and check-valgrind) runs it.
 *
 * Usage: replay [FILE or DIRECTORY]...; without arguments, the directory
 * $srcdir/tests/fuzz/corpus.  Prints one line per directory and the count
 * of inputs run; an input that breaks an invariant aborts, and one that
 * runs past REPLAY_LIMIT seconds (a hang: each takes milliseconds, a few
 * hundred under valgrind) is killed by SIGALRM, so the test fails
 * rather than hangs.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_api.h"

#define REPLAY_LIMIT 60

static int run_file(const char *path)
{
	uint8_t buf[4096];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (f == NULL) {
		perror(path);
		return 1;
	}
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	alarm(REPLAY_LIMIT);
	LLVMFuzzerTestOneInput(buf, n);
	alarm(0);
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every file of dir, in the order of their names. */
static int run_dir(const char *dir, int *count)
{
	char **names = NULL, path[4096];
	size_t n = 0;
	struct dirent *e;
	DIR *d = opendir(dir);
	int bad = 0;

	if (d == NULL) {
		perror(dir);
		return 1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		names = realloc(names, (n + 1) * sizeof(*names));
		if (names == NULL || (names[n] = strdup(e->d_name)) == NULL)
			abort();
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		bad |= run_file(path);
		(*count)++;
		free(names[i]);
	}
	free(names);
	printf("%s: %zu inputs\n", dir, n);
	return bad;
}

int main(int argc, char **argv)
{
	char def[4096];
	const char *srcdir = getenv("srcdir");
	int bad = 0, count = 0;
	struct stat st;

	if (argc < 2) {
		snprintf(def, sizeof(def), "%s/tests/fuzz/corpus",
			 srcdir ? srcdir : ".");
		return run_dir(def, &count) || count == 0;
	}
	for (int i = 1; i < argc; i++) {
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			bad |= run_dir(argv[i], &count);
		} else {
			bad |= run_file(argv[i]);
			count++;
		}
	}
	printf("%d inputs run\n", count);
	return bad;
}

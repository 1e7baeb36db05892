/*
 * replay_main.c - runs a fuzz target over its seed corpus without libFuzzer, so every build
 * (gcc, sanitizers) replays the seeds: `replay_NAME DIR|FILE...`. A folder's files are
 * replayed in name order, so a failure reproduces the same way on every machine; an input
 * that breaks an invariant aborts, and the last "replay:" line on stderr names it.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* sysexits.h */
#define EX_USAGE 64
#define EX_NOINPUT 66
#define EX_SOFTWARE 70

static const char *progname = "replay";

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the whole file; 0 on success, else an exit code after a message. */
static int
replay_file(const char *path)
{
	FILE *fp = fopen(path, "rb");
	struct stat st;
	uint8_t *data = NULL;
	int rc = EX_NOINPUT;

	if (fp == NULL || fstat(fileno(fp), &st) != 0) {
		fprintf(stderr, "%s: cannot read %s: %s\n", progname, path, strerror(errno));
		goto out;
	}
	/* libFuzzer never passes NULL, even for an empty input; neither do we. */
	if ((data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1)) == NULL) {
		fprintf(stderr, "%s: %s: out of memory\n", progname, path);
		rc = EX_SOFTWARE;
		goto out;
	}
	if (fread(data, 1, (size_t)st.st_size, fp) != (size_t)st.st_size) {
		fprintf(stderr, "%s: cannot read %s: short read\n", progname, path);
		goto out;
	}
	fprintf(stderr, "replay: %s\n", path);
	LLVMFuzzerTestOneInput(data, (size_t)st.st_size);
	rc = 0;
out:
	free(data);
	if (fp != NULL)
		fclose(fp);
	return rc;
}

/* Every regular file directly in dir, in name order; *count gets how many. */
static int
replay_dir(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL, *path;
	size_t n = 0, i;
	int rc = 0;

	if (d == NULL) {
		fprintf(stderr, "%s: cannot open corpus %s: %s\n", progname, dir, strerror(errno));
		return EX_NOINPUT;
	}
	while ((e = readdir(d)) != NULL) {
		char **grown;
		/* ".", "..", and hidden files such as a .gitkeep are not seeds. */
		if (e->d_name[0] == '.')
			continue;
		if ((grown = realloc(names, (n + 1) * sizeof(*names))) == NULL)
			goto nomem;
		names = grown;
		if ((names[n] = strdup(e->d_name)) == NULL)
			goto nomem;
		n++;
	}
	qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; i < n && rc == 0; i++) {
		struct stat st;
		size_t len = strlen(dir) + strlen(names[i]) + 2;
		if ((path = malloc(len)) == NULL)
			goto nomem;
		snprintf(path, len, "%s/%s", dir, names[i]);
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			rc = replay_file(path);
			(*count)++;
		}
		free(path);
	}
	goto out;
nomem:
	fprintf(stderr, "%s: %s: out of memory\n", progname, dir);
	rc = EX_SOFTWARE;
out:
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(d);
	return rc;
}

int
main(int argc, char **argv)
{
	size_t total = 0;

	if (argc > 0)
		progname = argv[0];
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", progname);
		return EX_USAGE;
	}
	for (int i = 1; i < argc; i++) {
		struct stat st;
		size_t n = 0;
		int rc;

		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "%s: cannot open corpus %s: %s\n", progname, argv[i],
			    strerror(errno));
			return EX_NOINPUT;
		}
		if (S_ISDIR(st.st_mode)) {
			rc = replay_dir(argv[i], &n);
		} else {
			rc = replay_file(argv[i]);
			n = 1;
		}
		if (rc != 0)
			return rc;
		/* An empty seed folder would make the replay test pass while testing nothing. */
		if (n == 0) {
			fprintf(stderr, "%s: corpus %s has no inputs: generate it with "
			    "puente-make-corpus\n", progname, argv[i]);
			return EX_NOINPUT;
		}
		total += n;
	}
	printf("replayed %zu inputs\n", total);
	return 0;
}

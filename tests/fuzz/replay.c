/* Replay main() shared by every fuzz target: runs each file named on the command line (a
 * directory means every file in it) through LLVMFuzzerTestOneInput. With no arguments it
 * replays the target's saved corpus, $LARDER_TEST_SRCDIR/fuzz/corpus/LRD_FUZZ_CORPUS, as
 * `make check` does; an empty or missing corpus is a failure, not a pass. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tests/fuzz/fuzz.h"

#ifndef LRD_FUZZ_CORPUS
#error "define LRD_FUZZ_CORPUS to the target's corpus directory name"
#endif

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	size_t cap = 4096, n = 0;
	uint8_t *buf = malloc(cap);
	size_t got;
	while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
		n += got;
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap *= 2);
			if (!nb)
				free(buf);
			buf = nb;
		}
	}
	fclose(f);
	if (!buf) {
		fprintf(stderr, "%s: out of memory\n", path);
		return -1;
	}
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

/* Replays a file or every regular file of a directory; returns how many, or -1. */
static long replay_path(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) == 0 ? 1 : -1;
	DIR *d = opendir(path);
	if (!d) {
		perror(path);
		return -1;
	}
	long count = 0;
	struct dirent *e;
	char full[4096];
	while (count >= 0 && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(full, sizeof full, "%s/%s", path, e->d_name);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
			count = replay_file(full) == 0 ? count + 1 : -1;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	long total = 0;
	if (argc > 1) {
		for (int i = 1; i < argc && total >= 0; i++) {
			long n = replay_path(argv[i]);
			total = n < 0 ? -1 : total + n;
		}
	} else {
		const char *src = getenv("LARDER_TEST_SRCDIR");
		char dir[4096];
		snprintf(dir, sizeof dir, "%s/fuzz/corpus/%s", src && *src ? src : "tests",
		         LRD_FUZZ_CORPUS);
		total = replay_path(dir);
	}
	if (total <= 0) {
		fprintf(stderr, "replay: no inputs replayed\n");
		return 1;
	}
	printf("replay %s: %ld inputs, no finding\n", LRD_FUZZ_CORPUS, total);
	return 0;
}

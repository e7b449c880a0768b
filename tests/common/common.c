/* Shared test helpers; see common.h. */
#include "tests/common/common.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

char *tc_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *p;
	if (asprintf(&p, "%s/larder-test-XXXXXX", base && *base ? base : "/tmp") < 0)
		return NULL;
	if (!mkdtemp(p)) {
		free(p);
		return NULL;
	}
	return p;
}

void tc_rmtree(const char *path)
{
	if (!path)
		return;
	DIR *d = opendir(path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *sub = tc_path(path, e->d_name);
			struct stat st;
			if (lstat(sub, &st) == 0 && S_ISDIR(st.st_mode))
				tc_rmtree(sub);
			else
				unlink(sub);
			free(sub);
		}
		closedir(d);
		rmdir(path);
	} else {
		unlink(path);
	}
}

char *tc_path(const char *dir, const char *name)
{
	char *p;
	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static uint64_t state;
static uint64_t seed;

uint64_t tc_seed(void)
{
	if (!seed) {
		const char *e = getenv("LARDER_TEST_SEED");
		seed = e && *e ? strtoull(e, NULL, 0)
		               : ((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32));
		if (!seed)
			seed = 1;
		state = seed;
		fprintf(stderr, "test seed: LARDER_TEST_SEED=%llu\n", (unsigned long long)seed);
	}
	return seed;
}

uint64_t tc_rand(void)
{
	tc_seed();
	/* splitmix64 */
	uint64_t z = (state += 0x9E3779B97F4A7C15ull);
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

void tc_fill_random(void *buf, size_t n)
{
	unsigned char *p = buf;
	while (n >= 8) {
		uint64_t r = tc_rand();
		memcpy(p, &r, 8);
		p += 8;
		n -= 8;
	}
	if (n) {
		uint64_t r = tc_rand();
		memcpy(p, &r, n);
	}
}

void tc_fill_floats(double *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (double)(tc_rand() >> 11) / 9007199254740992.0;
}

void tc_fill_ramp(int64_t *buf, size_t n)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (int64_t)(i * 16) + (int64_t)(tc_rand() % 8);
}

unsigned char *tc_ramp_bytes(size_t n)
{
	unsigned char *p = malloc(n ? n : 1);
	if (!p)
		return NULL;
	int64_t v[512];
	for (size_t i = 0; i < n; i += sizeof v) {
		tc_fill_ramp(v, 512);
		for (size_t k = 0; k < 512; k++)
			v[k] += (int64_t)i;
		memcpy(p + i, v, n - i < sizeof v ? n - i : sizeof v);
	}
	return p;
}

long tc_maxrss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

int tc_rss_bounds_apply(const char *what)
{
	if (!TC_ASAN)
		return 1;
	fprintf(
	    stderr,
	    "%s: peak RSS bound not asserted: built with AddressSanitizer, whose allocator adds "
	    "its own resident memory (the non-sanitized build asserts it)\n",
	    what);
	return 0;
}

const char *tc_datadir(void)
{
	static char buf[4096];
	const char *src = getenv("LARDER_TEST_SRCDIR");
	snprintf(buf, sizeof buf, "%s/data", src && *src ? src : "tests");
	return buf;
}

void *tc_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 16, n = 0;
	unsigned char *buf = malloc(cap);
	size_t r;
	while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap) {
			unsigned char *nb = realloc(buf, cap *= 2);
			if (!nb) {
				free(buf);
				buf = NULL;
			}
			buf = nb;
		}
	}
	fclose(f);
	if (len)
		*len = n;
	return buf;
}

int tc_write_file(const char *path, const void *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	int ok = fwrite(p, 1, n, f) == n;
	return (fclose(f) == 0 && ok) ? 0 : -1;
}

int tc_sh(const char *fmt, ...)
{
	char *cmd;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&cmd, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	int st = system(cmd);
	free(cmd);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

int tc_have(const char *prog) { return tc_sh("command -v %s >/dev/null 2>&1", prog) == 0; }

int tc_in_child(void (*fn)(const char *), const char *arg)
{
	pid_t pid = fork();
	if (pid < 0)
		return 0;
	if (pid == 0) {
		fn(arg);
		_exit(0);
	}
	int st;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/* Raw dump and load against plain write() and read() of the same bytes, both to a new file
 * (the output is removed before every run, as larder's dump writes a new file and renames it):
 *
 *   rawio_bench DIR [MiB [RUNS [THREADS]]]     defaults: 256 MiB, 7 runs, threads 0 (cores)
 *
 * Prints, per method, the median and best of RUNS runs (alternating, so that a load spike on a
 * shared machine hits both) and the ratios of the medians. The array is random float64. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <larder.h>

#define MAX_RUNS 64

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int write_all(const char *path, const void *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -1;
	const char *b = p;
	while (n) {
		size_t k = n < ((size_t)64 << 20) ? n : (size_t)64 << 20;
		ssize_t w = write(fd, b, k);
		if (w <= 0) {
			close(fd);
			return -1;
		}
		b += w;
		n -= (size_t)w;
	}
	return close(fd);
}

static int read_all(const char *path, void *p, size_t n)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	char *b = p;
	while (n) {
		size_t k = n < ((size_t)64 << 20) ? n : (size_t)64 << 20;
		ssize_t r = read(fd, b, k);
		if (r <= 0) {
			close(fd);
			return -1;
		}
		b += r;
		n -= (size_t)r;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: rawio_bench DIR [MiB [RUNS [THREADS]]]\n");
		return 2;
	}
	size_t mib = argc > 2 ? (size_t)atol(argv[2]) : 256;
	int runs = argc > 3 ? atoi(argv[3]) : 7, threads = argc > 4 ? atoi(argv[4]) : 0;
	if (runs < 1 || runs > MAX_RUNS || mib == 0) {
		fprintf(stderr, "rawio_bench: MiB > 0, RUNS 1 to %d\n", MAX_RUNS);
		return 2;
	}
	size_t nbytes = mib << 20, count = nbytes / 8;
	char lrd[4096], raw[4096];
	snprintf(lrd, sizeof lrd, "%s/rawio.lrd", argv[1]);
	snprintf(raw, sizeof raw, "%s/rawio.bin", argv[1]);
	lrd_dtype dt;
	lrd_value *a;
	lrd_dtype_parse("<f8", &dt);
	if (lrd_array_new(dt, 1, (uint64_t[]){count}, LRD_ORDER_C, &a)) {
		fprintf(stderr, "rawio_bench: %s\n", lrd_errmsg());
		return 1;
	}
	double *d = lrd_array_data(a);
	uint64_t x = 42;
	for (size_t i = 0; i < count; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		d[i] = (double)(x >> 11) / 9007199254740992.0;
	}
	void *back = malloc(nbytes);
	double t[4][MAX_RUNS];
	lrd_dump_options o = {.codec = "none", .threads = threads};
	lrd_load_options lo = {.threads = threads};
	for (int r = 0; r < runs; r++) {
		unlink(lrd);
		unlink(raw);
		double t0 = now();
		int rc = lrd_dump(a, lrd, &o);
		t[0][r] = now() - t0;
		t0 = now();
		int wr = write_all(raw, d, nbytes);
		t[1][r] = now() - t0;
		lrd_value *v = NULL;
		t0 = now();
		int lrc = lrd_load(lrd, &v, &lo);
		t[2][r] = now() - t0;
		t0 = now();
		int rd = read_all(raw, back, nbytes);
		t[3][r] = now() - t0;
		if (rc || lrc || wr || rd || memcmp(lrd_array_cdata(v), d, nbytes)) {
			fprintf(stderr, "rawio_bench: run %d failed: %s\n", r, lrd_errmsg());
			return 1;
		}
		lrd_value_free(v);
	}
	static const char *names[4] = {"lrd_dump raw", "write() new file", "lrd_load raw",
	                               "read()"};
	double med[4];
	printf("%zu MiB float64, %d runs, threads %d\n", mib, runs, threads);
	for (int m = 0; m < 4; m++) {
		double best = t[m][0];
		for (int r = 1; r < runs; r++)
			best = t[m][r] < best ? t[m][r] : best;
		med[m] = median(t[m], runs);
		printf("%-18s median %8.2f ms (%6.0f MB/s)  best %8.2f ms\n", names[m],
		       med[m] * 1e3, (double)nbytes / med[m] / 1e6, best * 1e3);
	}
	printf("dump / write() %.3f   load / read() %.3f\n", med[0] / med[1], med[2] / med[3]);
	unlink(lrd);
	unlink(raw);
	free(back);
	lrd_value_free(a);
	return 0;
}

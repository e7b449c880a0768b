/* Measuring codecs on data, for `larder bench` and the demo's codec tour: the generated data
 * sets and a timed, verified compress/decompress round trip. */
#ifndef LRD_BENCH_CODEC_H
#define LRD_BENCH_CODEC_H

#include <larder.h>

/* The generated data sets. */
enum bench_data { BENCH_FLOATS, BENCH_RAMP, BENCH_ZEROS, BENCH_NDATA };

/* "floats", "ramp", "zeros". */
const char *bench_data_name(enum bench_data d);
/* Fill n bytes (a multiple of 8 is best) with data set d: random float64 in [0, 1), a smooth
 * int64 ramp with small noise, or zeros. Deterministic: the same bytes on every run. */
void bench_data_fill(enum bench_data d, void *buf, size_t n);

struct bench_result {
	size_t compressed;   /* bytes after compression */
	double compress_s;   /* median seconds of one compression */
	double decompress_s; /* median seconds of one decompression */
};

/* Compress src (n bytes) `runs` times and decompress it `runs` times (1 to 9), checking that
 * the output equals the input; the result holds the median times. Errors: those of the codec,
 * LRD_ELIMIT if n is too large for it, LRD_ENOMEM, LRD_ECORRUPT if the round trip differs. */
int bench_codec(const lrd_codec *c, const lrd_codec_params *p, const void *src, size_t n, int runs,
                struct bench_result *r);

/* The same round trip as the library does it for arrays: src (n bytes, as 8-byte items when n
 * is a multiple of 8) dumped to memory in 4 MiB chunks compressed with c at `level` (as
 * lrd_codec_params.level) on `threads` chunk threads, and loaded back with as many, `runs`
 * times each (1 to 9), checked; r->compressed is the whole file's size. Errors: those of
 * lrd_dump_memory and lrd_load_memory, LRD_ECORRUPT if the round trip differs. */
int bench_chunked(const lrd_codec *c, int level, int threads, const void *src, size_t n, int runs,
                  struct bench_result *r);

/* n bytes per second in MB/s (10^6 bytes), 0 when no time was measured. */
double bench_mb_s(size_t n, double seconds);

#endif

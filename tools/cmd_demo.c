/* `larder demo`: a short tour of larder on generated data. Each part of the library adds its
 * stop to the tour. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/bench_codec.h"
#include "tools/cli.h"

#define TOUR_BYTES ((size_t)2 << 20)

/* The codec tour: every registered codec on a few MiB of a smooth int64 ramp, one line each. */
static int demo_codecs(void)
{
	size_t n = lrd_codec_count();
	printf("== codecs: %zu registered; each compresses %zu MiB of an int64 ramp\n", n,
	       TOUR_BYTES >> 20);
	unsigned char *data = malloc(TOUR_BYTES);
	if (!data)
		return cli_fail(LRD_ENOMEM, "demo");
	bench_data_fill(BENCH_RAMP, data, TOUR_BYTES);
	int status = CLI_OK;
	for (size_t i = 0; i < n; i++) {
		const lrd_codec *c = lrd_codec_at(i);
		lrd_codec_params p = {.typesize = 8};
		struct bench_result r;
		int rc = bench_codec(c, &p, data, TOUR_BYTES, 1, &r);
		if (rc) {
			status = cli_fail(rc, c->name);
			continue;
		}
		printf("  %-6s level %-2d  ratio %7.2f  compress %7.1f MB/s  decompress %7.1f "
		       "MB/s%s\n",
		       c->name, lrd_codec_level(c, &p), (double)TOUR_BYTES / (double)r.compressed,
		       bench_mb_s(TOUR_BYTES, r.compress_s), bench_mb_s(TOUR_BYTES, r.decompress_s),
		       lrd_codec_origin(c) ? "  (plugin)" : "");
	}
	free(data);
	return status;
}

int cmd_demo(int argc, char **argv)
{
	const char *store = "larder-demo.store";
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: larder demo [--store DIR]\n\n"
			       "A short tour of larder on generated data.\n"
			       "  --store DIR  the embedded store the tour uses (default "
			       "./larder-demo.store)\n");
			return CLI_OK;
		} else if (strcmp(argv[i], "--store") == 0 && i + 1 < argc) {
			store = argv[++i];
		} else {
			fprintf(stderr, "larder demo: unexpected argument '%s'\n", argv[i]);
			return CLI_USAGE;
		}
	}
	printf("larder %s demo (store: %s)\n", lrd_version_string(), store);
	return demo_codecs();
}

/* `larder verify FILE|-`: read a larder file once and check every chunk checksum, the meta
 * checksum and the structure. Exit status 0 when sound, 3 (CLI_INVALID) with the first damaged
 * chunk or structure named, 1 when the file cannot be read at all. */
#include <inttypes.h>
#include <string.h>

#include "tools/cli.h"

struct counts {
	uint64_t arrays, chunks;
};

static int count(void *ctx, const lrd_node *n)
{
	struct counts *c = ctx;
	if (n->kind == LRD_KIND_ARRAY) {
		c->arrays++;
		c->chunks += n->nchunks;
	}
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	if (argc != 2 || cli_is_help(argv[1])) {
		FILE *f = argc == 2 ? stdout : stderr;
		fprintf(f,
		        "usage: larder verify FILE|-\n\n"
		        "Check every checksum of a larder file. Exit status: 0 sound, 3 damaged\n"
		        "(the first bad chunk is named), 1 unreadable.\n");
		return argc == 2 ? CLI_OK : CLI_USAGE;
	}
	lrd_stream *s;
	struct counts c = {0};
	int rc = cli_open_input(argv[1], &s);
	if (rc)
		return cli_fail(rc, argv[1]);
	rc = lrd_scan(s, NULL, NULL, count, &c);
	lrd_stream_close(s);
	switch (rc) {
	case LRD_OK:
		printf("%s: ok (%" PRIu64 " arrays, %" PRIu64 " chunks verified)\n", argv[1],
		       c.arrays, c.chunks);
		return CLI_OK;
	case LRD_ECHECKSUM:
	case LRD_ECORRUPT:
	case LRD_EDTYPE:
	case LRD_EFORMAT:
	case LRD_EVERSION:
		fprintf(stderr, "larder: verify %s: DAMAGED: %s\n", argv[1], lrd_errmsg());
		return CLI_INVALID;
	case LRD_ECODEC: /* a codec not loaded is a failure to check, not damage */
		fprintf(stderr, "larder: verify %s: cannot check: %s\n", argv[1], lrd_errmsg());
		return CLI_FAIL;
	default:
		return cli_fail(rc, argv[1]);
	}
}

/* `larder dump IN.npy OUT`: convert a .npy file into a larder file. The whole-file codec comes
 * from --codec, else from OUT's last suffix (x.lrd.gz → gzip); --chunk-codec compresses each
 * chunk instead (random access and mapping of raw chunks remain). OUT "-" writes to standard
 * output. */
#include <stdlib.h>
#include <string.h>

#include "tools/cli.h"

static int usage(FILE *f, int code)
{
	fprintf(f,
	        "usage: larder dump IN.npy OUT[.lrd|.lrd.gz|.lrd.xz|…|-] [--codec NAME[:LEVEL]]\n"
	        "                   [--chunk-codec NAME[:LEVEL]] [--chunk-size SIZE]\n\n"
	        "Write the array of a .npy file as a larder file. Whole-file compression:\n"
	        "--codec, else OUT's last suffix ('none' forces none). Per-chunk compression:\n"
	        "--chunk-codec (blosc, lz4, zstd, zlib, …), chunks of --chunk-size bytes\n"
	        "(4K to 1G, default 4M; suffixes K, M, G). A LEVEL is an integer in the\n"
	        "codec's range ('larder codecs'); NAME:0 is level 0 itself. OUT '-' writes\n"
	        "standard output.\n");
	return code;
}

int cmd_dump(int argc, char **argv)
{
	const char *in = NULL, *out = NULL, *v;
	lrd_dump_options o = {0};
	int m;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i]))
			return usage(stdout, CLI_OK);
		if ((m = cli_opt(argc, argv, &i, "--codec", &v)) != 0) {
			if (m < 0 || cli_codec_arg(argv[0], "--codec", v, LRD_CODEC_STREAM))
				return CLI_USAGE;
			o.codec = v;
		} else if ((m = cli_opt(argc, argv, &i, "--chunk-codec", &v)) != 0) {
			if (m < 0 || cli_codec_arg(argv[0], "--chunk-codec", v, LRD_CODEC_CHUNK))
				return CLI_USAGE;
			o.chunk_codec = v;
		} else if ((m = cli_opt(argc, argv, &i, "--chunk-size", &v)) != 0) {
			if (m < 0 || cli_chunk_size_arg(argv[0], v, &o.chunk_size))
				return CLI_USAGE;
		} else if (cli_operand2(argv[0], argv[i], &in, &out)) {
			return usage(stderr, CLI_USAGE);
		}
	}
	if (!in || !out)
		return usage(stderr, CLI_USAGE);
	if (cli_output_check(argv[0], in, out))
		return CLI_FAIL;
	lrd_value *a;
	/* mapped: the payload is written from the page cache, one copy as cp makes (a pipe or a
	 * misaligned .npy is read instead) */
	int rc = lrd_npy_load(in, &a, &(lrd_npy_load_options){.mmap = true});
	if (rc)
		return cli_fail(rc, in);
	rc = strcmp(out, "-") == 0 ? lrd_dump_fd(a, 1, &o) : lrd_dump(a, out, &o);
	lrd_value_free(a);
	return rc ? cli_fail(rc, out) : CLI_OK;
}

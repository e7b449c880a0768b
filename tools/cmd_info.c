/* `larder info FILE|-`: the whole-file codec found by magic, the format version, and the value
 * tree with each array's dtype, shape, chunks and compression ratio; `--json` for scripts.
 * The file is read once, sequentially (so `-` reads a pipe), in constant memory: lrd_scan
 * reports nodes as it reads them, which go to a temporary file, printed after the header only
 * once the whole file has been verified, so the tree is printed only for a sound file. */
#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "tools/cli.h"

struct info_ctx {
	bool json;
	FILE *out; /* the nodes, until the file is known sound */
	uint64_t count;
	lrd_file_info *fi;
	const char *name;
};

static void print_header(struct info_ctx *c)
{
	const lrd_file_info *fi = c->fi;
	double ratio = fi->stored_bytes ? (double)fi->raw_bytes / (double)fi->stored_bytes : 1.0;
	if (c->json) {
		printf("{\"file\": ");
		cli_json_str(stdout, c->name);
		printf(", \"codec\": ");
		cli_json_str(stdout, fi->codec);
		printf(", \"format\": \"%u.%u\", \"writer\": ", fi->major, fi->minor);
		cli_json_str(stdout, fi->writer);
		printf(", \"size\": %" PRIu64 ", \"raw_bytes\": %" PRIu64
		       ", \"stored_bytes\": %" PRIu64 ", \"ratio\": %.3f, \"nodes\": [",
		       fi->size, fi->raw_bytes, fi->stored_bytes, ratio);
		return;
	}
	printf("file:    %s\n", c->name);
	printf("codec:   %s\n", fi->codec ? fi->codec : "none (uncompressed or per-chunk)");
	printf("format:  %u.%u, written by %s\n", fi->major, fi->minor,
	       fi->writer[0] ? fi->writer : "?");
	printf("size:    %" PRIu64 " bytes (logical)\n", fi->size);
	printf("arrays:  %" PRIu64 " bytes raw, %" PRIu64 " stored, ratio %.2f\n", fi->raw_bytes,
	       fi->stored_bytes, ratio);
	printf("tree:\n");
}

static void codec_list(FILE *f, unsigned ids, const char *sep)
{
	bool first = true;
	for (unsigned i = 0; i < 32; i++) {
		if (!(ids & (1u << i)))
			continue;
		const lrd_codec *c = lrd_codec_by_id(i);
		fprintf(f, "%s%s", first ? "" : sep, i == 0 ? "raw" : c ? c->name : "?");
		first = false;
	}
}

static void scalar_text(FILE *f, const lrd_node *n, bool json)
{
	const lrd_value *v = n->value;
	bool b;
	int64_t i;
	double d;
	size_t len;
	switch (n->kind) {
	case LRD_KIND_NIL:
		fprintf(f, json ? "null" : "nil");
		break;
	case LRD_KIND_BOOL:
		lrd_value_get_bool(v, &b);
		fprintf(f, "%s", b ? "true" : "false");
		break;
	case LRD_KIND_INT:
		lrd_value_get_int(v, &i);
		fprintf(f, "%" PRId64, i);
		break;
	case LRD_KIND_FLOAT:
		lrd_value_get_float(v, &d);
		if (json && d != d)
			fprintf(f, "\"nan\"");
		else
			fprintf(f, "%.17g", d);
		break;
	case LRD_KIND_STR: {
		const char *s = lrd_value_str(v, &len);
		if (json)
			cli_json_str(f, s);
		else
			fprintf(f, "\"%.60s%s\"", s, len > 60 ? "…" : "");
		break;
	}
	case LRD_KIND_BYTES:
		lrd_value_bytes(v, &len);
		fprintf(f, json ? "%zu" : "%zu bytes", len);
		break;
	default:
		break;
	}
}

static int on_node(void *ctx, const lrd_node *n)
{
	struct info_ctx *c = ctx;
	FILE *f = c->out;
	c->count++;
	char dt[24] = "?";
	if (n->kind == LRD_KIND_ARRAY)
		lrd_dtype_format(n->dtype, dt, sizeof dt);
	double ratio = n->stored_bytes ? (double)n->raw_bytes / (double)n->stored_bytes : 1.0;
	if (c->json) {
		fprintf(f, "%s{\"path\": ", c->count > 1 ? ", " : "");
		cli_json_str(f, n->path);
		fprintf(f, ", \"depth\": %u, \"kind\": \"%s\"", n->depth, lrd_kind_name(n->kind));
		if (n->kind == LRD_KIND_LIST || n->kind == LRD_KIND_MAP)
			fprintf(f, ", \"len\": %" PRIu64, n->len);
		else if (n->kind == LRD_KIND_ARRAY) {
			fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", dt);
			for (unsigned i = 0; i < n->ndim; i++)
				fprintf(f, "%s%" PRIu64, i ? ", " : "", n->shape[i]);
			fprintf(f,
			        "], \"order\": \"%s\", \"layout\": \"%s\", \"chunk_size\": %" PRIu64
			        ", \"chunks\": %" PRIu64 ", \"raw_bytes\": %" PRIu64
			        ", \"stored_bytes\": %" PRIu64 ", \"ratio\": %.3f, \"codecs\": [",
			        n->order == LRD_ORDER_F ? "F" : "C",
			        n->layout ? "chunked" : "contiguous", n->chunk_size, n->nchunks,
			        n->raw_bytes, n->stored_bytes, ratio);
			for (unsigned i = 0; i < 32; i++)
				if (n->codec_ids & (1u << i)) {
					const lrd_codec *cd = lrd_codec_by_id(i);
					fprintf(f, "%s\"%s\"",
					        (n->codec_ids & ((1u << i) - 1)) ? ", " : "",
					        i == 0 ? "raw"
					        : cd   ? cd->name
					               : "?");
				}
			fprintf(f, "]");
		} else {
			fprintf(f, ", \"value\": ");
			scalar_text(f, n, true);
		}
		fprintf(f, "}");
		return 0;
	}
	fprintf(f, "%*s%s%s", 2 + 2 * (int)n->depth, "", n->depth ? n->path : "(root)", ": ");
	switch (n->kind) {
	case LRD_KIND_LIST:
	case LRD_KIND_MAP:
		fprintf(f, "%s of %" PRIu64 "\n", lrd_kind_name(n->kind), n->len);
		break;
	case LRD_KIND_ARRAY:
		fprintf(f, "array %s (", dt);
		for (unsigned i = 0; i < n->ndim; i++)
			fprintf(f, "%s%" PRIu64, i ? ", " : "", n->shape[i]);
		fprintf(f, "%s) %s, %" PRIu64 " chunk%s of %" PRIu64 " B, %s, ",
		        n->ndim == 1 ? "," : "", n->order == LRD_ORDER_F ? "F" : "C", n->nchunks,
		        n->nchunks == 1 ? "" : "s", n->chunk_size,
		        n->layout ? "chunked" : "contiguous");
		codec_list(f, n->codec_ids, "+");
		fprintf(f, ", %" PRIu64 " -> %" PRIu64 " B, ratio %.2f\n", n->raw_bytes,
		        n->stored_bytes, ratio);
		break;
	default:
		fprintf(f, "%s ", lrd_kind_name(n->kind));
		scalar_text(f, n, false);
		fprintf(f, "\n");
	}
	return 0;
}

int cmd_info(int argc, char **argv)
{
	const char *file = NULL;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("usage: larder info [--json] FILE|-\n\n"
			       "Describe a larder file: the whole-file codec found by magic, the "
			       "format\n"
			       "version, and the value tree with every array's dtype, shape, "
			       "chunks and\n"
			       "compression ratio. '-' reads standard input. Every checksum is "
			       "verified.\n");
			return CLI_OK;
		}
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (argv[i][0] == '-' && argv[i][1] && !file)
			return fprintf(stderr, "larder info: unknown option '%s'\n", argv[i]),
			       CLI_USAGE;
		else if (!file)
			file = argv[i];
		else
			return fprintf(stderr, "larder info: one file only\n"), CLI_USAGE;
	}
	if (!file)
		return fprintf(stderr, "usage: larder info [--json] FILE|-\n"), CLI_USAGE;
	lrd_stream *s;
	lrd_file_info fi;
	struct info_ctx c = {.json = json, .fi = &fi, .name = file};
	int rc = cli_open_input(file, &s);
	if (rc)
		return cli_fail(rc, file);
	if (!(c.out = tmpfile())) {
		lrd_stream_close(s);
		return fprintf(stderr, "larder info: cannot create a temporary file: %s\n",
		               strerror(errno)),
		       CLI_FAIL;
	}
	rc = lrd_scan(s, NULL, &fi, on_node, &c);
	lrd_stream_close(s);
	if (!rc && (fflush(c.out) || ferror(c.out))) {
		fprintf(stderr, "larder info: writing a temporary file: %s\n", strerror(errno));
		rc = CLI_FAIL;
	} else if (rc) {
		rc = cli_fail(rc, file);
	}
	if (!rc) {
		print_header(&c);
		rewind(c.out);
		char buf[65536];
		size_t n;
		while ((n = fread(buf, 1, sizeof buf, c.out)) > 0)
			fwrite(buf, 1, n, stdout);
		if (json)
			printf("]}\n");
	}
	fclose(c.out);
	return rc;
}

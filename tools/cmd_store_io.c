/* `larder put` and `larder get`: files and stores meet. A file whose root is an array is
 * streamed chunk by chunk between its .lrd reader/writer and the store's writer/reader, so an
 * array larger than memory moves in bounded memory; any other value is loaded whole and stored
 * (or read and dumped). Whole-file codecs are detected on input by magic bytes and chosen on
 * output by the file name's suffix ("x.lrd.zst"), as `larder dump` does. numpy's .npy files
 * go through the public npy API: recognised on input by their magic (the file is mapped, not
 * read, and stored whole), written on output when the name ends in ".npy". */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tools/cli.h"

/* 1 when the file at path starts with numpy's magic, 0 when not, <0 when unreadable (the
 * .lrd path reports the error then). */
static int is_npy(const char *path)
{
	static const char magic[6] = "\x93NUMPY";
	char head[sizeof magic];
	struct stat st; /* sniff regular files only: a pipe would lose what is read here */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
		return 0;
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	size_t n = fread(head, 1, sizeof head, f);
	fclose(f);
	return n == sizeof head && !memcmp(head, magic, sizeof magic);
}

/* Where put writes: the store (its path for the write-lock watchdog), the key, the options. */
struct put_to {
	lrd_store *s;
	const char *store, *key;
	const lrd_put_options *po;
};

/* A store writer owning its transaction (chunks committed in batches, the object last): it
 * takes the write lock as it is made, which the watchdog watches. */
static int writer_new(const struct put_to *to, lrd_dtype dt, unsigned ndim, const uint64_t *shape,
                      lrd_order order, lrd_store_writer **w)
{
	cli_wait_arm(to->store);
	int rc = lrd_store_writer_new(to->s, NULL, to->key, dt, ndim, shape, order, to->po, w);
	cli_wait_disarm();
	return rc;
}

/* The mapped array of a .npy file, written through a store writer. */
static int put_npy(const struct put_to *to, const char *path)
{
	lrd_value *v;
	lrd_npy_load_options lo = {.mmap = true};
	int rc = lrd_npy_load(path, &v, &lo);
	lrd_store_writer *w = NULL;
	if (!rc)
		rc = writer_new(to, lrd_array_dtype(v), lrd_array_ndim(v), lrd_array_shape(v),
		                lrd_array_order(v), &w);
	if (!rc)
		rc = lrd_store_writer_write(w, lrd_array_cdata(v), lrd_array_nbytes(v));
	if (!rc)
		rc = lrd_store_writer_finish(w);
	lrd_store_writer_free(w);
	lrd_value_free(v);
	return rc;
}

/* Any other value, loaded whole: put in a write transaction begun under the watchdog. */
static int put_value(const struct put_to *to, const lrd_value *v)
{
	lrd_txn *t;
	cli_wait_arm(to->store);
	int rc = lrd_txn_begin(to->s, LRD_TXN_WRITE, &t);
	cli_wait_disarm();
	if (rc)
		return rc;
	rc = lrd_store_put(to->s, t, to->key, v, to->po);
	if (rc) {
		lrd_txn_abort(t);
		return rc;
	}
	return lrd_txn_commit(t);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && !memcmp(s + n - k, suffix, k);
}

/* Returns a CLI exit status, the error printed. */
static int get_npy(lrd_store *s, const char *key, const char *out)
{
	lrd_value *v;
	int rc = lrd_store_get(s, NULL, key, &v);
	if (rc == LRD_ENOTFOUND)
		lrd_error_set(rc, "no object '%s'", key);
	if (rc)
		return cli_fail(rc, "get");
	lrd_kind k = lrd_value_kind(v);
	if (k != LRD_KIND_ARRAY) {
		lrd_value_free(v);
		fprintf(stderr,
		        "larder: get: '%s' holds a %s, not an array: a .npy file holds one "
		        "array\n",
		        key, lrd_kind_name(k));
		return CLI_FAIL;
	}
	rc = lrd_npy_save(v, out, NULL);
	lrd_value_free(v);
	return rc ? cli_fail(rc, "get") : CLI_OK;
}

static int put_array(const struct put_to *to, lrd_array_reader *ar)
{
	lrd_dtype dt;
	unsigned ndim;
	const uint64_t *shape;
	lrd_order order;
	uint64_t nbytes;
	lrd_array_reader_describe(ar, &dt, &ndim, &shape, &order, &nbytes);
	lrd_store_writer *w = NULL;
	int rc = writer_new(to, dt, ndim, shape, order, &w);
	const void *p;
	size_t n = 1;
	while (!rc && (rc = lrd_array_reader_next(ar, &p, &n)) == LRD_OK && n > 0)
		rc = lrd_store_writer_write(w, p, n);
	if (!rc)
		rc = lrd_store_writer_finish(w);
	lrd_store_writer_free(w);
	return rc;
}

#define PUT_USAGE                                                                                  \
	"usage: larder put [--codec NAME[:LEVEL]] [--chunk-size SIZE] [--no-create]\n"             \
	"                  [--max-bytes SIZE] [--wait SECONDS] STORE KEY FILE\n"

int cmd_put(int argc, char **argv)
{
	const char *pos[3], *val;
	int npos = 0;
	lrd_put_options po = {0};
	lrd_load_options lo = {0};
	enum cli_store_mode mode = CLI_STORE_CREATE;
	for (int i = 1; i < argc; i++) {
		int m;
		if (cli_is_help(argv[i])) {
			printf(
			    PUT_USAGE
			    "\n"
			    "Store the value of a .lrd file (any whole-file or chunk codec) or "
			    "the\n"
			    "array of a numpy .npy file (recognised by its magic) under KEY,\n"
			    "replacing what was there. An array of a .lrd file is streamed in\n"
			    "bounded memory; a .npy file is mapped. A missing STORE is created\n"
			    "(\"larder: created store STORE\" on stderr).\n"
			    "  --codec NAME[:LEVEL]  chunk codec in the store (raw, lz4, blosc:9,\n"
			    "                        zstd, ...); default: the store's\n"
			    "  --chunk-size SIZE     bytes per chunk, 4K to 1G (K, M, G "
			    "suffixes);\n"
			    "                        default: the store's\n"
			    "  --no-create           fail (\"no store at ...\", exit 1) instead "
			    "of\n"
			    "                        creating a missing STORE\n"
			    "  --max-bytes SIZE      bound on what loading a tree may build;\n"
			    "                        default: 4G, or 16 x FILE's size if larger;\n"
			    "                        'unlimited' for none\n"
			    "  --wait SECONDS        fail (exit 1) if another process holds the\n"
			    "                        store's write lock longer; default: wait\n"
			    "                        until it ends (saying so after a second)\n");
			return CLI_OK;
		} else if (!strcmp(argv[i], "--no-create")) {
			mode = CLI_STORE_WRITE;
		} else if ((m = cli_opt(argc, argv, &i, "--wait", &val)) != 0) {
			if (m < 0 || cli_wait_option(argv[0], val))
				return CLI_USAGE;
		} else if ((m = cli_max_bytes(argc, argv, &i, &lo)) != 0) {
			if (m < 0)
				return CLI_USAGE;
		} else if ((m = cli_opt(argc, argv, &i, "--codec", &val)) != 0) {
			if (m < 0 || cli_codec_arg(argv[0], "--codec", val, LRD_CODEC_CHUNK))
				return CLI_USAGE;
			po.codec = val;
		} else if ((m = cli_opt(argc, argv, &i, "--chunk-size", &val)) != 0) {
			if (m < 0 || cli_chunk_size_arg(argv[0], val, &po.chunk_size))
				return CLI_USAGE;
		} else if (argv[i][0] == '-' || npos == 3) {
			fprintf(stderr, "larder put: unexpected argument '%s'\n", argv[i]);
			return CLI_USAGE;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos != 3) {
		fprintf(stderr, PUT_USAGE);
		return CLI_USAGE;
	}
	/* an unreadable FILE fails before a missing store is created for it */
	lrd_stream *in;
	int prc = lrd_stream_open_path(pos[2], "r", &in);
	if (prc)
		return cli_fail(prc, "put");
	lrd_stream_close(in);
	lrd_store *s;
	if (cli_store_open(pos[0], mode, &s))
		return CLI_FAIL;
	struct put_to to = {s, pos[0], pos[1], &po};
	lrd_array_reader *ar = NULL;
	if (is_npy(pos[2]) == 1) {
		int rc = put_npy(&to, pos[2]);
		lrd_store_close(s);
		return rc ? cli_fail(rc, "put") : CLI_OK;
	}
	int rc = lrd_stream_open_path(pos[2], "r", &in);
	if (!rc) {
		rc = lrd_array_reader_new(in, &lo, &ar);
		if (!rc)
			rc = put_array(&to, ar);
		lrd_array_reader_free(ar);
		lrd_stream_close(in);
	}
	if (!ar && rc == LRD_EFORMAT) { /* not an array file: load the value whole */
		lrd_value *v;
		rc = lrd_load(pos[2], &v, &lo);
		if (!rc)
			rc = put_value(&to, v);
		lrd_value_free(v);
	}
	lrd_store_close(s);
	return rc ? cli_fail(rc, "put") : CLI_OK;
}

static int get_array(lrd_store_reader *r, const char *out, const lrd_dump_options *o)
{
	lrd_dtype dt;
	unsigned ndim;
	const uint64_t *shape;
	lrd_order order;
	lrd_store_reader_describe(r, &dt, &ndim, &shape, &order, NULL);
	lrd_stream *st;
	int rc = lrd_stream_open_path(out, "w", &st);
	if (rc)
		return rc;
	lrd_array_writer *w;
	rc = lrd_array_writer_new(st, dt, ndim, shape, order, o, &w);
	const void *p;
	size_t n;
	while (!rc && (rc = lrd_store_reader_next(r, &p, &n)) == LRD_OK && n > 0)
		rc = lrd_array_writer_write(w, p, n);
	if (!rc)
		rc = lrd_array_writer_finish(w);
	lrd_array_writer_free(w);
	if (rc) {
		lrd_stream_abort(st); /* OUT keeps what it held */
		return rc;
	}
	return lrd_stream_close(st);
}

int cmd_get(int argc, char **argv)
{
	const char *pos[3], *val;
	int npos = 0;
	lrd_dump_options o = {0};
	for (int i = 1; i < argc; i++) {
		int m;
		if (cli_is_help(argv[i])) {
			printf("usage: larder get [--chunk-codec NAME[:LEVEL]] STORE KEY OUT\n\n"
			       "Write the value under KEY to the .lrd file OUT; a whole-file codec "
			       "is\n"
			       "chosen by OUT's suffix (out.lrd.gz, .xz, .zst, ...). An array is "
			       "streamed\n"
			       "in bounded memory. When OUT ends in .npy, the array under KEY is\n"
			       "written as a numpy .npy file (other values are refused).\n"
			       "  --chunk-codec NAME  compress each chunk of the file's arrays "
			       "instead\n");
			return CLI_OK;
		} else if ((m = cli_opt(argc, argv, &i, "--chunk-codec", &val)) != 0) {
			if (m < 0 || cli_codec_arg(argv[0], "--chunk-codec", val, LRD_CODEC_CHUNK))
				return CLI_USAGE;
			o.chunk_codec = val;
		} else if (argv[i][0] == '-' || npos == 3) {
			fprintf(stderr, "larder get: unexpected argument '%s'\n", argv[i]);
			return CLI_USAGE;
		} else {
			pos[npos++] = argv[i];
		}
	}
	if (npos != 3) {
		fprintf(stderr, "usage: larder get [--chunk-codec NAME[:LEVEL]] STORE KEY OUT\n");
		return CLI_USAGE;
	}
	bool npy = ends_with(pos[2], ".npy");
	if (npy && o.chunk_codec) {
		fprintf(stderr, "larder get: --chunk-codec does not apply to a .npy file\n");
		return CLI_USAGE;
	}
	const lrd_codec *wc = lrd_codec_by_filename(pos[2]);
	if (wc && (wc->flags & LRD_CODEC_STREAM))
		o.codec = wc->name;
	lrd_store *s;
	if (cli_store_open(pos[0], CLI_STORE_READ, &s))
		return CLI_FAIL;
	if (npy) {
		int status = get_npy(s, pos[1], pos[2]);
		lrd_store_close(s);
		return status;
	}
	lrd_store_reader *r;
	int rc = lrd_store_reader_new(s, NULL, pos[1], &r);
	if (!rc) {
		rc = get_array(r, pos[2], &o);
		lrd_store_reader_free(r);
	} else if (rc == LRD_EINVAL) { /* not an array: the value whole */
		lrd_value *v;
		rc = lrd_store_get(s, NULL, pos[1], &v);
		if (!rc)
			rc = lrd_dump(v, pos[2], &o);
		lrd_value_free(v);
	}
	lrd_store_close(s);
	return rc ? cli_fail(rc, "get") : CLI_OK;
}

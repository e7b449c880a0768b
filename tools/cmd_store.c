/* The store subcommands that need no file format: `ls`, `rm`, `stat`, `verify` (of a store;
 * `larder verify` hands larder files to cmd_verify), `compact`.
 * Each opens the store (read-only unless it writes), does one thing through the public store
 * API, and prints plain text or, with --json, one JSON document on stdout. */
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/cli.h"

/* 1 if path is a store: a directory holding data.mdb, or a file starting with an LMDB meta
 * page (magic 0xBEEFC0DE after the 16-byte page header). */
static int is_store(const char *path, bool *file)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	*file = S_ISREG(st.st_mode);
	if (S_ISDIR(st.st_mode))
		return 1;
	if (!S_ISREG(st.st_mode)) /* never open a FIFO or a pipe to sniff it: it would block or eat
	                             input */
		return 0;
	unsigned char head[20];
	FILE *f = fopen(path, "rb");
	size_t n = f ? fread(head, 1, sizeof head, f) : 0;
	if (f)
		fclose(f);
	return n == sizeof head && head[16] == 0xde && head[17] == 0xc0 && head[18] == 0xef &&
	       head[19] == 0xbe;
}

int cli_store_open(const char *path, enum cli_store_mode mode, lrd_store **out)
{
	bool file = false;
	is_store(path, &file);
	lrd_store_options o = {
	    .flags = (mode == CLI_STORE_READ ? LRD_STORE_RDONLY : LRD_STORE_NOCREATE) |
	             (file ? LRD_STORE_NOSUBDIR : 0)};
	const char *ms = getenv("LARDER_MAP_SIZE"); /* for a process under `ulimit -v` */
	size_t map = 0;
	if (ms && *ms && (cli_parse_size(ms, 1, &map) || map == 0)) {
		fprintf(stderr, "larder: LARDER_MAP_SIZE='%s' is not a size (e.g. 256M)\n", ms);
		return CLI_FAIL;
	}
	o.map_size = map;
	if (mode != CLI_STORE_READ) /* opening read-write takes the write lock a moment */
		cli_wait_arm(path);
	int rc = lrd_store_open(path, &o, out);
	if (rc == LRD_ENOTFOUND && mode == CLI_STORE_CREATE) {
		/* only "no store at ..." is retried: a damaged or foreign file keeps its error */
		o.flags &= ~(unsigned)LRD_STORE_NOCREATE;
		rc = lrd_store_open(path, &o, out);
		if (!rc)
			fprintf(stderr, "larder: created store %s\n", path);
	}
	cli_wait_disarm();
	return rc ? cli_fail(rc, path) : CLI_OK;
}

/* Parse "[--json] [--long] [--wait SECONDS] ARG..." into flags and positional arguments;
 * --wait only where `writes` (a write command). */
struct args {
	bool json, lng;
	int n;
	char **pos; /* the operands, gathered at the front of argv + 1 */
};

static int parse(int argc, char **argv, struct args *a, int min, int max, bool writes,
                 const char *usage)
{
	const char *val;
	int m;
	memset(a, 0, sizeof *a);
	a->pos = argv + 1;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i])) {
			printf("%s", usage);
			return -1;
		} else if (!strcmp(argv[i], "--json")) {
			a->json = true;
		} else if (!strcmp(argv[i], "-l") || !strcmp(argv[i], "--long")) {
			a->lng = true;
		} else if (writes && (m = cli_opt(argc, argv, &i, "--wait", &val)) != 0) {
			if (m < 0 || cli_wait_option(argv[0], val))
				return -2;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "larder %s: unknown option '%s'\n", argv[0], argv[i]);
			return -2;
		} else {
			a->pos[a->n++] =
			    argv[i]; /* a->n < i: never overwrites an unread argument */
		}
	}
	if (a->n < min || a->n > max) {
		fprintf(stderr, "%s", usage);
		return -2;
	}
	return 0;
}

#define PARSE_ARGS(min, max, writes, usage)                                                        \
	struct args a;                                                                             \
	switch (parse(argc, argv, &a, min, max, writes, usage)) {                                  \
	case -1:                                                                                   \
		return CLI_OK;                                                                     \
	case -2:                                                                                   \
		return CLI_USAGE;                                                                  \
	}
#define PARSE(min, max, usage)       PARSE_ARGS(min, max, false, usage)
#define PARSE_WRITE(min, max, usage) PARSE_ARGS(min, max, true, usage)

int cmd_ls(int argc, char **argv)
{
	PARSE(1, 2,
	      "usage: larder ls [--json] [-l|--long] STORE [PREFIX]\n\n"
	      "List the keys of a store, in byte order, that start with PREFIX.\n"
	      "  -l, --long  also the kind, raw and stored bytes of each object\n"
	      "  --json      one JSON array of {key, kind, raw_bytes, stored_bytes}\n");
	lrd_store *s;
	if (cli_store_open(a.pos[0], CLI_STORE_READ, &s))
		return CLI_FAIL;
	lrd_txn *t;
	lrd_store_iter *it = NULL;
	int rc = lrd_txn_begin(s, LRD_TXN_READ, &t);
	if (!rc)
		rc = lrd_store_iter_new(s, t, a.n > 1 ? a.pos[1] : NULL, &it);
	const char *key;
	size_t klen, count = 0;
	if (a.json)
		printf("[");
	while (!rc && (rc = lrd_store_iter_next(it, &key, &klen, NULL)) == LRD_OK) {
		lrd_object_info info = {0};
		if (a.json || a.lng)
			rc = lrd_store_info(s, t, key, &info);
		if (rc)
			break;
		if (a.json) {
			printf("%s\n {\"key\": ", count ? "," : "");
			cli_json_str(stdout, key);
			printf(", \"kind\": \"%s\", \"raw_bytes\": %llu, \"stored_bytes\": %llu}",
			       lrd_kind_name(info.kind), (unsigned long long)info.raw_bytes,
			       (unsigned long long)info.stored_bytes);
		} else if (a.lng) {
			printf("%-6s %12llu %12llu  ", lrd_kind_name(info.kind),
			       (unsigned long long)info.raw_bytes,
			       (unsigned long long)info.stored_bytes);
			cli_print_key(stdout, key);
			putchar('\n');
		} else {
			cli_print_key(stdout, key);
			putchar('\n');
		}
		count++;
	}
	if (a.json)
		printf("%s]\n", count ? "\n" : "");
	if (rc == LRD_ENOTFOUND)
		rc = LRD_OK;
	int out = rc ? cli_fail(rc, "ls") : CLI_OK;
	lrd_store_iter_free(it);
	lrd_txn_abort(t);
	lrd_store_close(s);
	return out;
}

int cmd_rm(int argc, char **argv)
{
	PARSE_WRITE(2, INT32_MAX,
	            "usage: larder rm [--wait SECONDS] STORE KEY...\n\n"
	            "Delete objects (and their chunks) from a store, in one transaction.\n"
	            "  --wait SECONDS  fail (exit 1) if another process holds the store's\n"
	            "                  write lock longer; default: wait until it ends\n");
	lrd_store *s;
	if (cli_store_open(a.pos[0], CLI_STORE_WRITE, &s))
		return CLI_FAIL;
	lrd_txn *t;
	cli_wait_arm(a.pos[0]);
	int rc = lrd_txn_begin(s, LRD_TXN_WRITE, &t);
	cli_wait_disarm();
	for (int i = 1; !rc && i < a.n; i++)
		if ((rc = lrd_store_del(s, t, a.pos[i])) == LRD_ENOTFOUND)
			lrd_error_set(rc, "no object '%s'", a.pos[i]);
	rc = rc ? (lrd_txn_abort(t), rc) : lrd_txn_commit(t);
	int out = rc ? cli_fail(rc, "rm") : CLI_OK;
	lrd_store_close(s);
	return out;
}

/* The codec's name, or "id N?" for one that is not loaded (a plugin's), written in buf. */
static const char *codec_name(unsigned id, char *buf, size_t cap)
{
	const lrd_codec *c = lrd_codec_by_id(id);
	if (id == LRD_CODEC_ID_RAW)
		return "raw";
	if (c)
		return c->name;
	snprintf(buf, cap, "id %u?", id);
	return buf;
}

int cmd_stat(int argc, char **argv)
{
	PARSE(1, 1,
	      "usage: larder stat [--json] STORE\n\n"
	      "Totals of a store: objects, arrays, chunks, bytes raw and stored per codec,\n"
	      "namespace entries, map size and use, reader slots.\n");
	lrd_store *s;
	if (cli_store_open(a.pos[0], CLI_STORE_READ, &s))
		return CLI_FAIL;
	lrd_store_stat st;
	int rc = lrd_store_stat_get(s, NULL, &st);
	lrd_store_close(s);
	if (rc)
		return cli_fail(rc, "stat");
	typedef unsigned long long ull;
	char nb[16];
	if (a.json) {
		printf(
		    "{\"objects\": %llu, \"arrays\": %llu, \"chunks\": %llu, \"raw_bytes\": %llu, "
		    "\"stored_bytes\": %llu, \"kv_entries\": %llu, \"map_size\": %llu, "
		    "\"map_used\": %llu, \"page_size\": %llu, \"readers\": %u, "
		    "\"max_readers\": %u, \"codecs\": [",
		    (ull)st.objects, (ull)st.arrays, (ull)st.chunks, (ull)st.raw_bytes,
		    (ull)st.stored_bytes, (ull)st.kv_entries, (ull)st.map_size, (ull)st.map_used,
		    (ull)st.page_size, st.readers, st.max_readers);
		for (unsigned i = 0; i < st.ncodecs; i++)
			printf("%s{\"codec\": \"%s\", \"chunks\": %llu, \"raw_bytes\": %llu, "
			       "\"stored_bytes\": %llu}",
			       i ? ", " : "", codec_name(st.codecs[i].id, nb, sizeof nb),
			       (ull)st.codecs[i].chunks, (ull)st.codecs[i].raw_bytes,
			       (ull)st.codecs[i].stored_bytes);
		printf("]}\n");
		return CLI_OK;
	}
	printf("objects      %llu (%llu arrays in %llu chunks)\n", (ull)st.objects, (ull)st.arrays,
	       (ull)st.chunks);
	printf("bytes        %llu raw, %llu stored\n", (ull)st.raw_bytes, (ull)st.stored_bytes);
	for (unsigned i = 0; i < st.ncodecs; i++)
		printf("  %-10s %llu chunks, %llu raw, %llu stored (%.2fx)\n",
		       codec_name(st.codecs[i].id, nb, sizeof nb), (ull)st.codecs[i].chunks,
		       (ull)st.codecs[i].raw_bytes, (ull)st.codecs[i].stored_bytes,
		       st.codecs[i].stored_bytes
		           ? (double)st.codecs[i].raw_bytes / (double)st.codecs[i].stored_bytes
		           : 1.0);
	printf("namespaces   %llu entries\n", (ull)st.kv_entries);
	printf("map          %llu of %llu bytes used (page %llu)\n", (ull)st.map_used,
	       (ull)st.map_size, (ull)st.page_size);
	printf("readers      %u of %u slots\n", st.readers, st.max_readers);
	return CLI_OK;
}

struct vstate {
	bool json;
	unsigned n;
};

static int on_problem(void *ctx, const char *key, int64_t chunk, int code, const char *msg)
{
	struct vstate *v = ctx;
	if (v->json) {
		printf("%s\n {\"key\": ", v->n ? "," : "");
		cli_json_str(stdout, key);
		printf(", \"chunk\": %lld, \"error\": \"%s\", \"message\": ", (long long)chunk,
		       lrd_errname(code));
		cli_json_str(stdout, msg);
		printf("}");
	} else { /* a codec that is not loaded is no damage: the chunk could not be checked */
		printf("%s ", code == LRD_ECODEC ? "CANNOT CHECK" : "DAMAGED");
		cli_print_key(stdout, key);
		printf(": %s\n", msg);
	}
	v->n++;
	return 0;
}

/* LMDB trusts its file: reading a damaged B-tree while opening can fault. Verify must survive
 * any damage, so it opens once in a child first; the signal that killed the child, or 0. */
static int open_kills(const char *path, const lrd_store_options *so)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return 0; /* no child: the open below runs unprotected, as every other command's */
	if (pid == 0) {
		lrd_store *s;
		if (lrd_store_open(path, so, &s) == LRD_OK)
			lrd_store_close(s);
		_exit(0);
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFSIGNALED(status) ? WTERMSIG(status) : 0;
}

static int cmd_store_verify(int argc, char **argv)
{
	PARSE(1, 1,
	      "usage: larder verify [--json] STORE\n\n"
	      "Check every object of a store: headers, every chunk's checksum and\n"
	      "decompression; count chunks no object references.\n"
	      "exit status 3 if anything is damaged. Given a larder file instead:\n");
	lrd_store *s;
	bool file = false;
	is_store(a.pos[0], &file);
	lrd_store_options so = {.flags = LRD_STORE_RDONLY | (file ? LRD_STORE_NOSUBDIR : 0)};
	int sig = open_kills(a.pos[0], &so);
	if (sig) {
		fprintf(stderr,
		        "larder: verify %s: DAMAGED: opening the store killed the checking process "
		        "with signal %d (%s)\n",
		        a.pos[0], sig, strsignal(sig));
		return CLI_INVALID;
	}
	int rc = lrd_store_open(a.pos[0], &so, &s);
	if (rc == LRD_ECORRUPT || rc == LRD_ECHECKSUM) { /* damaged beyond opening */
		fprintf(stderr, "larder: verify %s: DAMAGED: %s\n", a.pos[0], lrd_errmsg());
		return CLI_INVALID;
	}
	if (rc)
		return cli_fail(rc, a.pos[0]);
	struct vstate v = {.json = a.json};
	lrd_verify_report rep;
	if (a.json)
		printf("{\"problems\": [");
	rc = lrd_store_verify(s, on_problem, &v, &rep);
	lrd_store_close(s);
	/* Damage is what the bytes say (exit 3); a chunk whose codec is missing or fails on
	 * checksummed data could not be checked (LRD_ECODEC: exit 1, like any failure to check). */
	bool damage = rc == LRD_ECHECKSUM || rc == LRD_ECORRUPT;
	if (rc && !damage) {
		if (a.json)
			printf("]}\n");
		return cli_fail(rc, rc == LRD_ECODEC ? "verify: cannot check" : "verify");
	}
	typedef unsigned long long ull;
	if (a.json)
		printf("%s], \"objects\": %llu, \"chunks\": %llu, \"bad_objects\": %llu, "
		       "\"orphan_chunks\": %llu}\n",
		       v.n ? "\n" : "", (ull)rep.objects, (ull)rep.chunks, (ull)rep.bad_objects,
		       (ull)rep.orphan_chunks);
	else
		printf("%s: %llu objects, %llu chunks checked; %llu damaged, %llu orphan chunks\n",
		       damage ? "DAMAGED" : "ok", (ull)rep.objects, (ull)rep.chunks,
		       (ull)rep.bad_objects, (ull)rep.orphan_chunks);
	return damage ? CLI_INVALID : CLI_OK;
}

int cmd_compact(int argc, char **argv)
{
	PARSE(2, 2,
	      "usage: larder compact STORE DEST\n\n"
	      "Write a compacted copy of STORE (free pages left out) to DEST, a new\n"
	      "directory. The copy is one consistent snapshot; writers may keep going.\n");
	lrd_store *s;
	if (cli_store_open(a.pos[0], CLI_STORE_READ, &s))
		return CLI_FAIL;
	int rc = lrd_store_compact(s, a.pos[1]);
	lrd_store_close(s);
	return rc ? cli_fail(rc, "compact") : CLI_OK;
}

int cmd_verify_any(int argc, char **argv)
{
	const char *path = NULL;
	bool help = false, file;
	for (int i = 1; i < argc; i++) {
		if (cli_is_help(argv[i]))
			help = true;
		else if (argv[i][0] != '-' || !argv[i][1])
			path = argv[i];
	}
	if (help) {
		cmd_store_verify(argc, argv);
		printf("\n");
		return cmd_verify(argc, argv);
	}
	return path && is_store(path, &file) ? cmd_store_verify(argc, argv)
	                                     : cmd_verify(argc, argv);
}
